"""Tabular-MDP baselines against hand-checked small cases (obs layout of envs_jax.meta)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.baselines import mdps
from purerl.baselines.common import gamma_draws

S, A, H = 3, 2, 2


def obs(state, prev_action, reward, done, num_states=S, num_actions=A):
    """One env's trial observation ``[1, S + A + 2]``."""
    return jnp.concatenate([
        jax.nn.one_hot(jnp.asarray([state]), num_states),
        jax.nn.one_hot(jnp.asarray([prev_action]), num_actions),
        jnp.asarray([[reward, float(done)]], jnp.float32),
    ], axis=1)


def test_statistics_follow_the_observations():
    policy = mdps.greedy(S, A, H)
    hidden = policy.initial_hidden(1)
    steps = [  # (state now, previous action, previous reward, previous step ended episode)
        (0, -1, 0.0, False),  # trial start in state 0
        (2, 1, 0.5, False),   # (0, a=1) -> 2, reward 0.5
        (0, 0, -1.0, True),   # (2, a=0) ended episode 1: reward seen, next state not
        (1, 1, 2.0, False),   # (0, a=1) -> 1, reward 2.0
    ]
    for t, (s, a, r, d) in enumerate(steps):
        hidden, _ = policy.act(hidden, obs(s, a, r, d), jnp.asarray([t == 0]),
                                    jax.random.PRNGKey(t))
        assert hidden.step[0] == [0, 1, 0, 1][t]
    counts = np.zeros((S, A, S))
    counts[0, 1, 2] = counts[0, 1, 1] = 1
    np.testing.assert_array_equal(hidden.transition_counts[0], counts)
    visits, reward_sum = np.zeros((S, A)), np.zeros((S, A))
    visits[0, 1], visits[2, 0] = 2, 1
    reward_sum[0, 1], reward_sum[2, 0] = 2.5, -1.0
    np.testing.assert_array_equal(hidden.visits[0], visits)
    np.testing.assert_allclose(hidden.reward_sum[0], reward_sum)
    assert int(hidden.prev_state[0]) == 1


def test_reward_posterior_and_map_transitions_by_hand():
    n = jnp.zeros((1, S, A))
    stats = mdps.MDPStats(
        transition_counts=jnp.zeros((1, S, A, S)).at[0, 0, 1].set(jnp.asarray([2.0, 0, 1])),
        reward_sum=n.at[0, 0, 1].set(6.0), visits=n.at[0, 0, 1].set(3.0),
        prev_state=jnp.zeros(1, int), step=jnp.zeros(1, int), q=jnp.zeros((1, H, S, A)))
    mean, var = mdps.reward_posterior(stats)
    # Prior N(1, 1), noise var 1, 3 rewards summing to 6: precision 4, mean (1 + 6) / 4.
    assert float(mean[0, 0, 1]) == pytest.approx(1.75)
    assert float(var[0, 0, 1]) == pytest.approx(0.25)
    assert float(mean[0, 1, 0]) == 1.0 and float(var[0, 1, 0]) == 1.0  # the prior
    p = mdps.map_transitions(stats)
    np.testing.assert_allclose(p[0, 0, 1], [2 / 3, 0, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(p[0, 2, 0], [1 / 3] * 3, rtol=1e-6)  # unvisited: uniform


def test_empirical_reward_mean_by_hand():
    n = jnp.zeros((1, S, A))
    stats = mdps.MDPStats(None, n.at[0, 0, 1].set(6.0).at[0, 2, 0].set(-1.0),
                          n.at[0, 0, 1].set(3.0).at[0, 2, 0].set(2.0), None, None, None)
    mean = np.asarray(mdps.empirical_reward_mean(stats))[0]
    expected = np.zeros((S, A))
    expected[0, 1], expected[2, 0] = 2.0, -0.5  # 6 / 3 and -1 / 2; untried pairs: 0
    np.testing.assert_allclose(mean, expected)


@pytest.mark.parametrize("estimate, expected_action", [("posterior", 0), ("empirical", 1)])
def test_greedy_reward_estimate_decides_whether_an_untried_action_is_tried(
        estimate, expected_action):
    # One state, two actions, horizon 1. Action 1 was taken once for reward 0.5, action 0
    # never. Posterior mean: a1 = (1 + 0.5) / 2 = 0.75 < prior mean 1 of a0, so greedy
    # tries a0; empirical: a1 = 0.5 > 0 of the untried a0, so greedy repeats a1.
    s, a, h = 1, 2, 1
    policy = mdps.greedy(s, a, h, reward_estimate=estimate)
    hidden = policy.initial_hidden(1)
    hidden, _ = policy.act(hidden, obs(0, -1, 0.0, False, s, a), jnp.ones(1, bool),
                           jax.random.PRNGKey(0))
    # The previous step (a1, reward 0.5) ended the 1-step episode: replan, then act.
    _, action = policy.act(hidden, obs(0, 1, 0.5, True, s, a), jnp.zeros(1, bool),
                           jax.random.PRNGKey(1))
    assert int(action[0]) == expected_action


def test_gamma_and_dirichlet_draws_have_the_right_moments():
    alpha = jnp.repeat(jnp.asarray([1.0, 2.5, 7.0]), 40000).reshape(3, 40000)
    g = gamma_draws(jax.random.PRNGKey(0), alpha)
    # Gamma(alpha, 1): mean = var = alpha; std error of the mean sqrt(alpha / 40000).
    np.testing.assert_allclose(g.mean(axis=1), [1.0, 2.5, 7.0], atol=4 * np.sqrt(7 / 40000))
    np.testing.assert_allclose(g.var(axis=1), [1.0, 2.5, 7.0], rtol=0.05)
    counts = jnp.zeros((20000, S, A, S)).at[:, 0, 0].set(jnp.asarray([3.0, 1.0, 0.0]))
    stats = mdps.MDPStats(counts, None, None, None, None, None)
    p = mdps.sample_transitions(jax.random.PRNGKey(1), stats)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)
    # Dirichlet(4, 2, 1): mean (4, 2, 1) / 7.
    np.testing.assert_allclose(p[:, 0, 0].mean(0), np.array([4, 2, 1]) / 7, atol=0.006)


def test_psrl_plans_on_its_sample_of_a_concentrated_posterior():
    # Two states, two actions, horizon 2. Data (1e6 visits each): action a moves to state a;
    # mean rewards mu = [[0, 1], [2, -1]]. The posterior is so concentrated that the sample
    # is the MDP up to ~1e-3, whose plan by hand is
    #   step 1: Q1 = mu, V1 = [1, 2];
    #   step 0: Q0[s, a] = mu[s, a] + V1[a] = [[1, 3], [3, 1]].
    s, a, h, big = 2, 2, 2, 1e6
    counts = jnp.zeros((1, s, a, s)).at[0, :, 0, 0].set(big).at[0, :, 1, 1].set(big)
    mu = jnp.asarray([[0.0, 1.0], [2.0, -1.0]])
    hidden = mdps.MDPStats(counts, (mu * big)[None], jnp.full((1, s, a), big),
                           jnp.zeros(1, jnp.int32), jnp.zeros(1, jnp.int32),
                           jnp.zeros((1, h, s, a)))
    policy = mdps.psrl(s, a, h)
    # The previous step ended an episode: the policy replans now and acts in state 0.
    o = jnp.asarray([[1.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
    new, action = policy.act(hidden, o, jnp.zeros(1, bool), jax.random.PRNGKey(0))
    np.testing.assert_allclose(new.q[0, 1], mu, atol=0.01)
    np.testing.assert_allclose(new.q[0, 0], [[1.0, 3.0], [3.0, 1.0]], atol=0.02)
    assert int(action[0]) == 1 and int(new.step[0]) == 0
    # Two samples with different keys differ (the posterior is sampled, not its mean).
    other, _ = policy.act(hidden, o, jnp.zeros(1, bool), jax.random.PRNGKey(1))
    assert not np.array_equal(np.asarray(other.q), np.asarray(new.q))
    # Inside the episode (no episode end in the obs) the plan is kept, not resampled.
    o_mid = jnp.asarray([[0.0, 1.0, 0.0, 1.0, 3.0, 0.0]])
    kept, action = policy.act(new, o_mid, jnp.zeros(1, bool), jax.random.PRNGKey(2))
    np.testing.assert_array_equal(kept.q, new.q)
    assert int(kept.step[0]) == 1 and int(action[0]) == 0  # Q1[1] = [2, -1]


@pytest.mark.parametrize("make, match", [
    (lambda: mdps.epsilon_greedy(-0.1), "epsilon: expected"),
    (lambda: mdps.psrl(num_states=0), "num_states: expected"),
    (lambda: mdps.greedy(horizon=2.5), "horizon: expected"),
    (lambda: mdps.greedy(reward_estimate="mle"), "reward_estimate: expected"),
])
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()
