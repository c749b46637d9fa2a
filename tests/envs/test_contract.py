"""The protocol contract, checked on every registered environment.

Each env compiles ONE function (``conftest.rollout``: a vmapped batch of 4 resets and
steps, then an unbatched AutoReset scan); unbatched reset/step are traced under
``jax.jit`` with ``jax.eval_shape``. The tests below assert on those outputs, which keeps
the suite fast on small machines.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax

# MJX tasks have their own contract tests (tests/envs/mjx/) that share one compile per task;
# brax / Playground ids are checked on a handful of envs in tests/envs/test_brax_adapter.py.
_OWN_TESTS = {*envs_jax.MJX_ENV_IDS, *envs_jax.BRAX_ENV_IDS, *envs_jax.PLAYGROUND_ENV_IDS}
ENV_IDS = [i for i in envs_jax.registered_envs() if i not in _OWN_TESTS]
BATCH = 4


def _signature(tree) -> list:
    """Shape, dtype and weak-typedness of every leaf (weak types would drift in scans)."""
    return [(a.shape, a.dtype, a.weak_type) for a in jax.tree.leaves(tree)]


@pytest.fixture(params=ENV_IDS)
def r(request, env_rollout) -> dict:
    return env_rollout(request.param)


def test_reset_obs_matches_space(r):
    space = r["obs_space"]
    assert r["obs"].shape == space.shape
    assert r["obs"].dtype == space.dtype
    assert np.all(r["reset_contains"])


def test_step_types(r):
    ts, space = r["ts"], r["obs_space"]
    assert ts.obs.shape == space.shape and ts.obs.dtype == space.dtype
    assert ts.reward.shape == () and ts.reward.dtype == jnp.float32
    for flag in (ts.terminated, ts.truncated):
        assert flag.shape == () and flag.dtype == jnp.bool_
    assert "final_obs" in ts.info
    assert ts.info["final_obs"].shape == space.shape
    assert ts.info["final_obs"].dtype == space.dtype
    assert r["action"].shape == r["act_space"].shape


def test_step_keeps_state_pytree(r):
    assert jax.tree.structure(r["ts"].state) == jax.tree.structure(r["state"])
    assert _signature(r["ts"].state) == _signature(r["state"])


def test_vmap_adds_batch_axis(r):
    v_ts, shape = r["v_ts"], r["obs_space"].shape
    assert r["v_obs"].shape == (BATCH, *shape)
    assert v_ts.obs.shape == (BATCH, *shape)
    assert v_ts.info["final_obs"].shape == (BATCH, *shape)
    assert v_ts.reward.shape == (BATCH,) and v_ts.reward.dtype == jnp.float32
    assert v_ts.terminated.shape == (BATCH,) and v_ts.terminated.dtype == jnp.bool_
    assert v_ts.truncated.shape == (BATCH,) and v_ts.truncated.dtype == jnp.bool_


def test_autoreset_scan_keeps_state_pytree(r):
    assert jax.tree.structure(r["scan_state"]) == jax.tree.structure(r["state"])
    assert _signature(r["scan_state"]) == _signature(r["state"])
    traj = r["traj"]
    num_steps = traj.reward.shape[0]
    assert traj.obs.shape == traj.info["final_obs"].shape == (num_steps, *r["obs_space"].shape)
    assert traj.reward.dtype == jnp.float32
    assert traj.terminated.dtype == traj.truncated.dtype == jnp.bool_
    assert np.all(np.isfinite(np.asarray(traj.reward)))


def test_spaces_contain_trajectory(r):
    action_ok, obs_ok, final_obs_ok = r["checks"]
    assert np.all(action_ok) and np.all(obs_ok) and np.all(final_obs_ok)


# --- registry ---------------------------------------------------------------------


def test_required_ids_registered():
    required = {
        "bernoulli_bandit",
        "random_mdp",
        "bernoulli_bandit_trial",
        "random_mdp_trial",
        "gymnax/CartPole-v1",
        "gymnax/Acrobot-v1",
        "gymnax/MountainCar-v0",
    }
    assert required <= set(ENV_IDS)


def test_make_unknown_id_lists_registered():
    with pytest.raises(ValueError, match="no_such_env") as err:
        envs_jax.make("no_such_env")
    assert "bernoulli_bandit" in str(err.value) and "random_mdp_trial" in str(err.value)


def test_make_unknown_gymnax_id():
    with pytest.raises(ValueError, match="Nope-v0"):
        envs_jax.make("gymnax/Nope-v0")


def test_make_any_gymnax_id():
    env, params = envs_jax.make("gymnax/Pendulum-v1")
    assert env.observation_space(params).shape == (3,)
    assert env.action_space(params).shape == (1,)


def test_make_passes_kwargs():
    env, params = envs_jax.make("bernoulli_bandit_trial", num_arms=3, num_episodes=7)
    assert env.num_actions == 3 and env.trial_length == 7
    assert params.task.probs.shape == (3,)
    env, _ = envs_jax.make(
        "random_mdp_trial", num_states=4, num_actions=2, horizon=3, num_episodes=2
    )
    assert env.trial_length == 6 and env.obs_dim == 4 + 2 + 2


def test_register_rejects_duplicates_and_bad_args():
    with pytest.raises(ValueError, match="already registered"):
        envs_jax.register("bernoulli_bandit", lambda: None)
    with pytest.raises(TypeError):
        envs_jax.register("x", "not callable")
    with pytest.raises(ValueError):
        envs_jax.register("", lambda: None)
