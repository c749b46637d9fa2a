"""The one run-directory writer and the loop's safety nets: non-finite stop, damaged checkpoints."""

import csv
import glob
import json
import os
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.common.experiment import NonFiniteError, run_sweep
from purerl.common.run_dir import RunDir, RunDirError, run_labels


def _history(num_runs, num_updates):
    u = np.arange(1, num_updates + 1, dtype=np.float32)
    return {"loss": np.stack([u * (b + 1) for b in range(num_runs)]),
            "env_steps": np.stack([u * 10 for _ in range(num_runs)])}


def test_labels():
    assert run_labels(1, 2) == ["seed0", "seed1"]
    assert run_labels(2, 2) == ["g0_seed0", "g0_seed1", "g1_seed0", "g1_seed1"]


def test_create_refuses_a_started_run_and_reuses_a_failed_start(tmp_path):
    path = str(tmp_path / "run")
    RunDir.create(path, {"lr": 1.0})                       # start failed: only config.json
    rd = RunDir.create(path, {"lr": 2.0})                  # reused
    assert json.load(open(os.path.join(path, "config.json"))) == {"lr": 2.0}
    rd.checkpointer().save(1, {"x": jnp.zeros(2)}, {"loss": np.zeros((1, 1))})
    with pytest.raises(RunDirError, match="already holds a run"):
        RunDir.create(path, {"lr": 2.0})


def test_resume_compares_given_flags_by_name(tmp_path):
    path = str(tmp_path / "run")
    RunDir.create(path, {"lr": 1.0, "sizes": (64, 64), "log_every": 10})
    moved = str(tmp_path / "renamed")
    os.rename(path, moved)                                 # a moved run still resumes
    rd = RunDir.resume(moved, {"lr": 1.0, "sizes": [64, 64], "log_every": 5},
                       ignore=("log_every",))
    assert rd.config["lr"] == 1.0
    with pytest.raises(RunDirError, match=r"lr: stored 1.0, given 3.0"):
        RunDir.resume(moved, {"lr": 3.0})
    with pytest.raises(RunDirError, match="not a run directory"):
        RunDir.resume(str(tmp_path / "nothing"))


def test_metrics_csv_and_tensorboard_are_written_per_segment_once(tmp_path):
    rd = RunDir.create(str(tmp_path / "run"), {})
    labels = run_labels(1, 2)
    full = _history(2, 4)
    rd.write_metrics({k: v[:, :2] for k, v in full.items()}, labels)
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics_seed1.csv")))
    assert [float(r["loss"]) for r in rows] == [2.0, 4.0]
    rd.write_metrics(full, labels)
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics_seed1.csv")))
    assert [float(r["loss"]) for r in rows] == [2.0, 4.0, 6.0, 8.0]
    rd.close()
    # A resumed process rewrites the curves from the history: each update exactly once.
    again = RunDir.resume(str(tmp_path / "run"))
    again.write_metrics(full, labels)
    again.close()
    events = glob.glob(str(tmp_path / "run" / "tb" / "seed1" / "*"))
    assert len(events) == 1
    assert _scalars(events[0], "loss") == [(10, 2.0), (20, 4.0), (30, 6.0), (40, 8.0)]


def _scalars(path, tag):
    """(step, value) of ``tag`` in a TensorBoard event file (TFRecord of Event protos)."""
    from tensorboardX.proto import event_pb2

    out, data = [], open(path, "rb").read()
    pos = 0
    while pos < len(data):
        length = struct.unpack("<Q", data[pos:pos + 8])[0]
        event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
        pos += 12 + length + 4                      # length, its crc, payload, payload crc
        out += [(event.step, v.simple_value) for v in event.summary.value if v.tag == tag]
    return out


def _toy(lr):
    """A run whose state doubles by ``lr`` each update: ``loss`` overflows to inf for a large lr."""
    def init(key, run_idx):
        return {"w": jnp.ones(()), "key": key}

    def run_updates(state, n):
        def update(s, _):
            w = s["w"] * lr
            return {**s, "w": w}, {"loss": w}
        return jax.lax.scan(update, state, length=n)

    return init, run_updates


def test_non_finite_metric_stops_the_run_before_saving(tmp_path):
    rd = RunDir.create(str(tmp_path / "run"), {})
    ckpt = rd.checkpointer()
    init, run_updates = _toy(1e15)   # 1e15, 1e30, then inf in float32
    with pytest.raises(NonFiniteError, match=r"metric 'loss' is inf at update 3 of run 0"):
        run_sweep(init, run_updates, 0, 1, 4, 2, ckpt)
    assert ckpt.latest_step() == 2                         # the bad segment was not saved


def test_resume_skips_a_damaged_newest_checkpoint(tmp_path):
    rd = RunDir.create(str(tmp_path / "run"), {})
    init, run_updates = _toy(2.0)
    ckpt = rd.checkpointer(max_to_keep=3)
    full = run_sweep(init, run_updates, 0, 1, 6, 2, ckpt)
    assert ckpt.latest_step() == 6
    # Truncate every data file of the newest step.
    for path in glob.glob(str(tmp_path / "run" / "checkpoints" / "6" / "**" / "*"),
                          recursive=True):
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            with open(path, "r+b") as f:
                f.truncate(1)
    with pytest.warns(UserWarning, match="checkpoint step 6 .* unreadable"):
        resumed = run_sweep(init, run_updates, 0, 1, 6, 2, ckpt, resume=True)
    assert resumed.resumed_from == 4
    np.testing.assert_array_equal(resumed.metrics["loss"], full.metrics["loss"])
    ckpt.close()
