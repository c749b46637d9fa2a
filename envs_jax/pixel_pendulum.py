"""Pendulum swing-up from pixels: gymnax's ``Pendulum-v1`` drawn as a small RGB image in JAX.

A cheap pixel task for learning tests of pixel agents (SAC+AE) on a CPU: the dynamics,
reward, reset and 200-step time limit are gymnax's ``Pendulum-v1`` (a port of gym's
``classic_control/pendulum.py``: reward ``-(angle^2 + 0.1 thdot^2 + 0.001 u^2)``, torque in
``[-2, 2]``, dt 0.05 s); only the observation differs: instead of ``(cos, sin, thdot)`` it is
an ``[S, S, 3]`` uint8 image of the rod (no velocity: stack frames to see it). The image is
rasterised per pixel centre in the square ``[-1.2, 1.2]^2`` (y up, the pivot in the middle, the
rod of length 1 pointing to ``(sin theta, cos theta)``, upright at ``theta = 0``): brightness
falls linearly with the distance to the rod segment over one pixel beyond its half width
``ROD_HALF_WIDTH``, i.e. an anti-aliased line; red rod on a dark grey background.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from envs_jax import spaces
from envs_jax._checks import check_int
from envs_jax.core import Environment, EnvStep

__all__ = ["PixelPendulum", "render_pendulum"]

ROD_HALF_WIDTH = 0.12          # in units of the rod length (1)
EXTENT = 1.2                   # the image shows [-EXTENT, EXTENT]^2
ROD_RGB = (0.9, 0.3, 0.2)
BACKGROUND_RGB = (0.15, 0.15, 0.15)


def render_pendulum(theta: jax.Array, size: int) -> jax.Array:
    """``[size, size, 3]`` uint8 image of a rod at angle ``theta`` (radians, 0 = upright,
    positive clockwise as gym's ``(sin, cos)`` tip); row 0 is the top. Jittable."""
    centres = (jnp.arange(size) + 0.5) / size * 2 * EXTENT - EXTENT
    x, y = jnp.meshgrid(centres, -centres)                   # y up, row 0 at the top
    tip = jnp.stack([jnp.sin(theta), jnp.cos(theta)])
    along = jnp.clip(x * tip[0] + y * tip[1], 0.0, 1.0)      # projection onto the segment
    dist = jnp.hypot(x - along * tip[0], y - along * tip[1])
    pixel = 2 * EXTENT / size
    ink = jnp.clip(1.0 - (dist - ROD_HALF_WIDTH) / pixel, 0.0, 1.0)[..., None]
    rgb = (1 - ink) * jnp.asarray(BACKGROUND_RGB) + ink * jnp.asarray(ROD_RGB)
    return jnp.round(rgb * 255).astype(jnp.uint8)


class PixelPendulum(Environment):
    """gymnax ``Pendulum-v1`` with ``[image_size, image_size, 3]`` uint8 observations.

    The state is gymnax's ``EnvState`` (``theta``, ``theta_dot``, ``last_u``, ``time``);
    ``episode_length`` is 200 (``max_steps_in_episode``), reached as ``truncated``; the env
    never terminates. Action: ``[1]`` torque in ``[-2, 2]``.

    Args:
        image_size: side S of the square image in pixels (>= 4).

    Raises:
        ValueError: ``image_size`` is not an integer >= 4.
    """

    def __init__(self, image_size: int = 16):
        from gymnax.environments.classic_control.pendulum import Pendulum

        self.image_size = check_int("PixelPendulum", "image_size", image_size, minimum=4)
        self._env = Pendulum()
        self.episode_length = int(self._env.default_params.max_steps_in_episode)
        self.dt = float(self._env.default_params.dt)

    @property
    def name(self) -> str:
        return "PixelPendulum"

    def default_params(self) -> Any:
        return self._env.default_params

    def _obs(self, state: Any) -> jax.Array:
        return render_pendulum(state.theta, self.image_size)

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        _, state = self._env.reset_env(key, params)
        state = state.replace(time=jnp.asarray(state.time, jnp.int32))
        return self._obs(state), state

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> EnvStep:
        _, state, reward, _, info = self._env.step_env(key, state, action, params)
        state = state.replace(time=jnp.asarray(state.time, jnp.int32))
        obs = self._obs(state)
        truncated = state.time >= params.max_steps_in_episode
        return EnvStep(obs, state, jnp.asarray(reward, jnp.float32).reshape(()),
                       jnp.zeros((), bool), truncated, {"final_obs": obs})

    def observation_space(self, params: Any) -> spaces.Box:
        return spaces.Box(0, 255, (self.image_size, self.image_size, 3), jnp.uint8)

    def action_space(self, params: Any) -> spaces.Box:
        return spaces.Box(-params.max_torque, params.max_torque, (1,), jnp.float32)
