"""Constructor-argument checks shared by the environments (run before any tracing)."""

from __future__ import annotations

import operator


def check_int(owner: str, field: str, value: object, minimum: int) -> int:
    """Returns ``value`` as an int if it is an integer ``>= minimum``.

    Raises:
        ValueError: naming ``owner.field``, the expected and the actual value.
    """
    try:
        as_int = operator.index(value)  # accepts int and numpy ints, rejects 2.0 and "2"
    except TypeError:
        as_int = None
    if as_int is None or isinstance(value, bool) or as_int < minimum:
        raise ValueError(f"{owner}: {field} must be an integer >= {minimum}, got {value!r}")
    return as_int
