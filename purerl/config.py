"""Config checking shared by every algorithm's frozen-dataclass config.

Configs are checked in ``__post_init__``, before anything is traced: a bad value raises a
``ValueError`` that names the field, what was expected and what was given, instead of a
shape error deep inside ``jax.jit``.
"""

from __future__ import annotations

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
