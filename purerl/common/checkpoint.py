"""Atomic checkpoints of the full training state with orbax.

Orbax writes each step into a temporary directory and renames it into place once complete,
so a run killed mid-save leaves the previous step intact; ``latest_step`` only ever sees
finished steps. We save two items per step: ``state`` (the whole ``RunnerState`` pytree:
params, optimiser state, env state, PRNG key, update counter) and ``history`` (the
per-update metric arrays recorded so far; orbax reserves the item name "metrics").
"""

from __future__ import annotations

import os
from typing import Any

import orbax.checkpoint as ocp


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
            state=ocp.args.StandardSave(state), history=ocp.args.StandardSave(metrics)))
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
            state=ocp.args.StandardRestore(abstract_state), history=ocp.args.StandardRestore()))
        return restored["state"], dict(restored["history"])

    def close(self) -> None:
        self._manager.close()
