"""Our PPO and SAC on brax / MuJoCo Playground envs (``envs_jax.brax_adapter``).

* fast: ``envs_jax.make("playground/CartpoleBalance")`` and ``envs_jax.make("brax/fast")``
  (brax's physics-free env: the same adapter and auto-reset path, compiled in seconds)
  through one compiled ``run_sweep`` segment each of our PPO and SAC;
* slow: PPO and SAC learn Playground's CartpoleBalance well above the random policy, and
  PPO's evaluation return on brax's MJX ``ant`` improves over its first evaluation (MJX
  compiles take minutes on CI's 2 cores, hence the slow tier; the MJX ``ant`` smoke run
  is in the slow tier too).

Playground tests skip with the reason when ``playground`` (the ``purerl[playground]``
extra) is not installed.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import envs_jax
from envs_jax.wrappers import vec_env
from purerl.algos import ppo, sac_online
from purerl.common.experiment import run_sweep
from purerl.common.networks import GaussianActorCritic

pytest.importorskip("brax.envs")
HAS_PLAYGROUND = importlib.util.find_spec("mujoco_playground") is not None
needs_playground = pytest.mark.skipif(
    not HAS_PLAYGROUND, reason="MuJoCo Playground is not installed (pip install "
                               "'purerl[playground]')")


def train_ppo(env_id: str, cfg: ppo.PPOConfig, hidden: tuple[int, ...], segment: int,
              **make_kwargs):
    """Our PPO on ``env_id`` through ``run_sweep`` (one seed); the sweep's result."""
    env, params = envs_jax.make(env_id, **make_kwargs)
    net = GaussianActorCritic(env.action_space(params).shape[0], hidden)
    parts = ppo.make_train_parts(cfg, vec_env(env_id, env, cfg.num_envs), params, net,
                                 eval_env=env if cfg.eval_every else None)
    return run_sweep(parts.init, parts.run_updates, seed=0, num_seeds=1,
                     num_updates=cfg.num_updates, segment_updates=segment)


def train_sac(env_id: str, cfg: sac_online.Config, segment: int, **make_kwargs):
    """Our online SAC on ``env_id`` through ``run_sweep`` (one seed); the sweep's result."""
    env, params = envs_jax.make(env_id, **make_kwargs)
    parts = sac_online.make_train_parts(cfg, env, params, env_id)
    return run_sweep(parts.init, parts.run_updates, seed=0, num_seeds=1,
                     num_updates=cfg.num_updates, segment_updates=segment)


def evals(result) -> np.ndarray:
    """The evaluation returns of seed 0, in order ``[E]``."""
    ev = result.metrics["eval/return"][0]
    return ev[np.isfinite(ev)]


# --- fast: one compiled segment through each agent ----------------------------------------

TINY_PPO = ppo.PPOConfig(num_envs=2, num_steps=4, num_updates=2, num_minibatches=2,
                         update_epochs=1, eval_every=2, eval_episodes=2, eval_max_steps=4)
TINY_SAC = sac_online.Config(num_envs=2, num_updates=4, learning_starts=4, sgd_batch_size=4,
                             replay_buffer_size=32, actor_hidden_sizes=(8,),
                             critic_hidden_sizes=(8,), eval_every=4, num_eval_episodes=2,
                             eval_max_steps=4)
SMOKE_IDS = [
    "brax/fast",
    pytest.param("playground/CartpoleBalance", marks=needs_playground),
    pytest.param("brax/ant", marks=pytest.mark.slow),  # a minute of MJX compile on CI
]


@pytest.mark.parametrize("env_id", SMOKE_IDS)
def test_ppo_and_sac_run_one_compiled_segment(env_id):
    """Each agent: one compiled ``run_sweep`` segment, finite metrics, the env steps and
    one evaluation where expected (episodes of 4 steps: ``episode_length=4``)."""
    result = train_ppo(env_id, TINY_PPO, (8,), segment=2, episode_length=4)
    np.testing.assert_array_equal(result.metrics["env_steps"][0], [8, 16])
    assert evals(result).shape == (1,)
    # 2 envs x 2 updates x 4 steps: every env ends 2 episodes of 4 steps
    assert result.metrics["episode_count"][0].sum() == 4
    for name, v in result.metrics.items():
        if not name.startswith("eval/"):
            assert np.isfinite(v).all(), name
    result = train_sac(env_id, TINY_SAC, segment=4, episode_length=4)
    np.testing.assert_array_equal(result.metrics["env_steps"][0], [2, 4, 6, 8])
    np.testing.assert_array_equal(result.metrics["learning"][0], [0, 0, 1, 1])
    assert evals(result).shape == (1,)
    assert result.metrics["episode_count"][0].sum() == 2


# --- slow: learning ----------------------------------------------------------------------------

RANDOM_CARTPOLE_BALANCE = 367.0
"""Mean return of uniform random actions on playground/CartpoleBalance over 16 episodes of
1000 steps (272 to 424; measured here with ``envs_jax.policy.evaluate_episodes``); the
maximum is 1000 (reward <= 1 per step)."""


@pytest.mark.slow
@needs_playground
def test_ppo_learns_playground_cartpole_balance():
    """Our PPO, 60 updates of 64 envs x 32 steps (123k env steps; ~2 min compile + 5 s of
    training on CI's 2 cores). Measured: deterministic evaluation 999 after 50 updates
    (1000-step episodes; random play 367), so the bar is 900."""
    cfg = ppo.PPOConfig(num_envs=64, num_steps=32, num_updates=60, num_minibatches=8,
                        update_epochs=4, learning_rate=1e-3, lr_schedule="constant",
                        ent_coef=0.0, normalize_obs=True, normalize_value=True,
                        eval_every=30, eval_episodes=8)
    result = train_ppo("playground/CartpoleBalance", cfg, (64, 64), segment=30)
    returns = evals(result)
    assert returns.shape == (2,)
    assert returns[-1] > 900.0, returns
