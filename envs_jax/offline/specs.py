"""Per-environment facts a D4RL dataset is checked against: dimensions, bounds, horizon.

A dataset name such as ``"hopper-medium-v2"``, ``"antmaze-large-diverse-v0"`` or Minari's
``"D4RL/antmaze/large-play-v1"`` / ``"mujoco/hopper/medium-v0"`` maps to an environment
family (``"hopper"``, ``"antmaze"``, ...) and from there to a ``DatasetSpec``. Datasets
generated from our own environments build their spec with ``spec_from_env``.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from envs_jax import spaces


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What the rows of a dataset must look like for one environment.

    Attributes:
        name: environment family, e.g. ``"hopper"``; used in error messages.
        obs_dim: length of one observation vector.
        action_dim: length of one action vector.
        action_low: lower action bound (a number: every D4RL task uses a uniform box).
        action_high: upper action bound.
        max_episode_steps: the env's time limit in steps; ``qlearning_dataset`` uses it to
            find episode ends in files without a ``timeouts`` key.
    """

    name: str
    obs_dim: int
    action_dim: int
    action_low: float = -1.0
    action_high: float = 1.0
    max_episode_steps: int = 1000

    def __post_init__(self):
        for field in ("obs_dim", "action_dim", "max_episode_steps"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"DatasetSpec.{field}: expected an integer >= 1, got {value!r}")
        if not self.action_low < self.action_high:
            raise ValueError(
                f"DatasetSpec.action_low/action_high: expected low < high, "
                f"got {self.action_low!r} and {self.action_high!r}"
            )


# D4RL's environments (Fu et al. 2020; gym MuJoCo v2/v3 models, d4rl.locomotion for
# AntMaze). "ant" is gym's Ant-v2 as D4RL recorded it, contact forces included
# (27 + 84 = 111 dims); gymnasium's Ant without contact forces has 27. AntMaze observes
# qpos[:15] + qvel[:14] = 29 dims (no goal). All action boxes are [-1, 1].
D4RL_SPECS: dict[str, DatasetSpec] = {
    "hopper": DatasetSpec("hopper", obs_dim=11, action_dim=3),
    "halfcheetah": DatasetSpec("halfcheetah", obs_dim=17, action_dim=6),
    "walker2d": DatasetSpec("walker2d", obs_dim=17, action_dim=6),
    "ant": DatasetSpec("ant", obs_dim=111, action_dim=8),
    "antmaze": DatasetSpec("antmaze", obs_dim=29, action_dim=8),
}

# AntMaze time limits differ by maze (spec: umaze 700 steps, medium and large 1000).
_ANTMAZE_STEPS = {"umaze": 700, "medium": 1000, "large": 1000}

# Longest family first so that "antmaze" is not read as "ant".
_FAMILIES = sorted(D4RL_SPECS, key=len, reverse=True)


def env_family(env_name: str) -> str:
    """The environment family of a D4RL or Minari dataset name.

    Args:
        env_name: e.g. ``"hopper-medium-v2"``, ``"antmaze-umaze-v0"``, ``"walker2d"``,
            ``"D4RL/antmaze/large-play-v1"``, ``"mujoco/halfcheetah/expert-v0"``.

    Returns:
        One of ``"hopper"``, ``"halfcheetah"``, ``"walker2d"``, ``"ant"``, ``"antmaze"``.

    Raises:
        TypeError: if ``env_name`` is not a str.
        ValueError: if no known family matches the name.
    """
    if not isinstance(env_name, str):
        raise TypeError(f"env_name: expected a str, got {env_name!r}")
    # Minari ids are "namespace/family/variant": the family is the second-to-last part.
    parts = env_name.lower().split("/")
    candidates = [parts[-2], parts[-1]] if len(parts) >= 2 else [parts[-1]]
    for part in candidates:
        for family in _FAMILIES:
            if re.fullmatch(rf"{family}([-_].*)?", part):
                return family
    raise ValueError(
        f"env_name: expected a name starting with one of {', '.join(sorted(D4RL_SPECS))} "
        f"(e.g. 'hopper-medium-v2'), got {env_name!r}"
    )


def spec_for(env_name: str) -> DatasetSpec:
    """The ``DatasetSpec`` of a D4RL/Minari dataset name (see ``env_family``).

    AntMaze's ``max_episode_steps`` follows the maze size in the name (umaze 700,
    medium/large 1000); a bare ``"antmaze"`` gets 1000.

    Raises:
        ValueError: if the name matches no known family.
    """
    family = env_family(env_name)
    spec = D4RL_SPECS[family]
    if family == "antmaze":
        for maze, steps in _ANTMAZE_STEPS.items():
            if maze in env_name.lower():
                return dataclasses.replace(spec, max_episode_steps=steps)
    return spec


def spec_from_env(
    env, params, name: str | None = None, max_episode_steps: int = 1000
) -> DatasetSpec:
    """A ``DatasetSpec`` for any environment of our protocol with Box spaces.

    Args:
        env: an ``envs_jax`` environment.
        params: its params (spaces may depend on them).
        name: name used in error messages (default ``env.name``).
        max_episode_steps: the time limit the data was collected under.

    Raises:
        ValueError: if a space is not a 1-D ``Box`` or the action bounds are not uniform
            and finite.
    """
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    name = name or env.name
    for label, space in (("observation_space", obs_space), ("action_space", act_space)):
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"{name}.{label}: expected a 1-D Box, got {space!r}")
    low, high = np.unique(act_space.low), np.unique(act_space.high)
    if low.size != 1 or high.size != 1 or not np.isfinite([low[0], high[0]]).all():
        raise ValueError(f"{name}.action_space: expected uniform finite bounds, got {act_space!r}")
    return DatasetSpec(
        name=name,
        obs_dim=obs_space.shape[0],
        action_dim=act_space.shape[0],
        action_low=float(low[0]),
        action_high=float(high[0]),
        max_episode_steps=max_episode_steps,
    )
