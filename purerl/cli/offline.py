"""``purerl-offline``: CQL or the SNR actor-critic with the seed runner's flags and gin names.

``python -m purerl.cli.offline`` takes the command lines of the seed READMEs with only the
module name changed (``jrl.localized.runner`` -> ``purerl.cli.offline``)::

    python -m purerl.cli.offline --num_steps 11000 --eval_every_steps 500 \\
        --episodes_per_eval 100 --batch_size 51200 --root_dir /tmp/test_cql --seed 42 \\
        --algorithm cql --task_class d4rl --task_name antmaze-large-diverse-v0 \\
        --dataset_path /data/antmaze-large-diverse-v0.hdf5 \\
        --gin_bindings='cql.config.CQLConfig.num_sgd_steps_per_step=200' ...

Seed names, translated once here and in ``purerl.cli.gin`` (the algorithms use their own):
``num_steps`` counts *calls* of ``K = num_sgd_steps_per_step`` SGD steps each (ours:
``sgd_steps_per_call``), ``batch_size`` is the TOTAL batch of a call (ours: ``sgd_batch_size
= batch_size / K`` per SGD step), ``eval_every_steps`` counts calls and ``tau`` is
``polyak_tau``. As in the seed runner, ``num_steps`` must be a multiple of
``eval_every_steps``: a run is ``num_steps / eval_every_steps`` segments, each one compiled
call of ``purerl.common.experiment.run_sweep`` that ends with the evaluation.

Flags beyond the seed's: ``--dataset_path`` (a local D4RL ``.hdf5`` file or Minari dataset
dir; without it a D4RL task is looked up where D4RL caches downloads,
``$D4RL_DATASET_DIR`` or ``~/.d4rl/datasets``), ``--num_seeds`` (vmapped), ``--sweep
NAME=V1,V2`` (repeatable: a cartesian grid over the traced hyperparameters ``policy_lr``,
``q_lr``, ``alpha_lr``, ``cql_alpha``, ``snr_alpha`` and ``polyak_tau``/``tau``; grid x
seeds train in ONE compiled program), ``--resume RUN_DIR``, ``--debug``.

The seed runner's own flags: ``--gin_bindings`` (repeatable) and ``--gin_configs FILE``
(repeatable; files are read first, as gin does) bind ``cql.config.CQLConfig``,
``snr.config.SNRConfig`` or ``snr.config.SNRKwargs`` fields; ``--eval_with_q_filter`` also
evaluates the two Q-filter policies; ``--debug_nans``; ``--pdb_post_mortem``;
``--spoof_multi_device`` sets ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (8 CPU
devices, as the seed) when JAX has not started yet, else refuses; ``--single_precision_env``
is accepted and changes nothing (our envs and datasets are float32 already). Refused, with
the reason: ``--disable_jit`` (training is ahead-of-time compiled segments, which
``jax.disable_jit`` cannot run) and ``--create_saved_model_actor`` (we save orbax params).
Booleans take absl forms too (``--flag``, ``--noflag``, ``--flag=False``). Unlike the seed,
an existing ``root_dir`` is never deleted: it is refused, or continued with ``--resume``.

Evaluation runs inside the compiled loop on an environment of our protocol: the synthetic
``LinearTargetEnv`` (``--task_class synthetic --task_name linear_target``), or an env
registered in ``envs_jax`` under the task name, ``d4rl/<family>``, ``<family>`` or, for
AntMaze, ``antmaze-<maze>``. A task with no registered env trains without evaluation.

Artefacts (``purerl.common.run_dir.RunDir``): config.json, checkpoints/ (the full state
after every segment), metrics_<run>.csv and tb/<run>/ (one row per call, written as
segments finish; eval columns filled at each segment's end), params/ and summary.json at
the end. ``--resume RUN_DIR`` alone continues a killed run from its last intact checkpoint
(flags come from its config.json; a flag given again must have the stored value) and ends
bitwise equal to an uninterrupted run; resuming a finished run changes nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import io
import json
import os
import sys
from typing import Annotated, Any, Literal

import jax
import numpy as np
import tyro

import envs_jax
from envs_jax import spaces
from envs_jax.offline import load_d4rl, load_minari, normalized_score, spec_for, spec_from_env
from envs_jax.offline.d4rl import read_d4rl
from envs_jax.offline.minari import read_minari_metadata
from envs_jax.offline.specs import env_family
from envs_jax.offline.synthetic import LinearTargetEnv
from purerl.algos import cql, sac, snr_ac
from purerl.algos.sac_eval import EvalSpec, eval_modes
from purerl.cli.common import pop_resume, run_cli, set_active_run_dir
from purerl.cli.gin import apply_gin_bindings, normalize_absl_bools, read_gin_file
from purerl.common import distributed
from purerl.common import sweep as sw
from purerl.common.experiment import run_sweep
from purerl.common.run_dir import RunDir, RunDirError, run_labels
from purerl.config import require, require_positive

PROG = "purerl-offline"
SYNTHETIC_TASKS = ("linear_target",)
ALGORITHMS = {"cql": cql, "snr": snr_ac}
TERM_WEIGHTS = ("cql_alpha", "snr_alpha")
"""Swept weights whose largest value decides whether the term is built at all."""
SWEEP_ALIASES = {"tau": "polyak_tau"}
SPOOF_DEVICES = 8
RESUME_MAY_DIFFER = ("args.resume", "args.root_dir", "args.pdb_post_mortem",
                     "args.debug_nans")
APPEND_FIELDS = ("gin_bindings", "gin_configs", "sweep")


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
    """Calls of the learner, each num_sgd_steps_per_step SGD steps; a multiple of
    eval_every_steps."""
    eval_every_steps: int = 500
    """Calls per segment: checkpoint and evaluation after each."""
    episodes_per_eval: int = 100
    """Evaluation episodes per mode, vmapped."""
    batch_size: int = 51200
    """Transitions per call = num_sgd_steps_per_step x the per-SGD-step batch."""
    num_sgd_steps_per_step: int | None = None
    """K; same as the gin binding of the agent's config (they must agree if both given)."""
    root_dir: str | None = None
    """Run directory (default runs/<algorithm>-<task>-<time>); never overwritten."""
    resume: str | None = None
    """RUN_DIR: continue that run from its last intact checkpoint (its flags are used)."""
    seed: int = 0
    """Base PRNG seed; seed i of num_seeds uses split(PRNGKey(seed), num_seeds)[i]."""
    num_seeds: int = 1
    """Seeds per grid point, trained in lock-step by one vmapped compiled call."""
    sweep: Annotated[list[str], tyro.conf.UseAppendAction] = dataclasses.field(
        default_factory=list)
    """NAME=V1,V2,... over policy_lr, q_lr, alpha_lr, cql_alpha, snr_alpha, polyak_tau
    (alias tau); repeat the flag for a cartesian grid, all in one compile."""
    gin_bindings: Annotated[list[str], tyro.conf.UseAppendAction] = dataclasses.field(
        default_factory=list)
    """'cql.config.CQLConfig.cql_alpha=0.05', 'snr.config.SNRKwargs.snr_mode="ntk"', ...
    (repeat the flag)."""
    gin_configs: Annotated[list[str], tyro.conf.UseAppendAction] = dataclasses.field(
        default_factory=list)
    """Gin files of bindings, one per line, '#' comments; read before --gin_bindings."""
    env_kwargs: str = "{}"
    """JSON kwargs of the synthetic env, e.g. '{"obs_dim": 2, "action_dim": 1}'."""
    max_episode_steps: int | None = None
    """Evaluation episode cap (default: the D4RL time limit, or the synthetic horizon)."""
    eval_with_q_filter: bool = False
    """Also evaluate the Q-filter policies, with and without uniform candidates (seed
    runner flag; the agent's gin field of the same name does the same)."""
    pdb_post_mortem: bool = False
    """Start pdb on an uncaught exception (seed runner flag)."""
    debug_nans: bool = False
    """jax_debug_nans (seed runner flag)."""
    spoof_multi_device: bool = False
    """8 CPU devices via XLA_FLAGS, if JAX has not started yet (seed runner flag)."""
    single_precision_env: bool = False
    """Seed runner flag; accepted, no effect: our envs and datasets are float32."""
    disable_jit: bool = False
    """Seed runner flag; only False is supported (training is compiled segments)."""
    create_saved_model_actor: bool = False
    """Seed runner flag; only False is supported (we save orbax params, not TF models)."""

    def __post_init__(self):
        for name in ("num_steps", "eval_every_steps", "episodes_per_eval", "batch_size",
                     "num_seeds"):
            require_positive(name, getattr(self, name))
        require(self.num_steps % self.eval_every_steps == 0, "num_steps",
                f"a multiple of eval_every_steps={self.eval_every_steps} (a run is whole "
                "segments of eval_every_steps calls, each ending with an evaluation)",
                self.num_steps)
        if self.max_episode_steps is not None:
            require_positive("max_episode_steps", self.max_episode_steps)
        require(not self.create_saved_model_actor, "create_saved_model_actor",
                "False (purerl saves orbax params, not TensorFlow saved models)", True)
        require(not self.disable_jit, "disable_jit",
                "False (training runs as ahead-of-time compiled segments, which "
                "jax.disable_jit cannot execute; use --debug_nans to find NaNs, or call "
                "purerl.algos.cql.make_learner's functions un-jitted)", True)
        if self.task_class == "synthetic":
            require(self.task_name in SYNTHETIC_TASKS, "task_name",
                    f"one of {SYNTHETIC_TASKS} with task_class synthetic", self.task_name)


# --------------------------------------------------------------------------- parsing


def _tyro(argv: list[str], default: OfflineArgs) -> OfflineArgs:
    """tyro, with its error panel condensed to one line on stderr (then exit status 2)."""
    kwargs = dict(args=argv, default=default, prog=PROG, use_underscores=True,
                  config=(tyro.conf.FlagConversionOff,))
    if "-h" in argv or "--help" in argv:
        return tyro.cli(OfflineArgs, **kwargs)
    out = io.StringIO()
    wide = {"COLUMNS": "100000"}                # one message line, not a wrapped panel
    try:
        with (contextlib.redirect_stderr(out), contextlib.redirect_stdout(out),
              _environ(wide)):
            return tyro.cli(OfflineArgs, **kwargs)
    except SystemExit:
        print(f"{PROG}: error: {_panel_message(out.getvalue())}", file=sys.stderr)
        raise SystemExit(2) from None


def _panel_message(panel: str) -> str:
    """The message of a tyro error panel (title, message, sections split by rules)."""
    sections, current = [], []
    for line in (raw.strip(" │╭╮╰╯") for raw in panel.splitlines()):
        if line and set(line) <= set("-─"):
            sections.append(current)
            current = []
        elif line:
            current.append(line.strip())
    sections.append(current)
    parts = list(sections[1] if len(sections) > 1 else sections[0])
    for section in sections[2:]:
        if section and section[0].startswith("Perhaps you meant") and len(section) > 1:
            parts.append(f"perhaps you meant {section[1]}")
    return "; ".join(parts).replace("Error parsing OfflineArgs: ", "") or "bad command line"


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def parse_args(argv: list[str] | None, default_algorithm: str = "cql") -> OfflineArgs:
    """Parse the seed runner's command line (module docstring).

    With ``--resume RUN_DIR`` every flag defaults to the value stored in its config.json
    (a repeatable flag given again replaces the stored list); ``run`` then refuses any
    flag whose value differs from the stored one.

    Raises:
        SystemExit: status 2 after a one-line message, for a flag tyro cannot parse or a
            value the config rejects.
        RunDirError: ``--resume`` of a directory without config.json.
    """
    argv = normalize_absl_bools(list(sys.argv[1:] if argv is None else argv))
    # read, not removed: OfflineArgs has a resume field (a bare --resume is tyro's to reject)
    resume = pop_resume(argv)[1] or None
    if resume is None:
        return _tyro(argv, OfflineArgs(algorithm=default_algorithm))
    stored = stored_args(resume)
    given = _tyro(argv, dataclasses.replace(stored, **{f: [] for f in APPEND_FIELDS}))
    lists = {f: getattr(given, f) or getattr(stored, f) for f in APPEND_FIELDS}
    return dataclasses.replace(given, **lists, resume=resume)


def stored_args(run_dir: str) -> OfflineArgs:
    """The ``OfflineArgs`` stored in ``run_dir/config.json``.

    Raises:
        RunDirError: no config.json there, or not one of this command's.
    """
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        raise RunDirError(f"--resume: {run_dir} is not a run directory (no config.json)")
    with open(path) as f:
        stored = json.load(f).get("args")
    names = {f.name for f in dataclasses.fields(OfflineArgs)}
    if not isinstance(stored, dict):
        raise RunDirError(f"--resume: {path} is not the config of a {PROG} run")
    return OfflineArgs(**{k: v for k, v in stored.items() if k in names})


def resolve_agent(args: OfflineArgs) -> tuple[Any, sac.SACConfig]:
    """(the seed's agent config, our algorithm's config) from the bindings and flags.

    Raises:
        ValueError: bad bindings or gin files, ``--num_sgd_steps_per_step`` disagreeing
            with the binding, or ``batch_size`` not a multiple of K.
        FileNotFoundError: a missing gin file.
    """
    bindings = [b for path in args.gin_configs for b in read_gin_file(path)]
    agent = apply_gin_bindings(args.algorithm, bindings + list(args.gin_bindings))
    k = agent.num_sgd_steps_per_step
    if args.num_sgd_steps_per_step is not None:
        bound = any(b.split("=")[0].strip().endswith(".num_sgd_steps_per_step")
                    for b in bindings + list(args.gin_bindings))
        require(not bound or args.num_sgd_steps_per_step == k, "num_sgd_steps_per_step",
                f"the gin-bound value {k} (or leave one of them out)",
                args.num_sgd_steps_per_step)
        agent = dataclasses.replace(agent, num_sgd_steps_per_step=args.num_sgd_steps_per_step)
        k = args.num_sgd_steps_per_step
    if args.eval_with_q_filter:
        agent = dataclasses.replace(agent, eval_with_q_filter=True)
    require_positive("num_sgd_steps_per_step", k)
    require(args.batch_size % k == 0, "batch_size",
            f"a multiple of num_sgd_steps_per_step={k} (batch_size is K x per-step batch)",
            args.batch_size)
    return agent, agent.learner_config(args.batch_size // k)


def resolve_sweep(args: OfflineArgs, cfg: sac.SACConfig
                  ) -> tuple[list[dict[str, float]], sac.SACConfig, Any]:
    """``(grid points, the config to build the program from, hparams [G] or None)``.

    The program's config takes the largest swept ``cql_alpha`` / ``snr_alpha`` so that a
    term some point needs is built (a point with weight 0 multiplies it by 0).

    Raises:
        ValueError: a bad ``--sweep`` entry, a value the config rejects, or ``polyak_tau``
            swept for an agent without target network.
    """
    module = ALGORITHMS[args.algorithm]
    allowed = [n for n in module.SWEEPABLE if n != "polyak_tau" or cfg.polyak_tau is not None]
    grid = sw.parse_sweep(args.sweep, allowed, SWEEP_ALIASES)
    points = sw.grid_points(grid)
    sw.check_points(cfg, points)
    if not grid:
        return points, cfg, None
    static = dataclasses.replace(cfg, **{w: max(v) for w, v in grid.items()
                                         if w in TERM_WEIGHTS})
    base = sac.hyperparams_from(cfg, module.Hyperparams)
    return points, static, sw.stack_hparams(base, points)


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
    and D4RL's URL basename style ``hopper_medium-v2.hdf5`` (first ``-`` -> ``_``).

    Returns:
        ``(path or None, candidate paths tried)``.
    """
    root = os.environ.get("D4RL_DATASET_DIR", os.path.expanduser("~/.d4rl/datasets"))
    names = dict.fromkeys([task_name, task_name.replace("-", "_", 1)])
    tried = [os.path.join(root, f"{name}.hdf5") for name in names]
    return next((p for p in tried if os.path.exists(p)), None), tried


def load_dataset(args: OfflineArgs, env, env_params):
    """Load ``--dataset_path`` (D4RL file or Minari dir), or the D4RL cache's file.

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


def behaviour_score(path: str | None, task_name: str) -> dict | None:
    """The behaviour policy's return recorded in a dataset's metadata by
    ``purerl-datagen`` (``metadata/policy_return``; Minari: ``metadata.json``), with its
    D4RL-normalised score when ``task_name`` has reference scores; None when the dataset
    records none (D4RL's own files do not)."""
    if path is None:
        return None
    if os.path.isdir(path):
        value = read_minari_metadata(path).get("policy_return")
    else:
        value = read_d4rl(path, ("metadata/policy_return",)).get("metadata/policy_return")
    if value is None or not np.isfinite(float(value)):
        return None
    out = {"return": float(value), "normalized_score": None}
    try:
        out["normalized_score"] = float(normalized_score(task_name, float(value)))
    except ValueError:                                  # no D4RL family: no reference
        pass
    return out


def check_eval_env(env, env_params, obs_dim: int, action_dim: int) -> None:
    """Check before tracing that an env of our protocol fits the dataset.

    Raises:
        ValueError: non-Box spaces, dimensions unlike the dataset's, or an action box that
            is not ``[-1, 1]^A`` (the actor's tanh range).
    """
    obs_space, act_space = env.observation_space(env_params), env.action_space(env_params)
    require(isinstance(act_space, spaces.Box) and act_space.shape == (action_dim,),
            "eval env action_space", f"a Box of shape ({action_dim},) like the dataset",
            act_space)
    require(bool(np.all(act_space.low == -1.0)) and bool(np.all(act_space.high == 1.0)),
            "eval env action_space", "bounds [-1, 1] (the actor's tanh range)", act_space)
    require(tuple(obs_space.shape) == (obs_dim,), "eval env observation_space",
            f"shape ({obs_dim},) like the dataset", obs_space)


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


def _open_run_dir(args: OfflineArgs, config: dict) -> RunDir:
    if args.resume:
        # Flags first (so a message names flags); then what they resolve to (a gin file
        # edited since the run started changes the agent without changing a flag).
        RunDir.resume(args.resume, given={"args": config["args"]}, ignore=RESUME_MAY_DIFFER)
        return RunDir.resume(args.resume, given=config, ignore=RESUME_MAY_DIFFER)
    root = args.root_dir or distributed.agree(os.path.join(     # process 0's clock
        "runs", f"{args.algorithm}-{args.task_name.replace('/', '_')}-"
        f"{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"))
    return RunDir.create(root, config)


def _final(metrics: dict, runs: slice) -> dict:
    """Last call's values of the runs ``runs``: eval per run + mean, train metrics mean."""
    evals = {n[5:]: {"per_seed": metrics[n][runs, -1].tolist(),
                     "mean": float(np.mean(metrics[n][runs, -1]))}
             for n in sorted(metrics) if n.startswith("eval/")}
    train = {n: float(np.mean(metrics[n][runs, -1])) for n in sorted(metrics)
             if not n.startswith("eval/")}
    return {"evaluation": evals or None, "final_train_metrics": train}


def run(args: OfflineArgs) -> dict:
    """Validate, load, train (evaluating in the loop), write artefacts; return the summary.

    Everything is checked before anything is compiled: the flags and bindings, the sweep,
    the dataset (loader validation), the evaluation env and, on ``--resume``, that the
    flags match the stored run.

    Raises:
        ValueError, FileNotFoundError, DatasetError, RunDirError: the user's to fix.
    """
    agent, cfg = resolve_agent(args)
    points, static_cfg, hparams = resolve_sweep(args, cfg)
    env, env_params, no_env_reason = resolve_env(args)
    dataset = load_dataset(args, env, env_params)
    eval_spec = make_eval_spec(args, env, env_params, dataset)
    behaviour = behaviour_score(args.dataset_path, args.task_name)
    config = {"args": dataclasses.asdict(args), "agent": dataclasses.asdict(agent),
              "learner": dataclasses.asdict(cfg), "grid": points}
    run_dir = _open_run_dir(args, config)
    if run_dir.finished:
        print(f"{run_dir.path} is a finished run; nothing to do (summary.json unchanged)")
        return run_dir.read_summary()
    set_active_run_dir(run_dir.path)
    k, num_seeds = cfg.sgd_steps_per_call, args.num_seeds
    labels = run_labels(len(points), num_seeds)
    print(f"{PROG}: {args.algorithm} on {args.task_name} ({dataset.size} transitions, obs "
          f"{dataset.obs_dim}, actions {dataset.action_dim}): {len(points)} grid point(s) x "
          f"{num_seeds} seed(s) x {args.num_steps} calls x {k} SGD steps x batch "
          f"{cfg.sgd_batch_size}; run dir {run_dir.path}", flush=True)
    if no_env_reason:
        print(f"NOTE: {no_env_reason}", flush=True)
    print(f"  jax {jax.__version__} on {jax.default_backend()}: compiling ...", flush=True)

    def with_sgd_steps(history: dict) -> dict:
        calls = next(iter(history.values())).shape[1]
        steps = np.broadcast_to(np.arange(1, calls + 1) * k, (len(labels), calls))
        return {"sgd_steps": steps, **history}

    def on_segment(done: int, segment: dict, history: dict) -> None:
        history = with_sgd_steps(history)
        run_dir.write_metrics(history, labels, step_name="step", x_axis="sgd_steps",
                              derived={"sgd_steps": history["sgd_steps"]})
        evals = ", ".join(f"{n[5:]} {np.nanmean(v):.3f}" for n, v in sorted(segment.items())
                          if n.startswith("eval/"))
        print(f"  step {done}/{args.num_steps} ({done * k} SGD steps): critic_loss "
              f"{segment['critic_loss'][:, -1].mean():.4f}, actor_loss "
              f"{segment['actor_loss'][:, -1].mean():.4f}" + (f"; {evals}" if evals else ""),
              flush=True)

    parts = ALGORITHMS[args.algorithm].make_train_parts(static_cfg, dataset.obs_dim,
                                                        dataset.action_dim, eval_spec)
    result = run_sweep(parts.init, parts.run_updates, args.seed, num_seeds, args.num_steps,
                       args.eval_every_steps, checkpointer=run_dir.checkpointer(),
                       resume=bool(args.resume), on_segment=on_segment, hparams=hparams,
                       shared=dataset)
    run_dir.save_params({"actor": result.state.actor.params,
                         "critic": result.state.critic.params})
    grid = [{"hparams": point, **_final(result.metrics, slice(g * num_seeds,
                                                               (g + 1) * num_seeds))}
            for g, point in enumerate(points)]
    sgd_steps = args.num_steps * k
    calls_here = args.num_steps - result.resumed_from
    summary = run_dir.write_summary({
        "config": config,
        **(grid[0] if len(points) == 1 else {"evaluation": None}),
        "grid": grid,
        "evaluation_note": no_env_reason or None,
        "behaviour_policy": behaviour,
        "eval_modes": list(eval_modes(static_cfg)) if eval_spec is not None else [],
        "sgd_steps_per_seed": sgd_steps,
        "resumed_from_call": result.resumed_from,
        "wall_clock_s": {"compile": result.compile_s, "train": result.run_s},
        "sgd_steps_per_s": calls_here * k * len(labels) / max(result.run_s, 1e-9),
    })
    run_dir.close()
    set_active_run_dir(None)
    print(f"done: {sgd_steps} SGD steps per run; compile {result.compile_s:.1f} s, train "
          f"{result.run_s:.1f} s ({summary['sgd_steps_per_s']:.0f} SGD steps/s). "
          f"Artefacts in {run_dir.path}", flush=True)
    for entry in grid:
        for mode, v in (entry["evaluation"] or {}).items():
            at = f" at {entry['hparams']}" if entry["hparams"] else ""
            print(f"  final eval {mode}{at}: {v['mean']:.3f}")
    if behaviour is not None:
        score = behaviour["normalized_score"]
        print(f"  behaviour policy (dataset metadata): return {behaviour['return']:.3f}"
              + (f", normalized_score {score:.3f}" if score is not None else ""))
    return summary


def _spoof_devices() -> None:
    """``--spoof_multi_device``: 8 CPU devices, possible only before JAX starts a backend.

    Raises:
        ValueError: JAX has already started (XLA reads ``XLA_FLAGS`` once, at start).
    """
    from jax._src import xla_bridge

    flag = f"--xla_force_host_platform_device_count={SPOOF_DEVICES}"
    require(not xla_bridge.backends_are_initialized(), "spoof_multi_device",
            f"a process where JAX has not started yet (XLA reads XLA_FLAGS once); set "
            f"XLA_FLAGS={flag} before starting Python instead", True)
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()


def main(argv: list[str] | None = None, default_algorithm: str = "cql") -> dict:
    """Parse and run (``python -m purerl.cli.offline``); returns the summary.

    Errors propagate (``cli`` turns the user's into one line); tyro's parse errors exit
    with status 2 after one line.
    """
    args = parse_args(argv, default_algorithm)
    if args.spoof_multi_device:
        _spoof_devices()
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


def cli(argv: list[str] | None = None) -> None:
    """Console script ``purerl-offline``: one-line user errors (exit 2), ``--debug`` for
    the traceback, Ctrl-C says how to resume; returns nothing (no summary echoed)."""
    run_cli(main, argv, prog=PROG)


if __name__ == "__main__":
    cli(sys.argv[1:])
