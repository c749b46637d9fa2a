"""``purerl-evaluate``: score the saved policies of a ``purerl-rl2``, ``purerl-ppo`` or
``purerl-sac`` run.

The run's ``config.json`` says which command wrote it. RL^2 runs are scored on the fixed
held-out tasks beside random and the task-aware optimum (``--num_tasks``); PPO runs by the
mean return of ``--num_episodes`` vmapped episodes on their env, for every grid point and
seed; SAC runs likewise, with the deterministic action (tanh of the mean). A PPO or RL^2
run without final params (killed, or still training) is scored from its newest intact
checkpoint; a SAC run needs its final params.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from purerl.cli import common
from purerl.cli import ppo as ppo_cli
from purerl.cli import rl2 as rl2_cli
from purerl.cli import sac as sac_cli
from purerl.common.run_dir import RunDir
from purerl.config import require, require_positive


@dataclasses.dataclass(frozen=True)
class EvaluateArgs:
    """Score the saved policies of a purerl-rl2 or purerl-ppo run."""

    run_dir: str
    """The run directory (holds config.json and params/ or checkpoints/)."""
    num_tasks: int | None = None
    """RL^2 runs: held-out tasks (default: the run's num_tasks)."""
    num_episodes: int | None = None
    """PPO and SAC runs: episodes per trained policy (default 100)."""
    max_steps: int | None = None
    """PPO and SAC runs: steps per episode at most (default: the env's time limit)."""
    greedy: bool | None = None
    """Argmax actions (default: the run's eval_greedy for RL^2, sampling for PPO; SAC runs
    are always scored with the deterministic action)."""

    def __post_init__(self):
        for name in ("num_tasks", "num_episodes", "max_steps"):
            if getattr(self, name) is not None:
                require_positive(name, getattr(self, name))


def run_algo(run_dir: RunDir) -> str:
    """``"rl2"``, ``"ppo"`` or ``"sac"``: the command that wrote ``run_dir`` (older runs: by fields)."""
    return run_dir.config.get("algo") or ("ppo" if "env_id" in run_dir.config else "rl2")


def evaluate(args: EvaluateArgs) -> dict:
    """Score ``args.run_dir`` (see the module docstring).

    Raises:
        RunDirError: not a run directory, or nothing to score.
        ValueError: a flag that does not apply to this kind of run.
    """
    algo = run_algo(RunDir.load(args.run_dir))
    if algo == "sac":
        require(args.num_tasks is None, "num_tasks",
                "unset for a purerl-sac run (use --num_episodes)", args.num_tasks)
        require(args.greedy in (None, True), "greedy",
                "unset or True for a purerl-sac run (scored with the deterministic action)",
                args.greedy)
        return sac_cli.evaluate_run(args.run_dir, args.num_episodes or 100, args.max_steps)
    if algo in ("ppo", "near", "amp"):   # NEAR and AMP runs are PPO runs on another reward
        require(args.num_tasks is None, "num_tasks",
                "unset for a purerl-ppo run (use --num_episodes)", args.num_tasks)
        return ppo_cli.evaluate_run(args.run_dir, args.num_episodes or 100, args.max_steps,
                                    bool(args.greedy))
    for name in ("num_episodes", "max_steps"):
        require(getattr(args, name) is None, name,
                "unset for a purerl-rl2 run (use --num_tasks)", getattr(args, name))
    return rl2_cli.evaluate_run(args.run_dir, args.num_tasks, args.greedy)


def main(argv: list[str] | None = None) -> dict:
    """CLI: ``purerl-evaluate --run_dir runs/<name>``; prints the scores as JSON."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = common.parse_flags(EvaluateArgs, argv)
    out = evaluate(args)
    print(json.dumps(out, indent=2))
    return out


def cli() -> None:
    """Console script ``purerl-evaluate``: user errors as one line (``--debug``: traceback)."""
    common.run_cli(main, prog="purerl-evaluate", multihost=False)


if __name__ == "__main__":
    cli()
