"""The one run directory every command line writes, and reads back to resume or evaluate.

Layout (``<runs_dir>/<name>/``)::

    config.json            the full config, written once before training starts
    checkpoints/<step>/    full training state + metric history after each segment (orbax)
    metrics_<label>.csv    one row per update, rewritten atomically after every segment
    tb/<label>/            TensorBoard events, appended after every segment
    learning_curve.png     mean +- std over runs (written by the CLI at the end)
    params/                final params (orbax)
    summary.json           scores, wall-clock (compile apart), versions, machine; its
                           presence marks a finished run

``<label>`` names one run of the vmapped axis: ``seed<s>``, or ``g<g>_seed<s>`` for a
hyperparameter grid (run ``b`` is grid point ``b // S``, seed ``b % S``).

In a multi-process job (``purerl.common.distributed``) every process holds a ``RunDir`` of
the same directory (on a filesystem every host sees): process 0 alone writes the files above;
``checkpoints/`` and ``params/`` are written by orbax's multi-host path, which every process
calls (each writes its shards of the run axis).

Rules: a directory that holds a started run (a checkpoint, params or a summary) is never
overwritten; one that holds only the ``config.json`` of a run that failed to start is
reused. Everything is written as segments finish, so a killed run keeps its metrics up to
its last checkpoint and ``resume`` continues from there.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np

from purerl.common import distributed
from purerl.common import logging as lg
from purerl.common.checkpoint import Checkpointer, restore_target


class RunDirError(Exception):
    """A user-facing problem with a run directory (printed as one line by the CLIs)."""


class RunExistsError(RunDirError, FileExistsError):
    """``RunDir.create`` found a started run: also a ``FileExistsError``."""


def run_labels(num_points: int, num_seeds: int) -> list[str]:
    """Labels of the ``num_points * num_seeds`` runs, grid-major (see the module docstring)."""
    if num_points == 1:
        return [f"seed{s}" for s in range(num_seeds)]
    return [f"g{g}_seed{s}" for g in range(num_points) for s in range(num_seeds)]


class RunDir:
    """A run directory (see the module docstring). Build with ``create`` or ``resume``.

    Attributes:
        path: the directory.
        config: the config dict stored in ``config.json``.
    """

    def __init__(self, path: str, config: dict):
        self.path = path
        self.config = config
        self._tb_writers: dict[str, Any] = {}
        self._tb_rows = 0
        self.writes = distributed.is_writer()
        """Whether this process writes files (process 0 of a multi-process job)."""

    # ---------------------------------------------------------------- create / resume

    @classmethod
    def create(cls, path: str, config: dict) -> RunDir:
        """Start a new run in ``path`` and write ``config.json``.

        Raises:
            RunExistsError: ``path`` holds a started run (checkpoints, params or summary).
            RunDirError: ``path`` exists and is not a directory.
        """
        if os.path.exists(path) and not os.path.isdir(path):
            raise RunDirError(f"{path} exists and is not a directory; pass another run name")
        if _started(path):
            raise RunExistsError(f"{path} already holds a run; runs are never overwritten: "
                              f"continue it with --resume {path} or pick another name")
        distributed.barrier("purerl-run-dir-checked")   # every process looked before
        if distributed.is_writer():                      # process 0 writes
            os.makedirs(path, exist_ok=True)
            lg.write_json(os.path.join(path, "config.json"), config)
        distributed.barrier("purerl-run-dir-created")
        return cls(path, _jsonable(config))     # as it reads back (tuples become lists)

    @classmethod
    def load(cls, path: str) -> RunDir:
        """Open an existing run to read it (evaluate, inspect).

        Raises:
            RunDirError: no ``config.json`` in ``path``.
        """
        config_path = os.path.join(path, "config.json")
        if not os.path.exists(config_path):
            raise RunDirError(f"{path} is not a run directory (no config.json)")
        with open(config_path) as f:
            return cls(path, json.load(f))

    @classmethod
    def resume(cls, path: str, given: dict | None = None,
               ignore: Sequence[str] = ()) -> RunDir:
        """Open the run in ``path`` to continue it; its stored config is the truth.

        Args:
            path: the run directory (it may have been moved or renamed).
            given: flags the user typed again (name -> value); each must equal the stored
                value unless it is in ``ignore``.
            ignore: names that may differ (e.g. logging options, the resume flag itself).

        Raises:
            RunDirError: no ``config.json`` in ``path``, or a given flag differs from the
                stored one (named, with both values).
        """
        config_path = os.path.join(path, "config.json")
        if not os.path.exists(config_path):
            raise RunDirError(f"--resume: {path} is not a run directory (no config.json)")
        with open(config_path) as f:
            stored = json.load(f)
        flat = _flatten(stored)
        diff = [f"{k}: stored {flat.get(k)!r}, given {v!r}"
                for k, v in _flatten(given or {}).items()
                if k not in ignore and k in flat and _jsonable(flat[k]) != _jsonable(v)]
        if diff:
            raise RunDirError(f"--resume: flags differ from the run in {path} (drop them or "
                              "start a new run): " + "; ".join(diff))
        return cls(path, stored)

    # ------------------------------------------------------------------------ queries

    @property
    def finished(self) -> bool:
        """Whether the run completed (``summary.json`` exists)."""
        return os.path.exists(os.path.join(self.path, "summary.json"))

    def checkpointer(self, max_to_keep: int = 2) -> Checkpointer:
        """The run's ``Checkpointer`` (``checkpoints/``)."""
        return Checkpointer(os.path.join(self.path, "checkpoints"), max_to_keep)

    def read_summary(self) -> dict:
        """The stored ``summary.json`` (of a finished run)."""
        with open(os.path.join(self.path, "summary.json")) as f:
            return json.load(f)

    # ------------------------------------------------------------------------ writing

    def write_metrics(self, history: dict, labels: Sequence[str], *,
                      step_name: str = "update", x_axis: str | None = "env_steps",
                      derived: dict | None = None) -> None:
        """Write every run's metrics so far: CSV rewritten, TensorBoard rows appended.

        Call after every segment with the whole history; the first call of a process
        that finds TensorBoard files of an earlier (killed) process rewrites them from
        the history, so resumed curves hold each update exactly once.

        Args:
            history: metric name -> ``[B, U]`` array, U updates done so far.
            labels: ``B`` run labels (``run_labels``).
            step_name: name of the first CSV column (1-based update counter).
            x_axis: metric used as the TensorBoard step (default: the update counter).
            derived: extra ``[B, U]`` columns written first (e.g. ``episode_return_mean``).
        """
        if not self.writes:
            return
        history = {k: np.asarray(v) for k, v in history.items()}
        derived = {k: np.asarray(v) for k, v in (derived or {}).items()}
        columns = {**derived, **{k: history[k] for k in sorted(history)
                                 if k not in derived}}
        num_updates = next(iter(columns.values())).shape[1]
        for b, label in enumerate(labels):
            path = os.path.join(self.path, f"metrics_{label}.csv")
            tmp = path + ".tmp"
            with open(tmp, "w", newline="") as f:
                out = csv.writer(f)
                out.writerow([step_name, *columns])
                for u in range(num_updates):
                    out.writerow([u + 1, *(_cell(c[b, u]) for c in columns.values())])
            os.replace(tmp, path)
        self._write_tensorboard(columns, labels, num_updates,
                                history.get(x_axis) if x_axis else None)

    def _write_tensorboard(self, columns: dict, labels, num_updates: int, x) -> None:
        from tensorboardX import SummaryWriter

        tb_root = os.path.join(self.path, "tb")
        if not self._tb_writers:
            shutil.rmtree(tb_root, ignore_errors=True)   # an earlier process's partial curves
            self._tb_rows = 0
            self._tb_writers = {label: SummaryWriter(os.path.join(tb_root, label))
                                for label in labels}
        for b, label in enumerate(labels):
            writer = self._tb_writers[label]
            for u in range(self._tb_rows, num_updates):
                step = int(x[b, u]) if x is not None else u + 1
                for name, values in columns.items():
                    if np.isfinite(values[b, u]):
                        writer.add_scalar(name, float(values[b, u]), step)
            writer.flush()
        self._tb_rows = num_updates

    def save_params(self, params: Any, name: str = "params") -> None:
        """Save params to ``<name>/`` (default the final ``params/``; orbax, written to a
        temp dir and renamed, so a reader never sees half of it). Several processes: every
        one calls it (orbax's multi-host save), with global arrays or identical numpy."""
        import orbax.checkpoint as ocp

        with ocp.StandardCheckpointer() as saver:
            saver.save(os.path.abspath(os.path.join(self.path, name)), params, force=True)

    def restore_params(self, abstract: Any) -> Any:
        """Restore ``params/`` into the structure of ``abstract``.

        Raises:
            RunDirError: the run has no final params.
        """
        import orbax.checkpoint as ocp

        path = os.path.abspath(os.path.join(self.path, "params"))
        if not os.path.exists(path):
            raise RunDirError(f"{self.path} has no final params (params/)")
        return ocp.StandardCheckpointer().restore(path, restore_target(abstract))

    def write_summary(self, summary: dict) -> dict:
        """Write ``summary.json`` (adding package versions and the machine); returns it."""
        summary = {**summary, "run_dir": self.path, "versions": lg.package_versions(),
                   "machine": lg.machine_description()}
        if distributed.process_count() > 1:
            summary["processes"] = distributed.process_count()
        if self.writes:
            lg.write_json(os.path.join(self.path, "summary.json"), summary)
        return summary

    def close(self) -> None:
        """Close the TensorBoard writers."""
        for writer in self._tb_writers.values():
            writer.close()
        self._tb_writers = {}


def _started(path: str) -> bool:
    return any(os.path.exists(os.path.join(path, name))
               for name in ("checkpoints", "params", "summary.json"))


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _jsonable(v: Any) -> Any:
    """Compare as JSON stores it (tuples become lists)."""
    return json.loads(json.dumps(v, default=str))


def _cell(v: Any) -> Any:
    v = float(v)
    return "" if np.isnan(v) else v
