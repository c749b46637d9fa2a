"""Checks run on host arrays when a dataset file is loaded, before anything reaches jit.

Every failure raises ``DatasetError`` (a ``ValueError``) whose message names the file, the
key and, where one exists, the row index, e.g.::

    /data/hopper.hdf5: key 'rewards', index 17: non-finite value nan

float64 arrays are cast to float32 with ONE ``Float64CastWarning`` per loaded file that
lists every cast key (D4RL's hopper medium-replay / full-replay files are float64). A file
whose data ends an episode with no end flag is accepted by default with ONE
``UnfinishedEpisodeWarning`` (D4RL's own collection scripts write such files); the loaders'
``strict=True`` turns it into a ``DatasetError``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from envs_jax.offline.specs import DatasetSpec


class DatasetError(ValueError):
    """A dataset file is malformed: missing key, bad shape, bad value, unreadable HDF5."""


class Float64CastWarning(UserWarning):
    """float64 arrays in a dataset file were cast to float32."""


class UnfinishedEpisodeWarning(UserWarning):
    """A dataset file ends an episode without an end flag; it was loaded anyway.

    Issued once per file by the loaders' default (``strict=False``) mode; filter it with
    ``warnings.filterwarnings("ignore", category=UnfinishedEpisodeWarning)``.
    """


def fail(source: str, key: str, problem: str, index: int | str | None = None) -> None:
    """Raises ``DatasetError("<source>: key '<key>'[, index <index>]: <problem>")``."""
    where = f"key '{key}'" if index is None else f"key '{key}', index {index}"
    raise DatasetError(f"{source}: {where}: {problem}")


def require_keys(source: str, data: Mapping, required: Sequence[str], prefix: str = "") -> None:
    """Raises ``DatasetError`` for the first of ``required`` missing from ``data``."""
    for key in required:
        if key not in data:
            present = ", ".join(sorted(data)) or "none"
            fail(
                source,
                prefix + key,
                f"missing (required: {', '.join(required)}; present: {present})",
            )


def as_vector(source: str, key: str, array: np.ndarray, n: int) -> np.ndarray:
    """``[n]`` or ``[n, 1]`` (D4RL stores some rewards/terminals as ``(N, 1)``) -> ``[n]``."""
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        fail(source, key, f"expected shape ({n},) or ({n}, 1), got {array.shape}")
    require_length(source, key, array, n)
    return array


def require_length(
    source: str, key: str, array: np.ndarray, n: int, of: str = "observations"
) -> None:
    """Raises ``DatasetError`` unless ``array`` has ``n`` rows."""
    rows = array.shape[0] if array.ndim else 0
    if rows != n:
        fail(source, key, f"length mismatch: {rows} rows, expected {n} (the length of '{of}')")


def require_dim(
    source: str, key: str, array: np.ndarray, dim: int, spec: DatasetSpec, what: str
) -> None:
    """Raises ``DatasetError`` unless ``array`` is ``[rows, dim]``."""
    if array.ndim != 2 or array.shape[1] != dim:
        fail(
            source,
            key,
            f"wrong {what} dimension for env '{spec.name}': expected shape (rows, {dim}), "
            f"got {array.shape}",
        )


def require_finite(source: str, key: str, array: np.ndarray) -> None:
    """Raises ``DatasetError`` naming the first row holding a NaN or +-inf."""
    if not np.issubdtype(array.dtype, np.floating):
        return
    bad = ~np.isfinite(array)
    if bad.any():
        flat = np.flatnonzero(bad.reshape(array.shape[0], -1).any(axis=1)) if array.ndim else [0]
        row = int(flat[0])
        value = array[row] if array.ndim == 1 else array[row][~np.isfinite(array[row])][0]
        fail(source, key, f"non-finite value {value} ({int(bad.sum())} in total)", index=row)


def require_flags(source: str, key: str, array: np.ndarray) -> np.ndarray:
    """Episode flags must be bool or exactly 0/1; returns them as bool."""
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.number)):
        fail(source, key, f"expected bool or 0/1 numbers, got dtype {array.dtype}")
    bad = np.flatnonzero((array != 0) & (array != 1))
    if bad.size:
        fail(source, key, f"expected 0 or 1, got {array[bad[0]]}", index=int(bad[0]))
    return array.astype(bool)


def require_action_bounds(
    source: str, key: str, actions: np.ndarray, spec: DatasetSpec, atol: float
) -> None:
    """Raises ``DatasetError`` naming the first row with an action outside the env's box."""
    low, high = spec.action_low - atol, spec.action_high + atol
    bad = (actions < low) | (actions > high)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        value = actions[row][bad[row]][0]
        fail(
            source,
            key,
            f"action {value} outside the bounds [{spec.action_low}, {spec.action_high}] of "
            f"env '{spec.name}' (tolerance {atol})",
            index=row,
        )


class Float32Caster:
    """Casts float arrays to float32 and remembers which keys were float64.

    Call ``warn_once(source)`` after the last cast: it issues a single
    ``Float64CastWarning`` naming every float64 key, or nothing if there was none.
    """

    def __init__(self):
        self.cast_keys: list[str] = []

    def __call__(self, key: str, array: np.ndarray) -> np.ndarray:
        if array.dtype == np.float64:
            self.cast_keys.append(key)
        if np.issubdtype(array.dtype, np.floating) and array.dtype != np.float32:
            return array.astype(np.float32)
        return array

    def warn_once(self, source: str) -> None:
        if self.cast_keys:
            shown = ", ".join(self.cast_keys[:8]) + (" ..." if len(self.cast_keys) > 8 else "")
            warnings.warn(
                f"{source}: cast float64 to float32 for {len(self.cast_keys)} key(s): {shown}",
                Float64CastWarning,
                stacklevel=3,
            )
