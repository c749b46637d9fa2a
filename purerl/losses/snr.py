"""The SNR (spectral norm regularisation) loss: a standalone term for any actor-critic.

Source: the SNR research code used for the MSG paper (Ghasemipour et al., NeurIPS 2022;
``jrl/agents/snr/snr_utils.py``), re-implemented from the behaviour described in
``specs/offline_rl.md``. The loss penalises the spread of the critic's kernel under the
policy's Bellman backup: with ``X = (s, a_data)``, ``X' = (s', a')``, ``a' ~ pi(s')``
reparameterised, and ``Phi = phi(X)``, ``Phi' = phi(X')`` ([N, c]):

- ``use_log_space_matrix=False`` (the README setting): ``M = K(X', X) (K(X, X) + 1e-4 I)^-1``
  ([N, N]), penalised above ``max_eig = 1``.
- ``use_log_space_matrix=True``: ``C = Phi^T (gamma d Phi' - Phi)`` ([c, c]) and the EMA state
  ``M <- (1 - tau) M + tau C``, penalised above ``max_eig = 0``.

Features / kernels (``snr_mode``): ``params_kernel`` uses ``phi`` = Jacobian of Q w.r.t. the
critic's last layer; ``ntk``/``nngp`` use the analytic infinite-width kernels of the critic's
architecture (``purerl.losses.kernels``), so they depend on the critic only through X'.

Usage inside an agent's (actor or critic) loss, under ``jax.jit``/``jax.grad``::

    kwargs = SNRKwargs(snr_mode="params_kernel", snr_loss_type="svd_kamyar_v1",
                       use_log_space_matrix=False)
    state = init_state(kwargs, feature_dim(critic_params), key)
    loss, state, metrics = snr_loss(critic.apply, critic_params,
                                    SNRBatch(obs, action, next_obs, 1.0 - terminal),
                                    next_action, state, key, kwargs=kwargs)
    total = actor_loss + snr_alpha * loss
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl.config import require
from purerl.losses.kernels import ReluMLPKernel
from purerl.losses.kmeans import KMeansState, kmeans_init, kmeans_update
from purerl.losses.spectral import eigvals, gelfand_spectral_radius, power_iteration

SNR_MODES = ("params_kernel", "ntk", "nngp")
LOSS_TYPES = (
    "svd_kamyar_v1", "svd_kamyar", "svd_kamyar_v1_pinv", "svd_kamyar_v1_with_kmeans",
    "svd_kamyar_v2", "svd_kamyar_v3", "svd_ofir_v1", "svd_ofir_v2", "gelfand_ofir_v1",
    "full", "trace_relu", "trace_abs",
)
MATRIX_LOSS_TYPES = ("full", "trace_relu", "trace_abs", "svd_kamyar", "svd_kamyar_v1")
"""Loss types that act on ``M`` directly: the only ones for ntk/nngp and log-space modes."""
EMA_PAIR_LOSS_TYPES = ("svd_kamyar_v3", "svd_ofir_v2", "gelfand_ofir_v1")
"""Loss types whose state is the EMA of ``Phi^T Phi'`` and ``Phi^T Phi``."""
RIDGE = 1e-4
"""Ridge added before every inverse (original: ``1e-4 * I``)."""
DEFAULT_LAST_LAYER = ("params", "head")
"""Where our critics (``NTKCritic``, ``purerl.algos.sac.MLPCritic``) keep their output
layer in their flax params; pass ``last_layer`` (or ``features``) for any other critic."""

Params = Any
CriticApply = Callable[[Params, jax.Array, jax.Array], jax.Array]
FeatureFn = Callable[[Params, jax.Array, jax.Array], jax.Array]
"""``(critic_params, obs [N, obs_dim], action [N, action_dim]) -> phi [N, c]``."""


@dataclasses.dataclass(frozen=True)
class SNRKwargs:
    """Options of the SNR loss: the seed's ``snr.config.SNRKwargs`` names and defaults.

    The defaults are the seed's, and as there, ``SNRKwargs()`` itself (``ntk`` with the log
    space matrix) is not a runnable combination: agents that only carry it (CQL with
    ``snr_alpha=0``) must still construct it, so ``__post_init__`` checks each field and
    ``check_compatible`` (called by ``init_state`` and ``snr_loss``, before tracing any
    math) checks the combination.

    Raises:
        ValueError: a field is out of range (names the field, the expected and the value).
    """

    snr_mode: str = "ntk"
    """Kernel: ``params_kernel`` (last-layer Jacobian of the critic), ``ntk`` or ``nngp``
    (analytic infinite-width kernels of the critic's architecture)."""
    snr_loss_type: str = "full"
    """How M is built and penalised; one of ``LOSS_TYPES`` (README: ``svd_kamyar_v1``)."""
    snr_num_centroids: int = 1024
    """k-means centroids K (``svd_kamyar_v1_with_kmeans`` only)."""
    snr_kmeans_iters: int = 100
    """k-means update steps per SGD step (``svd_kamyar_v1_with_kmeans`` only)."""
    use_log_space_matrix: bool = True
    """Penalise the EMA of ``C = Phi^T (gamma d Phi' - Phi)`` (threshold 0) instead of
    ``K(X', X) K(X, X)^-1`` (threshold 1). README runs set False."""
    snr_matrix_tau: float = 0.01
    """EMA rate of the matrix state (log space, ``svd_kamyar_v3``, ``svd_ofir_v2``,
    ``gelfand_ofir_v1``); ``svd_kamyar_v3`` also divides its loss by it."""
    use_target_for_phi_prime: bool = False
    """Kept for gin compatibility only: in the original both branches use the online
    critic for Phi', so it has no effect here either."""

    def __post_init__(self):
        require(self.snr_mode in SNR_MODES, "snr_mode", f"one of {SNR_MODES}", self.snr_mode)
        require(self.snr_loss_type in LOSS_TYPES, "snr_loss_type", f"one of {LOSS_TYPES}",
                self.snr_loss_type)
        for name in ("snr_num_centroids", "snr_kmeans_iters"):
            value = getattr(self, name)
            require(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                    name, "an int >= 1", value)
        for name in ("use_log_space_matrix", "use_target_for_phi_prime"):
            require(isinstance(getattr(self, name), bool), name, "a bool", getattr(self, name))
        require(0.0 < self.snr_matrix_tau <= 1.0, "snr_matrix_tau", "a number in (0, 1]",
                self.snr_matrix_tau)

    def check_compatible(self) -> None:
        """Check the combination of options (see the class docstring for why it is separate).

        Raises:
            ValueError: ``ntk``/``nngp`` with the log-space matrix or with a loss type that
                needs features; the log-space matrix with a loss type that builds its own M.
        """
        if self.snr_mode != "params_kernel":
            require(not self.use_log_space_matrix, "use_log_space_matrix",
                    f"False with snr_mode={self.snr_mode!r} (the analytic kernels have no "
                    "feature map for C = Phi^T (gamma d Phi' - Phi))", self.use_log_space_matrix)
            require(self.snr_loss_type in MATRIX_LOSS_TYPES, "snr_loss_type",
                    f"one of {MATRIX_LOSS_TYPES} with snr_mode={self.snr_mode!r}",
                    self.snr_loss_type)
        if self.use_log_space_matrix:
            require(self.snr_loss_type in MATRIX_LOSS_TYPES, "snr_loss_type",
                    f"one of {MATRIX_LOSS_TYPES} with use_log_space_matrix=True",
                    self.snr_loss_type)

    @property
    def max_eig(self) -> float:
        """Penalty threshold: 0 in log space, 1 otherwise."""
        return 0.0 if self.use_log_space_matrix else 1.0


class SNRState(NamedTuple):
    """Persistent SNR state; fields a configuration does not use are ``None``.

    Attributes:
        snr_matrix: ``[c, c]`` EMA of C (``use_log_space_matrix``; starts at ones).
        phiT_phi_prime: ``[c, c]`` EMA of ``Phi^T Phi'`` (``svd_kamyar_v3``) or of
            ``Phi^T (gamma d Phi')`` (``svd_ofir_v2``, ``gelfand_ofir_v1``); starts at 0.
        phiT_phi: ``[c, c]`` EMA of ``Phi^T Phi``; starts at 0.
        centroids: ``[K, c]`` k-means centroids (``svd_kamyar_v1_with_kmeans``).
        counts: ``[K]`` running assignment counts of the centroids.
    """

    snr_matrix: jax.Array | None = None
    phiT_phi_prime: jax.Array | None = None
    phiT_phi: jax.Array | None = None
    centroids: jax.Array | None = None
    counts: jax.Array | None = None


class SNRBatch(NamedTuple):
    """The transitions the SNR loss needs.

    Attributes:
        obs: ``[N, obs_dim]`` float states s.
        action: ``[N, action_dim]`` float dataset actions a.
        next_obs: ``[N, obs_dim]`` float next states s'.
        discount: ``[N]`` float discount mask ``d = 1 - terminal`` (not multiplied by gamma).
    """

    obs: jax.Array
    action: jax.Array
    next_obs: jax.Array
    discount: jax.Array


class SNRMetrics(NamedTuple):
    """What every variant reports for logging (the original's ``(masked_s, C)``).

    Attributes:
        masked_singular_values: ``[r]`` float, the penalised singular values /
            eigenvalue real parts / Gelfand radius, zero where at or below the threshold
            (r = 1 for power iteration and Gelfand; zeros for the trace losses).
        matrix: the per-batch matrix: C ``[c, c]`` in log space, else M.
    """

    masked_singular_values: jax.Array
    matrix: jax.Array


def init_state(kwargs: SNRKwargs, feature_dim: int, key: jax.Array) -> SNRState:
    """Initial SNR state for ``kwargs`` (original: ``snr_state_init``).

    Args:
        kwargs: the SNR options.
        feature_dim: c, the number of features (``feature_dim(critic_params)`` for
            ``params_kernel``; unused by ntk/nngp, which are stateless).
        key: PRNG key (k-means centroids ~ N(0, 1)).

    Returns:
        ``SNRState`` with ones ``[c, c]`` (log space), zeros ``[c, c]`` pairs (EMA losses;
        the original fixed these at 256 x 256, we size them by c), or centroids ``[K, c]``
        and counts ``[K]`` (k-means); otherwise all ``None``.

    Raises:
        ValueError: incompatible options, or ``feature_dim < 1``.
    """
    kwargs.check_compatible()
    require(isinstance(feature_dim, int) and feature_dim >= 1, "feature_dim", "an int >= 1",
            feature_dim)
    c = feature_dim
    if kwargs.use_log_space_matrix:
        return SNRState(snr_matrix=jnp.ones((c, c)))
    if kwargs.snr_loss_type in EMA_PAIR_LOSS_TYPES:
        return SNRState(phiT_phi_prime=jnp.zeros((c, c)), phiT_phi=jnp.zeros((c, c)))
    if kwargs.snr_loss_type == "svd_kamyar_v1_with_kmeans":
        km = kmeans_init(key, kwargs.snr_num_centroids, c)
        return SNRState(centroids=km.centroids, counts=km.counts)
    return SNRState()


# ----------------------------------------------------------------------------- rules on M


def top_singular_value_rule(
    matrix: jax.Array, max_eig: float, key: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``svd_kamyar_v1``'s penalty: ``sigma = u^T M v`` from power iteration on ``sg(M)``.

    Args:
        matrix: ``[m, n]`` float; gradients flow only through this ``M`` in ``u^T M v``
            (``u``, ``v`` are computed from ``stop_gradient(M)``).
        max_eig: threshold; the loss is ``sigma`` if ``sigma > max_eig`` else 0.
        key: PRNG key of the power iteration's random start.

    Returns:
        ``(loss scalar, masked [1])``.
    """
    u, v = power_iteration(jax.lax.stop_gradient(matrix), key)
    sigma = u @ matrix @ v
    masked = sigma * (sigma > max_eig)
    return masked, masked[None]


def full_svd_rule(matrix: jax.Array, max_eig: float) -> tuple[jax.Array, jax.Array]:
    """``svd_kamyar``'s penalty: ``sum_i sigma_i [sigma_i > max_eig]``, ``sigma_i = u_i^T M v_i``.

    ``u_i``, ``v_i`` are the singular vectors of ``stop_gradient(M)`` (``jnp.linalg.svd``).

    Args:
        matrix: ``[m, n]`` float.
        max_eig: threshold.

    Returns:
        ``(loss scalar, masked [min(m, n)])``.
    """
    u, _, vh = jnp.linalg.svd(jax.lax.stop_gradient(matrix), full_matrices=False)
    sigma = jnp.einsum("ai,ab,ib->i", u, matrix, vh)
    masked = sigma * (sigma > max_eig)
    return jnp.sum(masked), masked


def matrix_loss(
    matrix: jax.Array, loss_type: str, max_eig: float, key: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The penalties that act on a given square ``M`` (``MATRIX_LOSS_TYPES``).

    - ``svd_kamyar_v1``: ``top_singular_value_rule``; ``svd_kamyar``: ``full_svd_rule``.
    - ``full``: ``sum_i [relu(Re lambda_i - max_eig) + max_eig]`` over the eigenvalues of M
      (the original's ``diag(V^-1 M V)`` with ``V`` from a host ``np.linalg.eig``; the
      constant ``n * max_eig`` is kept as the original adds it inside the sum). Computed by
      ``purerl.losses.spectral.eigvals``, which has the same gradient and runs on any
      backend (host callback off-CPU, as the original).
    - ``trace_relu``: ``relu(trace M)``; ``trace_abs``: ``sum_i |M_ii|``.

    Args:
        matrix: ``[n, n]`` float.
        loss_type: one of ``MATRIX_LOSS_TYPES``.
        max_eig: threshold (1 for kernel matrices, 0 in log space).
        key: PRNG key (power iteration).

    Returns:
        ``(loss scalar, masked values [r])`` (see ``SNRMetrics``).

    Raises:
        ValueError: ``loss_type`` is not one of ``MATRIX_LOSS_TYPES``.
    """
    require(loss_type in MATRIX_LOSS_TYPES, "snr_loss_type", f"one of {MATRIX_LOSS_TYPES}",
            loss_type)
    if loss_type == "svd_kamyar_v1":
        return top_singular_value_rule(matrix, max_eig, key)
    if loss_type == "svd_kamyar":
        return full_svd_rule(matrix, max_eig)
    if loss_type == "full":
        re = jnp.real(eigvals(matrix))
        return jnp.sum(jax.nn.relu(re - max_eig) + max_eig), re * (re > max_eig)
    zeros = jnp.zeros((matrix.shape[0],), matrix.dtype)
    if loss_type == "trace_relu":
        return jax.nn.relu(jnp.trace(matrix)), zeros
    return jnp.sum(jnp.abs(jnp.diag(matrix))), zeros


# ------------------------------------------------------------------------- building M


def ridge_ratio(numerator: jax.Array, gram: jax.Array) -> jax.Array:
    """``numerator @ (gram + 1e-4 I)^-1`` for a symmetric PSD ``gram`` ``[n, n]``.

    Solved as a linear system instead of forming the inverse (same value as the original's
    ``inv``, better conditioned in float32).
    """
    regularised = gram + RIDGE * jnp.eye(gram.shape[0], dtype=gram.dtype)
    return jnp.linalg.solve(regularised, numerator.T).T


def _ema(old: jax.Array, new: jax.Array, tau: float) -> jax.Array:
    return (1.0 - tau) * old + tau * new


def _check_state(state: SNRState, kwargs: SNRKwargs) -> None:
    """Raise (before any math is traced) if ``state`` lacks a field ``kwargs`` needs."""
    if kwargs.use_log_space_matrix:
        needed = ("snr_matrix",)
    elif kwargs.snr_loss_type in EMA_PAIR_LOSS_TYPES:
        needed = ("phiT_phi_prime", "phiT_phi")
    elif kwargs.snr_loss_type == "svd_kamyar_v1_with_kmeans":
        needed = ("centroids", "counts")
    else:
        needed = ()
    for field in needed:
        require(getattr(state, field) is not None, f"state.{field}",
                f"an array from init_state for snr_loss_type={kwargs.snr_loss_type!r}, "
                f"use_log_space_matrix={kwargs.use_log_space_matrix}", None)


def snr_loss_from_features(
    phi: jax.Array,
    phi_prime: jax.Array,
    discount: jax.Array,
    state: SNRState,
    key: jax.Array,
    *,
    kwargs: SNRKwargs,
    gamma: float = 0.99,
) -> tuple[jax.Array, SNRState, SNRMetrics]:
    """SNR loss from feature matrices (``params_kernel`` mode), every loss type.

    With ``A = Phi^T Phi'``, ``A_d = Phi^T (gamma d Phi')``, ``B = Phi^T Phi`` ([c, c]):

    - log space: ``M = (1 - tau) state + tau C``, ``C = Phi^T (gamma d Phi' - Phi)``; the
      rules of ``matrix_loss`` with threshold 0.
    - ``MATRIX_LOSS_TYPES``: ``M = Phi' Phi^T (Phi Phi^T + 1e-4 I)^-1`` ([N, N]), threshold 1.
    - ``svd_kamyar_v1_pinv``: ``M = Phi' pinv(Phi^T)^T``, then power iteration.
    - ``svd_kamyar_v1_with_kmeans``: ``Phi_all = [centroids; Phi]``,
      ``M = Phi' Phi_all^T (Phi_all Phi_all^T + 1e-4 I)^-1`` ([N, K + N]), power iteration;
      the centroids then take ``snr_kmeans_iters`` k-means steps on ``sg(Phi)``.
    - ``svd_kamyar_v2``: ``M = A (B + 1e-4 I)^-1``, power iteration.
    - ``svd_kamyar_v3``: as v2 with ``A``, ``B`` replaced by their EMAs (rate tau, state);
      loss divided by tau.
    - ``svd_ofir_v1``: ``M = A_d (B + 1e-4 I)^-1``, full-SVD rule; ``svd_ofir_v2``: the same
      with EMAs of ``A_d`` and ``B``.
    - ``gelfand_ofir_v1``: the ``svd_ofir_v2`` matrix, loss = Gelfand spectral radius
      estimate if above 1 else 0 (no stop-gradient).

    Args:
        phi: ``[N, c]`` float features of X = (s, a_data).
        phi_prime: ``[N, c]`` float features of X' = (s', a').
        discount: ``[N]`` float mask d = 1 - terminal.
        state: ``SNRState`` from ``init_state`` (or the previous call).
        key: PRNG key (power iteration start, k-means re-seeding).
        kwargs: the SNR options (static).
        gamma: the agent's discount (0.99 in the spec).

    Returns:
        ``(loss scalar, new SNRState, SNRMetrics)``; the new state holds no gradient.

    Raises:
        ValueError: incompatible options, or a state field the loss type needs is missing.
    """
    kwargs.check_compatible()
    _check_state(state, kwargs)
    tau, loss_type, max_eig = kwargs.snr_matrix_tau, kwargs.snr_loss_type, kwargs.max_eig
    key_power, key_kmeans = jax.random.split(key)
    sg = jax.lax.stop_gradient
    discounted_prime = gamma * discount[:, None] * phi_prime

    if kwargs.use_log_space_matrix:
        c_matrix = phi.T @ (discounted_prime - phi)
        matrix = _ema(state.snr_matrix, c_matrix, tau)
        loss, masked = matrix_loss(matrix, loss_type, max_eig, key_power)
        return loss, state._replace(snr_matrix=sg(matrix)), SNRMetrics(masked, c_matrix)

    new_state = state
    if loss_type in MATRIX_LOSS_TYPES:
        matrix = ridge_ratio(phi_prime @ phi.T, phi @ phi.T)
        loss, masked = matrix_loss(matrix, loss_type, max_eig, key_power)
    elif loss_type == "svd_kamyar_v1_pinv":
        matrix = phi_prime @ jnp.linalg.pinv(phi.T).T
        loss, masked = top_singular_value_rule(matrix, max_eig, key_power)
    elif loss_type == "svd_kamyar_v1_with_kmeans":
        phi_all = jnp.concatenate([state.centroids, phi], axis=0)
        matrix = ridge_ratio(phi_prime @ phi_all.T, phi_all @ phi_all.T)
        loss, masked = top_singular_value_rule(matrix, max_eig, key_power)
        km = kmeans_update(KMeansState(state.centroids, state.counts), phi, key_kmeans,
                           kwargs.snr_kmeans_iters)
        new_state = state._replace(centroids=km.centroids, counts=km.counts)
    elif loss_type == "svd_kamyar_v2":
        matrix = ridge_ratio(phi.T @ phi_prime, phi.T @ phi)
        loss, masked = top_singular_value_rule(matrix, max_eig, key_power)
    elif loss_type == "svd_ofir_v1":
        matrix = ridge_ratio(phi.T @ discounted_prime, phi.T @ phi)
        loss, masked = full_svd_rule(matrix, max_eig)
    else:  # the EMA-pair losses
        cross = phi.T @ (phi_prime if loss_type == "svd_kamyar_v3" else discounted_prime)
        ema_cross = _ema(state.phiT_phi_prime, cross, tau)
        ema_gram = _ema(state.phiT_phi, phi.T @ phi, tau)
        matrix = ridge_ratio(ema_cross, ema_gram)
        new_state = state._replace(phiT_phi_prime=sg(ema_cross), phiT_phi=sg(ema_gram))
        if loss_type == "svd_kamyar_v3":
            loss, masked = top_singular_value_rule(matrix, max_eig, key_power)
            loss = loss / tau
        elif loss_type == "svd_ofir_v2":
            loss, masked = full_svd_rule(matrix, max_eig)
        else:
            radius = gelfand_spectral_radius(matrix)
            loss = radius * (radius > max_eig)
            masked = loss[None]
    return loss, new_state, SNRMetrics(masked, matrix)


def snr_loss_from_kernels(
    k_x_x: jax.Array, k_xprime_x: jax.Array, key: jax.Array, *, kwargs: SNRKwargs
) -> tuple[jax.Array, SNRMetrics]:
    """SNR loss from kernel matrices: ``M = K(X', X) (K(X, X) + 1e-4 I)^-1``, threshold 1.

    Args:
        k_x_x: ``[N, N]`` float kernel between the data points X.
        k_xprime_x: ``[N, N]`` float kernel between X' (rows) and X (columns).
        key: PRNG key (power iteration).
        kwargs: the SNR options; ``snr_loss_type`` must be one of ``MATRIX_LOSS_TYPES``.

    Returns:
        ``(loss scalar, SNRMetrics)``.

    Raises:
        ValueError: incompatible options.
    """
    kwargs.check_compatible()
    require(kwargs.snr_loss_type in MATRIX_LOSS_TYPES, "snr_loss_type",
            f"one of {MATRIX_LOSS_TYPES} for kernel matrices", kwargs.snr_loss_type)
    matrix = ridge_ratio(k_xprime_x, k_x_x)
    loss, masked = matrix_loss(matrix, kwargs.snr_loss_type, 1.0, key)
    return loss, SNRMetrics(masked, matrix)


# ------------------------------------------------------------------------- the critic


def layer_paths(tree: Params) -> list[tuple[str, ...]]:
    """Paths of the layers of a params pytree: the dicts whose values are all arrays."""
    if not isinstance(tree, Mapping):
        return []
    if tree and all(not isinstance(v, Mapping) for v in tree.values()):
        return [()]
    return [(k, *p) for k, v in tree.items() for p in layer_paths(v)]


def _get_path(tree, path: Sequence[str]):
    """The sub-tree at ``path``.

    Raises:
        ValueError: ``path`` is not in ``tree`` (names the layers there are).
    """
    sub = tree
    for name in path:
        if not isinstance(sub, Mapping) or name not in sub:
            raise ValueError(
                f"last_layer: expected a path into the critic params (one of "
                f"{layer_paths(tree)}), got {tuple(path)!r}; pass the critic's output layer "
                "as last_layer=, or a feature function as features=")
        sub = sub[name]
    return sub


def _set_path(tree, path: Sequence[str], value):
    if not path:
        return value
    updated = dict(tree)
    updated[path[0]] = _set_path(tree[path[0]], path[1:], value)
    return updated


def feature_dim(critic_params: Params, last_layer: Sequence[str] = DEFAULT_LAST_LAYER) -> int:
    """c = number of parameters of the critic's last layer (``h + 1`` for ``NTKCritic``).

    Raises:
        ValueError: ``last_layer`` is not a path in ``critic_params``.
    """
    return int(sum(leaf.size for leaf in jax.tree.leaves(_get_path(critic_params, last_layer))))


def last_layer_features(
    critic_apply: CriticApply,
    critic_params: Params,
    obs: jax.Array,
    action: jax.Array,
    last_layer: Sequence[str] = DEFAULT_LAST_LAYER,
) -> jax.Array:
    """``params_kernel`` features: Jacobian of Q w.r.t. the last layer's parameters.

    For ``NTKCritic`` this is ``[b_std, h_L(x) * w_std / sqrt(h)]`` (leaves in flax's
    sorted order, bias then kernel; every SNR loss is invariant to a fixed permutation of
    the feature coordinates). Differentiable in ``obs``/``action`` (so in the policy's
    next actions) and in the other layers' parameters.

    Args:
        critic_apply: ``(params, obs [N, obs_dim], action [N, action_dim]) -> Q [N]``.
        critic_params: the critic's parameter pytree.
        obs: ``[N, obs_dim]`` float.
        action: ``[N, action_dim]`` float.
        last_layer: keys leading to the last layer's sub-tree of ``critic_params``
            (``("params", "head")`` for our critics; ``("params", "Dense_2")`` for a flax
            MLP of three unnamed ``nn.Dense``).

    Returns:
        ``[N, c]`` float features, c = ``feature_dim(critic_params, last_layer)``.

    Raises:
        ValueError: ``last_layer`` is not a path in ``critic_params``.
    """
    last = _get_path(critic_params, last_layer)

    def q_of_last(last):
        return critic_apply(_set_path(critic_params, last_layer, last), obs, action)

    jac = jax.jacrev(q_of_last)(last)
    return jnp.concatenate(
        [leaf.reshape(obs.shape[0], -1) for leaf in jax.tree.leaves(jac)], axis=-1)


def _features_of_last_layer(critic_apply, critic_params, obs, action, *, last_layer):
    return last_layer_features(critic_apply, critic_params, obs, action, last_layer)


def snr_loss(
    critic_apply: CriticApply,
    critic_params: Params,
    batch: SNRBatch,
    next_action: jax.Array,
    state: SNRState,
    key: jax.Array,
    *,
    kwargs: SNRKwargs,
    gamma: float = 0.99,
    last_layer: Sequence[str] = DEFAULT_LAST_LAYER,
    features: FeatureFn | None = None,
    kernel: ReluMLPKernel | None = None,
) -> tuple[jax.Array, SNRState, SNRMetrics]:
    """The SNR loss of a critic on a batch, to add (scaled by ``snr_alpha``) to any loss.

    Pure and jit-/grad-friendly; static options are keyword-only (close over them or use
    ``functools.partial``). Gradients reach ``next_action`` (so the policy, when ``a'`` is
    reparameterised) in every mode, and ``critic_params`` in ``params_kernel`` mode.

    Args:
        critic_apply: ``(params, obs [N, obs_dim], action [N, action_dim]) -> Q [N]`` (one
            critic; for an ensemble pass a function that selects one).
        critic_params: the critic's parameters (online params, as the original for Phi').
        batch: ``SNRBatch`` of N transitions.
        next_action: ``[N, action_dim]`` float ``a' ~ pi(s')``.
        state: ``SNRState`` from ``init_state``.
        key: PRNG key.
        kwargs: the SNR options.
        gamma: the agent's discount.
        last_layer: path of the critic's last layer in ``critic_params`` (``params_kernel``
            features are the Jacobian w.r.t. it); any name works, e.g.
            ``("params", "Dense_2")``.
        features: instead of ``last_layer``, a function ``(critic_params, obs [N, obs_dim],
            action [N, action_dim]) -> phi [N, c]`` (``params_kernel`` mode; the state of
            ``init_state`` must then be sized by its c).
        kernel: the critic architecture's analytic kernel (``NTKCritic.analytic_kernel()``),
            required for ``ntk``/``nngp``.

    Returns:
        ``(loss scalar float32, new SNRState, SNRMetrics)``.

    Raises:
        ValueError: incompatible options, a missing ``kernel`` for ntk/nngp, a missing
            state field, mismatched batch shapes, or a ``last_layer`` that is not a path
            in ``critic_params`` (the message lists the layers there are).
    """
    kwargs.check_compatible()
    _check_state(state, kwargs)
    n = batch.obs.shape[0]
    for name, shape, expected in (
            ("batch.action", batch.action.shape[:1], (n,)),
            ("batch.next_obs", batch.next_obs.shape, batch.obs.shape),
            ("batch.discount", batch.discount.shape, (n,)),
            ("next_action", next_action.shape, batch.action.shape)):
        require(shape == expected, name, f"leading shape {expected} (batch.obs is "
                f"{batch.obs.shape})", shape)

    if kwargs.snr_mode == "params_kernel":
        if features is None:
            features = functools.partial(_features_of_last_layer, critic_apply,
                                         last_layer=tuple(last_layer))
        phi = features(critic_params, batch.obs, batch.action)
        phi_prime = features(critic_params, batch.next_obs, next_action)
        return snr_loss_from_features(phi, phi_prime, batch.discount, state, key,
                                      kwargs=kwargs, gamma=gamma)

    require(kernel is not None, "kernel",
            f"a ReluMLPKernel (e.g. NTKCritic.analytic_kernel()) for snr_mode="
            f"{kwargs.snr_mode!r}", kernel)
    x = jnp.concatenate([batch.obs, batch.action], axis=-1)
    x_prime = jnp.concatenate([batch.next_obs, next_action], axis=-1)
    pick = (lambda k: k.ntk) if kwargs.snr_mode == "ntk" else (lambda k: k.nngp)
    k_x_x = pick(kernel(x, x))
    k_xprime_x = pick(kernel(x_prime, x))
    loss, metrics = snr_loss_from_kernels(k_x_x, k_xprime_x, key, kwargs=kwargs)
    return loss, state, metrics
