"""Closed-form infinite-width kernels (NNGP and NTK) of a ReLU MLP in NTK parameterisation.

The SNR loss's ``ntk`` and ``nngp`` modes use the analytic kernels of the critic's
architecture instead of features of the current weights (the original called
neural-tangents' ``stax.serial(Dense(h, W_std, b_std), Relu(), ..., Dense(1))``
``kernel_fn``); this module re-derives them so we do not depend on neural-tangents.

Architecture: ``L`` hidden layers ``z^{l+1} = (w/sqrt(n_l)) h^l W + b_std b``,
``h^{l+1} = relu(z^{l+1})`` with ``W, b ~ N(0, 1)``, then a linear output layer of the same
form. With ``q(x) = Sigma(x, x)`` and ``cos t = Sigma(x, x') / sqrt(q(x) q(x'))`` the
recursion is (Jacot et al. 2018, "Neural Tangent Kernel", Thm. 1; Lee et al. 2019, "Wide
Neural Networks of Any Depth Evolve as Linear Models", eqs. 4-5 and App. C)::

    Sigma^1(x, x')   = w^2 <x, x'> / d + b^2                 (input kernel, d = input dim)
    Theta^1(x, x')   = Sigma^1(x, x')
    E_relu           = sqrt(q q') / (2 pi) * (sin t + (pi - t) cos t)     (Cho & Saul 2009,
    E_relu'          = (pi - t) / (2 pi)                       arc-cosine kernels n=1, n=0)
    Sigma^{l+1}      = w^2 E_relu + b^2
    Theta^{l+1}      = Sigma^{l+1} + w^2 E_relu' Theta^l

applied once per hidden layer; ``Sigma^{L+1}`` is the NNGP kernel of the scalar output and
``Theta^{L+1}`` its NTK. Both are independent of the width (infinite-width limit).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from purerl.config import require

# Pairs whose cosine is within this of +-1 use the exact limit values: the arc-cosine
# derivative kernel has a cusp there (d t / d cos t is infinite), which would otherwise
# give NaN gradients for coincident inputs. The error this introduces in E_relu' is
# at most sqrt(2 * eps) / (2 pi) ~ 2e-4 (absolute).
_COS_EPS = 1e-6


class KernelPair(NamedTuple):
    """Both infinite-width kernels of one architecture between two input sets.

    Attributes:
        nngp: ``[N1, N2]`` float, the NNGP kernel (output covariance at init).
        ntk: ``[N1, N2]`` float, the neural tangent kernel.
    """

    nngp: jax.Array
    ntk: jax.Array


def _relu_expectations(sigma, q1, q2):
    """``E[relu(u) relu(v)]`` and ``E[relu'(u) relu'(v)]`` for ``(u, v) ~ N(0, [[q1, s], [s, q2]])``.

    Args:
        sigma: ``[N1, N2]`` cross covariance.
        q1: ``[N1, 1]`` variances of the first set; q2: ``[1, N2]`` of the second.

    Returns:
        ``(e_relu, e_relu_dot)``, both ``[N1, N2]`` (Cho & Saul 2009, arc-cosine kernels of
        degree 1 and 0).
    """
    norm = jnp.sqrt(q1 * q2)
    cos = sigma / norm
    interior = jnp.abs(cos) < 1.0 - _COS_EPS
    # Double-where: evaluate arccos only at a safe point outside the interior, so the
    # untaken branch contributes no NaN/inf to the gradient.
    cos_safe = jnp.where(interior, cos, 0.0)
    theta = jnp.arccos(cos_safe)
    j1 = jnp.sin(theta) + (jnp.pi - theta) * cos_safe
    # Limits: cos -> 1 gives t = 0 (J1 = pi, J0 = pi); cos -> -1 gives t = pi (both 0).
    at_one = cos > 0
    j1 = jnp.where(interior, j1, jnp.where(at_one, jnp.pi, 0.0))
    j0 = jnp.where(interior, jnp.pi - theta, jnp.where(at_one, jnp.pi, 0.0))
    return norm * j1 / (2 * jnp.pi), j0 / (2 * jnp.pi)


@dataclasses.dataclass(frozen=True)
class ReluMLPKernel:
    """Analytic NNGP/NTK of ``num_hidden_layers x [Dense(w_std, b_std), relu] + Dense(1)``.

    The output layer uses the same ``w_std``/``b_std`` as the hidden layers, as the
    original SNR critic does (``stax.Dense(1, W_std=1.0, b_std=0.05)``).

    Attributes:
        num_hidden_layers: L >= 1, number of relu hidden layers (their widths do not matter).
        w_std: weight standard deviation multiplier ``w`` (NTK parameterisation).
        b_std: bias standard deviation multiplier ``b``.

    Raises:
        ValueError: a field is out of range.
    """

    num_hidden_layers: int = 3
    w_std: float = 1.0
    b_std: float = 0.05

    def __post_init__(self):
        require(self.num_hidden_layers >= 1, "num_hidden_layers", "an int >= 1",
                self.num_hidden_layers)
        require(self.w_std > 0, "w_std", "a positive number", self.w_std)
        require(self.b_std >= 0, "b_std", "a non-negative number", self.b_std)

    def __call__(self, x1: jax.Array, x2: jax.Array) -> KernelPair:
        """Kernels between two input sets.

        Args:
            x1: ``[N1, d]`` float inputs (for the critic: ``concat(obs, action)``).
            x2: ``[N2, d]`` float inputs.

        Returns:
            ``KernelPair`` of ``[N1, N2]`` arrays, the recursion in the module docstring.
        """
        w2, b2 = self.w_std**2, self.b_std**2
        d = x1.shape[-1]
        sigma = w2 * (x1 @ x2.T) / d + b2
        q1 = w2 * jnp.sum(x1 * x1, axis=-1, keepdims=True) / d + b2      # [N1, 1]
        q2 = (w2 * jnp.sum(x2 * x2, axis=-1, keepdims=True) / d + b2).T  # [1, N2]
        ntk = sigma
        for _ in range(self.num_hidden_layers):
            e_relu, e_dot = _relu_expectations(sigma, q1, q2)
            sigma = w2 * e_relu + b2
            ntk = sigma + w2 * e_dot * ntk
            # Diagonal variances: t = 0, so E_relu = q / 2.
            q1 = w2 * q1 / 2 + b2
            q2 = w2 * q2 / 2 + b2
        return KernelPair(nngp=sigma, ntk=ntk)
