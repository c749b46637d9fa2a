"""Hyperparameter sweeps in one compile, and the run axis sharded over devices."""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import envs_jax
from envs_jax.wrappers import AutoReset, RecordEpisodeStats, VecEnv
from purerl.algos import ppo
from purerl.cli import ppo as ppo_cli
from purerl.common import sweep as sw
from purerl.common.experiment import run_inputs, run_sweep
from purerl.common.networks import MLPActorCritic

CFG = ppo.PPOConfig(num_envs=8, num_steps=16, num_updates=3, num_minibatches=2,
                    update_epochs=2, learning_rate=1e-3)


def _train(cfg: ppo.PPOConfig):
    env, params = envs_jax.make("gymnax/CartPole-v1")
    vec = VecEnv(AutoReset(RecordEpisodeStats(env)), cfg.num_envs)
    return ppo.make_train(cfg, vec, params, MLPActorCritic(2, (16, 16)))


def _params_of(out, run=None):
    tree = out.runner_state.train_state.params
    if run is not None:
        tree = jax.tree.map(lambda x: x[run], tree)
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_parse_sweep_grid_and_errors():
    grid = sw.parse_sweep(["learning_rate=1e-4,3e-4", "--gamma=0.9,0.99,0.999"], ppo.SWEEPABLE)
    assert grid == {"learning_rate": (1e-4, 3e-4), "gamma": (0.9, 0.99, 0.999)}
    points = sw.grid_points(grid)
    assert len(points) == 6 and points[1] == {"learning_rate": 1e-4, "gamma": 0.99}
    assert sw.grid_points({}) == [{}]
    assert sw.parse_sweep(["tau=0.3"], ppo.SWEEPABLE, {"tau": "gae_lambda"}) == {
        "gae_lambda": (0.3,)}
    with pytest.raises(ValueError, match="expected NAME=V1,V2"):
        sw.parse_sweep(["learning_rate"], ppo.SWEEPABLE)
    with pytest.raises(ValueError, match="got 'num_envs'"):
        sw.parse_sweep(["num_envs=4,8"], ppo.SWEEPABLE)  # changes shapes: not sweepable
    with pytest.raises(ValueError, match="comma-separated numbers"):
        sw.parse_sweep(["gamma=0.9,high"], ppo.SWEEPABLE)
    with pytest.raises(ValueError, match="given twice"):
        sw.parse_sweep(["gamma=0.9", "gamma=0.8"], ppo.SWEEPABLE)
    # Every point is validated by the config itself, before anything compiles.
    with pytest.raises(ValueError, match=r"sweep point \{'gamma': 1.5\}: gamma: expected"):
        ppo_cli.Args(sweep=("gamma=0.9,1.5",))
    stacked = sw.stack_hparams(ppo.hyperparams_from(CFG), points)
    np.testing.assert_allclose(stacked.gamma, [0.9, 0.99, 0.999] * 2, rtol=1e-6)
    np.testing.assert_allclose(stacked.clip_eps, [CFG.clip_eps] * 6, rtol=1e-6)


def test_one_compile_serves_the_grid_and_each_point_equals_its_single_run():
    traces = []
    train = _train(CFG)

    def counted(key, run_idx, hparams):
        traces.append(1)  # runs only while tracing
        return train(key, run_idx, hparams)

    swept = jax.jit(jax.vmap(counted))
    points = sw.grid_points({"learning_rate": (1e-3, 1e-2), "ent_coef": (0.0, 0.05)})
    hparams = sw.stack_hparams(ppo.hyperparams_from(CFG), points)
    out = swept(*run_inputs(seed=0, num_seeds=2, hparams=hparams))   # 4 points x 2 seeds
    other = sw.stack_hparams(ppo.hyperparams_from(CFG),
                             sw.grid_points({"gamma": (0.9, 0.95, 0.97, 0.999)}))
    swept(*run_inputs(seed=1, num_seeds=2, hparams=other))            # new values: no retrace
    assert len(traces) == 1

    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    # Single (unbatched) runs: one compile serves both points, whose hyperparameters come
    # from their own configs (``hyperparams_from(cfg)``, what a non-swept run stores).
    single = jax.jit(train)
    for g in (1, 2):  # (lr 1e-3, ent 0.05) and (lr 1e-2, ent 0)
        hp = ppo.hyperparams_from(dataclasses.replace(CFG, **points[g]))
        for s in range(2):
            # vmapped and unbatched XLA kernels may sum in another order: float32 noise only.
            for a, b in zip(_params_of(single(keys[s], 0, hp)), _params_of(out, g * 2 + s)):
                np.testing.assert_allclose(a, b, rtol=0, atol=2e-5)
    # Different points really train differently (run 0: lr 1e-3, run 4: lr 1e-2; seed 0).
    diff = max(np.abs(a - b).max() for a, b in zip(_params_of(out, 0), _params_of(out, 4)))
    assert diff > 1e-3, diff


SHARDED_SCRIPT = """
import json, sys, jax, numpy as np
sys.path.insert(0, {root!r})
from tests.algos.test_ppo_sweep import sweep_result
result, devices = sweep_result()
print(json.dumps({{"devices": devices, "params": [x.tolist() for x in result]}}))
"""


def sweep_result():
    """A 2 points x 2 seeds sweep through ``run_sweep``: (final params leaves, devices used)."""
    env, params = envs_jax.make("gymnax/CartPole-v1")
    vec = VecEnv(AutoReset(RecordEpisodeStats(env)), CFG.num_envs)
    parts = ppo.make_train_parts(CFG, vec, params, MLPActorCritic(2, (16, 16)))
    hparams = sw.stack_hparams(ppo.hyperparams_from(CFG),
                               sw.grid_points({"learning_rate": (1e-3, 1e-2)}))
    result = run_sweep(parts.init, parts.run_updates, seed=0, num_seeds=2,
                       num_updates=CFG.num_updates, segment_updates=CFG.num_updates,
                       hparams=hparams)
    leaves = jax.tree.leaves(result.state.train_state.params)
    devices = len(leaves[0].sharding.device_set)
    return [np.asarray(x) for x in leaves], devices


def test_sharded_over_two_cpu_devices_equals_one_device():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")
           + " --xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT.format(root=root)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sharded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sharded["devices"] == 2          # the 4 runs really were split over 2 devices
    single, devices = sweep_result()
    assert devices == 1
    for a, b in zip(single, sharded["params"]):
        np.testing.assert_allclose(a, np.asarray(b, np.float32), rtol=0, atol=2e-5)
