"""A device-resident FIFO replay buffer on flashbax, sized by its capacity.

The buffer is flashbax's item buffer (``flashbax.make_item_buffer``): four pure functions
``init / add / sample / can_sample`` over a state pytree that holds every field of every
stored item in one preallocated array ``[1, capacity, ...]``. The state lives in the
training carry, so filling and sampling happen inside ``jax.jit`` / ``jax.lax.scan``, and
``jax.vmap`` over seeds gives each seed its own buffer.

Size it by ``capacity`` (a config field), never by the total number of env steps: memory
is allocated once, in full, by ``init`` and stays constant; once full, every ``add``
overwrites the oldest items (first in, first out).

Memory: ``buffer_bytes(capacity, example_item) = capacity * item_bytes(example_item)``.
For instance a SAC transition with ``obs`` and ``next_obs`` of 17 float32, a 6-float32
``action``, a float32 ``reward`` and a bool ``terminated`` takes
``(2 * 17 + 6 + 1) * 4 + 1 = 165`` bytes, so a capacity of 10^6 needs 165 MB per seed
(times the number of seeds under ``vmap``). Storing ``next_obs`` doubles the observation
memory; for image observations prefer storing sequences and rebuilding next observations.

Quirks of flashbax 0.1.3 (measured on jax 0.10.2, where it otherwise works under ``jit``
and ``vmap``), and what :func:`make_replay_buffer` does about them:

* ``sample`` on a buffer that cannot sample yet silently returns the zero items ``init``
  allocated: always gate learning on ``can_sample`` (e.g. with ``jax.lax.cond``).
* ``min_length = 0`` is raised to 1 with a warning; we require ``min_size >= 1``.
* ``sample_batch_size`` must be <= capacity even though sampling is with replacement;
  we check it here with a ``ValueError`` naming the field.
* ``add`` with more items than ``capacity`` at once, or with a dtype other than that of
  the example item, fails with a ``chex`` ``AssertionError`` deep in the trace; our ``add``
  checks structure, shapes and dtypes against ``example_item`` first and raises a
  ``ValueError`` naming the leaf.
"""

from __future__ import annotations

from typing import Any

import flashbax
import jax
import jax.numpy as jnp
import numpy as np

from purerl.config import require


def item_bytes(example_item: Any) -> int:
    """Bytes one stored item takes: the sum over the leaves of ``size * itemsize``.

    Args:
        example_item: one item (a pytree of arrays or ``jax.ShapeDtypeStruct``, no batch
            axis).

    Returns:
        Number of bytes (dtypes as stored, i.e. canonicalised: float64 becomes float32
        unless ``jax_enable_x64``).
    """
    total = 0
    for leaf in jax.tree.leaves(example_item):
        dtype = jax.dtypes.canonicalize_dtype(leaf.dtype)
        total += int(np.prod(leaf.shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return total


def buffer_bytes(capacity: int, example_item: Any) -> int:
    """Device memory of the stored items: ``capacity * item_bytes(example_item)``."""
    return int(capacity) * item_bytes(example_item)


def make_replay_buffer(
    capacity: int,
    min_size: int,
    sample_batch_size: int,
    example_item: Any,
    *,
    add_batches: bool = True,
) -> flashbax.buffers.trajectory_buffer.TrajectoryBuffer:
    """A uniform FIFO replay buffer of ``capacity`` items (flashbax item buffer).

    The returned object is flashbax's ``TrajectoryBuffer`` with the item-buffer functions:

    * ``init(example_item) -> state``: allocates ``[1, capacity, *leaf.shape]`` per leaf,
      filled with zeros; ``state.current_index`` is the next write position and
      ``state.is_full`` whether it has wrapped around.
    * ``add(state, batch) -> state``: writes ``batch`` (leaves ``[B, *leaf.shape]`` with
      ``add_batches``, else one item) at ``current_index``, wrapping around: past capacity
      the oldest items are overwritten (FIFO). ``B`` need not divide ``capacity``.
    * ``sample(state, key).experience``: ``sample_batch_size`` items (leaves
      ``[sample_batch_size, *leaf.shape]``) drawn uniformly with replacement from the
      stored ones. Before ``can_sample`` it returns zero items: do not use them.
    * ``can_sample(state) -> [] bool``: at least ``min_size`` items were added.

    Args:
        capacity: maximum number of stored items (a config value, independent of the
            length of training).
        min_size: items needed before ``can_sample`` is true (the learning-starts
            warm-up), ``1 <= min_size <= capacity``.
        sample_batch_size: items per ``sample``, ``1 <= sample_batch_size <= capacity``.
        example_item: one item, e.g. a ``Transition`` of arrays without batch axis; fixes
            the structure, shapes and dtypes ``add`` accepts (pass it to ``init`` too).
        add_batches: whether ``add`` takes a batch ``[B, ...]`` (e.g. one step of ``N``
            envs) or a single item.

    Returns:
        The flashbax buffer, with ``add`` checking its input against ``example_item``.

    Raises:
        ValueError: for sizes out of range or an ``example_item`` whose leaves are not
            arrays (Python scalars have no fixed dtype); the returned ``add`` raises it
            (at trace time) for a batch that does not match ``example_item`` or holds more
            than ``capacity`` items.
    """
    require(isinstance(capacity, int) and capacity >= 1, "capacity", "an integer >= 1",
            capacity)
    require(isinstance(min_size, int) and 1 <= min_size <= capacity, "min_size",
            f"an integer in [1, capacity={capacity}]", min_size)
    require(isinstance(sample_batch_size, int) and 1 <= sample_batch_size <= capacity,
            "sample_batch_size", f"an integer in [1, capacity={capacity}]", sample_batch_size)
    example_leaves, example_def = jax.tree.flatten(example_item)
    require(len(example_leaves) > 0, "example_item", "a pytree with at least one array",
            example_item)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(
        example_item)[0]]
    for path, leaf in zip(paths, example_leaves):
        require(hasattr(leaf, "shape") and hasattr(leaf, "dtype"), f"example_item{path}",
                "an array (with a fixed dtype)", type(leaf).__name__)
    expected = [(tuple(leaf.shape), jax.dtypes.canonicalize_dtype(leaf.dtype))
                for leaf in example_leaves]

    buffer = flashbax.make_item_buffer(
        max_length=capacity,
        min_length=min_size,
        sample_batch_size=sample_batch_size,
        add_sequences=False,
        add_batches=add_batches,
    )
    flashbax_add = buffer.add

    def add(state, batch):
        leaves, treedef = jax.tree.flatten(batch)
        require(treedef == example_def, "batch", f"the structure of example_item {example_def}",
                treedef)
        sizes = set()
        for path, leaf, (shape, dtype) in zip(paths, leaves, expected):
            leaf_shape = tuple(leaf.shape)
            item_shape = leaf_shape[1:] if add_batches else leaf_shape
            if add_batches:
                require(len(leaf_shape) >= 1, f"batch{path}.shape",
                        f"[B, *{list(shape)}]", leaf_shape)
                sizes.add(leaf_shape[0])
            require(item_shape == shape, f"batch{path}.shape",
                    f"[B, *{list(shape)}]" if add_batches else str(shape), leaf_shape)
            leaf_dtype = jax.dtypes.canonicalize_dtype(leaf.dtype)
            require(leaf_dtype == dtype, f"batch{path}.dtype", str(dtype), leaf_dtype)
        if add_batches:
            require(len(sizes) == 1, "batch", "one batch size B for every leaf", sorted(sizes))
            size = sizes.pop()
            require(size <= capacity, "batch", f"at most capacity={capacity} items per add",
                    size)
        return flashbax_add(state, jax.tree.map(jnp.asarray, batch))

    return buffer.replace(add=add)


def add_masked(state: Any, batch: Any, keep: jax.Array) -> Any:
    """Add only the items of ``batch`` where ``keep`` is true, in order (a FIFO ring write).

    For buffers whose intake is random in size (AMP's replay buffer keeps each agent pair
    with probability ``amp_replay_keep_prob`` once full; rl_games ``ReplayBuffer.store`` of
    the masked tensor). Works on the state of :func:`make_replay_buffer`'s item buffer
    (``experience [1, C, ...]``, ``current_index``, ``is_full``), so that buffer's
    ``sample`` and ``can_sample`` apply unchanged. The kept items go to positions
    ``(current_index + rank) mod C`` (rank = how many kept items precede it); when more
    than ``C`` are kept at once only the last ``C`` are written, so the result is that of
    adding them one by one. Jittable; the number kept may be traced.

    Args:
        state: a flashbax ``TrajectoryBufferState`` of an item buffer.
        batch: pytree of ``[B, ...]`` leaves matching the stored items.
        keep: ``[B]`` bool.

    Returns:
        The new state.

    Raises:
        ValueError: if ``keep`` is not ``[B]`` or ``batch``'s leaves disagree with the
            stored items (checked statically).
    """
    stored = jax.tree.leaves(state.experience)
    leaves = jax.tree.leaves(batch)
    size = leaves[0].shape[0]
    require(tuple(keep.shape) == (size,), "keep.shape", f"[B] = [{size}]", keep.shape)
    for s, b in zip(stored, leaves):
        require(tuple(b.shape) == (size, *s.shape[2:]), "batch.shape",
                f"[{size}, *{list(s.shape[2:])}]", b.shape)
    capacity = stored[0].shape[1]
    keep = keep.astype(bool)
    rank = jnp.cumsum(keep) - 1                       # [B] position among the kept ones
    count = rank[-1] + 1
    write = keep & (rank >= count - capacity)         # only the last C kept ones
    pos = jnp.where(write, (state.current_index + rank) % capacity, capacity)  # C: dropped
    experience = jax.tree.map(
        lambda s, b: s.at[0, pos].set(b.astype(s.dtype), mode="drop"), state.experience,
        batch)
    end = state.current_index + count
    return state.replace(experience=experience, current_index=(end % capacity).astype(
        state.current_index.dtype), is_full=state.is_full | (end >= capacity))
