"""NEAR's pieces against hand-computed values: noise schedules, the DSM loss, EMA and the
frozen normaliser of energy training, the annealing rule, the style reward and its
bookkeeping, the reward mix before the time-out bootstrap, save / load of the model."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.algos import near
from purerl.algos import near_energy as ne
from purerl.common.returns import gae

TINY = ne.EnergyConfig(in_dim=4, encoder_hidden_layers=(8,), latent_space_dim=8,
                       decoder_hidden_layers=(8,), sigma_begin=1.0, sigma_end=0.1,
                       num_levels=3, batch_size=4, buffer_size=4, num_rounds=1,
                       learning_rate=1e-2, ema_rate=0.9)


def test_noise_levels_geometric_and_linear_by_hand():
    geo = ne.noise_levels(20.0, 0.01, 3, "geometric")
    np.testing.assert_allclose(geo, [20.0, np.sqrt(20.0 * 0.01), 0.01], rtol=1e-6)
    many = ne.noise_levels(20.0, 0.01, 50, "geometric")
    np.testing.assert_allclose(many[1:] / many[:-1], (0.01 / 20.0) ** (1 / 49), rtol=1e-5)
    np.testing.assert_allclose(ne.noise_levels(20.0, 0.01, 3, "linear"), [20.0, 10.005, 0.01],
                               rtol=1e-6)
    assert ne.noise_levels(1.0, 0.5, 1, "geometric").tolist() == [1.0]
    np.testing.assert_allclose(ne.EnergyConfig(ncsnv2=False, num_levels=2).sigmas, [20, 0.01])
    with pytest.raises(ValueError, match=r"sigma_end: expected a number in \(0, sigma_begin"):
        ne.noise_levels(0.01, 20.0, 3, "geometric")
    with pytest.raises(ValueError, match="sigma_begin: expected a level above sigma_end"):
        ne.EnergyConfig(sigma_begin=0.01, sigma_end=0.1)
    with pytest.raises(ValueError, match="batch_size: expected at most buffer_size=64"):
        ne.EnergyConfig(batch_size=128, buffer_size=64)


def test_dsm_loss_small_case_by_hand():
    """f(x) = w . x has score w everywhere; (x~ - x) / sigma^2 = eps / sigma.
    Sample 1: sigma 0.5, eps (0.2, -0.4): err = (1, -1) + (0.4, -0.8) = (1.4, -1.8),
    0.5 * 5.2 * 0.5^2 = 0.65. Sample 2: sigma 2, eps (1, 1): err = (1.5, -0.5),
    0.5 * 2.5 * 2^2 = 5.0. Mean 2.825; with anneal_power 0: (2.6 + 1.25) / 2."""
    w = jnp.array([1.0, -1.0])
    energy = lambda params, x, level: x @ params          # noqa: E731
    x = jnp.array([[1.0, 2.0], [0.0, 0.0]])
    level = jnp.array([0, 1])
    noise = jnp.array([[0.2, -0.4], [1.0, 1.0]])
    sigmas = jnp.array([0.5, 2.0])
    assert float(ne.dsm_loss(energy, w, x, level, noise, sigmas, 2.0)) == pytest.approx(2.825)
    assert float(ne.dsm_loss(energy, w, x, level, noise, sigmas, 0.0)) == pytest.approx(1.925)
    # The exact score of N(0, I) smoothed by sigma, -x~ / (1 + sigma^2), has the lower loss.
    gauss = lambda p, x, level: -0.5 * jnp.sum(x ** 2, -1) / (1 + sigmas[level] ** 2)  # noqa
    key = jax.random.PRNGKey(0)
    xs, eps = jax.random.normal(key, (2, 4096, 2))
    lv = jnp.zeros(4096, jnp.int32)
    assert float(ne.dsm_loss(gauss, None, xs, lv, eps, sigmas)) < float(
        ne.dsm_loss(energy, w * 0.1, xs, lv, eps, sigmas))


def test_energy_net_ncsnv2_output_is_f_over_sigma():
    net = ne.make_net(TINY)
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 4))
    params = net.init(jax.random.PRNGKey(0), x, jnp.ones(5), jnp.zeros(5, jnp.int32))
    f1 = net.apply(params, x, jnp.ones(5), jnp.zeros(5, jnp.int32))
    f2 = net.apply(params, x, jnp.full(5, 0.01), jnp.zeros(5, jnp.int32))
    np.testing.assert_allclose(f2, f1 * 100.0, rtol=1e-5)
    assert np.all(np.asarray(f2) >= -100.0 - 1e-4)        # ELU output >= -1, over sigma
    v1 = ne.make_net(ne.EnergyConfig(**{**TINY.__dict__, "ncsnv2": False}))
    p1 = v1.init(jax.random.PRNGKey(0), x, jnp.ones(5), jnp.zeros(5, jnp.int32))
    a = v1.apply(p1, x, jnp.ones(5), jnp.zeros(5, jnp.int32))
    b = v1.apply(p1, x, jnp.ones(5), jnp.ones(5, jnp.int32))   # the embedding conditions
    assert not np.allclose(a, b)
    # bias 0.01 everywhere
    assert all(np.allclose(leaf, 0.01) for path, leaf in
               jax.tree_util.tree_leaves_with_path(params) if "bias" in str(path[-1]))


def test_training_round_ema_and_frozen_normaliser_by_hand():
    """One round of one SGD step: EMA = 0.9 * init + 0.1 * params (NCSN's EMAHelper), and
    the normaliser holds exactly the batch's mean and population variance."""
    data = jax.random.normal(jax.random.PRNGKey(3), (4, 4)) * 3.0 + 1.0
    parts = ne.make_energy_train_parts(TINY, lambda key, n: data)
    s0 = parts.init(jax.random.PRNGKey(0))
    s1, metrics = jax.jit(lambda s: parts.run_updates(s, 1))(s0)
    for e, p0, p1 in zip(*(jax.tree.leaves(t) for t in (s1.ema_params, s0.params, s1.params))):
        np.testing.assert_allclose(e, 0.9 * p0 + 0.1 * p1, rtol=1e-5, atol=1e-7)
        assert not np.allclose(p0, p1)
    np.testing.assert_allclose(s1.norm_stats.mean, data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(s1.norm_stats.var, data.var(0), rtol=1e-4)
    assert metrics["iterations"].tolist() == [1.0] and np.isfinite(metrics["dsm_loss"]).all()
    plain = ne.EnergyConfig(**{**TINY.__dict__, "ema": False, "normalize_input": False})
    parts = ne.make_energy_train_parts(plain, lambda key, n: data)
    s1, _ = jax.jit(lambda k: parts.run_updates(parts.init(k), 1))(jax.random.PRNGKey(0))
    for e, p in zip(jax.tree.leaves(s1.ema_params), jax.tree.leaves(s1.params)):
        np.testing.assert_array_equal(e, p)
    with pytest.raises(ValueError, match=r"in_dim: expected the demo pairs' width"):
        ne.make_energy_train_parts(TINY, lambda key, n: jnp.zeros((n, 6)))


def test_anneal_rule_by_hand_and_the_negative_e0_fix():
    a = lambda hist, count, e0, level=0: tuple(int(v) for v in near.anneal(  # noqa: E731
        jnp.int32(level), jnp.array(hist, jnp.float32), jnp.int32(count), jnp.float32(e0), 5))
    assert a([10.0, 10.1, 10.2], 3, 10.0) == (0, 3)        # avg 10.1 < 10.2: stay
    assert a([10.0, 10.3, 10.3], 3, 10.0) == (1, 0)        # avg 10.2 >= 10.2: up, restart
    assert a([10.5, 0.0, 0.0], 1, 10.0) == (1, 0)          # the average of what is stored
    assert a([0.0, 0.0, 0.0], 0, 10.0) == (0, 0)           # nothing stored yet: stay
    assert a([11.0, 11.0, 11.0], 7, 10.0, level=4) == (4, 7)   # capped at L - 1
    # E0 = -100: the level goes up once the energy RISES by 2% of |E0| (to -98) ...
    assert a([-100.0, -99.0, -98.0], 3, -100.0) == (0, 3)      # avg -99 < -98
    assert a([-100.0, -97.0, -96.0], 3, -100.0) == (1, 0)      # avg -97.7 >= -98
    # ... while the original's 1.02 * E0 = -102 would step up on E0 itself.
    assert a([-100.0, 0.0, 0.0], 1, -100.0) == (0, 1)


def test_style_reward_by_hand():
    e = jnp.array([15.0, 5.0, -5.0])
    np.testing.assert_allclose(near.style_reward(e, 5.0), np.tanh([1.0, 0.0, -1.0]), rtol=1e-6)
    np.testing.assert_allclose(near.style_reward(e, 5.0, offsets=2.0),
                               np.tanh([1.2, 0.2, -0.8]), rtol=1e-6)
    np.testing.assert_allclose(near.style_reward(e, 0.0, temperature=5.0),
                               np.tanh([3.0, 1.0, -1.0]), rtol=1e-6)


def _model():
    net = ne.make_net(TINY)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)), jnp.ones(1),
                      jnp.zeros(1, jnp.int32))
    stats = ne.rs.RunningStats(jnp.full(4, 0.5), jnp.full(4, 2.0), jnp.float32(10))
    return ne.EnergyModel(TINY, ne.FrozenEnergy(params, stats, jnp.asarray(TINY.sigmas)))


def test_near_hooks_store_energies_refresh_m_and_mix_rewards():
    """m is the mean of the last <= 3 stored energies, recomputed at updates 1, 3, 6;
    the reward GAE sees is task_w * r_task + energy_w * tanh((e - m) / 10)."""
    model = _model()
    cfg = near.NEARConfig(task_reward_w=0.5, energy_reward_w=2.0, sigma_level=1)
    hooks = near.make_hooks(cfg, model, obs_dim=2, rollout_shape=(3, 2))
    state = hooks["aux_init"](jax.random.PRNGKey(0))
    means, ms = [], []
    for u in range(6):
        obs, next_obs = jax.random.normal(jax.random.PRNGKey(10 + u), (2, 3, 2, 2)) * (u + 1)
        traj = SimpleNamespace(obs=obs, next_obs=next_obs, reward=jnp.full((3, 2), -1.0))
        state = hooks["aux_update"](SimpleNamespace(aux=state), traj)
        e = model.energy(model.arrays, jnp.concatenate([next_obs, obs], -1), 1)
        means.append(float(e.mean()))
        m = np.mean(means[max(u - 2, 0):]) if u in (0, 2, 5) else ms[-1]
        ms.append(m)
        assert float(state.m) == pytest.approx(m, rel=1e-5)
        assert int(state.level) == 1                               # fixed level
        r = hooks["reward_fn"](SimpleNamespace(aux=state), traj)
        np.testing.assert_allclose(r, 0.5 * -1.0 + 2.0 * np.tanh((e - m) / 10.0), rtol=1e-5,
                                   atol=1e-6)
    assert ms[1] == ms[0] and ms[3] == ms[4] == ms[2]
    _, logged = hooks["extra_loss"](None, None, state)
    assert float(logged["near_sigma"]) == pytest.approx(TINY.sigmas[1])
    with pytest.raises(ValueError, match="sigma_level: expected -1 or a level 0..2"):
        near.make_hooks(near.NEARConfig(sigma_level=3), model, 2, (3, 2))
    with pytest.raises(ValueError, match="near_energy_run: expected an energy model of pairs"):
        near.make_hooks(cfg, model, 3, (3, 2))
    with pytest.raises(ValueError, match="sigma_level: expected -1"):
        near.NEARConfig(sigma_level=-2)


def test_adaptive_annealing_inside_the_hooks_records_e0_per_level():
    """sigma_level -1 starts at level 0; rising energies step it up one level at a time,
    and each level's first mean energy becomes its E0."""
    model = _model()
    hooks = near.make_hooks(near.NEARConfig(sigma_level=-1), model, 2, (3, 2))
    state = hooks["aux_init"](jax.random.PRNGKey(0))
    levels = []
    for u in range(8):
        obs = jnp.full((3, 2, 2), 0.1 * u)
        traj = SimpleNamespace(obs=obs, next_obs=obs, reward=jnp.zeros((3, 2)))
        before = int(state.level)
        state = hooks["aux_update"](SimpleNamespace(aux=state), traj)
        levels.append(int(state.level))
        if int(state.level) != before or u == 0:
            e = model.energy(model.arrays, jnp.concatenate([obs, obs], -1), state.level)
            assert float(state.e0) == pytest.approx(float(e.mean()), rel=1e-5)
            assert int(state.e_count) == 1
    assert levels[0] == 0 and all(b - a in (0, 1) for a, b in zip(levels, levels[1:]))


def test_time_outs_bootstrap_from_the_mixed_reward():
    """Defect 6: the weights apply before GAE, so with task_reward_w = 0 a truncated step's
    target is still r_style + gamma V(final_obs) (NEAR's original drops the gamma V)."""
    style = jnp.array([[0.3], [0.7]])                  # [T=2, N=1]
    reward = 0.0 * jnp.array([[5.0], [5.0]]) + 1.0 * style
    value, next_value = jnp.array([[1.0], [2.0]]), jnp.array([[2.0], [4.0]])
    terminated, done = jnp.array([[False], [False]]), jnp.array([[False], [True]])
    _, targets = gae(reward, value, next_value, terminated, done, 0.9, 1.0)
    assert float(targets[1, 0]) == pytest.approx(0.7 + 0.9 * 4.0)
    assert float(targets[0, 0]) == pytest.approx(0.3 + 0.9 * (0.7 + 0.9 * 4.0))


def test_save_and_load_the_frozen_model_of_one_seed(tmp_path):
    data = jax.random.normal(jax.random.PRNGKey(3), (4, 4))
    parts = ne.make_energy_train_parts(TINY, lambda key, n: data)
    states = jax.jit(jax.vmap(lambda k: parts.run_updates(parts.init(k), 1)[0]))(
        jax.random.split(jax.random.PRNGKey(0), 2))
    ne.save_energy_model(str(tmp_path), TINY, states)
    model = ne.load_energy_model(str(tmp_path), 1)
    assert model.cfg == TINY
    x = jax.random.normal(jax.random.PRNGKey(4), (6, 4))
    one = jax.tree.map(lambda a: a[1], states)
    expected = parts.net.apply(one.ema_params, ne.rs.normalize(one.norm_stats, x),
                               jnp.full(6, TINY.sigmas[2]), jnp.full(6, 2, jnp.int32))
    np.testing.assert_allclose(model.energy(model.arrays, x, 2), expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"near_energy_index: expected a run of .* \(0..1\)"):
        ne.load_energy_model(str(tmp_path), 2)
    with pytest.raises(ValueError, match="near_energy_run: expected a purerl-near-energy run"):
        ne.load_energy_model(str(tmp_path / "nothing"))
