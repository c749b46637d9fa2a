"""What every command line shares: user errors as one line, ``--debug``, Ctrl-C, resume.

A mistake a user can make (a bad flag value, a run directory that exists, a missing
dataset, a run that went NaN) is printed as ONE line, ``error: <message>``, and the process
exits with status 2, without a Python traceback; ``--debug`` (anywhere on the command line)
re-raises it with the traceback. Warnings are one line each too. Ctrl-C prints how to
resume the run it interrupted.

``parse_run_args`` is the training commands' parser: ``--flag False`` is accepted wherever
``--no_flag`` is, and ``--resume RUN_DIR`` alone continues a run with every flag read from
its ``config.json`` (a flag typed again must agree with the stored one).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import tyro

from envs_jax.offline.validate import DatasetError
from purerl.common import distributed
from purerl.common.argv import scan_flags
from purerl.common.checkpoint import CheckpointError
from purerl.common.experiment import NonFiniteError, run_sweep
from purerl.common.run_dir import RunDir, RunDirError

USER_ERRORS = (ValueError, FileExistsError, FileNotFoundError, NotADirectoryError,
               RunDirError, NonFiniteError, DatasetError, CheckpointError)
"""Exceptions that are the user's to fix: printed as one line (``--debug``: traceback)."""
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

_active_run_dir: list[str] = []


def set_active_run_dir(path: str | None) -> None:
    """Record the run directory being written, for the Ctrl-C message."""
    _active_run_dir[:] = [path] if path else []


def run_cli(main: Callable[[list[str]], Any], argv: Sequence[str] | None = None,
            prog: str = "purerl", multihost: bool = True) -> Any:
    """Call ``main(argv)`` with the CLI conventions of the module docstring.

    In a multi-process job (``join_job``) a process that stops on an error (its own, or a
    collective that failed because another process died) prints its one line and exits at
    once with ``os._exit``: JAX's normal exit waits in a shutdown barrier for every other
    process, which a process blocked in a collective with it never reaches, so a normal
    exit would hang until ``--distributed_timeout``. A peer's death ends every other
    process with one line that says how to resume (``--resume RUN_DIR`` on every host).

    Args:
        main: the command's ``main(argv) -> result``.
        argv: arguments (default ``sys.argv[1:]``); ``--debug`` is removed before ``main``.
        prog: the command's name, for messages.
        multihost: take the multi-process flags (``join_job``) before ``main``; ``--help``
            lists them after the command's own flags.

    Returns:
        ``main``'s result (the process exits on a user error or Ctrl-C).
    """
    try:
        return _run_cli(main, argv, prog, multihost)
    except SystemExit as exit_:
        if distributed.joined() and exit_.code not in (0, None):
            distributed.hard_exit(exit_.code if isinstance(exit_.code, int) else 1)
        raise
    except BaseException:
        if not distributed.joined():
            raise
        import traceback

        traceback.print_exc()
        distributed.hard_exit(1)


def _run_cli(main, argv, prog, multihost):
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.showwarning = _one_line_warning(prog)
            if multihost:
                argv = join_job(argv, prog)
            return main(argv)
    except SystemExit as exit_:
        if multihost and exit_.code in (0, None) and ("--help" in argv or "-h" in argv):
            print("\n" + distributed.HELP, end="")
        raise
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\ninterrupted{_resume_hint(prog)}", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as err:
        if debug or not distributed.peer_failed(err):
            if not debug and isinstance(err, USER_ERRORS):
                _user_error(prog, err)
            raise
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        print(f"{prog}: error: another process of the job stopped or became unreachable "
              f"({reason}); every process stops here{_resume_hint(prog, every_host=True)}",
              file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def _user_error(prog: str, err: BaseException) -> None:
    message = " ".join(str(err).split()) or type(err).__name__
    print(f"{prog}: error: {message} (add --debug for a traceback)", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def _resume_hint(prog: str, every_host: bool = False) -> str:
    where = _active_run_dir[0] if _active_run_dir else None
    if where is None:
        return ""
    hosts = " on every host (with the same multi-host flags)" if every_host else ""
    return f"; continue it with: {prog} --resume {where}{hosts}"


def join_job(argv: Sequence[str], prog: str = "purerl") -> list[str]:
    """Take the multi-host flags out of ``argv`` and join the job they describe.

    ``--coordinator_address HOST:PORT --num_processes N --process_id I`` (or
    ``$JAX_COORDINATOR_ADDRESS``, or a SLURM job step of several tasks; see
    ``purerl.common.distributed.resolve``) are checked first, then every process joins with
    ``jax.distributed.initialize`` before anything is compiled; a peer that does not join
    within ``--distributed_timeout`` seconds ends the process with one line naming the
    coordinator's host and port (exit status 2). Nothing happens for one process.

    Returns:
        ``argv`` without those flags (they are not part of a run's config: a run may be
        resumed on another number of hosts).

    Raises:
        ValueError: a bad setting (one line naming it).
    """
    argv, raw = distributed.pop_flags(argv)
    spec = distributed.resolve(raw)
    if spec is not None:
        distributed.initialize(spec, prog)
    return argv


def _one_line_warning(prog: str):
    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"{prog}: warning: {text}", file=file or sys.stderr, flush=True)
    return show


# ------------------------------------------------------------------------------- parsing

_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")
RESUME_IGNORES = ("resume", "log_every", "out_file", "runs_dir")
"""Flags that may differ from the stored run on ``--resume`` (where and how it reports)."""


def bool_fields(cls: type) -> set[str]:
    """Fields of dataclass ``cls`` typed plain ``bool`` (tyro's ``--x`` / ``--no_x``)."""
    hints = typing.get_type_hints(cls)
    return {f.name for f in dataclasses.fields(cls) if hints.get(f.name) is bool}


def normalize_bool_flags(argv: Sequence[str], cls: type) -> list[str]:
    """Accept ``--flag False`` / ``--flag=true`` where tyro takes ``--no_flag`` / ``--flag``
    (scanned by ``purerl.common.argv.scan_flags``: a bare flag takes the next token only
    when it is a boolean word)."""
    out = []
    for item in scan_flags(argv, bool_fields(cls),
                           lambda name, nxt: nxt.lower() in _TRUE + _FALSE):
        if item.name is None:
            out.extend(item.tokens)
        elif item.value is not None and item.value.lower() in _FALSE:
            out.append(f"--no_{item.name}")
        elif item.value is None or item.value.lower() in _TRUE:
            out.append(f"--{item.name}")
        else:
            out.extend(item.tokens)                  # --flag=maybe: tyro names the error
    return out


def typed_fields(argv: Sequence[str], cls: type,
                 aliases: Mapping[str, str] | None = None) -> list[str]:
    """The fields of ``cls`` that ``argv`` sets (``--x``, ``--x=v``, ``--no_x``, aliases)."""
    names = {f.name for f in dataclasses.fields(cls)}
    flags = bool_fields(cls)
    aliases = dict(aliases or {})
    found = []
    for token in argv:
        if not token.startswith("--"):
            continue
        name = token[2:].partition("=")[0].replace("-", "_")
        if name.startswith("no_") and name[3:] in flags:
            name = name[3:]
        name = aliases.get(name, name)
        if name in names and name not in found:
            found.append(name)
    return found


def pop_resume(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """Take ``--resume [RUN_DIR]`` out of ``argv``: ``(rest, RUN_DIR)``.

    ``RUN_DIR`` is None without ``--resume`` and ``""`` for a bare ``--resume`` (the older
    usage, ``--resume --out_file NAME``).
    """
    rest, resume = [], None
    # a bare --resume takes the next token unless that is another flag
    for item in scan_flags(argv, ("resume", "no_resume"),
                           lambda name, nxt: name == "resume" and not nxt.startswith("--")):
        if item.name == "resume":
            resume = "" if item.value is None else item.value
        elif item.name == "no_resume":
            resume = None
        else:
            rest.extend(item.tokens)
    return rest, resume


class UsageError(ValueError):
    """A command line the parser rejects (unknown flag, bad choice, missing value)."""


def parse_flags(cls: type, argv: Sequence[str], default: Any = None, **tyro_kwargs) -> Any:
    """``tyro.cli(cls, args=argv)``, with every error as a one-line ``ValueError``.

    tyro prints its own parse errors as a framed panel and exits, and it catches the
    config's ``__post_init__`` errors to frame them too. Here the flags are parsed into an
    unchecked copy of ``cls`` and the real ``cls`` is built afterwards, so its
    ``ValueError`` (field, expected, actual) reaches the caller as it is; a parse error
    becomes ``UsageError`` holding the panel's text on one line. ``--help`` is untouched.

    Raises:
        UsageError: the parser rejected ``argv``.
        ValueError: from ``cls.__post_init__``.
    """
    import contextlib
    import io

    unchecked = type(cls.__name__, (cls,), {"__post_init__": lambda self: None,
                                            "__doc__": cls.__doc__,
                                            "__module__": cls.__module__})
    kwargs = {"use_underscores": True, **tyro_kwargs}
    if default is not None:
        kwargs["default"] = unchecked(**{f.name: getattr(default, f.name)
                                         for f in dataclasses.fields(cls)})
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            parsed = tyro.cli(unchecked, args=list(argv), **kwargs)
    except SystemExit as exit_:
        if exit_.code in (0, None):                    # --help
            sys.stderr.write(captured.getvalue())
            raise
        raise UsageError(_panel_text(captured.getvalue())) from None
    sys.stderr.write(captured.getvalue())              # tyro's warnings, if any
    return cls(**{f.name: getattr(parsed, f.name) for f in dataclasses.fields(cls)})


def _panel_text(text: str) -> str:
    """The message inside tyro's error panel, on one line (without the help pointer)."""
    keep = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("╭", "╰")):                # the frame and its title
            continue
        line = line.strip("│─ ").strip()
        # tyro's ASCII panel (stdout not UTF-8): a title line, then rules of dashes
        title = len(line.split()) <= 2 and line.lower().endswith("error")
        if not line or set(line) <= set("-─") or title:
            continue
        if line.startswith(("For full helptext", "usage:")):
            continue
        keep.append(line)
    message = " ".join(" ".join(keep).split()).partition(" Argument helptext:")[0]
    return message or "could not parse the command line"


def parse_run_args(cls: type, argv: Sequence[str], *,
                   aliases: Mapping[str, str] | None = None,
                   ignore: Sequence[str] = RESUME_IGNORES, defaults: Mapping[str, Any] | None = None,
                   **tyro_kwargs) -> tuple[Any, RunDir | None]:
    """Parse a training command line: ``(args, run_dir to resume or None)``.

    ``cls`` is the command's frozen dataclass with ``resume: str | None``, ``runs_dir`` and
    ``out_file`` fields. With ``--resume RUN_DIR`` every default comes from
    ``RUN_DIR/config.json`` (so ``--resume RUN_DIR`` alone is enough, wherever the directory
    was moved); a flag typed again must equal the stored value (``ignore`` apart) and is
    refused by name otherwise. A bare ``--resume`` resumes ``runs_dir/out_file``.

    ``defaults`` (flag -> value, e.g. from ``purerl-ppo --config train.yaml``) replace the
    dataclass defaults under the typed flags; they are checked with them, as one config.

    Raises:
        RunDirError: no run at ``RUN_DIR``, or a typed flag differs from the stored one.
        ValueError: a bare ``--resume`` without ``--out_file``; a bad flag value;
            ``defaults`` naming a field ``cls`` lacks, or given with ``--resume``.
    """
    argv, resume = pop_resume(normalize_bool_flags(argv, cls))
    if resume is None:
        return parse_flags(cls, argv, default=_with_defaults(cls, defaults),
                           **tyro_kwargs), None
    if defaults:
        raise ValueError("config: --resume takes every flag from the run's config.json; "
                         "drop --config")
    if resume == "":
        first = parse_flags(cls, argv, **tyro_kwargs)
        if not first.out_file:
            raise ValueError("resume: expected the run directory (--resume RUNS_DIR/NAME) or "
                             "--out_file NAME beside a bare --resume, got neither")
        resume = os.path.join(first.runs_dir, first.out_file)
    run_dir = RunDir.resume(resume)                  # the stored config is the truth
    fields = {f.name for f in dataclasses.fields(cls)}
    stored = {k: tuple(v) if isinstance(v, list) else v
              for k, v in run_dir.config.items() if k in fields and k != "resume"}
    defaults = cls(**stored, resume=resume)
    args = parse_flags(cls, argv, default=defaults, **tyro_kwargs)
    given = {name: getattr(args, name) for name in typed_fields(argv, cls, aliases)}
    return args, RunDir.resume(resume, given, ignore)


def _with_defaults(cls: type, defaults: Mapping[str, Any] | None) -> Any:
    """An unchecked stand-in for ``cls()`` with ``defaults`` overlaid (None: no overlay)."""
    if not defaults:
        return None
    import types

    fields = {f.name: f for f in dataclasses.fields(cls)}
    missing = sorted(set(defaults) - set(fields))
    if missing:
        raise ValueError(f"config: maps to flag(s) {', '.join(missing)} that this "
                         f"{cls.__module__} does not have")
    values = {name: (f.default_factory() if f.default is dataclasses.MISSING
                     else f.default) for name, f in fields.items()}
    return types.SimpleNamespace(**{**values, **defaults})


# ------------------------------------------------------------------------ training runs

def start_run(resumed: RunDir | None, runs_dir: str, out_file: str | None,
              default_name: str, config: dict) -> RunDir:
    """The run directory to train into: ``resumed``, or a new ``runs_dir/<name>``.

    ``<name>`` is ``out_file``, else ``default_name`` (a timestamp; ``-2``, ``-3`` ... is
    appended if that exists). ``config.json`` gets ``config`` with ``out_file`` resolved.
    Call only once the run is known to start (config checked, env and network built), so
    a failed start leaves nothing behind that blocks a retry (``RunDir.create`` also
    reuses a directory holding only the ``config.json`` of a run that never started).

    Raises:
        RunDirError: ``runs_dir/out_file`` holds another run.
    """
    if resumed is None:
        name = out_file
        if not name:
            name, i = default_name, 2
            while os.path.exists(os.path.join(runs_dir, name)):
                name, i = f"{default_name}-{i}", i + 1
            name = distributed.agree(name)           # process 0's clock names the run
        resumed = RunDir.create(os.path.join(runs_dir, name), {**config, "out_file": name})
    set_active_run_dir(resumed.path)
    return resumed


def report_finished(run_dir: RunDir) -> dict:
    """``--resume`` on a finished run: say so, touch nothing, return its summary."""
    print(f"{run_dir.path} is a finished run (summary.json exists): nothing to resume, "
          f"nothing written. Score it with: purerl-evaluate --run_dir {run_dir.path}",
          flush=True)
    return run_dir.read_summary()


class SegmentWriter:
    """``run_sweep``'s ``on_segment``: progress line, CSV + TensorBoard, the plot.

    CSV and TensorBoard are written after every segment; the learning-curve PNG at most
    every ``plot_every_s`` seconds (matplotlib is slow) and always by ``finish``.

    Args:
        run_dir: where to write.
        labels: one label per run of the vmapped axis (``run_labels``).
        progress: the run's ``purerl.common.logging.Progress`` (None: no lines).
        plot: ``(history) -> None`` writing the PNG (None: no plot).
        derived: ``(history) -> {name: [B, U]}`` columns written first in the CSV.
    """

    def __init__(self, run_dir: RunDir, labels: Sequence[str], progress: Any = None,
                 plot: Callable[[dict], None] | None = None,
                 derived: Callable[[dict], dict] | None = None, plot_every_s: float = 60.0):
        import time

        self._time = time.perf_counter
        self.run_dir, self.labels, self.progress = run_dir, list(labels), progress
        self.plot, self.derived, self.plot_every_s = plot, derived, plot_every_s
        self._last_plot = self._time()
        self._written = -1

    def __call__(self, done: int, segment_metrics: dict, history: dict) -> None:
        if self.progress is not None:
            self.progress.segment(done, segment_metrics)
        self._write(history)
        if (self.plot is not None and self.run_dir.writes
                and self._time() - self._last_plot >= self.plot_every_s):
            self.plot(history)
            self._last_plot = self._time()

    def _write(self, history: dict) -> None:
        updates = next(iter(history.values())).shape[1]
        if updates != self._written:
            derived = self.derived(history) if self.derived else None
            self.run_dir.write_metrics(history, self.labels, derived=derived)
            self._written = updates

    def finish(self, history: dict) -> None:
        """Final CSV / TensorBoard (if not written yet) and the plot."""
        self._write(history)
        if self.plot is not None and self.run_dir.writes:
            self.plot(history)
        self.run_dir.close()


def restore_latest_state(rd: RunDir, abstract, missing: str) -> tuple[int, Any]:
    """``(updates, state)`` of the newest intact checkpoint of ``rd``.

    Raises:
        RunDirError: no checkpoint (the message is ``rd.path: <missing>``).
    """
    if not os.path.isdir(os.path.join(rd.path, "checkpoints")):   # (opening would create it)
        raise RunDirError(f"{rd.path}: {missing}")
    ckpt = rd.checkpointer()
    try:
        restored = ckpt.restore_latest_intact(abstract)
    finally:
        ckpt.close()
    if restored is None:
        raise RunDirError(f"{rd.path}: {missing}")
    return restored[0], restored[1]


def restore_final_or_latest(rd: RunDir, abstract, num_updates: int):
    """``(params, updates)``: the final params, else those of the newest intact checkpoint.

    Raises:
        RunDirError: neither exists.
    """
    if os.path.exists(os.path.join(rd.path, "params")):
        return rd.restore_params(abstract.train_state.params), num_updates
    updates, state = restore_latest_state(rd, abstract, "neither final params nor a "
                                          "checkpoint to score")
    print(f"note: {rd.path} has no final params; scoring its checkpoint at update "
          f"{updates}/{num_updates}", file=sys.stderr)
    return state.train_state.params, updates


class BestAndStop:
    """``run_sweep``'s ``after_segment``: rl_games' ``save_best_after`` and ``score_to_win``.

    A run's score at a segment end is its mean training episode return over that segment
    (rl_games averages its last ``games_to_track`` = 100 episodes; a segment is our
    window). From update ``save_best_after`` on, a run whose score beats its best so far
    has its params written to ``best_params/run_<b>/`` (orbax, atomic) and
    ``best_params/best.json`` records each run's best score and update; a resumed run
    reads that file back, so "best" means best over the whole run. Training stops when
    every run's score reaches ``score_to_win`` (runs of a sweep step in lock-step).

    Args:
        run_dir: where to write.
        params_of: ``state [B] -> params [B, ...]`` (e.g. ``lambda s: s.train_state.params``).
        save_best_after: first update at which best params are kept (None: never).
        score_to_win: stop once every run scores at least this (None: never stop).
    """

    def __init__(self, run_dir: RunDir, params_of: Callable[[Any], Any],
                 save_best_after: int | None, score_to_win: float | None):
        import json

        import numpy as np

        self.run_dir, self.params_of = run_dir, params_of
        self.save_best_after, self.score_to_win = save_best_after, score_to_win
        self.stopped_at: int | None = None
        self._path = os.path.join(run_dir.path, "best_params", "best.json")
        self._best: dict[int, dict] = {}
        if os.path.exists(self._path):
            with open(self._path) as f:
                self._best = {int(k): v for k, v in json.load(f).items()}
        self._np = np

    def __call__(self, done: int, state: Any, segment_metrics: dict) -> bool:
        np = self._np
        total = np.asarray(segment_metrics["episode_return_sum"]).sum(-1)
        count = np.asarray(segment_metrics["episode_count"]).sum(-1)
        score = np.where(count > 0, total / np.maximum(count, 1), np.nan)     # [B]
        if self.save_best_after is not None and done >= self.save_best_after:
            self._keep_best(done, state, score)
        if (self.score_to_win is not None and np.isfinite(score).all()
                and (score >= self.score_to_win).all()):
            self.stopped_at = done
            print(f"score_to_win {self.score_to_win:g} reached by every run at update "
                  f"{done} (scores {', '.join(f'{x:.2f}' for x in score)}): stopping",
                  flush=True)
            return True
        return False

    def _keep_best(self, done: int, state: Any, score) -> None:
        import jax

        improved = [b for b, x in enumerate(score) if self._np.isfinite(x)
                    and x > self._best.get(b, {}).get("score", -self._np.inf)]
        if not improved:
            return
        params = distributed.to_host(self.params_of(state))   # (every process: a gather)
        if self.run_dir.writes:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
        for b in improved:
            self.run_dir.save_params(jax.tree.map(lambda x, b=b: x[b], params),
                                     os.path.join("best_params", f"run_{b}"))
            self._best[b] = {"score": float(score[b]), "update": done}
        from purerl.common import logging as lg

        if self.run_dir.writes:
            lg.write_json(self._path, {str(k): v for k, v in sorted(self._best.items())})


class PolicySnapshots:
    """``run_sweep``'s ``after_segment``: the policy of every run at every segment end.

    D4RL's datasets need policies from part-way through training (``medium`` is a policy at
    about a third of the expert's return) and the env-step count at which each was reached
    (``medium-replay`` is the replay buffer up to it). Each call writes
    ``policy_snapshots/update_<U>/`` (orbax, atomic: the params of all runs, leading axis
    ``[B]``) and appends ``{"update", "env_steps", "score": [B]}`` to
    ``policy_snapshots/index.json``; a resumed run keeps what its first process wrote.

    Args:
        run_dir: where to write.
        params_of: ``state [B] -> params [B, ...]`` (the acting part only: small).
        score_of: ``segment_metrics [B, n] -> [B]`` (e.g. the last evaluation return).
        env_steps_per_update: env steps one run takes per update (``num_envs``).
    """

    def __init__(self, run_dir: RunDir, params_of: Callable[[Any], Any],
                 score_of: Callable[[dict], Any], env_steps_per_update: int):
        self.run_dir, self.params_of, self.score_of = run_dir, params_of, score_of
        self.steps = env_steps_per_update
        self._path = os.path.join(run_dir.path, "policy_snapshots", "index.json")

    def index(self) -> list[dict]:
        """The snapshots written so far, oldest first."""
        import json

        if not os.path.exists(self._path):
            return []
        with open(self._path) as f:
            return json.load(f)

    def __call__(self, done: int, state: Any, segment_metrics: dict) -> bool:
        import numpy as np

        from purerl.common import logging as lg

        self.run_dir.save_params(distributed.to_host(self.params_of(state)),
                                 os.path.join("policy_snapshots", f"update_{done:08d}"))
        if not self.run_dir.writes:
            return False
        score = np.asarray(self.score_of(segment_metrics), dtype=float)
        entries = [e for e in self.index() if e["update"] != done]
        entries.append({"update": done, "env_steps": done * self.steps,
                        "score": [None if not np.isfinite(x) else float(x) for x in score]})
        lg.write_json(self._path, sorted(entries, key=lambda e: e["update"]))
        return False


def chain_after_segment(*callbacks: Callable | None) -> Callable | None:
    """One ``after_segment`` calling each given callback in turn (None ones skipped); it
    stops the run when any of them asks to."""
    live = [c for c in callbacks if c is not None]
    if not live:
        return None
    if len(live) == 1:
        return live[0]

    def call(done: int, state: Any, segment_metrics: dict) -> bool:
        return any([bool(c(done, state, segment_metrics)) for c in live])
    return call


def point_label(point: dict) -> str:
    """``"learning_rate=0.001, gae_lambda=0.9"`` for a grid point (``(defaults)`` if empty)."""
    return ", ".join(f"{k}={v:g}" for k, v in point.items()) or "(defaults)"


def train_grid(run_dir: RunDir, parts: Any, *, title: str, seed: int, num_seeds: int,
               points: Sequence[dict], hparams: Any, num_updates: int, segment_updates: int,
               checkpoint_every: int, steps_per_update: int, log: bool, resumed: bool,
               after_segment: Callable | None = None, ylabel: str = "episode return "
               "(training)") -> tuple[Any, SegmentWriter]:
    """The host side every ``purerl-*`` training command shares, around ``run_sweep``.

    Progress lines (``log``), per-segment CSV / TensorBoard and the learning-curve PNG (one
    curve per grid point), checkpoints every ``checkpoint_every`` updates, and resume from
    the newest intact one when ``resumed``. ``parts`` has ``init`` / ``run_updates``;
    ``steps_per_update`` counts env steps over every run of the sweep.

    Returns:
        ``(SweepResult, writer)``; call ``writer.finish(result.metrics)`` once the final
        artefacts are written (it draws the last plot and closes TensorBoard).
    """
    from purerl.common import logging as lg
    from purerl.common.run_dir import run_labels

    num_points = len(points)
    progress = lg.Progress(num_updates, steps_per_update)
    progress.compiling()
    groups = ({point_label(p): list(range(g * num_seeds, (g + 1) * num_seeds))
               for g, p in enumerate(points)} if num_points > 1 else None)
    plot = lambda history: lg.plot_learning_curve(                          # noqa: E731
        os.path.join(run_dir.path, "learning_curve.png"), history, title, groups=groups,
        ylabel=ylabel)
    writer = SegmentWriter(
        run_dir, run_labels(num_points, num_seeds), progress if log else None, plot,
        derived=lambda h: {"episode_return_mean": lg.episode_return_curve(h)})
    ckpt = run_dir.checkpointer()
    try:
        result = run_sweep(parts.init, parts.run_updates, seed, num_seeds, num_updates,
                           segment_updates, ckpt, resumed, writer, hparams=hparams,
                           checkpoint_every=checkpoint_every, on_compiled=progress.compiled,
                           after_segment=after_segment)
    finally:
        ckpt.close()
    return result, writer


def save_metrics(run_dir: RunDir, metrics: dict, num_points: int, num_seeds: int) -> dict:
    """Write ``metrics.npz`` as ``[G, S, updates]`` arrays and return them."""
    import numpy as np

    shaped = {k: v.reshape(num_points, num_seeds, -1) for k, v in metrics.items()}
    if run_dir.writes:
        np.savez(os.path.join(run_dir.path, "metrics.npz"), **shaped)
    return shaped


def speed_summary(result: Any, steps_per_update: int) -> dict:
    """The summary's timing entries: compile / run seconds, env-steps/s of what this
    process ran (resumed updates excluded), the update it resumed from, updates done."""
    done = next(iter(result.metrics.values())).shape[-1]
    ran = (done - result.resumed_from) * steps_per_update
    return {"wall_clock_s": {"compile": result.compile_s, "run": result.run_s},
            "env_steps_per_s": ran / result.run_s if result.run_s > 0 else None,
            "resumed_from_update": result.resumed_from, "updates_done": done}


# ------------------------------------------------- config.json, summaries and scores

def config_dict(args: Any, algo: str) -> dict:
    """What ``config.json`` stores: ``{"algo": algo}`` and every field of the dataclass
    ``args`` but ``resume`` (a resumed run reads its flags from this file)."""
    d = dataclasses.asdict(args)
    d.pop("resume", None)
    return {"algo": algo, **d}


def args_from_config(cls: type, config: Mapping[str, Any]) -> Any:
    """The ``cls`` (a CLI's ``Args`` dataclass) of a run from its ``config.json`` dict:
    JSON lists back to tuples, keys ``cls`` no longer has skipped (``algo``, fields of
    older versions), fields added since at their defaults.

    Raises:
        ValueError: a stored value the current ``cls`` rejects (its ``__post_init__``).
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v
                  for k, v in config.items() if k in fields and k != "resume"})


def final_return(metrics: Mapping[str, Any], fraction: float = 0.1):
    """Mean training-episode return over the last ``fraction`` of updates, from the
    ``episode_return_sum`` / ``episode_count`` metrics: ``[..., U] -> [...]`` (NaN where
    no episode ended in that window)."""
    import numpy as np

    num = max(1, round(np.asarray(metrics["episode_count"]).shape[-1] * fraction))
    total = np.asarray(metrics["episode_return_sum"])[..., -num:].sum(-1)
    count = np.asarray(metrics["episode_count"])[..., -num:].sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def per_seed_entries(name: str, values: Any) -> dict:
    """``{"<name>_per_seed": [...], "<name>_mean": ...}`` for a summary: one value per seed
    (NaN -> None) and the mean of the finite ones (None when there are none)."""
    import numpy as np

    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    return {f"{name}_per_seed": [float(x) if ok else None for x, ok in zip(values, finite)],
            f"{name}_mean": float(values[finite].mean()) if finite.any() else None}


def mean_std_text(values: Any, empty: str = "no episode ended in the last 10% of updates"
                  ) -> str:
    """``"12.34  +- 0.56"`` over the finite ``values`` (one per seed); ``n/a (<empty>)``
    when there are none, and how many seeds counted when some are NaN."""
    import numpy as np

    values = np.asarray(values)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return f"      n/a  ({empty})"
    note = "" if finite.size == values.size else f"  ({finite.size} of {values.size} seeds)"
    return f"{finite.mean():9.2f}  +- {finite.std():.2f}{note}"


def print_run_end(heading: str, points: Sequence[dict], values: Any, result: Any,
                  summary: Mapping[str, Any], run_dir: RunDir, empty: str | None = None
                  ) -> None:
    """The last lines of a training command: ``heading``, one ``mean +- std`` line per grid
    point (``values``: ``[G, S]``), then compile / run seconds, env-steps/s and where the
    artefacts are. Also forgets the active run dir (Ctrl-C after this has nothing to
    resume)."""
    set_active_run_dir(None)
    print(f"\n{heading}")
    for point, v in zip(points, values):
        text = mean_std_text(v) if empty is None else mean_std_text(v, empty)
        print(f"  {point_label(point):<40s} {text}")
    rate = summary["env_steps_per_s"]
    print(f"compile {result.compile_s:.1f} s, run {result.run_s:.1f} s"
          + (f" ({rate:,.0f} env-steps/s)" if rate else "") + f". Artefacts in {run_dir.path}")


def score_report(algo: str, env_id: str, points: Sequence[dict], returns: Any,
                 **fields: Any) -> dict:
    """What ``purerl-evaluate`` returns for a sweep run: ``returns`` (``[G, S]``, mean
    episode return of each run) as ``grid`` (per point: ``hparams``, ``score_per_seed``,
    ``score_mean``), ``score_mean`` over all runs, ``score_per_seed`` when there is one
    point, beside ``algo``, ``env_id`` and the scoring ``fields`` (episodes, step cap, ...)."""
    import numpy as np

    returns = np.asarray(returns)
    grid = [{"hparams": p, "score_per_seed": r.tolist(), "score_mean": float(r.mean())}
            for p, r in zip(points, returns)]
    out = {"algo": algo, "env_id": env_id, **fields, "score_mean": float(returns.mean()),
           "grid": grid}
    if len(points) == 1:
        out["score_per_seed"] = grid[0]["score_per_seed"]
    return out
