"""Shuffle a rollout ``[T, N, ...]`` into minibatches for the epochs of an on-policy update.

Two layouts, both a single gather per leaf, stacked on a leading minibatch axis ``M`` so
that ``jax.lax.scan(update_minibatch, train_state, minibatches)`` runs them in order:

* :func:`flat_minibatches` shuffles single steps across time and envs (feed-forward
  policies: PPO's "37 implementation details", CleanRL ``ppo.py``).
* :func:`sequence_minibatches` shuffles whole env sequences, keeping time intact
  (recurrent policies: CleanRL ``ppo_atari_lstm.py``, PureJaxRL ``ppo_rnn.py``), and
  permutes the initial hidden states of those envs with them.

Sizes are static: they are checked in Python before tracing, with a ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from purerl.config import require


def _common_sizes(tree: Any, axes: tuple[int, ...], name: str) -> tuple[int, ...]:
    """The sizes of ``axes`` shared by every leaf of ``tree``, checked statically."""
    leaves_with_path = jax.tree_util.tree_flatten_with_path(tree)[0]
    require(len(leaves_with_path) > 0, name, "a pytree with at least one array", tree)
    sizes = None
    for path, leaf in leaves_with_path:
        where = f"{name}{jax.tree_util.keystr(path)}.shape"
        require(leaf.ndim > max(axes), where, f"at least {max(axes) + 1} axes", leaf.shape)
        leaf_sizes = tuple(leaf.shape[a] for a in axes)
        if sizes is None:
            sizes = leaf_sizes
        require(leaf_sizes == sizes, where, f"sizes {list(sizes)} on axes {list(axes)}",
                leaf.shape)
    return sizes


def flat_minibatches(key: jax.Array, batch: Any, num_minibatches: int) -> Any:
    """Shuffle all ``T * N`` steps and split them into ``num_minibatches`` equal parts.

    Step ``(t, n)`` has flat index ``t * N + n``; minibatch ``m`` holds the steps whose
    flat indices are ``perm[m * B:(m + 1) * B]``, ``perm = jax.random.permutation(key,
    T * N)``, ``B = T * N / M``. Every step appears in exactly one minibatch.

    Args:
        key: PRNG key of the shuffle.
        batch: pytree of leaves ``[T, N, ...]`` (same ``T`` and ``N`` for every leaf).
        num_minibatches: M, a divisor of ``T * N``.

    Returns:
        The pytree with leaves ``[M, T * N / M, ...]``.

    Raises:
        ValueError: if the leaves disagree on ``[T, N]`` or ``M`` does not divide ``T * N``.
    """
    t, n = _common_sizes(batch, (0, 1), "batch")
    size = t * n
    require(isinstance(num_minibatches, int) and num_minibatches >= 1, "num_minibatches",
            "an integer >= 1", num_minibatches)
    require(size % num_minibatches == 0, "num_minibatches",
            f"a divisor of T * N = {t} * {n} = {size}", num_minibatches)
    perm = jax.random.permutation(key, size)

    def shuffle(x):
        flat = x.reshape(size, *x.shape[2:])
        return jnp.take(flat, perm, axis=0).reshape(num_minibatches, -1, *x.shape[2:])

    return jax.tree.map(shuffle, batch)


def sequence_permutation(key: jax.Array, num_envs: int, num_minibatches: int) -> jax.Array:
    """The env indices of each minibatch of :func:`sequence_minibatches`, not gathered.

    ``jax.random.permutation(key, N).reshape(M, N / M)``: row ``m`` lists the envs of
    minibatch ``m``. For a loop that gathers one minibatch at a time inside its scan (as
    ``purerl.algos.ppo`` does for whole sequences: gathering all of them up front gives the
    same minibatches but lets XLA fuse the loss differently, which moves a recurrent run's
    numbers by float32 rounding).

    Args:
        key: PRNG key of the shuffle.
        num_envs: N.
        num_minibatches: M, a divisor of ``N``.

    Returns:
        ``[M, N / M]`` int32.

    Raises:
        ValueError: if ``M`` is not an integer >= 1 dividing ``N``.
    """
    require(isinstance(num_minibatches, int) and num_minibatches >= 1, "num_minibatches",
            "an integer >= 1", num_minibatches)
    require(num_envs % num_minibatches == 0, "num_minibatches",
            f"a divisor of N = {num_envs} envs", num_minibatches)
    return jax.random.permutation(key, num_envs).reshape(num_minibatches, -1)


def sequence_minibatches(
    key: jax.Array,
    batch: Any,
    num_minibatches: int,
    env_axis: int = 1,
    hidden: Any = None,
) -> tuple[Any, Any]:
    """Shuffle whole env sequences and split the envs into ``num_minibatches`` groups.

    Minibatch ``m`` holds the envs ``perm[m]``, ``perm = jax.random.permutation(key,
    N).reshape(M, N / M)``, each with all its ``T`` steps in order: the same minibatches as
    ``purerl.algos.ppo``'s epoch loop for the same key. ``hidden`` (the recurrent state at
    the start of the rollout, env axis first) is gathered with the same permutation, so
    minibatch ``m`` gets the initial states of its own envs.

    Args:
        key: PRNG key of the shuffle.
        batch: pytree of leaves with the env axis at ``env_axis``, e.g. ``[T, N, ...]``
            (``env_axis=1``, the default) or ``[N, T, ...]`` (``env_axis=0``).
        num_minibatches: M, a divisor of ``N``.
        env_axis: axis of the envs in every leaf of ``batch``.
        hidden: optional pytree of leaves ``[N, ...]`` (e.g. GRU states ``[N, H]``).

    Returns:
        ``(batch_mb, hidden_mb)``: ``batch`` with the minibatch axis first and ``N / M`` envs
        at the env axis (``[M, T, N / M, ...]`` for ``env_axis=1``, ``[M, N / M, T, ...]`` for
        ``env_axis=0``) and ``hidden`` with leaves ``[M, N / M, ...]`` (``None`` if
        ``hidden`` is ``None``). Both scan together: ``jax.lax.scan(f, carry, (batch_mb,
        hidden_mb))``.

    Raises:
        ValueError: if ``env_axis`` is negative, the leaves (of ``batch`` or ``hidden``)
            disagree on ``N``, or ``M`` does not divide ``N``.
    """
    require(isinstance(env_axis, int) and env_axis >= 0, "env_axis", "an integer >= 0",
            env_axis)
    (n,) = _common_sizes(batch, (env_axis,), "batch")
    if hidden is not None:
        (n_hidden,) = _common_sizes(hidden, (0,), "hidden")
        require(n_hidden == n, "hidden", f"N = {n} envs on axis 0 (as in batch)", n_hidden)
    perm = sequence_permutation(key, n, num_minibatches)

    def shuffle(x):
        # take puts [M, N / M] where the env axis was; then M moves to the front.
        return jnp.moveaxis(jnp.take(x, perm, axis=env_axis), env_axis, 0)

    batch_mb = jax.tree.map(shuffle, batch)
    hidden_mb = None if hidden is None else jax.tree.map(lambda h: jnp.take(h, perm, axis=0),
                                                         hidden)
    return batch_mb, hidden_mb
