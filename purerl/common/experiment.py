"""Run a vmapped seed sweep as compiled segments, checkpointing between segments.

A long run is ``num_updates / segment_updates`` calls of ONE compiled function
(``jax.jit(jax.vmap(run_updates))``); after each call the full training state of every seed
is checkpointed atomically, so a killed run resumes from its last complete segment and ends
with exactly the params an uninterrupted run would have (same compiled code, same state).

The vmapped axis holds *runs*: ``num_seeds`` seeds, or a hyperparameter grid x seeds
(``hparams`` given, see ``purerl.common.sweep``). With several devices the run axis is
sharded over them with ``jax.sharding`` (one SPMD program; no hand-written pmap/collectives):
each device trains its share of the runs, and the results equal a one-device run.

The same holds over several processes (hosts) joined by ``jax.distributed.initialize``
(``purerl.common.distributed``): the mesh spans every process's devices, each process feeds
its rows of the run axis, the segment is one SPMD program, metrics are all-gathered so that
every process sees (and checks) the same history, checkpoints go through orbax's multi-host
path, and the callbacks run on every process (process 0 alone writes files).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from purerl.common import distributed
from purerl.common.checkpoint import Checkpointer


class SweepResult(NamedTuple):
    state: Any             # final vmapped runner state [S, ...]
    metrics: dict          # [S, num_updates] numpy arrays
    compile_s: float       # seconds spent compiling (init + segment)
    run_s: float           # seconds of execution in this process (excludes compile)
    resumed_from: int      # updates restored from a checkpoint (0: fresh start)


class NonFiniteError(FloatingPointError):
    """A run's metric went NaN or infinite; the segment that produced it is not saved."""


NAN_BY_DESIGN = ("eval/",)
"""Metric prefixes that are NaN on purpose (evaluation columns between evaluations)."""


def run_sweep(
    init: Callable[..., Any],
    run_updates: Callable[..., tuple[Any, dict]],
    seed: int,
    num_seeds: int,
    num_updates: int,
    segment_updates: int,
    checkpointer: Checkpointer | None = None,
    resume: bool = False,
    on_segment: Callable[[int, dict, dict], None] | None = None,
    hparams: Any | None = None,
    devices: list | None = None,
    shared: Any | None = None,
    check_finite: bool = True,
    checkpoint_every: int | None = None,
    on_compiled: Callable[[float], None] | None = None,
    after_segment: Callable[[int, Any, dict], bool | None] | None = None,
) -> SweepResult:
    """Train B runs in lock-step, ``segment_updates`` updates per compiled call.

    B = ``num_seeds`` without ``hparams``; with a grid of G points it is G * S, ordered
    grid-major (run ``g * S + s`` is point g, seed s), and seed s starts from the same key
    at every grid point, so each point reproduces the single run with that seed.

    Args:
        init: ``(key, run_idx) -> state`` for one run, or ``(key, run_idx, hparams)``
            when ``hparams`` is given. Run 0 is the one that prints progress.
        run_updates: ``(state, n) -> (state, metrics [n])`` for one run, or
            ``(state, n, shared) -> ...`` when ``shared`` is given.
        seed: base seed; seed ``i`` trains from ``jax.random.split(PRNGKey(seed), S)[i]``.
        num_seeds: S, seeds vmapped in one call.
        num_updates: total updates per seed; must be a multiple of ``segment_updates``.
        segment_updates: updates per compiled call (checkpoint period).
        checkpointer: where to save after each segment (None: no checkpoints).
        resume: continue from the newest intact checkpoint if there is one (a damaged
            newest step is skipped with a warning naming it).
        on_segment: host callback ``(updates_done, segment_metrics [B, n],
            history [B, updates_done])`` after each segment (and its checkpoint, when
            one is due) is written.
        hparams: optional pytree of ``[G]`` arrays, one entry per grid point.
        devices: devices to shard the run axis over (default: all of ``jax.devices()``,
            every process's in a multi-process job; a single device when B does not split
            evenly, with a warning, which a multi-process job refuses).
        shared: optional pytree passed unbatched to every run (e.g. an offline dataset);
            an argument of the compiled segment, never a constant folded into it.
        check_finite: stop with ``NonFiniteError`` when a metric (other than the
            ``NAN_BY_DESIGN`` ones) is NaN or infinite.
        checkpoint_every: updates between checkpoints, a multiple of ``segment_updates``
            that divides ``num_updates`` (default: every segment). Shorter segments than
            checkpoints give more frequent ``on_segment`` calls (progress lines).
        on_compiled: host callback ``(compile_seconds)`` once both programs are compiled,
            before any update runs.
        after_segment: host callback ``(updates_done, state [B], segment_metrics [B, n])``
            after ``on_segment``; returning True stops training there (rl_games'
            ``score_to_win``), after a checkpoint of that state. It may also read the
            state (e.g. to keep the best params).

    Returns:
        ``SweepResult`` with metrics as numpy ``[B, updates_done]`` (``num_updates`` unless
        ``after_segment`` stopped the run early).

    Raises:
        ValueError: ``num_updates`` is not a multiple of ``segment_updates``, or
            ``checkpoint_every`` does not fit between them, or (several processes) B does
            not split evenly over the global devices.
        NonFiniteError: a metric went non-finite (names the metric, run and update).
    """
    if num_updates % segment_updates:
        raise ValueError(f"segment_updates: expected a divisor of num_updates={num_updates}, "
                         f"got {segment_updates}")
    checkpoint_every = checkpoint_every or segment_updates
    if checkpoint_every % segment_updates or num_updates % checkpoint_every:
        raise ValueError(f"checkpoint_every: expected a multiple of segment_updates="
                         f"{segment_updates} that divides num_updates={num_updates}, "
                         f"got {checkpoint_every}")
    args = run_inputs(seed, num_seeds, hparams)
    batch = jax.tree.leaves(args)[0].shape[0]
    sharding = run_sharding(batch, devices)
    replicated = NamedSharding(sharding.mesh, PartitionSpec())
    args = distributed.put(args, sharding)
    vinit = jax.vmap(init)

    t0 = time.perf_counter()
    init_fn = jax.jit(vinit, in_shardings=sharding, out_shardings=sharding
                      ).lower(*args).compile()
    abstract = jax.eval_shape(vinit, *args)
    if shared is None:
        segment_fn = jax.jit(jax.vmap(lambda s: run_updates(s, segment_updates)),
                             in_shardings=sharding, out_shardings=sharding
                             ).lower(abstract).compile()
        call = segment_fn
    else:
        shared = distributed.put(shared, replicated)
        segment_fn = jax.jit(jax.vmap(lambda s, d: run_updates(s, segment_updates, d),
                                      in_axes=(0, None)),
                             in_shardings=(sharding, replicated), out_shardings=sharding
                             ).lower(abstract, shared).compile()
        call = lambda s: segment_fn(s, shared)
    compile_s = time.perf_counter() - t0
    if on_compiled is not None:
        on_compiled(compile_s)

    done, history = 0, []
    t0 = time.perf_counter()
    if distributed.process_count() > 1:        # orbax restores each process's shards
        abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype,
                                                               sharding=sharding), abstract)
    restored = checkpointer.restore_latest_intact(abstract) if (checkpointer and resume) \
        else None
    if restored is not None:
        done, state, saved = restored
        state = distributed.put(state, sharding)
        history = [saved] if saved else []
    else:
        state = init_fn(*args)
    resumed_from = done

    while done < num_updates:
        state, metrics = call(state)
        metrics = distributed.to_host(metrics)       # [B, n] on every process
        if check_finite:
            _check_finite(metrics, done)
        done += segment_updates
        history.append(metrics)
        if checkpointer is not None and done % checkpoint_every == 0:
            checkpointer.save(done, state, _concat(history))
        if on_segment is not None:
            on_segment(done, metrics, _concat(history))
        if after_segment is not None and after_segment(done, state, metrics):
            if checkpointer is not None and done % checkpoint_every:
                checkpointer.save(done, state, _concat(history))
            break
    jax.block_until_ready(state)
    run_s = time.perf_counter() - t0
    return SweepResult(state, _concat(history), compile_s, run_s, resumed_from)


def _check_finite(metrics: dict, done: int) -> None:
    """Raise ``NonFiniteError`` at the first non-finite metric of a segment ``[B, n]``."""
    for name in sorted(metrics):
        if name.startswith(NAN_BY_DESIGN):
            continue
        values = np.asarray(metrics[name])
        if not np.issubdtype(values.dtype, np.floating):
            continue
        bad = ~np.isfinite(values)
        if bad.any():
            run, step = (int(i) for i in np.argwhere(bad)[0][:2])
            raise NonFiniteError(
                f"metric {name!r} is {values[run, step]} at update {done + step + 1} of run "
                f"{run}; training stopped (the last checkpoint holds update {done}). "
                "Lower the learning rate or check the inputs")


def run_inputs(seed: int, num_seeds: int, hparams: Any | None = None) -> tuple:
    """The vmapped inputs of ``init``: ``(keys [B, 2], run_idx [B])`` (+ ``hparams [B]``).

    Seed s uses ``jax.random.split(PRNGKey(seed), num_seeds)[s]`` at every grid point.
    """
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    if hparams is None:
        return keys, jnp.arange(num_seeds)
    points = jax.tree.leaves(hparams)[0].shape[0]
    keys = jnp.tile(keys, (points, 1))
    hparams = jax.tree.map(lambda v: jnp.repeat(jnp.asarray(v), num_seeds, axis=0), hparams)
    return keys, jnp.arange(points * num_seeds), hparams


def run_sharding(batch: int, devices: list | None = None) -> NamedSharding:
    """Shard the leading run axis of every leaf over ``devices`` (a 1-D mesh "runs").

    Falls back to the first device (with a warning) when ``batch`` does not divide evenly.

    Raises:
        ValueError: ``batch`` does not divide evenly in a multi-process job (the first
            device is only one process's).
    """
    devices = list(jax.devices() if devices is None else devices)
    if batch % len(devices) and jax.process_count() > 1:
        raise ValueError(f"num_seeds x grid points: expected a multiple of the "
                         f"{len(devices)} devices of the {jax.process_count()} processes, "
                         f"got {batch} runs")
    if batch % len(devices):
        warnings.warn(f"{batch} runs do not split evenly over {len(devices)} devices; "
                      f"running on {devices[0]} only", stacklevel=3)
        devices = devices[:1]
    return NamedSharding(Mesh(np.array(devices), ("runs",)), PartitionSpec("runs"))


def _concat(history: list[dict]) -> dict:
    """Join per-segment metric dicts ``[S, n_i]`` along the update axis."""
    return {k: np.concatenate([np.asarray(h[k]) for h in history], axis=1) for k in history[0]}
