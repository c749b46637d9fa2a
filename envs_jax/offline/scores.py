"""D4RL normalised scores: ``100 * (R - R_random) / (R_expert - R_random)``.

Reference returns are D4RL's ``REF_MIN_SCORE`` / ``REF_MAX_SCORE`` (Fu et al. 2020,
``d4rl/infos.py``): one pair per environment family, shared by every dataset of it
(random, medium, expert, ...). AntMaze's pair is (0, 1), so its normalised score of a mean
return (1 per episode that reaches the goal) is 100 x success rate.
"""

from __future__ import annotations

import jax
import numpy as np

from envs_jax.offline.specs import env_family

# (min, max) undiscounted episode return per family.
REFERENCE_SCORES: dict[str, tuple[float, float]] = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
    "antmaze": (0.0, 1.0),
}


def reference_scores(env_name: str) -> tuple[float, float]:
    """``(min, max)`` reference returns of a D4RL/Minari dataset name (see ``env_family``).

    Raises:
        ValueError: if the name matches no family with reference scores.
    """
    return REFERENCE_SCORES[env_family(env_name)]


def normalized_score(env_name: str, episode_return: float | np.ndarray | jax.Array):
    """D4RL normalised score in percent, ``100 * (R - min) / (max - min)``.

    Args:
        env_name: e.g. ``"hopper-medium-v2"`` or ``"antmaze-large-play-v0"``; resolved
            before tracing, so this may be called inside ``jax.jit`` with a traced return.
        episode_return: undiscounted return(s) ``[...]`` of the raw (un-remapped) reward;
            float, numpy or JAX array of any shape.

    Returns:
        Same shape and kind as ``episode_return`` (a Python float for a Python number).

    Raises:
        ValueError: if the name matches no family with reference scores.
    """
    low, high = reference_scores(env_name)
    if isinstance(episode_return, jax.Array):
        return 100.0 * (episode_return - low) / (high - low)
    if isinstance(episode_return, (int, float)):
        return 100.0 * (float(episode_return) - low) / (high - low)
    return 100.0 * (np.asarray(episode_return, np.float64) - low) / (high - low)
