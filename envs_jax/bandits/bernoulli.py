"""Bernoulli multi-armed bandit as a distribution over tasks.

Source: Duan et al. 2016, "RL^2: Fast Reinforcement Learning via Slow Reinforcement
Learning" (arXiv 1611.02779), section 4.1: per task the arm probabilities are
``p_i ~ Uniform[0, 1]``; one pull is one episode; the observation carries no information.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs_jax import spaces
from envs_jax._checks import check_int
from envs_jax.core import EnvStep, MetaEnvironment


@struct.dataclass
class BanditParams:
    """One bandit task.

    Attributes:
        probs: ``[k]`` float32, success probability of each arm.
    """

    probs: jax.Array


@struct.dataclass
class BanditState:
    """Per-episode state of a bandit.

    Attributes:
        t: ``[]`` int32, pulls made since the last reset (0 or 1: an episode is one pull).
    """

    t: jax.Array


class BernoulliBandit(MetaEnvironment[BanditState, BanditParams]):
    """k-armed Bernoulli bandit with horizon 1.

    Every ``step`` ends the episode (``terminated=True``, ``truncated=False``); the reward
    is ``Bernoulli(probs[action])`` as float32 (out-of-range actions are clamped by JAX
    indexing). The observation is the constant ``[1.0]`` ``[1]`` float32.

    Args:
        num_arms: number of arms ``k``, at least 2.

    Raises:
        ValueError: if ``num_arms < 2``.
    """

    episode_length = 1
    """Steps in every episode (fixed): one pull."""

    def __init__(self, num_arms: int = 5):
        self.num_arms = check_int("BernoulliBandit", "num_arms", num_arms, minimum=2)

    @property
    def num_actions(self) -> int:
        return self.num_arms

    def sample_task(self, key: jax.Array) -> BanditParams:
        """Draws ``probs ~ Uniform[0, 1]^k`` (float32)."""
        return BanditParams(probs=jax.random.uniform(key, (self.num_arms,), jnp.float32))

    def default_params(self) -> BanditParams:
        """A fixed task from the same distribution, drawn with numpy (seed 0).

        numpy rather than ``sample_task``: no JAX compilation, and the same task on every
        backend and JAX version.
        """
        probs = np.random.default_rng(0).uniform(size=self.num_arms)
        return BanditParams(probs=jnp.asarray(probs, jnp.float32))

    def optimal_return(self, task: BanditParams, num_episodes: int) -> jax.Array:
        """``num_episodes * max(probs)``, ``[]`` float32: always pulling the best arm."""
        return num_episodes * jnp.max(task.probs, axis=-1)

    def _obs(self) -> jax.Array:
        return jnp.ones((1,), jnp.float32)

    def reset(self, key: jax.Array, params: BanditParams) -> tuple[jax.Array, BanditState]:
        del key, params
        return self._obs(), BanditState(t=jnp.zeros((), jnp.int32))

    def step(
        self, key: jax.Array, state: BanditState, action: jax.Array, params: BanditParams
    ) -> EnvStep:
        reward = jax.random.bernoulli(key, params.probs[action]).astype(jnp.float32)
        obs = self._obs()
        return EnvStep(
            obs=obs,
            state=BanditState(t=state.t + 1),
            reward=reward,
            terminated=jnp.array(True),
            truncated=jnp.array(False),
            info={"final_obs": obs},
        )

    def observation_space(self, params: BanditParams | None = None) -> spaces.Box:
        return spaces.Box(1.0, 1.0, (1,), jnp.float32)

    def action_space(self, params: BanditParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_arms)
