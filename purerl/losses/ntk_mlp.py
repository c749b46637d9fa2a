"""A ReLU critic MLP in NTK parameterisation (the SNR actor-critic's critic).

Source: the original SNR agent's critic, neural-tangents
``stax.serial(*[Dense(h, W_std=1.0, b_std=0.05), Relu()] * L, Dense(1, W_std=1.0,
b_std=0.05))`` on ``concat(obs, action)``. NTK parameterisation (Jacot et al. 2018, eq. 1):
all parameters are drawn N(0, 1) and the layer computes
``(w_std / sqrt(fan_in)) x @ W + b_std * b``, so the scale lives in the forward pass and the
empirical NTK converges to ``purerl.losses.kernels.ReluMLPKernel`` as the width grows.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from purerl.losses.kernels import ReluMLPKernel


class NTKDense(nn.Module):
    """Dense layer in NTK parameterisation: ``y = (w_std / sqrt(fan_in)) x @ W + b_std b``.

    Attributes:
        features: output width.
        w_std: weight multiplier (1.0 in the original critic).
        b_std: bias multiplier (0.05 in the original critic).

    Params: ``kernel [fan_in, features]`` and ``bias [features]``, both N(0, 1) at init.
    """

    features: int
    w_std: float = 1.0
    b_std: float = 0.05

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """``x [..., fan_in]`` -> ``[..., features]`` (same float dtype)."""
        fan_in = x.shape[-1]
        kernel = self.param("kernel", nn.initializers.normal(1.0), (fan_in, self.features))
        bias = self.param("bias", nn.initializers.normal(1.0), (self.features,))
        return (self.w_std / jnp.sqrt(fan_in)) * (x @ kernel) + self.b_std * bias


class NTKCritic(nn.Module):
    """Q(s, a): ``len(hidden_sizes) x [NTKDense, relu] + NTKDense(1)`` on ``concat(obs, action)``.

    The output layer is named ``"head"``, so the SNR ``params_kernel`` features (the
    Jacobian w.r.t. the last layer, ``[b_std, h_L(x) * w_std / sqrt(h)]`` in flax's leaf
    order) are found at ``params["params"]["head"]`` (``purerl.losses.snr.DEFAULT_LAST_LAYER``).

    Attributes:
        hidden_sizes: hidden widths (original SNR default ``(256, 256, 256)``).
        w_std: weight multiplier of every layer.
        b_std: bias multiplier of every layer.
    """

    hidden_sizes: Sequence[int] = (256, 256, 256)
    w_std: float = 1.0
    b_std: float = 0.05

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        """``obs [..., obs_dim]``, ``action [..., action_dim]`` -> ``Q [...]`` float32."""
        x = jnp.concatenate([obs, action], axis=-1)
        for i, width in enumerate(self.hidden_sizes):
            x = nn.relu(NTKDense(width, self.w_std, self.b_std, name=f"hidden_{i}")(x))
        return NTKDense(1, self.w_std, self.b_std, name="head")(x)[..., 0]

    def analytic_kernel(self) -> ReluMLPKernel:
        """The infinite-width NNGP/NTK of this architecture (for SNR ``ntk``/``nngp`` modes)."""
        return ReluMLPKernel(len(self.hidden_sizes), self.w_std, self.b_std)
