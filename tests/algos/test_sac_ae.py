"""SAC+AE (``purerl.algos.sac_ae``): shapes, the gradient-flow rules of the spec checked
directly on each part of the update, the reconstruction target against hand values, the
update frequencies and Polyak rates, a few agent steps from pixels, the variants, and (slow)
learning on the pixel pendulum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs_jax.pixels import make_pixel_env
from purerl.algos import sac_ae
from purerl.common.experiment import run_sweep
from purerl.common.frame_buffer import PixelBatch

SIZE = 16
TINY = dict(num_layers=2, num_filters=4, hidden_size=16, feature_dim=8, sgd_batch_size=8,
            replay_buffer_size=64, learning_starts=4, eval_every=0)


def _leaves_equal(a, b) -> bool:
    return all(bool(jnp.array_equal(x, y)) for x, y in
               zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def _all_leaves_changed(a, b) -> bool:
    """Every weight matrix / kernel (ndim >= 2) of the tree changed."""
    pairs = [(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
             if x.ndim >= 2]
    return bool(pairs) and all(not bool(jnp.array_equal(x, y)) for x, y in pairs)


@pytest.fixture(scope="module")
def setup():
    """A tiny learner on 16x16 pendulum stacks, its jitted parts, and a real pixel batch."""
    env, params = make_pixel_env("pendulum_swingup", image_size=SIZE)
    cfg = sac_ae.Config(**TINY)
    learner = sac_ae.make_learner(cfg, (SIZE, SIZE, 9), 1)
    keys = jax.random.split(jax.random.PRNGKey(0), 9)
    obs = []
    o, st = env.reset(keys[0], params)
    for i in range(9):
        ts = env.step(keys[i], st, jnp.array([2.0 * (-1) ** i]), params)
        obs.append(o)
        o, st = ts.obs, ts.state
    obs.append(o)
    obs = jnp.stack(obs)                                              # [10, 16, 16, 9]
    batch = PixelBatch(obs[:8], jax.random.uniform(keys[1], (8, 1), minval=-1, maxval=1),
                       jnp.linspace(-2.0, 0.0, 8), obs[1:9], jnp.zeros(8, bool))
    state = jax.jit(learner.init)(keys[2], obs[0])
    parts = {name: jax.jit(getattr(learner, name)) for name in
             ("critic_step", "actor_step", "decoder_step")}
    parts["target_step"] = jax.jit(learner.target_step)
    parts["update"] = jax.jit(learner.update)
    return dict(cfg=cfg, learner=learner, batch=batch, state=state, parts=parts, env=env,
                params=params)


def test_shapes_and_ranges(setup):
    nets, state, batch = setup["learner"].nets, setup["state"], setup["batch"]
    p = state.params

    @jax.jit
    def forward(p, batch):
        h = nets.encode(p, "critic_head", batch.obs, False)
        return (h, nets.actor(p, batch.obs), nets.critic(p, batch.obs, batch.action, False),
                nets.decode(p, h))

    h, (mu, log_std), q, rec = forward(p, batch)
    assert h.shape == (8, 8) and bool(jnp.all(jnp.abs(h) < 1))       # tanh features
    assert mu.shape == log_std.shape == (8, 1)
    assert bool(jnp.all((log_std >= -10) & (log_std <= 2)))
    assert q.shape == (8, 2)
    assert rec.shape == (8, SIZE, SIZE, 9)
    # shared convs: one set of conv parameters, two heads
    assert set(p) == {"convs", "critic_head", "actor_head", "actor_mlp", "q", "decoder"}
    assert set(state.target) == {"convs", "critic_head", "q"}
    assert _leaves_equal(state.target, {k: p[k] for k in ("convs", "critic_head", "q")})


def test_full_size_shapes():
    """84x84x9 -> convs 41, 39, 37, 35 (39200 features); decoder back to 84x84x9."""
    cfg = sac_ae.Config()
    nets = sac_ae.make_networks(cfg, (84, 84, 9), 6)
    shapes = jax.eval_shape(lambda k, o: nets.init(k, o, 6), jax.random.PRNGKey(0),
                            jax.ShapeDtypeStruct((84, 84, 9), jnp.uint8))
    assert shapes["critic_head"]["params"]["Dense_0"]["kernel"].shape == (39200, 50)
    obs = jax.ShapeDtypeStruct((2, 84, 84, 9), jnp.uint8)
    h = jax.eval_shape(lambda p, o: nets.encode(p, "critic_head", o, False), shapes, obs)
    assert h.shape == (2, 50)
    assert jax.eval_shape(nets.decode, shapes, h).shape == (2, 84, 84, 9)
    mu = jax.eval_shape(nets.actor, shapes, obs)[0]
    assert mu.shape == (2, 6)
    assert shapes["actor_mlp"]["params"]["Dense_0"]["kernel"].shape == (50, 1024)
    assert shapes["q"]["params"]["Dense_0"]["kernel"].shape == (56, 1024)


def test_squash_log_std_hand_values():
    out = sac_ae.squash_log_std(jnp.array([0.0, 50.0, -50.0, np.arctanh(0.5)]), -10.0, 2.0)
    np.testing.assert_allclose(out, [-4.0, 2.0, -10.0, -1.0], atol=1e-5)


def test_reconstruction_target_hand_values():
    obs = jnp.array([0, 7, 8, 100, 255], jnp.uint8)
    key = jax.random.PRNGKey(3)
    noise = jax.random.uniform(key, (5,))
    # floor(obs / 8) = 0, 0, 1, 12, 31
    expected = np.array([0, 0, 1, 12, 31]) / 32 + np.asarray(noise) / 32 - 0.5
    np.testing.assert_allclose(sac_ae.reconstruction_target(obs, key), expected, atol=1e-6)
    big = jax.random.randint(key, (1000,), 0, 256).astype(jnp.uint8)
    t = sac_ae.reconstruction_target(big, jax.random.PRNGKey(4))
    assert float(t.min()) >= -0.5 and float(t.max()) < 0.5


def test_sample_action_log_prob_hand_values():
    """log pi = sum(-eps^2/2 - log_std) - A/2 log 2 pi - sum log(relu(1 - a^2) + 1e-6)."""
    mu, log_std = jnp.array([[0.3, -0.2]]), jnp.array([[-1.0, 0.5]])
    key = jax.random.PRNGKey(7)
    eps = np.asarray(jax.random.normal(key, (1, 2)))
    a = np.tanh(np.asarray(mu) + np.exp(np.asarray(log_std)) * eps)
    expected = (np.sum(-0.5 * eps ** 2 - np.asarray(log_std)) - np.log(2 * np.pi)
                - np.sum(np.log(np.maximum(1 - a ** 2, 0) + 1e-6)))
    got_a, got_lp = sac_ae.sample_action(mu, log_std, key)
    np.testing.assert_allclose(got_a, a, rtol=1e-5)
    np.testing.assert_allclose(got_lp, [expected], atol=1e-4)


def test_actor_update_leaves_shared_convs_untouched(setup):
    s, batch = setup["state"], setup["batch"]
    new, metrics = setup["parts"]["actor_step"](s, batch, jax.random.PRNGKey(1))
    for name in ("convs", "critic_head", "q", "decoder"):
        assert _leaves_equal(new.params[name], s.params[name]), name
    assert _all_leaves_changed(s.params["actor_mlp"], new.params["actor_mlp"])
    assert _all_leaves_changed(s.params["actor_head"], new.params["actor_head"])
    assert float(new.log_alpha) != float(s.log_alpha)
    assert np.isfinite(float(metrics["actor_loss"]))


def test_actor_objective_has_zero_gradient_on_convs(setup):
    """The detach itself, not only the optimiser's scope: d L_pi / d convs == 0, while the
    actor's own encoder head gets a gradient."""
    nets, s, batch = setup["learner"].nets, setup["state"], setup["batch"]

    def actor_loss(p):
        a, log_pi = sac_ae.sample_action(*nets.actor(p, batch.obs), jax.random.PRNGKey(2))
        return jnp.mean(0.1 * log_pi - jnp.min(nets.critic(p, batch.obs, a, True), -1))

    grads = jax.jit(jax.grad(actor_loss))(s.params)
    assert all(bool(jnp.all(g == 0)) for g in jax.tree.leaves(grads["convs"]))
    assert any(bool(jnp.any(g != 0)) for g in jax.tree.leaves(grads["actor_head"]))


def test_decoder_update_moves_critic_encoder(setup):
    s, batch = setup["state"], setup["batch"]
    new, metrics = setup["parts"]["decoder_step"](s, batch, jax.random.PRNGKey(1))
    assert _all_leaves_changed(s.params["convs"], new.params["convs"])
    assert _all_leaves_changed(s.params["critic_head"], new.params["critic_head"])
    assert _all_leaves_changed(s.params["decoder"], new.params["decoder"])
    for name in ("actor_head", "actor_mlp", "q"):
        assert _leaves_equal(new.params[name], s.params[name]), name
    assert _leaves_equal(new.target, s.target)
    assert float(metrics["ae_loss"]) > 0


def test_critic_update_moves_encoder_and_heads_and_so_the_actor(setup):
    s, batch = setup["state"], setup["batch"]
    new, metrics = setup["parts"]["critic_step"](s, batch, jax.random.PRNGKey(1))
    for name in ("convs", "critic_head", "q"):
        assert _all_leaves_changed(s.params[name], new.params[name]), name
    for name in ("actor_head", "actor_mlp", "decoder"):
        assert _leaves_equal(new.params[name], s.params[name]), name
    # the actor reads the critic's convs: its output moved though its own params did not
    nets = setup["learner"].nets
    assert not bool(jnp.allclose(nets.actor(s.params, batch.obs)[0],
                                 nets.actor(new.params, batch.obs)[0]))
    assert np.isfinite(float(metrics["critic_loss"]))


def test_target_polyak_rates(setup):
    s = setup["state"]
    online = jax.tree.map(lambda x: x + 1.0, s.params)       # online = target + 1
    new = setup["parts"]["target_step"](s._replace(params=online))
    q_old, q_new = (jax.tree.leaves(t["q"])[1] for t in (s.target, new.target))
    np.testing.assert_allclose(q_new - q_old, 0.01, atol=1e-6)               # critic_tau
    c_old, c_new = (jax.tree.leaves(t["convs"])[1] for t in (s.target, new.target))
    np.testing.assert_allclose(c_new - c_old, 0.05, atol=1e-6)               # encoder_tau
    h_old, h_new = (jax.tree.leaves(t["critic_head"])[0] for t in (s.target, new.target))
    np.testing.assert_allclose(h_new - h_old, 0.05, atol=1e-6)


def test_update_frequencies(setup):
    """Odd step: critic + decoder only; even step: actor, temperature and targets too."""
    s, batch, update = setup["state"], setup["batch"], setup["parts"]["update"]
    odd, m_odd = update(s, batch, jax.random.PRNGKey(5), jnp.int32(3))
    assert float(m_odd["actor_updates"]) == 0 and float(m_odd["decoder_updates"]) == 1
    assert _leaves_equal(odd.params["actor_mlp"], s.params["actor_mlp"])
    assert _leaves_equal(odd.target, s.target) and float(odd.log_alpha) == float(s.log_alpha)
    assert not _leaves_equal(odd.params["decoder"], s.params["decoder"])
    even, m_even = update(s, batch, jax.random.PRNGKey(5), jnp.int32(4))
    assert float(m_even["actor_updates"]) == 1
    assert not _leaves_equal(even.params["actor_mlp"], s.params["actor_mlp"])
    assert not _leaves_equal(even.target, s.target)
    # same key and step parity: the critic part is the same computation
    np.testing.assert_allclose(m_odd["critic_loss"], m_even["critic_loss"], rtol=1e-6)


@pytest.fixture(scope="module")
def short_run():
    """Two vmapped seeds x 12 agent steps from pixels (learning_starts 4: a burst of 4
    updates at step 4, then 1 per step), through run_sweep."""
    env, params = make_pixel_env("pendulum_swingup", image_size=SIZE)
    cfg = sac_ae.Config(num_updates=12, **{**TINY, "eval_every": 6,
                                           "num_eval_episodes": 2})
    parts = sac_ae.make_train_parts(cfg, env, params)
    return parts, run_sweep(parts.init, parts.run_updates, 0, 2, 12, 12)


@pytest.mark.slow
def test_tiny_run_from_pixels(short_run):
    parts, result = short_run
    m = result.metrics
    np.testing.assert_array_equal(m["sgd_steps"][0], [0, 0, 0, 0, 4, 1, 1, 1, 1, 1, 1, 1])
    # the burst runs at step 4 (even): its 4 updates all update the actor, as the seed's
    np.testing.assert_array_equal(m["actor_updates"][0], [0, 0, 0, 0, 4, 0, 1, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(m["decoder_updates"][0], m["sgd_steps"][0])
    assert np.all(np.isfinite(m["critic_loss_sum"])) and np.all(m["ae_loss_sum"][:, 4:] > 0)
    np.testing.assert_array_equal(m["env_steps"][0], 2 * np.arange(1, 13))   # R = 2
    ev = m["eval/return"][0]
    assert np.isnan(ev[[0, 1, 2, 3, 4, 6]]).all() and np.isfinite(ev[[5, 11]]).all()
    assert result.state.buffer.count.tolist() == [12, 12]
    assert result.state.step.tolist() == [12, 12]
    # two seeds, two different runs in one compile
    assert not np.allclose(m["critic_loss_sum"][0, 4:], m["critic_loss_sum"][1, 4:])


@pytest.mark.slow
def test_variants_identity_encoder_and_no_decoder():
    env, params = make_pixel_env("pendulum_swingup", pixels=False)
    state_cfg = sac_ae.Config(num_updates=6, encoder_type="identity", decoder_type="identity",
                              **TINY)
    parts = sac_ae.make_train_parts(state_cfg, env, params)
    state, m = jax.jit(lambda s: parts.run_updates(s, 6))(
        jax.jit(parts.init)(jax.random.PRNGKey(0)))
    assert state.learner.params["convs"] == {} and state.learner.params["decoder"] == {}
    np.testing.assert_array_equal(m["sgd_steps"], [0, 0, 0, 0, 4, 1])
    assert np.all(np.asarray(m["ae_loss_sum"]) == 0) and np.all(np.isfinite(m["critic_loss_sum"]))
    nets = sac_ae.make_networks(sac_ae.Config(decoder_type="identity", **TINY), (SIZE, SIZE, 9), 1)
    p = nets.init(jax.random.PRNGKey(0), jnp.zeros((SIZE, SIZE, 9), jnp.uint8), 1)
    assert p["decoder"] == {} and p["convs"] != {}


@pytest.mark.parametrize("bad, field", [
    (dict(encoder_type="identity", decoder_type="pixel"), "decoder_type"),
    (dict(encoder_type="conv"), "encoder_type"),
    (dict(actor_update_every=0), "actor_update_every"),
    (dict(log_std_min=3.0), "log_std_min"),
    (dict(reconstruction_bits=9), "reconstruction_bits"),
])
def test_config_errors(bad, field):
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        sac_ae.Config(**bad)


def test_observations_must_fit_encoder():
    env, params = make_pixel_env("pendulum_swingup", pixels=False)
    with pytest.raises(ValueError, match="square images"):
        sac_ae.make_train_parts(sac_ae.Config(**TINY), env, params)


def _random_return_and_evals(task, image_size, action_bound, episodes, episode_steps,
                             config, segment):
    """The mean return of uniform random actions in [-bound, bound] on ``task`` (key 1),
    and the finite evaluation returns of one SAC+AE seed trained with ``config`` through
    run_sweep in segments of ``segment`` agent steps."""
    from envs_jax.policy import evaluate_episodes, feed_forward

    env, params = make_pixel_env(task, image_size=image_size)
    act_dim = env.action_space(params).shape[0]
    random = feed_forward(lambda key, obs: jax.random.uniform(
        key, (obs.shape[0], act_dim), minval=-action_bound, maxval=action_bound))
    random_return = float(jnp.mean(jax.jit(lambda k: evaluate_episodes(
        env, params, random, k, episodes, episode_steps).returns)(jax.random.PRNGKey(1))))
    cfg = sac_ae.Config(**config)
    parts = sac_ae.make_train_parts(cfg, env, params)
    result = run_sweep(parts.init, parts.run_updates, 0, 1, cfg.num_updates, segment)
    evals = result.metrics["eval/return"][0]
    return random_return, evals[np.isfinite(evals)]


LEARN = dict(num_updates=6000, learning_starts=500, replay_buffer_size=6000, sgd_batch_size=32,
             hidden_size=64, num_layers=2, num_filters=8, eval_every=500, num_eval_episodes=5)
"""Measured (2-core CPU, load ~11, seed 0): compile 67 s, 6000 agent steps 236 s; eval
returns at 4500..6000 steps -354, -753, -175, -204 (mean -371); random actions about -1250."""


@pytest.mark.slow
def test_learns_pendulum_from_16px_images():
    """SAC+AE from 16x16x9 pixel stacks of the pendulum swing-up (action repeat 2, 100-step
    episodes): the mean of the last four evaluations beats uniform random actions by 500."""
    random_return, evals = _random_return_and_evals("pendulum_swingup", SIZE, 2.0, 20, 100,
                                                    LEARN, 1500)
    assert -1500 < random_return < -1000                 # the pendulum's random level
    assert len(evals) == 12
    assert evals[-4:].mean() > random_return + 500, (evals, random_return)


POINT_MASS = dict(num_updates=1000, learning_starts=200, replay_buffer_size=1000,
                  sgd_batch_size=32, hidden_size=64, feature_dim=16, num_layers=2,
                  num_filters=8, eval_every=100, num_eval_episodes=10)


def test_learns_point_mass_from_12px_images():
    """SAC+AE from 12x12x9 pixel stacks of the point-mass reach (action repeat 2, 25 agent
    steps per episode), 1000 agent steps: the mean of the last three evaluations beats
    uniform random actions by 25 (random about -39, heading straight to the centre -2.4).
    Measured offline with this config (2-core CPU): seeds 0-5 end at -6.8, -5.5, -6.4,
    -6.1, -5.2, -5.6, i.e. >= 7 above the threshold; 26-47 s with compile."""
    random_return, evals = _random_return_and_evals("point_mass_reach", 12, 1.0, 100, 25,
                                                    POINT_MASS, 1000)
    assert -45 < random_return < -33                     # the task's random level
    assert len(evals) == 10
    assert evals[-3:].mean() > random_return + 25, (evals, random_return)
