"""``purerl-sac``: the command a user types writes the run directory; rl_games names are
translated once; a discrete env is one line, exit 2. One tiny run is compiled."""

import json
import os
import subprocess
import sys

import pytest

from purerl.cli import sac as sac_cli
from purerl.cli.common import run_cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--num_updates=8", "--eval_every=4", "--log_every=4", "--num_envs=2",
        "--sgd_batch_size=8", "--actor_hidden_sizes", "8", "--critic_hidden_sizes", "8",
        "--replay_buffer_size=64", "--num_eval_episodes=2", "--eval_max_steps=5",
        "--checkpoint_every=4"]


def purerl_sac(argv, cwd):
    """The console script's code path (``python -m purerl.cli.sac`` = ``purerl-sac``)."""
    return subprocess.run([sys.executable, "-m", "purerl.cli.sac", *argv],
                          capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": REPO})


def run_tiny(runs):
    """``purerl-sac`` on TINY with seed flag names into ``runs/tiny``: 8 updates of 2 envs,
    snapshots and checkpoints at updates 4 and 8, buffer 64."""
    # rl_games names: actor_lr, critic_tau, gamma, and 2 warm-up epochs of 3 steps x 2 envs
    proc = purerl_sac([*TINY, f"--runs_dir={runs}", "--out_file=tiny", "--actor_lr=2e-3",
                       "--critic_tau", "0.01", "--gamma=0.98", "--num_warmup_steps", "2",
                       "--num_steps_per_episode=3", "--policy_snapshots"], cwd=str(runs))
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return runs / "tiny", run_tiny(runs)


def test_writes_the_run_dir(tiny_run):
    path, proc = tiny_run
    for name in ("config.json", "summary.json", "learning_curve.png", "metrics.npz",
                 "metrics_seed0.csv", "params", "checkpoints", "tb"):
        assert (path / name).exists(), name
    summary = json.loads((path / "summary.json").read_text())
    assert summary["grid"][0]["eval_return_mean"] is not None
    assert "env-steps/s" in proc.stdout and "ETA" in proc.stdout
    header = (path / "metrics_seed0.csv").read_text().splitlines()[0]
    assert "eval/return" in header and "episode_return_mean" in header


def test_policy_snapshots_at_every_segment_end(tiny_run):
    import numpy as np
    import orbax.checkpoint as ocp

    path, _ = tiny_run
    index = json.loads((path / "policy_snapshots" / "index.json").read_text())
    assert [e["update"] for e in index] == [4, 8]
    assert [e["env_steps"] for e in index] == [8, 16]          # 2 envs per update
    metrics = np.load(path / "metrics.npz")
    for entry in index:                 # the score is that segment's last evaluation
        assert entry["score"] == pytest.approx(
            [float(metrics["eval/return"][0, 0, entry["update"] - 1])])
    last = ocp.StandardCheckpointer().restore(str(path / "policy_snapshots" / "update_00000008"))
    final = ocp.StandardCheckpointer().restore(str(path / "params"))
    assert set(last) == {"actor"}
    for a, b in zip(jax_leaves(last["actor"]), jax_leaves(final["actor"])):
        np.testing.assert_array_equal(a, b)


def jax_leaves(tree):
    import jax

    return jax.tree.leaves(tree)


def test_rl_games_names_are_mapped(tiny_run):
    path, _ = tiny_run
    config = json.loads((path / "config.json").read_text())
    assert config["algo"] == "sac"
    assert config["policy_lr"] == 2e-3 and config["polyak_tau"] == 0.01
    assert config["discount"] == 0.98 and config["learning_starts"] == 2 * 3 * 2
    assert "actor_lr" not in config and "num_warmup_steps" not in config


def test_resume_of_a_finished_run_changes_nothing(tiny_run, capsys):
    path, _ = tiny_run
    before = (path / "summary.json").read_text()
    run_cli(sac_cli.main, ["--resume", str(path)], prog="purerl-sac")
    assert "finished run" in capsys.readouterr().out
    assert (path / "summary.json").read_text() == before


def test_translate_rl_games():
    out = sac_cli.translate_rl_games(["--critic_lr", "1e-3", "--batch_size=64",
                                      "--num_actors", "8", "--num_seed_steps=5",
                                      "--init_alpha", "0.1", "--no_learnable_temperature"])
    assert out == ["--q_lr", "1e-3", "--sgd_batch_size=64", "--num_envs", "8",
                   "--init_alpha", "0.1", "--no_learnable_temperature",
                   "--learning_starts=40"]


def test_discrete_env_is_one_line_exit_2(tmp_path):
    proc = purerl_sac(["--env_id", "gymnax/CartPole-v1", f"--runs_dir={tmp_path}"],
                      cwd=str(tmp_path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("purerl-sac: error: env_id: expected an env with a 1-D "
                               "bounded Box action space"), lines[0]
    assert not any(tmp_path.iterdir())


def test_help_names_the_rl_games_aliases():
    proc = subprocess.run([sys.executable, "-m", "purerl.cli.sac", "--help"],
                          capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": REPO, "COLUMNS": "200"})
    assert proc.returncode == 0
    for name in ("actor_lr", "critic_lr", "critic_tau", "num_warmup_steps", "num_seed_steps",
                 "num_steps_per_episode", "replay_buffer_size", "init_alpha",
                 "learnable_temperature"):
        assert name in proc.stdout, name


KILL = ["--num_updates=200", "--eval_every=4", "--log_every=20", "--num_envs=2",
        "--sgd_batch_size=8", "--actor_hidden_sizes", "8", "--critic_hidden_sizes", "8",
        "--replay_buffer_size=64", "--num_eval_episodes=1", "--eval_max_steps=3",
        "--checkpoint_every=20", "--learning_starts=8"]


def _params(run_dir):
    import jax
    import orbax.checkpoint as ocp

    return jax.tree.leaves(ocp.StandardCheckpointer().restore(os.path.join(run_dir, "params")))


def test_killed_run_resumes_bitwise(tmp_path):
    """SIGKILL after a checkpoint, then ``--resume RUN_DIR``: the final actor and critics
    equal an uninterrupted run's bit for bit (replay buffer, obs and keys are in the
    checkpoint)."""
    import signal
    import time

    import numpy as np

    full = purerl_sac([*KILL, f"--runs_dir={tmp_path}", "--out_file=full"], cwd=str(tmp_path))
    assert full.returncode == 0, full.stderr
    cmd = [sys.executable, "-m", "purerl.cli.sac", *KILL, f"--runs_dir={tmp_path}",
           "--out_file=cut"]
    proc = subprocess.Popen(cmd, cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": REPO},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    csv_path = tmp_path / "cut" / "metrics_seed0.csv"
    deadline = time.time() + 300
    while not csv_path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, f"ended before it could be killed: {proc.stderr.read()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "cut" / "summary.json").exists()
    resumed = sac_cli.main(["--resume", str(tmp_path / "cut")])
    assert 0 < resumed["resumed_from_update"] < 200
    a, b = _params(tmp_path / "cut"), _params(tmp_path / "full")
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_purerl_evaluate_scores_a_sac_run(tiny_run):
    from purerl.cli import evaluate as evaluate_cli

    path, _ = tiny_run
    out = evaluate_cli.main(["--run_dir", str(path), "--num_episodes", "3",
                             "--max_steps", "20"])
    assert out["algo"] == "sac" and out["greedy"] is True and len(out["score_per_seed"]) == 1
    assert -20 * 16.3 <= out["score_mean"] <= 0          # Pendulum: reward in [-16.3, 0]
    again = evaluate_cli.main(["--run_dir", str(path), "--num_episodes", "3",
                               "--max_steps", "20"])
    assert again["score_mean"] == out["score_mean"]      # deterministic action, fixed key
    with pytest.raises(ValueError, match="greedy: expected unset or True"):
        evaluate_cli.main(["--run_dir", str(path), "--greedy", "False"])


def test_last_eval_without_evaluations_is_nan_per_run():
    import numpy as np

    metrics = {"episode_count": np.zeros((2, 3, 5))}       # eval_every=0: no eval/return
    out = sac_cli.last_eval(metrics)
    assert out.shape == (2, 3) and np.isnan(out).all()
    evals = np.full((1, 2, 4), np.nan)
    evals[0, 0, 1], evals[0, 1, 3] = -5.0, -7.0
    np.testing.assert_array_equal(sac_cli.last_eval({"eval/return": evals}), [[-5.0, -7.0]])
