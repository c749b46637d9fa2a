"""Shared, compiled-once rollouts for the env tests (XLA:CPU compiles dominate test time)."""

from __future__ import annotations

import functools

import jax
import pytest

import envs_jax
from envs_jax.wrappers import AutoReset

BATCH = 4
NUM_STEPS = 200  # two full trials of the default "random_mdp_trial" (10 episodes x 10 steps)


@functools.cache
def rollout(env_id: str) -> dict:
    """Everything the tests need from ``make(env_id)`` (default kwargs), in ONE compile.

    Returns a dict with: ``env``, ``params``, ``obs_space``, ``act_space``; unbatched
    ``obs``, ``state``, ``action``, ``ts`` as ``jax.ShapeDtypeStruct`` trees (reset/step
    traced under ``jax.jit``); ``v_obs`` / ``v_ts`` from ``jax.vmap`` over ``BATCH`` envs;
    and an unbatched ``NUM_STEPS`` ``AutoReset`` rollout with random actions: ``actions``
    ``[T]``, ``traj`` (``EnvStep`` ``[T]``, info included), ``before`` (state before each
    step ``[T]``), ``scan_state``, ``checks`` (``contains`` of action, obs, final_obs ``[T]``).
    """
    env, params = envs_jax.make(env_id)
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    auto = AutoReset(env)
    key = jax.random.PRNGKey(0)

    obs, state = jax.eval_shape(jax.jit(env.reset), key, params)
    action = jax.eval_shape(act_space.sample, key)
    ts = jax.eval_shape(jax.jit(env.step), key, state, action, params)

    def run(key):
        key_vec, key_scan = jax.random.split(key)
        keys = jax.random.split(key_vec, BATCH)
        v_obs, v_state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
        v_action = jax.vmap(act_space.sample)(keys)
        v_ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, v_state, v_action, params)

        def env_step(state, key):
            key_act, key_step = jax.random.split(key)
            action = act_space.sample(key_act)
            ts = auto.step(key_step, state, action, params)
            checks = (
                act_space.contains(action),
                obs_space.contains(ts.obs),
                obs_space.contains(ts.info["final_obs"]),
            )
            return ts.state, (action, ts, state, checks)

        # An unbatched AutoReset rollout from the first env of the batch.
        state0 = jax.tree.map(lambda x: x[0], v_state)
        scan_state, (actions, traj, before, checks) = jax.lax.scan(
            env_step, state0, jax.random.split(key_scan, NUM_STEPS)
        )
        return {
            "v_obs": v_obs,
            "v_ts": v_ts,
            "reset_contains": jax.vmap(obs_space.contains)(v_obs),
            "obs0": v_obs[0],
            "actions": actions,
            "traj": traj,
            "before": before,
            "scan_state": scan_state,
            "checks": checks,
        }

    out = jax.jit(run)(key)
    return {
        "env": env,
        "params": params,
        "obs_space": obs_space,
        "act_space": act_space,
        "obs": obs,
        "state": state,
        "action": action,
        "ts": ts,
        **out,
    }


@pytest.fixture(scope="session")
def env_rollout():
    """``env_rollout(env_id) -> dict``: see ``rollout`` (cached per id for the session)."""
    return rollout
