"""purerl's MJX tasks (``envs_jax.make("halfcheetah")``) behind Brax's ``Env`` interface.

Brax's trainers (``brax.training.agents.ppo.train`` / ``sac.train``) take a ``brax.envs.Env``:
``reset(rng) -> State`` and ``step(state, action) -> State`` for ONE env (their
``VmapWrapper`` batches it), ``State(pipeline_state, obs, reward, done, metrics, info)``.
``BraxAdapter`` puts our env there, so both libraries of ``benchmarks/continuous_peers.py``
step the very same MJX dynamics (same XML, solver caps, frame skip, reward, reset noise):

* ``pipeline_state`` is our ``envs_jax.mjx.base.MjxState`` (so Brax's ``AutoResetWrapper``
  restores it, like purerl's ``CachedAutoReset``: each env's episodes restart from the
  initial state drawn at ``reset``);
* ``done`` is our ``terminated`` (float 0/1, Brax's convention); the time limit is NOT ours:
  the adapter builds the env with a time limit it never reaches, and Brax's own
  ``EpisodeWrapper`` (``episode_length=1000``, applied by its trainers) cuts episodes and
  sets ``info["truncation"]``, as it does for Brax's own envs;
* our ``step`` takes a PRNG key (MJX locomotion ignores it: deterministic physics); the
  adapter carries one in ``info["adapter_key"]`` and splits it every step.

Imports ``envs_jax`` (never ``purerl``) and ``brax``: it runs in the peers' venv.
"""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from brax.envs.base import Env, State

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NEVER = 2 ** 30
"""Our env's own time limit inside the adapter: never reached (Brax's EpisodeWrapper cuts)."""


class BraxAdapter(Env):
    """``envs_jax.make(env_id)`` as a single (unbatched) ``brax.envs.Env``."""

    def __init__(self, env_id: str = "halfcheetah", **kwargs):
        if ROOT not in sys.path:
            sys.path.insert(0, ROOT)
        import envs_jax

        self.env_id = env_id
        self._env, self._params = envs_jax.make(env_id, episode_length=NEVER, **kwargs)
        self._obs_size = int(self._env.observation_space(self._params).shape[0])
        self._action_size = int(self._env.action_space(self._params).shape[0])

    def reset(self, rng: jax.Array) -> State:
        key_reset, key_run = jax.random.split(rng)
        obs, state = self._env.reset(key_reset, self._params)
        zero = jnp.zeros((), jnp.float32)
        return State(pipeline_state=state, obs=obs, reward=zero, done=zero, metrics={},
                     info={"adapter_key": key_run})

    def step(self, state: State, action: jax.Array) -> State:
        key_step, key_run = jax.random.split(state.info["adapter_key"])
        ts = self._env.step(key_step, state.pipeline_state, action, self._params)
        return state.replace(pipeline_state=ts.state, obs=ts.obs,
                             reward=ts.reward.astype(jnp.float32),
                             done=ts.terminated.astype(jnp.float32),
                             info={**state.info, "adapter_key": key_run})

    @property
    def observation_size(self) -> int:
        return self._obs_size

    @property
    def action_size(self) -> int:
        return self._action_size

    @property
    def backend(self) -> str:
        return "mjx"
