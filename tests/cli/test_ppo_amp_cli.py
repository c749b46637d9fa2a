"""``purerl-ppo --imitation amp``: one tiny AMP run on Pendulum-v1 through the run directory,
the AMP flags' checks, and scoring the run with ``purerl-evaluate``."""

import numpy as np
import pytest

from purerl.cli import ppo as ppo_cli

TINY = ["--env_id", "gymnax/Pendulum-v1", "--imitation", "amp", "--num_envs", "4",
        "--num_steps", "32", "--num_updates", "4", "--num_minibatches", "2",
        "--update_epochs", "1", "--log_every", "2", "--checkpoint_every", "2",
        "--hidden_sizes", "16", "--disc_units", "16", "--amp_minibatch_size", "32",
        "--amp_obs_demo_buffer_size", "1024", "--amp_replay_buffer_size", "256",
        "--amp_batch_size", "128", "--disc_loss", "lsgan", "--num_seeds", "2"]


def test_amp_run_writes_disc_metrics_and_scores(tmp_path):
    from purerl.cli import evaluate as evaluate_cli

    summary = ppo_cli.main([*TINY, "--runs_dir", str(tmp_path), "--out_file", "a"])
    assert summary["updates_done"] == 4
    assert summary["config"]["imitation"] == "amp"
    m = np.load(tmp_path / "a" / "metrics.npz")
    for name in ("extra/disc_loss", "extra/disc_grad_penalty", "extra/style_reward",
                 "extra/disc_agent_acc", "extra/disc_demo_acc"):
        assert m[name].shape == (1, 2, 4) and np.isfinite(m[name]).all(), name
    # lsgan's reward lies in [0, disc_reward_scale = 2]
    assert (m["extra/style_reward"] >= 0).all() and (m["extra/style_reward"] <= 2).all()
    scored = evaluate_cli.main(["--run_dir", str(tmp_path / "a"), "--num_episodes", "2"])
    assert -1700 < scored["score_mean"] < 0


@pytest.mark.parametrize("argv, message", [
    (["--disc_coef", "3"], "disc_coef: expected its default unless --imitation amp"),
    (["--imitation", "amp", "--model_type", "gru"],
     "model_type: expected mlp or conv for --imitation amp"),
    (["--imitation", "amp", "--amp_replay_keep_prob", "2"],
     "amp_replay_keep_prob: expected a number in [0, 1], got 2.0"),
    (["--imitation", "amp", "--env_id", "gymnax/MountainCarContinuous-v0"],
     "amp_demo: expected motion_lib, pendulum_swingup or a .npy file of [K, D] demo pairs"),
    (["--imitation", "amp", "--amp_demo", "/nonexistent.npy"],
     "amp_demo: expected motion_lib, pendulum_swingup, auto or an existing .npy file"),
    (["--imitation", "amp", "--amp_demo", "motion_lib"],
     "amp_demo: expected motion_lib only for the amp-humanoid"),
])
def test_amp_flag_errors_are_one_line(tmp_path, capsys, argv, message):
    from purerl.cli.common import run_cli

    with pytest.raises(SystemExit) as exit_:
        run_cli(ppo_cli.main, prog="purerl-ppo",
                argv=[*argv, "--runs_dir", str(tmp_path), "--num_updates", "1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
