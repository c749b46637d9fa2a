"""Offline RL front end: the seeds' runner flags and gin bindings -> CQL or the SNR agent.

``python -m purerl.cli.offline`` takes the command lines of the seed READMEs with only the
module name changed (``jrl.localized.runner`` -> ``purerl.cli.offline``)::

    python -m purerl.cli.offline --num_steps 11000 --eval_every_steps 500 \\
        --episodes_per_eval 100 --batch_size 51200 --root_dir /tmp/test_cql --seed 42 \\
        --algorithm cql --task_class d4rl --task_name antmaze-large-diverse-v0 \\
        --dataset_path /data/antmaze-large-diverse-v0.hdf5 \\
        --gin_bindings='cql.config.CQLConfig.num_sgd_steps_per_step=200' ...

plus ``--dataset_path`` (nothing can be downloaded here: a local D4RL ``.hdf5`` file or a
Minari dataset directory); without it a D4RL task's file is looked up where D4RL caches
downloads (``$D4RL_DATASET_DIR``, default ``~/.d4rl/datasets``), so the seed commands run
verbatim once the file is there. ``--gin_bindings`` may repeat; each binds a field of
``cql.config.CQLConfig`` (``purerl.algos.cql.CQLConfig``), ``snr.config.SNRConfig``
(``purerl.algos.snr_ac.SNRConfig``) or ``snr.config.SNRKwargs``
(``purerl.losses.snr.SNRKwargs``) to a Python literal. ``snr.config.SNRKwargs`` bindings
always reach the agent's ``snr_kwargs`` (the README's ``snr_kwargs=@snr.config.SNRKwargs()``
is accepted and means exactly that). The runner's other flags (``--pdb_post_mortem``,
``--debug_nans``, ``--create_saved_model_actor``) are accepted in absl style
(``--flag``, ``--noflag``, ``--flag=False``).

Evaluation runs inside the compiled loop on an environment of our protocol: the synthetic
``LinearTargetEnv`` (``--task_class synthetic --task_name linear_target``), or an env
registered in ``envs_jax`` under the task name (``hopper-medium-v2``), ``d4rl/<family>`` or
``<family>`` (the MJX tasks ``hopper``, ``halfcheetah``, ``walker2d``, ``ant``) or, for
AntMaze, ``antmaze-<maze>``. A task with no registered env trains without evaluation and
says so at start-up.

Artefacts in ``root_dir`` (never overwritten): config.json, metrics_seed<i>.csv (one row
per call of K SGD steps; eval columns filled every ``eval_every_steps`` calls), params/
(orbax, final actor and critic params of every seed), summary.json.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
import json
import os
import sys
import time
from typing import Annotated, Any, Literal

import jax
import numpy as np
import tyro

import envs_jax
from envs_jax.offline import load_d4rl, load_minari, normalized_score, spec_for, spec_from_env
from envs_jax.offline.specs import env_family
from envs_jax.offline.synthetic import LinearTargetEnv
from purerl.algos.offline_common import (
    EvalSpec,
    LearnerConfig,
    check_eval_env,
    eval_modes,
    make_learner,
    make_segment,
)
from purerl.cli.gin import apply_gin_bindings, normalize_absl_bools
from purerl.common import logging as lg
from purerl.config import require, require_positive

SYNTHETIC_TASKS = ("linear_target",)


@dataclasses.dataclass(frozen=True)
class OfflineArgs:
    """Offline RL run (CQL or the SNR actor-critic). Flag names are the seed runner's."""

    algorithm: Literal["cql", "snr"] = "cql"
    """Agent: cql or snr (the SNR actor-critic)."""
    task_class: Literal["d4rl", "minari", "synthetic"] = "d4rl"
    """Dataset family: d4rl (HDF5 file), minari (dataset dir) or synthetic (our generated
    LinearTargetEnv data, D4RL or Minari layout)."""
    task_name: str = "hopper-medium-v2"
    """D4RL/Minari dataset name (sets dimensions, AntMaze reward remap, normalised
    scores), or linear_target for task_class synthetic."""
    dataset_path: str | None = None
    """Local D4RL .hdf5 file or Minari dataset dir (required: nothing is downloadable)."""
    num_steps: int = 11000
    """Compiled calls; each performs num_sgd_steps_per_step SGD steps."""
    eval_every_steps: int = 500
    """Calls between evaluations (one compiled segment each)."""
    episodes_per_eval: int = 100
    """Evaluation episodes per mode, vmapped."""
    batch_size: int = 51200
    """Transitions per call = num_sgd_steps_per_step x per-step batch."""
    num_sgd_steps_per_step: int | None = None
    """K; same as the gin binding of the agent's config (they must agree if both given)."""
    root_dir: str | None = None
    """Run directory (default runs/<algorithm>-<task>-<time>); never overwritten."""
    seed: int = 0
    """Base PRNG seed; seed i of num_seeds uses split(PRNGKey(seed), num_seeds)[i]."""
    num_seeds: int = 1
    """Seeds trained in lock-step by one vmapped compiled call."""
    gin_bindings: Annotated[list[str], tyro.conf.UseAppendAction] = dataclasses.field(
        default_factory=list)
    """'cql.config.CQLConfig.cql_alpha=0.05', 'snr.config.SNRKwargs.snr_mode="ntk"', ...
    (repeat the flag)."""
    env_kwargs: str = "{}"
    """JSON kwargs of the synthetic env, e.g. '{"obs_dim": 2, "action_dim": 1}'."""
    max_episode_steps: int | None = None
    """Evaluation episode cap (default: the D4RL time limit, or the synthetic horizon)."""
    pdb_post_mortem: bool = False
    """Start pdb on an uncaught exception (seed runner flag)."""
    debug_nans: bool = False
    """jax_debug_nans (seed runner flag)."""
    create_saved_model_actor: bool = False
    """Seed runner flag; only False is supported (we save orbax params, not TF models)."""

    def __post_init__(self):
        for name in ("num_steps", "eval_every_steps", "episodes_per_eval", "batch_size",
                     "num_seeds"):
            require_positive(name, getattr(self, name))
        if self.max_episode_steps is not None:
            require_positive("max_episode_steps", self.max_episode_steps)
        require(not self.create_saved_model_actor, "create_saved_model_actor",
                "False (purerl saves orbax params, not TensorFlow saved models)", True)
        if self.task_class == "synthetic":
            require(self.task_name in SYNTHETIC_TASKS, "task_name",
                    f"one of {SYNTHETIC_TASKS} with task_class synthetic", self.task_name)


def parse_args(argv: list[str] | None, default_algorithm: str = "cql") -> OfflineArgs:
    """Parse the seed runner's command line (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    defaults = OfflineArgs(algorithm=default_algorithm)
    return tyro.cli(OfflineArgs, args=normalize_absl_bools(argv), default=defaults,
                    use_underscores=True, config=(tyro.conf.FlagConversionOff,))


def resolve_agent(args: OfflineArgs) -> tuple[Any, LearnerConfig]:
    """(agent config, learner config) from the bindings and the runner flags.

    Raises:
        ValueError: bad bindings, ``--num_sgd_steps_per_step`` disagreeing with the
            binding, or ``batch_size`` not a multiple of K.
    """
    agent = apply_gin_bindings(args.algorithm, args.gin_bindings)
    k = agent.num_sgd_steps_per_step
    if args.num_sgd_steps_per_step is not None:
        bound = any(b.split("=")[0].strip().endswith(".num_sgd_steps_per_step")
                    for b in args.gin_bindings)
        require(not bound or args.num_sgd_steps_per_step == k, "num_sgd_steps_per_step",
                f"the gin-bound value {k} (or leave one of them out)",
                args.num_sgd_steps_per_step)
        agent = dataclasses.replace(agent, num_sgd_steps_per_step=args.num_sgd_steps_per_step)
        k = args.num_sgd_steps_per_step
    require_positive("num_sgd_steps_per_step", k)
    require(args.batch_size % k == 0, "batch_size",
            f"a multiple of num_sgd_steps_per_step={k} (batch_size is K x per-step batch)",
            args.batch_size)
    return agent, agent.learner_config(args.batch_size // k)


# ------------------------------------------------------------------- data and env


def resolve_env(args: OfflineArgs) -> tuple[Any, Any, str]:
    """The evaluation env of our protocol for the task, or ``(None, None, why)``."""
    if args.task_class == "synthetic":
        try:
            kwargs = json.loads(args.env_kwargs)
        except json.JSONDecodeError as err:
            raise ValueError(f"env_kwargs: expected a JSON object, got {args.env_kwargs!r} "
                             f"({err})") from None
        require(isinstance(kwargs, dict), "env_kwargs", "a JSON object", kwargs)
        env = LinearTargetEnv(**kwargs)
        return env, env.default_params(), ""
    family = env_family(args.task_name)
    tried = [args.task_name, f"d4rl/{family}", family]
    if family == "antmaze":
        # "antmaze-large-diverse-v0" / "D4RL/antmaze/large-play-v1" -> "antmaze-large".
        maze = next((m for m in ("umaze", "medium", "large") if m in args.task_name), None)
        if maze is not None:
            tried.insert(1, f"antmaze-{maze}")
    for env_id in tried:
        if env_id in envs_jax.registered_envs():
            env, params = envs_jax.make(env_id)
            return env, params, ""
    return None, None, (f"no environment of our protocol is registered for "
                        f"{args.task_name!r} (tried {tried}); training WITHOUT evaluation")


def default_dataset_path(task_name: str) -> tuple[str | None, list[str]]:
    """Find a D4RL file for ``task_name`` where D4RL itself caches downloads.

    Looks in ``$D4RL_DATASET_DIR`` (default ``~/.d4rl/datasets``) for ``<task_name>.hdf5``
    and D4RL's URL basename style ``hopper_medium-v2.hdf5`` (first ``-`` -> ``_``), so the
    seed READMEs' commands work unchanged once the file is there.

    Returns:
        ``(path or None, candidate paths tried)``.
    """
    root = os.environ.get("D4RL_DATASET_DIR", os.path.expanduser("~/.d4rl/datasets"))
    names = dict.fromkeys([task_name, task_name.replace("-", "_", 1)])
    tried = [os.path.join(root, f"{name}.hdf5") for name in names]
    return next((p for p in tried if os.path.exists(p)), None), tried


def load_dataset(args: OfflineArgs, env, env_params):
    """Load ``--dataset_path`` (D4RL file or Minari dir) for the task.

    Without ``--dataset_path`` a D4RL task's file is looked up in D4RL's cache
    (``default_dataset_path``).

    Raises:
        ValueError: no ``--dataset_path`` and nothing in the D4RL cache.
        FileNotFoundError / DatasetError: from the loaders (naming file, key and index).
    """
    path, tried = args.dataset_path, []
    if path is None and args.task_class == "d4rl":
        path, tried = default_dataset_path(args.task_name)
    require(path is not None, "dataset_path",
            "a local D4RL .hdf5 file or Minari dataset dir (nothing can be downloaded here)"
            + (f"; none found at {tried}" if tried else ""), None)
    if args.task_class == "synthetic":
        spec = spec_from_env(env, env_params, name=args.task_name,
                             max_episode_steps=env.horizon)
    else:
        spec = spec_for(args.task_name)
    if os.path.isdir(path) or args.task_class == "minari":
        return load_minari(path, spec)
    return load_d4rl(path, spec if args.task_class == "synthetic" else args.task_name)


def make_eval_spec(args: OfflineArgs, env, env_params, dataset) -> EvalSpec | None:
    """``EvalSpec`` for the run (checked against the data), or None without an env."""
    if env is None:
        return None
    check_eval_env(env, env_params, dataset.obs_dim, dataset.action_dim)
    if args.task_class == "synthetic":
        max_steps, score_fn = args.max_episode_steps or env.horizon, None
    else:
        max_steps = args.max_episode_steps or spec_for(args.task_name).max_episode_steps
        score_fn = functools.partial(normalized_score, args.task_name)
    return EvalSpec(env, env_params, args.episodes_per_eval, max_steps, score_fn)


# ---------------------------------------------------------------------------- training


def train(cfg: LearnerConfig, dataset, eval_spec: EvalSpec | None, num_steps: int,
          eval_every_steps: int, seed: int, num_seeds: int, on_segment=None) -> dict:
    """Train ``num_seeds`` seeds in lock-step; segments of ``eval_every_steps`` calls.

    Each segment is one compiled ``jit(vmap(segment))`` call (dataset shared, not
    vmapped) that ends with the evaluation; a shorter last segment (when ``num_steps`` is
    not a multiple) compiles once more.

    Returns:
        dict with ``state`` (``LearnerState [S]``), ``metrics`` (numpy ``[S, num_steps]``),
        ``compile_s``, ``run_s``.
    """
    learner = make_learner(cfg, dataset.obs_dim, dataset.action_dim)
    segment = make_segment(learner, cfg, eval_spec)
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    sizes = [eval_every_steps] * (num_steps // eval_every_steps)
    if num_steps % eval_every_steps:
        sizes.append(num_steps % eval_every_steps)

    t0 = time.perf_counter()
    init_fn = jax.jit(jax.vmap(learner.init)).lower(keys).compile()
    abstract = jax.eval_shape(jax.vmap(learner.init), keys)
    compiled = {n: jax.jit(jax.vmap(functools.partial(segment, num_calls=n), in_axes=(0, None))
                           ).lower(abstract, dataset).compile() for n in set(sizes)}
    compile_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    state, history, done = init_fn(keys), [], 0
    for n in sizes:
        state, metrics = compiled[n](state, dataset)
        metrics = jax.tree.map(np.asarray, metrics)
        history.append(metrics)
        done += n
        if on_segment is not None:
            on_segment(done, metrics)
    jax.block_until_ready(state)
    run_s = time.perf_counter() - t0
    metrics = {k: np.concatenate([h[k] for h in history], axis=1) for k in history[0]}
    return {"state": state, "metrics": metrics, "compile_s": compile_s, "run_s": run_s}


def _write_csv(path: str, metrics: dict, seed_idx: int, k: int) -> None:
    names = sorted(metrics)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["step", "sgd_steps", *names])
        for u in range(metrics[names[0]].shape[1]):
            out.writerow([u + 1, (u + 1) * k, *(metrics[n][seed_idx, u] for n in names)])


def _resolve_root(args: OfflineArgs) -> str:
    root = args.root_dir or os.path.join(
        "runs", f"{args.algorithm}-{args.task_name}-"
        f"{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    if os.path.exists(os.path.join(root, "config.json")):
        raise FileExistsError(f"root_dir {root} already holds a run (config.json); runs are "
                              "never overwritten: pass another --root_dir")
    os.makedirs(root, exist_ok=True)
    return root


def run(args: OfflineArgs) -> dict:
    """Validate, load, train (evaluating in the loop), write artefacts; return the summary.

    Everything is checked before anything is compiled: the bindings and flags
    (``resolve_agent``), the dataset (loader validation) and the evaluation env.
    """
    agent, cfg = resolve_agent(args)
    env, env_params, no_env_reason = resolve_env(args)
    dataset = load_dataset(args, env, env_params)
    eval_spec = make_eval_spec(args, env, env_params, dataset)
    root = _resolve_root(args)
    config = {"args": dataclasses.asdict(args), "agent": dataclasses.asdict(agent),
              "learner": dataclasses.asdict(cfg)}
    lg.write_json(os.path.join(root, "config.json"), config)
    k = cfg.num_sgd_steps_per_step
    print(f"purerl {args.algorithm} on {args.task_name} ({dataset.size} transitions, obs "
          f"{dataset.obs_dim}, actions {dataset.action_dim}): {args.num_seeds} seed(s) x "
          f"{args.num_steps} calls x {k} SGD steps x batch {cfg.per_step_batch_size}; "
          f"root_dir {root}", flush=True)
    if no_env_reason:
        print(f"NOTE: {no_env_reason}", flush=True)
    print(f"  jax {jax.__version__} on {jax.default_backend()}: compiling ...", flush=True)

    def on_segment(done, metrics):
        evals = {m: float(np.nanmean(v)) for m, v in metrics.items() if m.startswith("eval/")}
        line = ", ".join(f"{m[5:]} {v:.3f}" for m, v in sorted(evals.items()))
        print(f"  step {done}/{args.num_steps} ({done * k} SGD steps): critic_loss "
              f"{metrics['critic_loss'][:, -1].mean():.4f}, actor_loss "
              f"{metrics['actor_loss'][:, -1].mean():.4f}" + (f"; {line}" if line else ""),
              flush=True)

    out = train(cfg, dataset, eval_spec, args.num_steps, args.eval_every_steps, args.seed,
                args.num_seeds, on_segment)
    metrics = out["metrics"]
    for s in range(args.num_seeds):
        _write_csv(os.path.join(root, f"metrics_seed{s}.csv"), metrics, s, k)
    import orbax.checkpoint as ocp

    params = {"actor": out["state"].actor.params, "critic": out["state"].critic.params}
    with ocp.StandardCheckpointer() as saver:
        saver.save(os.path.abspath(os.path.join(root, "params")), params, force=True)

    final_eval = {}
    for name, values in metrics.items():
        if name.startswith("eval/"):
            last = values[:, -1]                              # the final evaluation [S]
            final_eval[name[5:]] = {"per_seed": last.tolist(), "mean": float(last.mean())}
    sgd_steps = args.num_steps * k
    summary = {
        "config": config,
        "root_dir": root,
        "evaluation": final_eval if eval_spec is not None else None,
        "evaluation_note": no_env_reason or None,
        "eval_modes": list(eval_modes(cfg)) if eval_spec is not None else [],
        "sgd_steps_per_seed": sgd_steps,
        "final_train_metrics": {n: float(np.mean(v[:, -1])) for n, v in metrics.items()
                                if not n.startswith("eval/")},
        "wall_clock_s": {"compile": out["compile_s"], "train": out["run_s"]},
        "sgd_steps_per_s": sgd_steps * args.num_seeds / max(out["run_s"], 1e-9),
        "versions": lg.package_versions(),
        "machine": lg.machine_description(),
    }
    lg.write_json(os.path.join(root, "summary.json"), summary)
    print(f"done: {sgd_steps} SGD steps per seed; compile {out['compile_s']:.1f} s, train "
          f"{out['run_s']:.1f} s ({summary['sgd_steps_per_s']:.0f} SGD steps/s). "
          f"Artefacts in {root}", flush=True)
    for mode, v in final_eval.items():
        print(f"  final eval {mode}: {v['mean']:.3f}")
    return summary


def main(argv: list[str] | None = None, default_algorithm: str = "cql") -> dict:
    """CLI entry point (``python -m purerl.cli.offline``); returns the summary."""
    args = parse_args(argv, default_algorithm)
    if args.debug_nans:
        jax.config.update("jax_debug_nans", True)
    try:
        return run(args)
    except Exception:
        if args.pdb_post_mortem:
            import pdb  # noqa: T100 (the seed runner's --pdb_post_mortem)
            import traceback

            traceback.print_exc()
            pdb.post_mortem()
        raise


def cli() -> None:
    """Console-script entry (``purerl-offline``); returns nothing, so no summary is echoed."""
    main()


if __name__ == "__main__":
    main(sys.argv[1:])
