"""AMP against hand-computed values (losses, gradient penalty, reward, mixing, the replay
keep rule, the masked FIFO add), its config checks, and one tiny compiled run that checks
the buffers, the one optimiser and ``jit(vmap(train))``."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.experts import pendulum_swingup
from envs_jax.wrappers import AutoReset, RecordEpisodeStats, VecEnv
from purerl.algos import amp, ppo
from purerl.common import buffers
from purerl.common.networks import GaussianActorCritic


def softplus(x):
    return math.log(1.0 + math.exp(x))


def test_bce_loss_is_half_the_sum_of_the_two_cross_entropies():
    d_agent, d_demo = jnp.array([0.0, 2.0]), jnp.array([1.0, -1.0])
    # BCE(d, 0) = -log(1 - sigmoid(d)) = log(1 + e^d); BCE(d, 1) = log(1 + e^-d).
    agent = (math.log(2.0) + softplus(2.0)) / 2           # (0.693147 + 2.126928) / 2
    demo = (softplus(-1.0) + softplus(1.0)) / 2           # (0.313262 + 1.313262) / 2
    expected = 0.5 * (agent + demo)
    assert expected == pytest.approx(1.111650, abs=1e-6)
    assert float(amp.prediction_loss(d_agent, d_demo, "bce")) == pytest.approx(expected, 1e-6)


def test_lsgan_loss_is_the_papers_least_squares():
    d_agent, d_demo = jnp.array([0.0, 2.0]), jnp.array([1.0, -1.0])
    # mean((d_demo - 1)^2) = (0 + 4) / 2 = 2; mean((d_agent + 1)^2) = (1 + 9) / 2 = 5.
    assert float(amp.prediction_loss(d_agent, d_demo, "lsgan")) == pytest.approx(7.0)


def test_gradient_penalty_of_known_functions():
    x = jnp.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
    w = jnp.array([0.5, -2.0])
    # linear d = w.x + 1: grad = w everywhere, so the penalty is |w|^2 = 4.25.
    gp, logits = amp.gradient_penalty(lambda v: v @ w + 1.0, x)
    assert float(gp) == pytest.approx(4.25)
    np.testing.assert_allclose(logits, [-2.5, 3.0, 1.5])
    # d = sum(v^2): grad = 2 v, |2 v|^2 = 4 |v|^2 = (20, 4, 37), mean 61 / 3.
    gp, _ = amp.gradient_penalty(lambda v: jnp.sum(v ** 2, -1), x)
    assert float(gp) == pytest.approx(61.0 / 3.0, rel=1e-6)
    # It is differentiable in the function's parameters (double backprop): for d = a v.w,
    # gp = a^2 |w|^2, d gp / d a = 2 a |w|^2 = 2 * 3 * 4.25.
    grad = jax.grad(lambda a: amp.gradient_penalty(lambda v: a * (v @ w), x)[0])(3.0)
    assert float(grad) == pytest.approx(25.5, rel=1e-6)


def test_bce_reward_is_minus_log_one_minus_d_with_the_floor():
    logits = jnp.array([0.0, -3.0, 20.0])
    reward = amp.style_reward(logits, "bce", 2.0)
    # d = 0: 2 * log 2; d = -3: 2 * log(1 + e^-3); d = 20: 1 - sigmoid < 1e-4 -> 2 * -log(1e-4).
    np.testing.assert_allclose(reward, [2 * math.log(2.0), 2 * softplus(-3.0),
                                        -2 * math.log(1e-4)], rtol=1e-5)
    assert float(reward[2]) == pytest.approx(18.420681, rel=1e-6)


def test_lsgan_reward_is_clipped_at_zero():
    logits = jnp.array([1.0, 2.0, 3.0, -1.0, 5.0])
    # max(0, 1 - 0.25 (d - 1)^2) = 1, 0.75, 0, 0, max(0, -3) = 0; x scale 0.5.
    np.testing.assert_allclose(amp.style_reward(logits, "lsgan", 0.5),
                               [0.5, 0.375, 0.0, 0.0, 0.0])


def test_reward_mixing():
    task, style = jnp.array([1.0, -2.0]), jnp.array([0.5, 3.0])
    np.testing.assert_allclose(amp.mix_rewards(task, style, 0.0, 1.0), [0.5, 3.0])
    np.testing.assert_allclose(amp.mix_rewards(task, style, 0.3, 2.0), [1.3, 5.4])


def test_replay_keep_probability():
    key = jax.random.PRNGKey(0)
    # At most capacity pairs stored so far (rl_games: total_count > buffer_size is the test):
    # every new pair is kept, whatever the probability.
    assert bool(amp.replay_keep(key, jnp.int32(100), 100, 1000, 0.0).all())
    assert bool(amp.replay_keep(key, jnp.int32(0), 100, 1000, 0.0).all())
    # Past it, each with keep_prob: 0 keeps none, 1 all, 0.01 about 1% (5 sigma band).
    assert not bool(amp.replay_keep(key, jnp.int32(101), 100, 1000, 0.0).any())
    assert bool(amp.replay_keep(key, jnp.int32(101), 100, 1000, 1.0).all())
    n, p = 200_000, 0.01
    frac = float(amp.replay_keep(key, jnp.int32(101), 100, n, p).mean())
    assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n), frac


def test_add_masked_is_a_fifo_of_the_kept_items():
    example = jnp.zeros((2,), jnp.float32)
    buf = buffers.make_replay_buffer(5, 1, 4, example)
    state = buf.init(example)
    items = jnp.arange(12, dtype=jnp.float32).reshape(6, 2)      # item i = (2i, 2i + 1)
    keep = jnp.array([True, False, True, True, False, True])    # items 0, 2, 3, 5
    state = buffers.add_masked(state, items, keep)
    stored = np.asarray(state.experience[0, :, 0]) / 2
    np.testing.assert_array_equal(stored[:4], [0, 2, 3, 5])
    assert int(state.current_index) == 4 and not bool(state.is_full)
    # Three more kept: positions 4, 0, 1 (wrap-around, oldest overwritten first).
    state = buffers.add_masked(state, items + 100, jnp.array([1, 1, 0, 0, 0, 1], bool))
    np.testing.assert_array_equal(np.asarray(state.experience[0, :, 0]),
                                  [102, 110, 6, 10, 100])
    assert int(state.current_index) == 2 and bool(state.is_full)
    # Nothing kept: nothing changes.
    same = buffers.add_masked(state, items, jnp.zeros(6, bool))
    np.testing.assert_array_equal(same.experience, state.experience)
    # More kept than capacity at once: the last 5 win, as adding them one by one would.
    state = buffers.add_masked(buf.init(example), items, jnp.ones(6, bool))
    np.testing.assert_array_equal(np.asarray(state.experience[0, :, 0]) / 2, [5, 1, 2, 3, 4])
    assert int(state.current_index) == 1 and bool(state.is_full)
    # flashbax's sample reads it: only stored items come back.
    part = buffers.add_masked(buf.init(example), items, jnp.array([1, 0, 0, 0, 0, 1], bool))
    got = np.asarray(buf.sample(part, jax.random.PRNGKey(3)).experience[:, 0]) / 2
    assert set(got.tolist()) <= {0.0, 5.0}
    with pytest.raises(ValueError, match=r"keep.shape: expected \[B\] = \[6\]"):
        buffers.add_masked(state, items, jnp.ones(5, bool))


@pytest.mark.parametrize("field, value, message", [
    ("amp_replay_keep_prob", 1.5, "amp_replay_keep_prob: expected a number in [0, 1], got 1.5"),
    ("amp_batch_size", 0, "amp_batch_size: expected a positive integer, got 0"),
    ("disc_loss", "wgan", "disc_loss: expected one of 'bce', 'lsgan', got 'wgan'"),
    ("disc_grad_penalty", -1.0, "disc_grad_penalty: expected a non-negative number"),
    ("disc_units", (), "disc_units: expected one or more positive layer widths"),
    ("disc_activation", "mish", "disc_activation: expected one of"),
    ("disc_coef", float("nan"), "disc_coef: expected a finite number"),
])
def test_config_errors_name_the_field(field, value, message):
    with pytest.raises(ValueError) as err:
        amp.AMPConfig(**{field: value})
    assert message in str(err.value)


# ------------------------------------------------------------------ one tiny compiled run

PPO = ppo.PPOConfig(num_envs=8, num_steps=64, num_updates=4, num_minibatches=2,
                    update_epochs=1, learning_rate=1e-3, ent_coef=0.0, clip_value=False)
# 512 agent pairs per update into a 1024-pair replay with keep_prob 0: the 1st, 2nd and
# 3rd updates store everything (stored 0, 512, 1024 <= 1024), the 4th nothing.
AMP = amp.AMPConfig(amp_obs_demo_buffer_size=1000, amp_replay_buffer_size=1024,
                    amp_replay_keep_prob=0.0, amp_batch_size=300, amp_minibatch_size=128,
                    disc_units=(16,))


def _setup(cfg=AMP, ppo_cfg=PPO):
    env, params = envs_jax.make("gymnax/Pendulum-v1")
    vec = VecEnv(AutoReset(RecordEpisodeStats(env)), ppo_cfg.num_envs)
    pairs = jax.jit(lambda k: amp.rollout_pairs(env, params, pendulum_swingup, k, 4, 50))(
        jax.random.PRNGKey(1))
    net = amp.make_net(cfg, GaussianActorCritic(1, (16,)), 6)
    return env, vec, params, net, pairs


def test_tiny_run_buffers_optimiser_and_vmapped_seeds():
    _, vec, params, net, pairs = _setup()
    assert pairs.shape == (200, 6)
    # rows are [T, N] flattened: env 0 at t = 1 (row 4) follows env 0 at t = 0 (row 0)
    np.testing.assert_allclose(pairs[4, 3:], pairs[0, :3])     # [current, previous] chain
    parts = amp.make_train_parts(PPO, AMP, vec, params, net, amp.demo_from_array(pairs))
    def init_and_run(key):
        state = parts.init(key)
        return state, parts.run_updates(state, PPO.num_updates)

    run = jax.jit(jax.vmap(init_and_run))
    init, (state, metrics) = run(jax.random.split(jax.random.PRNGKey(0), 2))
    a0, a = init.aux, state.aux
    # Demo buffer prefilled by ceil(1000 / 300) = 4 fetches of 300 (ring: index 200), then
    # 300 fresh pairs per update: (1200 + 4 * 300) mod 1000 = 400; all rows are demo rows.
    assert int(a0.demo.current_index[0]) == 200 and bool(a0.demo.is_full[0])
    assert int(a.demo.current_index[0]) == 400
    rows = {tuple(r) for r in np.asarray(pairs).round(5)}
    assert all(tuple(r) in rows for r in np.asarray(a.demo.experience[0, 0, :50]).round(5))
    # Replay: 3 stores of 512 (index 512, 0, 512), the 4th kept nothing.
    assert int(a.replay_stored[0]) == AMP.amp_replay_buffer_size + 1
    assert int(a.replay.current_index[0]) == 512 and bool(a.replay.is_full[0])
    # The one optimiser moved the discriminator; the logit layer started in U(-1, 1).
    disc0 = init.train_state.params["params"]["discriminator"]
    disc1 = state.train_state.params["params"]["discriminator"]
    assert float(jnp.abs(disc1["logit"]["kernel"] - disc0["logit"]["kernel"]).max()) > 1e-4
    assert float(jnp.abs(disc0["logit"]["kernel"]).max()) <= 1.0
    assert float(jnp.abs(disc0["logit"]["bias"]).max()) == 0.0
    # Metrics per seed and update; the seeds differ.
    for name in ("extra/disc_loss", "extra/disc_grad_penalty", "extra/style_reward",
                 "extra/disc_agent_acc", "extra/disc_demo_acc"):
        assert metrics[name].shape == (2, PPO.num_updates), name
        assert np.isfinite(np.asarray(metrics[name])).all(), name
    assert float(metrics["extra/disc_loss"][0, 0]) != float(metrics["extra/disc_loss"][1, 0])
    # The normaliser took 3 x P = 3 x 2 x 128 pairs per update.
    assert float(a.amp_stats.count[0]) == 4 * 3 * 2 * 128
    # The style reward stored for the last rollout is that of bce: >= 0, <= 2 * 9.21.
    sr = np.asarray(a.style_reward)
    assert sr.shape == (2, PPO.num_steps, PPO.num_envs) and (sr >= 0).all()
    assert (sr <= -2 * math.log(1e-4) + 1e-4).all()


def test_make_train_parts_checks_sizes_before_tracing():
    _, vec, params, net, pairs = _setup()
    small = dataclasses.replace(AMP, amp_replay_buffer_size=100)
    with pytest.raises(ValueError, match="amp_replay_buffer_size: expected at least the 256 "
                                         "pairs drawn per update"):
        amp.make_train_parts(PPO, small, vec, params, net, amp.demo_from_array(pairs))
    with pytest.raises(ValueError, match=r"demo_fn: expected pairs \[n, 6\]"):
        amp.make_train_parts(PPO, AMP, vec, params, net, amp.demo_from_array(pairs[:, :4]))
    with pytest.raises(ValueError, match="actor_critic: expected a feed-forward"):
        from purerl.common.networks import GRUActorCritic
        amp.make_net(AMP, GRUActorCritic(2, 8), 6)
