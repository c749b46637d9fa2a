"""``purerl-ppo`` writes the one run directory (``RunDir``), resumes it, and is scored.

Every run here uses the same tiny config (``TINY``), so one compiled segment program
serves them all (the persistent compilation cache of tests/conftest.py); the learning
rate is a traced hyperparameter, so the NaN run shares it too.
"""

import contextlib
import io
import json
import os

import jax
import numpy as np
import pytest

from purerl.cli import common
from purerl.cli import evaluate as evaluate_cli
from purerl.cli import ppo as ppo_cli
from purerl.cli.common import run_cli

# 6 updates in 2 checkpointed segments of 3 (a progress line after each), 1 seed: the
# program test_readme_commands.py's `purerl-ppo` runs compile too.
TINY = dict(num_envs=4, num_steps=8, num_updates=6, num_minibatches=2, update_epochs=1,
            hidden_size=8, checkpoint_every=3, log_every=3)
TINY_ARGS = [f"--{k}={v}" for k, v in TINY.items()]


def ppo(argv, capsys=None):
    """``purerl-ppo ARGV`` in-process: (result, stdout, stderr) or SystemExit."""
    out = run_cli(ppo_cli.main, argv, prog="purerl-ppo")
    if capsys is None:
        return out
    captured = capsys.readouterr()
    return out, captured.out, captured.err


def params_of(run_dir):
    import orbax.checkpoint as ocp
    return [np.asarray(x) for x in jax.tree.leaves(
        ocp.StandardCheckpointer().restore(os.path.abspath(os.path.join(run_dir, "params"))))]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """A failed start (the env does not build), then the same command fixed, same name:
    the retry must not be blocked. Returns (runs dir, summary, stdout, stderr of the
    failed start)."""
    runs = tmp_path_factory.mktemp("runs")
    err = io.StringIO()                    # (a module fixture cannot use capsys)
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit):
        ppo([*TINY_ARGS, f"--runs_dir={runs}", "--out_file=full", "--env_id=gymnax/NoSuch-v0"])
    assert not (runs / "full").exists()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        summary = ppo([*TINY_ARGS, f"--runs_dir={runs}", "--out_file=full"])
    return runs, summary, out.getvalue(), err.getvalue()


def test_failed_start_does_not_block_a_retry(full_run):
    runs, summary, _, failed = full_run
    assert "env_id: 'gymnax/NoSuch-v0' does not build" in failed
    assert summary["run_dir"] == str(runs / "full")


def test_run_directory_matches_rl2s(full_run):
    runs, summary, _, _ = full_run
    run_dir = runs / "full"
    for name in ("config.json", "summary.json", "learning_curve.png", "metrics.npz",
                 "metrics_seed0.csv", "params"):
        assert (run_dir / name).exists(), name
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["3", "6"]  # --checkpoint_every 3
    assert any((run_dir / "tb" / "seed0").iterdir())
    rows = (run_dir / "metrics_seed0.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + TINY["num_updates"]
    assert rows[0].startswith("update,episode_return_mean,")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["algo"] == "ppo" and config["num_envs"] == 4 and config["out_file"] == "full"
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["config"] == config and saved["resumed_from_update"] == 0
    assert summary["wall_clock_s"]["compile"] > 0 and summary["versions"]["jax"] == jax.__version__
    assert len(summary["grid"]) == 1 and len(summary["grid"][0]["final_return_per_seed"]) == 1


def test_progress_line_shows_compile_rate_and_eta(full_run):
    _, _, out, _ = full_run
    assert "compiling the training program ..." in out
    assert "compiled in " in out
    lines = [line for line in out.splitlines() if line.strip().startswith("update ")]
    assert len(lines) == 2, out                       # one per segment of 3 updates
    for line in lines:
        assert "env-steps/s" in line and "elapsed " in line and "ETA " in line, line
        assert "return " in line and "nan" not in line, line


def test_no_episode_ended_reads_n_a_not_zero(tmp_path, capsys):
    """4 steps of CartPole end no episode: the progress line and the summary say so."""
    _, out, _ = ppo(["--num_envs=4", "--num_steps=4", "--num_updates=1", "--num_minibatches=2",
                     "--update_epochs=1", "--hidden_size=8", "--log_every=1",
                     f"--runs_dir={tmp_path}", "--out_file=short"], capsys)
    progress = [line for line in out.splitlines() if line.strip().startswith("update ")]
    assert "return n/a" in progress[0], out
    assert "0.000" not in progress[0] and "nan" not in out, out
    assert "n/a  (no episode ended in the last 10% of updates)" in out


def test_evaluate_scores_the_saved_policies(full_run):
    runs, _, _, _ = full_run
    out = evaluate_cli.main(["--run_dir", str(runs / "full"), "--num_episodes", "8"])
    assert out["algo"] == "ppo" and out["updates"] == TINY["num_updates"]
    assert out["num_episodes"] == 8 and out["max_steps"] == 500      # CartPole's time limit
    scores = out["score_per_seed"]
    assert len(scores) == 1 and 8 <= scores[0] <= 500, scores
    # The episodes come from a fixed key: scoring again gives the same numbers.
    again = evaluate_cli.main(["--run_dir", str(runs / "full"), "--num_episodes", "8"])
    assert again["score_per_seed"] == scores


def test_resume_of_a_finished_run_rewrites_nothing(full_run, capsys):
    runs, summary, _, _ = full_run
    run_dir = runs / "full"
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in run_dir.rglob("*")
              if p.is_file()}
    out, stdout, _ = ppo(["--resume", str(run_dir)], capsys)
    assert "finished run" in stdout and out == summary
    after = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in run_dir.rglob("*")
             if p.is_file()}
    assert after == before          # summary.json untouched, no second TensorBoard file


def test_interrupt_then_resume_moved_run_skipping_a_damaged_checkpoint(full_run, tmp_path,
                                                                      monkeypatch, capsys):
    """Ctrl-C after the second checkpoint prints how to resume; the newest checkpoint is
    then damaged and the directory moved; ``--resume RUN_DIR`` alone warns, falls back to
    the older checkpoint and ends with bitwise the params of the uninterrupted run."""
    runs, reference, _, _ = full_run
    real_run_sweep = common.run_sweep

    def interrupted_run_sweep(*args, **kwargs):
        args = list(args)
        on_segment = args[8]

        def on_segment_then_ctrl_c(done, metrics, history):
            on_segment(done, metrics, history)
            if done == 6:
                raise KeyboardInterrupt
        args[8] = on_segment_then_ctrl_c
        return real_run_sweep(*args, **kwargs)

    monkeypatch.setattr(common, "run_sweep", interrupted_run_sweep)
    with pytest.raises(SystemExit) as exit_:
        ppo([*TINY_ARGS, f"--runs_dir={tmp_path}", "--out_file=cut"])
    assert exit_.value.code == common.EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert f"interrupted; continue it with: purerl-ppo --resume {tmp_path / 'cut'}" in err
    assert "Traceback" not in err
    monkeypatch.setattr(common, "run_sweep", real_run_sweep)
    assert sorted(os.listdir(tmp_path / "cut" / "checkpoints")) == ["3", "6"]
    assert not (tmp_path / "cut" / "summary.json").exists()

    # Damage the newest checkpoint (truncate its largest file), then move the run.
    files = [p for p in (tmp_path / "cut" / "checkpoints" / "6").rglob("*") if p.is_file()]
    biggest = max(files, key=lambda p: p.stat().st_size)
    biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 2])
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    os.rename(tmp_path / "cut", moved)

    # A flag typed again must agree with the stored one; it is refused by name otherwise.
    with pytest.raises(SystemExit):
        ppo(["--resume", str(moved), "--num_envs", "8"])
    assert "num_envs: stored 4, given 8" in capsys.readouterr().err

    summary, _, err = ppo(["--resume", str(moved), "--num_envs", "4"], capsys)
    warnings = [line for line in err.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "checkpoint step 6" in warnings[0], err
    assert summary["resumed_from_update"] == 3 and summary["run_dir"] == str(moved)
    for a, b in zip(params_of(moved), params_of(runs / "full")):
        np.testing.assert_array_equal(a, b)
    assert ((moved / "metrics_seed0.csv").read_text()
            == (runs / "full" / "metrics_seed0.csv").read_text())
    assert summary["grid"] == reference["grid"]


def test_metrics_going_non_finite_stop_the_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        ppo([*TINY_ARGS, "--learning_rate=1e30", f"--runs_dir={tmp_path}", "--out_file=nan"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("purerl-ppo: error: metric "), err
    assert "training stopped" in err[0]
