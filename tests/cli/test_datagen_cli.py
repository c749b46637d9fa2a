"""``purerl-datagen``: every dataset from a tiny ``purerl-sac --policy_snapshots`` run on
gymnax Pendulum-v1 (the flags of ``test_sac_cli``'s fixture, so a session compiles that
run once), the export / ``--policy`` round trip, reproducibility across processes, and
the one-line errors (exit 2, no traceback)."""

import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from test_sac_cli import run_tiny

from envs_jax.offline import read_d4rl
from purerl.cli import datagen
from purerl.cli import sac_policies as P
from purerl.cli.common import run_cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = ["--num_transitions=240", "--num_envs=2", "--chunk_steps=60"]


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory):
    """The tiny ``purerl-sac`` run of the SAC CLI tests (``run_tiny``)."""
    runs = tmp_path_factory.mktemp("runs")
    run_tiny(runs)
    return str(runs / "tiny")


def datagen_cmd(argv, cwd):
    """The console script's code path (``python -m purerl.cli.datagen``)."""
    return subprocess.run([sys.executable, "-m", "purerl.cli.datagen", *argv], check=False,
                          capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": REPO})


def metadata(path):
    with h5py.File(path, "r") as f:
        return {k: v[()] for k, v in f["metadata"].items()}


def one_line_error(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        run_cli(datagen.main, argv, prog="purerl-datagen")
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_expert_is_reproducible_across_processes(sac_run, tmp_path):
    """The command a user types (a subprocess) and the same flags in this process write
    the same arrays (same sha256); another seed writes others."""
    argv = ["--dataset=expert", f"--run={sac_run}", *SMALL, "--format=d4rl"]
    first = datagen_cmd([*argv, "--out_dir=a"], str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "wrote 240 transitions" in first.stdout
    again = datagen.main([*argv, f"--out_dir={tmp_path / 'b'}"])
    other = datagen.main([*argv, f"--out_dir={tmp_path / 'c'}", "--seed=1"])
    name = "gymnax_Pendulum-v1-expert-purerl-v0.hdf5"
    meta = metadata(tmp_path / "a" / name)
    assert meta["data_sha256"].decode() == again["data_sha256"] != other["data_sha256"]
    assert meta["seed"] == 0 and meta["dataset"] == b"expert"
    assert b"purerl-datagen --dataset=expert" in meta["command"]
    assert json.loads(meta["versions"])["jax"]
    policy = json.loads(meta["policy"])
    assert policy["role"] == "expert" and policy["update"] == 8
    assert policy["training_command"].startswith("purerl-sac ")
    data = read_d4rl(tmp_path / "a" / name)
    assert data["infos/action_log_probs"].shape == (240,)
    assert np.isfinite(data["infos/action_log_probs"]).all()
    assert np.abs(data["actions"]).max() <= 2.0                  # Pendulum's box


def test_console_script_bad_input_is_one_line_exit_2(tmp_path):
    proc = datagen_cmd(["--dataset=medium", "--run", str(tmp_path)], str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        (f"purerl-datagen: error: {tmp_path} is not a run directory (no config.json) (add "
         "--debug for a traceback)")]


def test_medium_is_the_snapshot_nearest_a_third_of_the_expert():
    index = [{"update": u, "env_steps": 2 * u, "score": [s]}
             for u, s in ((4, -900.0), (8, -500.0), (12, -700.0), (16, -300.0))]
    # expert -300 (the final update 16 is never a candidate): target -100 -> update 8
    assert P.select_medium(index, 0, -100.0, 16)["update"] == 8
    assert P.select_medium(index, 0, -800.0, 16)["update"] == 4     # tie 4 / 12: earliest
    with pytest.raises(Exception, match="no policy snapshot"):
        P.select_medium(index[-1:], 0, -100.0, 16)


def test_medium_replay_is_the_buffer_up_to_the_medium_snapshot(sac_run, tmp_path):
    summary = datagen.main(["--dataset=medium-replay", f"--run={sac_run}",
                            f"--out_dir={tmp_path}"])
    assert summary["policy"]["update"] == 4 and summary["policy"]["checkpoint_update"] == 8
    data = read_d4rl(tmp_path / "gymnax_Pendulum-v1-medium-replay-purerl-v0.hdf5")
    assert data["observations"].shape == (8, 3)                  # 4 updates x 2 envs
    # de-interleaved: each env's 4 steps in order, cut (timeout) at the end of its stream
    assert data["timeouts"].tolist() == [0, 0, 0, 1, 0, 0, 0, 1]
    keep = ~data["timeouts"][:-1]
    np.testing.assert_array_equal(data["next_observations"][:-1][keep],
                                  data["observations"][1:][keep])
    assert not any(k.startswith("infos/") for k in data)


def test_wrapped_buffer_is_one_line(sac_run, capsys, monkeypatch):
    real = P._restore_buffer

    def wrapped(step_dir):
        state = real(step_dir)
        state["buffer"]["is_full"][:] = True
        return state

    monkeypatch.setattr(P, "_restore_buffer", wrapped)
    line = one_line_error(capsys, ["--dataset=diverse", "--env_id=antmaze-umaze",
                                   f"--run={sac_run}"])
    assert "policy: expected a SAC policy trained on 'ant-goal'" in line
    assert "'gymnax/Pendulum-v1'" in line
    line = one_line_error(capsys, ["--dataset=medium-replay", f"--run={sac_run}",
                                   "--out_dir=/nonexistent"])
    assert "replay buffer of run 0 has wrapped (capacity 64 transitions" in line


def test_export_then_policy_gives_the_run_dataset(sac_run, tmp_path, capsys):
    """An exported policy (the shipped layout) acts exactly as the run's own params."""
    out = tmp_path / "hopper_like_medium"
    datagen.main(["--dataset=medium", f"--run={sac_run}", f"--export_policy={out}"])
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["role"] == "medium" and provenance["update"] == 4
    assert provenance["seed"] == 0 and provenance["eval_return"] is not None
    assert "export_command" in provenance and "exported_at" in provenance
    from_run = datagen.main(["--dataset=medium", f"--run={sac_run}", *SMALL,
                             f"--out_dir={tmp_path / 'a'}", "--format=d4rl"])
    shipped = datagen.main(["--dataset=medium", f"--policy={out}", *SMALL,
                            f"--out_dir={tmp_path / 'b'}", "--format=minari"])
    assert from_run["data_sha256"] == shipped["data_sha256"]
    line = one_line_error(capsys, ["--dataset=medium", f"--run={sac_run}",
                                   f"--export_policy={out}"])
    assert "holds a policy already" in line


def test_medium_expert_is_medium_then_expert(sac_run, tmp_path):
    argv = [f"--run={sac_run}", *SMALL, f"--out_dir={tmp_path}", "--format=d4rl"]
    for dataset in ("medium", "expert", "medium-expert"):
        datagen.main([f"--dataset={dataset}", *argv])
    name = "gymnax_Pendulum-v1-{}-purerl-v0.hdf5"
    both = read_d4rl(tmp_path / name.format("medium-expert"))
    medium, expert = (read_d4rl(tmp_path / name.format(d)) for d in ("medium", "expert"))
    for key in (k for k in medium if not k.startswith("metadata/")):
        np.testing.assert_array_equal(both[key], np.concatenate([medium[key], expert[key]]))


def test_purerl_offline_reads_the_behaviour_return_from_the_metadata(sac_run, tmp_path):
    """What ``purerl-offline`` prints beside its score, from both layouts."""
    from envs_jax.offline import normalized_score
    from purerl.cli.offline import behaviour_score

    meta = datagen.main(["--dataset=medium", f"--run={sac_run}", "--num_transitions=400",
                         "--num_envs=1", "--chunk_steps=100", f"--out_dir={tmp_path}"])
    assert meta["num_episodes"] == 2                   # two 200-step episodes
    path = str(tmp_path / "gymnax_Pendulum-v1-medium-purerl-v0")
    for dataset in (path + ".hdf5", path):
        got = behaviour_score(dataset, "hopper-medium-v2")
        assert got["return"] == pytest.approx(meta["policy_return"])
        assert got["normalized_score"] == pytest.approx(
            normalized_score("hopper-medium-v2", meta["policy_return"]))
    assert behaviour_score(path + ".hdf5", "linear_target")["normalized_score"] is None


@pytest.mark.parametrize("argv, message", [
    (["--dataset=medium"], "run: expected a purerl-sac run directory or --policy NAME"),
    (["--dataset=random"], "env_id: expected an env id"),
    (["--dataset=random", "--env_id=nope"], "env_id: expected one of"),
    (["--dataset=medium", "--policy=no_such_policy"], "policy: expected a shipped policy name"),
    (["--dataset=medium-replay", "--policy=x"], "run: expected a purerl-sac run directory"),
    (["--dataset=random", "--env_id=hopper", "--num_envs=0"], "num_envs: expected an int >= 1"),
    (["--dataset=medium", "--run=/nonexistent"], "/nonexistent is not a run directory"),
    (["--dataset=median", "--run=x"], "median"),
    (["--dataset=medium", "--medium_fraction=1.5", "--run=x"], "medium_fraction: expected"),
    (["--dataset=diverse", "--env_id=hopper", "--run=x"],
     "env_id: expected one of ('antmaze-umaze', 'antmaze-medium', 'antmaze-large')"),
])
def test_bad_inputs_are_one_line(capsys, argv, message):
    assert message in one_line_error(capsys, argv)


def test_run_without_snapshots_or_bad_index_is_one_line(sac_run, tmp_path, capsys):
    copy = tmp_path / "no_snapshots"
    shutil.copytree(sac_run, copy, ignore=shutil.ignore_patterns("checkpoints"))
    shutil.rmtree(copy / "policy_snapshots")
    line = one_line_error(capsys, ["--dataset=medium", f"--run={copy}"])
    assert "has no policy snapshots" in line and "--policy_snapshots" in line
    line = one_line_error(capsys, ["--dataset=diverse", "--env_id=antmaze-umaze",
                                   f"--run={sac_run}"])
    assert "policy: expected a SAC policy trained on 'ant-goal'" in line
    assert "'gymnax/Pendulum-v1'" in line
    line = one_line_error(capsys, ["--dataset=medium-replay", f"--run={sac_run}",
                                   "--run_index=1"])
    assert "run_index: expected an int in [0, 1)" in line
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "gymnax_Pendulum-v1-random-purerl-v0.hdf5").write_text("x")
    line = one_line_error(capsys, ["--dataset=random", f"--run={sac_run}",
                                   f"--out_dir={tmp_path / 'out'}", "--format=d4rl"])
    assert "exists; pass --overwrite" in line


@pytest.mark.slow
def test_antmaze_diverse_from_a_tiny_ant_goal_run_then_the_seed_command(tmp_path):
    """The AntMaze commands as a user types them: a tiny ``purerl-sac --env_id ant-goal``,
    ``--dataset diverse`` on the large maze in both layouts, read back by h5py by hand and
    our loaders (reward remap, ``infos/goal``), then the seed README's CQL command on
    ``antmaze-large-diverse-v0`` with that file (sizes cut down)."""
    from test_sac_cli import TINY, purerl_sac

    from envs_jax.offline import load_d4rl, load_minari, read_minari
    from purerl.cli import offline

    proc = purerl_sac(["--env_id=ant-goal", *TINY, f"--runs_dir={tmp_path}",
                       "--out_file=ant-goal", "--learning_starts=4"], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    meta = datagen.main(["--dataset=diverse", "--env_id=antmaze-large",
                         f"--run={tmp_path / 'ant-goal'}", "--num_transitions=300",
                         "--num_envs=2", "--chunk_steps=50", f"--out_dir={tmp_path}"])
    name = tmp_path / "antmaze-large-diverse-purerl-v0"
    assert meta["num_transitions"] == 300 and meta["dataset"] == "diverse"
    assert meta["policy"]["role"] == "goal-reaching" and meta["time_limit"] == 1000
    with h5py.File(f"{name}.hdf5", "r") as f:
        assert f["observations"].shape == (300, 29) and f["infos/goal"].shape == (300, 2)
        assert not f["terminals"][()].any() and f["timeouts"][()].sum() == 2   # stream ends
        assert set(np.unique(f["rewards"][()])) <= {0.0, 1.0}
        assert f["metadata/behaviour"][()].decode().startswith("the deterministic action")
    dataset = load_d4rl(f"{name}.hdf5", "antmaze-large-diverse-v0")
    assert set(np.unique(np.asarray(dataset.rewards))) <= {-2.0, 2.0}        # 4 (r - 0.5)
    minari = load_minari(name, "antmaze-large-diverse-v0")
    # D4RL's qlearning_dataset drops each stream's last (timeout) row; Minari keeps it
    kept = np.setdiff1d(np.arange(300), [149, 299])
    np.testing.assert_array_equal(np.asarray(minari.observations)[kept],
                                  np.asarray(dataset.observations))
    _, episodes = read_minari(name)
    assert [ep["infos"]["goal"].shape for ep in episodes] == [(151, 2), (151, 2)]

    # the seed README's CQL antmaze command (tests/algos/test_cql.py), sizes cut down
    summary = offline.main([
        "--num_steps", "2", "--eval_every_steps", "1", "--episodes_per_eval", "2",
        "--batch_size", "64", "--root_dir", str(tmp_path / "cql"), "--seed", "42",
        "--algorithm", "cql", "--task_class", "d4rl", "--task_name", "antmaze-large-diverse-v0",
        f"--dataset_path={name}.hdf5", *[f"--gin_bindings=cql.config.CQLConfig.{b}" for b in (
            "num_sgd_steps_per_step=2", "num_bc_iters=50000", "cql_alpha=0.05",
            "num_importance_acts=10", "actor_network_hidden_sizes=(8,)",
            "critic_network_hidden_sizes=(8,)", "num_critics=2", "tau=0.005")]])
    assert summary["sgd_steps_per_seed"] == 4
    assert summary["config"]["learner"]["sgd_batch_size"] == 32
    score = summary["evaluation"]["deterministic/normalized_score"]["mean"]
    assert 0.0 <= score <= 100.0                          # a success rate, in per cent
    # 300 rows hold no finished 1000-step episode: no behaviour return to print beside
    assert summary["behaviour_policy"] is None
