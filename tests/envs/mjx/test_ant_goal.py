"""``ant-goal``: the open-space goal-reaching task of AntMaze's data policy.

The task hooks run eagerly on hand-built physics states (no compile); the compiled
contract and the goal redraw on reaching one are in the slow tier.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mjx_contract import check_contract, compile_contract_fns

import envs_jax
from envs_jax.mjx.ant_goal import GOAL_OBS_NORM, AntGoal, goal_direction
from envs_jax.mjx.base import data_from_state


@functools.cache
def env_and_params():
    return envs_jax.make("ant-goal")


def _data(env, xy, z=0.75):
    qpos = np.array(env.mj_model.qpos0, np.float32)
    qpos[:2], qpos[2] = xy, z
    return data_from_state(env.mjx_model, jnp.asarray(qpos),
                           jnp.zeros(env.mj_model.nv, jnp.float32), forward=False)


def test_model_is_the_antmaze_ant_without_walls():
    env, params = env_and_params()
    maze, _ = envs_jax.make("antmaze-umaze")
    assert env.mj_model.nq == maze.mj_model.nq == 15 and env.mj_model.nu == 8
    assert not any(env.mj_model.geom(g).name.startswith("block_")
                   for g in range(env.mj_model.ngeom))
    np.testing.assert_allclose(env.mj_model.actuator_gear[:, 0], 30.0)
    assert env.dt == pytest.approx(0.1) and env.episode_length == 1000
    assert env.obs_size == 29 and env.action_space(params).shape == (8,)


def test_goal_direction_is_rescaled_to_norm_10():
    np.testing.assert_allclose(goal_direction(jnp.array([1.0, 1.0]), jnp.array([4.0, 5.0])),
                               [6.0, 8.0], rtol=1e-6)          # (3, 4) / 5 * 10
    assert GOAL_OBS_NORM == 10.0
    np.testing.assert_array_equal(goal_direction(jnp.zeros(2), jnp.zeros(2)), [0.0, 0.0])


def test_observation_drops_xy_and_appends_the_goal_direction():
    env, params = env_and_params()
    data = _data(env, (2.0, -1.0))
    obs = env.observation(data, {"goal": jnp.array([2.0, 3.0])}, params)
    assert obs.shape == (29,)
    np.testing.assert_allclose(obs[:13], np.asarray(data.qpos[2:15]))
    np.testing.assert_allclose(obs[27:], [0.0, 10.0], atol=1e-6)


def test_reward_is_speed_to_goal_plus_healthy_minus_control():
    env, params = env_and_params()
    goal = {"goal": jnp.array([3.0, 4.0])}
    before, after = _data(env, (0.0, 0.0)), _data(env, (0.3, 0.4))
    action = jnp.full((8,), 0.5)
    task = env.task_step(before, after, action, goal, params)
    # d: 5 -> 4.5 in dt = 0.1 s: 5 m/s; + 0.1 healthy; - 0.05 * 8 * 0.25 = 0.1
    assert float(task.info["speed_to_goal"]) == pytest.approx(5.0, rel=1e-5)
    assert float(task.reward) == pytest.approx(5.0, rel=1e-5)
    assert not bool(task.terminated) and not bool(task.info["reached"])
    fallen = env.task_step(before, _data(env, (0.3, 0.4), z=0.1), action, goal, params)
    assert bool(fallen.terminated)
    assert float(fallen.reward) == pytest.approx(4.9, rel=1e-5)   # no healthy reward
    at_goal = env.task_step(before, _data(env, (2.7, 3.8)), jnp.zeros(8), goal, params)
    assert bool(at_goal.info["reached"])                          # |d| = 0.36 <= 0.5


def test_sample_goal_distance_and_direction():
    env, _ = env_and_params()
    xy = jnp.array([5.0, -2.0])
    goals = np.asarray(jax.vmap(lambda k: env.sample_goal(k, xy))(
        jax.random.split(jax.random.key(0), 4000)))
    dist = np.linalg.norm(goals - np.asarray(xy), axis=1)
    assert dist.min() >= 1.0 and dist.max() <= 8.0
    np.testing.assert_allclose(dist.mean(), 4.5, atol=0.15)
    angles = np.arctan2(*(goals - np.asarray(xy)).T[::-1])
    np.testing.assert_allclose(np.histogram(angles, 4)[0] / 4000, 0.25, atol=0.03)


def test_bad_goal_distance():
    with pytest.raises(ValueError, match="goal_distance"):
        AntGoal(goal_distance=(0.2, 3.0))


@pytest.mark.slow
def test_contract_and_a_new_goal_when_one_is_reached():
    env, params = env_and_params()
    fns = compile_contract_fns(env, params)
    check_contract(fns)
    _, state = fns.reset(jax.random.split(jax.random.key(1), 2))
    near = state.data.qpos[:, :2] + jnp.array([0.1, 0.0])          # the goal under the ant
    state = state.replace(extras={"goal": near})
    ts = fns.step(jax.random.split(jax.random.key(2), 2), state, jnp.zeros((2, 8)))
    assert bool(ts.info["reached"].all())
    new_goal = np.asarray(ts.state.extras["goal"])
    dist = np.linalg.norm(new_goal - np.asarray(ts.state.data.qpos[:, :2]), axis=1)
    assert (dist >= 1.0 - 0.05).all() and (dist <= 8.0 + 0.05).all()
    np.testing.assert_allclose(ts.obs[:, 27:],
                               goal_direction(ts.state.data.qpos[:, :2], new_goal), rtol=1e-5)
