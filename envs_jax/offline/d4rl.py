"""D4RL HDF5 files: read, validate, write, and D4RL's ``qlearning_dataset``.

Layout of a D4RL file (Fu et al. 2020; ``d4rl.offline_env.OfflineEnv.get_dataset``): flat
datasets ``observations [N, obs_dim]``, ``actions [N, act_dim]``, ``rewards [N]`` or
``[N, 1]``, ``terminals [N]`` (bool or float), ``timeouts [N]`` bool (absent in old v0
files), optional ``next_observations``, and groups ``infos/*`` (``qpos``, ``qvel``,
``goal`` for AntMaze, ``action_log_probs``) and ``metadata/*``. Rows are consecutive steps;
after an episode ends (terminal or timeout) the next row starts the next episode, so
``observations[i + 1]`` is NOT the successor of a timeout row. The last row may carry no
end flag at all: D4RL's collection scripts stop at a row count, mid-episode. ``load_d4rl``
reads such files as D4RL does (see ``validate_d4rl``; ``strict=True`` rejects them).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

import h5py
import jax
import numpy as np

from envs_jax.offline import validate as V
from envs_jax.offline.dataset import OfflineDataset, from_numpy
from envs_jax.offline.specs import DatasetSpec, env_family, spec_for

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
# What load_d4rl reads: infos/* (qpos, qvel: large) and metadata/* are left on disk.
LOADED_KEYS = (*REQUIRED_KEYS, "timeouts", "next_observations")


def antmaze_reward_remap(rewards: np.ndarray) -> np.ndarray:
    """AntMaze reward remap ``r -> 4 (r - 0.5)``, i.e. ``{0, 1} -> {-2, +2}``.

    Source: the CQL/SNR seed code (MSG, Ghasemipour et al. 2022); the same constant is used
    by CQL's original AntMaze setup. Works on numpy or JAX arrays ``[...]``.
    """
    return 4.0 * (rewards - 0.5)


def _read_hdf5(path: str, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Datasets of an HDF5 file keyed by full path (``"infos/qpos"``); only ``keys`` if given."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:  # h5py reports truncated files and bad signatures as OSError
        raise V.DatasetError(
            f"{path}: not a readable HDF5 file (truncated or corrupt): {err}"
        ) from err
    data: dict[str, np.ndarray] = {}
    with handle:
        names: list[str] = []
        try:
            handle.visititems(
                lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None
            )
        except (OSError, RuntimeError, KeyError) as err:
            raise V.DatasetError(f"{path}: corrupt HDF5 structure: {err}") from err
        for name in names if keys is None else [k for k in names if k in keys]:
            try:
                data[name] = handle[name][()]
            except (OSError, RuntimeError, KeyError) as err:
                V.fail(path, name, f"unreadable (truncated or corrupt HDF5): {err}")
    return data


def read_d4rl(
    path: str | os.PathLike, keys: tuple[str, ...] | None = None
) -> dict[str, np.ndarray]:
    """Raw contents of a D4RL HDF5 file, unvalidated: ``{"observations": ..., "infos/qpos": ...}``.

    Args:
        path: the ``.hdf5`` file.
        keys: read only these keys (absent ones are skipped); all if None.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        DatasetError: if the file is not a readable HDF5 file.
    """
    return _read_hdf5(os.fspath(path), keys)


def write_d4rl(
    path: str | os.PathLike,
    data: Mapping[str, np.ndarray],
    metadata: Mapping[str, object] | None = None,
    compression: str | None = "gzip",
) -> None:
    """Writes arrays in D4RL's HDF5 layout, exactly as given (no casting, no checks).

    Quirks are the caller's to choose, so tests can write real-world variants: float64
    arrays, ``(N, 1)`` rewards, no ``timeouts`` key, a stale ``next_observations``.

    Args:
        path: output ``.hdf5`` file (overwritten).
        data: ``{key: array}``; keys with ``/`` (``"infos/qpos"``) become nested groups.
        metadata: written as scalar datasets under ``metadata/`` (as D4RL does).
        compression: h5py filter for array datasets (D4RL's files use gzip).
    """
    with h5py.File(os.fspath(path), "w") as handle:
        for key, value in data.items():
            value = np.asarray(value)
            handle.create_dataset(key, data=value, compression=compression if value.ndim else None)
        for key, value in (metadata or {}).items():
            handle.create_dataset(f"metadata/{key}", data=value)


def _episode_finals(
    terminals: np.ndarray, max_episode_steps: int, terminate_on_end: bool
) -> np.ndarray:
    """Time-limit ends implied by D4RL's ``episode_step`` counter (files without ``timeouts``).

    Reproduces the counter of ``d4rl.qlearning_dataset`` exactly, including its quirk: after a
    KEPT transition that ends an episode (a terminal, or a timeout with
    ``terminate_on_end``) the counter restarts at 1, after a DROPPED timeout at 0. Walks
    episode by episode (not row by row), so it costs O(number of episodes) Python steps.

    Returns:
        ``[N]`` bool, ``final[i] = (episode_step at row i == max_episode_steps - 1)``.
    """
    n = terminals.shape[0]
    final = np.zeros(n, bool)
    term_rows = np.flatnonzero(terminals)
    pos, offset = 0, 0
    while pos < n:
        j = np.searchsorted(term_rows, pos)
        next_term = int(term_rows[j]) if j < term_rows.size else None
        gap = max_episode_steps - 1 - offset  # rows until the counter reads max - 1
        f = pos + gap if gap >= 0 else None  # offset past the limit: never final again
        if f is not None and f < n and (next_term is None or f <= next_term):
            final[f] = True
            pos, offset = f + 1, (1 if terminate_on_end else 0)
        elif next_term is not None:
            pos, offset = next_term + 1, 1
        else:
            break
    return final


def episode_ends(
    data: Mapping[str, np.ndarray], max_episode_steps: int, terminate_on_end: bool = False
) -> np.ndarray:
    """``[N]`` bool: D4RL's ``final_timestep`` flags, the stored ``timeouts`` if present."""
    if "timeouts" in data:
        return np.asarray(data["timeouts"]).reshape(-1).astype(bool)
    return _episode_finals(
        np.asarray(data["terminals"]).reshape(-1).astype(bool), max_episode_steps, terminate_on_end
    )


def qlearning_dataset(
    data: Mapping[str, np.ndarray], max_episode_steps: int = 1000, terminate_on_end: bool = False
) -> dict[str, np.ndarray]:
    """Transitions ``(s, a, r, s', terminal)`` from consecutive D4RL rows, as D4RL does.

    Exact semantics of ``d4rl.qlearning_dataset(env, dataset, terminate_on_end)``:

    * rows ``i = 0 .. N-2`` (the last row never becomes a transition);
    * ``next_observations[i] = observations[i + 1]``; a stored ``next_observations`` key
      is ignored;
    * ``final_timestep[i] = timeouts[i]``, or without a ``timeouts`` key the env's time
      limit from a step counter (see ``_episode_finals`` for its restart quirk);
    * a row with ``final_timestep`` is dropped (its ``observations[i + 1]`` belongs to the
      next episode) unless ``terminate_on_end``, which keeps it;
    * ``terminals[i]`` is the done flag (discount mask ``1 - terminal``).

    Runs no check: a last row without an end flag (a file cut mid-episode) is dropped like
    any last row; ``validate_d4rl`` is where such files are reported or rejected.

    Args:
        data: ``observations [N, obs_dim]``, ``actions [N, act_dim]``, ``rewards [N]``,
            ``terminals [N]``, optional ``timeouts [N]`` (validated; see ``load_d4rl``).
        max_episode_steps: the env's time limit, used only without ``timeouts``.
        terminate_on_end: keep time-limit rows (D4RL's flag of the same name).

    Returns:
        ``observations [M, obs_dim]``, ``actions [M, act_dim]``, ``next_observations``,
        ``rewards [M]`` float32, ``terminals [M]`` bool and ``timeouts [M]`` bool (true
        only for time-limit rows kept by ``terminate_on_end``).
    """
    obs = np.asarray(data["observations"])
    n = obs.shape[0]
    terminals = np.asarray(data["terminals"]).reshape(-1).astype(bool)
    final = episode_ends(data, max_episode_steps, terminate_on_end)
    keep = np.ones(n, bool) if terminate_on_end else ~final
    keep[n - 1] = False
    rows = np.flatnonzero(keep)
    return {
        "observations": obs[rows].astype(np.float32),
        "actions": np.asarray(data["actions"])[rows].astype(np.float32),
        "next_observations": obs[rows + 1].astype(np.float32),
        "rewards": np.asarray(data["rewards"]).reshape(-1)[rows].astype(np.float32),
        "terminals": terminals[rows],
        "timeouts": final[rows],
    }


def _resolve_strict(strict: bool, allow_unfinished_last_episode: bool | None) -> bool:
    """``strict`` after the deprecated ``allow_unfinished_last_episode`` keyword.

    The old keyword was the inverse of ``strict`` with the opposite default: its
    ``True`` is today's default, its ``False`` (once the default) is ``strict=True``.

    Raises:
        ValueError: for the contradiction ``strict=True, allow_unfinished_last_episode=True``.
    """
    if allow_unfinished_last_episode is None:
        return bool(strict)
    warnings.warn(
        "allow_unfinished_last_episode is deprecated: unfinished last episodes are accepted "
        "by default (as D4RL does); pass strict=True to reject them",
        DeprecationWarning,
        stacklevel=3,
    )
    if strict and allow_unfinished_last_episode:
        raise ValueError(
            "strict=True contradicts allow_unfinished_last_episode=True: pass strict alone"
        )
    return bool(strict) or not allow_unfinished_last_episode


def validate_d4rl(
    data: Mapping[str, np.ndarray],
    spec: DatasetSpec,
    source: str = "<d4rl data>",
    *,
    action_atol: float = 1e-5,
    strict: bool = False,
    allow_unfinished_last_episode: bool | None = None,
) -> dict[str, np.ndarray]:
    """Checks raw D4RL arrays against ``spec`` and normalises quirks.

    Normalisation: ``(N, 1)`` rewards/terminals/timeouts become ``[N]``; flags become bool;
    floating arrays become float32 (one ``Float64CastWarning`` naming the float64 keys).

    Unfinished last episode: when the last row has no end flag (no terminal, no timeout,
    and without a ``timeouts`` key no implied time limit either), the file was cut
    mid-episode. D4RL's own scripts write such files (its collection scripts stop at
    ``num_data`` rows wherever the episode stands; the AntMaze relabelling sets
    ``terminals[-1] = 0``) and ``d4rl.qlearning_dataset`` reads them: the last row has no
    next observation, so it never becomes a transition, and the cut episode's other rows
    stay non-terminal transitions that bootstrap. By default (``strict=False``) this
    function does the same: it accepts the file and issues ONE ``UnfinishedEpisodeWarning``
    naming the file and the one row ``qlearning_dataset`` drops. ``strict=True`` raises
    instead, for callers who want to catch truncated copies of files that should be
    complete.

    Args:
        data: raw arrays from ``read_d4rl``.
        spec: the env's dimensions, action bounds and time limit.
        source: file name for error messages.
        action_atol: slack allowed outside the action box (float rounding in the files).
        strict: reject a last episode with no end flag (``DatasetError``) instead of
            accepting it with a warning.
        allow_unfinished_last_episode: deprecated inverse of ``strict`` (``True``: the
            default behaviour; ``False``: ``strict=True``); issues a ``DeprecationWarning``.

    Returns:
        ``observations``, ``actions``, ``rewards``, ``terminals`` and, if present,
        ``timeouts`` and ``next_observations``, checked and normalised (all ``N`` rows:
        dropping rows is ``qlearning_dataset``'s job).

    Raises:
        DatasetError: naming the file, key and row for a missing key, length mismatch,
            wrong observation/action dimension, NaN/inf, an action outside the bounds,
            non-0/1 flags, or (with ``strict``) a last episode with no end flag.
        ValueError: for ``strict=True`` with ``allow_unfinished_last_episode=True``.
    """
    strict = _resolve_strict(strict, allow_unfinished_last_episode)
    V.require_keys(source, data, REQUIRED_KEYS)
    cast = V.Float32Caster()
    obs = cast("observations", np.asarray(data["observations"]))
    if obs.ndim != 2:
        V.fail(source, "observations", f"expected shape (N, {spec.obs_dim}), got {obs.shape}")
    n = obs.shape[0]
    if n < 2:
        V.fail(source, "observations", f"expected at least 2 rows, got {n}")
    out = {"observations": obs}
    for key in ("actions", "next_observations"):
        if key in data:
            out[key] = cast(key, np.asarray(data[key]))
            V.require_length(source, key, out[key], n)
    out["rewards"] = cast("rewards", V.as_vector(source, "rewards", np.asarray(data["rewards"]), n))
    for key in ("terminals", "timeouts"):
        if key in data:
            out[key] = V.require_flags(
                source, key, V.as_vector(source, key, np.asarray(data[key]), n)
            )
    V.require_dim(source, "observations", obs, spec.obs_dim, spec, "observation")
    V.require_dim(source, "actions", out["actions"], spec.action_dim, spec, "action")
    if "next_observations" in out:
        V.require_dim(
            source, "next_observations", out["next_observations"], spec.obs_dim, spec, "observation"
        )
    for key in ("observations", "actions", "rewards", "next_observations"):
        if key in out:
            V.require_finite(source, key, out[key])
    V.require_action_bounds(source, "actions", out["actions"], spec, action_atol)
    # Cast before the flag check so every float64 key is named in the one warning.
    cast.warn_once(source)
    ends = out["terminals"] | episode_ends(out, spec.max_episode_steps)
    if not ends[-1]:
        implied = (
            ""
            if "timeouts" in out
            else f"; no 'timeouts' key and the {spec.max_episode_steps}-step time limit is "
            "not reached either"
        )
        if strict:
            V.fail(
                source,
                "timeouts" if "timeouts" in out else "terminals",
                "last episode has no end flag: neither terminals nor timeouts is set on the "
                f"last row{implied} (strict=True; the default accepts the file and drops "
                "that row, as d4rl.qlearning_dataset does)",
                index=n - 1,
            )
        warnings.warn(
            f"{source}: last episode unfinished (no terminal or timeout on its last row, "
            f"row {n - 1}{implied}): dropped 1 row, that final row, which has no next "
            "observation (as d4rl.qlearning_dataset does); strict=True rejects such files",
            V.UnfinishedEpisodeWarning,
            stacklevel=2,
        )
    return out


def load_d4rl(
    path: str | os.PathLike,
    env: str | DatasetSpec,
    *,
    remap_antmaze_rewards: bool | None = None,
    terminate_on_end: bool = False,
    action_atol: float = 1e-5,
    strict: bool = False,
    allow_unfinished_last_episode: bool | None = None,
    device: jax.Device | None = None,
) -> OfflineDataset:
    """Reads, validates and converts a D4RL HDF5 file into a device-resident dataset.

    Args:
        path: the ``.hdf5`` file.
        env: a D4RL dataset/env name (``"hopper-medium-v2"``) or a ``DatasetSpec``.
        remap_antmaze_rewards: apply ``r -> 4 (r - 0.5)``; default (None): iff ``env`` is
            an AntMaze name.
        terminate_on_end: see ``qlearning_dataset``.
        action_atol: slack allowed outside the action box.
        strict: reject a file whose last episode has no end flag. Default False: accept
            it, as D4RL does (its last row never becomes a transition), with one
            ``UnfinishedEpisodeWarning``; see ``validate_d4rl``.
        allow_unfinished_last_episode: deprecated inverse of ``strict``.
        device: target device (default device if None).

    Returns:
        ``OfflineDataset`` of ``qlearning_dataset`` transitions (float32, bool flags):
        exactly the transitions of ``d4rl.qlearning_dataset`` on the same file.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        DatasetError: for every defect listed in ``validate_d4rl`` and unreadable files.
        ValueError: for an unknown env name, or contradictory ``strict`` keywords.
    """
    source = os.fspath(path)
    strict = _resolve_strict(strict, allow_unfinished_last_episode)
    spec = env if isinstance(env, DatasetSpec) else spec_for(env)
    data = validate_d4rl(
        read_d4rl(source, LOADED_KEYS),
        spec,
        source,
        action_atol=action_atol,
        strict=strict,
    )
    q = qlearning_dataset(data, spec.max_episode_steps, terminate_on_end)
    if remap_antmaze_rewards is None:
        remap_antmaze_rewards = isinstance(env, str) and env_family(env) == "antmaze"
    if remap_antmaze_rewards:
        q["rewards"] = antmaze_reward_remap(q["rewards"]).astype(np.float32)
    return from_numpy(**q, device=device)
