"""Action distributions on distrax: categorical, diagonal Gaussian, tanh-squashed Gaussian.

Event shapes follow the action spaces of ``envs_jax.spaces``: a categorical has a scalar
event (an integer action) and the Gaussians have the event ``[A]`` (the last axis), so
``log_prob`` and ``entropy`` of a continuous action are already summed over its ``A``
components. Every leading axis (``[T, N]``, seeds under ``jax.vmap``) is a batch axis.

All constructors are plain functions of arrays: call them inside ``jax.jit`` on the outputs
of a network, as ``dist = diag_gaussian(mean, log_std)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp

from envs_jax import spaces
from purerl.config import require

DiagGaussian = distrax.MultivariateNormalDiag
"""The distribution :func:`diag_gaussian` returns (for type hints and ``isinstance``)."""


def categorical(logits: jax.Array) -> distrax.Categorical:
    """Categorical over the last axis of ``logits``.

    Args:
        logits: ``[..., num_actions]`` float unnormalised log-probabilities.

    Returns:
        A ``distrax.Categorical`` with batch shape ``[...]``; ``sample`` gives int32 ``[...]``,
        ``log_prob(a)`` and ``entropy()`` give float ``[...]`` (nats).
    """
    return distrax.Categorical(logits=logits)


def diag_gaussian(mean: jax.Array, log_std: jax.Array | float) -> DiagGaussian:
    """Diagonal Gaussian N(mean, diag(exp(log_std)^2)) with the action as event.

    The standard deviation may come from anywhere: a head of the network (per-state,
    ``log_std`` of shape ``[..., A]``), a parameter shared by all states (state-independent,
    ``[A]``, e.g. :class:`LogStd`, as in PPO for MuJoCo), or a constant (fixed, a float).
    It is broadcast to the shape of ``mean``.

    Args:
        mean: ``[..., A]`` float mean.
        log_std: natural log of the standard deviation, broadcastable to ``mean``.

    Returns:
        ``distrax.MultivariateNormalDiag`` with batch shape ``[...]`` and event ``[A]``:
        ``log_prob(a [..., A])`` and ``entropy()`` are ``[...]``, summed over ``A``;
        ``sample`` is reparameterised (``mean + std * eps``).
    """
    mean = jnp.asarray(mean)
    log_std = jnp.broadcast_to(jnp.asarray(log_std, mean.dtype), mean.shape)
    return distrax.MultivariateNormalDiag(loc=mean, scale_diag=jnp.exp(log_std))


class LogStd(nn.Module):
    """A learned, state-independent log standard deviation ``[action_dim]``.

    Attributes:
        action_dim: A, number of action components.
        init_value: initial value of every component (0.0 = unit standard deviation, the
            value of the PPO reference implementations for continuous control).
    """

    action_dim: int
    init_value: float = 0.0

    @nn.compact
    def __call__(self) -> jax.Array:
        """Returns the parameter ``log_std`` ``[action_dim]``."""
        return self.param("log_std", nn.initializers.constant(self.init_value), (self.action_dim,))


def gaussian_kl(
    mean0: jax.Array, log_std0: jax.Array, mean1: jax.Array, log_std1: jax.Array
) -> jax.Array:
    """KL(p0 || p1) between diagonal Gaussians, exact, summed over the last axis.

    Per component, with s = exp(log_std):

        KL = log(s1 / s0) + (s0^2 + (mean0 - mean1)^2) / (2 s1^2) - 1/2

    rl_games' ``policy_kl`` (``rl_games/algos_torch/torch_ext.py``) computes the same sum
    but adds a bias of 1e-5 inside the log and to ``s1^2`` in the denominator, so its KL
    of two identical distributions is not zero: it is negative once s < 0.7 and tends to
    -1/2 per component as s -> 0. We follow the exact formula, computed from log-stds with
    no division. The bias is reported removed upstream in rl_games PR #381, which is newer
    than the latest rl_games we read (commit 262cf20, PR #366), where it is still present.

    Args:
        mean0: ``[..., A]`` mean of p0 (e.g. the behaviour policy in PPO).
        log_std0: log standard deviation of p0, broadcastable to ``mean0``.
        mean1: ``[..., A]`` mean of p1.
        log_std1: log standard deviation of p1, broadcastable to ``mean1``.

    Returns:
        ``[...]`` float KL divergence in nats, >= 0.
    """
    var_ratio = jnp.exp(2.0 * (log_std0 - log_std1))
    mahalanobis = jnp.square((mean0 - mean1) * jnp.exp(-log_std1))
    kl = (log_std1 - log_std0) + 0.5 * (var_ratio + mahalanobis - 1.0)
    return jnp.sum(kl, axis=-1)


class TanhGaussian(distrax.Transformed):
    """``tanh(u)``, ``u ~ N(loc, diag(scale^2))``: a Gaussian squashed into ``(-1, 1)^A``.

    A ``distrax.Transformed`` with ``Block(Tanh(), 1)``, so the event is ``[A]`` and

        log p(a) = log N(atanh(a); loc, scale) - sum_i log(1 - a_i^2)

    (change of variables, Haarnoja et al. 2018, "Soft Actor-Critic", appendix C, eq. 21).
    With ``tanh_gaussian(..., log_det_epsilon=e)`` (e > 0) the squashing term is the floored
    ``sum_i log(relu(1 - a_i^2) + e)`` of :class:`FlooredTanh` instead.
    Prefer ``sample_and_log_prob``: it evaluates the density at the pre-tanh sample, while
    ``log_prob(a)`` must invert tanh, which loses precision near |a| = 1 and is -inf/NaN
    for actions rounded to exactly +-1 in float32. ``entropy`` has no closed form (distrax
    raises); estimate it with ``-log_prob`` of samples.
    """

    def mode(self) -> jax.Array:
        """The deterministic action ``tanh(loc)`` ``[..., A]``.

        This is the convention of SAC reference code for evaluation (tanh of the Gaussian
        mode), not the exact mode of the squashed density, which for a large ``scale``
        moves towards the bounds +-1.
        """
        return jnp.tanh(self.distribution.loc)


class FlooredTanh(distrax.Tanh):
    """``y = tanh(x)`` whose log-Jacobian is floored: ``log(relu(1 - y^2) + epsilon)``.

    The exact ``log(1 - y^2)`` of ``distrax.Tanh`` tends to -inf as ``|x|`` grows; this
    one stays above ``log(epsilon)`` (about -13.8 per component for 1e-6), and is computed
    from the float32 output ``y`` as reference code does. Elementwise (event ``[]``; wrap
    in ``distrax.Block(., 1)`` for an ``[A]`` event).

    Source: pytorch_sac_ae ``sac_ae.py`` ``squash`` (``log_pi -= torch.log(F.relu(1 -
    pi.pow(2)) + 1e-6).sum(-1)``).

    Args:
        epsilon: the floor added inside the log, > 0.
    """

    def __init__(self, epsilon: float):
        super().__init__()
        self.epsilon = epsilon

    def _log_det(self, y: jax.Array) -> jax.Array:
        return jnp.log(jax.nn.relu(1.0 - jnp.square(y)) + self.epsilon)

    def forward_log_det_jacobian(self, x: jax.Array) -> jax.Array:
        """``log(relu(1 - tanh(x)^2) + epsilon)``, shape of ``x``."""
        return self._log_det(jnp.tanh(x))

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(tanh(x), log(relu(1 - tanh(x)^2) + epsilon))``."""
        y = jnp.tanh(x)
        return y, self._log_det(y)

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(atanh(y), -log(relu(1 - y^2) + epsilon))``."""
        return jnp.arctanh(y), -self._log_det(y)

    def same_as(self, other: distrax.Bijector) -> bool:
        """Same type and the same ``epsilon``."""
        return type(other) is FlooredTanh and other.epsilon == self.epsilon


def tanh_gaussian(loc: jax.Array, scale: jax.Array,
                  log_det_epsilon: float = 0.0) -> TanhGaussian:
    """A tanh-squashed diagonal Gaussian over ``[..., A]`` (see :class:`TanhGaussian`).

    Args:
        loc: ``[..., A]`` mean of the Gaussian before the squashing.
        scale: ``[..., A]`` (or broadcastable) positive standard deviation before squashing.
        log_det_epsilon: 0 (default): the exact tanh log-Jacobian (``distrax.Tanh``);
            > 0: the floored one of :class:`FlooredTanh` (pytorch_sac_ae uses 1e-6).

    Returns:
        :class:`TanhGaussian` with batch shape ``[...]`` and event ``[A]``.

    Raises:
        ValueError: ``log_det_epsilon`` < 0.
    """
    require(log_det_epsilon >= 0, "log_det_epsilon", "a number >= 0", log_det_epsilon)
    loc = jnp.asarray(loc)
    scale = jnp.broadcast_to(jnp.asarray(scale, loc.dtype), loc.shape)
    tanh = FlooredTanh(log_det_epsilon) if log_det_epsilon > 0 else distrax.Tanh()
    return TanhGaussian(
        distrax.MultivariateNormalDiag(loc=loc, scale_diag=scale),
        distrax.Block(tanh, 1),
    )


def deterministic_action(loc: jax.Array) -> jax.Array:
    """``tanh(loc)`` ``[..., A]``: the evaluation action of a tanh-Gaussian policy."""
    return jnp.tanh(loc)


class ActionDistribution(NamedTuple):
    """How a network's outputs become a distribution over the actions of a space.

    Attributes:
        kind: ``"categorical"`` or ``"diag_gaussian"``.
        num_outputs: width of the network head: ``n`` logits for ``Discrete(n)``, ``A``
            means for ``Box`` of shape ``(A,)`` (the log-std is separate, see ``make``).
        make: ``categorical(logits)`` or ``diag_gaussian(mean, log_std)``.
    """

    kind: str
    num_outputs: int
    make: Callable[..., distrax.Distribution]


def for_action_space(space: spaces.Space) -> ActionDistribution:
    """The distribution family for an action space of ``envs_jax.spaces``.

    ``Discrete(n)`` gets a categorical over ``n`` logits; a float ``Box`` of shape ``(A,)``
    gets an (unbounded) diagonal Gaussian over ``A`` components, as in PPO for continuous
    control: samples are not squashed, and the env (or a wrapper) clips them to the box.
    Use :func:`tanh_gaussian` explicitly for bounded SAC-style policies.

    Args:
        space: the env's action space.

    Returns:
        :class:`ActionDistribution`.

    Raises:
        ValueError: for a ``Box`` that is not one-dimensional or not of a float dtype, or
            any other kind of space.
    """
    if isinstance(space, spaces.Discrete):
        return ActionDistribution("categorical", space.n, categorical)
    if isinstance(space, spaces.Box):
        require(len(space.shape) == 1, "action_space.shape", "a 1-D shape (A,)", space.shape)
        require(jnp.issubdtype(space.dtype, jnp.floating), "action_space.dtype",
                "a float dtype", space.dtype)
        return ActionDistribution("diag_gaussian", math.prod(space.shape), diag_gaussian)
    raise ValueError(f"action_space: expected envs_jax.spaces.Discrete or Box, got {space!r}")
