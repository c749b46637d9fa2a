"""NEAR's command lines: the shipped humanoid YAML parses for both steps (no training), every
near_config key is mapped or refused by name, and (slow) a Pendulum run end to end."""

import json
import os

import pytest

from purerl.cli import near_energy as cne
from purerl.cli import ppo as ppo_cli
from purerl.cli import rl_games_yaml as ry


def test_near_humanoid_yaml_configures_both_steps():
    flags, notes = cne.read_config("near_humanoid_walk")
    # every seed key of training / data / model / optim is read (motion_file null: default)
    assert set(flags) == {flag for flag, _ in cne.KEYS.values()} - {"grad_clip",
                                                                     "motion_file"} | {
        "runs_dir", "out_file"}
    assert (flags["runs_dir"], flags["out_file"]) == ("runs", "near_energy_walk")
    assert len(notes) == 5 and all(".inference." in n for n in notes)
    args, _ = cne.parse(["--config", "near_humanoid_walk", "--n_iters", "500"])
    cfg = args.energy_config(210)
    assert (cfg.num_levels, cfg.sigma_begin, cfg.sigma_end, cfg.latent_space_dim) == (
        50, 20.0, 0.01, 2048)
    assert cfg.encoder_hidden_layers == (512, 1024) and cfg.ema_rate == 0.999
    assert args.n_iters == 500 and cfg.num_rounds == 7      # 500 / 78 per buffer, rounded up
    loaded = ry.load("near_humanoid_walk")
    assert not loaded.unsupported
    assert loaded.flags["near_energy_run"] == "runs/near_energy_walk"
    assert (loaded.flags["near_sigma_level"], loaded.flags["near_task_reward_w"],
            loaded.flags["near_energy_reward_w"]) == (-1, 0.0, 1.0)
    assert any(p.endswith("near_config.model.L") for p in loaded.ignored)
    args, _ = ppo_cli.parse(["--config", "near_humanoid_walk"])
    assert args.near_energy_run == "runs/near_energy_walk" and args.env_id == "amp-humanoid"
    assert ppo_cli.config_dict(args)["algo"] == "near"


def _yaml(tmp_path, text):
    path = tmp_path / "near.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("argv, message", [
    (["--sigma_level", "2"], "sigma_level: expected no value here: it is an inference key "
     "of NEAR's step 2, read by purerl-ppo (--near_sigma_level)"),
    (["--ngpu", "2"], "ngpu: expected 1"),
    (["--numObsSteps", "3"], "numObsSteps: expected 2"),
    (["--optimizer", "Adagrad"], "optimizer: expected Adam, RMSProp or SGD"),
    (["--dataset", "mnist"], "dataset: expected amp-humanoid or humanoid or gymnax/Pendulum"),
    (["--L", "0"], "num_levels: expected a positive number"),
])
def test_energy_cli_refuses_with_the_field(argv, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cne.parse(argv)


def test_yaml_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"only the near_config keys .*near_config.model.foo"):
        cne.read_config(_yaml(tmp_path, "near_config:\n  model:\n    foo: 1\n"))
    with pytest.raises(ValueError, match=r"near_config.model.L: expected an integer"):
        cne.read_config(_yaml(tmp_path, "near_config:\n  model:\n    L: many\n"))
    text = open(ry.shipped_configs()["near_humanoid_walk"]).read()
    with pytest.raises(ValueError, match="eb_model_checkpoint: expected the purerl-near-energy"):
        ry.load(text.replace("eb_model_checkpoint: runs/near_energy_walk", "sigma_level2: 0"))
    with pytest.raises(ValueError, match=r"inference.sigma_level \(NEAR's inference keys need "
                                         "algo.name dmp_continuous\\)"):
        ry.load(text.replace("name: dmp_continuous", "name: a2c_continuous"))
    with pytest.raises(ValueError, match="running_mean_std_checkpoint='elsewhere.pth'"):
        ry.load(text.replace("running_mean_std_checkpoint: ''",
                             "running_mean_std_checkpoint: elsewhere.pth"))
    with pytest.raises(ValueError, match="near_sigma_level: expected its default unless "
                                         "--near_energy_run"):
        ppo_cli.parse(["--near_sigma_level", "3"])


@pytest.mark.slow
def test_pendulum_energy_run_then_ppo_on_it(tmp_path):
    """purerl-near-energy writes the frozen model; purerl-ppo --near_energy_run trains on it
    (about 2 minutes on the 2-core CPU)."""
    runs = str(tmp_path)
    cne.main(["--dataset", "gymnax/Pendulum-v1", "--L", "4", "--sigma_begin", "2",
              "--sigma_end", "0.1", "--encoder_hidden_layers", "16", "--latent_space_dim",
              "16", "--decoder_hidden_layers", "16", "--lr", "1e-3", "--buffer_size", "256",
              "--n_iters", "8", "--snapshot_freq", "4", "--demo_envs", "4", "--demo_steps",
              "64", "--runs_dir", runs, "--out_file", "energy"])
    energy = os.path.join(runs, "energy")
    for name in ("energy_params", "normalizer.json", "summary.json", "checkpoints"):
        assert os.path.exists(os.path.join(energy, name)), name
    summary = ppo_cli.main(["--env_id", "gymnax/Pendulum-v1", "--num_envs", "8",
                            "--num_steps", "16", "--num_updates", "4", "--near_energy_run",
                            energy, "--runs_dir", runs, "--out_file", "ppo", "--log_every",
                            "0"])
    assert summary["config"]["algo"] == "near"
    with open(os.path.join(runs, "ppo", "metrics_seed0.csv")) as f:
        assert "extra/near_style_reward" in f.readline()
    assert json.load(open(os.path.join(energy, "normalizer.json")))["model"]["num_levels"] == 4
