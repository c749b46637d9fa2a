"""Tests of the SNR loss library against hand-computed values and independent references."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.losses import (
    LOSS_TYPES,
    NTKCritic,
    ReluMLPKernel,
    SNRBatch,
    SNRKwargs,
    SNRState,
    feature_dim,
    init_state,
    last_layer_features,
    snr_loss,
)
from purerl.losses.kmeans import KMeansState, kmeans_update
from purerl.losses.snr import (
    MATRIX_LOSS_TYPES,
    matrix_loss,
    snr_loss_from_features,
    snr_loss_from_kernels,
    top_singular_value_rule,
)
from purerl.losses.spectral import eigvals, gelfand_spectral_radius, power_iteration

KEY = jax.random.PRNGKey(0)
R = 1e-4  # the ridge added before every inverse


# ------------------------------------------------------------------ spectral helpers


@pytest.mark.parametrize("shape", [(8, 8), (12, 7)])
def test_power_iteration_matches_svd_top_singular_value(shape):
    # The estimate u^T M v of unit vectors never exceeds sigma_1, and its error decays like
    # (sigma_2 / sigma_1)^(2k) after k iterations: with the loss's 20 iterations a random
    # 8x8 matrix (gap ~ 0.9) can still be 6e-3 short, so the 1e-3 match is checked at
    # 300 iterations, and the 20-iteration estimate only where the gap makes it converged.
    rng = np.random.default_rng(sum(shape))
    mats = jnp.asarray(rng.normal(size=(8, *shape)) / math.sqrt(max(shape)), jnp.float32)

    @jax.jit
    @jax.vmap
    def estimates(m, key):
        return jnp.stack([u @ m @ v for u, v in (power_iteration(m, key, 300),
                                                 power_iteration(m, key))])

    sigma_hat = np.asarray(estimates(mats, jax.random.split(KEY, 8)))
    for i, m in enumerate(np.asarray(mats, np.float64)):
        s = np.linalg.svd(m, compute_uv=False)
        assert abs(sigma_hat[i, 0] - s[0]) < 1e-3, (shape, i)
        assert sigma_hat[i, 1] <= s[0] + 1e-5
        if (s[1] / s[0]) ** 40 < 1e-4:
            assert abs(sigma_hat[i, 1] - s[0]) < 1e-3, (shape, i)


def test_gelfand_brackets_true_spectral_radius():
    # For M = V L V^-1: rho^k <= ||M^k||_F <= cond(V) sqrt(n) rho^k, so the k-th root
    # (k = 256) lies in [rho, rho (cond(V) sqrt(n))^(1/256)].
    for seed in range(6):
        m = np.random.default_rng(seed).normal(size=(6, 6)) / math.sqrt(6)
        w, v = np.linalg.eig(m.astype(np.float64))
        rho = np.abs(w).max()
        upper = rho * (np.linalg.cond(v) * math.sqrt(6)) ** (1 / 256)
        g = float(gelfand_spectral_radius(jnp.asarray(m, jnp.float32)))
        assert rho * (1 - 1e-4) <= g <= upper * (1 + 1e-4), (seed, rho, g, upper)
        assert abs(g - rho) / rho < 0.03


def test_gelfand_exact_on_rotation_scaling():
    # 1.5 x rotation: every power is 1.5^k x a rotation, ||M^k||_F = sqrt(2) 1.5^k.
    c, s = math.cos(0.3), math.sin(0.3)
    m = 1.5 * jnp.array([[c, -s], [s, c]])
    assert float(gelfand_spectral_radius(m)) == pytest.approx(1.5 * 2 ** (0.5 / 256), rel=1e-5)


def test_host_eigvals_value_and_gradient_match_native():
    m = jnp.asarray(np.random.default_rng(0).normal(size=(5, 5)), jnp.float32)
    native = np.sort_complex(np.asarray(eigvals(m, use_host=False)))
    host = np.sort_complex(np.asarray(eigvals(m, use_host=True)))
    np.testing.assert_allclose(host, native, atol=1e-5)

    def top_re(m, use_host):
        return jnp.max(jnp.real(eigvals(m, use_host=use_host)))
    np.testing.assert_allclose(jax.grad(top_re)(m, True), jax.grad(top_re)(m, False),
                               atol=1e-4)


# ------------------------------------------------------------------ analytic kernels


def test_relu_kernel_hand_computed_one_layer():
    # w = 1, b = 0, L = 1, d = 2: q = 1/2; orthogonal inputs have t = pi/2, so
    # NNGP = sqrt(q q) / (2 pi) = 1 / (4 pi), NTK = NNGP + (1/4) * Sigma^1 = 1 / (4 pi);
    # on the diagonal NNGP = q / 2 = 1/4 and NTK = 1/4 + (1/2)(1/2) = 1/2.
    x = jnp.eye(2)
    k = ReluMLPKernel(1, w_std=1.0, b_std=0.0)(x, x)
    np.testing.assert_allclose(k.nngp, [[0.25, 1 / (4 * np.pi)], [1 / (4 * np.pi), 0.25]],
                               rtol=1e-6)
    np.testing.assert_allclose(k.ntk, [[0.5, 1 / (4 * np.pi)], [1 / (4 * np.pi), 0.5]],
                               rtol=1e-6)


def _empirical_kernels(width: int, num_seeds: int, x: jax.Array):
    """Empirical NTK ``J J^T`` and last-layer NNGP of ``num_seeds`` random 3-layer NTKCritics.

    The NTK is formed column by column as ``J (J^T e_i)`` (vjp then jvp), never storing J;
    the NNGP as ``Phi Phi^T`` of the params_kernel features ``[b, w h_L / sqrt(h)]``.

    Returns:
        ``(ntk [S, N, N], nngp [S, N, N])``.
    """
    net = NTKCritic((width,) * 3)
    obs, act = x[:, :3], x[:, 3:]

    def one(key):
        params = net.init(key, obs, act)

        def f(p):
            return net.apply(p, obs, act)
        _, vjp = jax.vjp(f, params)
        ntk = jax.lax.map(lambda e: jax.jvp(f, (params,), vjp(e))[1], jnp.eye(x.shape[0]))
        phi = last_layer_features(net.apply, params, obs, act)
        return ntk, phi @ phi.T

    return jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(1), num_seeds))


def _kernel_errors(width: int, num_seeds: int):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 5)), jnp.float32)
    analytic = NTKCritic((8,) * 3).analytic_kernel()(x, x)
    out = {}
    for name, emp in zip(("ntk", "nngp"), _empirical_kernels(width, num_seeds, x)):
        exact = getattr(analytic, name)
        mean, stderr = emp.mean(0), emp.std(0) / math.sqrt(num_seeds)
        scale = float(jnp.abs(exact).max())
        out[name] = (jnp.abs(mean - exact), stderr, scale)
    return out


@pytest.fixture(scope="module")
def wide_kernel_errors():
    return _kernel_errors(1024, 16)


@pytest.mark.parametrize("name,max_rel", [("ntk", 0.05), ("nngp", 0.07)])
def test_closed_form_kernel_matches_wide_network(wide_kernel_errors, name, max_rel):
    # A width-1024 network's kernel is a random estimate of the analytic one with relative
    # spread O(depth / sqrt(width)) (measured per network: 16% NTK, 25% NNGP, max entry)
    # and a bias O(1 / width). Over 16 seeds the mean must sit within 4 standard errors of
    # the closed form, plus 1% of the kernel scale for the bias. Measured: max z 1.2 (NTK),
    # 1.6 (NNGP); max relative error 1.5% (NTK), 3.5% (NNGP).
    err, stderr, scale = wide_kernel_errors[name]
    assert bool(jnp.all(err <= 4 * stderr + 0.01 * scale)), float((err / stderr).max())
    assert float(err.max()) / scale < max_rel


@pytest.mark.slow
def test_kernel_agreement_improves_with_width(wide_kernel_errors):
    narrow = _kernel_errors(64, 16)   # measured max rel. error: NTK 9%, NNGP 15%
    for name in ("ntk", "nngp"):
        wide_err = wide_kernel_errors[name][0]
        assert float(wide_err.max()) < float(narrow[name][0].max()) / 2, name


def test_last_layer_features_are_scaled_last_hidden_layer():
    net = NTKCritic((7, 5), w_std=1.3, b_std=0.05)
    rng = np.random.default_rng(1)
    obs, act = jnp.asarray(rng.normal(size=(4, 3))), jnp.asarray(rng.normal(size=(4, 2)))
    params = jax.jit(net.init)(KEY, obs, act)
    h = np.concatenate([obs, act], -1)
    for name in ("hidden_0", "hidden_1"):                  # numpy forward pass
        layer = jax.tree.map(np.asarray, params["params"][name])
        h = np.maximum(1.3 / math.sqrt(h.shape[-1]) * h @ layer["kernel"]
                       + 0.05 * layer["bias"], 0.0)
    phi = jax.jit(last_layer_features, static_argnums=0)(net.apply, params, obs, act)
    assert phi.shape == (4, feature_dim(params)) == (4, 6)
    np.testing.assert_allclose(phi[:, 0], 0.05, rtol=1e-6)            # bias leaf first
    np.testing.assert_allclose(phi[:, 1:], 1.3 * h / math.sqrt(5), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ loss rules on M

M_UPPER = jnp.array([[1.0, 2.0], [0.0, 3.0]])   # eig 1, 3; sigma sqrt(7 +- sqrt(40))
M_NEG = jnp.array([[-3.0, 0.0], [0.0, 0.5]])
SIGMA1_UPPER = math.sqrt(7 + math.sqrt(40))      # 3.650281


@pytest.mark.parametrize("matrix,max_eig,expected", [
    (M_UPPER, 1.0, {"svd_kamyar_v1": SIGMA1_UPPER, "svd_kamyar": SIGMA1_UPPER,
                    # eig 1, 3: (relu(0) + 1) + (relu(2) + 1)
                    "full": 4.0, "trace_relu": 4.0, "trace_abs": 4.0}),
    (M_NEG, 1.0, {"svd_kamyar_v1": 3.0, "svd_kamyar": 3.0,
                  "full": 2.0, "trace_relu": 0.0, "trace_abs": 3.5}),
    (M_NEG, 0.0, {"svd_kamyar_v1": 3.0, "svd_kamyar": 3.5, "full": 0.5,
                  "trace_relu": 0.0, "trace_abs": 3.5}),
])
def test_matrix_loss_hand_computed(matrix, max_eig, expected):
    for loss_type in MATRIX_LOSS_TYPES:
        loss, _ = matrix_loss(matrix, loss_type, max_eig, KEY)
        assert float(loss) == pytest.approx(expected[loss_type], rel=1e-5, abs=1e-6), loss_type


def test_v1_gradient_flows_only_through_m():
    # Nearly degenerate top singular values: 20 power iterations have not converged, so a
    # gradient through the iteration would differ from the stop-gradient one, u v^T.
    rng = np.random.default_rng(3)
    q1, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    q2, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    m = jnp.asarray(q1 @ np.diag([1.5, 1.49, 0.3, 0.1]) @ q2.T, jnp.float32)
    key = jax.random.PRNGKey(7)
    grad = jax.grad(lambda m: top_singular_value_rule(m, 1.0, key)[0])(m)
    u, v = power_iteration(m, key)
    np.testing.assert_allclose(grad, jnp.outer(u, v), atol=1e-6)

    def no_stop_gradient(m):
        u, v = power_iteration(m, key)
        return u @ m @ v
    assert float(jnp.abs(jax.grad(no_stop_gradient)(m) - grad).max()) > 1e-3


def test_v1_below_threshold_is_zero_with_zero_gradient():
    for m in (0.5 * jnp.eye(3), jnp.zeros((3, 3))):     # a zero M must not give NaN
        loss, grad = jax.value_and_grad(lambda m: top_singular_value_rule(m, 1.0, KEY)[0])(m)
        assert float(loss) == 0.0 and float(jnp.abs(grad).max()) == 0.0


# ------------------------------------------------------------- loss types on features

PHI = jnp.eye(2)
PHI_PRIME = jnp.diag(jnp.array([2.0, 0.5]))
DISCOUNT = jnp.array([1.0, 0.0])
GAMMA = 0.99

# Phi = I, Phi' = diag(2, .5), d = (1, 0), gamma .99, tau .5, ridge r = 1e-4:
#  K(X,X) = I, K(X',X) = Phi' -> M = Phi' / (1 + r); Phi^T Phi' = Phi'; Phi^T gamma d Phi' =
#  diag(1.98, 0); EMA from 0 with tau .5 halves both products.
FEATURE_CASES = {
    "svd_kamyar_v1": 2 / (1 + R),
    "svd_kamyar": 2 / (1 + R),
    "full": (2 / (1 + R) - 1 + 1) + (0 + 1),
    "trace_relu": 2.5 / (1 + R),
    "trace_abs": 2.5 / (1 + R),
    "svd_kamyar_v1_pinv": 2.0,
    "svd_kamyar_v2": 2 / (1 + R),
    "svd_kamyar_v3": (1.0 / (0.5 + R)) / 0.5,
    "svd_ofir_v1": 1.98 / (1 + R),
    "svd_ofir_v2": 0.99 / (0.5 + R),
    "gelfand_ofir_v1": 0.99 / (0.5 + R),
}


@pytest.mark.parametrize("loss_type", sorted(FEATURE_CASES))
def test_feature_loss_types_hand_computed(loss_type):
    kwargs = SNRKwargs(snr_mode="params_kernel", snr_loss_type=loss_type,
                       use_log_space_matrix=False, snr_matrix_tau=0.5)
    state = init_state(kwargs, 2, KEY)
    loss, _, _ = snr_loss_from_features(PHI, PHI_PRIME, DISCOUNT, state, KEY, kwargs=kwargs,
                                        gamma=GAMMA)
    assert float(loss) == pytest.approx(FEATURE_CASES[loss_type], rel=1e-5)


def test_kmeans_loss_type_hand_computed_and_centroid_update():
    # One centroid at 0: Phi_all = [0; I], Phi_all Phi_all^T = diag(0, 1, 1),
    # M = [[0, 2, 0], [0, 0, .5]] / (1 + r) -> sigma = 2 / (1 + r). Both points then join
    # the centroid: c = .9 * 0 + .1 * (.5, .5), count = .9 * 1 + .1 * 2 = 1.1 (alive).
    kwargs = SNRKwargs(snr_mode="params_kernel", snr_loss_type="svd_kamyar_v1_with_kmeans",
                       use_log_space_matrix=False, snr_num_centroids=1, snr_kmeans_iters=1)
    state = SNRState(centroids=jnp.zeros((1, 2)), counts=jnp.ones((1,)))
    loss, new, metrics = snr_loss_from_features(PHI, PHI_PRIME, DISCOUNT, state, KEY,
                                                kwargs=kwargs)
    assert float(loss) == pytest.approx(2 / (1 + R), rel=1e-5)
    assert metrics.matrix.shape == (2, 3)
    np.testing.assert_allclose(new.centroids, [[0.05, 0.05]], rtol=1e-6)
    np.testing.assert_allclose(new.counts, [1.1], rtol=1e-6)


def test_kmeans_dead_centroid_reseeded_from_data():
    data = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    state = KMeansState(jnp.array([[1.0, 0.0], [10.0, 10.0]]), jnp.ones((2,)))
    new = kmeans_update(state, data, KEY, iters=1)
    # Centroid 0 takes both points: .9 (1, 0) + .1 (.5, .5); centroid 1 gets none, its
    # count .9 falls below max(.01 * 2 / 2, 1) = 1, so it moves onto a data point.
    np.testing.assert_allclose(new.centroids[0], [0.95, 0.05], rtol=1e-6)
    np.testing.assert_allclose(new.counts, [1.1, 1.0], rtol=1e-6)
    assert any(np.allclose(new.centroids[1], p) for p in np.asarray(data))


def test_log_space_matrix_ema_and_losses():
    # C = Phi^T (gamma d Phi' - Phi) = diag(.98, -1); state ones, tau .5:
    # M = [[.99, .5], [.5, 0]], eig (.99 +- sqrt(.99^2 + 1)) / 2; threshold 0.
    expected_m = np.array([[0.99, 0.5], [0.5, 0.0]])
    top_eig = (0.99 + math.sqrt(0.99**2 + 1)) / 2
    low_eig = (0.99 - math.sqrt(0.99**2 + 1)) / 2
    # svd of the symmetric M: singular values |eig|; the negative eigenvalue's pair has
    # u = -v, so u^T M v = |low_eig| > 0 is penalised too by svd_kamyar.
    expected = {"trace_relu": 0.99, "trace_abs": 0.99, "full": top_eig,
                "svd_kamyar": top_eig + abs(low_eig), "svd_kamyar_v1": top_eig}
    for loss_type, value in expected.items():
        kwargs = SNRKwargs(snr_mode="params_kernel", snr_loss_type=loss_type,
                           use_log_space_matrix=True, snr_matrix_tau=0.5)
        state = init_state(kwargs, 2, KEY)
        np.testing.assert_array_equal(state.snr_matrix, np.ones((2, 2)))
        loss, new, metrics = snr_loss_from_features(PHI, PHI_PRIME, DISCOUNT, state, KEY,
                                                    kwargs=kwargs, gamma=GAMMA)
        assert float(loss) == pytest.approx(value, rel=1e-5), loss_type
        np.testing.assert_allclose(new.snr_matrix, expected_m, rtol=1e-6)
        np.testing.assert_allclose(metrics.matrix, np.diag([0.98, -1.0]), rtol=1e-6)
        # A second step keeps averaging: M2 = .5 M1 + .5 C.
        _, new2, _ = snr_loss_from_features(PHI, PHI_PRIME, DISCOUNT, new, KEY, kwargs=kwargs,
                                            gamma=GAMMA)
        np.testing.assert_allclose(new2.snr_matrix, 0.5 * expected_m + 0.5 * np.diag([0.98, -1]),
                                   rtol=1e-6)


@pytest.mark.parametrize("loss_type", ["svd_kamyar_v3", "svd_ofir_v2", "gelfand_ofir_v1"])
def test_ema_pair_state_update(loss_type):
    kwargs = SNRKwargs(snr_mode="params_kernel", snr_loss_type=loss_type,
                       use_log_space_matrix=False, snr_matrix_tau=0.25)
    state = init_state(kwargs, 2, KEY)
    cross = np.asarray(PHI_PRIME) if loss_type == "svd_kamyar_v3" else np.diag([1.98, 0.0])
    expected_cross, expected_gram = np.zeros((2, 2)), np.zeros((2, 2))
    for _ in range(3):
        _, state, _ = snr_loss_from_features(PHI, PHI_PRIME, DISCOUNT, state, KEY, kwargs=kwargs,
                                             gamma=GAMMA)
        expected_cross = 0.75 * expected_cross + 0.25 * cross
        expected_gram = 0.75 * expected_gram + 0.25 * np.eye(2)
        np.testing.assert_allclose(state.phiT_phi_prime, expected_cross, rtol=1e-6)
        np.testing.assert_allclose(state.phiT_phi, expected_gram, rtol=1e-6)


def test_kernel_modes_hand_computed():
    kwargs = SNRKwargs(snr_mode="ntk", snr_loss_type="svd_kamyar", use_log_space_matrix=False)
    loss, metrics = snr_loss_from_kernels(jnp.eye(2), PHI_PRIME, KEY, kwargs=kwargs)
    assert float(loss) == pytest.approx(2 / (1 + R), rel=1e-5)
    np.testing.assert_allclose(metrics.masked_singular_values, [2 / (1 + R), 0.0], rtol=1e-5)


# ------------------------------------------------------------------ config validation


def test_seed_defaults_and_field_validation():
    kw = SNRKwargs()
    assert (kw.snr_mode, kw.snr_loss_type, kw.snr_num_centroids, kw.snr_kmeans_iters,
            kw.use_log_space_matrix, kw.snr_matrix_tau, kw.use_target_for_phi_prime) == (
        "ntk", "full", 1024, 100, True, 0.01, False)
    with pytest.raises(ValueError, match="use_log_space_matrix: expected False"):
        kw.check_compatible()      # the seed's own defaults are not a runnable combination
    with pytest.raises(ValueError, match="snr_mode: expected one of"):
        SNRKwargs(snr_mode="eigen")
    with pytest.raises(ValueError, match="snr_loss_type: expected one of"):
        SNRKwargs(snr_loss_type="svd")
    with pytest.raises(ValueError, match=r"snr_matrix_tau: expected a number in \(0, 1\]"):
        SNRKwargs(snr_matrix_tau=0.0)
    with pytest.raises(ValueError, match="snr_num_centroids: expected an int >= 1"):
        SNRKwargs(snr_num_centroids=0)
    with pytest.raises(ValueError, match="snr_kmeans_iters: expected an int >= 1"):
        SNRKwargs(snr_kmeans_iters=2.5)
    with pytest.raises(ValueError, match="snr_loss_type: expected one of"):
        SNRKwargs(snr_mode="nngp", snr_loss_type="svd_kamyar_v2",
                  use_log_space_matrix=False).check_compatible()
    with pytest.raises(ValueError, match="with use_log_space_matrix=True"):
        init_state(SNRKwargs(snr_mode="params_kernel", snr_loss_type="svd_ofir_v2"), 4, KEY)
    assert len(LOSS_TYPES) == 12


# ------------------------------------------------------------------ end to end, jit + grad


@pytest.fixture(scope="module")
def tiny():
    net = NTKCritic((16, 16))
    rng, n = np.random.default_rng(2), 8
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    batch = SNRBatch(f32(rng.normal(size=(n, 3))), f32(rng.uniform(-1, 1, (n, 2))),
                     f32(rng.normal(size=(n, 3))), f32(np.r_[0.0, np.ones(n - 1)]))
    next_action = f32(rng.uniform(-1, 1, (n, 2)))
    return net, jax.jit(net.init)(KEY, batch.obs, batch.action), batch, next_action


@pytest.mark.parametrize("mode,loss_type", [("params_kernel", "svd_kamyar_v1"),
                                            ("ntk", "svd_kamyar_v1")])
def test_jit_and_grad_through_snr_loss(tiny, mode, loss_type):
    net, params, batch, next_action = tiny
    kwargs = SNRKwargs(snr_mode=mode, snr_loss_type=loss_type, use_log_space_matrix=False,
                       snr_num_centroids=4, snr_kmeans_iters=2)
    state = init_state(kwargs, feature_dim(params), KEY)

    @jax.jit
    def step(next_action, params, state):
        def loss_fn(next_action, params):
            loss, new_state, metrics = snr_loss(net.apply, params, batch, next_action, state,
                                                KEY, kwargs=kwargs,
                                                kernel=net.analytic_kernel())
            return loss, (new_state, metrics)
        return jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(next_action, params)

    (loss, (new_state, metrics)), (g_act, g_params) = step(next_action, params, state)
    assert float(loss) > 1.0            # random critics are far from contractive here
    assert bool(jnp.all(jnp.isfinite(g_act))) and float(jnp.abs(g_act).max()) > 0
    g_leaves = jax.tree.leaves(g_params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in g_leaves)
    # ntk/nngp do not depend on the weights; params_kernel does.
    assert (max(float(jnp.abs(g).max()) for g in g_leaves) > 0) == (mode == "params_kernel")
    assert new_state == state           # svd_kamyar_v1 without log space is stateless
    assert metrics.matrix.shape == (8, 8)


def test_snr_loss_rejects_bad_inputs(tiny):
    net, params, batch, next_action = tiny
    kwargs = SNRKwargs(snr_mode="ntk", snr_loss_type="svd_kamyar_v1", use_log_space_matrix=False)
    with pytest.raises(ValueError, match="kernel: expected a ReluMLPKernel"):
        snr_loss(net.apply, params, batch, next_action, SNRState(), KEY, kwargs=kwargs)
    with pytest.raises(ValueError, match="next_action: expected leading shape"):
        snr_loss(net.apply, params, batch, next_action[:4], SNRState(), KEY, kwargs=kwargs,
                 kernel=net.analytic_kernel())
    v3 = SNRKwargs(snr_mode="params_kernel", snr_loss_type="svd_kamyar_v3",
                   use_log_space_matrix=False)
    with pytest.raises(ValueError, match="state.phiT_phi_prime: expected an array from init_state"):
        snr_loss(net.apply, params, batch, next_action, SNRState(), KEY, kwargs=v3)
    with pytest.raises(ValueError, match="last_layer: expected a path"):
        feature_dim(params, ("params", "nope"))


def test_snr_loss_takes_any_last_layer_path_or_a_feature_function(tiny):
    """A critic whose output layer is not called ``head``: name its path, or pass features;
    a path that is not there is a ValueError that lists the layers there are."""
    import flax.linen as nn

    class PlainCritic(nn.Module):            # flax names the layers Dense_0, Dense_1
        @nn.compact
        def __call__(self, obs, action):
            x = nn.relu(nn.Dense(8)(jnp.concatenate([obs, action], -1)))
            return nn.Dense(1)(x)[..., 0]

    _, _, batch, next_action = tiny
    net = PlainCritic()
    params = net.init(KEY, batch.obs, batch.action)
    kwargs = SNRKwargs(snr_mode="params_kernel", snr_loss_type="svd_kamyar_v1",
                       use_log_space_matrix=False)
    path = ("params", "Dense_1")
    assert feature_dim(params, path) == 9                  # 8 weights + 1 bias
    by_path, _, metrics = snr_loss(net.apply, params, batch, next_action, SNRState(), KEY,
                                   kwargs=kwargs, last_layer=path)
    assert float(by_path) > 0.0 and metrics.matrix.shape == (8, 8)

    def features(p, obs, action):           # the same Jacobian, written by hand
        return last_layer_features(net.apply, p, obs, action, path)

    by_fn, _, _ = snr_loss(net.apply, params, batch, next_action, SNRState(), KEY,
                           kwargs=kwargs, features=features)
    np.testing.assert_allclose(float(by_fn), float(by_path), rtol=1e-6)
    with pytest.raises(ValueError, match=r"last_layer: expected a path into the critic "
                                         r"params \(one of \[\('params', 'Dense_0'\), "
                                         r"\('params', 'Dense_1'\)\]\), got \('params', 'head'\)"):
        snr_loss(net.apply, params, batch, next_action, SNRState(), KEY, kwargs=kwargs)
    with pytest.raises(ValueError, match="last_layer: expected a path"):
        last_layer_features(net.apply, params, batch.obs, batch.action, ("params", "out"))
