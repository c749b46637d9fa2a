"""Evaluation on held-out tasks: floors and ceilings against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np

import envs_jax
from envs_jax.policy import feed_forward
from purerl.common import evaluate as ev


def test_random_and_optimum_on_bandits_match_closed_forms():
    env, _ = envs_jax.make("bernoulli_bandit_trial", num_arms=5, num_episodes=10)
    tasks = ev.heldout_tasks(env.env, 2000)
    # The same key gives the same tasks (held-out set is fixed).
    again = ev.heldout_tasks(env.env, 2000)
    np.testing.assert_array_equal(tasks.probs, again.probs)
    rand = ev.evaluate_trials(env, ev.random_policy(5), tasks, jax.random.PRNGKey(0))
    assert rand.shape == (2000,)
    expected_rand = 10 * tasks.probs.mean(axis=1)  # uniform arm choice
    # Per-trial std <= sqrt(10 * 0.25); the mean over 2000 trials is within ~4 std errors.
    assert abs(float(rand.mean() - expected_rand.mean())) < 4 * np.sqrt(2.5 / 2000)
    opt = ev.optimal_returns(env, tasks)
    np.testing.assert_allclose(opt, 10 * tasks.probs.max(axis=1), rtol=1e-6)
    # E[max of 5 uniforms] = 5/6.
    assert abs(float(opt.mean()) - 10 * 5 / 6) < 0.15


def test_greedy_oracle_policy_reaches_optimum():
    """A policy that knows each task's best arm scores n * p_max in expectation."""
    env, _ = envs_jax.make("bernoulli_bandit_trial", num_arms=3, num_episodes=20)
    tasks = ev.heldout_tasks(env.env, 4000)
    best = jnp.argmax(tasks.probs, axis=1)
    oracle = ev.Policy(lambda n: jnp.zeros((n, 1)), lambda h, o, r, k: (h, best))
    score = ev.evaluate_trials(env, oracle, tasks, jax.random.PRNGKey(1))
    opt = ev.optimal_returns(env, tasks)
    assert abs(float(score.mean() - opt.mean())) < 4 * np.sqrt(20 * 0.25 / 4000)


def test_mdp_random_below_optimum():
    env, _ = envs_jax.make("random_mdp_trial", num_episodes=3)
    tasks = ev.heldout_tasks(env.env, 500)
    rand = ev.evaluate_trials(env, ev.random_policy(5), tasks, jax.random.PRNGKey(0))
    opt = ev.optimal_returns(env, tasks)
    # Random earns mean reward 1 per step on average: ~30 per 3-episode trial.
    assert abs(float(rand.mean()) - 30.0) < 2.0
    assert float(opt.mean()) > float(rand.mean()) + 10


def test_evaluate_episodes_matches_a_python_loop_and_stops_at_max_steps():
    """Returns of E vmapped episodes equal one-env python loops on the same keys; steps
    after an episode's end add nothing, and ``max_steps`` cuts the rest."""
    env, params = envs_jax.make("gymnax/CartPole-v1")
    push_left = feed_forward(lambda key, obs: jnp.zeros(obs.shape[:1], jnp.int32))
    key, num, steps = jax.random.PRNGKey(3), 4, 30
    returns = np.asarray(ev.evaluate_episodes(env, params, push_left, key, num, steps).returns)

    key_reset, key_run = jax.random.split(key)
    step = jax.jit(env.step)
    expected = []
    for e in range(num):
        _, state = env.reset(jax.random.split(key_reset, num)[e], params)
        total = 0.0
        for key_t in jax.random.split(key_run, steps):
            key_step = jax.random.split(jax.random.split(key_t)[1], num)[e]
            ts = step(key_step, state, jnp.int32(0), params)
            total, state = total + float(ts.reward), ts.state
            if bool(ts.terminated | ts.truncated):
                break
        expected.append(total)
    np.testing.assert_allclose(returns, expected)
    assert 5 < returns.min() and returns.max() < steps      # pushing left falls within 30
    cut = ev.evaluate_episodes(env, params, push_left, key, num, 5).returns
    np.testing.assert_array_equal(cut, 5.0)
