"""``purerl-ppo --config train.yaml``: the rl_games YAML loader and its command line.

Fast: nothing here compiles an MJX program (the shipped MJX configs are only loaded and
turned into ``Args``); one CLI run trains ``gymnax/Pendulum-v1`` for one tiny update.
"""

import copy
import dataclasses
import json
import os

import pytest

from purerl.cli import ppo as ppo_cli
from purerl.cli import rl_games_yaml as ry
from purerl.cli import common as cli_common
from purerl.cli.common import run_cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ARGS_FIELDS = {f.name for f in dataclasses.fields(ppo_cli.Args)}
TARGETS = ARGS_FIELDS

BASE = {"params": {
    "seed": 3,
    "algo": {"name": "a2c_continuous"},
    "model": {"name": "continuous_a2c_logstd"},
    "network": {"name": "actor_critic", "separate": False,
                "space": {"continuous": {
                    "mu_activation": "None", "sigma_activation": "None",
                    "mu_init": {"name": "default"},
                    "sigma_init": {"name": "const_initializer", "val": 0},
                    "fixed_sigma": True}},
                "mlp": {"units": [32, 16], "activation": "elu",
                        "initializer": {"name": "default"}}},
    "config": {"name": "Tiny", "env_name": "gymnax/Pendulum-v1",
               "normalize_input": True, "normalize_value": True, "value_bootstrap": True,
               "reward_shaper": {"scale_value": 0.1}, "normalize_advantage": True,
               "gamma": 0.99, "tau": 0.95, "learning_rate": 3e-4, "lr_schedule": "adaptive",
               "kl_threshold": 0.008, "grad_norm": 1.0, "entropy_coef": 0.0,
               "truncate_grads": True, "e_clip": 0.2, "clip_value": False,
               "num_actors": 8, "horizon_length": 16, "minibatch_size": 32,
               "mini_epochs": 4, "critic_coef": 2, "bounds_loss_coef": 0.0001,
               "max_epochs": 100},
}}


def snippet(**changes) -> dict:
    """``BASE`` with ``path=value`` changes (``a__b`` for ``a.b``; value ``...`` deletes)."""
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        *parents, last = key.split("__")
        node = data["params"]
        for part in parents:
            node = node.setdefault(part, {})
        if value is ...:
            node.pop(last, None)
        else:
            node[last] = value
    return data


def flags(**changes) -> dict:
    return ry.load(snippet(**changes)).flags


# ------------------------------------------------------------------------ the table and doc

def test_doc_table_is_the_module_table():
    with open(os.path.join(REPO, "docs", "rl_games_mapping.md")) as f:
        doc = f.read()
    assert f"{ry.DOC_BEGIN}\n{ry.mapping_markdown()}{ry.DOC_END}" in doc, (
        "docs/rl_games_mapping.md is stale: python -m purerl.cli.rl_games_yaml "
        "--write-doc docs/rl_games_mapping.md")


def test_every_row_targets_a_purerl_ppo_flag():
    for row in ry.ROWS:
        assert set(row.flags) <= TARGETS, row


@pytest.mark.parametrize("name", sorted(ry.shipped_configs()))
def test_shipped_config_maps_cleanly(name, monkeypatch):
    loaded = ry.load(name)                           # the short name finds the file
    assert loaded.unsupported == []
    assert set(loaded.flags) <= TARGETS
    assert loaded.flags["env_id"] in ("halfcheetah", "hopper", "walker2d", "ant",
                                      "amp-humanoid")
    # The Args half: every mapped value reaches its flag (sizes, divisors, env id checked).
    argv, skip = ["--config", name], {"out_file"}      # (a timestamp: differs by a second)
    args, resumed = ppo_cli.parse(argv)                 # builds no env, compiles nothing
    assert resumed is None
    for flag, value in loaded.flags.items():
        if flag not in skip:
            assert getattr(args, flag) == value, flag


def test_humanoid_amp_config_has_the_spec_ppo_values():
    f = ry.load("ppo_humanoid_amp").flags
    assert f["hidden_sizes"] == (1024, 512) and f["activation"] == "relu" and f["separate"]
    assert f["log_std"] == "fixed" and f["log_std_init"] == -2.9
    assert (f["learning_rate"], f["lr_schedule"]) == (5e-5, "constant")
    assert (f["num_steps"], f["update_epochs"], f["vf_coef"], f["bounds_loss_coef"]) == (
        16, 6, 5.0, 10.0)
    assert (f["gamma"], f["gae_lambda"], f["clip_eps"]) == (0.99, 0.95, 0.2)
    assert f["clip_value"] is False and f["max_grad_norm"] is None
    assert f["advantage_norm"] == "batch" and f["normalize_obs"] and f["normalize_value"]
    assert f["bootstrap_timeouts"] and f["ent_coef"] == 0.0 and f["num_minibatches"] == 2


def test_amp_humanoid_walk_config_has_the_spec_amp_values():
    f = ry.load("amp_humanoid_walk").flags
    assert f["imitation"] == "amp" and f["env_id"] == "amp-humanoid"
    assert f["disc_units"] == (1024, 512) and f["disc_activation"] == "relu"
    assert (f["disc_coef"], f["disc_logit_reg"], f["disc_grad_penalty"],
            f["disc_weight_decay"], f["disc_reward_scale"]) == (5.0, 0.05, 5.0, 1e-4, 2.0)
    assert (f["task_reward_w"], f["disc_reward_w"], f["amp_replay_keep_prob"],
            f["amp_batch_size"]) == (0.0, 1.0, 0.01, 512)
    assert f["normalize_amp_input"] is True
    # the PPO half is ppo_humanoid_amp's
    plain = ry.load("ppo_humanoid_amp").flags
    for key in ("hidden_sizes", "log_std_init", "learning_rate", "num_envs", "num_steps",
                "update_epochs", "vf_coef", "bounds_loss_coef", "num_minibatches"):
        assert f[key] == plain[key], key


# ------------------------------------------------------------------------ mapping rules

@pytest.mark.parametrize("changes, expected", [
    ({}, {"num_envs": 8, "num_steps": 16, "num_minibatches": 4, "minibatch": "flat",
          "update_epochs": 4, "num_updates": 100, "learning_rate": 3e-4, "gamma": 0.99,
          "gae_lambda": 0.95, "clip_eps": 0.2, "clip_value": False, "vf_coef": 2.0,
          "ent_coef": 0.0, "reward_scale": 0.1, "normalize_obs": True,
          "normalize_value": True, "bootstrap_timeouts": True, "bounds_loss_coef": 1e-4,
          "env_id": "gymnax/Pendulum-v1", "seed": 3, "max_grad_norm": 1.0,
          "advantage_norm": "batch", "lr_schedule": "adaptive", "kl_threshold": 0.008,
          "hidden_sizes": (32, 16), "activation": "elu", "separate": False,
          "sigma_output": "log_std", "log_std": "param", "log_std_init": 0.0,
          "mu_activation": "none", "sigma_activation": "none"}),
    # rl_games' defaults for absent keys (1.6.1)
    ({"config__value_bootstrap": ..., "config__bounds_loss_coef": ...,
      "config__normalize_value": ..., "config__truncate_grads": ...},
     {"bootstrap_timeouts": False, "bounds_loss_coef": 0.0, "normalize_value": False,
      "max_grad_norm": None, "adaptive_lr_every": "minibatch", "save_best_after": 100,
      "checkpoint_every": None, "separate": False}),
    ({"config__truncate_grads": False}, {"max_grad_norm": None}),
    ({"config__normalize_advantage": False}, {"advantage_norm": "none"}),
    ({"config__lr_schedule": "linear"}, {"lr_schedule": "linear"}),
    ({"config__lr_schedule": "constant"}, {"lr_schedule": "constant"}),
    ({"config__lr_schedule": "None"}, {"lr_schedule": "constant"}),
    ({"config__schedule_type": "standard"}, {"adaptive_lr_every": "epoch"}),
    ({"config__schedule_type": "legacy"}, {"adaptive_lr_every": "minibatch"}),
    ({"config__learning_rate": "5e-5"}, {"learning_rate": 5e-5}),   # a YAML 1.1 string
    ({"config__bounds_loss_coef": None}, {"bounds_loss_coef": 0.0}),
    ({"config__score_to_win": 20000, "config__save_best_after": 7,
      "config__save_frequency": 50}, {"score_to_win": 20000.0, "save_best_after": 7,
                                      "checkpoint_every": 50}),
    ({"config__save_frequency": 0}, {"checkpoint_every": None}),
    ({"config__max_epochs": ..., "config__max_frames": 1000},
     {"num_updates": 8}),                                           # ceil(1000 / 128)
    ({"config__max_frames": 1280}, {"num_updates": 10}),            # min(100, 10)
    ({"config__minibatch_size": ..., "config__minibatch_size_per_env": 4},
     {"num_minibatches": 4, "minibatch": "flat"}),
    ({"config__full_experiment_name": "my run/1"}, {"out_file": "my_run_1"}),
    ({"config__train_dir": "elsewhere"}, {"runs_dir": "elsewhere"}),
    ({"model__name": "continuous_a2c"}, {"sigma_output": "std"}),
    ({"network__separate": True}, {"separate": True}),
    ({"network__space__continuous__fixed_sigma": False}, {"log_std": "head"}),
    ({"network__space__continuous__learn_sigma": False,
      "network__space__continuous__sigma_init": {"name": "const_initializer", "val": -2.9}},
     {"log_std": "fixed", "log_std_init": -2.9}),
    ({"network__space__continuous__sigma_init": {"name": "default"}}, {"log_std_init": 0.0}),
    ({"network__space__continuous__mu_activation": "tanh",
      "network__space__continuous__sigma_activation": "softplus",
      "network__mlp__activation": "swish"},
     {"mu_activation": "tanh", "sigma_activation": "softplus", "activation": "swish"}),
    ({"network__mlp__initializer": {"name": "orthogonal_initializer", "gain": 1.41}},
     {"initializer": "orthogonal", "initializer_scale": 1.41}),
    ({"network__mlp__initializer": {"name": "orthogonal"}},
     {"initializer": "orthogonal", "initializer_scale": 1.0}),
    ({"network__mlp__initializer": {"name": "glorot_normal_initializer", "gain": 2}},
     {"initializer": "xavier_normal", "initializer_scale": 2.0}),
    ({"network__mlp__initializer": {"name": "glorot_uniform_initializer"}},
     {"initializer": "xavier_uniform", "initializer_scale": 1.0}),
    ({"network__mlp__initializer": {"name": "kaiming_normal"}},
     {"initializer": "kaiming_normal", "initializer_scale": None}),
    ({"network__mlp__initializer": {"name": "random_uniform_initializer", "a": -0.1,
                                    "b": 0.1}},
     {"initializer": "random_uniform", "initializer_scale": 0.1}),
    ({"network__space__continuous__mu_init": {"name": "const_initializer", "val": 0.0}},
     {"mu_init": "const", "mu_init_scale": 0.0}),
    ({"network__mlp__initializer": {"name": "default"}},
     {"initializer": "torch_default", "initializer_scale": None}),
])
def test_mapping_rule(changes, expected):
    got = flags(**changes)
    assert {k: got.get(k, "<absent>") for k in expected} == expected


def test_config_name_becomes_a_timestamped_run_name_as_in_rl_games():
    out = flags(config__name="Humanoid AMP")["out_file"]
    assert out.startswith("Humanoid_AMP_") and len(out) == len("Humanoid_AMP_") + 11


def test_discrete_algo():
    data = snippet(algo__name="a2c_discrete", model__name="a2c_discrete",
                   config__env_name="gymnax/CartPole-v1")
    data["params"]["network"]["space"] = {"discrete": {}}
    got = ry.load(data).flags
    assert got["env_id"] == "gymnax/CartPole-v1" and "log_std" not in got
    with pytest.raises(ValueError, match="network.space: expected a 'continuous' block"):
        ry.load(snippet(algo__name="a2c_continuous", network__space={"discrete": {}}))


def test_typed_flags_replace_their_keys_unread():
    data = snippet(config__env_name="rlgpu")            # IsaacGymEnvs' env name
    with pytest.raises(ValueError, match="rlgpu.*pass --env_id"):
        ry.load(data)
    assert "env_id" not in ry.load(data, typed=["env_id"]).flags


def test_ignored_keys_are_listed():
    loaded = ry.load(snippet(config__print_stats=True, config__player={"games_num": 3},
                             load_path="nn/x.pth"))
    assert {"config.print_stats", "config.player", "load_path"} <= set(loaded.ignored)
    assert "config.games_to_track" not in loaded.ignored    # absent keys are not listed


# ------------------------------------------------------------------------ errors

@pytest.mark.parametrize("changes, message", [
    ({"config__minibatch_size": 48},
     "config.minibatch_size: expected a divisor of config.horizon_length * "
     "config.num_actors = 16 * 8 = 128, got 48"),
    ({"config__gamma": "high"}, "config.gamma: expected a number, got 'high'"),
    ({"config__gamma": 1.5}, "config.gamma: expected a number in [0, 1], got 1.5"),
    ({"config__num_actors": -4}, "config.num_actors: expected a positive integer, got -4"),
    ({"config__num_actors": True}, "config.num_actors: expected an integer, got True"),
    ({"config__normalize_input": "yes please"},
     "config.normalize_input: expected True or False, got 'yes please'"),
    ({"config__entropy_coef": -0.1}, "config.entropy_coef: expected a number >= 0, got -0.1"),
    ({"network__mlp__activation": "leaky_relu"},
     "network.mlp.activation: expected one of 'relu'"),
    ({"network__mlp__units": []}, "network.mlp.units: expected a non-empty list"),
    ({"network__mlp__units": [64, 0]}, "network.mlp.units[1]: expected a positive integer"),
    ({"network__mlp__initializer": {"name": "nosuch"}}, "network.mlp.initializer.name: "),
    ({"network__mlp__initializer": {"name": "const_initializer", "scale": 0.1}},
     "network.mlp.initializer: expected const_initializer with a val"),
    ({"network__mlp__initializer": {"name": "orthogonal_initializer", "scale": 2}},
     "network.mlp.initializer.scale: expected only ['gain']"),
    ({"config__lr_schedule": "cosine"}, "config.lr_schedule: expected one of 'constant'"),
    ({"config__kl_threshold": ...}, "config.lr_schedule: expected config.kl_threshold"),
    ({"config__env_name": "nosuch"}, "config.env_name: expected one of ['amp-humanoid'"),
    ({"config__save_frequency": 30},
     "config.save_frequency: expected a divisor of config.max_epochs=100"),
    ({"config__num_actors": "${....task.env.numEnvs}"},
     "config.num_actors: expected a value (this is an unresolved Hydra"),
    ({"network__space__continuous__fixed_sigma": False,
      "network__space__continuous__learn_sigma": False},
     "network.space.continuous.learn_sigma: expected True unless fixed_sigma is True"),
    ({"algo__name": "sac"}, "algo.name: expected one of 'a2c_continuous', 'a2c_discrete'"),
])
def test_bad_value_is_one_error_naming_the_key(changes, message):
    with pytest.raises(ValueError) as err:
        ry.load(snippet(**changes))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_value_is_an_error_even_with_allow_unknown_keys():
    with pytest.raises(ValueError, match="config.gamma"):
        ry.load(snippet(config__gamma="high"), allow_unknown_keys=True)


def test_unsupported_keys_error_then_warning():
    data = snippet(config__mixed_precision=True, config__use_smooth_clamp=True,
                   config__my_key=1, network__mlp__initializer={
                       "name": "variance_scaling_initializer", "mode": "fan_out"},
                   network__rnn={"name": "lstm", "units": 64},
                   config__my_block={"a": {"b": 1}, "c": 2})
    with pytest.raises(ValueError) as err:
        ry.load(data)
    text = str(err.value)
    for part in ("config.mixed_precision=True", "config.use_smooth_clamp=True",
                 "config.my_key (a key purerl-ppo does not know)", "only mode fan_in",
                 "network.rnn (a recurrent torso", "config.my_block (a key purerl-ppo",
                 "--allow_unknown_keys"):
        assert part in text, part
    assert "config.my_block.a" not in text and "network.rnn.units" not in text  # blocks: once
    with pytest.warns(UserWarning, match="unsupported in purerl-ppo: .*config.my_key"):
        loaded = ry.load(data, allow_unknown_keys=True)
    assert len(loaded.unsupported) == 6 and loaded.flags["num_envs"] == 8


def test_amp_keys_map_under_amp_continuous():
    """An IsaacGymEnvs HumanoidAMPPPO.yaml (interpolations resolved): every AMP key of the
    seed doc and the disc block become purerl-ppo's AMP flags (NEAR's keys:
    tests/cli/test_near_cli.py)."""
    amp_keys = {"amp_obs_demo_buffer_size": 200000, "amp_replay_buffer_size": 1000000,
                "amp_replay_keep_prob": 0.01, "amp_batch_size": 512,
                "amp_minibatch_size": 4096, "disc_coef": 5, "disc_logit_reg": 0.05,
                "disc_grad_penalty": 0.2, "disc_reward_scale": 2, "disc_weight_decay": 1e-4,
                "normalize_amp_input": True, "task_reward_w": 0.0, "disc_reward_w": 1.0}
    assert set(amp_keys) == set(ry.AMP_KEYS)          # the seed doc's "AMP - Additional Params"
    data = snippet(algo__name="amp_continuous", model__name="continuous_amp",
                   network__name="amp",
                   network__disc={"units": [1024, 512], "activation": "relu",
                                  "initializer": {"name": "default"}},
                   config__seq_len=4, **{f"config__{k}": v for k, v in amp_keys.items()})
    loaded = ry.load(data)
    assert loaded.unsupported == []
    assert loaded.flags["imitation"] == "amp" and loaded.flags["sigma_output"] == "log_std"
    for key, value in amp_keys.items():
        assert loaded.flags[key] == value, key
    assert loaded.flags["disc_units"] == (1024, 512)
    assert loaded.flags["disc_activation"] == "relu"
    assert loaded.flags["disc_initializer"] == "torch_default"
    args = ppo_cli.Args(**{k: v for k, v in loaded.flags.items() if k != "out_file"})
    assert args.amp_config().disc_grad_penalty == 0.2
    # Under a2c_continuous rl_games reads none of them: no effect, listed.
    plain = ry.load(snippet(config__disc_coef=5, network__disc={"units": [8]}))
    assert {"config.disc_coef", "network.disc.units"} <= set(plain.ignored)
    assert "disc_coef" not in plain.flags and "imitation" not in plain.flags
    with pytest.raises(ValueError, match=r"config.amp_replay_keep_prob: expected a number in "
                                         r"\[0, 1\], got 2"):
        ry.load(snippet(algo__name="amp_continuous", config__amp_replay_keep_prob=2))


@pytest.mark.parametrize("text, message", [
    ("params: [1, 2\n", "is not valid YAML at line"),
    ("other: 1\n", "expected an rl_games file with a 'params:' block"),
    ("- 1\n", "expected an rl_games file with a 'params:' block"),
])
def test_not_an_rl_games_file(text, message):
    with pytest.raises(ValueError, match=message):
        ry.load(text)


def test_pop_config_flags():
    assert ry.pop_config_flags(["--config", "a.yaml", "--seed", "1"]) == (
        ["--seed", "1"], "a.yaml", False)
    assert ry.pop_config_flags(["--config=a.yaml", "--allow_unknown_keys"]) == (
        [], "a.yaml", True)
    with pytest.raises(ValueError, match="config: expected a path"):
        ry.pop_config_flags(["--config"])


# ------------------------------------------------------------------------ the command line

TINY = """\
# a tiny rl_games file for the CLI test
params:
  seed: 1
  algo: {name: a2c_continuous}
  model: {name: continuous_a2c_logstd}
  network:
    name: actor_critic
    separate: False
    space:
      continuous:
        mu_activation: None
        sigma_activation: None
        mu_init: {name: default}
        sigma_init: {name: const_initializer, val: 0}
        fixed_sigma: True
    mlp:
      units: [16]
      activation: tanh
      initializer: {name: default}
  config:
    name: tiny
    full_experiment_name: tiny
    train_dir: RUNS
    env_name: gymnax/Pendulum-v1
    normalize_input: False
    reward_shaper: {scale_value: 0.1}
    normalize_advantage: True
    gamma: 0.99
    tau: 0.95
    learning_rate: 1e-3
    lr_schedule: constant
    grad_norm: 1.0
    entropy_coef: 0.0
    truncate_grads: True
    e_clip: 0.2
    clip_value: True
    num_actors: 4
    horizon_length: 8
    minibatch_size: 16
    mini_epochs: 1
    critic_coef: 2
    max_epochs: 50
    print_stats: True
"""


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("this command line started training")
    monkeypatch.setattr(cli_common, "run_sweep", refuse)


def _write(tmp_path, text, name="train.yaml"):
    path = tmp_path / name
    path.write_text(text.replace("RUNS", str(tmp_path / "runs")))
    return str(path)


@pytest.mark.parametrize("edit, argv, expected", [
    (("clip_value: True", "clip_value: True\n    my_key: 3"), [],
     "config.my_key (a key purerl-ppo does not know)"),
    (("clip_value: True", "clip_value: True\n    near_config: 5"), [],
     "unsupported in purerl-ppo: config.near_config (a key purerl-ppo does not know)"),
    (("minibatch_size: 16", "minibatch_size: 12"), [],
     "config.minibatch_size: expected a divisor of config.horizon_length * config.num_actors"),
    (("gamma: 0.99", "gamma: -1"), ["--allow_unknown_keys"],
     "config.gamma: expected a number in [0, 1], got -1"),
    (("units: [16]", "units: [16"), [], "is not valid YAML at line"),
    (None, ["--resume", "/nonexistent"], "config: --resume takes every flag"),
    (None, ["--config"], "config: expected a path"),
])
def test_bad_yaml_is_one_line_and_exit_2(tmp_path, capsys, no_training, edit, argv, expected):
    text = TINY if edit is None else TINY.replace(*edit)
    argv = ["--config", _write(tmp_path, text)] + argv if argv != ["--config"] else argv
    with pytest.raises(SystemExit) as exit_:
        run_cli(ppo_cli.main, argv, prog="purerl-ppo")
    assert exit_.value.code == 2
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("purerl-ppo: error: "), lines
    assert expected in lines[0], lines[0]


def test_missing_file_and_stray_allow_flag(tmp_path, capsys, no_training):
    for argv, expected in ((["--config", str(tmp_path / "none.yaml")], "config: cannot read"),
                           (["--allow_unknown_keys"], "allow_unknown_keys: expected --config")):
        with pytest.raises(SystemExit):
            run_cli(ppo_cli.main, argv, prog="purerl-ppo")
        assert expected in capsys.readouterr().err


def test_allow_unknown_keys_warns_in_one_line(tmp_path, capsys, monkeypatch):
    path = _write(tmp_path, TINY.replace("clip_value: True", "clip_value: True\n    foo: 1"))
    args, _ = run_cli(ppo_cli.parse, ["--config", path, "--allow_unknown_keys"],
                      prog="purerl-ppo")
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith("purerl-ppo: warning: config: ") and "config.foo" in line
               for line in err), err
    assert any(line.startswith("purerl-ppo: note: ") and "config.print_stats" in line
               for line in err), err
    assert args.num_envs == 4


def test_config_then_flags_trains_and_resume_reads_config_json(tmp_path, monkeypatch, capsys):
    """``purerl-ppo --config tiny.yaml --num_updates 1`` trains; typed flags win."""
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, TINY)
    summary = ppo_cli.main(["--config", path, "--num_updates", "1", "--log_every", "0"])
    run_dir = tmp_path / "runs" / "tiny"                # train_dir + full_experiment_name
    config = json.loads((run_dir / "config.json").read_text())
    assert summary["config"]["num_updates"] == 1                          # typed
    assert (config["num_envs"], config["num_steps"], config["num_minibatches"]) == (4, 8, 2)
    assert (config["gamma"], config["vf_coef"], config["reward_scale"]) == (0.99, 2.0, 0.1)
    assert config["env_id"] == "gymnax/Pendulum-v1" and config["seed"] == 1
    assert config["hidden_sizes"] == [16] and config["lr_schedule"] == "constant"
    capsys.readouterr()
    again = ppo_cli.main(["--resume", str(run_dir)])           # resolved flags, no --config
    assert "finished run" in capsys.readouterr().out and again["config"] == summary["config"]


def test_variance_scaling_initializer_maps_with_its_scale():
    got = flags(network__mlp__initializer={"name": "variance_scaling_initializer",
                                           "scale": 2.0})
    assert (got["initializer"], got["initializer_scale"]) == ("variance_scaling", 2.0)
