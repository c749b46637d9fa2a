"""run_sweep: progress segments shorter than checkpoint periods, and the compile callback."""

import jax
import jax.numpy as jnp
import pytest

from purerl.common.checkpoint import Checkpointer
from purerl.common.experiment import run_sweep


def _init(key, run_idx):
    return {"count": jnp.zeros((), jnp.float32), "run": run_idx.astype(jnp.float32)}


def _run_updates(state, n):
    def one(s, _):
        s = {**s, "count": s["count"] + 1}
        return s, {"count": s["count"]}
    return jax.lax.scan(one, state, length=n)


def test_segments_of_one_checkpoint_every_two(tmp_path):
    calls, compiled = [], []
    ckpt = Checkpointer(str(tmp_path / "ckpt"), max_to_keep=5)
    result = run_sweep(_init, _run_updates, seed=0, num_seeds=2, num_updates=6,
                       segment_updates=1, checkpointer=ckpt, checkpoint_every=2,
                       on_segment=lambda done, seg, hist: calls.append((done, hist["count"].shape)),
                       on_compiled=compiled.append)
    assert calls == [(d, (2, d)) for d in range(1, 7)]          # a callback per update
    assert ckpt._manager.all_steps() == [2, 4, 6]               # a checkpoint every 2
    assert len(compiled) == 1 and compiled[0] == pytest.approx(result.compile_s)
    resumed = run_sweep(_init, _run_updates, seed=0, num_seeds=2, num_updates=6,
                        segment_updates=1, checkpointer=ckpt, resume=True, checkpoint_every=2)
    assert resumed.resumed_from == 6 and resumed.metrics["count"].shape == (2, 6)
    with pytest.raises(ValueError, match="checkpoint_every: expected a multiple of "
                                         "segment_updates=2 that divides num_updates=6"):
        run_sweep(_init, _run_updates, seed=0, num_seeds=2, num_updates=6,
                  segment_updates=2, checkpoint_every=3)
