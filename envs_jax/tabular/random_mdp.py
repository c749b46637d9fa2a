"""Random tabular MDPs as a distribution over tasks.

Source: Duan et al. 2016, "RL^2: Fast Reinforcement Learning via Slow Reinforcement
Learning" (arXiv 1611.02779), section 4.2: ``|S| = 10``, ``|A| = 5``, horizon ``T = 10``,
every episode starts in state 0; per task ``P(.|s, a) ~ Dirichlet(1, ..., 1)`` and
``mu(s, a) ~ Normal(1, 1)``; the observed reward is ``Normal(mu(s, a), 1)``.
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
class MDPParams:
    """One MDP task.

    Attributes:
        transition: ``[S, A, S]`` float32, ``transition[s, a, s']`` = P(s' | s, a); rows sum to 1.
        reward_mean: ``[S, A]`` float32, expected reward of taking ``a`` in ``s``.
    """

    transition: jax.Array
    reward_mean: jax.Array


@struct.dataclass
class MDPState:
    """Per-episode state.

    Attributes:
        s: ``[]`` int32, current state.
        t: ``[]`` int32, steps taken in this episode.
    """

    s: jax.Array
    t: jax.Array


def _sample_index(key: jax.Array, probs: jax.Array) -> jax.Array:
    """Index ``i`` with probability ``probs[i]`` (``[S]``, sums to 1), ``[]`` int32.

    Inverse CDF from ONE uniform draw: cheaper than ``jax.random.categorical`` (S Gumbel
    draws) and, under vmap, a 1-D draw, which XLA:CPU compiles much faster than the 2-D
    draw ``categorical`` becomes. A state with probability 0 is never returned.
    """
    u = jax.random.uniform(key, (), jnp.float32)
    index = jnp.sum(jnp.cumsum(probs) <= u)
    # Rounding can leave cumsum(probs)[-1] slightly below 1: clamp to the last state.
    return jnp.minimum(index, probs.shape[0] - 1).astype(jnp.int32)


def value_iteration(task: MDPParams, horizon: int) -> tuple[jax.Array, jax.Array]:
    """Finite-horizon, undiscounted value iteration with the expected rewards.

    Backward induction: ``V[horizon] = 0``;
    ``Q[t, s, a] = reward_mean[s, a] + sum_s' transition[s, a, s'] * V[t + 1, s']``;
    ``V[t, s] = max_a Q[t, s, a]``. Vmappable over a batch of tasks.

    Args:
        task: the MDP (unbatched).
        horizon: number of steps ``H`` (static Python int).

    Returns:
        ``V`` ``[H + 1, S]`` float32, optimal value with ``H - t`` steps left at step ``t``,
        and ``Q`` ``[H, S, A]`` float32.
    """

    def backup(v_next: jax.Array, _) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        # Elementwise sum rather than a matmul: exact float32 even where matmuls default
        # to reduced precision (TF32 on GPU).
        q = task.reward_mean + jnp.sum(task.transition * v_next, axis=-1)  # [S, A]
        v = q.max(axis=-1)
        return v, (v, q)

    v_end = jnp.zeros(task.reward_mean.shape[0], jnp.float32)
    # reverse=True stacks the outputs in forward time order: row t is step t.
    _, (v, q) = jax.lax.scan(backup, v_end, None, length=horizon, reverse=True)
    return jnp.concatenate([v, v_end[None]], axis=0), q


class RandomMDP(MetaEnvironment[MDPState, MDPParams]):
    """Random tabular MDP with a fixed episode horizon.

    Each episode starts in state 0 and lasts exactly ``horizon`` steps; it is then
    ``truncated`` (a time limit: ``terminated`` is always False). The observation is the
    one-hot current state ``[S]`` float32.

    Args:
        num_states: ``S``, at least 1.
        num_actions: ``A``, at least 1.
        horizon: steps per episode, at least 1.

    Raises:
        ValueError: if an argument is below its minimum.
    """

    def __init__(self, num_states: int = 10, num_actions: int = 5, horizon: int = 10):
        self.num_states = check_int("RandomMDP", "num_states", num_states, minimum=1)
        self.num_actions = check_int("RandomMDP", "num_actions", num_actions, minimum=1)
        self.horizon = check_int("RandomMDP", "horizon", horizon, minimum=1)

    @property
    def episode_length(self) -> int:
        """Steps in every episode (fixed): ``horizon``."""
        return self.horizon

    def sample_task(self, key: jax.Array) -> MDPParams:
        """Draws ``P(.|s, a) ~ Dirichlet(1)`` and ``reward_mean ~ Normal(1, 1)`` (float32)."""
        key_p, key_r = jax.random.split(key)
        s, a = self.num_states, self.num_actions
        # Flat Dirichlet(1) as normalised Exponential(1) draws (Gamma(1, 1) = Exponential(1)):
        # the same distribution as jax.random.dirichlet without its gamma sampler, which
        # costs seconds of XLA compile time; drawn flat then reshaped because XLA:CPU
        # also compiles 3-D random draws several times slower than 1-D ones.
        expo = jax.random.exponential(key_p, (s * a * s,), jnp.float32).reshape(s, a, s)
        transition = expo / expo.sum(axis=-1, keepdims=True)
        reward_mean = 1.0 + jax.random.normal(key_r, (s, a), jnp.float32)
        return MDPParams(transition=transition, reward_mean=reward_mean)

    def default_params(self) -> MDPParams:
        """A fixed task from the same distribution, drawn with numpy (seed 0).

        numpy rather than ``sample_task``: no JAX compilation, and the same task on every
        backend and JAX version.
        """
        rng = np.random.default_rng(0)
        s, a = self.num_states, self.num_actions
        transition = rng.dirichlet(np.ones(s), size=(s, a))
        reward_mean = rng.normal(1.0, 1.0, size=(s, a))
        return MDPParams(
            jnp.asarray(transition, jnp.float32), jnp.asarray(reward_mean, jnp.float32)
        )

    def optimal_return(self, task: MDPParams, num_episodes: int) -> jax.Array:
        """``num_episodes * V[0, 0]`` ``[]`` float32: expected return of the task-aware optimum.

        Every episode starts in state 0, so each has the same optimal value.
        """
        v, _ = value_iteration(task, self.horizon)
        return num_episodes * v[0, 0]

    def _obs(self, s: jax.Array) -> jax.Array:
        return jax.nn.one_hot(s, self.num_states, dtype=jnp.float32)

    def reset(self, key: jax.Array, params: MDPParams) -> tuple[jax.Array, MDPState]:
        del key, params
        state = MDPState(s=jnp.zeros((), jnp.int32), t=jnp.zeros((), jnp.int32))
        return self._obs(state.s), state

    def step(
        self, key: jax.Array, state: MDPState, action: jax.Array, params: MDPParams
    ) -> EnvStep:
        key_s, key_r = jax.random.split(key)
        s_next = _sample_index(key_s, params.transition[state.s, action])
        reward = params.reward_mean[state.s, action] + jax.random.normal(key_r, (), jnp.float32)
        t = state.t + 1
        obs = self._obs(s_next)
        return EnvStep(
            obs=obs,
            state=MDPState(s=s_next, t=t),
            reward=reward.astype(jnp.float32),
            terminated=jnp.array(False),
            truncated=t >= self.horizon,
            info={"final_obs": obs},
        )

    def observation_space(self, params: MDPParams | None = None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.num_states,), jnp.float32)

    def action_space(self, params: MDPParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)
