"""Reusable env-protocol contract check for the MJX tasks (imported by the MJX test files).

MJX compiles are slow on CPU, so the check is split in two: ``compile_contract_fns`` builds
ONE jitted, vmapped reset and ONE jitted, vmapped ``AutoReset`` step (the base step runs
inside it: its obs/reward/flags/info are what AutoReset returns) and a test module keeps them
in a module-scoped fixture; ``check_contract`` runs them and asserts the protocol.

Usage::

    @pytest.fixture(scope="module")
    def fns():
        env, params = envs_jax.make("hopper")
        return compile_contract_fns(env, params, num_envs=2)

    def test_contract(fns):
        check_contract(fns, num_steps=3)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.core import Environment
from envs_jax.wrappers import AutoReset


@dataclass
class ContractFns:
    """Compiled functions of one task, shared across a test module.

    Attributes:
        env: the base environment.
        params: its params (shared by all copies).
        num_envs: ``N``, the vmapped batch.
        reset: ``keys [N] -> (obs [N, obs_dim], state)``, jitted.
        step: ``(keys [N], state, action [N, nu]) -> EnvStep`` of ``AutoReset(env)``, jitted.
    """

    env: Environment
    params: Any
    num_envs: int
    reset: Callable
    step: Callable


def compile_contract_fns(env: Environment, params: Any, num_envs: int = 2) -> ContractFns:
    """Jits ``vmap(env.reset)`` and ``vmap(AutoReset(env).step)`` (compiled on first call)."""
    auto = AutoReset(env)
    reset = jax.jit(jax.vmap(lambda k: env.reset(k, params)))
    step = jax.jit(jax.vmap(lambda k, s, a: auto.step(k, s, a, params)))
    return ContractFns(env=env, params=params, num_envs=num_envs, reset=reset, step=step)


def _structure_and_dtypes(tree: Any) -> tuple[Any, list]:
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, [(jnp.shape(x), jnp.result_type(x)) for x in leaves]


def check_contract(fns: ContractFns, num_steps: int = 2, seed: int = 0) -> list:
    """Asserts the env protocol over ``num_steps`` random-action steps of ``N`` copies.

    Checks: obs ``[N, obs_dim]`` float32 matching ``observation_space`` and inside it,
    finite; state pytree structure, shapes and dtypes unchanged by (auto-reset) steps;
    reward ``[N]`` float32 finite; ``terminated``/``truncated`` ``[N]`` bool;
    ``info["final_obs"]`` ``[N, obs_dim]`` float32 and equal to ``obs`` where not done;
    reset is deterministic in the key and different keys give different states.

    Returns:
        The list of ``EnvStep``s (for extra task-specific checks).
    """
    env, params, n = fns.env, fns.params, fns.num_envs
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    key = jax.random.key(seed)
    key_reset, key = jax.random.split(key)
    keys = jax.random.split(key_reset, n)
    obs, state = fns.reset(keys)
    obs_again, _ = fns.reset(keys)
    np.testing.assert_array_equal(np.asarray(obs), np.asarray(obs_again))
    assert obs.shape == (n, *obs_space.shape), (obs.shape, obs_space.shape)
    assert obs.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(obs)))
    assert bool(jnp.all(jax.vmap(obs_space.contains)(obs)))
    if n > 1:  # reset noise: different keys, different initial states
        assert not np.allclose(np.asarray(obs[0]), np.asarray(obs[1]))
    ref_structure = _structure_and_dtypes(state)

    steps = []
    for _ in range(num_steps):
        key, key_act, key_step = jax.random.split(key, 3)
        action = jax.vmap(act_space.sample)(jax.random.split(key_act, n))
        assert action.shape == (n, *act_space.shape)
        ts = fns.step(jax.random.split(key_step, n), state, action)
        assert _structure_and_dtypes(ts.state) == ref_structure
        assert ts.obs.shape == obs.shape and ts.obs.dtype == jnp.float32
        assert bool(jnp.all(jax.vmap(obs_space.contains)(ts.obs)))
        assert ts.reward.shape == (n,) and ts.reward.dtype == jnp.float32
        assert np.all(np.isfinite(np.asarray(ts.reward)))
        for flag in (ts.terminated, ts.truncated):
            assert flag.shape == (n,) and flag.dtype == jnp.bool_
        final_obs = ts.info["final_obs"]
        assert final_obs.shape == obs.shape and final_obs.dtype == jnp.float32
        not_done = ~np.asarray(ts.terminated | ts.truncated)
        np.testing.assert_array_equal(np.asarray(final_obs)[not_done], np.asarray(ts.obs)[not_done])
        steps.append(ts)
        state = ts.state
    return steps
