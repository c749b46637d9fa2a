"""Run a vmapped seed sweep as compiled segments, checkpointing between segments.

A long run is ``num_updates / segment_updates`` calls of ONE compiled function
(``jax.jit(jax.vmap(run_updates))``); after each call the full training state of every seed
is checkpointed atomically, so a killed run resumes from its last complete segment and ends
with exactly the params an uninterrupted run would have (same compiled code, same state).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from purerl.common.checkpoint import Checkpointer


class SweepResult(NamedTuple):
    state: Any             # final vmapped runner state [S, ...]
    metrics: dict          # [S, num_updates] numpy arrays
    compile_s: float       # seconds spent compiling (init + segment)
    run_s: float           # seconds of execution in this process (excludes compile)
    resumed_from: int      # updates restored from a checkpoint (0: fresh start)


def run_sweep(
    init: Callable[[jax.Array, jax.Array], Any],
    run_updates: Callable[[Any, int], tuple[Any, dict]],
    seed: int,
    num_seeds: int,
    num_updates: int,
    segment_updates: int,
    checkpointer: Checkpointer | None = None,
    resume: bool = False,
    on_segment: Callable[[int, dict], None] | None = None,
) -> SweepResult:
    """Train ``num_seeds`` seeds in lock-step, ``segment_updates`` updates per compiled call.

    Args:
        init: ``(key, seed_idx) -> state`` for one seed.
        run_updates: ``(state, n) -> (state, metrics [n])`` for one seed.
        seed: base seed; seed ``i`` trains from ``jax.random.split(PRNGKey(seed), S)[i]``.
        num_seeds: S, seeds vmapped in one call.
        num_updates: total updates per seed; must be a multiple of ``segment_updates``.
        segment_updates: updates per compiled call (checkpoint period).
        checkpointer: where to save after each segment (None: no checkpoints).
        resume: continue from ``checkpointer.latest_step()`` if there is one.
        on_segment: host callback ``(updates_done, segment_metrics)`` after each segment.

    Returns:
        ``SweepResult`` with metrics as numpy ``[S, num_updates]``.

    Raises:
        ValueError: ``num_updates`` is not a multiple of ``segment_updates``.
    """
    if num_updates % segment_updates:
        raise ValueError(f"segment_updates: expected a divisor of num_updates={num_updates}, "
                         f"got {segment_updates}")
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    seed_idx = jnp.arange(num_seeds)

    t0 = time.perf_counter()
    init_fn = jax.jit(jax.vmap(init)).lower(keys, seed_idx).compile()
    abstract = jax.eval_shape(jax.vmap(init), keys, seed_idx)
    segment_fn = jax.jit(jax.vmap(lambda s: run_updates(s, segment_updates))
                         ).lower(abstract).compile()
    compile_s = time.perf_counter() - t0

    done, history = 0, []
    t0 = time.perf_counter()
    latest = checkpointer.latest_step() if (checkpointer and resume) else None
    if latest is not None:
        state, saved = checkpointer.restore(latest, abstract)
        done = latest
        history = [saved] if saved else []
    else:
        state = init_fn(keys, seed_idx)
    resumed_from = done

    while done < num_updates:
        state, metrics = segment_fn(state)
        metrics = jax.tree.map(np.asarray, metrics)
        done += segment_updates
        history.append(metrics)
        if checkpointer is not None:
            checkpointer.save(done, state, _concat(history))
        if on_segment is not None:
            on_segment(done, metrics)
    jax.block_until_ready(state)
    run_s = time.perf_counter() - t0
    return SweepResult(state, _concat(history), compile_s, run_s, resumed_from)


def _concat(history: list[dict]) -> dict:
    """Join per-segment metric dicts ``[S, n_i]`` along the update axis."""
    return {k: np.concatenate([np.asarray(h[k]) for h in history], axis=1) for k in history[0]}
