"""PixelPointMass (``envs_jax.pixel_point_mass``): reset / step shapes under jit and vmap,
the dynamics, reward and time limit against hand values, the image against hand-computed
pixels, and the random / straight-to-centre reference levels its docstring states."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs_jax.pixel_point_mass import (PixelPointMass, PointMassParams, PointMassState,
                                       render_point_mass)
from envs_jax.pixels import make_pixel_env
from envs_jax.policy import evaluate_episodes, feed_forward


def test_reset_step_shapes_dtypes_under_jit_and_vmap():
    env = PixelPointMass(12)
    params = env.default_params()
    keys = jax.random.split(jax.random.key(0), 4)
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    assert obs.shape == (4, 12, 12, 3) and obs.dtype == jnp.uint8
    assert state.pos.shape == (4, 2) and state.time.dtype == jnp.int32
    assert bool(jnp.all(jnp.abs(state.pos) <= 1.0))
    ts = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))(keys, state, jnp.ones((4, 2)),
                                                              params)
    assert ts.obs.shape == (4, 12, 12, 3) and ts.obs.dtype == jnp.uint8
    assert ts.reward.shape == (4,) and ts.reward.dtype == jnp.float32
    assert ts.terminated.dtype == jnp.bool_ and ts.truncated.dtype == jnp.bool_
    np.testing.assert_array_equal(ts.info["final_obs"], ts.obs)
    assert env.observation_space(params).shape == (12, 12, 3)
    assert env.action_space(params).shape == (2,)
    state_env = PixelPointMass(12, pixels=False)
    obs, state = state_env.reset(keys[0], params)
    np.testing.assert_array_equal(obs, state.pos)
    assert state_env.observation_space(params).shape == (2,)


def test_step_hand_values_walls_clipping_and_reward():
    env, params = PixelPointMass(8), PointMassParams()
    state = PointMassState(jnp.array([0.5, -0.95]), jnp.zeros((), jnp.int32))
    # (0.5, -0.95) + 0.1 * (1, -1) = (0.6, -1.05) -> the wall at y = -1
    ts = env.step(None, state, jnp.array([1.0, -1.0]), params)
    np.testing.assert_allclose(ts.state.pos, [0.6, -1.0], atol=1e-7)
    np.testing.assert_allclose(ts.reward, -np.hypot(0.6, 1.0), rtol=1e-6)   # -1.16619
    assert int(ts.state.time) == 1 and not bool(ts.terminated | ts.truncated)
    # commands beyond [-1, 1] are clipped: (3, 0.5) moves like (1, 0.5)
    ts = env.step(None, state, jnp.array([3.0, 0.5]), params)
    np.testing.assert_allclose(ts.state.pos, [0.6, -0.9], atol=1e-7)
    # at the centre the reward is 0
    ts = env.step(None, PointMassState(jnp.array([0.05, 0.0]), jnp.zeros((), jnp.int32)),
                  jnp.array([-0.5, 0.0]), params)
    assert float(ts.reward) == 0.0


def test_time_limit_and_action_repeat():
    env, params = make_pixel_env("point_mass_reach", image_size=8)      # FrameStack(R = 2)
    assert env.episode_length == 25                                     # 50 steps / 2
    obs, state = env.reset(jax.random.key(1), params)
    assert obs.shape == (8, 8, 9)
    pos = state.env_state.pos
    step = jax.jit(lambda s: env.step(jax.random.key(2), s, jnp.array([0.0, 0.0]), params))
    for t in range(25):
        ts = step(state)
        assert bool(ts.truncated) == (t == 24)
        state = ts.state
    # standing still: each agent step's reward is twice the distance to the centre
    np.testing.assert_allclose(ts.reward, -2 * np.linalg.norm(pos), rtol=1e-6)
    assert int(state.env_state.time) == 50


def test_image_hand_values():
    """12x12: pixel = 0.2 m, pixel centres at -1.1, -0.9, ..., 1.1 (columns left to right,
    rows top to bottom); background 0.1 -> 26, dot (0.9, 0.8, 0.2) -> (230, 204, 51)."""
    img = np.asarray(render_point_mass(jnp.array([0.9, -0.9]), 12))
    np.testing.assert_array_equal(img[10, 10], [230, 204, 51])     # centre on the dot
    np.testing.assert_array_equal(img[10, 8], [26, 26, 26])        # 0.4 m away: 1 px out
    np.testing.assert_array_equal(img[0, 0], [26, 26, 26])
    # (0.7, -0.7): 0.2 sqrt 2 - 0.2 = 0.0828 m outside, ink 2 - sqrt 2 = 0.5858:
    # 0.1 + 0.5858 (0.8, 0.7, 0.1) = (0.5686, 0.5101, 0.1586) -> (145, 130, 40)
    np.testing.assert_array_equal(img[9, 9], [145, 130, 40])
    # the target ring (radius 0.2, half width 0.04) around the centre: the four centre
    # pixels at |c| = 0.1414: ink 1 - (0.0586 - 0.04) / 0.2 = 0.9071 -> 0.1 + 0.9071 *
    # (0.2, 0.2, 0.5) = (0.2814, 0.2814, 0.5536) -> (72, 72, 141)
    for r, c in ((5, 5), (5, 6), (6, 5), (6, 6)):
        np.testing.assert_array_equal(img[r, c], [72, 72, 141])
    # sub-pixel moves change the image
    moved = np.asarray(render_point_mass(jnp.array([0.93, -0.9]), 12))
    assert not np.array_equal(img, moved)


def test_image_size_error():
    with pytest.raises(ValueError, match="image_size must be an integer >= 4"):
        PixelPointMass(3)


def test_reference_levels_random_and_straight_to_centre():
    """The levels the module docstring states, over 1000 episodes (standard error ~0.4)."""
    env, params = make_pixel_env("point_mass_reach", pixels=False)
    random = feed_forward(lambda key, obs: jax.random.uniform(key, (obs.shape[0], 2),
                                                              minval=-1.0, maxval=1.0))
    straight = feed_forward(lambda key, obs: jnp.clip(-obs / 0.2, -1.0, 1.0))

    def mean_return(policy):
        return float(jnp.mean(jax.jit(lambda k: evaluate_episodes(
            env, params, policy, k, 1000, 25).returns)(jax.random.key(0))))

    assert -41 < mean_return(random) < -37
    assert -3 < mean_return(straight) < -2
