"""``purerl-datagen``: D4RL-format datasets (the D4RL v2 recipe) generated on our envs.

Examples::

    purerl-datagen --dataset random --env_id hopper --num_transitions 100000
    purerl-datagen --dataset medium --run runs/sac-hopper --run_index 0      # 1M rows
    purerl-datagen --dataset medium-replay --run runs/sac-hopper
    purerl-datagen --dataset medium-expert --run runs/sac-hopper            # 2M rows
    purerl-datagen --dataset medium --policy hopper_medium --num_transitions 100000
    purerl-datagen --dataset medium --run runs/sac-hopper --export_policy purerl/policies/hopper_medium
    purerl-datagen --dataset diverse --env_id antmaze-umaze --run runs/sac-ant-goal

Datasets (Fu et al. 2020, "D4RL", section 4 and appendix C):

* ``random``: uniform actions in the env's action box.
* ``expert``: the final policy of a SAC run (``--run DIR --run_index b``) or a shipped
  policy (``--policy NAME``), its actions SAMPLED from the tanh-Gaussian (as D4RL).
* ``medium``: the run's policy snapshot whose evaluation return is nearest
  ``--medium_fraction`` (default 1/3) of the expert's final return, sampled likewise.
* ``medium-replay``: the run's replay buffer up to the medium snapshot's env step count,
  read from its newest checkpoint (``--num_transitions`` does not apply).
* ``medium-expert``: medium followed by expert, ``2 x --num_transitions`` rows, each half
  identical to the medium / expert dataset of the same ``--seed``.
* ``diverse`` (``--env_id antmaze-<maze>``): D4RL's ``antmaze-<maze>-diverse`` recipe
  (``envs_jax.offline.navigation``): the final policy of a SAC run on ``ant-goal`` (or a
  shipped one), deterministic plus ``N(0, 0.2^2)`` action noise, steered through the
  waypoints of a breadth-first planner over the maze; random start cells, a new random
  goal cell whenever one is reached, 1000-step episodes (``timeouts``), the sparse
  AntMaze reward and ``infos/goal``. Its ``policy_return`` is goals reached per episode.

Rollouts run on the device: ``--num_envs`` vmapped envs inside one compiled
``lax.scan`` (``envs_jax.offline.collect``). Output, in ``--out_dir``: ``<name>.hdf5``
(D4RL layout: observations, actions, rewards, terminals, timeouts, next_observations,
infos/qpos, infos/qvel on MJX tasks, infos/action_log_probs, metadata/*) and/or
``<name>/`` (Minari layout). The metadata holds the policy's provenance and return, the
command, seed, package versions and ``data_sha256``; one command with one seed writes the
same arrays and hash again.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import time
from typing import Literal

import jax
import numpy as np

import envs_jax
from envs_jax.offline import collect as C
from envs_jax.offline import navigation as nav
from envs_jax.offline.scores import normalized_score
from envs_jax.offline.specs import env_family
from envs_jax.policy import episode_limit
from purerl.cli import common
from purerl.cli import sac as sac_cli
from purerl.cli import sac_policies as P
from purerl.common import logging as lg
from purerl.config import check_fields, require

PROG = "purerl-datagen"
ANTMAZE_IDS = ("antmaze-umaze", "antmaze-medium", "antmaze-large")
GOAL_ENV_ID = "ant-goal"
"""The env AntMaze's goal-reaching policy is trained on (``purerl-sac --env_id ant-goal``)."""
ANTMAZE_DATA_ENV = {"episode_length": nav.EPISODE_STEPS, "terminate_at_goal": False}
"""``envs_jax.make`` kwargs of the AntMaze that D4RL's generation script ran."""
DATASETS = ("random", "medium", "expert", "medium-replay", "medium-expert", "diverse")
DATASET_KEYS = {"random": 0, "medium": 1, "expert": 2, "diverse": 3}
"""``fold_in(PRNGKey(seed), k)``: each policy's rollouts have a key of their own, so the
halves of medium-expert equal the medium and expert datasets of the same seed."""


@dataclasses.dataclass(frozen=True)
class Args:
    """Generate one D4RL-format dataset (module docstring). Booleans take --flag / --no_flag."""

    dataset: Literal["random", "medium", "expert", "medium-replay", "medium-expert",
                     "diverse"] = "medium"
    """Which D4RL dataset to write (diverse: AntMaze, with --env_id antmaze-<maze>)."""
    run: str | None = None
    """A purerl-sac run directory (trained with --policy_snapshots for medium and
    medium-replay) to take the policies from."""
    run_index: int = 0
    """Which run of the run's sweep (grid point x seed, grid-major: g * num_seeds + s)."""
    medium_fraction: float = 1 / 3
    """medium = the snapshot whose evaluation return is nearest this fraction of the
    expert's final return (D4RL: about one third)."""
    policy: str | None = None
    """A shipped policy (purerl/policies/<NAME>/) or a policy directory written by
    --export_policy, instead of --run (medium / expert; the medium half of medium-expert)."""
    expert_policy: str | None = None
    """With --policy and --dataset medium-expert: the expert half's policy."""
    env_id: str | None = None
    """The env, for --dataset random without --run / --policy (an envs_jax.make id)."""
    num_transitions: int = 1_000_000
    """Rows per collected dataset (medium-expert has twice as many; not for medium-replay)."""
    num_envs: int = 100
    """Envs stepped side by side (vmapped) during collection."""
    chunk_steps: int = 1000
    """Steps of the num_envs envs per compiled call (bounds device memory). Each chunk has
    its own key, so the rows depend on it: keep it (and num_envs) to reproduce a file."""
    seed: int = 0
    """PRNG seed of the rollouts."""
    out_dir: str = "datasets"
    """Directory the dataset files are written to (created)."""
    name: str | None = None
    """File / directory name (default <env_id>-<dataset>-purerl-v0)."""
    format: Literal["d4rl", "minari", "both"] = "both"
    """d4rl: <name>.hdf5; minari: <name>/ (Minari layout); both."""
    overwrite: bool = False
    """Replace existing output of the same name (else refused)."""
    export_policy: str | None = None
    """DIR: instead of collecting, export --run's medium or expert policy (--dataset) into
    DIR (e.g. purerl/policies/hopper_medium) with its provenance."""

    def __post_init__(self):
        check_fields(self)
        require(self.run is None or self.policy is None, "policy",
                "either --run or --policy, not both", self.policy)
        for field in ("num_transitions", "num_envs", "chunk_steps"):
            value = getattr(self, field)
            require(isinstance(value, int) and value >= 1, field, "an int >= 1", value)
        require(self.num_envs <= self.num_transitions, "num_envs",
                f"at most num_transitions={self.num_transitions}", self.num_envs)
        require(0.0 < self.medium_fraction < 1.0, "medium_fraction", "a number in (0, 1)",
                self.medium_fraction)
        require(self.run_index >= 0, "run_index", "an int >= 0", self.run_index)
        if self.dataset == "random":
            require(self.run or self.policy or self.env_id, "env_id",
                    "an env id (or --run / --policy) for --dataset random", None)
        elif self.dataset == "medium-replay":
            require(self.run is not None, "run", "a purerl-sac run directory for "
                    "--dataset medium-replay (its replay buffer)", None)
        else:
            require(self.run is not None or self.policy is not None, "run",
                    f"a purerl-sac run directory or --policy NAME for --dataset {self.dataset}",
                    None)
        if self.dataset == "diverse":
            require(self.env_id in ANTMAZE_IDS, "env_id",
                    f"one of {ANTMAZE_IDS} for --dataset diverse", self.env_id)
        if self.dataset == "medium-expert" and self.policy is not None:
            require(self.expert_policy is not None, "expert_policy",
                    "the expert half's policy beside --policy for --dataset medium-expert",
                    None)
        if self.expert_policy is not None:
            require(self.dataset == "medium-expert" and self.policy is not None,
                    "expert_policy", "only with --policy and --dataset medium-expert",
                    self.expert_policy)
        if self.export_policy is not None:
            require(self.run is not None and self.dataset in P.ROLES, "export_policy",
                    "--run DIR with --dataset medium or expert (the policy to export)",
                    f"--dataset {self.dataset}" + ("" if self.run else " without --run"))
        if self.name is not None:
            require(self.name != "" and os.sep not in self.name, "name",
                    "a plain file name", self.name)
        if self.env_id is not None:
            known = envs_jax.registered_envs()
            require(self.env_id in known or self.env_id.startswith("gymnax/"), "env_id",
                    f"one of {known} or 'gymnax/<ID>'", self.env_id)


def _policy(args: Args, role: str) -> P.SacPolicy:
    if args.run is not None:
        return P.from_run(args.run, args.run_index, role, args.medium_fraction)
    return P.load(args.expert_policy if role == "expert" and args.expert_policy
                  else args.policy)


def _sac_config(args: Args) -> dict | None:
    """The SAC config the env comes from (run or shipped policy), or None."""
    if args.run is not None:
        return P.open_run(args.run).config
    if args.policy is not None:
        return P.load(args.policy).config
    return None


def output_paths(args: Args, env_id: str) -> tuple[str | None, str | None, str]:
    """``(d4rl file or None, minari dir or None, name)``.

    Raises:
        FileExistsError: an output exists and ``--overwrite`` is off.
    """
    name = args.name or f"{env_id.replace('/', '_')}-{args.dataset}-purerl-v0"
    d4rl = os.path.join(args.out_dir, f"{name}.hdf5") if args.format != "minari" else None
    minari = os.path.join(args.out_dir, name) if args.format != "d4rl" else None
    for path in (d4rl, minari):
        if path is not None and os.path.exists(path) and not args.overwrite:
            raise FileExistsError(f"out_dir: {path} exists; pass --overwrite to replace it "
                                  "or --name to write another")
    return d4rl, minari, name


def _progress(label: str):
    start = time.monotonic()

    def show(done: int, total: int) -> None:
        rate = done / max(time.monotonic() - start, 1e-9)
        print(f"  {label}: {done:,}/{total:,} transitions ({rate:,.0f}/s incl. compile)",
              flush=True)
    return show


def collect_policy(args: Args, env, env_params, role: str) -> tuple[dict, dict]:
    """``(rows, provenance)`` of ``num_transitions`` steps of ``role``'s policy."""
    key = jax.random.fold_in(jax.random.PRNGKey(args.seed), DATASET_KEYS[role])
    if role == "random":
        policy, provenance = C.uniform_policy(env.action_space(env_params)), {"role": "random"}
    else:
        sac_policy = _policy(args, role)
        setup = sac_cli.build_setup(sac_cli.args_from_config(sac_policy.config))
        policy, provenance = P.behaviour_policy(sac_policy, setup), sac_policy.provenance
    print(f"collecting {args.num_transitions:,} {role} transitions: {args.num_envs} envs x "
          f"{-(-args.num_transitions // args.num_envs)} steps, {args.chunk_steps} steps per "
          "compiled call", flush=True)
    rows = C.collect(env, env_params, policy, key, args.num_transitions, args.num_envs,
                     args.chunk_steps, progress=_progress(role))
    return rows, provenance


BEHAVIOUR = {
    "random": "uniform actions in the action box",
    "medium-replay": "the SAC run's replay buffer",
    "diverse": ("the deterministic action of a SAC ant-goal policy + N(0, 0.2^2) noise, "
                "steered through BFS-planner waypoints (D4RL's antmaze diverse recipe)"),
}
"""metadata ``behaviour`` of the datasets not sampled from a SAC policy."""


def collect_antmaze(args: Args, base, params) -> tuple[dict, dict]:
    """``(rows, provenance)``: D4RL's ``antmaze-<maze>-diverse`` recipe
    (``envs_jax.offline.navigation``) on ``base`` (an ``AntMaze`` made with
    ``ANTMAZE_DATA_ENV``) with the run's / shipped ``ant-goal`` policy."""
    maze, env_id = base.maze, base.name
    sac_policy = _policy(args, "expert")
    setup = sac_cli.build_setup(sac_cli.args_from_config(sac_policy.config))
    policy = nav.navigation_policy(P.mean_action(sac_policy, setup), maze)
    key = jax.random.fold_in(jax.random.PRNGKey(args.seed), DATASET_KEYS["diverse"])
    print(f"collecting {args.num_transitions:,} {env_id} diverse transitions: {args.num_envs} "
          f"envs x {-(-args.num_transitions // args.num_envs)} steps, {args.chunk_steps} steps "
          "per compiled call", flush=True)
    rows = C.collect(nav.MazeNavigation(base, multi_start=True), params, policy, key,
                     args.num_transitions, args.num_envs, args.chunk_steps,
                     progress=_progress("diverse"))
    return nav.split_goal(rows), {**sac_policy.provenance, "role": "goal-reaching"}


def _score(env_id: str, value: float) -> float | None:
    try:
        env_family(env_id)
    except ValueError:
        return None
    return float(normalized_score(env_id, value)) if np.isfinite(value) else None


def run(args: Args, argv: list[str]) -> dict:
    """Write the dataset (or export the policy) that ``args`` asks for; returns the
    metadata written (or the export's provenance).

    Raises:
        ValueError, FileExistsError, RunDirError: the user's to fix (one line each).
    """
    command = shlex.join([PROG, *argv])
    if args.export_policy is not None:
        policy = P.from_run(args.run, args.run_index, args.dataset, args.medium_fraction)
        path = P.export(policy, args.export_policy, command)
        print(f"exported the {args.dataset} policy of {args.run} (run {args.run_index}, "
              f"update {policy.provenance['update']}, evaluation return "
              f"{policy.provenance['eval_return']:.1f}) to {path}")
        return policy.provenance
    config = _sac_config(args)
    env_id = args.env_id or config["env_id"]
    if args.dataset == "diverse":
        require(config["env_id"] == GOAL_ENV_ID, "policy",
                f"a SAC policy trained on {GOAL_ENV_ID!r} for --dataset diverse",
                f"one trained on {config['env_id']!r}")
    else:
        require(config is None or env_id == config["env_id"], "env_id",
                f"the policy's env {config and config['env_id']!r} (or leave it out)", env_id)
    env, env_params = envs_jax.make(env_id, **(ANTMAZE_DATA_ENV if args.dataset == "diverse"
                                                else {}))
    d4rl_path, minari_dir, _ = output_paths(args, env_id)
    if args.dataset == "diverse":
        data, provenance = collect_antmaze(args, env, env_params)
    elif args.dataset == "medium-replay":
        medium = P.from_run(args.run, args.run_index, "medium", args.medium_fraction)
        print(f"medium-replay: the replay buffer of run {args.run_index} of {args.run} up to "
              f"update {medium.provenance['update']} ({medium.provenance['env_steps']:,} env "
              "steps)", flush=True)
        data, ckpt = P.replay_rows(args.run, args.run_index, medium.provenance["update"])
        provenance = {**medium.provenance, "role": "medium-replay", "checkpoint_update": ckpt}
    elif args.dataset == "medium-expert":
        medium, prov_m = collect_policy(args, env, env_params, "medium")
        expert, prov_e = collect_policy(args, env, env_params, "expert")
        data, provenance = C.concatenate(medium, expert), {"medium": prov_m, "expert": prov_e}
    else:
        data, provenance = collect_policy(args, env, env_params, args.dataset)
    time_limit = episode_limit(env, env_params)
    returns = C.episode_returns(data, time_limit)
    # AntMaze's normalised score is a success rate, not goals reached per episode
    score = (_score(env_id, float(returns.mean()))
             if returns.size and args.dataset != "diverse" else None)
    if args.overwrite:
        _remove(d4rl_path, minari_dir)
    os.makedirs(args.out_dir, exist_ok=True)
    meta = C.write_dataset(
        data, env, env_params, d4rl_path=d4rl_path, minari_dir=minari_dir,
        dataset_id=f"purerl/{env_id.replace('/', '_')}/{args.dataset}-v0", seed=args.seed,
        time_limit=time_limit,
        metadata={"dataset": args.dataset, "env_id": env_id, "command": command,
                  "seed": args.seed, "time_limit": time_limit,
                  **({"num_envs": config["num_envs"]} if args.dataset == "medium-replay" else
                     {"num_envs": args.num_envs, "chunk_steps": args.chunk_steps}),
                  "behaviour": BEHAVIOUR.get(args.dataset,
                                             "actions sampled from the SAC tanh-Gaussian policy"),
                  "policy": provenance, "versions": lg.package_versions(),
                  "policy_normalized_score": float("nan") if score is None else score,
                  "backend": jax.default_backend()})
    print(f"wrote {meta['num_transitions']:,} transitions, {meta['num_episodes']} finished "
          f"episodes, mean return {meta['policy_return']:.2f}"
          + (f" (D4RL-normalised {score:.1f})" if score is not None else "")
          + f"; sha256 {meta['data_sha256'][:16]}...")
    for path in (d4rl_path, minari_dir):
        if path is not None:
            print(f"  {path}")
    return meta


def _remove(*paths: str | None) -> None:
    import shutil

    for path in paths:
        if path is None or not os.path.exists(path):
            continue
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def parse(argv: list[str]) -> tuple[Args, None]:
    """``(args, None)``: the flags checked, nothing read or written (the ``None`` keeps
    the shape of the training commands' ``parse``, which return a run to resume).

    Raises:
        UsageError: the parser rejected ``argv``.
        ValueError: a bad flag value.
    """
    return common.parse_flags(Args, common.normalize_bool_flags(argv, Args), prog=PROG,
                              description=__doc__.replace("``", "")), None


def main(argv: list[str] | None = None) -> dict:
    """CLI: ``purerl-datagen [--flags]`` (``python -m purerl.cli.datagen``); raises on errors."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run(parse(argv)[0], argv)


def cli() -> None:
    """Console script ``purerl-datagen``: user errors as one line, exit 2 (``--debug``:
    traceback)."""
    common.run_cli(main, prog=PROG, multihost=False)


if __name__ == "__main__":
    cli()
