"""Spectral estimates used by the SNR loss: power iteration, Gelfand's formula, eigenvalues.

Sources: the original SNR code (``snr_utils.compute_spec_norm_vectors``,
``compute_gelfand_approx``, and its host-side ``np.linalg.eig`` for the ``full`` loss).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

POWER_ITERS = 20
"""Power iterations per SGD step in the original (``svd_kamyar_v1`` and its variants)."""

GELFAND_SQUARINGS = 8
"""Repeated squarings in the original's Gelfand estimate: k = 2^8 = 256."""


def power_iteration(
    matrix: jax.Array, key: jax.Array, num_iters: int = POWER_ITERS
) -> tuple[jax.Array, jax.Array]:
    """Top singular vectors of ``matrix`` by alternating power iteration.

    From a random normal start, repeats ``v = M^T u / |M^T u|``, ``u = M v / |M v|``
    (the original's order). The caller decides what is differentiated: the SNR losses pass
    ``stop_gradient(M)`` here and use ``u^T M v`` with the live ``M``.

    Args:
        matrix: ``[m, n]`` float.
        key: PRNG key for the random start.
        num_iters: static number of iterations (20 in the original).

    Returns:
        ``(u [m], v [n])`` unit vectors; ``u @ matrix @ v`` estimates the top singular
        value from below (never above it; the shortfall decays like
        ``(s2/s1)^(2 num_iters)``, so 20 iterations can be ~1e-2 short when s2/s1 ~ 0.9).
    """
    key_u, key_v = jax.random.split(key)
    m, n = matrix.shape

    def unit(x):
        # The floor keeps a zero matrix (e.g. every transition terminal in svd_ofir_v1)
        # at sigma = 0 instead of 0/0 = NaN; the original had none.
        return x / jnp.maximum(jnp.linalg.norm(x), 1e-30)

    u = jax.random.normal(key_u, (m,), matrix.dtype)
    v = jax.random.normal(key_v, (n,), matrix.dtype)
    u, v = unit(u), unit(v)

    def body(_, uv):
        v = unit(matrix.T @ uv[0])
        return unit(matrix @ v), v

    return jax.lax.fori_loop(0, num_iters, body, (u, v))


def gelfand_spectral_radius(matrix: jax.Array, num_squarings: int = GELFAND_SQUARINGS) -> jax.Array:
    """Spectral radius estimate ``||M^k||_F^(1/k)``, ``k = 2^num_squarings`` (Gelfand's formula).

    ``M^k`` is formed by repeated squaring with renormalisation to stay in float range:
    ``A_0 = M / c_0``, ``A_{i+1} = A_i^2 / c_{i+1}`` with ``c_i = sqrt(1e-6 + ||.||_F^2)``;
    then ``log ||M^k||^(1/k) = log c_0 + sum_i 2^-(i+1) log c_{i+1} + 2^-s log ||A_s||``.
    For diagonalisable ``M = V L V^-1`` the estimate lies in
    ``[rho, rho * (cond(V) sqrt(n))^(1/k)]`` (up to the 1e-6 floor). Differentiable.

    Args:
        matrix: ``[n, n]`` float.
        num_squarings: static s (8 in the original).

    Returns:
        Scalar float estimate of ``max |eig(M)|``.
    """
    def frob(a):
        return jnp.sqrt(1e-6 + jnp.sum(a * a))

    log_scale = jnp.log(frob(matrix))
    a = matrix / frob(matrix)
    for i in range(num_squarings):
        a = a @ a
        c = frob(a)
        a = a / c
        log_scale = log_scale + jnp.log(c) * 2.0 ** (-(i + 1))
    return jnp.exp(log_scale + jnp.log(frob(a)) * 2.0 ** (-num_squarings))


def _host_eig(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w, v = np.linalg.eig(np.asarray(matrix, dtype=np.float64))
    v_inv = np.linalg.inv(v)
    dtype = np.result_type(matrix.dtype, np.complex64)
    return w.astype(dtype), v.astype(dtype), v_inv.astype(dtype)


@jax.custom_jvp
def _eigvals_via_host(matrix: jax.Array) -> jax.Array:
    return _host_eig_call(matrix)[0]


def _host_eig_call(matrix):
    n = matrix.shape[0]
    cdtype = jnp.result_type(matrix.dtype, jnp.complex64)
    shapes = (jax.ShapeDtypeStruct((n,), cdtype), jax.ShapeDtypeStruct((n, n), cdtype),
              jax.ShapeDtypeStruct((n, n), cdtype))
    return jax.pure_callback(_host_eig, shapes, matrix, vmap_method="sequential")


@_eigvals_via_host.defjvp
def _eigvals_via_host_jvp(primals, tangents):
    (matrix,), (dmatrix,) = primals, tangents
    w, v, v_inv = _host_eig_call(matrix)
    # First-order perturbation of simple eigenvalues: d lambda_i = (V^-1 dM V)_ii.
    dw = jnp.einsum("ij,jk,ki->i", v_inv, dmatrix.astype(v.dtype), v)
    return w, dw


@functools.partial(jax.jit, static_argnames="use_host")
def eigvals(matrix: jax.Array, use_host: bool | None = None) -> jax.Array:
    """Eigenvalues of a general real square matrix, differentiable on every backend.

    ``jnp.linalg.eig`` has no GPU/TPU lowering in general, so off-CPU this calls numpy on
    the host through ``jax.pure_callback`` (what the original did) with a custom JVP
    ``d lambda_i = (V^-1 dM V)_ii``, the derivative of the original's
    ``diag(V^-1 M V)`` with ``V`` held fixed. On CPU it is ``jnp.linalg.eigvals``, whose
    JVP is the same formula.

    Args:
        matrix: ``[n, n]`` real float.
        use_host: force (True) or forbid (False) the host path; ``None`` picks by backend.

    Returns:
        ``[n]`` complex eigenvalues (unordered).
    """
    if use_host is None:
        use_host = jax.default_backend() != "cpu"
    return _eigvals_via_host(matrix) if use_host else jnp.linalg.eigvals(matrix)
