"""Score policies on a fixed, held-out set of meta-RL tasks.

Every number we report has a floor and a ceiling beside it: the same evaluation code scores
the trained agent, the uniform-random policy and (analytically) the task-aware optimum, on
the SAME tasks, drawn once from a fixed key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import distrax
import jax
import jax.numpy as jnp

# The one Policy protocol and episode evaluator live in the bottom layer; re-exported here.
from envs_jax.policy import EpisodeStats, Policy, evaluate_episodes  # noqa: F401
from purerl.common import distributions
from purerl.common import running_stats as rs

HELDOUT_TASK_SEED = 1611_02779  # RL^2's arXiv number: a fixed, documented key
"""Key of the held-out evaluation tasks; never used for training."""


def network_policy(net, params, greedy: bool = False,
                   make_dist: Callable[[Any], distrax.Distribution] = distributions.categorical,
                   obs_stats: Any = None) -> Policy:
    """A ``Policy`` of an actor-critic of ``purerl.common.networks``.

    Args:
        net, params: the network and its parameters (recurrent or feed-forward).
        greedy: act with the distribution's mode (arg-max logit, Gaussian mean) instead of
            sampling.
        make_dist: ``policy_out -> distribution`` (``purerl.algos.ppo.action_distribution``
            of the action space; default categorical logits).
        obs_stats: ``running_stats.RunningStats`` the net was trained with
            (``normalize_obs``), or None.
    """

    def act(hidden, obs, reset, key):
        if obs_stats is not None:
            obs = rs.normalize(obs_stats, obs)
        hidden, out, _ = net.apply(params, hidden, obs[None], reset[None])
        dist = make_dist(jax.tree.map(lambda x: x[0], out))
        return hidden, dist.mode() if greedy else dist.sample(seed=key)

    return Policy(net.initial_hidden, act)


def random_policy(num_actions: int) -> Policy:
    """Uniform-random actions: the floor of every table."""

    def act(hidden, obs, reset, key):
        return hidden, jax.random.randint(key, obs.shape[:1], 0, num_actions)

    return Policy(lambda n: jnp.zeros((n, 1), jnp.float32), act)


def heldout_tasks(base_env, num_tasks: int, seed: int = HELDOUT_TASK_SEED) -> Any:
    """Draw ``num_tasks`` tasks with a fixed key: a batched task pytree ``[M, ...]``."""
    keys = jax.random.split(jax.random.PRNGKey(seed), num_tasks)
    return jax.vmap(base_env.sample_task)(keys)


def evaluate_trials(trial_env, policy: Policy, tasks: Any, key: jax.Array) -> jax.Array:
    """Total reward of ONE trial of ``policy`` on each task.

    Args:
        trial_env: an ``envs_jax.meta.TrialWrapper`` (no auto-reset: exactly one trial).
        policy: the policy to score.
        tasks: batched task pytree ``[M, ...]`` (from ``heldout_tasks``).
        key: PRNG key for the env's and the policy's sampling.

    Returns:
        ``[M]`` float32, total reward per trial (the RL^2 tables' metric).
    """
    params = trial_env.params_for_tasks(tasks)
    num_tasks = jax.tree.leaves(tasks)[0].shape[0]
    key_reset, key_run = jax.random.split(key)
    obs, state = jax.vmap(trial_env.reset)(jax.random.split(key_reset, num_tasks), params)
    step = jax.vmap(trial_env.step)

    def one_step(carry, key_t):
        obs, state, hidden, reset, total = carry
        key_act, key_step = jax.random.split(key_t)
        hidden, action = policy.act(hidden, obs, reset, key_act)
        ts = step(jax.random.split(key_step, num_tasks), state, action, params)
        return (ts.obs, ts.state, hidden, jnp.zeros_like(reset), total + ts.reward), None

    carry = (obs, state, policy.initial_hidden(num_tasks), jnp.ones((num_tasks,), bool),
             jnp.zeros((num_tasks,), jnp.float32))
    carry, _ = jax.lax.scan(one_step, carry, jax.random.split(key_run, trial_env.trial_length))
    return carry[-1]


def optimal_returns(trial_env, tasks: Any) -> jax.Array:
    """``[M]`` expected total reward of the task-aware optimum (bandit: n * max p_i; MDP:
    n * finite-horizon value-iteration value of the start state)."""
    return jax.vmap(trial_env.optimal_return)(tasks)
