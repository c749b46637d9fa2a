"""Online k-means over feature vectors (state of the ``svd_kamyar_v1_with_kmeans`` SNR loss).

Source: the original SNR code's ``kmeans._kmeans_update_step`` as called by the SNR loss
(decay 0.9, counts decay 0.9, dead tolerance 0.01). Two deliberate differences, both
where the original's behaviour is a bug rather than a choice:
- a centroid that receives no point this iteration keeps its position (the original
  averages it towards the zero vector);
- dead centroids are re-seeded at random data points, all of them each iteration, as the
  spec states ("dead centroids re-seeded from data"); the original moved only the single
  least-used centroid next to the most-used one, and returned the per-iteration counts
  instead of their running average.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

KMEANS_DECAY = 0.9
"""EMA rate of centroid positions (original: ``decay=0.9``)."""
COUNTS_DECAY = 0.9
"""EMA rate of per-centroid assignment counts (original: ``counts_decay=0.9``)."""
DEAD_TOLERANCE = 0.01
"""A centroid is dead when its count EMA < max(DEAD_TOLERANCE * N / K, 1)."""


class KMeansState(NamedTuple):
    """Online k-means state.

    Attributes:
        centroids: ``[K, c]`` float centroid positions.
        counts: ``[K]`` float running average of points assigned per iteration.
    """

    centroids: jax.Array
    counts: jax.Array


def kmeans_init(key: jax.Array, num_centroids: int, dim: int) -> KMeansState:
    """Centroids ~ N(0, 1) ``[K, dim]`` and counts 1 (as the original)."""
    return KMeansState(jax.random.normal(key, (num_centroids, dim)), jnp.ones((num_centroids,)))


def dead_threshold(num_points: int, num_centroids: int) -> float:
    """Count below which a centroid is re-seeded: ``max(0.01 N / K, 1)``."""
    return max(DEAD_TOLERANCE * num_points / num_centroids, 1.0)


def kmeans_update(state: KMeansState, data: jax.Array, key: jax.Array, iters: int) -> KMeansState:
    """``iters`` online k-means steps on one batch.

    Each step: assign every point to its nearest centroid (squared Euclidean);
    ``c_k <- 0.9 c_k + 0.1 mean(points of k)`` for centroids that got points;
    ``n_k <- 0.9 n_k + 0.1 |points of k|``; every centroid with ``n_k`` below
    ``dead_threshold`` moves to a uniformly drawn data point and gets ``n_k`` = threshold.

    Args:
        state: current ``KMeansState`` (``[K, c]``, ``[K]``).
        data: ``[N, c]`` float points (the SNR loss passes ``stop_gradient(Phi)``).
        key: PRNG key for re-seeding.
        iters: static number of steps (``snr_kmeans_iters``).

    Returns:
        The new ``KMeansState``.
    """
    data = jax.lax.stop_gradient(data)
    num_points, num_centroids = data.shape[0], state.centroids.shape[0]
    threshold = dead_threshold(num_points, num_centroids)

    def step(carry, key_step):
        centroids, counts = carry
        dist = (jnp.sum(data**2, -1, keepdims=True) + jnp.sum(centroids**2, -1)[None]
                - 2.0 * data @ centroids.T)                                   # [N, K]
        one_hot = jax.nn.one_hot(jnp.argmin(dist, axis=1), num_centroids, dtype=data.dtype)
        assigned = one_hot.sum(0)                                             # [K]
        means = (one_hot.T @ data) / jnp.maximum(assigned, 1.0)[:, None]
        moved = KMEANS_DECAY * centroids + (1.0 - KMEANS_DECAY) * means
        centroids = jnp.where(assigned[:, None] > 0, moved, centroids)
        counts = COUNTS_DECAY * counts + (1.0 - COUNTS_DECAY) * assigned
        dead = counts < threshold
        seeds = data[jax.random.randint(key_step, (num_centroids,), 0, num_points)]
        centroids = jnp.where(dead[:, None], seeds, centroids)
        counts = jnp.where(dead, threshold, counts)
        return (centroids, counts), None

    (centroids, counts), _ = jax.lax.scan(
        step, (state.centroids, state.counts), jax.random.split(key, iters))
    return KMeansState(centroids, counts)
