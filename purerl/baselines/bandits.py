"""Classical Bernoulli-bandit baselines as ``purerl.common.evaluate.Policy`` objects.

Source: Duan et al. 2016, "RL^2" (arXiv 1611.02779), section 3.1, which defines the baseline
columns of its Table 1:

* Random: a uniformly random arm every pull.
* Gittins index: see ``purerl.baselines.gittins`` (discount tuned per setting).
* UCB1 (Auer et al. 2002): ``ucb_i(t) = mu_i + c * sqrt(2 log t / T_i)``, "c a tunable
  hyperparameter"; "we initialize the statistics with exactly one success and one failure,
  which corresponds to a Beta(1, 1) prior".
* Thompson sampling: one posterior sample per arm, the true prior Beta(1, 1).
* eps-greedy: best empirical mean with probability ``1 - eps``, else a uniform arm; "the
  same initialization as UCB1". Greedy: ``eps = 0``.
* "For each method with hyperparameters, we maximize the score with a separate grid search
  for each of the experimental settings" (``benchmarks/meta_rl_baselines.py`` does this on
  tuning tasks disjoint from the held-out ones).

Every policy keeps ``BanditStats`` in its hidden state, rebuilt from the previous action and
reward in the trial observation; the statistics are zeroed where ``reset`` is True (trial
start, where the observation's previous-action part is all zeros).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from purerl.baselines.common import (
    argmax_random_ties,
    epsilon_mix,
    gamma_draws,
    reset_where,
    split_trial_obs,
)
from purerl.common.evaluate import Policy, random_policy
from purerl.config import require, require_unit_interval

INNER_OBS_SIZE = 1
"""``BernoulliBandit``'s observation is the constant ``[1.0]``."""


class BanditStats(NamedTuple):
    """Sufficient statistics of a Bernoulli bandit trial so far (no prior pseudo-counts).

    Attributes:
        successes: ``[N, k]`` float32, rewards of 1 per arm.
        pulls: ``[N, k]`` float32, pulls per arm.
    """

    successes: jax.Array
    pulls: jax.Array


def _check_common(num_arms: int, prior: tuple[float, float]) -> None:
    require(isinstance(num_arms, int) and num_arms >= 2, "num_arms", "an integer >= 2",
            num_arms)
    require(len(prior) == 2 and prior[0] >= 0 and prior[1] >= 0, "prior",
            "two pseudo-counts (successes, failures) >= 0", prior)


def _bandit_policy(
    num_arms: int, choose: Callable[[BanditStats, jax.Array], jax.Array]
) -> Policy:
    """A ``Policy`` that updates ``BanditStats`` from the observation, then
    ``choose(stats, key) -> action [N] int32``."""

    def initial_hidden(n: int) -> BanditStats:
        zeros = jnp.zeros((n, num_arms), jnp.float32)
        return BanditStats(successes=zeros, pulls=zeros)

    def act(hidden: BanditStats, obs: jax.Array, reset: jax.Array, key: jax.Array):
        hidden = reset_where(reset, hidden, initial_hidden(obs.shape[0]))
        parts = split_trial_obs(obs, INNER_OBS_SIZE, num_arms)
        stats = BanditStats(
            successes=hidden.successes + parts.prev_action * parts.prev_reward[:, None],
            pulls=hidden.pulls + parts.prev_action,
        )
        return stats, choose(stats, key)

    return Policy(initial_hidden, act)


def posterior_mean(stats: BanditStats, prior: tuple[float, float]) -> jax.Array:
    """``[N, k]`` mean with pseudo-counts, ``(s + a0) / (n + a0 + b0)``; ``+inf`` for an arm
    with no pulls and no pseudo-counts (so it is tried first)."""
    a0, b0 = prior
    total = stats.pulls + a0 + b0
    return jnp.where(total > 0, (stats.successes + a0) / jnp.maximum(total, 1e-12), jnp.inf)


def random(num_arms: int) -> Policy:
    """Uniformly random arm (``purerl.common.evaluate.random_policy``)."""
    _check_common(num_arms, (0.0, 0.0))
    return random_policy(num_arms)


def epsilon_greedy(num_arms: int, epsilon: float, prior: tuple[float, float] = (1.0, 1.0)
                   ) -> Policy:
    """Best empirical mean with probability ``1 - epsilon``, else a uniform arm.

    Args:
        num_arms: ``k``.
        epsilon: exploration probability per pull, in ``[0, 1]``; the RL^2 paper tuned it
            per setting by grid search (the benchmark does too; its choice is in the results).
            A ``[]`` float32 ``jax.Array`` is accepted unchecked, so one compiled program
            serves a whole grid search.
        prior: pseudo-counts ``(successes, failures)`` added to every arm; ``(1, 1)`` is the
            paper's "one success and one failure". ``(0, 0)`` tries every arm once first.

    Returns:
        A ``Policy`` with ``BanditStats`` hidden state; ties broken uniformly at random.

    Raises:
        ValueError: for ``num_arms < 2``, ``epsilon`` outside ``[0, 1]`` or a negative prior.
    """
    _check_common(num_arms, prior)
    if not isinstance(epsilon, jax.Array):  # a traced grid value is the caller's to check
        require_unit_interval("epsilon", epsilon)

    def choose(stats, key):
        key_tie, key_eps = jax.random.split(key)
        best = argmax_random_ties(key_tie, posterior_mean(stats, prior))
        return epsilon_mix(key_eps, best, num_arms, epsilon)

    return _bandit_policy(num_arms, choose)


def greedy(num_arms: int, prior: tuple[float, float] = (1.0, 1.0)) -> Policy:
    """``epsilon_greedy`` with ``epsilon = 0`` (RL^2 paper's Greedy)."""
    return epsilon_greedy(num_arms, 0.0, prior)


def ucb1(num_arms: int, c: float = 1.0, prior: tuple[float, float] = (0.0, 0.0)) -> Policy:
    """UCB1: the arm maximising ``mu_i + c * sqrt(2 ln t / T_i)``.

    With ``prior = (0, 0)`` and ``c = 1`` this is Auer, Cesa-Bianchi & Fischer 2002, Fig. 1:
    every arm is pulled once first (an unpulled arm scores ``+inf``), then
    ``mu_i = s_i / T_i`` and ``t`` = pulls made so far. With pseudo-counts ``(a0, b0)``
    (RL^2 paper: ``(1, 1)``, c tuned) ``T_i = pulls_i + a0 + b0``,
    ``mu_i = (s_i + a0) / T_i`` and ``t = sum_i T_i``.

    Args:
        num_arms: ``k``.
        c: exploration scale, ``>= 0`` (a ``[]`` ``jax.Array`` is accepted unchecked).
        prior: pseudo-counts (successes, failures) per arm.

    Returns:
        A ``Policy``; ties broken uniformly at random.

    Raises:
        ValueError: for ``num_arms < 2``, ``c < 0`` or a negative prior.
    """
    _check_common(num_arms, prior)
    if not isinstance(c, jax.Array):  # a traced grid value is the caller's to check
        require(c >= 0, "c", "a number >= 0", c)
    a0, b0 = prior

    def choose(stats, key):
        total = stats.pulls + a0 + b0  # [N, k]
        t = jnp.sum(total, axis=-1, keepdims=True)
        bonus = c * jnp.sqrt(2.0 * jnp.log(jnp.maximum(t, 1.0)) / jnp.maximum(total, 1e-12))
        mean = (stats.successes + a0) / jnp.maximum(total, 1e-12)
        score = jnp.where(total > 0, mean + bonus, jnp.inf)
        return argmax_random_ties(key, score)

    return _bandit_policy(num_arms, choose)


def thompson_sampling(num_arms: int, prior: tuple[float, float] = (1.0, 1.0)) -> Policy:
    """Thompson sampling: ``theta_i ~ Beta(a0 + s_i, b0 + f_i)``, pull ``argmax theta``.

    Source: Thompson 1933; Chapelle & Li 2011. The RL^2 paper gives TS the true prior of the
    task distribution, Beta(1, 1) (``p_i ~ Uniform[0, 1]``).

    Args:
        num_arms: ``k``.
        prior: ``(a0, b0)`` of the Beta prior, both ``> 0``.

    Returns:
        A ``Policy`` with ``BanditStats`` hidden state.

    Raises:
        ValueError: for ``num_arms < 2`` or a prior that is not positive.
    """
    _check_common(num_arms, prior)
    require(prior[0] > 0 and prior[1] > 0, "prior", "Beta parameters > 0", prior)
    a0, b0 = prior

    def choose(stats, key):
        key_sample, key_tie = jax.random.split(key)
        alpha = stats.successes + a0
        beta = stats.pulls - stats.successes + b0
        if a0 >= 1 and b0 >= 1:  # Beta = G_a / (G_a + G_b); the fast sampler needs shape >= 1
            draws = gamma_draws(key_sample, jnp.stack([alpha, beta]))
            theta = draws[0] / jnp.maximum(draws[0] + draws[1], 1e-30)
        else:
            theta = jax.random.beta(key_sample, alpha, beta)
        return argmax_random_ties(key_tie, theta)

    return _bandit_policy(num_arms, choose)


def gittins(num_arms: int, index_table: np.ndarray | jax.Array) -> Policy:
    """Pull the arm with the largest Gittins index (Gittins 1979), from a precomputed table.

    Args:
        num_arms: ``k``.
        index_table: ``[M + 1, M + 1]`` ``table[s, f]`` from
            ``purerl.baselines.gittins.gittins_index_table`` (prior Beta(1, 1) there); ``M``
            must be at least ``n - 1`` for an ``n``-pull trial (beyond it indices are
            clamped to the table's edge). May be a traced array (one compile for several
            discounts).

    Returns:
        A ``Policy``; ties (e.g. all arms unpulled) broken uniformly at random.

    Raises:
        ValueError: for ``num_arms < 2`` or a table that is not square 2-D.
    """
    _check_common(num_arms, (0.0, 0.0))
    shape = np.shape(index_table)
    require(len(shape) == 2 and shape[0] == shape[1], "index_table",
            "a square [M + 1, M + 1] array", shape)
    table = jnp.asarray(index_table, jnp.float32)
    last = shape[0] - 1

    def choose(stats, key):
        s = stats.successes.astype(jnp.int32)
        f = (stats.pulls - stats.successes).astype(jnp.int32)
        # Keep s + f <= M (the table's valid triangle) if a caller under-sized it.
        s = jnp.minimum(s, last)
        f = jnp.minimum(f, last - s)
        return argmax_random_ties(key, table[s, f])

    return _bandit_policy(num_arms, choose)
