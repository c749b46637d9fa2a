"""purerl-ppo's rl_games run options: ``score_to_win`` stops, ``save_best_after`` keeps the
best params, and the rl_games network options build on a Box env."""

import json
import os

from purerl.cli import ppo as ppo_cli

TINY = ["--env_id", "gymnax/Pendulum-v1", "--num_envs", "2", "--num_steps", "100",
        "--num_updates", "4", "--num_minibatches", "2", "--update_epochs", "1",
        "--log_every", "1", "--checkpoint_every", "2", "--hidden_sizes", "16", "8",
        "--activation", "elu", "--initializer", "torch_default", "--separate", "False",
        "--lr_schedule", "adaptive", "--advantage_norm", "batch",
        "--bounds_loss_coef", "10", "--max_grad_norm", "None"]


def test_score_to_win_stops_and_best_params_are_kept(tmp_path, capsys):
    # Pendulum episodes last 200 steps: the first return is known after update 2, and
    # any return beats -1e9, so training stops there.
    summary = ppo_cli.main([*TINY, "--runs_dir", str(tmp_path), "--out_file", "r",
                            "--score_to_win", "-1e9", "--save_best_after", "0"])
    run = tmp_path / "r"
    assert summary["updates_done"] == 2 and summary["stopped_by_score_to_win_at"] == 2
    assert "score_to_win -1e+09 reached by every run at update 2" in capsys.readouterr().out
    best = json.loads((run / "best_params" / "best.json").read_text())
    assert best["0"]["update"] == 2 and best["0"]["score"] < 0
    assert os.path.isdir(run / "best_params" / "run_0")
    # the stopped run is finished: --resume touches nothing
    again = ppo_cli.main(["--resume", str(run)])
    assert again["updates_done"] == 2


def test_in_loop_evaluation_and_scoring_a_gaussian_run(tmp_path):
    from purerl.cli import evaluate as evaluate_cli

    summary = ppo_cli.main(["--env_id", "gymnax/Pendulum-v1", "--num_envs", "2",
                            "--num_steps", "50", "--num_updates", "4",
                            "--num_minibatches", "2", "--update_epochs", "1",
                            "--log_every", "0", "--eval_every", "2", "--eval_episodes", "3",
                            "--normalize_obs", "--runs_dir", str(tmp_path), "--out_file", "e"])
    assert summary["updates_done"] == 4
    import numpy as np

    m = np.load(tmp_path / "e" / "metrics.npz")
    ret = m["eval/return"][0, 0]                    # [updates]: evaluated after 2 and 4
    assert np.isnan(ret[[0, 2]]).all() and np.isfinite(ret[[1, 3]]).all()
    assert (-1700 < ret[[1, 3]]).all() and (ret[[1, 3]] < 0).all()   # Pendulum's range
    np.testing.assert_array_equal(m["eval/length"][0, 0][[1, 3]], 200)
    scored = evaluate_cli.main(["--run_dir", str(tmp_path / "e"), "--num_episodes", "4",
                                "--greedy", "True"])
    assert -1700 < scored["score_mean"] < 0


def test_rl_games_flag_names_are_aliases():
    args, _ = ppo_cli.parse(["--num_actors", "8", "--horizon_length", "32", "--max_epochs",
                             "6", "--mini_epochs", "3", "--tau", "0.9", "--e_clip", "0.1",
                             "--critic_coef", "2", "--entropy_coef", "0.001",
                             "--grad_norm", "None"])
    assert (args.num_envs, args.num_steps, args.num_updates, args.update_epochs) == (8, 32, 6, 3)
    assert (args.gae_lambda, args.clip_eps, args.vf_coef, args.ent_coef) == (0.9, 0.1, 2.0,
                                                                             0.001)
    assert args.max_grad_norm is None
    yaml_args, _ = ppo_cli.parse(["--config", "ppo_halfcheetah", "--horizon_length", "32"])
    assert yaml_args.num_steps == 32 and yaml_args.num_envs == 64
