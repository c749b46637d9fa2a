"""SAC behaviour policies for ``purerl-datagen``: read from a ``purerl-sac`` run directory or
from a shipped policy, exported with their provenance, acted with sampled actions.

D4RL's v2 recipe (Fu et al. 2020, section 4 and appendix C; ``d4rl`` dataset cards):
*expert* is a policy trained to completion by SAC, *medium* a snapshot of the same training
at about one third of the expert's return, and both act with actions SAMPLED from their
stochastic policy. A ``purerl-sac --policy_snapshots`` run directory holds all of it:

* ``params/``: the final params of every run of the sweep, leading axis ``[B]``;
* ``policy_snapshots/update_<U:08d>/``: every run's actor (and observation statistics) at
  every segment end, and ``policy_snapshots/index.json``: ``[{"update", "env_steps" (per
  run), "score": [B]}]``, ``score`` being that segment's last deterministic evaluation;
* ``checkpoints/<U>/``: the full training state, replay buffer included (read by
  ``replay_rows`` for medium-replay).

A shipped policy is a directory (``purerl/policies/<name>/`` in the package, or any path)
with ``config.json`` (the SAC run's config: it rebuilds the actor), ``params.npz`` (one
run's actor params, and ``obs_stats/*`` when the run normalised observations) and
``provenance.json`` (training command, seed, return, source run, date, versions).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.offline.collect import stream_ends, with_log_probs
from envs_jax.policy import Policy
from purerl.algos import sac_online
from purerl.cli import sac as sac_cli
from purerl.common import logging as lg
from purerl.common import running_stats as rs
from purerl.common.distributions import tanh_gaussian
from purerl.common.run_dir import RunDir, RunDirError

PACKAGE_POLICIES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "policies")
"""Where shipped policies live: ``purerl/policies/<name>/``."""
ROLES = ("medium", "expert")


class SacPolicy(NamedTuple):
    """One run's SAC actor and what it takes to rebuild and act with it.

    Attributes:
        config: the ``purerl-sac`` run's config dict (``config.json``).
        actor: the actor's params (flax dict, no run axis).
        obs_stats: ``{"mean", "var", "count"}`` of the run's observation normalisation,
            or None.
        provenance: where the params come from (see ``export``).
    """

    config: dict
    actor: Any
    obs_stats: dict | None
    provenance: dict


def _read_json(path: str, what: str) -> Any:
    if not os.path.exists(path):
        raise RunDirError(f"{path}: missing ({what})")
    with open(path) as f:
        return json.load(f)


def _restore(path: str) -> dict:
    """An orbax params directory as numpy arrays (read only)."""
    import orbax.checkpoint as ocp

    return jax.device_get(ocp.StandardCheckpointer().restore(os.path.abspath(path)))


def _run_slice(tree: Any, run_index: int) -> Any:
    return jax.tree.map(lambda x: np.asarray(x)[run_index], tree)


def check_run_index(rd: RunDir, run_index: int) -> int:
    """``run_index`` if the run has it; B = grid points x seeds.

    Raises:
        ValueError: ``run_index`` outside ``[0, B)``.
    """
    from purerl.common import sweep as sw

    args = sac_cli.args_from_config(rd.config)
    num_runs = len(sw.grid_points(args.grid())) * args.num_seeds
    if not 0 <= run_index < num_runs:
        raise ValueError(f"run_index: expected an int in [0, {num_runs}) (the runs of "
                         f"{rd.path}: grid points x seeds), got {run_index!r}")
    return run_index


def open_run(path: str) -> RunDir:
    """A ``purerl-sac`` run directory.

    Raises:
        RunDirError: no config.json, or the run is not a SAC run.
    """
    rd = RunDir.load(path)
    if rd.config.get("algo") != "sac":
        raise RunDirError(f"run: expected a purerl-sac run directory, got {path} "
                          f"(algo {rd.config.get('algo')!r})")
    return rd


def snapshot_index(rd: RunDir) -> list[dict]:
    """``policy_snapshots/index.json`` of a run, oldest first.

    Raises:
        RunDirError: the run kept no snapshots.
    """
    path = os.path.join(rd.path, "policy_snapshots", "index.json")
    if not os.path.exists(path):
        raise RunDirError(f"run: {rd.path} has no policy snapshots (policy_snapshots/"
                          "index.json); medium and medium-replay need a run trained with "
                          "purerl-sac --policy_snapshots")
    return _read_json(path, "snapshot index")


def expert_return(rd: RunDir, run_index: int) -> float:
    """The final deterministic evaluation return of run ``run_index`` (``summary.json``).

    Raises:
        RunDirError: the run has not finished, or recorded no evaluation.
    """
    if not rd.finished:
        raise RunDirError(f"run: {rd.path} has not finished (no summary.json): the expert "
                          "is its final policy; resume it with purerl-sac --resume first")
    num_seeds = int(rd.config["num_seeds"])
    grid = rd.read_summary()["grid"]
    value = grid[run_index // num_seeds]["eval_return_per_seed"][run_index % num_seeds]
    if value is None:
        raise RunDirError(f"run: {rd.path} recorded no evaluation return for run "
                          f"{run_index} (train with --eval_every > 0)")
    return float(value)


def select_medium(index: list[dict], run_index: int, target: float, final_update: int
                  ) -> dict:
    """The snapshot of run ``run_index`` whose score is nearest ``target``.

    Candidates are the snapshots before the final update with a finite score; on a tie
    the earliest wins.

    Raises:
        RunDirError: no candidate.
    """
    candidates = [e for e in index if e["update"] < final_update
                  and e["score"][run_index] is not None]
    if not candidates:
        raise RunDirError("run: no policy snapshot with an evaluation score before the final "
                          f"update {final_update} to serve as the medium policy")
    return min(candidates, key=lambda e: (abs(e["score"][run_index] - target), e["update"]))


def from_run(path: str, run_index: int, role: str, medium_fraction: float = 1 / 3
             ) -> SacPolicy:
    """The expert (final params) or medium (snapshot nearest ``medium_fraction`` of the
    expert's final return, as D4RL's medium) policy of one run of a SAC sweep.

    Raises:
        RunDirError: not a finished SAC run; no params or snapshots.
        ValueError: a bad ``run_index`` or ``role``.
    """
    if role not in ROLES:
        raise ValueError(f"role: expected one of {ROLES}, got {role!r}")
    rd = open_run(path)
    check_run_index(rd, run_index)
    final = expert_return(rd, run_index)
    num_updates = int(rd.config["num_updates"])
    provenance = {
        "role": role, "env_id": rd.config["env_id"], "source_run": os.path.abspath(rd.path),
        "run_index": run_index, "seed": int(rd.config["seed"]),
        "seed_index": run_index % int(rd.config["num_seeds"]),
        "training_command": sac_cli.command_from_config(rd.config),
        "expert_return": final,
    }
    if role == "expert":
        params = _restore(os.path.join(rd.path, "params"))
        provenance.update(update=num_updates, env_steps=num_updates * int(rd.config["num_envs"]),
                          eval_return=final)
    else:
        entry = select_medium(snapshot_index(rd), run_index, medium_fraction * final,
                              num_updates)
        params = _restore(os.path.join(rd.path, "policy_snapshots",
                                       f"update_{entry['update']:08d}"))
        provenance.update(update=entry["update"], env_steps=entry["env_steps"],
                          eval_return=entry["score"][run_index],
                          medium_fraction=medium_fraction)
    params = _run_slice(params, run_index)
    return SacPolicy(rd.config, params["actor"], params.get("obs_stats"), provenance)


def shipped_path(name: str) -> str:
    """The directory of a shipped policy: ``name`` itself if it is a directory, else
    ``purerl/policies/<name>/``.

    Raises:
        ValueError: neither exists (the message lists the shipped names).
    """
    if os.path.isdir(name):
        return name
    path = os.path.join(PACKAGE_POLICIES, name)
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "params.npz")):
        return path
    shipped = sorted(d for d in (os.listdir(PACKAGE_POLICIES) if os.path.isdir(
        PACKAGE_POLICIES) else []) if os.path.exists(os.path.join(PACKAGE_POLICIES, d,
                                                                  "params.npz")))
    names = ", ".join(shipped) or "none shipped yet"
    raise ValueError(f"policy: expected a shipped policy name ({names}) or a policy "
                     f"directory, got {name!r}")


def load(name: str) -> SacPolicy:
    """A shipped (or exported) policy by name or directory (see ``shipped_path``).

    Raises:
        ValueError: no such policy.
        RunDirError: its directory lacks config.json / provenance.json.
    """
    from flax import traverse_util

    path = shipped_path(name)
    config = _read_json(os.path.join(path, "config.json"), "the SAC run's config")
    provenance = _read_json(os.path.join(path, "provenance.json"), "provenance")
    with np.load(os.path.join(path, "params.npz")) as f:
        flat = {k: f[k] for k in f.files}
    tree = traverse_util.unflatten_dict(flat, sep="/")
    return SacPolicy(config, tree["actor"], tree.get("obs_stats"), provenance)


def export(policy: SacPolicy, path: str, command: str) -> str:
    """Write ``policy`` as a shipped policy directory (module docstring).

    ``provenance.json`` gets the policy's provenance plus ``exported_at`` (UTC),
    ``export_command`` and the package versions.

    Returns:
        ``path``.

    Raises:
        FileExistsError: ``path`` holds a policy already.
    """
    from flax import traverse_util

    if os.path.exists(os.path.join(path, "params.npz")):
        raise FileExistsError(f"export_policy: {path} holds a policy already; pick another "
                              "directory or delete it")
    os.makedirs(path, exist_ok=True)
    tree = {"actor": policy.actor, **({"obs_stats": policy.obs_stats}
                                      if policy.obs_stats is not None else {})}
    flat = traverse_util.flatten_dict(jax.device_get(tree), sep="/")
    np.savez(os.path.join(path, "params.npz"), **{k: np.asarray(v) for k, v in flat.items()})
    lg.write_json(os.path.join(path, "config.json"), policy.config)
    lg.write_json(os.path.join(path, "provenance.json"), {
        **policy.provenance, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "export_command": command, "versions": lg.package_versions()})
    return path


def _actor(policy: SacPolicy, setup: sac_cli.Setup):
    """``(dist_params(obs) -> (loc, scale), low, high)`` of the policy's actor, with the
    run's observation normaliser applied (``obs [N, obs_dim]``)."""
    low, high = sac_online.check_action_space(setup.env.action_space(setup.env_params))
    actor = setup.parts.learner.actor
    stats = None if policy.obs_stats is None else rs.RunningStats(
        **{k: jnp.asarray(v) for k, v in policy.obs_stats.items()})
    params = jax.tree.map(jnp.asarray, policy.actor)

    def dist_params(obs):
        return actor.apply(params, obs if stats is None else rs.normalize(stats, obs))

    return dist_params, low, high


def behaviour_policy(policy: SacPolicy, setup: sac_cli.Setup) -> Policy:
    """The policy that collects the data: ``a = rescale(tanh(u))``, ``u ~ N(loc, scale)``
    sampled (``sac_online``'s acting distribution, as D4RL samples its SAC policies), with
    ``action_log_probs`` = log-density of the env action: the tanh-Gaussian's (Haarnoja
    et al. 2018, appendix C) minus ``sum_i log((high_i - low_i) / 2)`` of the rescaling.

    Args:
        policy: the params.
        setup: ``purerl.cli.sac.build_setup`` of the policy's config (env and actor).
    """
    dist_params, low, high = _actor(policy, setup)
    log_jacobian = float(np.sum(np.log((high - low) / 2.0)))

    def act(key, obs):
        action, log_prob = tanh_gaussian(*dist_params(obs)).sample_and_log_prob(seed=key)
        return sac_online.rescale_action(action, low, high), log_prob - log_jacobian

    return with_log_probs(act)


def mean_action(policy: SacPolicy, setup: sac_cli.Setup):
    """``(key, obs [N, obs_dim]) -> action [N, A]``: the deterministic action
    ``rescale(tanh(loc))`` (the key is unused; rlkit's ``MakeDeterministic``, which D4RL's
    AntMaze generation drove)."""
    dist_params, low, high = _actor(policy, setup)

    def act(key, obs):
        del key
        return sac_online.rescale_action(jnp.tanh(dist_params(obs)[0]), low, high)

    return act


def _restore_buffer(step_dir: str) -> dict:
    """``{"buffer", "update_idx"}`` of one checkpoint step, as numpy, read only (orbax
    partial restore of the ``state`` item; the rest of the training state is skipped)."""
    import orbax.checkpoint as ocp
    from etils import epath

    path = epath.Path(os.path.abspath(os.path.join(step_dir, "state")))
    tree = ocp.PyTreeCheckpointHandler().metadata(path).tree
    item = {"buffer": tree["buffer"], "update_idx": tree["update_idx"]}
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), item)
    try:
        restore = ocp.args.PyTreeRestore(item=item, restore_args=restore_args,
                                         partial_restore=True)
    except TypeError:                   # orbax < 0.12 has no partial restore: read it all
        full = ocp.PyTreeCheckpointer().restore(path)
        return {"buffer": jax.device_get(full["buffer"]),
                "update_idx": np.asarray(full["update_idx"])}
    return ocp.PyTreeCheckpointer().restore(path, args=restore)


def replay_rows(path: str, run_index: int, updates: int) -> tuple[dict[str, np.ndarray], int]:
    """Run ``run_index``'s replay buffer for its first ``updates`` updates, as D4RL rows.

    D4RL's medium-replay is every transition the SAC learner stored until its policy
    reached the medium level, uniform warm-up actions included. Our buffer holds, per
    update, one step of each of the N envs (row ``u * N + i`` is env ``i``'s step ``u``);
    the rows are de-interleaved into one stream per env, env after env, each stream's
    unfinished last episode flagged with ``timeouts`` (``collect.stream_ends``). Actions
    are rescaled from the buffer's ``[-1, 1]`` to the env's box. The buffer holds no
    physics state or log-probabilities, so there are no ``infos/*``.

    Args:
        path: the SAC run directory.
        run_index: which run of the sweep.
        updates: rows of the first ``updates`` updates (``updates x N`` rows).

    Returns:
        ``(rows, checkpoint update read)``.

    Raises:
        RunDirError: no readable checkpoint at or after ``updates``; the buffer wrapped
            around before the checkpoint (the oldest rows were overwritten).
    """
    rd = open_run(path)
    check_run_index(rd, run_index)
    args = sac_cli.args_from_config(rd.config)
    root = os.path.join(rd.path, "checkpoints")
    steps = sorted((int(d) for d in (os.listdir(root) if os.path.isdir(root) else [])
                    if d.isdigit()), reverse=True)
    if not steps:
        raise RunDirError(f"run: {rd.path} has no checkpoint (checkpoints/<update>/) to read "
                          "the replay buffer from")
    newest, state = None, None
    for step in steps:
        try:
            state = _restore_buffer(os.path.join(root, str(step)))
        except Exception as err:  # noqa: BLE001 (orbax/tensorstore raise many types)
            warnings.warn(f"checkpoint {step} of {rd.path} is unreadable "
                          f"({str(err).splitlines()[0][:200]}); trying an older one",
                          stacklevel=2)
            continue
        newest = step
        break
    if state is None:
        raise RunDirError(f"run: no readable checkpoint in {root}")
    if newest < updates:
        raise RunDirError(f"run: the newest checkpoint of {rd.path} is at update {newest}, "
                          f"before the medium snapshot's update {updates}: its replay "
                          "buffer does not reach the medium policy")
    n, capacity = args.num_envs, args.replay_buffer_size
    buffer = state["buffer"]
    written = int(state["update_idx"][run_index]) * n
    if bool(buffer["is_full"][run_index]) or written > capacity:
        raise RunDirError(
            f"run: the replay buffer of run {run_index} has wrapped (capacity {capacity} "
            f"transitions, {written} written by update {newest}): the rows before env step "
            f"{updates * n} were overwritten; medium-replay needs --replay_buffer_size >= "
            f"the run's env steps up to the checkpoint")
    exp = {k: np.asarray(v[run_index, 0, :updates * n]) for k, v in buffer["experience"].items()}
    setup = sac_cli.build_setup(args)
    low, high = sac_online.check_action_space(setup.env.action_space(setup.env_params))
    rows = {}
    for key, value in exp.items():                           # [U * N, ...] -> env-major
        rows[key] = np.swapaxes(value.reshape(updates, n, *value.shape[1:]), 0, 1).reshape(
            value.shape)
    rows["actions"] = np.asarray(sac_online.rescale_action(rows["actions"], low, high),
                                 np.float32)
    rows["terminals"] = rows["terminals"].astype(bool)
    rows["timeouts"] = stream_ends(rows["terminals"],
                                   rows["timeouts"].astype(bool) & ~rows["terminals"],
                                   np.arange(0, updates * n, updates))
    order = ("observations", "actions", "rewards", "terminals", "timeouts",
             "next_observations")
    return {k: rows[k] for k in order}, newest
