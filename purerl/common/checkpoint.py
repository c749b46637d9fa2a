"""Atomic checkpoints of the full training state with orbax.

Orbax writes each step into a temporary directory and renames it into place once complete,
so a run killed mid-save leaves the previous step intact; ``latest_step`` only ever sees
finished steps. We save two items per step: ``state`` (the whole ``RunnerState`` pytree:
params, optimiser state, env state, PRNG key, update counter) and ``history`` (the
per-update metric arrays recorded so far; orbax reserves the item name "metrics").

Orbax refuses arrays with no elements, which MJX states hold (``mjx.Data.act`` of a model
without actuator state, e.g. ``[B, 0]``): such a leaf is saved as a one-element placeholder
and rebuilt as zeros of its true shape from the abstract state on restore (an empty array
has no values to lose).

In a multi-process job (``purerl.common.distributed``) every process calls ``save`` and
``restore`` with global arrays: orbax's multi-host path writes each process's shards (process
0 the metadata and the history) and restores each process's shards, so the directory must be
one that every host sees (a shared filesystem).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.sharding import NamedSharding, PartitionSpec, SingleDeviceSharding


class CheckpointError(RuntimeError):
    """Checkpoints exist but none of them reads back (a user-facing, one-line problem)."""


class Checkpointer:
    """Save / restore ``(state, metrics)`` pairs under ``directory/<step>``.

    Args:
        directory: checkpoint root (created if missing).
        max_to_keep: completed steps kept on disk.
    """

    def __init__(self, directory: str, max_to_keep: int = 2):
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                               enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        """Last completely written step (updates done), or None."""
        return self._manager.latest_step()

    def save(self, step: int, state: Any, metrics: dict) -> None:
        """Write ``state`` and ``metrics`` as step ``step`` (blocks until on disk)."""
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_fill_empty(state)),
            history=ocp.args.StandardSave(metrics)))
        self._manager.wait_until_finished()

    def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict]:
        """Restore step ``step`` into the structure of ``abstract_state``.

        Args:
            abstract_state: a pytree of ``jax.ShapeDtypeStruct`` (``jax.eval_shape`` of
                the init function) or of arrays with the target structure.

        Raises:
            FileNotFoundError: the step does not exist under ``directory``.
        """
        if step not in self._manager.all_steps():
            raise FileNotFoundError(
                f"no checkpoint step {step} in {self.directory} (have {self._manager.all_steps()})")
        restored = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(restore_target(_fill_empty(abstract_state))),
            history=ocp.args.StandardRestore()))
        state = jax.tree.map(lambda r, a: np.zeros(a.shape, a.dtype) if _empty(a) else r,
                             restored["state"], abstract_state)
        return state, dict(restored["history"])

    def restore_latest_intact(self, abstract_state: Any) -> tuple[int, Any, dict] | None:
        """Restore the newest checkpoint that reads back, skipping damaged ones.

        A step whose files are damaged (a truncated file, a disk error) is skipped with a
        one-line warning that names it and the reason; the next older step is tried.

        Returns:
            ``(step, state, history)``, or None when there is no checkpoint at all.

        Raises:
            CheckpointError: checkpoints exist but none of them reads back.
        """
        steps = sorted(self._manager.all_steps(), reverse=True)
        problems = []
        for step in steps:
            try:
                state, history = self.restore(step, abstract_state)
            except Exception as err:  # noqa: BLE001  (orbax/tensorstore raise many types)
                reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
                problems.append(f"step {step}: {reason}")
                warnings.warn(f"checkpoint step {step} in {self.directory} is unreadable "
                              f"({reason}); trying an older one", stacklevel=2)
                continue
            return step, state, history
        if problems:
            raise CheckpointError(f"no intact checkpoint in {self.directory}: "
                               + "; ".join(problems))
        return None

    def close(self) -> None:
        self._manager.close()


def restore_target(abstract: Any) -> Any:
    """``abstract`` with a device for every ``ShapeDtypeStruct`` that names none.

    Without one, orbax restores onto the devices that SAVED the step, which a process with
    other devices lacks (a run trained on 2 devices or 2 hosts, scored or resumed on one):
    such leaves are restored onto this process's first device (the values are the same).
    Leaves with a sharding (a multi-process restore) are left as they are.
    """
    device = jax.local_devices()[0]

    def one(leaf):
        if isinstance(leaf, jax.ShapeDtypeStruct) and leaf.sharding is None:
            return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype,
                                        sharding=SingleDeviceSharding(device))
        return leaf
    return jax.tree.map(one, abstract)


def _empty(leaf: Any) -> bool:
    return hasattr(leaf, "shape") and int(np.prod(leaf.shape)) == 0


def _fill_empty(tree: Any) -> Any:
    """``tree`` with each zero-size array (or ``ShapeDtypeStruct``) replaced by a
    one-element one of the same dtype."""
    def fill(leaf):
        if not _empty(leaf):
            return leaf
        if isinstance(leaf, jax.ShapeDtypeStruct):
            sharding = getattr(leaf, "sharding", None)
            if isinstance(sharding, NamedSharding):      # multi-process restore: replicated
                return jax.ShapeDtypeStruct((1,), leaf.dtype, sharding=NamedSharding(
                    sharding.mesh, PartitionSpec()))
            return jax.ShapeDtypeStruct((1,), leaf.dtype)
        return np.zeros((1,), leaf.dtype)
    return jax.tree.map(fill, tree)
