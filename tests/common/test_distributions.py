"""Action distributions against closed forms written here, scipy and Monte-Carlo estimates."""

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from envs_jax import spaces
from purerl.common import distributions as D


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- categorical


def test_categorical_log_prob_and_entropy_match_numpy():
    logits = _rng().normal(size=(7, 5)).astype(np.float32)
    actions = _rng(1).integers(0, 5, size=7)
    dist = D.categorical(jnp.asarray(logits))
    log_p = logits - special.logsumexp(logits, axis=-1, keepdims=True)
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(actions)),
                               log_p[np.arange(7), actions], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dist.entropy(), -(np.exp(log_p) * log_p).sum(-1),
                               rtol=1e-5, atol=1e-6)


def test_categorical_monte_carlo():
    logits = jnp.array([0.5, -1.0, 2.0, 0.0])
    dist = D.categorical(logits)
    a = dist.sample(seed=jax.random.key(0), sample_shape=(200_000,))
    freq = np.bincount(np.asarray(a), minlength=4) / a.shape[0]
    np.testing.assert_allclose(freq, jax.nn.softmax(logits), atol=5e-3)
    # entropy = E[-log p(a)]
    np.testing.assert_allclose(-dist.log_prob(a).mean(), dist.entropy(), rtol=1e-2)


# ---------------------------------------------------------------- diagonal Gaussian


def test_diag_gaussian_log_prob_and_entropy_match_scipy():
    rng = _rng()
    mean = rng.normal(size=(6, 3)).astype(np.float32)
    log_std = rng.normal(scale=0.5, size=(6, 3)).astype(np.float32)  # per-state
    a = rng.normal(size=(6, 3)).astype(np.float32)
    dist = D.diag_gaussian(jnp.asarray(mean), jnp.asarray(log_std))
    ref = stats.norm.logpdf(a, mean, np.exp(log_std)).sum(-1)
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(a)), ref, rtol=1e-5, atol=1e-5)
    ref_ent = (0.5 * np.log(2 * np.pi * np.e) + log_std).sum(-1)
    np.testing.assert_allclose(dist.entropy(), ref_ent, rtol=1e-5, atol=1e-5)
    assert dist.log_prob(jnp.asarray(a)).shape == (6,)


@pytest.mark.parametrize("log_std", [np.array([-0.3, 0.2, 0.7], np.float32), -0.5])
def test_diag_gaussian_state_independent_or_fixed_log_std_broadcasts(log_std):
    mean = _rng().normal(size=(4, 3)).astype(np.float32)
    a = _rng(2).normal(size=(4, 3)).astype(np.float32)
    dist = D.diag_gaussian(jnp.asarray(mean), log_std)
    full = np.broadcast_to(log_std, mean.shape)
    ref = stats.norm.logpdf(a, mean, np.exp(full)).sum(-1)
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(a)), ref, rtol=1e-5, atol=1e-5)
    assert dist.batch_shape == (4,) and dist.event_shape == (3,)


def test_diag_gaussian_monte_carlo():
    mean, log_std = jnp.array([1.0, -2.0]), jnp.array([0.3, -0.7])
    dist = D.diag_gaussian(mean, log_std)
    x = dist.sample(seed=jax.random.key(1), sample_shape=(200_000,))
    np.testing.assert_allclose(x.mean(0), mean, atol=1e-2)
    np.testing.assert_allclose(x.std(0), jnp.exp(log_std), rtol=1e-2)
    np.testing.assert_allclose(-dist.log_prob(x).mean(), dist.entropy(), rtol=1e-2)


def test_log_std_module_is_state_independent_parameter():
    module = D.LogStd(action_dim=3, init_value=-0.5)
    params = module.init(jax.random.key(0))
    np.testing.assert_array_equal(params["params"]["log_std"], np.full(3, -0.5))
    np.testing.assert_array_equal(module.apply(params), np.full(3, -0.5))


# ---------------------------------------------------------------- Gaussian KL


def _kl_reference(m0, s0, m1, s1):
    """KL(N(m0, s0^2) || N(m1, s1^2)) per component, textbook form with standard deviations."""
    return np.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5


def _kl_rl_games_biased(m0, s0, m1, s1):
    """rl_games' policy_kl per component: a 1e-5 bias inside the log and the denominator."""
    return np.log(s1 / s0 + 1e-5) + (s0**2 + (m1 - m0) ** 2) / (2 * (s1**2 + 1e-5)) - 0.5


def test_gaussian_kl_matches_closed_form_and_distrax():
    rng = _rng(3)
    m0, m1 = rng.normal(size=(2, 5, 4)).astype(np.float32)
    ls0, ls1 = rng.normal(scale=0.5, size=(2, 5, 4)).astype(np.float32)
    kl = D.gaussian_kl(jnp.asarray(m0), jnp.asarray(ls0), jnp.asarray(m1), jnp.asarray(ls1))
    assert kl.shape == (5,)
    ref = _kl_reference(m0, np.exp(ls0), m1, np.exp(ls1)).sum(-1)
    np.testing.assert_allclose(kl, ref, rtol=1e-5, atol=1e-5)
    p0, p1 = D.diag_gaussian(m0, ls0), D.diag_gaussian(m1, ls1)
    np.testing.assert_allclose(kl, p0.kl_divergence(p1), rtol=1e-5, atol=1e-5)


def test_gaussian_kl_monte_carlo():
    m0, ls0 = jnp.array([0.2, -0.4]), jnp.array([-0.2, 0.1])
    m1, ls1 = jnp.array([0.5, 0.0]), jnp.array([0.3, -0.3])
    p0, p1 = D.diag_gaussian(m0, ls0), D.diag_gaussian(m1, ls1)
    x = p0.sample(seed=jax.random.key(2), sample_shape=(400_000,))
    mc = jnp.mean(p0.log_prob(x) - p1.log_prob(x))
    np.testing.assert_allclose(D.gaussian_kl(m0, ls0, m1, ls1), mc, rtol=2e-2)


def test_gaussian_kl_is_exact_where_rl_games_is_biased():
    m = np.array([0.3, -1.0], np.float32)
    ls = np.array([-4.0, -3.0], np.float32)  # small std: where the bias matters most
    np.testing.assert_allclose(D.gaussian_kl(m, ls, m, ls), 0.0, atol=1e-6)
    biased = _kl_rl_games_biased(m, np.exp(ls), m, np.exp(ls)).sum()
    assert biased < -1e-2  # the biased formula is not even >= 0 for identical Gaussians


def test_gaussian_kl_broadcasts_state_independent_log_std():
    m0, m1 = _rng(4).normal(size=(2, 3, 2)).astype(np.float32)
    ls0, ls1 = np.array([0.1, -0.2], np.float32), np.array([0.0, 0.3], np.float32)
    kl = D.gaussian_kl(m0, ls0, m1, ls1)
    ref = _kl_reference(m0, np.exp(ls0), m1, np.exp(ls1)).sum(-1)
    np.testing.assert_allclose(kl, ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- tanh Gaussian


def _tanh_gaussian_log_prob_reference(a, loc, scale):
    """Change of variables by hand: a = tanh(u), log p(a) = log N(u) - sum log(1 - a^2)."""
    u = np.arctanh(a.astype(np.float64))
    return (stats.norm.logpdf(u, loc, scale) - np.log1p(-(a.astype(np.float64) ** 2))).sum(-1)


def test_tanh_gaussian_log_prob_change_of_variables():
    rng = _rng(5)
    loc = rng.normal(size=(8, 3)).astype(np.float32)
    scale = np.exp(rng.normal(scale=0.3, size=(8, 3))).astype(np.float32)
    a = rng.uniform(-0.95, 0.95, size=(8, 3)).astype(np.float32)
    dist = D.tanh_gaussian(jnp.asarray(loc), jnp.asarray(scale))
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(a)),
                               _tanh_gaussian_log_prob_reference(a, loc, scale),
                               rtol=1e-4, atol=1e-4)
    assert dist.event_shape == (3,) and dist.batch_shape == (8,)


def test_tanh_gaussian_sample_and_log_prob_is_consistent():
    loc, scale = jnp.array([0.3, -0.8]), jnp.array([0.5, 0.4])
    dist = D.tanh_gaussian(loc, scale)
    a, log_p = dist.sample_and_log_prob(seed=jax.random.key(3), sample_shape=(1000,))
    assert a.shape == (1000, 2) and log_p.shape == (1000,)
    assert np.all(np.abs(np.asarray(a)) < 1.0)
    ref = _tanh_gaussian_log_prob_reference(np.asarray(a), np.asarray(loc), np.asarray(scale))
    np.testing.assert_allclose(log_p, ref, rtol=1e-3, atol=1e-3)


def test_tanh_gaussian_density_integrates_to_one_and_matches_samples():
    loc, scale = 0.4, 0.7
    dist = D.tanh_gaussian(jnp.array([loc]), jnp.array([scale]))

    def density(a):
        return float(jnp.exp(dist.log_prob(jnp.array([a], jnp.float32))))

    total, _ = integrate.quad(density, -1 + 1e-6, 1 - 1e-6, limit=200)
    np.testing.assert_allclose(total, 1.0, atol=1e-3)
    # Monte-Carlo: E[a] under the density = mean of samples = E[tanh(u)], u ~ N(loc, scale).
    mean_quad, _ = integrate.quad(lambda a: a * density(a), -1 + 1e-6, 1 - 1e-6, limit=200)
    a = dist.sample(seed=jax.random.key(4), sample_shape=(200_000,))
    np.testing.assert_allclose(a.mean(), mean_quad, atol=5e-3)


def test_floored_tanh_gaussian_hand_values():
    """log_det_epsilon=e: log p = log N(u) - sum log(relu(1 - a^2) + e) (pytorch_sac_ae);
    a saturated component (tanh(20) = 1 in float32) contributes -log(e) exactly."""
    loc, scale = jnp.array([0.3, 20.0]), jnp.array([0.5, 0.1])
    key = jax.random.key(6)
    a, log_p = D.tanh_gaussian(loc, scale, log_det_epsilon=1e-6).sample_and_log_prob(seed=key)
    u = np.asarray(loc) + np.asarray(scale) * np.asarray(jax.random.normal(key, (2,)))
    assert float(a[1]) == 1.0
    expected = (stats.norm.logpdf(u, np.asarray(loc), np.asarray(scale)).sum()
                - np.log(1.0 - np.tanh(u[0]) ** 2 + 1e-6) - np.log(1e-6))
    np.testing.assert_allclose(a, np.tanh(u), rtol=1e-6)
    np.testing.assert_allclose(log_p, expected, rtol=1e-5)
    assert type(D.tanh_gaussian(loc, scale).bijector.bijector) is distrax.Tanh
    with pytest.raises(ValueError, match="log_det_epsilon"):
        D.tanh_gaussian(loc, scale, log_det_epsilon=-1.0)


def test_tanh_gaussian_mode_is_deterministic_action():
    loc = jnp.array([[0.3, -2.0], [5.0, 0.0]])
    dist = D.tanh_gaussian(loc, jnp.ones_like(loc))
    np.testing.assert_allclose(dist.mode(), np.tanh(np.asarray(loc)), rtol=1e-6)
    np.testing.assert_allclose(D.deterministic_action(loc), np.tanh(np.asarray(loc)), rtol=1e-6)


# ---------------------------------------------------------------- shapes under vmap / jit


def test_shapes_under_vmap_over_seeds_and_jit():
    S, B, A, K = 3, 5, 2, 4

    def per_seed(key):
        k_net, k_c, k_g, k_t = jax.random.split(key, 4)
        logits = jax.random.normal(k_net, (B, K))
        mean = jax.random.normal(k_net, (B, A))
        cat = D.categorical(logits)
        gauss = D.diag_gaussian(mean, jnp.zeros(A))
        tanh = D.tanh_gaussian(mean, jnp.ones(A))
        a_c = cat.sample(seed=k_c)
        a_g = gauss.sample(seed=k_g)
        a_t, lp_t = tanh.sample_and_log_prob(seed=k_t)
        kl = D.gaussian_kl(mean, jnp.zeros(A), mean + 1.0, jnp.zeros(A))
        return (a_c, cat.log_prob(a_c), cat.entropy(), a_g, gauss.log_prob(a_g),
                gauss.entropy(), a_t, lp_t, tanh.mode(), kl)

    out = jax.jit(jax.vmap(per_seed))(jax.random.split(jax.random.key(0), S))
    shapes = [x.shape for x in out]
    assert shapes == [(S, B), (S, B), (S, B), (S, B, A), (S, B), (S, B),
                      (S, B, A), (S, B), (S, B, A), (S, B)]
    assert out[0].dtype == jnp.int32
    np.testing.assert_allclose(out[-1], A * 0.5, rtol=1e-6)  # unit-variance shift of 1 per dim


def test_distributions_pass_through_jit_as_pytrees():
    dist = jax.jit(lambda m: D.tanh_gaussian(m, jnp.ones_like(m)))(jnp.zeros((2, 3)))
    assert isinstance(dist, D.TanhGaussian)
    np.testing.assert_allclose(dist.mode(), 0.0)


# ---------------------------------------------------------------- action spaces


def test_for_action_space_discrete_and_box():
    head = D.for_action_space(spaces.Discrete(4))
    assert head.kind == "categorical" and head.num_outputs == 4
    assert isinstance(head.make(jnp.zeros(4)), distrax.Categorical)
    head = D.for_action_space(spaces.Box(-1.0, 1.0, (6,)))
    assert head.kind == "diag_gaussian" and head.num_outputs == 6
    dist = head.make(jnp.zeros((2, 6)), jnp.zeros(6))
    assert isinstance(dist, D.DiagGaussian) and dist.event_shape == (6,)


@pytest.mark.parametrize("space, match", [
    (spaces.Box(-1.0, 1.0, (2, 3)), r"action_space.shape: expected a 1-D shape"),
    (spaces.Box(0, 3, (2,), dtype=jnp.int32), r"action_space.dtype: expected a float dtype"),
])
def test_for_action_space_rejects_unsupported_boxes(space, match):
    with pytest.raises(ValueError, match=match):
        D.for_action_space(space)


def test_for_action_space_rejects_other_spaces():
    with pytest.raises(ValueError, match=r"action_space: expected envs_jax.spaces.Discrete"):
        D.for_action_space(object())
