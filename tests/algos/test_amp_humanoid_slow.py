"""Slow: the shipped AMP humanoid config compiles and runs (MJX compiles take minutes)."""

import numpy as np
import pytest

from purerl.cli import ppo as ppo_cli


@pytest.mark.slow
def test_amp_humanoid_walk_config_runs_two_updates(tmp_path):
    """``purerl-ppo --config amp_humanoid_walk`` at 4 envs x 2 updates: demo pairs from
    the walk clip (motion library), the discriminator's metrics finite, the env's task
    reward (1 per step) untouched in the logged returns."""
    summary = ppo_cli.main(["--config", "amp_humanoid_walk", "--num_envs", "4",
                            "--num_updates", "2", "--checkpoint_every", "1",
                            "--hidden_sizes", "64", "--disc_units", "64",
                            "--log_every", "1", "--runs_dir", str(tmp_path),
                            "--out_file", "h"])
    assert summary["updates_done"] == 2 and summary["config"]["imitation"] == "amp"
    m = np.load(tmp_path / "h" / "metrics.npz")
    for name in ("extra/disc_loss", "extra/disc_grad_penalty", "extra/style_reward"):
        assert np.isfinite(m[name]).all(), name
