"""RL^2 config: seed flag names, aliases, derived sizes, and errors before compiling."""

import pytest
import tyro

from purerl.algos import rl2
from purerl.cli import rl2 as rl2_cli
from purerl.algos.ppo import PPOConfig


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
        rl2.Config(**kwargs)
    msg = str(err.value)
    assert msg.startswith(f"{field}: expected "), msg
    assert "got" in msg and repr(kwargs[field]) in msg


def test_ppo_config_rejects_uneven_minibatches():
    with pytest.raises(ValueError, match=r"num_minibatches: expected a divisor of num_envs=10"):
        PPOConfig(num_envs=10, num_minibatches=4)


def test_seed_flag_names_and_aliases_parse():
    cfg_seed = tyro.cli(
        rl2.Config, use_underscores=True,
        args=["--task", "mdp", "--num_traj", "25", "--tau", "0.3", "--clip_param", "0.15",
              "--ppo_epochs", "3", "--metalearn_epochs", "200", "--num_workers", "128",
              "--batch_size", "32000", "--mini_batch_size", "8000", "--target_kl", "0.01",
              "--non_linearity", "tanh", "--out_file", "x", "--checkpoint_every", "100"])
    cfg_alias = tyro.cli(
        rl2.Config, use_underscores=True,
        args=["--task", "mdp", "--num_traj", "25", "--gae_lambda", "0.3", "--clip_eps", "0.15",
              "--update_epochs", "3", "--num_updates", "200", "--num_envs", "128",
              "--batch_size", "32000", "--mini_batch_size", "8000", "--target_kl", "0.01",
              "--non_linearity", "tanh", "--out_file", "x", "--checkpoint_every", "100"])
    assert cfg_seed == cfg_alias
    p = cfg_seed.ppo_config()
    assert (p.gae_lambda, p.clip_eps, p.update_epochs, p.num_updates, p.num_envs) == (
        0.3, 0.15, 3, 200, 128)
    assert cfg_seed.trial_length == 250 and p.num_steps == 250 and p.num_minibatches == 4


def test_bad_flag_is_rejected_before_compiling(capsys):
    with pytest.raises(SystemExit):
        rl2_cli.main(["--batch_size", "1001"])
    assert "batch_size: expected a multiple of num_workers=256" in capsys.readouterr().err
