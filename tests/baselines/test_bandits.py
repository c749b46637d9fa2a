"""Bandit baselines against hand-checked small cases (obs layout of envs_jax.meta)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.baselines import bandits
from purerl.baselines.bandits import BanditStats
from purerl.baselines.common import argmax_random_ties


def obs_after(prev_action, reward, k):
    """Trial observations ``[N, 1 + k + 2]`` after pulling ``prev_action`` ``[N]`` (-1: none)."""
    prev_action = jnp.asarray(prev_action)
    n = prev_action.shape[0]
    return jnp.concatenate([
        jnp.ones((n, 1)),
        jax.nn.one_hot(prev_action, k),
        jnp.asarray(reward, jnp.float32).reshape(n, 1),
        (prev_action >= 0).astype(jnp.float32).reshape(n, 1),
    ], axis=1)


def stats(successes, pulls):
    return BanditStats(jnp.asarray([successes], jnp.float32), jnp.asarray([pulls], jnp.float32))


def act_from(policy, hidden, k, key=0):
    """One decision from given statistics: an obs that adds nothing (no previous action)."""
    return policy.act(hidden, obs_after([-1], [0.0], k), jnp.zeros(1, bool),
                      jax.random.PRNGKey(key))


def test_statistics_follow_the_observations_and_reset_at_trial_start():
    k = 3
    policy = bandits.thompson_sampling(k)
    hidden = policy.initial_hidden(2)
    # Trial start (reset): the observation has no previous action.
    hidden, _ = policy.act(hidden, obs_after([-1, -1], [0, 0], k), jnp.ones(2, bool),
                           jax.random.PRNGKey(0))
    history = [([0, 2], [1, 0]), ([0, 2], [0, 1]), ([1, 2], [1, 1])]
    for t, (a, r) in enumerate(history):
        hidden, _ = policy.act(hidden, obs_after(a, r, k), jnp.zeros(2, bool),
                               jax.random.PRNGKey(t + 1))
    # Env 0 pulled arm 0 (1, 0) and arm 1 (1); env 1 pulled arm 2 three times (0, 1, 1).
    np.testing.assert_array_equal(hidden.pulls, [[2, 1, 0], [0, 0, 3]])
    np.testing.assert_array_equal(hidden.successes, [[1, 1, 0], [0, 0, 2]])
    # A new trial (reset) forgets everything, only in the env that resets.
    hidden, _ = policy.act(hidden, obs_after([-1, 0], [0, 1], k), jnp.asarray([True, False]),
                           jax.random.PRNGKey(9))
    np.testing.assert_array_equal(hidden.pulls, [[0, 0, 0], [1, 0, 3]])


def test_ucb1_pulls_every_arm_once_first_then_the_hand_computed_argmax():
    k = 4
    policy = bandits.ucb1(k)  # Auer et al. 2002: c = 1, no pseudo-counts
    for seed in range(5):
        hidden = policy.initial_hidden(1)
        obs, reset, pulled = obs_after([-1], [0.0], k), jnp.ones(1, bool), []
        for t in range(k):
            hidden, a = policy.act(hidden, obs, reset, jax.random.PRNGKey(100 * seed + t))
            pulled.append(int(a[0]))
            obs, reset = obs_after(a, [1.0], k), jnp.zeros(1, bool)
        assert sorted(pulled) == list(range(k))
    # Hand-made history: pulls T = [6, 1, 2, 3], successes [5, 0, 1, 2], t = 12.
    # scores: 5/6 + sqrt(2 ln 12 / 6) = 0.8333 + 0.9107 = 1.7440
    #         0/1 + sqrt(2 ln 12 / 1) = 0.0000 + 2.2293 = 2.2293   <- max
    #         1/2 + sqrt(2 ln 12 / 2) = 0.5000 + 1.5764 = 2.0764
    #         2/3 + sqrt(2 ln 12 / 3) = 0.6667 + 1.2871 = 1.9538
    expected = [5 / 6 + math.sqrt(2 * math.log(12) / 6), math.sqrt(2 * math.log(12)),
                0.5 + math.sqrt(math.log(12)), 2 / 3 + math.sqrt(2 * math.log(12) / 3)]
    assert int(np.argmax(expected)) == 1
    _, a = act_from(policy, stats([5, 0, 1, 2], [6, 1, 2, 3]), k)
    assert int(a[0]) == 1
    # With c = 0.1 the bonus no longer outweighs the means: arm 0 (5/6 + 0.09).
    _, a = act_from(bandits.ucb1(k, c=0.1), stats([5, 0, 1, 2], [6, 1, 2, 3]), k)
    assert int(a[0]) == 0


def test_ucb1_with_the_papers_pseudo_counts():
    # RL^2 paper: one success and one failure per arm. T = pulls + 2, mean = (s + 1) / T,
    # t = sum T = 12 + 8 = 20. Arm 1 (pulls 1, s 0): 1/3 + c sqrt(2 ln 20 / 3);
    # arm 0 (pulls 6, s 5): 6/8 + c sqrt(2 ln 20 / 8).
    k = 4
    hist = stats([5, 0, 1, 2], [6, 1, 2, 3])
    score = lambda s, n, c: (s + 1) / (n + 2) + c * math.sqrt(2 * math.log(20) / (n + 2))
    for c in (0.1, 1.0):
        expected = int(np.argmax([score(s, n, c) for s, n in [(5, 6), (0, 1), (1, 2), (2, 3)]]))
        _, a = act_from(bandits.ucb1(k, c=c, prior=(1.0, 1.0)), hist, k)
        assert int(a[0]) == expected
    assert [int(act_from(bandits.ucb1(k, c=c, prior=(1.0, 1.0)), hist, k)[1][0])
            for c in (0.1, 1.0)] == [0, 1]


def test_greedy_picks_the_best_empirical_mean():
    k = 3
    # Paper's initialisation (1 success + 1 failure): means 6/8, 1/3, 2/4 -> arm 0.
    _, a = act_from(bandits.greedy(k), stats([5, 0, 1], [6, 1, 2]), k)
    assert int(a[0]) == 0
    # The pseudo-counts matter: (1 + 1)/(1 + 2) = 0.667 beats (3 + 1)/(5 + 2) = 0.571 ...
    _, a = act_from(bandits.greedy(k), stats([1, 3, 0], [1, 5, 0]), k)
    assert int(a[0]) == 0
    # ... and an unpulled arm (prior mean 0.5) beats one with 0 of 1 (1/3).
    _, a = act_from(bandits.greedy(k), stats([0, 0, 0], [1, 1, 0]), k)
    assert int(a[0]) == 2
    # Without pseudo-counts an unpulled arm is tried first.
    _, a = act_from(bandits.greedy(k, prior=(0.0, 0.0)), stats([1, 3, 0], [1, 5, 0]), k)
    assert int(a[0]) == 2


def test_epsilon_greedy_explores_with_probability_epsilon():
    k, n = 4, 20000
    policy = bandits.epsilon_greedy(k, 0.2)
    hidden = BanditStats(jnp.tile(jnp.asarray([[3.0, 0, 0, 0]]), (n, 1)),
                         jnp.tile(jnp.asarray([[3.0, 1, 1, 1]]), (n, 1)))
    _, a = policy.act(hidden, obs_after(-jnp.ones(n, int), jnp.zeros(n), k),
                      jnp.zeros(n, bool), jax.random.PRNGKey(0))
    # P(arm 0) = 1 - eps + eps / k = 0.85; binomial std over 20000 draws = 0.0025.
    assert abs(float(jnp.mean(a == 0)) - 0.85) < 0.01


def test_ties_are_broken_uniformly_at_random():
    scores = jnp.tile(jnp.asarray([[0.3, 0.7, 0.7, 0.1, 0.7]]), (30000, 1))
    a = argmax_random_ties(jax.random.PRNGKey(0), scores)
    counts = np.bincount(np.asarray(a), minlength=5) / 30000
    np.testing.assert_allclose(counts, [0, 1 / 3, 1 / 3, 0, 1 / 3], atol=0.015)
    inf = jnp.tile(jnp.asarray([[jnp.inf, 1.0, jnp.inf]]), (30000, 1))
    counts = np.bincount(np.asarray(argmax_random_ties(jax.random.PRNGKey(1), inf)),
                         minlength=3) / 30000
    np.testing.assert_allclose(counts, [0.5, 0, 0.5], atol=0.015)


def test_thompson_sampling_draws_from_the_beta_posterior():
    # Arm 0: 1 success in 1 pull -> Beta(2, 1); arm 1 unpulled -> Beta(1, 1).
    # P(X > Y), X ~ Beta(2, 1) (density 2x), Y ~ U(0, 1): int_0^1 2x * x dx = 2/3.
    n = 20000
    hidden = BanditStats(jnp.tile(jnp.asarray([[1.0, 0.0]]), (n, 1)),
                         jnp.tile(jnp.asarray([[1.0, 0.0]]), (n, 1)))
    _, a = bandits.thompson_sampling(2).act(hidden, obs_after(-jnp.ones(n, int), jnp.zeros(n), 2),
                                            jnp.zeros(n, bool), jax.random.PRNGKey(3))
    assert abs(float(jnp.mean(a == 0)) - 2 / 3) < 0.012  # 3.6 binomial std


def test_gittins_policy_pulls_the_largest_index():
    table = np.full((4, 4), np.nan, np.float32)
    table[0, 0], table[1, 0], table[0, 1], table[1, 1] = 0.70, 0.80, 0.50, 0.63
    # Arms in states (s, f) = (1, 1), (0, 1), (1, 0): indices 0.63, 0.50, 0.80 -> arm 2.
    _, a = act_from(bandits.gittins(3, table), stats([1, 0, 1], [2, 1, 1]), 3)
    assert int(a[0]) == 2


@pytest.mark.parametrize("make, match", [
    (lambda: bandits.ucb1(1), "num_arms"),
    (lambda: bandits.ucb1(3, c=-1.0), "c: expected"),
    (lambda: bandits.epsilon_greedy(3, 1.5), "epsilon: expected"),
    (lambda: bandits.greedy(3, prior=(-1.0, 1.0)), "prior: expected"),
    (lambda: bandits.thompson_sampling(3, prior=(0.0, 1.0)), "prior: expected"),
    (lambda: bandits.gittins(3, np.zeros((3, 4))), "index_table: expected"),
])
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()
