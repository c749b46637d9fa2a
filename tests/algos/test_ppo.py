"""PPO loss against hand-computed values, and the target_kl early stop."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.wrappers import AutoReset, RecordEpisodeStats, VecEnv
from purerl.algos import ppo
from purerl.common.networks import MLPActorCritic


class FixedNet:
    """A 'network' whose params ARE its outputs: logits [T, N, A] and values [T, N]."""

    @staticmethod
    def apply(params, hidden, obs, reset):
        return hidden, params["logits"], params["value"]


def test_ppo_loss_hand_computed():
    # One state, two actions. Old policy pi_old(a=0) = 0.5; new logits give pi(a=0) = 0.8.
    cfg = ppo.PPOConfig(num_envs=2, num_minibatches=1, vf_coef=0.5, ent_coef=0.1)
    new_logits = jnp.log(jnp.array([[[0.8, 0.2], [0.8, 0.2]]]))  # [T=1, N=2, A=2]
    params = {"logits": new_logits, "value": jnp.array([[1.0, 3.0]])}
    batch = ppo.Transition(
        obs=jnp.zeros((1, 2, 1)), reset=jnp.ones((1, 2), bool), action=jnp.array([[0, 1]]),
        log_prob=jnp.log(jnp.array([[0.5, 0.5]])), value=jnp.array([[0.0, 0.0]]),
        next_value=jnp.zeros((1, 2)), reward=jnp.zeros((1, 2)), terminated=jnp.zeros((1, 2), bool),
        done=jnp.zeros((1, 2), bool), info={})
    adv = jnp.array([[1.0, -1.0]])  # normalised: (+1, -1) / std(=1) -> (+1, -1)
    targets = jnp.array([[2.0, 2.0]])
    loss, aux = ppo.ppo_loss(params, FixedNet.apply, batch, jnp.zeros((2, 1)), adv, targets,
                             0.2, cfg.vf_coef, cfg.ent_coef, cfg.clip_value)
    # ratios: a=0: 0.8/0.5 = 1.6 (A>0 -> clipped at 1.2); a=1: 0.2/0.5 = 0.4 (A<0 -> clipped
    # at 0.8 gives -0.8, min(-0.4, -0.8) = -0.8). pg = -mean(1.2, -0.8) = -0.2.
    assert float(aux["pg_loss"]) == pytest.approx(-0.2, abs=1e-5)
    # values: V=(1, 3) vs old (0, 0) clipped to (0.2, 0.2); targets 2:
    # max((1-2)^2, (0.2-2)^2) = 3.24; max((3-2)^2, (0.2-2)^2) = 3.24 -> 0.5 * 3.24.
    assert float(aux["vf_loss"]) == pytest.approx(0.5 * 3.24, abs=1e-5)
    ent = -(0.8 * np.log(0.8) + 0.2 * np.log(0.2))
    assert float(aux["entropy"]) == pytest.approx(ent, abs=1e-5)
    assert float(loss) == pytest.approx(-0.2 + 0.5 * 1.62 - 0.1 * ent, abs=1e-5)
    # Unclipped value loss: 0.5 * mean(1, 1).
    _, aux = ppo.ppo_loss(params, FixedNet.apply, batch, jnp.zeros((2, 1)), adv, targets, 0.2,
                          0.5, 0.0, clip_value=False)
    assert float(aux["vf_loss"]) == pytest.approx(0.5, abs=1e-5)


def _cartpole_parts(**overrides):
    env, params = envs_jax.make("gymnax/CartPole-v1")
    cfg = ppo.PPOConfig(**{**dict(num_envs=8, num_steps=16, num_updates=4, num_minibatches=2,
                                  update_epochs=4), **overrides})
    vec = VecEnv(AutoReset(RecordEpisodeStats(env)), cfg.num_envs)
    return cfg, ppo.make_train(cfg, vec, params, MLPActorCritic(2, (16, 16)))


def test_target_kl_stops_epochs_early():
    # target_kl and learning_rate are traced hyperparameters: one compiled program runs
    # both configs, each passing the hyperparameters of its own PPOConfig.
    cfg, train = _cartpole_parts(target_kl=1e-9, learning_rate=1e-2)
    train = jax.jit(train)
    out = train(jax.random.PRNGKey(0), 0, ppo.hyperparams_from(cfg))
    # The KL after the first epoch already exceeds 1.5e-9: exactly one epoch ran.
    np.testing.assert_array_equal(out.metrics["epochs_run"], 1.0)
    cfg = dataclasses.replace(cfg, target_kl=0.0, learning_rate=3e-4)
    out = train(jax.random.PRNGKey(0), 0, ppo.hyperparams_from(cfg))
    np.testing.assert_array_equal(out.metrics["epochs_run"], 4.0)
    # Annealing: learning rate falls linearly, 1 - u/U.
    np.testing.assert_allclose(out.metrics["learning_rate"],
                               3e-4 * np.array([1.0, 0.75, 0.5, 0.25]), rtol=1e-6)


def test_ppo_learns_gymnax_cartpole_through_the_adapter():
    """Feed-forward PPO on gymnax CartPole-v1 (via GymnaxAdapter): random play lasts ~22
    steps; 100k env steps of PPO must reach episodes of 150+ steps on average."""
    _, train = _cartpole_parts(num_envs=16, num_steps=128, num_updates=50,
                                 num_minibatches=4, update_epochs=4, learning_rate=2.5e-3,
                                 gae_lambda=0.95, clip_eps=0.2, ent_coef=0.01)
    out = jax.jit(train)(jax.random.PRNGKey(0))
    m = jax.tree.map(np.asarray, out.metrics)
    last = slice(-5, None)
    mean_return = m["episode_return_sum"][last].sum() / m["episode_count"][last].sum()
    first = m["episode_return_sum"][:3].sum() / m["episode_count"][:3].sum()
    assert first < 40, first
    assert mean_return > 150, mean_return
