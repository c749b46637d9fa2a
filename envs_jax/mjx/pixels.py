"""Camera observations of an MJX task, rendered once per agent step.

``MjxPixels`` replaces the observation of the MJX task under it by an image of its current
physics state from ``envs_jax.mjx.render.Camera``. Put it OUTSIDE ``ActionRepeat``: the
repeated inner steps then keep the task's cheap state observation and only the state the
agent sees is rendered (dmc2gym renders once per agent step too), e.g.::

    FrameStack(MjxPixels(ActionRepeat(CheetahRun("state"), 4), camera), 3)

Rendering inside the repeat (``CheetahRun("pixels")`` under ``ActionRepeat``) would draw
``R`` images per agent step and keep one.
"""

from __future__ import annotations

from typing import Any

import jax

from envs_jax import spaces
from envs_jax.core import Environment, EnvStep
from envs_jax.mjx.base import MjxEnv, MjxState
from envs_jax.mjx.render import Camera
from envs_jax.wrappers import Wrapper

__all__ = ["MjxPixels"]


def _base(env: Environment) -> MjxEnv:
    while not isinstance(env, MjxEnv):
        env = getattr(env, "env", None)
        if env is None:
            raise ValueError("MjxPixels: expected an MJX task (an MjxEnv under the wrappers)")
    return env


def _mjx_state(state: Any) -> MjxState:
    while not isinstance(state, MjxState):
        state = state.env_state
    return state


class MjxPixels(Wrapper):
    """Observations ``[H, W, 3]`` uint8 RGB of the MJX task's state from ``camera``.

    The physics state must have current positions after ``reset`` and ``step`` (cameras,
    geoms: ``CheetahRun`` refreshes them; see ``envs_jax.mjx.cheetah_run``).
    ``info["final_obs"]`` is the rendered image too (no auto-reset inside).

    Args:
        env: an MJX task, possibly wrapped by wrappers whose state is the task's state or
            holds it as ``env_state`` (``ActionRepeat``).
        camera: built from the task's ``mj_model`` (e.g. ``Camera(m, "side", 84, 84)``).

    Raises:
        ValueError: there is no ``MjxEnv`` under ``env``.
    """

    def __init__(self, env: Environment, camera: Camera):
        super().__init__(env)
        self.task = _base(env)
        self.camera = camera

    def _render(self, state: Any, params: Any) -> jax.Array:
        return self.camera.render(self.task.model(params), _mjx_state(state).data)

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        _, state = self.env.reset(key, params)
        return self._render(state, params), state

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> EnvStep:
        ts = self.env.step(key, state, action, params)
        image = self._render(ts.state, params)
        return ts._replace(obs=image, info={**ts.info, "final_obs": image})

    def observation_space(self, params: Any) -> spaces.Box:
        import jax.numpy as jnp

        return spaces.Box(0, 255, (self.camera.height, self.camera.width, 3), jnp.uint8)
