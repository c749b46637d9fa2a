"""Brings any gymnax environment onto the ``envs_jax`` protocol, and ours into gymnax's.

``GymnaxAdapter(gymnax_env)``: a gymnax env as one of ours. ``to_gymnax(env)``: one of ours
as a ``gymnax.environments.environment.Environment``, for code written against gymnax's API
(a gymnax-style training loop, gymnax's wrappers). What changes on the way out:

* ``default_params`` is a property (ours: a method);
* ``step`` auto-resets at the end of an episode as gymnax's does (ours never does), and
  returns gymnax's six values ``(obs, state, reward, terminated, truncated, info)``;
* ``info`` carries gymnax's keys: ``"final_observation"`` (the true last observation,
  which gymnax's ``FlattenObservationWrapper`` reshapes), ``"terminated"``,
  ``"truncated"`` and ``"discount"``; our ``"final_obs"`` is renamed to it;
* the spaces are gymnax's ``Discrete`` / ``Box``.

The flags of the adapter in:

gymnax's own ``step`` auto-resets and returns a 6-tuple; the adapter uses the raw
``reset_env`` / ``step_env`` instead (no auto-reset; wrap in ``AutoReset``) and derives
explicit ``terminated`` / ``truncated`` flags:

* ``time_limit``: ``env.is_truncated(state, params)`` (gymnax >= 1.0), else
  ``state.time >= params.max_steps_in_episode``, else False;
* ``natural``: ``env.is_terminated(state, params)`` where the env implements it;
* ``terminated = done & ~(time_limit & ~natural)``: a ``done`` that is only the time
  limit is not a terminal state. gymnax 1.0.1's ``step_env`` already reports natural
  termination only (``is_terminal`` no longer includes time limits), older versions mix
  the two; the rule gives the same flags for both;
* ``truncated = time_limit & ~terminated``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs_jax import spaces
from envs_jax.core import Environment, EnvStep


def _strong(x: Any) -> jax.Array:
    """As a JAX array with a concrete (non-weak) dtype: gymnax resets hold Python ints
    (``time=0``) that would otherwise change dtype across ``jnp.where`` and scan carries."""
    x = jnp.asarray(x)
    return x.astype(x.dtype)  # astype with an explicit dtype drops weak typing


def convert_space(space: Any) -> spaces.Space:
    """Converts a gymnax ``Discrete`` or ``Box`` (concrete bounds) to ours.

    Raises:
        TypeError: for other gymnax spaces (``Dict``, ``Tuple``).
    """
    kind = type(space).__name__
    if kind == "Discrete":
        return spaces.Discrete(space.n, dtype=getattr(space, "dtype", jnp.int32))
    if kind == "Box":
        shape = tuple(space.shape) if not isinstance(space.shape, int) else (space.shape,)
        return spaces.Box(np.asarray(space.low), np.asarray(space.high), shape, space.dtype)
    raise TypeError(f"convert_space: unsupported gymnax space {space!r}")


class GymnaxAdapter(Environment):
    """Wraps a gymnax ``Environment`` instance (see the module docstring for the flags).

    Observations are cast to the observation space's dtype, rewards to float32, flags to
    bool, and state leaves to strong dtypes. ``info`` keeps gymnax's info entries (e.g.
    ``"discount"``) and adds ``"final_obs"`` (= ``obs``: no auto-reset here).

    Args:
        gymnax_env: e.g. ``gymnax.make("CartPole-v1")[0]``.
    """

    def __init__(self, gymnax_env: Any):
        self.gymnax_env = gymnax_env
        # Fixed once from the default params: the spaces of some gymnax envs depend on
        # params, which may be traced inside step.
        self._obs_dtype = self.observation_space(gymnax_env.default_params).dtype

    def __getattr__(self, name: str) -> Any:
        if name == "gymnax_env":
            raise AttributeError(name)
        return getattr(self.gymnax_env, name)

    @property
    def name(self) -> str:
        return self.gymnax_env.name

    def default_params(self) -> Any:
        return self.gymnax_env.default_params  # a property in gymnax, a method here

    def _obs(self, obs: Any) -> jax.Array:
        return jnp.asarray(obs).astype(self._obs_dtype)

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        obs, state = self.gymnax_env.reset_env(key, params)
        return self._obs(obs), jax.tree.map(_strong, state)

    def _time_limit(self, state: Any, params: Any) -> jax.Array:
        try:  # gymnax >= 1.0 has is_truncated (an env may override it)
            return jnp.asarray(self.gymnax_env.is_truncated(state, params), bool)
        except (AttributeError, NotImplementedError):
            if hasattr(state, "time") and hasattr(params, "max_steps_in_episode"):
                return jnp.asarray(state.time >= params.max_steps_in_episode, bool)
            return jnp.zeros((), bool)  # no time limit known

    def _natural_terminal(self, state: Any, params: Any) -> jax.Array:
        try:
            return jnp.asarray(self.gymnax_env.is_terminated(state, params), bool)
        except NotImplementedError:
            # Unknown: treat a done at the time limit as truncation.
            return jnp.zeros((), bool)

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> EnvStep:
        obs, state, reward, done, info = self.gymnax_env.step_env(key, state, action, params)
        done = jnp.asarray(done, bool)
        time_limit = self._time_limit(state, params)
        natural = self._natural_terminal(state, params)
        terminated = done & ~(time_limit & ~natural)
        truncated = time_limit & ~terminated
        obs = self._obs(obs)
        return EnvStep(
            obs=obs,
            state=jax.tree.map(_strong, state),
            reward=jnp.asarray(reward, jnp.float32),
            terminated=terminated,
            truncated=truncated,
            info={**info, "final_obs": obs},
        )

    def observation_space(self, params: Any) -> spaces.Space:
        """Our space for ``params`` (concrete values: Box bounds become numpy arrays)."""
        return convert_space(self.gymnax_env.observation_space(params))

    def action_space(self, params: Any) -> spaces.Space:
        return convert_space(self.gymnax_env.action_space(params))


def to_gymnax_space(space: spaces.Space) -> Any:
    """Our ``Discrete`` / ``Box`` as gymnax's.

    Raises:
        TypeError: for other spaces.
    """
    from gymnax.environments import spaces as gymnax_spaces

    if isinstance(space, spaces.Discrete):
        return gymnax_spaces.Discrete(space.n)
    if isinstance(space, spaces.Box):
        return gymnax_spaces.Box(space.low, space.high, tuple(space.shape), space.dtype)
    raise TypeError(f"to_gymnax_space: unsupported space {space!r}")


@struct.dataclass
class ToGymnaxState:
    """``to_gymnax``'s state: ours, plus what gymnax's ``step`` reads back from the state.

    Attributes:
        env_state: our env's state.
        time: ``[]`` int32, steps in the current episode (gymnax's ``EnvState.time``).
        truncated: ``[]`` bool, the last transition was cut by our env's time limit.
    """

    env_state: Any
    time: jax.Array
    truncated: jax.Array


def to_gymnax(env: Environment, params: Any = None) -> Any:
    """Our ``env`` as a gymnax ``Environment`` (see the module docstring).

    Args:
        env: a base env of our protocol (no auto-reset: gymnax's ``step`` adds its own).
        params: the params ``default_params`` returns (default ``env.default_params()``).

    Returns:
        An instance of a ``gymnax.environments.environment.Environment`` subclass (made
        here, not at import: importing gymnax costs seconds).
    """
    from gymnax.environments import environment as gymnax_env

    class _ToGymnax(gymnax_env.Environment):
        def __init__(self):
            super().__init__()
            self.env = env
            self._params = env.default_params() if params is None else params

        @property
        def name(self) -> str:
            return f"to_gymnax({getattr(env, 'name', type(env).__name__)})"

        @property
        def default_params(self) -> Any:
            return self._params

        @property
        def num_actions(self) -> int:
            space = env.action_space(self._params)
            if not isinstance(space, spaces.Discrete):
                raise AttributeError("num_actions: the action space is not Discrete")
            return space.n

        def reset_env(self, key, params):
            obs, state = env.reset(key, params)
            return obs, ToGymnaxState(state, jnp.zeros((), jnp.int32), jnp.zeros((), bool))

        def step_env(self, key, state, action, params):
            ts = env.step(key, state.env_state, action, params)
            info = {k: v for k, v in ts.info.items() if k != "final_obs"}
            info["discount"] = 1.0 - ts.terminated.astype(jnp.float32)
            new_state = ToGymnaxState(ts.state, state.time + 1, ts.truncated)
            return ts.obs, new_state, ts.reward, ts.terminated, info

        def is_truncated(self, state, params):
            return state.truncated

        def is_terminated(self, state, params):
            raise NotImplementedError("to_gymnax reports termination from step_env only")

        def observation_space(self, params):
            return to_gymnax_space(env.observation_space(params))

        def action_space(self, params):
            return to_gymnax_space(env.action_space(params))

    return _ToGymnax()
