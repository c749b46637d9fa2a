"""Slow: the shipped AMP humanoid config compiles and runs (MJX compiles take minutes)."""

import numpy as np
import pytest

from purerl.cli import ppo as ppo_cli


@pytest.mark.slow
def test_amp_humanoid_walk_config_runs_two_updates(tmp_path):
    """``purerl-ppo --config amp_humanoid_walk`` at 4 envs x 2 updates: demo pairs from
    the walk clip (motion library), the discriminator's metrics finite, the env's task
    reward (1 per step) untouched in the logged returns; evaluation blocks log the pose error
    and SPARC against the clips and draw imitation_curves.png."""
    summary = ppo_cli.main(["--config", "amp_humanoid_walk", "--num_envs", "4",
                            "--num_updates", "2", "--checkpoint_every", "1",
                            "--hidden_sizes", "64", "--disc_units", "64",
                            "--log_every", "1", "--eval_every", "1", "--eval_episodes", "2",
                            "--eval_max_steps", "10", "--runs_dir", str(tmp_path),
                            "--out_file", "h"])
    assert summary["updates_done"] == 2 and summary["config"]["imitation"] == "amp"
    m = np.load(tmp_path / "h" / "metrics.npz")
    for name in ("extra/disc_loss", "extra/disc_grad_penalty", "extra/style_reward",
                 "eval/pose_error"):
        assert np.isfinite(m[name]).all(), name
    # the evaluation blocks scored the policy against the demo clips (imitation_eval)
    assert (m["eval/pose_error"] > 0).all()
    assert {"eval/sparc", "eval/return", "eval/pose_error_nearest"} <= set(m.files)
    assert (tmp_path / "h" / "imitation_curves.png").stat().st_size > 0
