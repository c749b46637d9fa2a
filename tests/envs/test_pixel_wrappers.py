"""ActionRepeat and FrameStack against hand-computed values, on a counting env, and the
pixel pendulum's image."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from envs_jax import spaces
from envs_jax.core import Environment, EnvStep
from envs_jax.pixel_pendulum import PixelPendulum, render_pendulum
from envs_jax.wrappers import DMC_ACTION_REPEAT, ActionRepeat, FrameStack


@struct.dataclass
class _Count:
    t: jax.Array


class Counter(Environment):
    """t = 0, 1, ...; step reward t_new * 10 + action; truncated at t = 5; obs [1, 1, 2] =
    (t, 100 + t) as uint8 (two channels, to check the channel layout)."""

    episode_length = 5
    dt = 0.5

    def default_params(self):
        return None

    def _obs(self, t):
        return jnp.stack([t, 100 + t]).astype(jnp.uint8).reshape(1, 1, 2)

    def reset(self, key, params):
        t = jnp.zeros((), jnp.int32)
        return self._obs(t), _Count(t)

    def step(self, key, state, action, params):
        t = state.t + 1
        obs = self._obs(t)
        return EnvStep(obs, _Count(t), (10 * t + action[0]).astype(jnp.float32),
                       jnp.zeros((), bool), t >= 5, {"final_obs": obs})

    def observation_space(self, params):
        return spaces.Box(0, 255, (1, 1, 2), jnp.uint8)

    def action_space(self, params):
        return spaces.Box(-1, 1, (1,), jnp.float32)


def test_action_repeat_sums_rewards_and_stops_at_episode_end():
    env = ActionRepeat(Counter(), 3)
    assert env.episode_length == 2 and env.dt == 1.5      # ceil(5 / 3); 3 x 0.5 s
    _, state = env.reset(jax.random.key(0), None)
    step = jax.jit(lambda s: env.step(jax.random.key(1), s, jnp.array([1.0]), None))
    ts = step(state)
    assert int(ts.state.t) == 3 and float(ts.reward) == (10 + 1) + (20 + 1) + (30 + 1)
    assert int(ts.info["env_steps"]) == 3 and not bool(ts.truncated)
    ts = step(ts.state)                  # t 3 -> 4 -> 5 (truncated): the third step is dropped
    assert int(ts.state.t) == 5 and float(ts.reward) == (40 + 1) + (50 + 1)
    assert int(ts.info["env_steps"]) == 2 and bool(ts.truncated)
    np.testing.assert_array_equal(ts.obs[0, 0], [5, 105])
    np.testing.assert_array_equal(ts.info["final_obs"][0, 0], [5, 105])


def test_action_repeat_one_is_the_inner_env():
    inner, env = Counter(), ActionRepeat(Counter(), 1)
    _, s = inner.reset(jax.random.key(0), None)
    a, b = inner.step(None, s, jnp.array([0.5]), None), env.step(jax.random.key(0), s,
                                                                  jnp.array([0.5]), None)
    assert float(a.reward) == float(b.reward) and int(b.info["env_steps"]) == 1
    with pytest.raises(ValueError, match="repeat"):
        ActionRepeat(Counter(), 0)


def test_frame_stack_layout_reset_repeat_and_final_obs():
    env = FrameStack(Counter(), 3)
    obs, state = env.reset(jax.random.key(0), None)
    assert obs.shape == (1, 1, 6) and obs.dtype == jnp.uint8
    np.testing.assert_array_equal(obs[0, 0], [0, 100, 0, 100, 0, 100])   # first frame x 3
    ts = env.step(None, state, jnp.array([0.0]), None)
    np.testing.assert_array_equal(ts.obs[0, 0], [0, 100, 0, 100, 1, 101])  # oldest first
    ts = env.step(None, ts.state, jnp.array([0.0]), None)
    ts = env.step(None, ts.state, jnp.array([0.0]), None)
    np.testing.assert_array_equal(ts.obs[0, 0], [1, 101, 2, 102, 3, 103])
    np.testing.assert_array_equal(ts.info["final_obs"], ts.obs)
    space = env.observation_space(None)
    assert space.shape == (1, 1, 6) and space.dtype == np.uint8


def test_frame_stack_of_action_repeat_with_auto_reset():
    from envs_jax.wrappers import AutoReset
    env = AutoReset(FrameStack(ActionRepeat(Counter(), 2), 2))
    obs, state = env.reset(jax.random.key(0), None)
    step = jax.jit(lambda s: env.step(jax.random.key(1), s, jnp.array([0.0]), None))
    ts = step(state)                                   # t = 2
    ts = step(ts.state)                                # t = 4
    ts = step(ts.state)                                # t = 5: truncated, reset
    assert bool(ts.truncated) and float(ts.reward) == 50.0
    np.testing.assert_array_equal(ts.info["final_obs"][0, 0], [4, 104, 5, 105])
    np.testing.assert_array_equal(ts.obs[0, 0], [0, 100, 0, 100])


def test_action_repeat_table():
    assert DMC_ACTION_REPEAT["cheetah_run"] == 4 and DMC_ACTION_REPEAT["cartpole_swingup"] == 8
    assert DMC_ACTION_REPEAT["walker_walk"] == 2 and DMC_ACTION_REPEAT["finger_spin"] == 2


def test_pixel_pendulum_image_and_dynamics():
    up = np.asarray(render_pendulum(jnp.float32(0.0), 16))
    right = np.asarray(render_pendulum(jnp.float32(np.pi / 2), 16))
    assert up.shape == (16, 16, 3) and up.dtype == np.uint8
    rod_up, rod_right = up[..., 0] > 100, right[..., 0] > 100
    assert rod_up[:8, 7:9].all() and not rod_up[9:].any()          # above the pivot only
    assert rod_right[7:9, 8:].all() and not rod_right[:, :7].any()  # right of the pivot
    np.testing.assert_array_equal(np.rot90(rod_up, -1), rod_right)  # quarter turn clockwise
    env = PixelPendulum(16)
    params = env.default_params()
    _, state = env.reset(jax.random.key(0), params)
    ts = env.step(jax.random.key(1), state, jnp.array([0.0]), params)
    theta, thdot = float(state.theta), float(state.theta_dot)
    angle = (theta + np.pi) % (2 * np.pi) - np.pi
    assert float(ts.reward) == pytest.approx(-(angle ** 2 + 0.1 * thdot ** 2), rel=1e-5)
    np.testing.assert_array_equal(ts.obs, render_pendulum(ts.state.theta, 16))
