"""``purerl-rl2``: train RL^2 / SNAIL into a run directory, with the seed project's flags.

The flags are those of the PyTorch seed project (``rl2_train.py``: ``--num_workers``,
``--metalearn_epochs``, ``--ppo_epochs``, ``--clip_param``, ``--tau``), each also accepted
under its standard name; ``Args.core_config`` translates them ONCE into
``purerl.algos.rl2.Config``, where every hyperparameter has its standard name.

Artefacts in ``runs_dir/<name>/`` (``purerl.common.run_dir``): config.json, checkpoints/,
metrics_seed<i>.csv and tb/seed<i>/ (written as segments finish), learning_curve.png,
params/, summary.json. ``--resume RUN_DIR`` continues a killed run from its newest intact
checkpoint. ``purerl-evaluate --run_dir RUN_DIR`` (``purerl.cli.evaluate``) scores a run.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import sys
import time
from typing import Annotated, Literal

import jax
import numpy as np
import tyro

from purerl.algos import rl2
from purerl.cli import common
from purerl.common import distributed
from purerl.common import evaluate as ev
from purerl.common import logging as lg
from purerl.common.experiment import run_inputs
from purerl.common.run_dir import RunDir
from purerl.config import check_fields, require, require_positive

SEED_NAMES = {"num_updates": "metalearn_epochs", "num_envs": "num_workers",
              "update_epochs": "ppo_epochs", "clip_eps": "clip_param", "gae_lambda": "tau"}
"""Standard name (``rl2.Config``, also accepted as a flag) -> the seed project's flag name."""

_alias = lambda *names: tyro.conf.arg(aliases=names)


@dataclasses.dataclass(frozen=True)
class Args:
    """RL^2 with PPO, with the flag names of the PyTorch seed project (rl2_train.py).

    Defaults: the main job, GRU on 5-armed Bernoulli bandits, n=10 pulls. Each seed flag
    also has the standard name as an alias: --num_envs = --num_workers, --gae_lambda =
    --tau, --clip_eps = --clip_param, --update_epochs = --ppo_epochs, --num_updates =
    --metalearn_epochs. Boolean flags take --flag / --no_flag or --flag True / False.
    """

    task: Literal["bandit", "mdp"] = "bandit"
    """Task family: Bernoulli k-armed bandits or random tabular MDPs. Differs: the seed
    defaults to mdp; our no-argument run is the bandit main job."""
    model_type: Literal["gru", "snail", "mlp"] = "gru"
    """Policy: gru (RL^2), snail (SNAIL: TC blocks + attention over the trial, paper sizes
    32/16; hidden_size and layer_norm do not apply) or mlp (feed-forward, no memory: a
    sanity floor)."""
    num_actions: int = 5
    """Actions: arms k of the bandit; |A| of the MDP (spec: 5)."""
    num_states: int = 10
    """|S| of the tabular MDP (spec: 10); ignored for bandits."""
    num_traj: int = 10
    """Episodes n per trial (bandit pulls, or MDP episodes) on one task."""
    traj_len: int | None = None
    """Episode length: 1 for bandits; the MDP horizon T (default 10)."""
    num_tasks: int = 1000
    """Held-out evaluation tasks, drawn once from a fixed key. Differs: the seed trains on
    a fixed set of num_tasks tasks; we sample fresh tasks for every trial (as the papers)."""
    metalearn_epochs: Annotated[int, _alias("--num_updates")] = 200
    """PPO updates (each: one rollout of batch_size steps, then ppo_epochs epochs)."""
    num_workers: Annotated[int, _alias("--num_envs")] = 256
    """Parallel environments (= tasks in flight), vectorised with vmap. Differs: the seed
    spawns processes; the default 1 there would waste an accelerator here."""
    batch_size: int = 5120
    """Env steps per PPO update, num_workers x rollout length (the PPO paper's T*N)."""
    mini_batch_size: int = 1280
    """Env steps per minibatch; minibatches are whole env sequences, so batch_size /
    mini_batch_size must divide num_workers."""
    ppo_epochs: Annotated[int, _alias("--update_epochs")] = 4
    """PPO epochs K per update."""
    clip_param: Annotated[float, _alias("--clip_eps")] = 0.2
    """PPO clip epsilon."""
    tau: Annotated[float, _alias("--gae_lambda")] = 0.3
    """GAE lambda (the seed's name). 0.3 as strong RL^2 reimplementations (spec)."""
    gamma: float = 0.99
    """Discount (RL^2 paper: 0.99)."""
    learning_rate: float = 1e-3
    """Adam step size."""
    vf_coef: float = 0.5
    """Value-loss coefficient."""
    ent_coef: float = 0.01
    """Entropy-bonus coefficient."""
    max_grad_norm: float = 0.9
    """Global gradient-norm clip."""
    target_kl: float = 0.0
    """Stop remaining PPO epochs of an update when the mean KL exceeds 1.5*target_kl.
    0 disables. Differs: the seed defaults to 0.01."""
    anneal: bool = True
    """Decay learning rate and clip linearly to 0 over the run (the seed does)."""
    clip_value: bool = True
    """Clipped value loss (range clip_param, in scaled reward units)."""
    reward_scale: float = 1.0
    """Multiply rewards by this for the value targets (e.g. 0.1 for trials whose
    returns are in the hundreds); the agent's reward input and reported scores stay raw."""
    normalize_value: bool = False
    """Critic on returns normalised by running statistics of the value targets (instead
    of a hand-picked reward_scale). Not in the seed project."""
    non_linearity: Literal["none", "tanh", "relu", "sigmoid"] = "none"
    """Output activation of the value head."""
    hidden_size: int = 256
    """GRU width (RL^2: 256) or MLP width."""
    layer_norm: bool = True
    """Layer norm on the GRU input (obs, one-hot action, reward, done flag)."""
    num_seeds: int = 2
    """Seeds trained in lock-step by one vmapped, compiled call."""
    seed: int = 0
    """Base PRNG seed."""
    out_file: str | None = None
    """Run name: artefacts go to runs_dir/out_file/. Default: a timestamped name. Differs:
    the seed names a single model file; we write a directory (params, logs, summary)."""
    runs_dir: str = "runs"
    """Parent directory of run directories."""
    checkpoint_every: int = 50
    """Updates between checkpoints of the full training state (a divisor of
    metalearn_epochs)."""
    resume: str | None = None
    """RUN_DIR: continue that run from its newest intact checkpoint. Every flag comes from
    its config.json; a flag typed again must match it."""
    log_every: int = 50
    """Progress line about every this many updates (0: none)."""
    eval_greedy: bool = False
    """Evaluate with argmax actions instead of sampling."""

    def __post_init__(self):
        check_fields(self)
        for name in ("checkpoint_every", "metalearn_epochs"):
            require_positive(name, getattr(self, name))
        require(self.metalearn_epochs % self.checkpoint_every == 0, "checkpoint_every",
                f"a divisor of metalearn_epochs={self.metalearn_epochs}",
                self.checkpoint_every)
        require(self.log_every >= 0, "log_every", "a non-negative number", self.log_every)
        if self.out_file is not None:
            require(self.out_file != "" and os.sep not in self.out_file, "out_file",
                    "a plain directory name", self.out_file)
        try:
            self.core_config()
        except ValueError as err:
            raise ValueError(_seed_message(str(err), self)) from None

    def core_config(self) -> rl2.Config:
        """The algorithm's config: the seed's names translated to the standard ones."""
        core = {f.name for f in dataclasses.fields(rl2.Config)}
        values = {std: getattr(self, seed) for std, seed in SEED_NAMES.items()}
        values |= {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                   if f.name in core}
        return rl2.Config(**{**values, "log_every": 0})   # progress: the CLI's own lines

    @property
    def segment_updates(self) -> int:
        """Updates per compiled segment: the largest divisor of checkpoint_every that is at
        most log_every (progress lines come between segments)."""
        return _segment(self.checkpoint_every, self.log_every)

    def run_name(self) -> str:
        if self.out_file:
            return self.out_file
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        k = f"-k{self.num_actions}" if self.task == "bandit" else ""
        return f"rl2-{self.model_type}-{self.task}{k}-n{self.num_traj}-{stamp}"


def _segment(checkpoint_every: int, log_every: int) -> int:
    if log_every <= 0 or log_every >= checkpoint_every:
        return checkpoint_every
    return max(d for d in range(1, log_every + 1) if checkpoint_every % d == 0)


def _seed_message(message: str, args: Args) -> str:
    """A core config error in the user's (seed) flag names, with the flag to add if any."""
    message = re.sub(r"\b(" + "|".join(SEED_NAMES) + r")\b",
                     lambda m: SEED_NAMES[m.group(1)], message)
    if message.startswith("batch_size: expected a multiple of num_workers"):
        message += f"; add --num_workers{_suggest_workers(args)}"
    return message


def _suggest_workers(args: Args) -> str:
    """`` N (...)`` for a --num_workers that fits batch_size and mini_batch_size, or ``""``."""
    if args.mini_batch_size <= 0 or args.batch_size % args.mini_batch_size:
        return ""
    minibatches = args.batch_size // args.mini_batch_size
    fits = [d for d in range(minibatches, args.batch_size + 1, minibatches)
            if args.batch_size % d == 0]
    if not fits:
        return ""
    trial = args.num_traj * (1 if args.task == "bandit" else (args.traj_len or 10))
    best = min(fits, key=lambda d: abs(np.log((args.batch_size // d) / trial)))
    return (f" N with N dividing batch_size={args.batch_size} and a multiple of "
            f"batch_size/mini_batch_size={minibatches}, e.g. --num_workers {best}")


def config_dict(args: Args) -> dict:
    """What ``config.json`` stores: the algorithm and every flag but ``--resume``."""
    return common.config_dict(args, "rl2")


def parse(argv: list[str]) -> tuple[Args, RunDir | None]:
    """``(args, run to resume or None)`` from a command line (see ``common.parse_run_args``)."""
    return common.parse_run_args(Args, argv, aliases=SEED_NAMES)


def run(args: Args, resumed: RunDir | None = None) -> dict:
    """Train, checkpoint, evaluate and write every artefact of one run; return the summary.

    Raises:
        RunDirError: the run directory holds another run (and this is no resume).
        NonFiniteError: a training metric went NaN or infinite.
    """
    if resumed is not None and resumed.finished:
        return common.report_finished(resumed)
    cfg = args.core_config()
    setup = rl2.build(cfg)                                  # fails before any file is written
    run_dir = common.start_run(resumed, args.runs_dir, args.out_file, args.run_name(),
                               config_dict(args))
    pcfg = cfg.ppo_config()
    print(f"purerl RL^2 ({cfg.model_type}) on {cfg.task} "
          f"(k={cfg.num_actions}, n={cfg.num_traj}): {cfg.num_seeds} seeds x "
          f"{cfg.num_updates} updates x {cfg.batch_size} steps; run dir {run_dir.path}"
          + (" (resuming)" if resumed is not None else ""), flush=True)
    title = (f"RL^2 {cfg.model_type.upper()} on {cfg.task}, k={cfg.num_actions}, "
             f"n={cfg.num_traj}")
    t_start = time.perf_counter()
    result, writer = common.train_grid(
        run_dir, setup.parts, title=title, seed=cfg.seed, num_seeds=cfg.num_seeds,
        points=[{}], hparams=None, num_updates=pcfg.num_updates,
        segment_updates=args.segment_updates, checkpoint_every=args.checkpoint_every,
        steps_per_update=cfg.num_seeds * cfg.batch_size, log=bool(args.log_every),
        resumed=resumed is not None, ylabel="return per trial (training tasks)")
    params = result.state.train_state.params

    t0 = time.perf_counter()
    score_params, baselines = rl2.make_evaluator(cfg, setup)
    scores = distributed.to_host(score_params(params))     # [S, num_tasks]
    base = jax.tree.map(np.asarray, baselines())
    eval_s = time.perf_counter() - t0

    run_dir.save_params(params)
    per_seed = scores.mean(axis=1)
    reference = {"random (held-out)": float(base["random"].mean()),
                 "optimum (held-out)": float(base["optimum"].mean())}
    writer.plot = lambda history: lg.plot_learning_curve(
        os.path.join(run_dir.path, "learning_curve.png"), history, title, reference)
    writer.finish(result.metrics)
    total_s = time.perf_counter() - t_start
    summary = run_dir.write_summary({
        "config": run_dir.config,
        "eval": {
            "num_tasks": cfg.num_tasks,
            "heldout_task_seed": ev.HELDOUT_TASK_SEED,
            "score_per_seed": per_seed.tolist(),
            "score_stderr_per_seed": (scores.std(axis=1) / np.sqrt(cfg.num_tasks)).tolist(),
            "score_mean": float(per_seed.mean()),
            "random": reference["random (held-out)"],
            "optimum": reference["optimum (held-out)"],
            "paper_rl2": rl2.PAPER_RL2.get((cfg.task, cfg.num_traj, cfg.num_actions)),
        },
        "wall_clock_s": {"compile": result.compile_s, "train": result.run_s,
                         "evaluate": eval_s, "total": total_s},
        "resumed_from_update": result.resumed_from,
        "env_steps_per_seed": cfg.num_updates * cfg.batch_size,
    })
    common.set_active_run_dir(None)
    e = summary["eval"]
    print(f"\nHeld-out evaluation ({cfg.num_tasks} tasks), total reward per trial:")
    print(f"  purerl RL^2   {e['score_mean']:8.3f}   (per seed: "
          + ", ".join(f"{x:.3f}" for x in per_seed) + ")")
    print(f"  random        {e['random']:8.3f}")
    print(f"  optimum       {e['optimum']:8.3f}   (task-aware)")
    if e["paper_rl2"] is not None:
        print(f"  RL^2 paper    {e['paper_rl2']:8.3f}")
    print(f"wall-clock: compile {result.compile_s:.1f} s, train {result.run_s:.1f} s, "
          f"evaluate {eval_s:.1f} s, total {total_s:.1f} s.  Artefacts in {run_dir.path}")
    return summary


def load_args(run_dir: RunDir) -> Args:
    """Rebuild the ``Args`` saved in a run's ``config.json`` (newer fields: defaults)."""
    return common.args_from_config(Args, run_dir.config)


def evaluate_run(run_dir: str, num_tasks: int | None = None, greedy: bool | None = None) -> dict:
    """Reload the final params of a run and score them on the held-out tasks.

    A run without final params (killed, or still training) is scored from its newest
    intact checkpoint, with a notice on stderr.

    Returns:
        dict with ``score_per_seed`` ``[S]``, ``score_mean``, ``random``, ``optimum``,
        ``num_tasks`` and ``updates`` (updates behind the scored params).

    Raises:
        RunDirError: the run has no config.json, or neither params nor checkpoints.
    """
    rd = RunDir.load(run_dir)
    args = load_args(rd)
    args = dataclasses.replace(args, num_tasks=args.num_tasks if num_tasks is None else num_tasks,
                               eval_greedy=args.eval_greedy if greedy is None else greedy)
    cfg = args.core_config()
    setup = rl2.build(cfg)
    abstract = jax.eval_shape(jax.vmap(setup.parts.init), *run_inputs(cfg.seed, cfg.num_seeds))
    params, updates = common.restore_final_or_latest(rd, abstract, cfg.num_updates)
    score_params, baselines = rl2.make_evaluator(cfg, setup)
    scores = np.asarray(score_params(params)).mean(axis=1)
    base = baselines()
    return {"algo": "rl2", "score_per_seed": scores.tolist(), "score_mean": float(scores.mean()),
            "random": float(base["random"].mean()), "optimum": float(base["optimum"].mean()),
            "num_tasks": cfg.num_tasks, "updates": updates}


def main(argv: list[str] | None = None) -> dict:
    """CLI: ``purerl-rl2 [--flags]`` (``python -m purerl.cli.rl2``); raises on errors."""
    return run(*parse(list(sys.argv[1:] if argv is None else argv)))


def cli() -> None:
    """Console script ``purerl-rl2``: user errors as one line (``--debug``: traceback)."""
    common.run_cli(main, prog="purerl-rl2")


if __name__ == "__main__":
    cli()
