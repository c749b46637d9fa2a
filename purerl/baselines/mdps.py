"""Classical tabular-MDP baselines as ``purerl.common.evaluate.Policy`` objects.

Source: Duan et al. 2016, "RL^2" (arXiv 1611.02779), section 3.2, baseline columns of
Table 2 on random MDPs (|S| = 10, |A| = 5, horizon 10, start state 0,
``P(.|s, a) ~ Dirichlet(1)``, ``mu(s, a) ~ Normal(1, 1)``, reward ``~ Normal(mu, 1)``):

* Random: a uniform action every step.
* PSRL (Strens 2000; Osband, Russo & Van Roy 2013): "at the beginning of each episode, we
  sample an MDP from the posterior distribution, and take actions according to the optimal
  policy for the entire episode".
* eps-greedy: "actions optimal against the MAP estimate according to the current posterior,
  which is updated once per episode", a uniform action with probability eps. Greedy: eps = 0.
  The paper does not say what that estimate is for an untried ``(s, a)``. With the task
  distribution's prior (``reward_estimate="posterior"``, our default) an untried action is
  worth the prior mean 1 and greedy explores; with the sample mean of the observed rewards,
  0 where none was observed (``reward_estimate="empirical"``), it explores less. Measured on
  our 1000 held-out n=10 tasks: 149.5 vs 135.8, and the paper's Greedy is 134.8, so its
  numbers read as the empirical estimate (``benchmarks/results/meta_rl_baselines.md``).
* The value-iteration optimum that knows the task: ``value_iteration_oracle`` (its expected
  score is ``purerl.common.evaluate.optimal_returns``).

The posterior is the conjugate one of the task distribution: ``Dirichlet(1 + n(s, a, .))``
for each transition row and, with the known noise variance 1 and prior ``Normal(1, 1)``,
``mu(s, a) | data ~ Normal((1 + sum r) / (1 + n), 1 / (1 + n))``.

What the policy can count is what the agent sees. The trial observation at step t carries the
current state (one-hot), the previous action and reward, and whether the previous step ended
an episode; the state in which the previous action was taken is remembered in ``hidden``.
After the last step of an episode the observation already shows the NEXT episode's start
state, so that final transition ``(s, a) -> s'`` is never observed: its reward is counted,
its next state is not (the RL^2 agent has the same information).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from envs_jax.tabular.random_mdp import MDPParams, value_iteration
from purerl.baselines.common import (
    argmax_random_ties,
    epsilon_mix,
    gamma_draws,
    reset_where,
    split_trial_obs,
)
from purerl.common.evaluate import Policy, random_policy
from purerl.config import require, require_unit_interval

PRIOR_REWARD_MEAN = 1.0
"""Mean of the Normal prior on ``mu(s, a)`` (task distribution: ``Normal(1, 1)``)."""
PRIOR_REWARD_VAR = 1.0
"""Variance of the Normal prior on ``mu(s, a)``."""
REWARD_NOISE_VAR = 1.0
"""Known variance of an observed reward around ``mu(s, a)``."""
TRANSITION_PRIOR = 1.0
"""Concentration of the flat Dirichlet prior on each transition row."""


class MDPStats(NamedTuple):
    """Sufficient statistics and the current episode's plan.

    Attributes:
        transition_counts: ``[N, S, A, S]`` float32, observed transitions.
        reward_sum: ``[N, S, A]`` float32, sum of observed rewards.
        visits: ``[N, S, A]`` float32, observed rewards (= times ``a`` taken in ``s``).
        prev_state: ``[N]`` int32, the state in which the previous action was taken.
        step: ``[N]`` int32, step index inside the current episode (0 = first step).
        q: ``[N, H, S, A]`` float32, the plan of the current episode (``q[t, s, a]``).
    """

    transition_counts: jax.Array
    reward_sum: jax.Array
    visits: jax.Array
    prev_state: jax.Array
    step: jax.Array
    q: jax.Array


PlanFn = Callable[[MDPStats, jax.Array], jax.Array]
"""``plan(stats, key) -> q [N, H, S, A]``, called at every episode start."""


def reward_posterior(stats: MDPStats) -> tuple[jax.Array, jax.Array]:
    """Normal posterior of ``mu(s, a)`` (conjugate update, known noise variance).

    Returns:
        ``(mean, var)``, each ``[N, S, A]`` float32:
        ``var = 1 / (1 / prior_var + n / noise_var)``,
        ``mean = var * (prior_mean / prior_var + sum_r / noise_var)``.
    """
    precision = 1.0 / PRIOR_REWARD_VAR + stats.visits / REWARD_NOISE_VAR
    var = 1.0 / precision
    mean = var * (PRIOR_REWARD_MEAN / PRIOR_REWARD_VAR + stats.reward_sum / REWARD_NOISE_VAR)
    return mean, var


def empirical_reward_mean(stats: MDPStats) -> jax.Array:
    """``[N, S, A]`` sample mean of the observed rewards, ``sum_r / n``; 0 where ``n = 0``
    (what an estimate initialised at zero gives: untried actions look worse than an average
    one, mean 1, so greedy on it explores less than on ``reward_posterior``)."""
    return stats.reward_sum / jnp.maximum(stats.visits, 1.0)


REWARD_ESTIMATES = ("posterior", "empirical")
"""``reward_estimate`` values of ``epsilon_greedy``: ``reward_posterior``'s mean, or
``empirical_reward_mean``."""


def map_transitions(stats: MDPStats) -> jax.Array:
    """``[N, S, A, S]`` MAP rows of ``Dirichlet(1 + counts)``: ``counts / sum(counts)``; an
    unvisited row (the flat prior has no unique mode) gets its mean, the uniform row."""
    counts = stats.transition_counts
    total = counts.sum(axis=-1, keepdims=True)
    uniform = jnp.full_like(counts, 1.0 / counts.shape[-1])
    return jnp.where(total > 0, counts / jnp.maximum(total, 1.0), uniform)


def sample_transitions(key: jax.Array, stats: MDPStats) -> jax.Array:
    """``[N, S, A, S]`` one draw of every row from ``Dirichlet(1 + counts)``: independent
    ``Gamma(1 + counts)`` draws normalised per row."""
    gammas = gamma_draws(key, TRANSITION_PRIOR + stats.transition_counts)
    return gammas / jnp.maximum(gammas.sum(axis=-1, keepdims=True), 1e-30)


def _plan(transition: jax.Array, reward_mean: jax.Array, horizon: int) -> jax.Array:
    """Finite-horizon value iteration per env: ``[N, S, A, S]``, ``[N, S, A]`` -> ``q``
    ``[N, H, S, A]`` (``envs_jax.tabular.random_mdp.value_iteration``)."""
    def one(p, r):
        return value_iteration(MDPParams(transition=p, reward_mean=r), horizon)[1]

    return jax.vmap(one)(transition, reward_mean)


def _mdp_policy(num_states: int, num_actions: int, horizon: int, plan: PlanFn,
                epsilon: float | jax.Array = 0.0) -> Policy:
    """A ``Policy`` that updates ``MDPStats``, replans at each episode start with ``plan``
    and acts ``argmax_a q[step, s, a]`` (ties at random), a uniform action w.p. ``epsilon``."""
    s_, a_, h_ = num_states, num_actions, horizon

    def initial_hidden(n: int) -> MDPStats:
        return MDPStats(
            transition_counts=jnp.zeros((n, s_, a_, s_), jnp.float32),
            reward_sum=jnp.zeros((n, s_, a_), jnp.float32),
            visits=jnp.zeros((n, s_, a_), jnp.float32),
            prev_state=jnp.zeros((n,), jnp.int32),
            step=jnp.zeros((n,), jnp.int32),
            q=jnp.zeros((n, h_, s_, a_), jnp.float32),
        )

    def act(hidden: MDPStats, obs: jax.Array, reset: jax.Array, key: jax.Array):
        hidden = reset_where(reset, hidden, initial_hidden(obs.shape[0]))
        parts = split_trial_obs(obs, s_, a_)
        state = jnp.argmax(parts.inner, axis=-1).astype(jnp.int32)  # [N]
        # (prev_state, prev_action) mask [N, S, A]; all zeros at trial start (no action yet).
        taken = jax.nn.one_hot(hidden.prev_state, s_)[:, :, None] * parts.prev_action[:, None]
        # The next state of an episode's last transition is not observed (see module doc).
        seen_next = (1.0 - parts.prev_done.astype(jnp.float32))[:, None, None, None]
        next_state = jax.nn.one_hot(state, s_)[:, None, None, :]
        step = jnp.where(reset | parts.prev_done, 0, hidden.step + 1)
        stats = MDPStats(
            transition_counts=hidden.transition_counts + taken[..., None] * next_state * seen_next,
            reward_sum=hidden.reward_sum + taken * parts.prev_reward[:, None, None],
            visits=hidden.visits + taken,
            prev_state=state,
            step=step,
            q=hidden.q,
        )
        key_plan, key_tie, key_eps = jax.random.split(key, 3)
        new_episode = step == 0
        # Episodes have a fixed length, so every env starts one at the same step: planning
        # only then (cond) saves the posterior sampling on 9 of 10 steps.
        q = jax.lax.cond(
            jnp.any(new_episode),
            lambda: jnp.where(new_episode[:, None, None, None], plan(stats, key_plan), stats.q),
            lambda: stats.q,
        )
        stats = stats._replace(q=q)
        rows = jnp.arange(obs.shape[0])
        q_now = q[rows, jnp.minimum(step, h_ - 1), state]  # [N, A]
        action = epsilon_mix(key_eps, argmax_random_ties(key_tie, q_now), a_, epsilon)
        return stats, action

    return Policy(initial_hidden, act)


def _check_sizes(num_states: int, num_actions: int, horizon: int) -> None:
    for name, value in (("num_states", num_states), ("num_actions", num_actions),
                        ("horizon", horizon)):
        require(isinstance(value, int) and value >= 1, name, "an integer >= 1", value)


def random(num_actions: int) -> Policy:
    """Uniformly random action every step (``purerl.common.evaluate.random_policy``)."""
    require(isinstance(num_actions, int) and num_actions >= 1, "num_actions",
            "an integer >= 1", num_actions)
    return random_policy(num_actions)


def psrl(num_states: int = 10, num_actions: int = 5, horizon: int = 10) -> Policy:
    """Posterior sampling RL: at each episode start draw an MDP from the posterior
    (``sample_transitions``, ``reward_posterior``), then follow its finite-horizon
    value-iteration policy for the whole episode.

    Args:
        num_states: ``S``; the inner observation is the one-hot state ``[S]``.
        num_actions: ``A``.
        horizon: episode length ``H`` (steps).

    Returns:
        A ``Policy`` with ``MDPStats`` hidden state.

    Raises:
        ValueError: if a size is not an integer ``>= 1``.
    """
    _check_sizes(num_states, num_actions, horizon)

    def plan(stats, key):
        key_p, key_r = jax.random.split(key)
        mean, var = reward_posterior(stats)
        reward = mean + jnp.sqrt(var) * jax.random.normal(key_r, mean.shape)
        return _plan(sample_transitions(key_p, stats), reward, horizon)

    return _mdp_policy(num_states, num_actions, horizon, plan)


def epsilon_greedy(epsilon: float | jax.Array, num_states: int = 10, num_actions: int = 5,
                   horizon: int = 10, reward_estimate: str = "posterior") -> Policy:
    """Optimal against the MAP model (``map_transitions``, and the posterior mean reward or
    the empirical mean, see ``reward_estimate``), replanned at each episode start; a uniform
    action with probability ``epsilon`` per step.

    Args:
        epsilon: in ``[0, 1]``; the RL^2 paper tuned it per setting by grid search. A ``[]``
            ``jax.Array`` is accepted unchecked (one compile for a grid search).
        num_states: ``S``.
        num_actions: ``A``.
        horizon: episode length ``H``.
        reward_estimate: ``"posterior"`` (``reward_posterior``'s mean: the prior mean 1 for
            an untried pair) or ``"empirical"`` (``empirical_reward_mean``: 0 there; the
            reading of the paper's Greedy that reproduces its Table 2 numbers).

    Returns:
        A ``Policy`` with ``MDPStats`` hidden state.

    Raises:
        ValueError: if a size is not an integer ``>= 1``, ``epsilon`` is outside [0, 1] or
            ``reward_estimate`` is not one of ``REWARD_ESTIMATES``.
    """
    _check_sizes(num_states, num_actions, horizon)
    if not isinstance(epsilon, jax.Array):
        require_unit_interval("epsilon", epsilon)
    require(reward_estimate in REWARD_ESTIMATES, "reward_estimate",
            " or ".join(repr(r) for r in REWARD_ESTIMATES), reward_estimate)
    estimate = (empirical_reward_mean if reward_estimate == "empirical"
                else lambda stats: reward_posterior(stats)[0])

    def plan(stats, key):
        del key
        return _plan(map_transitions(stats), estimate(stats), horizon)

    return _mdp_policy(num_states, num_actions, horizon, plan, epsilon)


def greedy(num_states: int = 10, num_actions: int = 5, horizon: int = 10,
           reward_estimate: str = "posterior") -> Policy:
    """``epsilon_greedy`` with ``epsilon = 0`` (RL^2 paper's Greedy)."""
    return epsilon_greedy(0.0, num_states, num_actions, horizon, reward_estimate)


def value_iteration_oracle(tasks: MDPParams, horizon: int = 10) -> Policy:
    """The optimum that KNOWS each task: acts ``argmax_a Q*[step, s, a]`` of the true MDP.

    Its expected score is ``purerl.common.evaluate.optimal_returns`` (the normaliser of SNAIL
    Table 4); this policy lets the same sampled evaluation check that number.

    Args:
        tasks: batched ``MDPParams`` ``[N, ...]``, in the order the evaluator uses.
        horizon: episode length ``H``.

    Returns:
        A ``Policy`` for exactly ``N`` envs.

    Raises:
        ValueError: if ``horizon < 1``.
    """
    num_states, num_actions = tasks.reward_mean.shape[-2:]
    _check_sizes(int(num_states), int(num_actions), horizon)
    q_true = _plan(tasks.transition, tasks.reward_mean, horizon)

    def plan(stats, key):
        del stats, key
        return q_true

    return _mdp_policy(int(num_states), int(num_actions), horizon, plan)
