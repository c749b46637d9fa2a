"""Online SAC (``purerl.algos.sac_online``): learning, the soft TD target, truncation
bootstrap, warm-up actions, config errors, and one trace across ``run_sweep`` segments.

Polyak averaging (the target critics' update) is tested in tests/common/test_polyak.py.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import envs_jax
from envs_jax import spaces
from envs_jax.core import Environment, EnvStep
from envs_jax.offline.dataset import OfflineDataset
from purerl.algos import sac, sac_online
from purerl.common.distributions import tanh_gaussian
from purerl.common.experiment import run_sweep

TIME_LIMIT = 3


@struct.dataclass
class ToyState:
    t: jax.Array


class ToyEnv(Environment):
    """obs ``[t, 1]``; reward = first action; terminated when ``action[0] > 0.5``,
    truncated at ``t = TIME_LIMIT`` (if not terminated); actions in ``low``-``high``."""

    def __init__(self, low=(-1.0, -1.0), high=(1.0, 1.0), shape=None):
        self.low, self.high = low, high
        self.shape = shape or (len(low),)

    def default_params(self):
        return ()

    def reset(self, key, params):
        return jnp.array([0.0, 1.0]), ToyState(t=jnp.int32(0))

    def step(self, key, state, action, params):
        t = state.t + 1
        obs = jnp.stack([t.astype(jnp.float32), jnp.float32(1.0)])
        terminated = action.reshape(-1)[0] > 0.5
        return EnvStep(obs, ToyState(t), action.reshape(-1)[0], terminated,
                       (t >= TIME_LIMIT) & ~terminated, {"final_obs": obs})

    def observation_space(self, params):
        return spaces.Box(-np.inf, np.inf, (2,))

    def action_space(self, params):
        return spaces.Box(np.asarray(self.low), np.asarray(self.high), self.shape)


TINY = sac_online.Config(num_envs=4, num_updates=6, learning_starts=8, sgd_batch_size=8,
                         replay_buffer_size=64, actor_hidden_sizes=(8,),
                         critic_hidden_sizes=(8,), eval_every=2, num_eval_episodes=2,
                         eval_max_steps=TIME_LIMIT, normalize_obs=True)


@pytest.fixture(scope="module")
def toy_sweep():
    """Three segments of 2 updates of ``run_sweep`` on the toy env (2 seeds), counting
    how often ``run_updates`` is traced."""
    env = ToyEnv()
    parts = sac_online.make_train_parts(TINY, env, ())
    traces = []

    def run_updates(state, n):
        traces.append(n)
        return parts.run_updates(state, n)

    result = run_sweep(parts.init, run_updates, seed=0, num_seeds=2, num_updates=6,
                       segment_updates=2)
    return result, traces


def test_run_updates_traced_once_across_segments(toy_sweep):
    result, traces = toy_sweep
    assert traces == [2]
    assert result.metrics["env_steps"].shape == (2, 6)
    np.testing.assert_array_equal(result.metrics["env_steps"][0], 4 * np.arange(1, 7))
    # warm-up: ceil(8 / 4) = 2 updates without SGD, then learning
    np.testing.assert_array_equal(result.metrics["learning"][0], [0, 0, 1, 1, 1, 1])
    # running statistics of every observation acted on: 6 updates x 4 envs
    np.testing.assert_array_equal(result.state.obs_stats.count, [24, 24])
    np.testing.assert_allclose(result.state.obs_stats.mean[:, 1], 1.0)
    ev = result.metrics["eval/return"]
    assert np.isnan(ev[:, 0::2]).all() and np.isfinite(ev[:, 1::2]).all()
    for name, v in result.metrics.items():
        if not name.startswith("eval/"):
            assert np.isfinite(v).all(), name


def test_truncation_stores_final_obs_and_terminated_only(toy_sweep):
    """A truncated transition keeps the true next obs (t = TIME_LIMIT, not the reset obs
    t = 0) and ``terminals = False``; a terminated one ``terminals = True``."""
    result, _ = toy_sweep
    buf = result.state.buffer.experience                      # [S, 1, capacity, ...]
    filled = 6 * 4
    rows = jax.tree.map(lambda x: np.asarray(x)[0, 0, :filled], buf)
    assert rows.timeouts.any() and rows.terminals.any()
    assert not (rows.timeouts & rows.terminals).any()
    np.testing.assert_array_equal(rows.next_observations[rows.timeouts, 0], TIME_LIMIT)
    np.testing.assert_array_equal(rows.next_observations[:, 0], rows.observations[:, 0] + 1)
    np.testing.assert_array_equal(rows.terminals, rows.actions[:, 0] > 0.5)
    # warm-up actions (the first 2 updates) lie in [-1, 1]; so do the policy's
    assert (np.abs(rows.actions) <= 1).all()


def test_td_target_by_hand():
    r = jnp.array([1.0, 2.0, -1.0])
    term = jnp.array([False, True, False])
    q_next = jnp.array([10.0, 20.0, 4.0])
    logp = jnp.array([-1.0, 3.0, 2.0])
    np.testing.assert_allclose(sac.td_target(r, term, 0.5, q_next), [6.0, 2.0, 1.0])
    # soft: 1 + .5 (10 + .2) ; terminal: no bootstrap ; -1 + .5 (4 - .4)
    np.testing.assert_allclose(sac.td_target(r, term, 0.5, q_next, jnp.float32(0.2), logp),
                               [6.1, 2.0, 0.8], rtol=1e-6)


def _tiny_learner(backup_entropy):
    cfg = sac.SACConfig(num_bc_iters=0, actor_hidden_sizes=(4,), critic_hidden_sizes=(4,),
                        backup_entropy=backup_entropy, init_alpha=0.5, discount=0.9)
    return sac.make_learner(cfg, sac.MLPCritic(cfg.critic_hidden_sizes), 2, 1), cfg


@pytest.mark.parametrize("backup_entropy", [False, True])
def test_learner_critic_loss_uses_the_soft_target(backup_entropy):
    """The learner's TD loss equals ``C mean (Q_i(s, a) - y)^2`` with ``y`` rebuilt by
    hand from its own networks: the first transition truncated (bootstraps from its
    ``s'``), the second terminated (``y = r``)."""
    learner, cfg = _tiny_learner(backup_entropy)
    state = learner.init(jax.random.PRNGKey(0))
    batch = OfflineDataset(jnp.array([[0.1, 0.2], [0.3, -0.4]]), jnp.array([[0.5], [-0.2]]),
                           jnp.array([1.0, 2.0]), jnp.array([[3.0, 1.0], [0.0, 1.0]]),
                           jnp.array([False, True]), jnp.array([True, False]))
    _, metrics = jax.jit(learner.sgd_step)(state, batch)
    key_next = jax.random.split(state.key, 8)[1]
    dist = tanh_gaussian(*learner.actor.apply(state.actor.params, batch.next_observations))
    a_next, logp = dist.sample_and_log_prob(seed=key_next)
    q_next = np.min(np.asarray(learner.critic_apply(state.target_critic_params,
                                                    batch.next_observations, a_next)), 0)
    v_next = q_next - 0.5 * np.asarray(logp) if backup_entropy else q_next
    y = np.array([1.0 + 0.9 * v_next[0], 2.0])
    q = np.asarray(learner.critic_apply(state.critic.params, batch.observations,
                                        batch.actions))
    np.testing.assert_allclose(metrics["critic_loss"], 2 * np.mean((q - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(metrics["alpha"], 0.5, rtol=1e-6)


def test_fixed_temperature_stays_at_init_alpha():
    cfg = sac.SACConfig(num_bc_iters=0, actor_hidden_sizes=(4,), critic_hidden_sizes=(4,),
                        init_alpha=0.3, learnable_temperature=False)
    learner = sac.make_learner(cfg, sac.MLPCritic((4,)), 2, 1)
    state = learner.init(jax.random.PRNGKey(0))
    batch = OfflineDataset(jnp.ones((4, 2)), jnp.zeros((4, 1)), jnp.ones(4), jnp.ones((4, 2)),
                           jnp.zeros(4, bool), jnp.zeros(4, bool))
    step = jax.jit(learner.sgd_step)
    for _ in range(2):
        state, _ = step(state, batch)
    np.testing.assert_allclose(np.exp(state.alpha.params["log_alpha"]), 0.3, rtol=1e-6)


@pytest.mark.parametrize("low, high", [((-2.0,), (2.0,)), ((0.0, -1.0), (1.0, 3.0))])
def test_warmup_actions_uniform_within_bounds(low, high):
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    a = np.asarray(sac_online.rescale_action(
        sac_online.warmup_action(jax.random.PRNGKey(0), 20_000, len(low)), low, high))
    assert a.shape == (20_000, len(low))
    assert (a >= low).all() and (a <= high).all()
    assert (np.abs(a.mean(0) - (low + high) / 2) < 0.03 * (high - low)).all()
    np.testing.assert_allclose(a.std(0), (high - low) / np.sqrt(12), rtol=0.03)
    # each quarter of the box gets a quarter of the draws
    quarters = np.floor((a - low) / (high - low) * 4).clip(0, 3)
    for d in range(len(low)):
        np.testing.assert_allclose(np.bincount(quarters[:, d].astype(int), minlength=4) /
                                   len(a), 0.25, atol=0.02)


@pytest.mark.parametrize("env, expected", [
    (None, "env action space: expected a 1-D bounded Box"),
    (ToyEnv(low=(-np.inf,), high=(1.0,)), "a Box with finite low and high"),
    (ToyEnv(low=-1.0, high=1.0, shape=(1, 2)), "a 1-D Box [A]"),
])
def test_bad_action_space_fails_before_compiling(env, expected):
    params = ()
    if env is None:
        env, params = envs_jax.make("gymnax/CartPole-v1")
    with pytest.raises(ValueError, match=None) as err:
        sac_online.make_train_parts(TINY, env, params)
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("change, expected", [
    (dict(replay_buffer_size=4), "replay_buffer_size: expected at least"),
    (dict(num_envs=0), "num_envs: expected"),
    (dict(learning_starts=-1), "learning_starts: expected an int >= 0"),
    (dict(init_alpha=0.0), "init_alpha: expected a positive number"),
    (dict(discount=1.5), "discount: expected a number in [0, 1]"),
    (dict(polyak_tau=None), "polyak_tau: expected a number in (0, 1]"),
    (dict(num_bc_iters=10), "num_bc_iters: expected 0"),
])
def test_bad_config_values(change, expected):
    import dataclasses

    with pytest.raises(ValueError) as err:
        dataclasses.replace(TINY, **change)
    assert expected in str(err.value)


PENDULUM = sac_online.Config(num_envs=4, num_updates=2500, sgd_steps_per_call=2,
                             learning_starts=1000, replay_buffer_size=50_000,
                             actor_hidden_sizes=(64, 64), critic_hidden_sizes=(64, 64),
                             policy_lr=1e-3, q_lr=1e-3, alpha_lr=1e-3, eval_every=500,
                             num_eval_episodes=16)


def test_pendulum_learns():
    """Two seeds vmapped: deterministic evaluation return >= -250 after 10k env steps and
    5000 SGD steps (random policy: about -1200; solved: about -150)."""
    env, params = envs_jax.make("gymnax/Pendulum-v1")
    train = sac_online.make_train(PENDULUM, env, params, "gymnax/Pendulum-v1")
    t0 = time.perf_counter()
    out = jax.jit(jax.vmap(train))(jax.random.split(jax.random.PRNGKey(0), 2))
    ev = np.asarray(out.metrics["eval/return"])
    seconds = time.perf_counter() - t0
    evals = ev[:, np.isfinite(ev[0])]                                  # [S, 5]
    print(f"pendulum eval returns {evals.round(1).tolist()} in {seconds:.1f} s")
    assert evals.shape == (2, 5)
    assert evals[:, 0].mean() < -600                                   # learning, not luck
    assert evals[:, -1].mean() >= -250, evals


@pytest.mark.slow
def test_halfcheetah_short_run_learns_above_random():
    """MJX halfcheetah, 16 envs x 2000 updates (32k env steps, 8000 SGD steps): metrics
    finite, and the deterministic policy beats a uniform random one on the same episodes
    (random: about -250 per 1000 steps, mostly control cost) by 300. Measured on the loaded
    2-core CPU (7.5 min, ~5 of them compiling): evaluations -141 then +428, random -248
    (with Adam 3e-4 and init_alpha 1 instead: -20, -50: too slow a start for this length)."""
    from envs_jax.policy import evaluate_episodes, feed_forward

    env, params = envs_jax.make("halfcheetah")
    cfg = sac_online.Config(num_envs=16, num_updates=2000, sgd_steps_per_call=4,
                            learning_starts=5000, replay_buffer_size=100_000,
                            actor_hidden_sizes=(128, 128), critic_hidden_sizes=(128, 128),
                            policy_lr=1e-3, q_lr=1e-3, alpha_lr=1e-3, init_alpha=0.1,
                            eval_every=1000, num_eval_episodes=2)
    train = sac_online.make_train(cfg, env, params, "halfcheetah")
    out = jax.jit(train)(jax.random.PRNGKey(0))
    for name, v in out.metrics.items():
        if not name.startswith("eval/"):
            assert np.isfinite(np.asarray(v)).all(), name
    ev = np.asarray(out.metrics["eval/return"])
    ev = ev[np.isfinite(ev)]
    uniform = feed_forward(lambda key, obs: jax.random.uniform(
        key, (obs.shape[0], 6), minval=-1.0, maxval=1.0))
    random_return = float(jnp.mean(jax.jit(lambda k: evaluate_episodes(
        env, params, uniform, k, 2, 1000).returns)(jax.random.PRNGKey(1))))
    print(f"halfcheetah eval returns {ev.round(1).tolist()}, random {random_return:.1f}")
    assert ev[-1] > random_return + 300, (ev, random_return)
