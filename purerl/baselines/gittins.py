"""Gittins indices of Bernoulli arms with a Beta posterior, computed by calibration.

Source: Gittins, Glazebrook & Weber 2011, "Multi-armed Bandit Allocation Indices" (2nd ed.),
section 2.5 (calibration against a standard arm) and chapter 8 (Bernoulli/Beta tables);
Whittle 1980/1982 ("retirement" formulation). The RL^2 paper (Duan et al. 2016, section 3.1)
cites exactly these sources for its Gittins baseline ("we follow the practical approximations
described in Gittins et al. (2011), Chakravorty & Mahajan (2013), and Whittle (1982), and
choose the best-performing approximation for each setup").

Method (retirement calibration, Whittle's form). For a retirement reward ``lam`` per step,
an arm in posterior state ``Beta(a, b)`` has the optimal-stopping value

    V(a, b) = max( lam / (1 - g),
                   p + g * (p * V(a + 1, b) + (1 - p) * V(a, b + 1)) ),   p = a / (a + b),

with discount ``g``. The Gittins index of ``(a, b)`` is the ``lam`` at which retiring and
continuing are equally good. One backward induction over the triangle of states
``{(a0 + s, b0 + f): s + f <= depth}`` gives ``V`` for EVERY state at once for a fixed
``lam`` (each state's sub-tree is a sub-triangle), so we run it for a grid of ``lam`` values
in parallel and locate, per state, the zero crossing of
``continue(lam) - lam / (1 - g)`` (decreasing in ``lam``) by linear interpolation between the
two grid points that bracket it. At the truncation depth the posterior is assumed frozen
(``V = max(lam, p) / (1 - g)``); its effect on states ``d`` pulls above the boundary is
damped by ``g ** d``, so the depth is chosen with ``g ** (depth - max_pulls)`` tiny.
"""

from __future__ import annotations

import math

import numpy as np

from purerl.config import require, require_positive


def gittins_index_table(
    discount: float,
    max_pulls: int,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    num_lambdas: int = 1001,
    tail_tolerance: float = 1e-6,
    max_extra_depth: int = 4000,
) -> np.ndarray:
    """Table of discounted Gittins indices of a Bernoulli arm with a Beta prior.

    Args:
        discount: ``g`` in ``(0, 1)``, the per-pull discount.
        max_pulls: largest ``successes + failures`` the table must cover (an arm pulled at
            most ``n - 1`` times before the last decision of an ``n``-pull trial).
        prior: ``(a0, b0)`` of the Beta prior; ``(1, 1)`` is the uniform prior of the RL^2
            bandit task distribution.
        num_lambdas: retirement rewards on the uniform grid over ``[0, 1]``; the index is
            interpolated between grid points (error well below the grid spacing; the
            tests compare with Gittins' 4-decimal tables).
        tail_tolerance: the tree is truncated at ``max_pulls + extra`` with
            ``g ** extra <= tail_tolerance``.
        max_extra_depth: cap on ``extra`` (memory/time guard for ``g`` near 1).

    Returns:
        ``[max_pulls + 1, max_pulls + 1]`` float32 ``table[s, f]`` = Gittins index (in
        reward-per-pull units, in ``[p, 1]``) of ``Beta(a0 + s, b0 + f)``; entries with
        ``s + f > max_pulls`` are NaN.

    Raises:
        ValueError: for a discount outside ``(0, 1)``, a negative ``max_pulls``, a
            non-positive prior or fewer than 3 grid points.
    """
    require(0.0 < discount < 1.0, "discount", "a number in (0, 1)", discount)
    require(isinstance(max_pulls, int) and max_pulls >= 0, "max_pulls",
            "an integer >= 0", max_pulls)
    require_positive("prior[0]", prior[0])
    require_positive("prior[1]", prior[1])
    require(isinstance(num_lambdas, int) and num_lambdas >= 3, "num_lambdas",
            "an integer >= 3", num_lambdas)
    a0, b0 = float(prior[0]), float(prior[1])
    g = float(discount)
    extra = min(max_extra_depth, math.ceil(math.log(tail_tolerance) / math.log(g)))
    depth = max_pulls + extra

    lam = np.linspace(0.0, 1.0, num_lambdas)[:, None]  # [G, 1]
    retire = lam / (1.0 - g)  # [G, 1]
    table = np.full((max_pulls + 1, max_pulls + 1), np.nan)

    # Boundary diagonal d = depth: posterior frozen, V = max(lam, p) / (1 - g).
    s = np.arange(depth + 1)
    p = (a0 + s) / (a0 + b0 + depth)
    v_next = np.maximum(retire, p[None, :] / (1.0 - g))  # [G, depth + 1]
    for d in range(depth - 1, -1, -1):
        s = np.arange(d + 1)
        p = ((a0 + s) / (a0 + b0 + d))[None, :]  # [1, d + 1]
        # Success moves (s, f) -> (s + 1, f): index s + 1 on diagonal d + 1; failure keeps s.
        cont = p + g * (p * v_next[:, 1:] + (1.0 - p) * v_next[:, :-1])  # [G, d + 1]
        if d <= max_pulls:
            table[s, d - s] = _crossing(lam[:, 0], cont - retire)
        v_next = np.maximum(retire, cont)
    return table.astype(np.float32)


def _crossing(lam: np.ndarray, advantage: np.ndarray) -> np.ndarray:
    """Per column, the ``lam`` where ``advantage[:, j]`` (decreasing in lam) crosses 0.

    Args:
        lam: ``[G]`` increasing grid.
        advantage: ``[G, M]`` continue-minus-retire values.

    Returns:
        ``[M]`` linearly interpolated zero crossings (``lam[-1]`` if never crossed).
    """
    positive = advantage > 0.0
    # Number of grid points with a strict advantage = index of the first non-positive one.
    hi = np.minimum(positive.sum(axis=0), lam.shape[0] - 1)
    lo = np.maximum(hi - 1, 0)
    cols = np.arange(advantage.shape[1])
    y_lo, y_hi = advantage[lo, cols], advantage[hi, cols]
    denom = np.where(y_lo > y_hi, y_lo - y_hi, 1.0)
    frac = np.clip(y_lo / denom, 0.0, 1.0)
    return lam[lo] + frac * (lam[hi] - lam[lo])
