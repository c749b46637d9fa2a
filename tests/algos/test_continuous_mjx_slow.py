"""purerl-ppo and purerl-sac on the MJX halfcheetah (slow tier: MJX compiles take minutes).

PPO: the rl_games halfcheetah YAML shipped with purerl, made CPU-sized: the run stays
finite, its deterministic evaluation beats the random policy, and the evaluation video is
written. SAC's learning on halfcheetah is tests/algos/test_sac_online.py (slow); here its
command line writes the video of a tiny run.
"""

import numpy as np
import pytest

from purerl.cli import ppo as ppo_cli
from purerl.cli import sac as sac_cli

pytestmark = pytest.mark.slow

RANDOM_HALFCHEETAH = -200.0
"""The expected control cost of 1000 uniform-random steps on our halfcheetah (0.1 |a|^2 per
step, E|a|^2 = 6 x 1/3), around which random play's return lies (its forward velocity
averages near 0)."""


def test_ppo_halfcheetah_learns_above_random_and_writes_a_video(tmp_path):
    summary = ppo_cli.main([
        "--config", "ppo_halfcheetah", "--num_envs", "32", "--num_steps", "64",
        "--num_updates", "60", "--checkpoint_every", "20", "--eval_every", "20",
        "--eval_episodes", "2", "--log_every", "20", "--video",
        "--runs_dir", str(tmp_path), "--out_file", "hc"])
    m = np.load(tmp_path / "hc" / "metrics.npz")
    assert all(np.isfinite(v[~np.isnan(v)]).all() for v in m.values())
    evals = m["eval/return"][0, 0]
    evals = evals[np.isfinite(evals)]
    assert evals[-1] > RANDOM_HALFCHEETAH, evals
    assert (tmp_path / "hc" / "videos" / "final.gif").stat().st_size > 10_000
    assert summary["updates_done"] == 60


def test_sac_cli_writes_the_video_of_an_mjx_run(tmp_path):
    summary = sac_cli.main(["--env_id", "halfcheetah", "--num_envs", "2", "--num_updates", "4",
                            "--learning_starts", "4", "--eval_every", "0", "--log_every", "0",
                            "--actor_hidden_sizes", "8", "--critic_hidden_sizes", "8",
                            "--replay_buffer_size", "64", "--sgd_batch_size", "8", "--video",
                            "--runs_dir", str(tmp_path), "--out_file", "s"])
    assert summary["updates_done"] == 4
    assert (tmp_path / "s" / "videos" / "final.gif").stat().st_size > 10_000
