"""``purerl-sac``: online SAC on a continuous-action env, seeds and sweeps in one compile.

Examples::

    purerl-sac                                   # gymnax/Pendulum-v1, ~2 min on CPU
    purerl-sac --num_seeds 4 --sweep q_lr=3e-4,1e-3
    purerl-sac --env_id halfcheetah --num_envs 16 --num_updates 62500 --sgd_steps_per_call 16 \\
        --learning_starts 10000 --replay_buffer_size 1000000 --policy_lr 3e-4 --q_lr 3e-4 \\
        --actor_hidden_sizes 256 256 --critic_hidden_sizes 256 256 --eval_every 2500
    purerl-sac --actor_lr 3e-4 --critic_lr 3e-4 --num_warmup_steps 10   # rl_games names
    purerl-sac --resume runs/<name>              # continue a killed run

The agent is ``purerl.algos.sac_online`` (the shared SAC learner of ``purerl.algos.sac``);
the G grid points x S seeds are one ``jax.vmap`` inside one ``jax.jit``
(``purerl.common.experiment.run_sweep``). The run directory is the one ``purerl-ppo``
writes (``purerl.common.run_dir``): config.json, checkpoints/ (the full training state,
replay buffer included), metrics_<run>.csv and tb/<run>/ (``eval/return`` filled every
``eval_every`` updates), learning_curve.png, params/ (actor, critics, observation
statistics), metrics.npz (``[G, S, num_updates]``) and summary.json.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from typing import Annotated, Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import tyro

import envs_jax
from envs_jax.wrappers import is_mjx_env
from envs_jax import spaces
from purerl.algos import sac_online
from purerl.cli import common
from purerl.common import distributed
from purerl.common.argv import scan_flags
from purerl.common import sweep as sw
from purerl.common.run_dir import RunDir
from purerl.config import check_fields, require, require_positive

PROG = "purerl-sac"
RL_GAMES_RENAMES = {"actor_lr": "policy_lr", "critic_lr": "q_lr", "critic_tau": "polyak_tau",
                    "gamma": "discount", "batch_size": "sgd_batch_size",
                    "num_actors": "num_envs"}
"""rl_games ``sac`` config names with the same meaning as one of ours (renamed once here).
``alpha_lr``, ``init_alpha``, ``learnable_temperature`` and ``replay_buffer_size`` are
rl_games' names already."""
RL_GAMES_EPOCHS = ("num_warmup_steps", "num_seed_steps")
"""rl_games' warm-up, counted in *epochs* of ``num_steps_per_episode`` steps of every actor
(``num_seed_steps`` in older rl_games, ``num_warmup_steps`` now): becomes
``learning_starts = epochs x num_steps_per_episode x num_envs`` env steps."""
SWEEP_ALIASES = {k: v for k, v in RL_GAMES_RENAMES.items() if v in sac_online.SWEEPABLE}
SWEEP_HELP = ("Grid entry NAME=V1,V2,... (comma-separated, no spaces); repeat --sweep for a "
              "cartesian grid, all in one compile. Sweepable: "
              + ", ".join(sac_online.SWEEPABLE) + " (rl_games names "
              + ", ".join(SWEEP_ALIASES) + " too).")
RL_GAMES_HELP = """
rl_games `sac` config names are accepted as flags and translated once, here:
actor_lr -> policy_lr; critic_lr -> q_lr; critic_tau -> polyak_tau; gamma -> discount;
batch_size -> sgd_batch_size (transitions per SGD step, as rl_games); num_actors ->
num_envs; alpha_lr, init_alpha, learnable_temperature, replay_buffer_size: the same names
and meanings. num_warmup_steps E (or its older name num_seed_steps) with
num_steps_per_episode T (rl_games default 1): rl_games acts uniformly for E epochs of T
steps of every actor without updating; here learning_starts = E x T x num_envs env steps.
Differences: rl_games does one SGD step per env step (here sgd_steps_per_call per step of
the N envs); its critic loss is a Huber loss in recent versions (here the squared error
summed over the critics); it zeroes done at its own max_env_steps count (here the env's
truncated flag, bootstrapping from info["final_obs"]); its warm-up actions are uniform in
[-1, 1] and clamped (here uniform in the env's Box bounds); and it updates the critic before
the actor (here both from the state before the step).
"""


@dataclasses.dataclass(frozen=True)
class Args(sac_online.Config):
    """Online SAC run on one env: every SAC option, plus the run's own.

    Defaults learn gymnax/Pendulum-v1 (evaluation return -100 to -200, random about -1200)
    in about two minutes on a CPU: 4 envs x 3000 updates (12k env steps), 2 SGD steps
    per update, 64x64 MLPs, Adam 1e-3. Boolean flags take --flag / --no_flag or --flag
    True / False.
    """

    num_envs: int = 4
    """Parallel environments N (rl_games: num_actors)."""
    num_updates: int = 3000
    """Updates (one step of the N envs + sgd_steps_per_call SGD steps) in the run."""
    sgd_steps_per_call: int = 2
    """SGD steps per update (the replay ratio is this / num_envs)."""
    learning_starts: int = 1000
    """Env steps (over all envs) of uniform actions before learning (rl_games:
    num_warmup_steps x num_steps_per_episode x num_envs)."""
    replay_buffer_size: int = 100_000
    """Replay capacity in transitions (rl_games: replay_buffer_size)."""
    policy_lr: float = 1e-3
    """Actor Adam step size (rl_games: actor_lr)."""
    q_lr: float = 1e-3
    """Critic Adam step size (rl_games: critic_lr)."""
    alpha_lr: float = 1e-3
    """Temperature Adam step size (rl_games: alpha_lr)."""
    actor_hidden_sizes: tuple[int, ...] = (64, 64)
    critic_hidden_sizes: tuple[int, ...] = (64, 64)
    eval_every: int = 500
    """Updates between deterministic (tanh(mean)) evaluations; a divisor of num_updates
    (0: none)."""
    log_every: int = 250
    """Progress line about every this many updates (0: none)."""
    policy_snapshots: bool = False
    """Keep every run's actor (and observation statistics) at every segment end in
    policy_snapshots/ with its last evaluation return, for purerl-datagen's medium and
    medium-replay datasets (a few hundred kB per snapshot)."""
    video: bool = False
    """MJX tasks: write videos/final.gif, one episode of run 0's final deterministic
    policy, rendered in-jit (purerl.common.video)."""
    env_id: str = "gymnax/Pendulum-v1"
    """An envs_jax.make id with a 1-D bounded Box action space (gymnax/<ID>, halfcheetah...)."""
    num_seeds: int = 1
    """Seeds per grid point, vmapped in the same compiled call."""
    seed: int = 0
    """Base seed: seed s of every grid point starts from split(PRNGKey(seed), S)[s]."""
    sweep: Annotated[tuple[str, ...], tyro.conf.UseAppendAction,
                     tyro.conf.arg(help=SWEEP_HELP)] = ()
    """Grid entry NAME=V1,V2,... (repeat the flag); see SWEEP_HELP."""
    checkpoint_every: int | None = None
    """Updates between checkpoints, a multiple of eval_every dividing num_updates (default:
    about 10 per run)."""
    runs_dir: str = "runs"
    """Parent directory of run directories."""
    out_file: str | None = None
    """Run directory name (default: sac-<env>-<timestamp>); never overwritten."""
    resume: str | None = None
    """RUN_DIR: continue that run from its newest intact checkpoint (flags from its
    config.json; a flag typed again must match it)."""

    def __post_init__(self):
        check_fields(self)
        super().__post_init__()
        require_positive("num_seeds", self.num_seeds)
        require(self.log_every >= 0, "log_every", "an int >= 0", self.log_every)
        require(self.num_updates % self.unit == 0, "num_updates",
                f"a multiple of eval_every={self.eval_every}", self.num_updates)
        if self.checkpoint_every is not None:
            require(self.checkpoint_every > 0 and self.checkpoint_every % self.unit == 0
                    and self.num_updates % self.checkpoint_every == 0, "checkpoint_every",
                    f"a multiple of eval_every={self.unit} dividing num_updates="
                    f"{self.num_updates}", self.checkpoint_every)
        if self.out_file is not None:
            require(self.out_file != "" and os.sep not in self.out_file, "out_file",
                    "a plain directory name", self.out_file)
        known = envs_jax.registered_envs()
        require(self.env_id in known or self.env_id.startswith("gymnax/"), "env_id",
                f"one of {known} or 'gymnax/<ID>'", self.env_id)
        sw.check_points(self.sac_config(), sw.grid_points(self.grid()))

    @property
    def unit(self) -> int:
        """Segments are whole multiples of this: ``eval_every`` (or 1 without eval)."""
        return self.eval_every or 1

    def grid(self) -> dict[str, tuple[float, ...]]:
        return sw.parse_sweep(self.sweep, sac_online.SWEEPABLE, SWEEP_ALIASES)

    def sac_config(self) -> sac_online.Config:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(sac_online.Config)}
        return sac_online.Config(**values)

    @property
    def checkpoint_period(self) -> int:
        """``checkpoint_every``, or the smallest multiple of ``unit`` dividing
        ``num_updates`` that gives at most about 10 checkpoints."""
        if self.checkpoint_every is not None:
            return self.checkpoint_every
        return min(d for d in range(self.unit, self.num_updates + 1, self.unit)
                   if self.num_updates % d == 0 and d * 10 >= self.num_updates)

    @property
    def segment_updates(self) -> int:
        """Updates per compiled segment: the largest multiple of ``unit`` dividing the
        checkpoint period that is at most ``max(log_every, unit)``."""
        period, every = self.checkpoint_period, max(self.log_every, self.unit)
        return max(d for d in range(self.unit, min(every, period) + 1, self.unit)
                   if period % d == 0)

    def run_name(self) -> str:
        if self.out_file:
            return self.out_file
        return f"sac-{self.env_id.replace('/', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"


def _int_flag(name: str, value: str | None) -> int:
    try:
        number = int(value)                                   # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = None
    require(number is not None and number >= 0, name, "an int >= 0 (rl_games epochs)", value)
    return number


def translate_rl_games(argv: Sequence[str]) -> list[str]:
    """The command line with rl_games ``sac`` names replaced by ours (``RL_GAMES_HELP``).

    Raises:
        ValueError: a bad epoch count, both warm-up names, or a warm-up given both as
            rl_games epochs and as ``--learning_starts``.
    """
    out, epochs, steps_per_epoch = [], {}, 1
    counts = (*RL_GAMES_EPOCHS, "num_steps_per_episode")
    # a bare renamed flag leaves its value token where it is; a bare count takes the next
    for item in scan_flags(argv, (*RL_GAMES_RENAMES, *counts), lambda name, _: name in counts):
        if item.name in RL_GAMES_RENAMES:
            out.append(f"--{RL_GAMES_RENAMES[item.name]}"
                       + ("" if item.value is None else f"={item.value}"))
        elif item.name == "num_steps_per_episode":
            steps_per_epoch = _int_flag(item.name, item.value)
        elif item.name is not None:
            epochs[item.name] = _int_flag(item.name, item.value)
        else:
            out.extend(item.tokens)
    if epochs:
        require(len(epochs) == 1, "num_seed_steps", "not together with num_warmup_steps "
                "(the same rl_games setting under its old and new name)", epochs)
        given = common.typed_fields(out, Args)
        require("learning_starts" not in given, "learning_starts",
                f"not together with rl_games' {next(iter(epochs))} (both set the warm-up)",
                "both")
        num_envs = _last_value(out, "num_envs")
        num_envs = Args.num_envs if num_envs is None else _int_flag("num_envs", num_envs)
        out.append(f"--learning_starts={next(iter(epochs.values())) * steps_per_epoch * num_envs}")
    return out


def _last_value(argv: list[str], name: str) -> str | None:
    """The value of the last ``--name V`` / ``--name=V`` in ``argv`` (None if absent)."""
    values = [t.value for t in scan_flags(argv, (name,), lambda _, nxt: True)
              if t.name == name]
    return values[-1] if values else None


class Setup(NamedTuple):
    """What ``build_setup`` derives from the args (nothing compiled)."""

    env: Any
    env_params: Any
    parts: sac_online.TrainParts


def build_setup(args: Args) -> Setup:
    """Env and SAC train parts for ``args`` (nothing compiled).

    Raises:
        ValueError: the env does not build, or its action space is not a 1-D bounded Box.
    """
    try:
        env, env_params = envs_jax.make(args.env_id)
    except Exception as err:
        raise ValueError(f"env_id: {args.env_id!r} does not build: {err}") from err
    space = env.action_space(env_params)
    require(isinstance(space, spaces.Box) and len(space.shape) == 1
            and bool(np.isfinite(space.low).all() and np.isfinite(space.high).all()),
            "env_id", "an env with a 1-D bounded Box action space (SAC's tanh-Gaussian "
            "actor; for Discrete actions use purerl-ppo)",
            f"{args.env_id} (action space {space})")
    require(not args.video or is_mjx_env(args.env_id, env), "video",
            "an MJX task for --video (videos are rendered by the MJX camera)", args.env_id)
    return Setup(env, env_params,
                 sac_online.make_train_parts(args.sac_config(), env, env_params, args.env_id))


def config_dict(args: Args) -> dict:
    """What ``config.json`` stores: the algorithm and every flag but ``--resume``."""
    return common.config_dict(args, "sac")


def parse(argv: list[str]) -> tuple[Args, RunDir | None]:
    """``(args, run to resume or None)``: rl_games names translated, then
    ``common.parse_run_args``."""
    return common.parse_run_args(Args, translate_rl_games(argv), description=(
        (Args.__doc__ or "") + RL_GAMES_HELP))


def last_eval(metrics: dict) -> np.ndarray:
    """``eval/return`` of the last evaluation: ``[..., U] -> [...]`` (NaN if none)."""
    if "eval/return" not in metrics:                             # eval_every=0: none
        return np.full(np.shape(metrics["episode_count"])[:-1], np.nan)
    values = np.asarray(metrics["eval/return"])
    done = np.isfinite(values)
    if not done.any():
        return np.full(values.shape[:-1], np.nan)
    last = values.shape[-1] - 1 - np.argmax(done[..., ::-1], axis=-1)
    return np.take_along_axis(values, last[..., None], -1)[..., 0]


def acting_params(state: sac_online.RunnerState) -> dict:
    """What acting needs, of a state (any leading axes): ``{"actor", "obs_stats"?}``, the
    layout of ``params/`` and ``policy_snapshots/`` (``params/`` adds ``"critic"``)."""
    params = {"actor": state.learner.actor.params}
    if state.obs_stats is not None:
        stats = state.obs_stats
        params["obs_stats"] = {"mean": stats.mean, "var": stats.var, "count": stats.count}
    return params


def args_from_config(config: dict) -> Args:
    """The ``Args`` of a run from its ``config.json`` dict (lists back to tuples).

    Raises:
        ValueError: a stored value the current ``Args`` rejects.
    """
    return common.args_from_config(Args, config)


def command_from_config(config: dict) -> str:
    """The ``purerl-sac`` command line that trains the run of ``config`` (every stored
    flag typed out, ``--sweep`` repeated), for provenance records."""
    import shlex

    words = [PROG]
    for name, value in config.items():
        if name in ("algo", "resume") or value is None:
            continue
        if isinstance(value, bool):
            words.append(f"--{name}" if value else f"--no_{name}")
        elif isinstance(value, (list, tuple)):
            if name == "sweep":
                words += [w for entry in value for w in ("--sweep", str(entry))]
            elif value:
                words += [f"--{name}", *map(str, value)]
        else:
            words += [f"--{name}", str(value)]
    return shlex.join(words)


def run(args: Args, resumed: RunDir | None = None) -> dict:
    """Train the grid x seeds in one compiled program and write the run's artefacts.

    Raises:
        RunDirError: the run directory holds another run (and this is no resume).
        NonFiniteError: a training metric went NaN or infinite.
    """
    if resumed is not None and resumed.finished:
        return common.report_finished(resumed)
    points = sw.grid_points(args.grid())
    hparams = sw.stack_hparams(sac_online.hyperparams_from(args.sac_config()), points)
    setup = build_setup(args)                         # fails before any file is written
    run_dir = common.start_run(resumed, args.runs_dir, args.out_file, args.run_name(),
                               config_dict(args))
    num_points, num_seeds = len(points), args.num_seeds
    steps_per_update = num_points * num_seeds * args.num_envs
    print(f"purerl SAC on {args.env_id}: {num_points} grid point(s) x {num_seeds} seed(s) x "
          f"{args.num_updates} updates x {args.num_envs} env steps + "
          f"{args.sgd_steps_per_call} SGD steps in one compiled call; run dir "
          f"{run_dir.path}" + (" (resuming)" if resumed is not None else ""), flush=True)
    snapshots = (common.PolicySnapshots(run_dir, acting_params, last_eval, args.num_envs)
                 if args.policy_snapshots else None)
    result, writer = common.train_grid(
        run_dir, setup.parts, title=f"SAC on {args.env_id}", seed=args.seed,
        num_seeds=num_seeds, points=points, hparams=hparams, num_updates=args.num_updates,
        segment_updates=args.segment_updates, checkpoint_every=args.checkpoint_period,
        steps_per_update=steps_per_update, log=bool(args.log_every),
        resumed=resumed is not None, after_segment=snapshots)
    run_dir.save_params({**acting_params(result.state),
                         "critic": result.state.learner.critic.params})
    writer.finish(result.metrics)
    metrics = common.save_metrics(run_dir, result.metrics, num_points, num_seeds)
    returns, evals = common.final_return(metrics), last_eval(metrics)          # [G, S]
    summary = run_dir.write_summary({
        "config": run_dir.config,
        "grid": [{"hparams": p, **common.per_seed_entries("final_return", r),
                  **common.per_seed_entries("eval_return", e)}
                 for p, r, e in zip(points, returns, evals)],
        **common.speed_summary(result, steps_per_update),
    })
    if args.video:
        _write_video(setup, run_dir, result.state)
    common.print_run_end(f"last deterministic evaluation return, mean over {num_seeds} "
                         "seed(s):", points, evals, result, summary, run_dir,
                         empty="no evaluation ran (eval_every=0)")
    return summary


def _write_video(setup: Setup, run_dir: RunDir, state) -> None:
    """``videos/final.gif`` of run 0's final deterministic policy, printed when written."""
    import jax

    from envs_jax.policy import feed_forward
    from purerl.common.video import write_eval_video

    first = jax.tree.map(lambda x: x[0], distributed.to_host(state))  # (a gather per process)
    if not run_dir.writes:
        return
    policy = feed_forward(lambda key, obs: setup.parts.act(first, obs))
    print("rendering the evaluation video (one compile) ...", flush=True)
    path = write_eval_video(run_dir.path, setup.env, setup.env_params, policy,
                            jax.random.PRNGKey(0))
    print(f"video: {path}", flush=True)


def evaluate_run(run_dir: str, num_episodes: int = 100, max_steps: int | None = None
                 ) -> dict:
    """Score the final policies of a SAC run: mean return of ``num_episodes`` episodes of
    the deterministic action ``tanh(mean)`` (rescaled to the env's box) per run of the
    sweep, on the same episodes (a fixed key), vmapped over runs and episodes.

    Returns:
        dict with ``grid`` (per point: ``hparams``, ``score_per_seed``, ``score_mean``),
        ``score_mean`` over all runs and ``score_per_seed`` (a single point's).

    Raises:
        RunDirError: no config.json, or no final params (a SAC run is scored from
            ``params/``, written when it finishes).
    """
    import jax
    import orbax.checkpoint as ocp

    from envs_jax.policy import episode_limit, evaluate_episodes, feed_forward
    from purerl.common import running_stats as rs
    from purerl.common.run_dir import RunDirError

    rd = RunDir.load(run_dir)
    args = args_from_config(rd.config)
    path = os.path.abspath(os.path.join(rd.path, "params"))
    if not os.path.isdir(path):
        raise RunDirError(f"{rd.path} has no final params (params/): a SAC run is scored "
                          "once it has finished (resume it first)")
    saved = ocp.StandardCheckpointer().restore(path)
    setup = build_setup(args)
    low, high = sac_online.check_action_space(setup.env.action_space(setup.env_params))
    actor = setup.parts.learner.actor
    max_steps = max_steps or episode_limit(setup.env, setup.env_params)
    stats = saved.get("obs_stats")

    @jax.jit
    def score(actor_params, stats):
        def one(p, st):
            def act(key, obs):
                if st is not None:
                    obs = rs.normalize(rs.RunningStats(**st), obs)
                return sac_online.rescale_action(jnp.tanh(actor.apply(p, obs)[0]), low, high)
            return evaluate_episodes(setup.env, setup.env_params, feed_forward(act),
                                     jax.random.PRNGKey(0), num_episodes, max_steps).returns
        return jax.vmap(one)(actor_params, stats)

    points = sw.grid_points(args.grid())
    returns = np.asarray(score(saved["actor"], stats)).mean(axis=1).reshape(
        len(points), args.num_seeds)
    return common.score_report("sac", args.env_id, points, returns,
                               num_episodes=num_episodes, max_steps=max_steps, greedy=True)


def main(argv: list[str] | None = None) -> dict:
    """CLI: ``purerl-sac [--flags]`` (``python -m purerl.cli.sac``); raises on errors."""
    return run(*parse(list(sys.argv[1:] if argv is None else argv)))


def cli() -> None:
    """Console script ``purerl-sac``: user errors as one line (``--debug``: traceback)."""
    common.run_cli(main, prog=PROG)


if __name__ == "__main__":
    cli()
