"""``purerl-rl2`` and ``purerl-evaluate``: train RL^2 / SNAIL into a run directory, score one.

Artefacts in ``runs_dir/<name>/``: config.json, checkpoints/ (full state per segment),
params/ (final params, orbax), metrics_seed<i>.csv, tb/seed_<i>/, learning_curve.png,
summary.json. ``--resume`` continues a killed run from its last complete checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import tyro

from purerl.algos.rl2 import PAPER_RL2, Config, build, make_evaluator
from purerl.common import evaluate as ev
from purerl.common import logging as lg
from purerl.common.checkpoint import Checkpointer
from purerl.common.experiment import run_sweep


def _resolve_run_dir(cfg: Config) -> str:
    run_dir = os.path.join(cfg.runs_dir, cfg.run_name())
    config_path = os.path.join(run_dir, "config.json")
    if cfg.resume:
        if not os.path.exists(config_path):
            raise FileNotFoundError(f"--resume: no run to resume at {run_dir} (no config.json); "
                                    "pass the --out_file of an existing run")
        with open(config_path) as f:
            saved = json.load(f)
        mine = _config_dict(cfg)
        # A field added after the run was saved counts as its default.
        fields = Config.__dataclass_fields__
        saved = {k: saved.get(k, fields[k].default) for k in mine}
        diff = {k: (saved[k], v) for k, v in mine.items()
                if k not in ("resume", "log_every") and saved[k] != v}
        if diff:
            raise ValueError(f"--resume: config differs from the saved run {run_dir}: "
                             + ", ".join(f"{k}: saved {a!r}, given {b!r}" for k, (a, b) in diff.items()))
    elif os.path.exists(run_dir):
        raise FileExistsError(f"run directory {run_dir} exists; pass --resume to continue it "
                              "or another --out_file (runs are never overwritten)")
    os.makedirs(run_dir, exist_ok=True)
    if not cfg.resume:
        lg.write_json(config_path, _config_dict(cfg))
    return run_dir


def _config_dict(cfg: Config) -> dict:
    d = dataclasses.asdict(cfg)
    d["out_file"] = cfg.out_file  # the timestamped default is resolved into the path
    return d


def run(cfg: Config) -> dict:
    """Train, checkpoint, evaluate and write every artefact of one run; return the summary.

    Artefacts in ``runs_dir/<name>/``: config.json, checkpoints/ (full state per segment),
    params/ (final params, orbax), metrics_seed<i>.csv, tb/seed_<i>/, learning_curve.png,
    summary.json.

    Raises:
        FileExistsError: the run directory exists and ``resume`` is false.
        FileNotFoundError / ValueError: ``resume`` with no run or with a different config.
    """
    if cfg.out_file is None and cfg.resume:
        raise ValueError("resume: expected --out_file naming the run to resume, got none")
    run_dir = _resolve_run_dir(cfg)
    setup = build(cfg)
    pcfg = cfg.ppo_config()
    print(f"purerl RL^2 ({cfg.model_type}) on {cfg.task} "
          f"(k={cfg.num_actions}, n={cfg.num_traj}): {cfg.num_seeds} seeds x "
          f"{cfg.metalearn_epochs} updates x {cfg.batch_size} steps; run dir {run_dir}",
          flush=True)
    print(f"  jax {jax.__version__} on {jax.default_backend()}: compiling ...", flush=True)
    ckpt = Checkpointer(os.path.join(run_dir, "checkpoints"))
    t_start = time.perf_counter()

    def on_segment(done, metrics, history):
        ret = lg.episode_return_curve(metrics)
        print(f"  segment done: {done}/{cfg.metalearn_epochs} updates, checkpoint saved; "
              f"return/trial (mean of seeds, last update) {np.nanmean(ret[:, -1]):.3f}",
              flush=True)

    result = run_sweep(setup.parts.init, setup.parts.run_updates, cfg.seed, cfg.num_seeds,
                       pcfg.num_updates, cfg.checkpoint_every, ckpt, cfg.resume, on_segment)
    ckpt.close()
    params = result.state.train_state.params

    t0 = time.perf_counter()
    score_params, baselines = make_evaluator(cfg, setup)
    scores = np.asarray(score_params(params))              # [S, num_tasks]
    base = jax.tree.map(np.asarray, baselines())
    eval_s = time.perf_counter() - t0

    # StandardCheckpointer saves asynchronously; leaving the context waits for the write.
    with ocp.StandardCheckpointer() as saver:
        saver.save(os.path.abspath(os.path.join(run_dir, "params")), params, force=True)
    lg.write_csv_and_tensorboard(run_dir, result.metrics)
    per_seed = scores.mean(axis=1)
    reference = {"random (held-out)": float(base["random"].mean()),
                 "optimum (held-out)": float(base["optimum"].mean())}
    lg.plot_learning_curve(os.path.join(run_dir, "learning_curve.png"), result.metrics,
                           f"RL^2 {cfg.model_type.upper()} on {cfg.task}, "
                           f"k={cfg.num_actions}, n={cfg.num_traj}", reference)
    total_s = time.perf_counter() - t_start
    summary = {
        "config": _config_dict(cfg),
        "run_dir": run_dir,
        "eval": {
            "num_tasks": cfg.num_tasks,
            "heldout_task_seed": ev.HELDOUT_TASK_SEED,
            "score_per_seed": per_seed.tolist(),
            "score_stderr_per_seed": (scores.std(axis=1) / np.sqrt(cfg.num_tasks)).tolist(),
            "score_mean": float(per_seed.mean()),
            "random": reference["random (held-out)"],
            "optimum": reference["optimum (held-out)"],
            "paper_rl2": PAPER_RL2.get((cfg.task, cfg.num_traj, cfg.num_actions)),
        },
        "wall_clock_s": {"compile": result.compile_s, "train": result.run_s,
                         "evaluate": eval_s, "total": total_s},
        "resumed_from_update": result.resumed_from,
        "env_steps_per_seed": cfg.metalearn_epochs * cfg.batch_size,
        "versions": lg.package_versions(),
        "machine": lg.machine_description(),
    }
    lg.write_json(os.path.join(run_dir, "summary.json"), summary)
    e = summary["eval"]
    print(f"\nHeld-out evaluation ({cfg.num_tasks} tasks), total reward per trial:")
    print(f"  purerl RL^2   {e['score_mean']:8.3f}   (per seed: "
          + ", ".join(f"{x:.3f}" for x in per_seed) + ")")
    print(f"  random        {e['random']:8.3f}")
    print(f"  optimum       {e['optimum']:8.3f}   (task-aware)")
    if e["paper_rl2"] is not None:
        print(f"  RL^2 paper    {e['paper_rl2']:8.3f}")
    print(f"wall-clock: compile {result.compile_s:.1f} s, train {result.run_s:.1f} s, "
          f"evaluate {eval_s:.1f} s, total {total_s:.1f} s.  Artefacts in {run_dir}")
    return summary


def load_config(run_dir: str) -> Config:
    """Rebuild the ``Config`` saved in ``run_dir/config.json``.

    Raises:
        FileNotFoundError: no config.json in ``run_dir``.
    """
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: not a purerl RL^2 run directory (no config.json)")
    with open(path) as f:
        saved = json.load(f)
    return Config(**{k: v for k, v in saved.items() if k in Config.__dataclass_fields__})


def evaluate_run(run_dir: str, num_tasks: int | None = None, greedy: bool | None = None) -> dict:
    """Reload the final params of a run and score them on the held-out tasks.

    A run without final params (killed, or still training) is scored from its last
    complete checkpoint, with a notice on stderr.

    Returns:
        dict with ``score_per_seed`` ``[S]``, ``score_mean``, ``random``, ``optimum``,
        ``num_tasks`` and ``updates`` (updates behind the scored params).

    Raises:
        FileNotFoundError: the run has no config.json, or neither params nor checkpoints.
    """
    cfg = load_config(run_dir)
    cfg = dataclasses.replace(cfg, num_tasks=num_tasks or cfg.num_tasks,
                              eval_greedy=cfg.eval_greedy if greedy is None else greedy)
    setup = build(cfg)
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed), cfg.num_seeds)
    abstract = jax.eval_shape(jax.vmap(setup.parts.init), keys, jnp.arange(cfg.num_seeds))
    params_dir = os.path.abspath(os.path.join(run_dir, "params"))
    ckpt = Checkpointer(os.path.join(run_dir, "checkpoints"))
    if os.path.exists(params_dir):
        params = ocp.StandardCheckpointer().restore(params_dir, abstract.train_state.params)
        updates = cfg.metalearn_epochs
    elif ckpt.latest_step() is not None:
        # A run that was killed (or is still going): score its last complete checkpoint.
        updates = ckpt.latest_step()
        params = ckpt.restore(updates, abstract)[0].train_state.params
        print(f"note: {params_dir} missing; scoring checkpoint at update {updates}/"
              f"{cfg.metalearn_epochs}", file=sys.stderr)
    else:
        raise FileNotFoundError(f"{run_dir}: neither final params nor a checkpoint to score")
    ckpt.close()
    score_params, baselines = make_evaluator(cfg, setup)
    scores = np.asarray(score_params(params)).mean(axis=1)
    base = baselines()
    return {"score_per_seed": scores.tolist(), "score_mean": float(scores.mean()),
            "random": float(base["random"].mean()), "optimum": float(base["optimum"].mean()),
            "num_tasks": cfg.num_tasks, "updates": updates}


@dataclasses.dataclass(frozen=True)
class EvaluateArgs:
    """Score a finished RL^2 run on the held-out tasks."""

    run_dir: str
    """The run directory (holds config.json and params/)."""
    num_tasks: int | None = None
    """Held-out tasks (default: the run's num_tasks)."""
    greedy: bool | None = None
    """Argmax actions (default: the run's eval_greedy)."""


def main(argv: list[str] | None = None) -> dict:
    """CLI: ``purerl-rl2 [--flags]`` (``python -m purerl.cli.rl2``)."""
    cfg = tyro.cli(Config, args=argv, use_underscores=True)
    return run(cfg)


def evaluate_main(argv: list[str] | None = None) -> dict:
    """CLI: ``purerl-evaluate --run_dir runs/<name>``."""
    args = tyro.cli(EvaluateArgs, args=argv, use_underscores=True)
    out = evaluate_run(args.run_dir, args.num_tasks, args.greedy)
    print(json.dumps(out, indent=2))
    return out


def cli() -> None:
    """Console script ``purerl-rl2`` (returns nothing, so no summary is echoed)."""
    main()


def evaluate_cli() -> None:
    """Console script ``purerl-evaluate``."""
    evaluate_main()


if __name__ == "__main__":
    main(sys.argv[1:])
