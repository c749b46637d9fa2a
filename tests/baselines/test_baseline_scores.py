"""Baseline scores on a few hundred sampled tasks against the RL^2 paper's columns.

Tolerance: the issue's 3% for baselines whose definitions agree with the paper, plus three
standard errors of the difference between our task sample and the paper's (their 1000
tasks are other draws): ``3 * se * sqrt(1 + M / 1000)`` with ``se`` our standard error over
``M`` tasks. The paper rounds to 0.1, well inside that.
"""

import jax
import numpy as np
import pytest

import envs_jax
from purerl.baselines import bandits, mdps
from purerl.baselines.gittins import gittins_index_table
from purerl.common import evaluate as ev

pytestmark = pytest.mark.slow


def close_to_paper(scores, paper):
    scores = np.asarray(scores)
    se = scores.std(ddof=1) / np.sqrt(scores.size)
    tol = 0.03 * paper + 3 * se * np.sqrt(1 + scores.size / 1000)
    return abs(scores.mean() - paper) <= tol, (float(scores.mean()), paper, float(tol))


def test_bandit_n10_k5_scores_match_the_paper():
    env, _ = envs_jax.make("bernoulli_bandit_trial", num_arms=5, num_episodes=10)
    tasks = ev.heldout_tasks(env.env, 500)
    policies = {  # hyperparameters: the grid-search choices of benchmarks/meta_rl_baselines
        "random": (bandits.random(5), 5.0),
        "greedy": (bandits.greedy(5), 6.6),
        "ucb1": (bandits.ucb1(5, c=0.01, prior=(1.0, 1.0)), 6.7),
        "thompson": (bandits.thompson_sampling(5), 5.7),
        "gittins": (bandits.gittins(5, gittins_index_table(0.3, 9)), 6.6),
    }
    for name, (policy, paper) in policies.items():
        scores = ev.evaluate_trials(env, policy, tasks, jax.random.PRNGKey(0))
        ok, info = close_to_paper(scores, paper)
        assert ok, (name, info)


def test_mdp_n10_scores_match_the_paper_and_the_oracle_reaches_the_optimum():
    env, _ = envs_jax.make("random_mdp_trial", num_episodes=10)
    tasks = ev.heldout_tasks(env.env, 300)
    for name, policy, paper in [("random", mdps.random(5), 100.1),
                                ("psrl", mdps.psrl(), 138.1)]:
        scores = ev.evaluate_trials(env, policy, tasks, jax.random.PRNGKey(0))
        ok, info = close_to_paper(scores, paper)
        assert ok, (name, info)
    oracle = ev.evaluate_trials(env, mdps.value_iteration_oracle(tasks), tasks,
                                jax.random.PRNGKey(1))
    optimum = ev.optimal_returns(env, tasks)
    # Same tasks: only the sampling noise of the oracle's trials differs, std of the mean
    # of (score - expected score) over 300 tasks.
    gap = np.asarray(oracle - optimum)
    assert abs(gap.mean()) < 4 * gap.std(ddof=1) / np.sqrt(gap.size)
