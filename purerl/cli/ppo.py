"""``purerl-ppo``: PPO on any registered env, with seed AND hyperparameter sweeps in one compile.

Examples::

    purerl-ppo                                   # CartPole-v1, 1 seed
    purerl-ppo --num_seeds 8 --sweep learning_rate=1e-4,3e-4,1e-3
    purerl-ppo --env_id bernoulli_bandit_trial --model_type gru --sweep gae_lambda=0.3,0.95

Every float hyperparameter of ``purerl.algos.ppo.SWEEPABLE`` can be swept; several
``--sweep`` entries make a cartesian grid. The G grid points x S seeds are one
``jax.vmap`` inside one ``jax.jit`` (see ``purerl.common.experiment.run_sweep``); with several
devices (e.g. ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` on CPU) the runs are
sharded over them. Artefacts in ``runs/<out_file>/``: config.json, metrics.npz
(``[G, S, num_updates]``) and summary.json (final return per grid point and seed, compile
and run wall-clock apart, versions, machine).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import numpy as np
import tyro

import envs_jax
from envs_jax import spaces
from envs_jax.wrappers import vec_env
from purerl.algos import ppo
from purerl.common import logging as lg
from purerl.common import sweep as sw
from purerl.common.experiment import run_sweep
from purerl.common.networks import GRUActorCritic, MLPActorCritic
from purerl.config import require, require_positive


@dataclasses.dataclass(frozen=True)
class Args(ppo.PPOConfig):
    """PPO run on one env: every ``PPOConfig`` field, plus the run's own options.

    Defaults are the classic CartPole setting (16 envs x 128 steps, 4 epochs x 4
    minibatches, 64x64 tanh MLP), which solves CartPole-v1 in ~100k steps.
    """

    num_envs: int = 16
    num_steps: int = 128
    num_updates: int = 100
    num_minibatches: int = 4
    update_epochs: int = 4
    learning_rate: float = 2.5e-3
    gae_lambda: float = 0.95
    max_grad_norm: float = 0.5
    log_every: int = 10
    env_id: str = "gymnax/CartPole-v1"
    """An ``envs_jax.make`` id (``gymnax/<ID>`` for any gymnax env)."""
    model_type: str = "mlp"
    """``mlp`` (tanh MLP, ``hidden_size`` x 2) or ``gru`` (GRU(hidden_size))."""
    hidden_size: int = 64
    """Width of each MLP layer / of the GRU."""
    num_seeds: int = 1
    """Seeds per grid point, vmapped in the same compiled call."""
    seed: int = 0
    """Base seed: seed s of every grid point starts from split(PRNGKey(seed), S)[s]."""
    sweep: tuple[str, ...] = ()
    """Grid entries ``NAME=V1,V2,...`` over the float hyperparameters (repeat the flag)."""
    runs_dir: str = "runs"
    """Parent directory of run directories."""
    out_file: str | None = None
    """Run directory name (default: ppo-<env>-<timestamp>); never overwritten."""

    def __post_init__(self):
        super().__post_init__()
        require(self.model_type in ("mlp", "gru"), "model_type", "'mlp' or 'gru'",
                self.model_type)
        for name in ("hidden_size", "num_seeds"):
            require_positive(name, getattr(self, name))
        known = envs_jax.registered_envs()
        require(self.env_id in known or self.env_id.startswith("gymnax/"), "env_id",
                f"one of {known} or 'gymnax/<ID>'", self.env_id)
        # Parses (and so checks) the sweep before anything is built.
        sw.check_points(self.ppo_config(), sw.grid_points(self.grid()))

    def grid(self) -> dict[str, tuple[float, ...]]:
        return sw.parse_sweep(self.sweep, ppo.SWEEPABLE)

    def ppo_config(self) -> ppo.PPOConfig:
        return ppo.PPOConfig(**{f.name: getattr(self, f.name)
                                for f in dataclasses.fields(ppo.PPOConfig)})


def build(args: Args) -> ppo.TrainParts:
    """Env, network and PPO train parts for ``args`` (nothing compiled).

    Raises:
        ValueError: if the env's action space is not ``Discrete`` (the policy is categorical).
    """
    env, env_params = envs_jax.make(args.env_id)
    action_space = env.action_space(env_params)
    require(isinstance(action_space, spaces.Discrete), "env_id",
            "an env with a Discrete action space (PPO here has a categorical policy)",
            f"{args.env_id} (a {type(action_space).__name__} action space)")
    num_actions = action_space.n
    vec = vec_env(args.env_id, env, args.num_envs)
    if args.model_type == "gru":
        net = GRUActorCritic(num_actions, args.hidden_size)
    else:
        net = MLPActorCritic(num_actions, (args.hidden_size, args.hidden_size))
    return ppo.make_train_parts(args.ppo_config(), vec, env_params, net)


def final_return(metrics: dict, fraction: float = 0.1) -> np.ndarray:
    """Mean episode return over the last ``fraction`` of updates: ``[..., U] -> [...]``."""
    num = max(1, round(np.asarray(metrics["episode_count"]).shape[-1] * fraction))
    total = np.asarray(metrics["episode_return_sum"])[..., -num:].sum(-1)
    count = np.asarray(metrics["episode_count"])[..., -num:].sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def run(args: Args) -> dict:
    """Train the grid x seeds in one compiled program and write the run's artefacts.

    Raises:
        FileExistsError: the run directory already exists.
    """
    name = args.out_file or f"ppo-{args.env_id.replace('/', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = os.path.join(args.runs_dir, name)
    if os.path.exists(run_dir):
        raise FileExistsError(f"{run_dir} exists; pick another --out_file (runs are never "
                              "overwritten)")
    os.makedirs(run_dir)
    lg.write_json(os.path.join(run_dir, "config.json"), dataclasses.asdict(args))
    points = sw.grid_points(args.grid())
    hparams = sw.stack_hparams(ppo.hyperparams_from(args.ppo_config()), points)
    parts = build(args)
    print(f"purerl PPO on {args.env_id}: {len(points)} grid point(s) x {args.num_seeds} "
          f"seed(s) x {args.num_updates} updates x {args.num_envs * args.num_steps} steps "
          f"in one compiled call; run dir {run_dir}", flush=True)
    result = run_sweep(parts.init, parts.run_updates, args.seed, args.num_seeds,
                       args.num_updates, args.num_updates, hparams=hparams)
    shape = (len(points), args.num_seeds)
    metrics = {k: v.reshape(*shape, -1) for k, v in result.metrics.items()}
    np.savez(os.path.join(run_dir, "metrics.npz"), **metrics)
    returns = final_return(metrics)                              # [G, S]
    steps = len(points) * args.num_seeds * args.num_updates * args.num_envs * args.num_steps
    summary = {
        "config": dataclasses.asdict(args),
        "grid": [{"hparams": p, "final_return_per_seed": r.tolist(),
                  "final_return_mean": float(np.nanmean(r))} for p, r in zip(points, returns)],
        "wall_clock_s": {"compile": result.compile_s, "run": result.run_s},
        "env_steps_per_s": steps / result.run_s,
        "versions": lg.package_versions(),
        "machine": lg.machine_description(),
    }
    lg.write_json(os.path.join(run_dir, "summary.json"), summary)
    print(f"\nfinal return (last 10% of updates), mean over {args.num_seeds} seed(s):")
    for point, r in zip(points, returns):
        label = ", ".join(f"{k}={v:g}" for k, v in point.items()) or "(defaults)"
        print(f"  {label:<40s} {np.nanmean(r):9.2f}  +- {np.nanstd(r):.2f}")
    print(f"compile {result.compile_s:.1f} s, run {result.run_s:.1f} s "
          f"({summary['env_steps_per_s']:,.0f} env-steps/s). Artefacts in {run_dir}")
    return summary


def main(argv: list[str] | None = None) -> dict:
    """CLI: ``purerl-ppo [--flags]`` (``python -m purerl.cli.ppo``)."""
    return run(tyro.cli(Args, args=argv, use_underscores=True))


def cli() -> None:
    """Console script ``purerl-ppo``."""
    main()


if __name__ == "__main__":
    main(sys.argv[1:])
