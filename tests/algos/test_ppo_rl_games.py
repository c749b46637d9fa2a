"""PPO with rl_games ``a2c_continuous`` semantics: the pieces, against hand-computed values.

The adaptive learning-rate rule, the bounds loss, the exact diagonal-Gaussian KL, batch
advantage normalisation, and the time-out bootstrap on an env whose value is known in
closed form (reward 1 per step, a time limit and nothing else).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs_jax import spaces
from envs_jax.core import Environment, EnvStep
from envs_jax.wrappers import AutoReset, RecordEpisodeStats, VecEnv
from purerl.algos import ppo
from purerl.common import distributions
from purerl.common.networks import GaussianActorCritic


def test_adaptive_lr_rule_by_hand():
    thr = jnp.float32(0.008)
    rule = lambda lr, kl: float(ppo.adaptive_lr(jnp.float32(lr), jnp.float32(kl), thr))  # noqa: E731
    assert rule(3e-4, 0.0161) == pytest.approx(2e-4)          # KL > 2 thr: / 1.5
    assert rule(3e-4, 0.0039) == pytest.approx(4.5e-4)        # KL < thr / 2: x 1.5
    assert rule(3e-4, 0.008) == pytest.approx(3e-4)           # in between: unchanged
    assert rule(3e-4, 0.016) == pytest.approx(3e-4)           # the bounds are strict
    assert rule(1.2e-6, 1.0) == pytest.approx(1e-6)           # floor
    assert rule(8e-3, 0.0) == pytest.approx(1e-2)             # cap


def test_bounds_loss_by_hand():
    mu = jnp.array([[0.5, 1.1, -1.1], [1.6, -2.1, 0.0]])
    # row 0 inside [-1.1, 1.1]: 0; row 1: (1.6-1.1)^2 + (-1.1+2.1)^2 = 0.25 + 1
    np.testing.assert_allclose(ppo.bounds_loss(mu), [0.0, 1.25], rtol=1e-6)


def _gaussian_batch(mean_old, log_std_old, n=6, a=2, seed=0):
    obs = jax.random.normal(jax.random.PRNGKey(seed), (n, 3))
    action = jax.random.normal(jax.random.PRNGKey(seed + 1), (n, a))
    old = distributions.diag_gaussian(mean_old, log_std_old)
    return ppo.Transition(obs, None, action, old.log_prob(action), jnp.zeros(n), None, None,
                          None, None, {}, None, (mean_old, log_std_old))


def test_loss_reports_exact_gaussian_kl_and_the_bounds_term():
    n, a = 6, 2
    mean_new = jnp.linspace(-1.5, 1.5, n * a).reshape(n, a)
    log_std_new = jnp.full((n, a), -0.5)
    mean_old, log_std_old = jnp.zeros((n, a)), jnp.full((n, a), -1.0)
    batch = _gaussian_batch(mean_old, log_std_old, n, a)
    apply = lambda p, h, o, r: (None, (mean_new, log_std_new), jnp.zeros(n))  # noqa: E731
    make = ppo.action_distribution(spaces.Box(-1.0, 1.0, (a,)))
    adv, tgt = jnp.zeros(n), jnp.zeros(n)
    loss0, aux = ppo.ppo_loss({}, apply, batch, None, adv, tgt, 0.2, 0.5, 0.0, False, make,
                              False, 0.0)
    loss1, _ = ppo.ppo_loss({}, apply, batch, None, adv, tgt, 0.2, 0.5, 0.0, False, make,
                            False, 10.0)
    # KL(new || old) per component: log(s_old/s_new) + (s_new^2 + dmu^2) / (2 s_old^2) - 1/2
    s_new, s_old = np.exp(-0.5), np.exp(-1.0)
    per = np.log(s_old / s_new) + (s_new ** 2 + np.asarray(mean_new) ** 2) / (2 * s_old ** 2) - 0.5
    assert float(aux["kl"]) == pytest.approx(per.sum(-1).mean(), rel=1e-5)
    expect_b = (np.maximum(np.abs(np.asarray(mean_new)) - 1.1, 0) ** 2).sum(-1).mean()
    assert float(aux["bounds_loss"]) == pytest.approx(expect_b, rel=1e-5)
    assert float(loss1 - loss0) == pytest.approx(10.0 * expect_b, rel=1e-4)


class ConstantReward(Environment):
    """Reward 1 at every step, one constant observation, never terminal; the episode is
    cut after ``horizon`` steps. With time-outs bootstrapped, V = 1 / (1 - gamma) at
    every state (the time limit is not part of the state); treating them as terminals
    gives the mean of (1 - gamma^(H - t)) / (1 - gamma) over t instead."""

    def __init__(self, horizon: int):
        self.horizon = horizon

    def default_params(self):
        return ()

    def reset(self, key, params):
        return jnp.zeros((1,), jnp.float32), jnp.zeros((), jnp.int32)

    def step(self, key, state, action, params):
        t = state + 1
        obs = jnp.zeros((1,), jnp.float32)
        return EnvStep(obs, t, jnp.float32(1.0), jnp.bool_(False), t >= self.horizon,
                       {"final_obs": obs})

    def observation_space(self, params):
        return spaces.Box(-1.0, 1.0, (1,))

    def action_space(self, params):
        return spaces.Box(-1.0, 1.0, (1,))


@pytest.fixture(scope="module")
def constant_reward_values():
    """The learned V of the constant-reward env with and without time-out bootstrap,
    gamma 0.9, horizon 5 (one compiled program per setting)."""
    env = ConstantReward(5)
    vec = VecEnv(AutoReset(RecordEpisodeStats(env)), 8)
    net = GaussianActorCritic(1, (16,))
    out = {}
    for bootstrap in (True, False):
        cfg = ppo.PPOConfig(num_envs=8, num_steps=10, num_updates=150, num_minibatches=2,
                            update_epochs=4, learning_rate=3e-3, lr_schedule="constant",
                            gamma=0.9, gae_lambda=0.95, clip_value=False, vf_coef=1.0,
                            ent_coef=0.0, bootstrap_timeouts=bootstrap)
        train = jax.jit(ppo.make_train(cfg, vec, (), net))
        state = train(jax.random.PRNGKey(0)).runner_state
        _, _, value = net.apply(state.train_state.params, None, jnp.zeros((1, 1)), None)
        out[bootstrap] = float(value[0])
    return out


def test_timeouts_bootstrap_to_the_closed_form_value(constant_reward_values):
    assert constant_reward_values[True] == pytest.approx(1 / (1 - 0.9), rel=0.05)


def test_without_bootstrap_timeouts_count_as_terminals(constant_reward_values):
    gamma, horizon = 0.9, 5
    expected = np.mean([(1 - gamma ** (horizon - t)) / (1 - gamma) for t in range(horizon)])
    assert constant_reward_values[False] == pytest.approx(expected, rel=0.08)


@pytest.fixture(scope="module")
def pendulum_adaptive():
    """Two updates of adaptive-lr PPO on Pendulum per schedule mode, 1 epoch of 1
    minibatch (so the epoch's mean KL is the minibatch's), plus the minibatches'
    advantages seen by extra_loss under advantage_norm='batch'."""
    import envs_jax

    env, params = envs_jax.make("gymnax/Pendulum-v1")
    vec = VecEnv(AutoReset(RecordEpisodeStats(env)), 4)
    seen = []

    def record(p, mb, aux_state):
        jax.debug.callback(lambda a: seen.append(np.asarray(a)), mb.advantages)
        return jnp.zeros(()), {}

    net = GaussianActorCritic(1, (16,))
    out = {}
    for every in ("minibatch", "epoch"):
        cfg = ppo.PPOConfig(num_envs=4, num_steps=16, num_updates=4, num_minibatches=1,
                            update_epochs=1, learning_rate=1e-3, lr_schedule="adaptive",
                            kl_threshold=1e-4, adaptive_lr_every=every,
                            advantage_norm="batch")
        train = jax.jit(ppo.make_train(cfg, vec, params, net, extra_loss=record))
        out[every] = jax.tree.map(np.asarray, train(jax.random.PRNGKey(1)).metrics)
    return out, seen


@pytest.mark.parametrize("every", ["minibatch", "epoch"])
def test_adaptive_schedule_applies_the_rule_to_the_measured_kl(pendulum_adaptive, every):
    metrics, _ = pendulum_adaptive
    m = metrics[every]
    lr, kl = m["learning_rate"], m["kl"]
    assert lr[0] == pytest.approx(1e-3)
    for u in range(len(lr) - 1):
        expected = float(ppo.adaptive_lr(jnp.float32(lr[u]), jnp.float32(kl[u]),
                                         jnp.float32(1e-4)))
        assert lr[u + 1] == pytest.approx(expected, rel=1e-5), (u, lr, kl)
    assert not np.allclose(lr, lr[0])          # the rule did act


def test_batch_advantage_norm_standardises_the_whole_rollout(pendulum_adaptive):
    _, seen = pendulum_adaptive
    for adv in seen:                            # one minibatch = the whole rollout
        assert adv.mean() == pytest.approx(0.0, abs=1e-5)
        assert adv.std() == pytest.approx(1.0, abs=1e-3)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="lr_schedule: expected 'constant' or 'linear' or "
                                         "'adaptive', got 'cosine'"):
        ppo.PPOConfig(lr_schedule="cosine")
    with pytest.raises(ValueError, match="max_grad_norm"):
        ppo.PPOConfig(max_grad_norm=0.0)
    assert float(ppo.hyperparams_from(ppo.PPOConfig(max_grad_norm=None)).max_grad_norm) \
        == np.inf


def test_run_updates_traced_once_across_segments(tmp_path):
    """Three segments of run_sweep (with checkpoints and the adaptive schedule's state in
    between) reuse one compiled program: ``run_updates`` is traced once."""
    import envs_jax
    from purerl.common.checkpoint import Checkpointer
    from purerl.common.experiment import run_sweep

    env, params = envs_jax.make("gymnax/Pendulum-v1")
    cfg = ppo.PPOConfig(num_envs=2, num_steps=4, num_updates=6, num_minibatches=2,
                        update_epochs=1, lr_schedule="adaptive", eval_every=2,
                        eval_episodes=1, eval_max_steps=3)
    parts = ppo.make_train_parts(cfg, VecEnv(AutoReset(RecordEpisodeStats(env)), 2), params,
                                 GaussianActorCritic(1, (8,)), eval_env=env)
    traces = []

    def run_updates(state, n):
        traces.append(n)
        return parts.run_updates(state, n)

    ckpt = Checkpointer(str(tmp_path / "ckpt"))
    result = run_sweep(parts.init, run_updates, 0, 2, 6, 2, ckpt)
    ckpt.close()
    assert traces == [2]
    assert result.metrics["learning_rate"].shape == (2, 6)
    ev = result.metrics["eval/return"]
    assert np.isnan(ev[:, 0::2]).all() and np.isfinite(ev[:, 1::2]).all()
