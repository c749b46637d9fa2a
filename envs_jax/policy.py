"""The one Policy protocol, the one episode evaluator and the one acting loop (``rollout``).

Agents, baselines, evaluation and dataset writing all act through ``Policy``: a batched,
optionally recurrent policy over ``N`` environments::

    hidden = policy.initial_hidden(N)                        # pytree, env axis first
    hidden, action = policy.act(hidden, obs [N, ...], reset [N] bool, key)

``reset[i]`` says that ``obs[i]`` starts a new episode (a recurrent policy zeroes its memory
there; a meta-RL policy keeps it across the episodes of a trial, whose reset flags the trial
wrapper controls). A feed-forward policy ignores ``hidden`` and ``reset``: build it from
``(key, obs [N, ...]) -> action [N, ...]`` with ``feed_forward``, or from a one-observation
function ``(key, obs) -> action`` with ``per_observation``.

The protocol lives here, in the bottom layer, so that ``envs_jax`` (dataset writing) and
``purerl`` (agents, baselines, evaluation) share it without ``envs_jax`` importing ``purerl``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class Policy(NamedTuple):
    """A batched policy (see the module docstring).

    Attributes:
        initial_hidden: ``N -> hidden`` (a pytree whose leaves have a leading ``[N]``).
        act: ``(hidden, obs [N, *obs_shape], reset [N] bool, key) -> (hidden,
            action [N, *action_shape])``; jittable.
    """

    initial_hidden: Callable[[int], Any]
    act: Callable[[Any, jax.Array, jax.Array, jax.Array], tuple[Any, jax.Array]]


def _no_hidden(n: int) -> jax.Array:
    return jnp.zeros((n, 1), jnp.float32)


def feed_forward(fn: Callable[[jax.Array, jax.Array], jax.Array]) -> Policy:
    """A memoryless ``Policy`` from ``fn(key, obs [N, ...]) -> action [N, ...]``."""
    return Policy(_no_hidden, lambda hidden, obs, reset, key: (hidden, fn(key, obs)))


def per_observation(fn: Callable[[jax.Array, jax.Array], jax.Array]) -> Policy:
    """A memoryless ``Policy`` from ``fn(key, obs [*obs_shape]) -> action``, vmapped over N
    with one key per env."""

    def batched(key, obs):
        return jax.vmap(fn)(jax.random.split(key, obs.shape[0]), obs)

    return feed_forward(batched)


def as_policy(policy: Policy | Callable[[jax.Array, jax.Array], jax.Array]) -> Policy:
    """``policy`` itself, or a one-observation function wrapped by ``per_observation``."""
    return policy if isinstance(policy, Policy) else per_observation(policy)


def episode_limit(env, env_params: Any, default: int = 1000) -> int:
    """Steps an episode of ``env`` may last: its fixed length (``env.episode_length``) or
    time limit (gymnax's ``env_params.max_steps_in_episode``), else ``default``; the
    natural ``max_steps`` of ``evaluate_episodes``. Looks through wrappers (``.env``)."""
    while env is not None:
        for value in (getattr(env, "episode_length", None),
                      getattr(env_params, "max_steps_in_episode", None)):
            if value is not None:
                return int(value)
        env = getattr(env, "env", None)
    return default


class EpisodeStats(NamedTuple):
    """Per-episode results of ``evaluate_episodes``: ``returns [E]`` float32 (undiscounted),
    ``lengths [E]`` int32 (steps until the episode ended or ``max_steps``)."""

    returns: jax.Array
    lengths: jax.Array


def evaluate_episodes(env, env_params: Any, policy: Policy, key: jax.Array,
                      num_episodes: int, max_steps: int,
                      params_batched: bool = False) -> EpisodeStats:
    """Run ``num_episodes`` episodes of ``policy`` side by side (vmapped); jittable.

    Each episode starts from its own ``env.reset`` and runs until ``terminated |
    truncated`` or ``max_steps`` steps; rewards after the end are masked out and the env
    is frozen there (no auto-reset: the env is a base env of our protocol).

    Args:
        env: an env of our protocol, without auto-reset.
        env_params: its params, shared by every episode; or, with ``params_batched``, a
            pytree with a leading ``[E]`` axis (one task per episode, e.g. an AntMaze goal
            drawn per episode as antmaze-v2's evaluation does).
        policy: the ``Policy`` to run; ``reset`` is true on the first step only.
        key: PRNG key.
        num_episodes: E (static).
        max_steps: the scan length (static), e.g. the task's time limit.
        params_batched: whether ``env_params`` carries a leading ``[E]`` axis.

    Returns:
        ``EpisodeStats(returns [E], lengths [E])``.
    """
    key_reset, key_steps = jax.random.split(key)
    p_axis = 0 if params_batched else None
    reset = jax.vmap(env.reset, in_axes=(0, p_axis))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, p_axis))
    obs, state = reset(jax.random.split(key_reset, num_episodes), env_params)

    def env_step(carry, key_t):
        obs, state, hidden, first, alive, total, length = carry
        key_act, key_env = jax.random.split(key_t)
        hidden, action = policy.act(hidden, obs, first, key_act)
        ts = step(jax.random.split(key_env, num_episodes), state, action, env_params)
        total = total + jnp.where(alive, ts.reward, 0.0)
        length = length + alive.astype(jnp.int32)
        # Frozen once the episode ended (alive is per episode: broadcast over each leaf).
        state, obs = jax.tree.map(lambda new, old: jnp.where(_expand(alive, new), new, old),
                                  (ts.state, ts.obs), (state, obs))
        alive = alive & ~(ts.terminated | ts.truncated)
        return (obs, state, hidden, jnp.zeros_like(first), alive, total, length), None

    carry = (obs, state, policy.initial_hidden(num_episodes),
             jnp.ones((num_episodes,), bool), jnp.ones((num_episodes,), bool),
             jnp.zeros((num_episodes,), jnp.float32), jnp.zeros((num_episodes,), jnp.int32))
    carry, _ = jax.lax.scan(env_step, carry, jax.random.split(key_steps, max_steps))
    return EpisodeStats(carry[5], carry[6])


def _expand(mask: jax.Array, like: jax.Array) -> jax.Array:
    return mask.reshape(mask.shape + (1,) * (like.ndim - mask.ndim))


class ActorCarry(NamedTuple):
    """What ``rollout`` carries between calls (N envs).

    Attributes:
        obs: ``[N, *obs_shape]`` the next observation.
        env_state: the (auto-resetting, vectorised) env's state.
        hidden: the policy's memory before ``obs``.
        reset: ``[N]`` bool, ``obs`` starts an episode.
    """

    obs: jax.Array
    env_state: Any
    hidden: Any
    reset: jax.Array


class Transition(NamedTuple):
    """One step of N envs; ``rollout`` stacks them to ``[T, N, ...]``.

    Attributes:
        obs: ``[N, *obs_shape]`` the observation acted on.
        action: ``[N, *action_shape]``.
        reward: ``[N]`` float32.
        terminated: ``[N]`` bool, a true terminal state was reached (no bootstrap).
        truncated: ``[N]`` bool, the episode was cut (bootstrap from ``next_obs``).
        next_obs: ``[N, *obs_shape]`` the true next observation (``info["final_obs"]``),
            also where an auto-reset already replaced the carried ``obs``.
        info: the env's ``info`` (episode statistics of ``RecordEpisodeStats`` ...).
        extras: what the policy returned beside the action (log-probs, values, ...).
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array
    info: dict
    extras: dict

    @property
    def done(self) -> jax.Array:
        """``terminated | truncated``."""
        return self.terminated | self.truncated


def init_carry(env, env_params: Any, policy: Policy, key: jax.Array, num_envs: int
               ) -> ActorCarry:
    """The first ``ActorCarry`` of ``rollout``: reset every env, fresh policy memory.

    Args:
        env: a vectorised env with a leading ``[N]`` axis (``VecEnv``).
        env_params: its params.
        policy: the policy that will act.
        key: PRNG key of the reset.
        num_envs: N.
    """
    obs, env_state = env.reset(key, env_params)
    return ActorCarry(obs, env_state, policy.initial_hidden(num_envs),
                      jnp.ones((num_envs,), bool))


def rollout(env, env_params: Any, policy: Policy, carry: ActorCarry, key: jax.Array,
            num_steps: int) -> tuple[ActorCarry, Transition]:
    """Act ``num_steps`` steps in N envs: the acting loop every on- and off-policy agent and
    dataset writer shares (``lax.scan``; jittable, vmappable over seeds).

    ``policy.act`` may return ``(hidden, action)`` or ``(hidden, action, extras)`` with
    ``extras`` a dict of ``[N, ...]`` arrays recorded in ``Transition.extras`` (e.g. PPO's
    log-probabilities and values at collection time).

    Args:
        env: a vectorised, auto-resetting env of our protocol
            (``VecEnv(AutoReset(RecordEpisodeStats(env)), N)``).
        env_params: its params.
        policy: the acting ``Policy``.
        carry: from ``init_carry`` or the previous call.
        key: PRNG key.
        num_steps: T (static).

    Returns:
        ``(carry, Transition)`` with every ``Transition`` leaf ``[T, N, ...]``.
    """

    def env_step(c: ActorCarry, key_t):
        key_act, key_env = jax.random.split(key_t)
        out = policy.act(c.hidden, c.obs, c.reset, key_act)
        hidden, action = out[0], out[1]
        extras = out[2] if len(out) > 2 else {}
        ts = env.step(key_env, c.env_state, action, env_params)
        done = ts.terminated | ts.truncated
        info = {k: v for k, v in ts.info.items() if k != "final_obs"}
        transition = Transition(c.obs, action, ts.reward, ts.terminated, ts.truncated,
                                ts.info["final_obs"], info, extras)
        return ActorCarry(ts.obs, ts.state, hidden, done), transition

    return jax.lax.scan(env_step, carry, jax.random.split(key, num_steps))
