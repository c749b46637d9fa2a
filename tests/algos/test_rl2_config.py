"""RL^2 config: seed flag names, aliases, derived sizes, and errors before compiling.

The seed project's flag names live in the CLI (``purerl.cli.rl2.Args``), translated once
into the core ``purerl.algos.rl2.Config``, whose hyperparameters have the standard names.
"""

import dataclasses

import pytest

from purerl.algos import rl2
from purerl.algos.ppo import PPOConfig
from purerl.cli import rl2 as rl2_cli
from purerl.cli.common import run_cli


@pytest.mark.parametrize("kwargs, field", [
    (dict(batch_size=1000, num_workers=256), "batch_size"),
    (dict(mini_batch_size=3000), "mini_batch_size"),
    (dict(batch_size=5120, mini_batch_size=5120 // 3 * 3 // 3), "mini_batch_size"),
    (dict(num_workers=0), "num_workers"),
    (dict(gamma=1.5), "gamma"),
    (dict(tau=-0.1), "tau"),
    (dict(clip_param=0.0), "clip_param"),
    (dict(ent_coef=-1.0), "ent_coef"),
    (dict(num_actions=1), "num_actions"),
    (dict(task="bandit", traj_len=5), "traj_len"),
    (dict(metalearn_epochs=250, checkpoint_every=100), "checkpoint_every"),
    (dict(out_file="a/b"), "out_file"),
])
def test_bad_values_name_the_field_expected_and_actual(kwargs, field):
    with pytest.raises(ValueError) as err:
        rl2_cli.Args(**kwargs)
    msg = str(err.value)
    assert msg.startswith(f"{field}: expected "), msg
    assert "got" in msg and repr(kwargs[field]) in msg


def test_ppo_config_rejects_uneven_minibatches():
    with pytest.raises(ValueError, match=r"num_minibatches: expected a divisor of num_envs=10"):
        PPOConfig(num_envs=10, num_minibatches=4)


@pytest.mark.parametrize("kwargs, field", [
    (dict(num_envs=0), "num_envs"),
    (dict(gae_lambda=-0.1), "gae_lambda"),
    (dict(clip_eps=0.0), "clip_eps"),
    (dict(batch_size=1000), "batch_size"),
    (dict(model_type="transformer"), "model_type"),     # Literal fields, checked in Python
    (dict(task="mdpp"), "task"),
    (dict(non_linearity="gelu"), "non_linearity"),
    (dict(learning_rate=float("inf")), "learning_rate"),  # every float field: finite
    (dict(gamma=float("nan")), "gamma"),
    (dict(ent_coef=float("inf")), "ent_coef"),
])
def test_core_config_checks_literals_and_finite_floats(kwargs, field):
    with pytest.raises(ValueError) as err:
        rl2.Config(**kwargs)
    assert str(err.value).startswith(f"{field}: expected "), str(err.value)


def test_core_config_has_standard_names_only():
    names = {f.name for f in dataclasses.fields(rl2.Config)}
    assert {"num_envs", "num_updates", "update_epochs", "clip_eps", "gae_lambda"} <= names
    assert not names & set(rl2_cli.SEED_NAMES.values())       # no seed names in the core
    assert not names & {"out_file", "runs_dir", "resume", "checkpoint_every"}  # run options


def test_seed_flag_names_and_aliases_parse():
    cfg_seed, _ = rl2_cli.parse(
        ["--task", "mdp", "--num_traj", "25", "--tau", "0.3", "--clip_param", "0.15",
              "--ppo_epochs", "3", "--metalearn_epochs", "200", "--num_workers", "128",
              "--batch_size", "32000", "--mini_batch_size", "8000", "--target_kl", "0.01",
              "--non_linearity", "tanh", "--out_file", "x", "--checkpoint_every", "100"])
    cfg_alias, _ = rl2_cli.parse(
        ["--task", "mdp", "--num_traj", "25", "--gae_lambda", "0.3", "--clip_eps", "0.15",
              "--update_epochs", "3", "--num_updates", "200", "--num_envs", "128",
              "--batch_size", "32000", "--mini_batch_size", "8000", "--target_kl", "0.01",
              "--non_linearity", "tanh", "--out_file", "x", "--checkpoint_every", "100"])
    assert cfg_seed == cfg_alias
    core = cfg_seed.core_config()
    assert (core.gae_lambda, core.clip_eps, core.update_epochs, core.num_updates,
            core.num_envs) == (0.3, 0.15, 3, 200, 128)
    p = core.ppo_config()
    assert (p.gae_lambda, p.clip_eps, p.update_epochs, p.num_updates, p.num_envs) == (
        0.3, 0.15, 3, 200, 128)
    assert core.trial_length == 250 and p.num_steps == 250 and p.num_minibatches == 4


def test_bad_flag_is_rejected_before_compiling(capsys):
    with pytest.raises(SystemExit) as exit_:
        run_cli(rl2_cli.main, ["--batch_size", "1001"], prog="purerl-rl2")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "purerl-rl2: error: batch_size: expected a multiple of num_workers=256" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
