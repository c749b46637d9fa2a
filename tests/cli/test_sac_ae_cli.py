"""``purerl-sac-ae``: the seed's flag names as written, one-line user errors before anything
compiles, and (slow) one tiny pixel run writing every output the seed names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from purerl.cli import sac_ae as cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--domain_name", "pendulum", "--task_name", "swingup", "--image_size", "16",
        "--num_layers", "2", "--num_filters", "4", "--hidden_dim", "16", "--action_repeat",
        "2", "--init_steps", "4", "--num_train_steps", "200", "--eval_freq", "100",
        "--num_eval_episodes", "1", "--batch_size", "8", "--replay_buffer_capacity", "300"]


def purerl_sac_ae(argv, cwd):
    return subprocess.run([sys.executable, "-m", "purerl.cli.sac_ae", *argv],
                          capture_output=True, text=True, timeout=900, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": REPO})


def test_seed_command_parses_as_written():
    args = cli.parse(["--domain_name", "cheetah", "--task_name", "run", "--encoder_type",
                      "pixel", "--decoder_type", "pixel", "--action_repeat", "4",
                      "--save_video", "--save_tb", "--work_dir", "./log", "--seed", "1"])
    assert (args.task, args.action_repeat, args.seed, args.work_dir) == ("cheetah_run", 4, 1,
                                                                         "./log")
    assert args.save_video and args.save_tb and not args.save_model
    cfg = args.config()
    # the seed's train.py defaults, mapped once onto our names
    assert (cfg.q_lr, cfg.polyak_tau, cfg.encoder_polyak_tau, cfg.sgd_batch_size) == \
        (1e-3, 0.01, 0.05, 128)
    assert (cfg.actor_update_every, cfg.target_update_every, cfg.decoder_update_every) == \
        (2, 2, 1)
    assert (cfg.learning_starts, cfg.num_updates, cfg.init_alpha, cfg.alpha_beta1) == \
        (1000, 1_000_000, 0.1, 0.5)
    assert args.segment == 1000          # divides eval_freq 10000: evals end segments
    from purerl.algos import sac_ae

    assert set(cli.SEED_NAMES.values()) <= set(sac_ae.Config.__dataclass_fields__)


def test_flag_defaults_are_the_configs():
    """Each hyperparameter has one owner: no seed flag restates a default of its own."""
    from purerl.algos import sac_ae

    assert cli.parse([]).config() == sac_ae.Config()


def test_state_variant_flags():
    cfg = cli.parse(["--encoder_type", "identity", "--decoder_type", "identity"]).config()
    assert not cfg.pixels and not cfg.autoencoder


@pytest.mark.parametrize("argv, message", [
    (["--domain_name", "walker", "--task_name", "walk"], "domain_name/task_name: expected"),
    (["--encoder_type", "identity"], "decoder_type: expected"),
    (["--eval_freq", "300", "--segment_steps", "7"], "segment_steps: expected"),
    (["--batch_size", "0"], "sgd_batch_size: expected"),
    (["--domain_name", "pendulum", "--task_name", "swingup", "--replay_buffer_capacity",
      "100000000000"], "replay_buffer_capacity: expected"),
])
def test_user_errors_are_one_line(argv, message, capsys, tmp_path):
    """In-process through the console script's wrapper: exit 2, one line, before anything
    is compiled or written (the capacity check runs before the buffer is allocated)."""
    from purerl.cli.common import run_cli

    with pytest.raises(SystemExit) as exit_:
        run_cli(cli.main, [*argv, "--work_dir", str(tmp_path / "w")], prog=cli.PROG,
                multihost=False)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "w").exists()


def test_help_documents_the_mapping(tmp_path):
    proc = purerl_sac_ae(["--help"], cwd=str(tmp_path))       # the real console entry
    assert proc.returncode == 0
    for text in ("--domain_name", "--critic_tau", "polyak_tau", "--save_video", "init_steps"):
        assert text in proc.stdout, text


@pytest.mark.slow
def test_tiny_pixel_run_writes_every_output(tmp_path):
    work = tmp_path / "log"
    proc = purerl_sac_ae([*TINY, "--save_video", "--save_tb", "--save_model",
                          "--work_dir", str(work), "--seed", "1"], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    train = re.findall(r"^\| train \| E: (\d+) \| S: (\d+) \| D: [\d.]+ s \| R: (-?[\d.]+) \| "
                       r"BR: (-?[\d.]+) \| ALOSS: (-?[\d.]+) \| CLOSS: (-?[\d.]+) \| "
                       r"RLOSS: (-?[\d.]+)$", proc.stdout, re.M)
    assert [(e, s) for e, s, *_ in train] == [("1", "100"), ("2", "200")]
    assert all(float(t[6]) > 0 for t in train)            # RLOSS is logged (seed: 0)
    evals = re.findall(r"^\| eval \| S: (\d+) \| ER: (-?[\d.]+)$", proc.stdout, re.M)
    assert [s for s, _ in evals] == ["100", "200"]
    lines = [json.loads(x) for x in (work / "train.log").read_text().splitlines()]
    assert [x["step"] for x in lines] == [100, 200] and lines[0]["env_step"] == 200
    assert lines[0]["episode_reward"] == pytest.approx(float(train[0][2]), abs=1e-3)
    assert [json.loads(x)["step"] for x in (work / "eval.log").read_text().splitlines()] == \
        [100, 200]
    assert json.loads((work / "args.json").read_text())["action_repeat"] == 2
    assert os.listdir(work / "tb")
    assert sorted(os.listdir(work / "video")) == ["100.gif", "200.gif"]
    assert {"actor_200.msgpack", "critic_200.msgpack", "decoder_200.msgpack"} <= \
        set(os.listdir(work / "model"))
