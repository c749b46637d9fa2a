"""Hyperparameter grids that run in ONE compiled call.

A sweep is written on the command line as ``--sweep learning_rate=1e-4,3e-4,1e-3
--sweep gae_lambda=0.9,0.95``: each entry names one traced hyperparameter and its values;
several entries make the cartesian product (here 3 x 2 = 6 grid points). Together with
``--num_seeds S`` the grid becomes G x S runs of ``jax.vmap`` over ``(key, hparams)``
(see ``purerl.common.experiment.run_sweep``): shapes are the same at every point, so one
compile serves the whole grid.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp


def parse_sweep(specs: Sequence[str], allowed: Sequence[str],
                aliases: Mapping[str, str] | None = None) -> dict[str, tuple[float, ...]]:
    """Parse ``["name=v1,v2,...", ...]`` into ``{name: (v1, v2, ...)}``, in order.

    Args:
        specs: sweep entries as typed on the command line.
        allowed: names that may be swept (the traced hyperparameters).
        aliases: optional map from a user-facing flag name to its allowed name
            (e.g. the RL^2 seed's ``tau`` -> ``gae_lambda``).

    Raises:
        ValueError: an entry without ``=``, an unknown or repeated name, an empty or
            non-numeric value list. The message names the entry and what was expected.
    """
    aliases = dict(aliases or {})
    grid: dict[str, tuple[float, ...]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip().lstrip("-")
        if not sep:
            raise ValueError(f"sweep: expected NAME=V1,V2,... got {spec!r}")
        name = aliases.get(name, name)
        if name not in allowed:
            known = sorted(set(allowed) | set(aliases))
            raise ValueError(f"sweep: expected a name in {known}, got {name!r} in {spec!r}")
        if name in grid:
            raise ValueError(f"sweep: {name!r} given twice; put all its values in one entry")
        try:
            parsed = tuple(float(v) for v in values.split(",") if v.strip())
        except ValueError:
            raise ValueError(f"sweep: expected comma-separated numbers for {name!r}, "
                             f"got {values!r}") from None
        if not parsed:
            raise ValueError(f"sweep: expected at least one value for {name!r}, got {spec!r}")
        grid[name] = parsed
    return grid


def grid_points(sweep: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """The cartesian product of ``sweep`` as a list of ``{name: value}`` (last name fastest).

    An empty sweep is one point with no overrides.
    """
    names = list(sweep)
    return [dict(zip(names, values)) for values in itertools.product(*sweep.values())]


def check_points(config: Any, points: Sequence[Mapping[str, float]]) -> None:
    """Validate every grid point by building ``dataclasses.replace(config, **point)``.

    The config's own ``__post_init__`` checks run on each point, so a bad value fails
    before anything is compiled, with the config's message (field, expected, actual).

    Raises:
        ValueError: from the config, prefixed with the offending grid point.
    """
    for point in points:
        try:
            dataclasses.replace(config, **point)
        except ValueError as err:
            raise ValueError(f"sweep point {point}: {err}") from None


def stack_hparams(base: Any, points: Sequence[Mapping[str, float]]) -> Any:
    """Batch a NamedTuple of scalar hyperparameters over grid points: leaves ``[G]``.

    Args:
        base: NamedTuple of defaults (e.g. ``purerl.algos.ppo.hyperparams_from(cfg)``).
        points: overrides per grid point, from ``grid_points``.

    Returns:
        The same NamedTuple type with float32 leaves of shape ``[G]``.
    """
    columns = {f: [float(p.get(f, getattr(base, f))) for p in points] for f in base._fields}
    return type(base)(**{f: jnp.asarray(v, jnp.float32) for f, v in columns.items()})
