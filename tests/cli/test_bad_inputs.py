"""The bad-input catalogue of the training commands: every user error is one line.

Each case is a command line a user may type, the text the error must contain, and the
rules every case obeys: exit status 2, ONE line on stderr (``<prog>: error: ...``), no
Python traceback. The commands run in-process through ``run_cli`` (what the console
scripts call); one case also runs as a real process. None of them compiles anything.
"""

import os
import subprocess
import sys

import pytest

from purerl.cli import evaluate as evaluate_cli
from purerl.cli import ppo as ppo_cli
from purerl.cli import rl2 as rl2_cli
from purerl.cli import sac as sac_cli
from purerl.cli import common
from purerl.cli.common import run_cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAINS = {"purerl-ppo": ppo_cli.main, "purerl-rl2": rl2_cli.main,
         "purerl-evaluate": evaluate_cli.main, "purerl-sac": sac_cli.main}
MISSING = "/nonexistent/purerl-run"

CASES = [
    # (command, argv, expected text)
    ("purerl-ppo", ["--learning_rate", "inf"], "learning_rate: expected a finite number, got inf"),
    ("purerl-ppo", ["--learning_rate", "nan"], "learning_rate: expected a finite number, got nan"),
    ("purerl-ppo", ["--ent_coef", "-inf"], "ent_coef: expected a finite number, got -inf"),
    ("purerl-ppo", ["--gamma", "1.5"], "gamma: expected a number in [0, 1], got 1.5"),
    ("purerl-ppo", ["--model_type", "transformer"],
     "invalid choice 'transformer' for argument '--model_type'. Expected one of ('mlp', 'gru', 'conv')"),
    ("purerl-ppo", ["--num_minibatches", "3"], "num_minibatches: expected a divisor of num_envs=16"),
    ("purerl-ppo", ["--checkpoint_every", "7"],
     "checkpoint_every: expected a divisor of num_updates=100, got 7"),
    ("purerl-ppo", ["--sweep", "learning_rate"], "sweep: expected NAME=V1,V2,... got 'learning_rate'"),
    ("purerl-ppo", ["--sweep", "num_envs=4,8"], "sweep: expected a name in"),
    ("purerl-ppo", ["--sweep", "gamma=0.9,high"], "sweep: expected comma-separated numbers"),
    ("purerl-ppo", ["--sweep", "gamma=0.9,1.5"], "sweep point {'gamma': 1.5}: gamma: expected"),
    ("purerl-ppo", ["--env_id", "nosuch"], "env_id: expected one of"),
    ("purerl-ppo", ["--env_id", "gymnax/NoSuch-v0"], "env_id: 'gymnax/NoSuch-v0' does not build"),
    ("purerl-ppo", ["--out_file", "a/b"], "out_file: expected a plain directory name"),
    ("purerl-ppo", ["--num_envs", "4x"], "Error parsing --num_actors/--num_envs"),
    ("purerl-ppo", ["--bogus", "1"], "Unrecognized options: --bogus"),
    ("purerl-ppo", ["--resume", MISSING], f"{MISSING} is not a run directory (no config.json)"),
    ("purerl-ppo", ["--resume"], "resume: expected the run directory"),
    ("purerl-ppo", ["--normalize_obs", "maybe"], "Unrecognized options: maybe"),
    ("purerl-ppo", ["--video"], "video: expected an MJX task for --video"),
    ("purerl-sac", ["--video"], "video: expected an MJX task for --video"),
    ("purerl-ppo", ["--lr_schedule", "cosine"],
     "invalid choice 'cosine' for argument '--lr_schedule'"),
    ("purerl-ppo", ["--activation", "relux", "--env_id", "gymnax/Pendulum-v1"],
     "activation: expected one of tanh, relu"),
    ("purerl-ppo", ["--activation", "relu"],
     "activation: expected its default for a Discrete action space"),
    ("purerl-rl2", ["--model_type", "transformer"],
     "invalid choice 'transformer' for argument '--model_type'"),
    ("purerl-rl2", ["--task", "mdpp"], "invalid choice 'mdpp' for argument '--task'"),
    ("purerl-rl2", ["--learning_rate", "inf"], "learning_rate: expected a finite number, got inf"),
    ("purerl-rl2", ["--clip_param", "nan"], "clip_param: expected a finite number, got nan"),
    ("purerl-rl2", ["--tau", "-0.1"], "tau: expected a number in [0, 1], got -0.1"),
    ("purerl-rl2", ["--gae_lambda", "2"], "tau: expected a number in [0, 1], got 2.0"),  # alias
    ("purerl-rl2", ["--num_workers", "0"], "num_workers: expected a positive number, got 0"),
    ("purerl-rl2", ["--batch_size", "1001"],
     "batch_size: expected a multiple of num_workers=256, got 1001"),
    ("purerl-rl2", ["--metalearn_epochs", "230"],
     "checkpoint_every: expected a divisor of metalearn_epochs=230, got 50"),
    ("purerl-rl2", ["--task", "bandit", "--traj_len", "5"], "traj_len: expected 1 (or unset)"),
    ("purerl-rl2", ["--resume", MISSING], "is not a run directory"),
    ("purerl-rl2", ["--resume"], "resume: expected the run directory"),
    ("purerl-evaluate", ["--run_dir", MISSING], f"{MISSING} is not a run directory"),
    ("purerl-evaluate", ["--run_dir", MISSING, "--num_tasks", "0"],
     "num_tasks: expected a positive number, got 0"),
    ("purerl-evaluate", ["--run_dir", MISSING, "--num_episodes", "-1"],
     "num_episodes: expected a positive number, got -1"),
    ("purerl-evaluate", [], "--run_dir"),
    ("purerl-sac", ["--env_id", "gymnax/CartPole-v1"],
     "env_id: expected an env with a 1-D bounded Box action space"),
    ("purerl-sac", ["--discount", "1.5"], "discount: expected a number in [0, 1], got 1.5"),
    ("purerl-sac", ["--gamma", "1.5"], "discount: expected a number in [0, 1], got 1.5"),
    ("purerl-sac", ["--init_alpha", "0"], "init_alpha: expected a positive number, got 0.0"),
    ("purerl-sac", ["--critic_lr", "inf"], "q_lr: expected a finite number, got inf"),
    ("purerl-sac", ["--replay_buffer_size", "100"], "replay_buffer_size: expected at least"),
    ("purerl-sac", ["--eval_every", "7"], "num_updates: expected a multiple of eval_every=7"),
    ("purerl-sac", ["--num_warmup_steps", "x"], "num_warmup_steps: expected an int >= 0"),
    ("purerl-sac", ["--num_seed_steps", "1", "--num_warmup_steps", "1"],
     "num_seed_steps: expected not together with num_warmup_steps"),
    ("purerl-sac", ["--sweep", "gamma=0.9,1.5"], "sweep point {'discount': 1.5}: discount"),
    ("purerl-sac", ["--resume", MISSING], "is not a run directory"),
]


@pytest.fixture(autouse=True)
def no_training(monkeypatch, tmp_path):
    """A case that parsed by mistake must fail fast, not train the default job."""
    def refuse(*args, **kwargs):
        raise AssertionError("this command line started training")
    monkeypatch.setattr(common, "run_sweep", refuse)      # every purerl-* trains through it
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("prog, argv, expected", CASES,
                         ids=[f"{p} {' '.join(a)}" for p, a, _ in CASES])
def test_user_error_is_one_line_and_exit_2(prog, argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_:
        run_cli(MAINS[prog], argv, prog=prog)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: ") and "Traceback" not in err
    assert expected in lines[0], lines[0]


def test_debug_shows_the_traceback():
    with pytest.raises(ValueError, match="learning_rate: expected a finite number"):
        run_cli(ppo_cli.main, ["--learning_rate", "inf", "--debug"], prog="purerl-ppo")


def test_console_entry_point_prints_one_line():
    """The real process: ``python -m purerl.cli.ppo`` goes through ``run_cli`` too."""
    proc = subprocess.run([sys.executable, "-m", "purerl.cli.ppo", "--learning_rate", "inf"],
                          capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": REPO})
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("purerl-ppo: error: learning_rate: expected a finite "
                                   "number, got inf (add --debug for a traceback)")
