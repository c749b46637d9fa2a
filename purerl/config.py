"""Config checking shared by every algorithm's frozen-dataclass config.

Configs are checked in ``__post_init__``, before anything is traced: a bad value raises a
``ValueError`` that names the field, what was expected and what was given, instead of a
shape error deep inside ``jax.jit``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any


def require(ok: bool, field: str, expected: str, actual: Any) -> None:
    """Raise ``ValueError("<field>: expected <expected>, got <actual>")`` unless ``ok``.

    Args:
        ok: the condition that a valid config satisfies.
        field: the config field (CLI flag name) at fault.
        expected: human-readable description of valid values.
        actual: the offending value.

    Raises:
        ValueError: when ``ok`` is false.
    """
    if not ok:
        raise ValueError(f"{field}: expected {expected}, got {actual!r}")


def require_positive(field: str, value: float) -> None:
    """``require(value > 0, ...)`` for counts and sizes."""
    require(value > 0, field, "a positive number", value)


def require_unit_interval(field: str, value: float, *, closed: bool = True) -> None:
    """``require(0 <= value <= 1)`` (``0 < value < 1`` if not ``closed``)."""
    ok = 0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0
    require(ok, field, "a number in [0, 1]" if closed else "a number in (0, 1)", value)


def require_finite(field: str, value: float) -> None:
    """``require(math.isfinite(value))``: NaN and +-inf are never valid hyperparameters."""
    require(math.isfinite(value), field, "a finite number", value)


def check_fields(config: Any) -> None:
    """Check what every field's type promises, for any dataclass instance.

    ``Literal[...]`` fields must hold one of their choices (a config built in Python is
    not checked by the command line's parser); ``float`` fields must be finite (``inf`` and
    ``nan`` parse as floats, then poison training). ``Optional`` and ``Annotated`` wrappers
    are looked through. Call it first in ``__post_init__``.

    Raises:
        ValueError: naming the first bad field, what was expected and what was given.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kind = _field_types(type(config)).get(f.name)
        if kind is None:
            continue
        choices = _literal_choices(kind)
        if choices is not None and value not in choices:
            require(False, f.name, f"one of {', '.join(map(repr, choices))}", value)
        if isinstance(value, float) and _admits_float(kind):
            require_finite(f.name, value)


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)       # resolves string annotations; drops Annotated


def _options(kind: Any) -> tuple:
    """The alternatives of a ``Union`` / ``Optional`` (or ``(kind,)``)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return typing.get_args(kind)
    return (kind,)


def _literal_choices(kind: Any) -> tuple | None:
    choices = [c for option in _options(kind) if typing.get_origin(option) is typing.Literal
               for c in typing.get_args(option)]
    if not choices:
        return None
    if type(None) in _options(kind):
        choices.append(None)
    return tuple(choices)


def _admits_float(kind: Any) -> bool:
    return float in _options(kind)
