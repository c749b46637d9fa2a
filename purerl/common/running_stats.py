"""Running mean and variance of a stream of batches, for observation and value normalisation.

The statistics are a pytree (``RunningStats``), updated by pure functions, so they live in
the training carry, go through ``jax.jit`` and ``jax.lax.scan``, and get a leading seed axis
under ``jax.vmap``. Semantics follow rl_games' ``RunningMeanStd``
(``rl_games/algos_torch/running_mean_std.py``): population variance, ``eps = 1e-5`` added
to the variance, normalised values clipped to +-5.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from purerl.config import require

EPS = 1e-5
"""Added to the variance before the square root (rl_games' ``epsilon``)."""


@struct.dataclass
class RunningStats:
    """Mean and population variance of every sample seen so far, per component.

    Attributes:
        mean: ``[*shape]`` float32 running mean.
        var: ``[*shape]`` float32 running population variance (ddof 0).
        count: ``[]`` float32 number of samples merged so far. float32 is exact up to
            2^24 and afterwards rounds each update's count to ~1e-7 relative, which
            changes the merge weights by as little; an update is lost altogether only if
            its batch is smaller than ``count * 2^-24`` (e.g. batches of 1 after 16.7M
            samples), so feed batches, not single samples.
    """

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample."""
        return self.mean.shape


def init(shape: tuple[int, ...], count: float = 0.0) -> RunningStats:
    """Statistics before any data: mean 0, variance 1, ``count`` pseudo-samples.

    With the default ``count = 0`` the prior has no weight: after updates, ``mean`` and
    ``var`` are exactly those of the data. rl_games starts at ``count = 1`` (one
    pseudo-sample of mean 0 and variance 1, which biases the early statistics towards that
    prior); pass ``count=1.0`` to reproduce it. Before the first update ``normalize`` is the
    identity up to clipping and ``eps``.

    Args:
        shape: shape of one sample, e.g. ``(obs_dim,)`` or ``()`` for values.
        count: weight of the prior, >= 0.

    Returns:
        :class:`RunningStats`.

    Raises:
        ValueError: if ``count < 0``.
    """
    require(count >= 0, "count", "a number >= 0", count)
    shape = tuple(int(d) for d in shape)
    return RunningStats(
        mean=jnp.zeros(shape, jnp.float32),
        var=jnp.ones(shape, jnp.float32),
        count=jnp.asarray(count, jnp.float32),
    )


def update(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """Merge a batch into the statistics (Chan, Golub and LeVeque 1979, parallel variance).

    With ``n_a = count``, ``n_b`` the batch size, ``delta = mean_b - mean_a``:

        mean = mean_a + delta * n_b / n
        var  = (var_a * n_a + var_b * n_b + delta^2 * n_a * n_b / n) / n,   n = n_a + n_b

    (Chan, Golub and LeVeque 1979, "Updating formulae and a pairwise algorithm for
    computing sample variances": their pairwise update of the sum of squared deviations,
    divided by ``n``). rl_games' ``_update_mean_var_count_from_moments`` computes the
    same. Jittable; under ``jax.vmap`` each seed keeps its own statistics.

    Args:
        stats: current statistics of shape ``S``.
        batch: ``[B, *S]`` or more leading axes ``[T, N, *S]``: every axis before the
            trailing ``S`` is a sample axis. At least one sample.

    Returns:
        Updated :class:`RunningStats`.

    Raises:
        ValueError: if the trailing axes of ``batch`` are not ``stats.shape`` or the batch
            holds no sample (checked statically, before tracing).
    """
    shape = stats.mean.shape
    lead = batch.ndim - len(shape)
    require(lead >= 1 and tuple(batch.shape[lead:]) == shape, "batch.shape",
            f"[B, ...] + {list(shape)} (sample shape of the statistics)", batch.shape)
    axes = tuple(range(lead))
    n_b = 1
    for d in batch.shape[:lead]:
        n_b *= d
    require(n_b >= 1, "batch.shape", "at least one sample", batch.shape)
    x = batch.astype(jnp.float32)
    mean_b = jnp.mean(x, axis=axes)
    var_b = jnp.var(x, axis=axes)
    n_a = stats.count
    n = n_a + n_b
    delta = mean_b - stats.mean
    mean = stats.mean + delta * (n_b / n)
    m2 = stats.var * n_a + var_b * n_b + jnp.square(delta) * (n_a * n_b / n)
    return RunningStats(mean=mean, var=m2 / n, count=n)


def normalize(stats: RunningStats, x: jax.Array, clip: float | None = 5.0,
              eps: float = EPS) -> jax.Array:
    """``clip((x - mean) / sqrt(var + eps), -clip, clip)``, rl_games' forward pass.

    Args:
        stats: statistics of sample shape ``S``.
        x: ``[..., *S]`` values to normalise.
        clip: bound of the result, or ``None`` for no clipping.
        eps: added to the variance.

    Returns:
        ``[..., *S]`` float32.
    """
    y = (x - stats.mean) / jnp.sqrt(stats.var + eps)
    return y if clip is None else jnp.clip(y, -clip, clip)


def denormalize(stats: RunningStats, x: jax.Array, clip: float | None = 5.0,
                eps: float = EPS) -> jax.Array:
    """``sqrt(var + eps) * clip(x, -clip, clip) + mean``: the inverse of :func:`normalize`.

    For value normalisation: the critic predicts normalised values and this maps them
    back to returns. Like rl_games' ``denorm=True`` pass, the input is clipped first, so
    ``denormalize(normalize(v)) == v`` wherever ``|normalize(v)| < clip``.

    Args:
        stats: statistics of sample shape ``S``.
        x: ``[..., *S]`` normalised values.
        clip: bound applied to ``x`` first, or ``None`` for no clipping.
        eps: added to the variance.

    Returns:
        ``[..., *S]`` float32.
    """
    x = x if clip is None else jnp.clip(x, -clip, clip)
    return jnp.sqrt(stats.var + eps) * x + stats.mean
