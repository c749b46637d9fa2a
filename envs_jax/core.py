"""The environment protocol every ``envs_jax`` environment follows.

gymnax-compatible signatures with explicit episode flags (see STYLE.md, rule 2)::

    obs, state = env.reset(key, params)
    ts = env.step(key, state, action, params)   # -> EnvStep
    ts.obs, ts.state, ts.reward, ts.terminated, ts.truncated, ts.info

* ``terminated``: the MDP reached a terminal state; the value of the next state is 0.
* ``truncated``: the episode was cut (time limit); bootstrap from ``info["final_obs"]``.
* ``info["final_obs"]`` is always present: the true next observation of this transition,
  even when an auto-reset wrapper has already replaced ``obs`` by the first observation
  of the next episode.

Environment objects hold no arrays: everything traced lives in ``state`` (per episode)
or ``params`` (per task), so ``jax.vmap`` over ``params`` is a batch of tasks. The
caller decides what to ``jax.jit``; no method here is decorated.
"""

from __future__ import annotations

from typing import Any, Generic, NamedTuple, TypeVar

import jax

from envs_jax import spaces

TEnvState = TypeVar("TEnvState")
TEnvParams = TypeVar("TEnvParams")


class EnvStep(NamedTuple):
    """What ``Environment.step`` returns (one env; add a leading ``[N]`` when vmapped).

    Attributes:
        obs: next observation ``[*obs_shape]``; after an auto-reset, the first
            observation of the new episode.
        state: next environment state (pytree).
        reward: ``[]`` float32.
        terminated: ``[]`` bool, true terminal state reached.
        truncated: ``[]`` bool, episode cut by a time limit (not terminal).
        info: dict with at least ``"final_obs"`` ``[*obs_shape]``.
    """

    obs: jax.Array
    state: Any
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    info: dict

    @property
    def done(self) -> jax.Array:
        """``terminated | truncated``: the episode ended at this transition."""
        return self.terminated | self.truncated


class Environment(Generic[TEnvState, TEnvParams]):
    """Base class: stateless, hashable-by-identity environment object.

    Subclasses implement ``default_params``, ``reset``, ``step``, ``observation_space``
    and ``action_space``. ``step`` of a base environment does NOT auto-reset: wrap it in
    ``envs_jax.wrappers.AutoReset`` for that.
    """

    @property
    def name(self) -> str:
        return type(self).__name__

    def default_params(self) -> TEnvParams:
        raise NotImplementedError

    def reset(self, key: jax.Array, params: TEnvParams) -> tuple[jax.Array, TEnvState]:
        raise NotImplementedError

    def step(self, key: jax.Array, state: TEnvState, action: jax.Array, params: TEnvParams) -> EnvStep:
        raise NotImplementedError

    def observation_space(self, params: TEnvParams) -> spaces.Space:
        raise NotImplementedError

    def action_space(self, params: TEnvParams) -> spaces.Space:
        raise NotImplementedError


class MetaEnvironment(Environment[TEnvState, TEnvParams]):
    """An environment whose ``params`` are a task drawn from a task distribution.

    ``sample_task(key)`` draws one task (an ``EnvParams``); ``optimal_return`` gives the
    expected return of the task-aware optimal policy over ``num_episodes`` episodes, used
    as the ceiling beside every evaluation score.
    """

    def sample_task(self, key: jax.Array) -> TEnvParams:
        raise NotImplementedError

    def optimal_return(self, task: TEnvParams, num_episodes: int) -> jax.Array:
        raise NotImplementedError
