"""Minari datasets on disk: read, validate, write (Farama Minari's HDF5 storage).

Layout (Minari >= 0.5, ``minari/dataset/minari_storage.py`` and ``_storages/hdf5_storage.py``)::

    <dataset_dir>/data/metadata.json     # total_episodes, total_steps, data_format "hdf5",
                                         # observation_space / action_space (JSON strings),
                                         # dataset_id, minari_version, ...
    <dataset_dir>/data/main_data.hdf5    # one group per episode:
        episode_<i>/  attrs: id, total_steps[, seed]
            observations  [T + 1, obs_dim]   # includes the observation after the last step
            actions       [T, act_dim]
            rewards       [T]
            terminations  [T] bool
            truncations   [T] bool
            infos/        per-key datasets (optional)

Older Minari (< 0.5) kept the same metadata as attributes of the HDF5 root instead of
``metadata.json``; both are read. Dict observation spaces (the ``D4RL/antmaze`` and
``pointmaze`` datasets: ``observation``, ``achieved_goal``, ``desired_goal``) store
``observations`` as a group; its ``observation`` member is used.

Because every episode carries its final observation, a truncated step keeps a true next
state: such transitions are kept with ``timeouts = True`` (unlike D4RL's
``qlearning_dataset``, which must drop them).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import warnings
from collections.abc import Mapping, Sequence

import h5py
import jax
import numpy as np

from envs_jax import spaces
from envs_jax.offline import validate as V
from envs_jax.offline.d4rl import antmaze_reward_remap
from envs_jax.offline.dataset import OfflineDataset, from_numpy
from envs_jax.offline.specs import DatasetSpec, env_family, spec_for

MAIN_FILE = "main_data.hdf5"
METADATA_FILE = "metadata.json"
EPISODE_KEYS = ("observations", "actions", "rewards", "terminations", "truncations")
_EPISODE_RE = re.compile(r"episode_(\d+)")


def serialize_box(space: spaces.Box) -> str:
    """A ``Box`` as Minari's JSON space string (``minari.serialization.serialize_space``)."""
    return json.dumps(
        {
            "type": "Box",
            "dtype": str(space.dtype),
            "shape": list(space.shape),
            "low": space.low.astype(space.dtype).tolist(),
            "high": space.high.astype(space.dtype).tolist(),
        }
    )


def deserialize_box(text: str | Mapping, source: str, key: str) -> spaces.Box:
    """Minari's JSON space string of a ``Box`` back to ``spaces.Box``.

    Raises:
        DatasetError: if it is not valid JSON or not a Box.
    """
    try:
        d = json.loads(text) if isinstance(text, (str, bytes)) else dict(text)
        if d["type"] != "Box":
            V.fail(source, key, f"expected a Box space, got type {d['type']!r}")
        return spaces.Box(
            np.asarray(d["low"], np.float64),
            np.asarray(d["high"], np.float64),
            tuple(d["shape"]),
            d["dtype"],
        )
    except (ValueError, KeyError, TypeError) as err:
        if isinstance(err, V.DatasetError):
            raise
        V.fail(source, key, f"unreadable space description: {err}")


def _data_dir(path: str | os.PathLike) -> pathlib.Path:
    """Accepts the dataset dir, its ``data/`` dir, or ``main_data.hdf5`` itself."""
    path = pathlib.Path(path)
    for candidate in (path / "data", path, path.parent):
        if (candidate / MAIN_FILE).is_file():
            return candidate
    raise FileNotFoundError(f"{path}: no {MAIN_FILE} in it, in {path / 'data'} or beside it")


def write_minari(
    dataset_dir: str | os.PathLike,
    episodes: Sequence[Mapping[str, np.ndarray]],
    observation_space: spaces.Box,
    action_space: spaces.Box,
    dataset_id: str,
    *,
    extra_metadata: Mapping[str, object] | None = None,
    metadata_in_json: bool = True,
) -> pathlib.Path:
    """Writes episodes in Minari's on-disk layout (see the module docstring).

    Args:
        dataset_dir: ``<root>/<dataset_id>``; ``data/`` is created inside (must not hold a
            dataset already).
        episodes: each with ``observations [T+1, obs_dim]``, ``actions [T, act_dim]``,
            ``rewards [T]``, ``terminations [T]``, ``truncations [T]``, optional ``seed``
            (int) and ``infos`` (``{key: [T+1, ...]}``). Written as given, no checks, so
            tests can write malformed files.
        observation_space: the env's observation ``Box``.
        action_space: the env's action ``Box``.
        dataset_id: e.g. ``"purerl/target-random-v0"``.
        extra_metadata: merged into the metadata (e.g. ``algorithm_name``).
        metadata_in_json: False writes the metadata as root HDF5 attributes, as Minari
            < 0.5 did, and no ``metadata.json``.

    Returns:
        The ``data/`` directory.

    Raises:
        FileExistsError: if a dataset already exists there.
    """
    data_dir = pathlib.Path(dataset_dir) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    if (data_dir / MAIN_FILE).exists() or (data_dir / METADATA_FILE).exists():
        raise FileExistsError(f"{data_dir}: a Minari dataset already exists here")
    total_steps = 0
    with h5py.File(data_dir / MAIN_FILE, "w", track_order=True) as handle:
        for i, ep in enumerate(episodes):
            group = handle.create_group(f"episode_{i}")
            steps = int(np.asarray(ep["rewards"]).shape[0])
            total_steps += steps
            group.attrs["id"] = i
            group.attrs["total_steps"] = steps
            if ep.get("seed") is not None:
                group.attrs["seed"] = int(ep["seed"])
            for key in EPISODE_KEYS:
                if key in ep:
                    group.create_dataset(key, data=np.asarray(ep[key]))
            infos = group.create_group("infos")
            for key, value in (ep.get("infos") or {}).items():
                infos.create_dataset(key, data=np.asarray(value))
        metadata = {
            "dataset_id": dataset_id,
            "total_episodes": len(episodes),
            "total_steps": total_steps,
            "data_format": "hdf5",
            "observation_space": serialize_box(observation_space),
            "action_space": serialize_box(action_space),
            "minari_version": "0.5.3",
            **(extra_metadata or {}),
        }
        if not metadata_in_json:
            handle.attrs.update({k: v for k, v in metadata.items() if k != "data_format"})
    if metadata_in_json:
        (data_dir / METADATA_FILE).write_text(json.dumps(metadata))
    return data_dir


def read_minari_metadata(path: str | os.PathLike) -> dict:
    """Dataset metadata from ``metadata.json``, or the HDF5 root attributes (Minari < 0.5).

    Raises:
        FileNotFoundError: if no ``main_data.hdf5`` is found (see ``_data_dir``).
        DatasetError: if the metadata is unreadable.
    """
    data_dir = _data_dir(path)
    meta_path = data_dir / METADATA_FILE
    if meta_path.is_file():
        try:
            return json.loads(meta_path.read_text())
        except json.JSONDecodeError as err:
            raise V.DatasetError(f"{meta_path}: invalid JSON: {err}") from err
    main = str(data_dir / MAIN_FILE)
    try:
        with h5py.File(main, "r") as handle:
            return {
                k: (v.item() if isinstance(v, np.generic) else v) for k, v in handle.attrs.items()
            }
    except OSError as err:
        raise V.DatasetError(
            f"{main}: not a readable HDF5 file (truncated or corrupt): {err}"
        ) from err


def read_minari(
    path: str | os.PathLike, with_infos: bool = True
) -> tuple[dict, list[dict[str, np.ndarray]]]:
    """Raw metadata and episodes (in id order), unvalidated.

    Args:
        path: the dataset dir, its ``data/`` dir, or ``main_data.hdf5``.
        with_infos: also read each episode's ``infos`` group (else ``{}``).

    Returns:
        ``(metadata, episodes)``; each episode holds the arrays of ``EPISODE_KEYS`` present
        in the file, ``infos`` (a dict), ``seed`` (or None) and ``name`` (``episode_<i>``).

    Raises:
        FileNotFoundError: if no ``main_data.hdf5`` is found.
        DatasetError: if the HDF5 file is truncated/corrupt or holds a non-episode entry.
    """
    metadata = read_minari_metadata(path)
    main = str(_data_dir(path) / MAIN_FILE)
    try:
        handle = h5py.File(main, "r")
    except OSError as err:
        raise V.DatasetError(
            f"{main}: not a readable HDF5 file (truncated or corrupt): {err}"
        ) from err
    episodes = []
    with handle:
        names = list(handle.keys())
        for name in names:
            if not _EPISODE_RE.fullmatch(name):
                V.fail(main, name, "not an episode group (expected 'episode_<i>')")
        # h5py lists names alphabetically (episode_10 before episode_2): sort by number.
        for name in sorted(names, key=lambda s: int(s.split("_")[1])):
            group = handle[name]
            ep: dict = {"name": name, "seed": group.attrs.get("seed")}
            try:
                for key in EPISODE_KEYS:
                    if key not in group:
                        continue
                    node = group[key]
                    if isinstance(node, h5py.Group):  # Dict observation space
                        if "observation" not in node:
                            V.fail(
                                main,
                                f"{name}/{key}",
                                f"Dict space without an 'observation' member: {list(node)}",
                            )
                        node = node["observation"]
                    ep[key] = node[()]
                infos = group.get("infos") if with_infos else None
                ep["infos"] = (
                    {k: v[()] for k, v in infos.items() if isinstance(v, h5py.Dataset)}
                    if isinstance(infos, h5py.Group)
                    else {}
                )
            except (OSError, RuntimeError) as err:
                V.fail(main, name, f"unreadable (truncated or corrupt HDF5): {err}")
            episodes.append(ep)
    return metadata, episodes


def _spec_from_metadata(metadata: Mapping, source: str) -> DatasetSpec:
    for key in ("observation_space", "action_space"):
        if key not in metadata:
            V.fail(source, key, "missing from the metadata and no env name given")
    obs_space = deserialize_box(metadata["observation_space"], source, "observation_space")
    act_space = deserialize_box(metadata["action_space"], source, "action_space")
    low, high = np.unique(act_space.low), np.unique(act_space.high)
    if len(obs_space.shape) != 1 or len(act_space.shape) != 1 or low.size != 1 or high.size != 1:
        V.fail(
            source,
            "action_space",
            f"expected 1-D Boxes with uniform bounds, got {obs_space!r}, {act_space!r}",
        )
    return DatasetSpec(
        name=str(metadata.get("dataset_id", "minari")),
        obs_dim=obs_space.shape[0],
        action_dim=act_space.shape[0],
        action_low=float(low[0]),
        action_high=float(high[0]),
    )


def load_minari(
    path: str | os.PathLike,
    env: str | DatasetSpec | None = None,
    *,
    remap_antmaze_rewards: bool | None = None,
    action_atol: float = 1e-5,
    strict: bool = False,
    device: jax.Device | None = None,
) -> OfflineDataset:
    """Reads, validates and flattens a Minari dataset into a device-resident dataset.

    Transition ``t`` of an episode is ``(obs[t], actions[t], rewards[t], obs[t + 1])`` with
    ``terminals = terminations[t]`` and ``timeouts = truncations[t] & ~terminations[t]``:
    every step is kept (Minari stores the ``T + 1``-th observation).

    Episodes with no end flag (neither ``terminations`` nor ``truncations`` on the last
    step) get the same policy as ``load_d4rl``'s unfinished last episode: accepted by
    default with ONE ``UnfinishedEpisodeWarning``, rejected with ``strict=True``. Unlike
    D4RL, nothing is dropped: that step still has its true next observation, so it stays a
    transition with ``terminals = timeouts = False`` (it bootstraps).

    Args:
        path: the dataset dir, its ``data/`` dir, or ``main_data.hdf5``.
        env: a dataset/env name or ``DatasetSpec`` to check dimensions and action bounds
            against; default: the spaces in the dataset's own metadata.
        remap_antmaze_rewards: ``r -> 4 (r - 0.5)``; default: iff ``env`` (or else the
            metadata's ``dataset_id``) names AntMaze.
        action_atol: slack allowed outside the action box.
        strict: reject an episode whose last step has no end flag (``DatasetError``)
            instead of keeping it with a warning.
        device: target device.

    Returns:
        ``OfflineDataset`` with ``sum_episodes T`` rows.

    Raises:
        FileNotFoundError: if no ``main_data.hdf5`` is found.
        DatasetError: naming the file, key (``episode_<i>/<key>``) and step for a missing
            key, length mismatch (observations must have ``T + 1`` rows), NaN/inf, wrong
            dimension, an action outside the bounds, (with ``strict``) an episode whose last
            step is neither terminated nor truncated, a metadata count that disagrees with
            the file, or a truncated/corrupt HDF5.
    """
    metadata, episodes = read_minari(path, with_infos=False)
    source = str(_data_dir(path) / MAIN_FILE)
    if isinstance(env, DatasetSpec):
        spec = env
    elif isinstance(env, str):
        spec = spec_for(env)
    else:
        spec = _spec_from_metadata(metadata, source)
    if not episodes:
        V.fail(source, "episode_0", "missing: the dataset has no episodes")
    if "total_episodes" in metadata and int(metadata["total_episodes"]) != len(episodes):
        V.fail(
            source,
            "total_episodes",
            f"length mismatch: metadata says {metadata['total_episodes']}, "
            f"file holds {len(episodes)} episodes",
        )
    cast = V.Float32Caster()
    unflagged: list[str] = []
    parts: dict[str, list[np.ndarray]] = {
        k: []
        for k in (
            "observations",
            "actions",
            "rewards",
            "next_observations",
            "terminals",
            "timeouts",
        )
    }
    for ep in episodes:
        name = ep["name"]
        V.require_keys(source, ep, EPISODE_KEYS, prefix=f"{name}/")
        rewards = np.asarray(ep["rewards"])
        t = rewards.shape[0] if rewards.ndim else 0
        if t < 1:
            V.fail(
                source, f"{name}/rewards", f"expected at least one step, got shape {rewards.shape}"
            )
        obs = cast("observations", np.asarray(ep["observations"]))
        if obs.ndim < 1 or obs.shape[0] != t + 1:
            V.fail(
                source,
                f"{name}/observations",
                f"length mismatch: {obs.shape[0] if obs.ndim else 0} rows, expected {t + 1} "
                f"(T + 1 for the {t} steps in '{name}/rewards')",
            )
        actions = cast("actions", np.asarray(ep["actions"]))
        V.require_length(source, f"{name}/actions", actions, t, of=f"{name}/rewards")
        rewards = cast("rewards", V.as_vector(source, f"{name}/rewards", rewards, t))
        terms = V.require_flags(
            source,
            f"{name}/terminations",
            V.as_vector(source, f"{name}/terminations", np.asarray(ep["terminations"]), t),
        )
        truncs = V.require_flags(
            source,
            f"{name}/truncations",
            V.as_vector(source, f"{name}/truncations", np.asarray(ep["truncations"]), t),
        )
        V.require_dim(source, f"{name}/observations", obs, spec.obs_dim, spec, "observation")
        V.require_dim(source, f"{name}/actions", actions, spec.action_dim, spec, "action")
        for key, array in (("observations", obs), ("actions", actions), ("rewards", rewards)):
            V.require_finite(source, f"{name}/{key}", array)
        V.require_action_bounds(source, f"{name}/actions", actions, spec, action_atol)
        if not (terms[-1] or truncs[-1]):
            if strict:
                V.fail(
                    source,
                    f"{name}/terminations",
                    "episode has no end flag: neither terminations nor truncations is set on "
                    "its last step (strict=True; the default keeps its steps with a warning)",
                    index=t - 1,
                )
            unflagged.append(name)
        parts["observations"].append(obs[:-1])
        parts["next_observations"].append(obs[1:])
        parts["actions"].append(actions)
        parts["rewards"].append(rewards)
        parts["terminals"].append(terms)
        parts["timeouts"].append(truncs & ~terms)
    cast.warn_once(source)
    if unflagged:
        shown = ", ".join(unflagged[:4]) + (" ..." if len(unflagged) > 4 else "")
        warnings.warn(
            f"{source}: {len(unflagged)} episode(s) with no terminations or truncations flag "
            f"on the last step ({shown}): kept as non-terminal, 0 steps dropped (each has its "
            "next observation); strict=True rejects such files",
            V.UnfinishedEpisodeWarning,
            stacklevel=2,
        )
    data = {k: np.concatenate(v) for k, v in parts.items()}
    if remap_antmaze_rewards is None:
        name = env if isinstance(env, str) else str(metadata.get("dataset_id", ""))
        try:
            remap_antmaze_rewards = env_family(name) == "antmaze"
        except ValueError:
            remap_antmaze_rewards = False
    if remap_antmaze_rewards:
        data["rewards"] = antmaze_reward_remap(data["rewards"]).astype(np.float32)
    return from_numpy(**data, device=device)
