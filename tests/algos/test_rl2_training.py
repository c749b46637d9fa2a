"""RL^2 training: determinism, no retracing, checkpoint round trip, kill + resume, CLI."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.algos import rl2
from purerl.cli import evaluate as evaluate_cli
from purerl.cli import rl2 as rl2_cli
from purerl.cli.common import run_cli
from purerl.common.checkpoint import Checkpointer
from purerl.common.experiment import run_sweep
from purerl.common.run_dir import RunDirError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# 10 segments of 10 updates: long enough to kill a run between two checkpoints.
TINY = dict(num_workers=16, batch_size=160, mini_batch_size=40, hidden_size=16,
            metalearn_epochs=100, checkpoint_every=10, num_tasks=64, num_seeds=2, log_every=0)
TINY_ARGS = [f"--{k}={v}" for k, v in TINY.items()]


def tiny_config() -> rl2.Config:
    """The core config the CLI trains for ``TINY`` (seed flag names translated once)."""
    return rl2_cli.Args(**TINY).core_config()


def leaves_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y))
                                      for x, y in zip(la, lb))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One uninterrupted CLI run of the tiny config, shared by the tests below."""
    runs = tmp_path_factory.mktemp("runs")
    summary = rl2_cli.main([*TINY_ARGS, f"--runs_dir={runs}", "--out_file=full"])
    return runs, summary


def test_same_seed_identical_params_and_no_retrace():
    """Through the CLI's own path (``run_sweep``: one compiled segment program called once
    per segment): segments never retrace, the same seed gives identical params, another
    seed different ones. The program is the one the checkpoint test and the CLI fixture run,
    so the persistent compilation cache (tests/conftest.py) compiles it once for all three."""
    cfg = tiny_config()
    setup = rl2.build(cfg)
    traces = []

    def counted(state, n):
        traces.append(n)  # runs at trace time only
        return setup.parts.run_updates(state, n)

    def run(seed):
        return run_sweep(setup.parts.init, counted, seed=seed, num_seeds=2, num_updates=30,
                         segment_updates=TINY["checkpoint_every"])

    first = run(0)
    assert traces == [TINY["checkpoint_every"]], "the compiled segment function retraced"
    again, other = run(0), run(1)  # each run lowers its program once (cache: no recompile)
    assert len(traces) == 3
    params = first.state.train_state.params
    assert leaves_equal(params, again.state.train_state.params)
    assert not leaves_equal(params, other.state.train_state.params)
    assert first.metrics["pg_loss"].shape == (2, 30) and int(first.state.update_idx[0]) == 30
    # Seeds of one sweep differ from each other.
    assert not leaves_equal(jax.tree.map(lambda x: x[0], params),
                            jax.tree.map(lambda x: x[1], params))


def test_checkpoint_round_trip_restores_identical_state(tmp_path):
    cfg = tiny_config()
    setup = rl2.build(cfg)
    n = TINY["checkpoint_every"]
    ckpt = Checkpointer(str(tmp_path / "ckpt"))
    # One segment through the same code path (and compiled program) as the CLI.
    result = run_sweep(setup.parts.init, setup.parts.run_updates, seed=3, num_seeds=2,
                       num_updates=n, segment_updates=n, checkpointer=ckpt)
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    abstract = jax.eval_shape(jax.vmap(setup.parts.init), keys, jnp.arange(2))
    restored, restored_metrics = Checkpointer(str(tmp_path / "ckpt")).restore(n, abstract)
    assert jax.tree.structure(restored) == jax.tree.structure(result.state)
    assert leaves_equal(restored, result.state)  # params, opt state, env state, key, counter
    assert int(restored.update_idx[0]) == n
    np.testing.assert_array_equal(restored_metrics["pg_loss"], result.metrics["pg_loss"])
    with pytest.raises(FileNotFoundError, match="no checkpoint step 7"):
        ckpt.restore(7, abstract)


def test_cli_artefacts_and_no_overwrite(tiny_run):
    runs, _ = tiny_run
    run_dir = runs / "full"
    for name in ("config.json", "summary.json", "learning_curve.png", "metrics_seed0.csv",
                 "metrics_seed1.csv", "params"):
        assert (run_dir / name).exists(), name
    assert any((run_dir / "tb" / "seed1").iterdir())
    saved = json.loads((run_dir / "summary.json").read_text())
    e = saved["eval"]
    assert len(e["score_per_seed"]) == 2 and e["num_tasks"] == 64
    assert e["random"] < e["optimum"] and 0 < e["score_mean"] <= 10
    assert saved["wall_clock_s"]["compile"] > 0 and saved["versions"]["jax"] == jax.__version__
    rows = (run_dir / "metrics_seed0.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + TINY["metalearn_epochs"] and rows[0].startswith("update,")
    with pytest.raises(RunDirError, match="never overwritten"):
        rl2_cli.main([*TINY_ARGS, f"--runs_dir={runs}", "--out_file=full"])


def test_evaluate_entry_point_reproduces_summary(tiny_run):
    runs, summary = tiny_run
    out = evaluate_cli.main(["--run_dir", str(runs / "full")])
    np.testing.assert_allclose(out["score_per_seed"], summary["eval"]["score_per_seed"], rtol=1e-6)
    assert out["optimum"] == pytest.approx(summary["eval"]["optimum"])


def test_killed_run_resumes_to_identical_params(tiny_run):
    """SIGKILL a CLI run once its first segment's CSV is written (CSV, TensorBoard and the
    checkpoint are written as segments finish, not at the end), resume it, compare with the
    uninterrupted run of the same config (the ``tiny_run`` fixture)."""
    runs, reference = tiny_run
    cmd = [sys.executable, "-m", "purerl.cli.rl2", *TINY_ARGS, f"--runs_dir={runs}",
           "--out_file=killed"]
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    csv = runs / "killed" / "metrics_seed0.csv"  # written after the first checkpoint
    tb = [runs / "killed" / "tb" / f"seed{s}" for s in (0, 1)]  # written after the CSVs

    def segment_written():
        return csv.exists() and all(d.is_dir() and any(d.iterdir()) for d in tb)

    deadline = time.time() + 240
    while not segment_written() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = Checkpointer(str(runs / "killed" / "checkpoints")).latest_step()
    assert killed_at is not None and killed_at < TINY["metalearn_epochs"]
    assert not (runs / "killed" / "summary.json").exists()
    # What the killed run left: one CSV row per update up to (about) its last checkpoint.
    rows = len(csv.read_text().strip().splitlines()) - 1
    assert TINY["checkpoint_every"] <= rows <= killed_at + TINY["checkpoint_every"], rows
    # A killed run can be scored from its last complete checkpoint.
    partial = rl2_cli.evaluate_run(str(runs / "killed"))
    assert partial["updates"] == killed_at and len(partial["score_per_seed"]) == 2

    resumed = rl2_cli.main([*TINY_ARGS, f"--runs_dir={runs}", "--out_file=killed", "--resume"])
    assert resumed["resumed_from_update"] == killed_at
    assert resumed["eval"]["score_per_seed"] == reference["eval"]["score_per_seed"]
    # Final params are bitwise identical to the uninterrupted run's.
    import orbax.checkpoint as ocp
    cfg = tiny_config()
    setup = rl2.build(cfg)
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed), 2)
    abstract = jax.eval_shape(jax.vmap(setup.parts.init), keys, jnp.arange(2))
    load = lambda d: ocp.StandardCheckpointer().restore(
        str(runs / d / "params"), abstract.train_state.params)
    assert leaves_equal(load("killed"), load("full"))
    # The metrics history survives the kill too: one CSV row per update, same values.
    killed_rows = (runs / "killed" / "metrics_seed0.csv").read_text()
    assert killed_rows == (runs / "full" / "metrics_seed0.csv").read_text()


def test_resume_with_changed_config_is_refused(tiny_run):
    runs, _ = tiny_run
    # The older usage (--out_file NAME --resume) and the path form refuse the same way.
    with pytest.raises(RunDirError, match="learning_rate: stored 0.001, given 0.01"):
        rl2_cli.main([*TINY_ARGS, f"--runs_dir={runs}", "--out_file=full", "--resume",
                      "--learning_rate=0.01"])
    with pytest.raises(RunDirError, match="num_workers: stored 16, given 32"):
        rl2_cli.main(["--resume", str(runs / "full"), "--num_envs", "32"])  # an alias
    with pytest.raises(RunDirError, match="is not a run directory"):
        rl2_cli.main([*TINY_ARGS, f"--runs_dir={runs}", "--out_file=nothing_here", "--resume"])


def test_resume_of_a_finished_run_rewrites_nothing(tiny_run, capsys):
    """``--resume RUN_DIR`` alone on a finished run (moved elsewhere: the stored config is
    the truth): says so, exits 0, summary.json and TensorBoard events untouched."""
    runs, summary = tiny_run
    moved = runs / "full_moved"
    shutil.copytree(runs / "full", moved)
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in moved.rglob("*")
              if p.is_file()}
    out = run_cli(rl2_cli.main, ["--resume", str(moved)], prog="purerl-rl2")
    assert "finished run" in capsys.readouterr().out
    assert out["eval"] == summary["eval"]
    after = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in moved.rglob("*")
             if p.is_file()}
    assert after == before            # nothing rewritten, no second TensorBoard event file
