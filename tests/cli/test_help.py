"""Help text, boolean flags, and the seed project's sample commands on ``purerl-rl2``."""

import shlex

import pytest

from purerl.algos import ppo
from purerl.cli import evaluate as evaluate_cli
from purerl.cli import ppo as ppo_cli
from purerl.cli import datagen as datagen_cli
from purerl.cli import near_energy as near_energy_cli
from purerl.cli import rl2 as rl2_cli
from purerl.cli import sac as sac_cli
from purerl.cli.common import run_cli


def help_text(main, prog, capsys):
    with pytest.raises(SystemExit) as exit_:
        run_cli(main, ["--help"], prog=prog)
    assert exit_.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("main, prog", [(ppo_cli.main, "purerl-ppo"), (rl2_cli.main, "purerl-rl2"),
                                        (evaluate_cli.main, "purerl-evaluate"),
                                        (sac_cli.main, "purerl-sac"),
                                        (near_energy_cli.main, "purerl-near-energy"),
                                        (datagen_cli.main, "purerl-datagen")])
def test_help_has_no_raw_markup(main, prog, capsys):
    text = help_text(main, prog, capsys)
    assert "--run_dir" in text or "--resume" in text or "--dataset" in text
    assert "``" not in text


def test_ppo_help_lists_choices_and_the_sweep_syntax(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")     # one help line per flag: easier to read here
    text = " ".join(help_text(ppo_cli.main, "purerl-ppo", capsys).split())
    assert "--model_type {mlp,gru,conv}" in text
    assert "NAME=V1,V2,..." in text and "comma-separated" in text and "Repeat --sweep" in text
    for name in ppo.SWEEPABLE:
        assert name in text.partition("Sweepable:")[2], name
    assert "--checkpoint_every" in text and "--resume" in text


def test_rl2_help_lists_choices(capsys):
    text = help_text(rl2_cli.main, "purerl-rl2", capsys)
    assert "--model_type {gru,snail,mlp}" in text and "--task {bandit,mdp}" in text
    assert "--non_linearity {none,tanh,relu,sigmoid}" in text


@pytest.mark.parametrize("parse, flag, field", [
    (ppo_cli.parse, "normalize_obs", "normalize_obs"), (ppo_cli.parse, "clip_value", "clip_value"),
    (rl2_cli.parse, "anneal", "anneal"), (rl2_cli.parse, "layer_norm", "layer_norm"),
    (rl2_cli.parse, "eval_greedy", "eval_greedy"),
])
def test_flag_false_is_accepted_where_no_flag_is(parse, flag, field):
    off = [getattr(parse(argv)[0], field) for argv in
           ([f"--no_{flag}"], [f"--{flag}", "False"], [f"--{flag}=false"], [f"--{flag}", "0"])]
    on = [getattr(parse(argv)[0], field) for argv in
          ([f"--{flag}"], [f"--{flag}", "True"], [f"--{flag}=true"])]
    assert off == [False] * 4 and on == [True] * 3


# The seed project's README (SNAIL_Pytorch, "Sample Commands"), copied verbatim.
SEED_COMMANDS = """
python rl2_train.py --out_file test_bandit.pt --batch_size 100 --num_tasks 100 --mini_batch_size 20 --num_traj 50 --tau 0.3 --gamma 0.99 --ppo_epochs 7 --learning_rate 0.005 --clip_param 0.2
python rl2_train.py --out_file test_10armed_bandit.pt --batch_size 100 --num_tasks 100 --mini_batch_size 20 --num_traj 50 --tau 0.3 --gamma 0.99 --ppo_epochs 7 --learning_rate 0.005 --clip_param 0.2 --num_actions 10
python rl2_train.py --out_file test_mdp_snail.pt --batch_size 100 --num_tasks 100 --mini_batch_size 20 --num_traj 50 --tau 0.3 --gamma 0.99 --ppo_epochs 7 --learning_rate 0.005 --clip_param 0.2 --model_type snail --metalearn_epochs 1500
""".strip().splitlines()


@pytest.mark.parametrize("command", SEED_COMMANDS, ids=["bandit", "10armed", "snail"])
def test_seed_sample_commands_name_the_one_flag_to_add(command, capsys, tmp_path):
    """Verbatim (``python rl2_train.py`` -> ``purerl-rl2``), each seed command stops before
    compiling with one line naming the flag to add (its batch of 100 steps does not split
    over our default 256 parallel envs, the seed's 1 worker process); with that flag
    added as suggested, it is a valid run."""
    argv = shlex.split(command)[2:]
    with pytest.raises(SystemExit) as exit_:
        run_cli(rl2_cli.main, argv, prog="purerl-rl2")
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("purerl-rl2: error: batch_size: expected a multiple of "
                          "num_workers=256, got 100; add --num_workers"), err
    suggested = err.partition("e.g. ")[2].split()[:2]
    assert suggested == ["--num_workers", "5"], err
    args, resumed = rl2_cli.parse([*argv, *suggested, f"--runs_dir={tmp_path}"])
    assert resumed is None and args.num_workers == 5 and args.tau == 0.3
    core = args.core_config()
    assert (core.num_steps, core.num_minibatches, core.update_epochs) == (20, 5, 7)
    assert not any(tmp_path.iterdir())        # parsing writes nothing
