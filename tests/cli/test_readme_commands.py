"""The README's ``purerl-ppo`` / ``purerl-rl2`` / ``purerl-evaluate`` commands run as written
(``purerl-sac`` / ``purerl-datagen`` ones are parsed).

The commands are read from the README's ``bash`` blocks (so an edited README is what is
tested) and run in README order, in-process through ``run_cli``, in a temporary working
directory (their ``runs/...`` paths land there). Only sizes are overridden, by flags
appended after the command (the last value of a flag wins):

- ``purerl-rl2``: the tiny RL^2 sizes of tests/algos/test_rl2_training.py (16 envs x 10
  steps, GRU(16), 100 updates checkpointed every 10, 64 held-out tasks), so one compiled
  program serves both files;
- ``purerl-ppo``: the tiny PPO sizes of tests/cli/test_ppo_run_dir.py (4 envs x 8 steps,
  6 updates, checkpoints every 3, no in-loop evaluation); the sweep keeps its 6 points x
  8 seeds.

Some commands are only parsed (flags valid, nothing trained), named in ``PARSE_ONLY``:
the two long RL^2 settings (an MDP and a 100-pull bandit: each a new program to compile,
~1 min on the 2-core CPU, for nothing the main job does not test) and the 2-CPU-device
command, whose ``XLA_FLAGS`` must be set before jax starts (the sharded run itself is
tests/algos/test_ppo_sweep.py::test_sharded_over_two_cpu_devices_equals_one_device), the
SAC commands (trained by tests/cli/test_sac_cli.py), the MJX ``--config`` commands
(tests/algos/test_ppo_mjx_slow.py trains one in the slow tier) and the multi-host
commands (their multi-host flags are checked by ``distributed.resolve``, an ``srun`` prefix
is dropped; tests/common/test_multihost.py runs a real 2-process job).
"""

import json
import os
import re
import shlex

import pytest

from purerl.cli import datagen as datagen_cli
from purerl.cli import evaluate as evaluate_cli
from purerl.cli import ppo as ppo_cli
from purerl.cli import rl2 as rl2_cli
from purerl.cli import sac as sac_cli
from purerl.cli import sac_ae as sac_ae_cli
from purerl.cli.common import run_cli
from purerl.common import distributed

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "README.md")
MAINS = {"purerl-ppo": ppo_cli.main, "purerl-rl2": rl2_cli.main,
         "purerl-evaluate": evaluate_cli.main, "purerl-sac": sac_cli.main,
         "purerl-datagen": datagen_cli.main, "purerl-sac-ae": sac_ae_cli.main}
PARSERS = {"purerl-ppo": ppo_cli.parse, "purerl-rl2": rl2_cli.parse,
           "purerl-sac": sac_cli.parse, "purerl-datagen": datagen_cli.parse,
           "purerl-sac-ae": lambda argv: (sac_ae_cli.parse(argv), None)}
SIZES = {
    "purerl-rl2": ["--num_workers=16", "--batch_size=160", "--mini_batch_size=40",
                   "--hidden_size=16", "--metalearn_epochs=100", "--checkpoint_every=10",
                   "--num_tasks=64", "--num_seeds=2"],
    "purerl-ppo": ["--num_envs=4", "--num_steps=8", "--num_updates=6", "--num_minibatches=2",
                   "--update_epochs=1", "--hidden_size=8", "--checkpoint_every=3",
                   "--eval_every=0"],
    "purerl-evaluate": [],
}
PARSE_ONLY = (
    "purerl-rl2 --task bandit --num_traj 100",
    "purerl-rl2 --task mdp --num_traj 10",
    "XLA_FLAGS=--xla_force_host_platform_device_count=2 purerl-ppo",
    # multi-host: flags checked here (nothing joins); tests/common/test_multihost.py runs
    # a 2-process job on 127.0.0.1
    "purerl-ppo --num_seeds 8 --out_file cartpole-2h",
    "purerl-sac",           # trained by tests/cli/test_sac_cli.py (tiny) and the learning test;
                            # purerl-sac-ae by tests/cli/test_sac_ae_cli.py (slow tier)
    "purerl-ppo --config",  # MJX tasks: tests/algos/test_ppo_mjx_slow.py (slow tier)
    # AMP on Pendulum: trained by tests/algos/test_amp_imitation.py (this config) and
    # tests/cli/test_ppo_amp_cli.py (the CLI)
    "purerl-ppo --env_id gymnax/Pendulum-v1 --imitation amp",
    "purerl-datagen",       # MJX hopper: needs the SAC run above; tests/cli/test_datagen_cli.py
)
EXPECTED = [  # the README's commands, in order (an added command must be classified here)
    "purerl-rl2",
    "purerl-rl2 --task bandit --num_traj 100",
    "purerl-rl2 --task mdp --num_traj 10",
    "purerl-rl2 --out_file my-run",
    "purerl-rl2 --resume runs/my-run",
    "purerl-evaluate --run_dir runs/my-run",
    "purerl-ppo",
    "purerl-ppo --num_seeds 8 --sweep learning_rate=1e-4,3e-4,1e-3 --sweep gae_lambda=0.9,0.95",
    "XLA_FLAGS=--xla_force_host_platform_device_count=2 purerl-ppo",
    "purerl-ppo --out_file cartpole",
    "purerl-ppo --resume runs/cartpole",
    "purerl-evaluate --run_dir runs/cartpole --num_episodes 100",
    "purerl-ppo --num_seeds 8 --out_file cartpole-2h --coordinator_address host0:1234 "
    "--num_processes 2 --process_id 0",
    "purerl-ppo --num_seeds 8 --out_file cartpole-2h --coordinator_address host0:1234 "
    "--num_processes 2 --process_id 1",
    "purerl-ppo --num_seeds 8 --out_file cartpole-2h",      # the srun line
    "purerl-ppo --env_id gymnax/Pendulum-v1",
    "purerl-ppo --config ppo_halfcheetah",
    "purerl-ppo --config ppo_ant",
    "purerl-ppo --config amp_humanoid_walk",
    "purerl-ppo --env_id gymnax/Pendulum-v1 --imitation amp",
    "purerl-ppo --config near_humanoid_walk",
    "purerl-sac",
    "purerl-sac --env_id halfcheetah",
    "purerl-sac-ae --domain_name cheetah",     # parsed ("purerl-sac" prefix): the seed's command
    "purerl-sac-ae --domain_name pendulum",    # tests/algos/test_sac_ae.py trains this config
    "purerl-sac --env_id hopper",
    "purerl-datagen --dataset random --env_id hopper",
    "purerl-datagen --dataset medium --run runs/sac-hopper --run_index 0",
    "purerl-datagen --dataset expert --run runs/sac-hopper --run_index 0",
    "purerl-datagen --dataset medium-replay --run runs/sac-hopper --run_index 0",
    "purerl-datagen --dataset medium-expert --run runs/sac-hopper --run_index 0",
    "purerl-datagen --dataset medium --run runs/sac-hopper --export_policy",
    "purerl-datagen --dataset medium --policy halfcheetah_medium --num_transitions 100000",
    "purerl-sac --env_id ant-goal",
    "purerl-datagen --dataset diverse --env_id antmaze-umaze",
]


def readme_commands() -> list[str]:
    """Every command of the README's bash blocks that starts one of our CLIs, once each."""
    with open(README) as f:
        text = f.read()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:1] == ["srun"]:             # srun OPTIONS purerl-... (SLURM)
                    words = words[1:]
                    while words and words[0].startswith("-"):
                        words = words[1:]
                prog = next((w for w in words if "=" not in w or w.startswith("-")), None)
                if prog in MAINS:
                    command = " ".join(words)
                    if command not in found:
                        found.append(command)
    return found


def test_readme_commands_are_the_expected_ones():
    found = readme_commands()
    assert [c for c in found if not any(c.startswith(e) for e in EXPECTED)] == []
    assert len(found) == len(EXPECTED), found
    for command, expected in zip(found, EXPECTED):
        assert command.startswith(expected), (command, expected)


def test_readme_commands_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    results = {}
    for command in readme_commands():
        words = shlex.split(command)
        env = [w for w in words if re.match(r"^[A-Z_]+=", w)]
        prog, argv = words[len(env)], words[len(env) + 1:]
        if command.startswith(PARSE_ONLY):
            argv, multihost = distributed.pop_flags(argv)      # as run_cli does
            if multihost:
                spec = distributed.resolve(multihost, environ={})
                assert spec is not None and spec.num_processes == 2, command
            args, resumed = PARSERS[prog](argv)
            assert resumed is None, command
            if getattr(args, "out_file", None):
                assert not (tmp_path / "runs" / args.out_file).exists()   # nothing written
            continue
        results[command] = run_cli(MAINS[prog], [*argv, *SIZES[prog]], prog=prog)
        out = capsys.readouterr().out
        if "--resume" in argv:
            assert "finished run" in out, (command, out)     # the run above finished
    runs = tmp_path / "runs"

    main_job = results["purerl-rl2"]
    assert main_job["eval"]["random"] < main_job["eval"]["optimum"]
    assert (runs / "my-run" / "summary.json").exists()
    scored = results["purerl-evaluate --run_dir runs/my-run"]
    assert scored["score_per_seed"] == pytest.approx(
        results["purerl-rl2 --out_file my-run"]["eval"]["score_per_seed"], rel=1e-6)

    assert len(results["purerl-ppo"]["grid"]) == 1
    sweep = results[EXPECTED[7]]
    assert [p["hparams"] for p in sweep["grid"]] == [
        {"learning_rate": lr, "gae_lambda": lam} for lr in (1e-4, 3e-4, 1e-3)
        for lam in (0.9, 0.95)]                                      # 3 x 2 grid points
    assert all(len(p["final_return_per_seed"]) == 8 for p in sweep["grid"])
    sweep_dir = sweep["run_dir"]
    assert len([n for n in os.listdir(sweep_dir) if n.endswith(".csv")]) == 6 * 8
    with open(os.path.join(sweep_dir, "config.json")) as f:
        stored_sweep = json.load(f)["sweep"]
    assert stored_sweep == [
        "learning_rate=1e-4,3e-4,1e-3", "gae_lambda=0.9,0.95"]       # both kept
    cartpole = results["purerl-evaluate --run_dir runs/cartpole --num_episodes 100"]
    assert cartpole["algo"] == "ppo" and cartpole["num_episodes"] == 100
    assert len(cartpole["score_per_seed"]) == 1


@pytest.mark.parametrize("argv, points", [
    (["--sweep", "learning_rate=1e-4,3e-4,1e-3", "--sweep", "gae_lambda=0.9,0.95"], 6),
    (["--sweep", "learning_rate=1e-4,3e-4,1e-3"], 3),
    (["--sweep=gamma=0.9,0.99", "--sweep=ent_coef=0,0.01", "--sweep=clip_eps=0.1,0.2"], 8),
])
def test_repeated_sweep_flags_append(argv, points):
    args, _ = ppo_cli.parse(argv)
    assert len(args.sweep) == argv.count("--sweep") + sum(a.startswith("--sweep=") for a in argv)
    total = 1
    for values in args.grid().values():
        total *= len(values)
    assert total == points
