"""Polyak (exponential moving average) update of target-network parameters."""

from __future__ import annotations

from typing import Any

import jax

from purerl.config import require


def polyak(target: Any, online: Any, tau: float | jax.Array) -> Any:
    """``(1 - tau) * target + tau * online``, leaf by leaf: the soft target update.

    Source: Lillicrap et al. 2016, "Continuous control with deep reinforcement learning"
    (DDPG), algorithm 1, ``theta' <- tau theta + (1 - tau) theta'``; SAC and TD3 use the
    same update. ``tau = 1`` copies the online parameters (a hard update), ``tau = 0``
    keeps the target. Each leaf keeps the dtype of ``target``.

    Args:
        target: pytree of target parameters.
        online: pytree of online parameters, the same structure and shapes as ``target``.
        tau: step size in [0, 1] (e.g. 0.005); a Python number is checked, a traced one
            (a swept hyperparameter) is used as given.

    Returns:
        The updated target pytree.

    Raises:
        ValueError: if a Python ``tau`` is outside [0, 1], or the trees differ in
            structure.
    """
    if isinstance(tau, (int, float)):
        require(0.0 <= tau <= 1.0, "tau", "a number in [0, 1]", tau)
    target_def, online_def = jax.tree.structure(target), jax.tree.structure(online)
    require(target_def == online_def, "online", f"the tree structure of target {target_def}",
            online_def)
    return jax.tree.map(
        lambda t, o: ((1.0 - tau) * t + tau * o).astype(t.dtype), target, online)
