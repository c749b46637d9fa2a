"""RL^2 learns: a short run beats random by a real margin, and UCB1, on held-out bandits.

"UCB1-level play" is the classic UCB1 of Auer et al. 2002 (each arm once, then
mean + sqrt(2 ln t / n_i)), scored by the same evaluation code on the same 1000 held-out
tasks: about 5.75 at n=10, k=5. The paper's tuned UCB1 (6.7; ours 6.75 with c=0.01 and a
Beta(1,1) prior, benchmarks/results/meta_rl_baselines.md) is a full-run bar, not a
short-run one.

The SNAIL variant is marked slow: on the 2-core CPU its PPO program (16 dense blocks and 2
attention blocks over policy and value nets) takes 60-80 s to compile, ~90 s to train two
seeds and ~20 s to evaluate, far over what a default-suite learning test may take.
Measured SNAIL scores: 6.52 and 6.59 (random 5.05, optimum 8.38) on the 1000 held-out tasks.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.algos import rl2
from purerl.baselines import bandits
from purerl.common import evaluate as ev


def _assert_beats_random(cfg: rl2.Config) -> None:
    setup = rl2.build(cfg)
    train = jax.jit(jax.vmap(lambda k, i: setup.parts.run_updates(setup.parts.init(k, i),
                                                                  cfg.num_updates)))
    state, _ = train(jax.random.split(jax.random.PRNGKey(0), 2), jnp.arange(2))
    score_params, baselines = rl2.make_evaluator(cfg, setup)
    scores = np.asarray(score_params(state.train_state.params)).mean(axis=1)
    base = {k: float(v.mean()) for k, v in baselines().items()}
    assert 4.8 < base["random"] < 5.3 and 8.1 < base["optimum"] < 8.6
    # Both seeds at least 1.0 above random (= 30% of the random-to-optimum gap).
    assert scores.min() > base["random"] + 1.0, (scores, base)
    tasks = ev.heldout_tasks(setup.trial_env.env, cfg.num_tasks)
    ucb1 = float(ev.evaluate_trials(setup.trial_env, bandits.ucb1(cfg.num_actions), tasks,
                                    jax.random.PRNGKey(ev.HELDOUT_TASK_SEED + 1)).mean())
    assert 5.5 < ucb1 < 6.0, ucb1  # classic UCB1, hand-checked level (see module docstring)
    assert scores.min() > ucb1, (scores, ucb1)


def test_gru_beats_random_and_ucb1_on_5_armed_bandits():
    # 5 arms, 10 pulls; ~0.4M env steps per seed. Random scores 5.0, UCB1 6.7, optimum 8.3.
    _assert_beats_random(rl2.Config(
        num_envs=128, batch_size=2560, mini_batch_size=640, hidden_size=64,
        num_updates=150, num_tasks=1000, num_seeds=2, log_every=0))


@pytest.mark.slow
def test_snail_beats_random_and_ucb1_on_5_armed_bandits():
    # ~0.19M env steps per seed; the context cache spans one trial of 10 pulls.
    cfg = rl2.Config(model_type="snail", num_envs=64, batch_size=1280, mini_batch_size=320,
                     learning_rate=3e-3, num_updates=150, num_tasks=1000, num_seeds=2,
                     log_every=0)
    assert rl2.build(cfg).net.context_length == 10
    _assert_beats_random(cfg)
