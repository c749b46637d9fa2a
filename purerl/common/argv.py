"""The one scanner of command lines for ``--name`` / ``--name=value`` / ``--name value``.

Every piece that takes some flags out of ``argv`` or rewrites them before the parser sees
them (the multi-host flags of ``purerl.common.distributed.pop_flags``, the boolean
spellings of ``purerl.cli.common.normalize_bool_flags``, rl_games' names in
``purerl.cli.sac.translate_rl_games``) reads ``argv`` through ``scan_flags`` and keeps only
its own rule: which names it wants, whether a bare ``--name`` takes the next token as its
value, and what it does with what it found.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from typing import NamedTuple


class FlagToken(NamedTuple):
    """One item of a scanned command line.

    Attributes:
        name: the flag's name, ``-`` read as ``_`` (``--num-envs`` -> ``num_envs``), when it
            is one of the names asked for; None for every other token.
        value: the text after ``=`` (``""`` for ``--name=``), or the next token when a bare
            ``--name`` took it; None for a bare ``--name`` that took none (and for other
            tokens).
        tokens: the tokens of ``argv`` this item stands for, in order (1, or 2 when the
            value is the next token).
    """

    name: str | None
    value: str | None
    tokens: tuple[str, ...]


def flag_name(token: str) -> str | None:
    """``"num_envs"`` for ``"--num-envs"`` or ``"--num_envs=4"``; None if ``token`` does
    not start with ``--``."""
    if not token.startswith("--"):
        return None
    return token.partition("=")[0][2:].replace("-", "_")


def scan_flags(argv: Sequence[str], names: Container[str],
               takes_next: Callable[[str, str], bool]) -> list[FlagToken]:
    """``argv`` as a list of ``FlagToken`` covering every token once, in order.

    Args:
        argv: the command line (without the program name).
        names: the flag names (underscored) to pick out; other tokens pass as
            ``FlagToken(None, None, (token,))``.
        takes_next: ``(name, next_token) -> bool``: whether a bare ``--name`` (no ``=``)
            takes the following token as its value. Not asked at the end of ``argv``.

    Returns:
        The items; ``sum((t.tokens for t in items), ()) == tuple(argv)``.
    """
    argv = list(argv)
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        name = flag_name(token)
        if name not in names:
            out.append(FlagToken(None, None, (token,)))
            i += 1
            continue
        _, eq, value = token.partition("=")
        if eq:
            out.append(FlagToken(name, value, (token,)))
        elif i + 1 < len(argv) and takes_next(name, argv[i + 1]):
            out.append(FlagToken(name, argv[i + 1], (token, argv[i + 1])))
            i += 1
        else:
            out.append(FlagToken(name, None, (token,)))
        i += 1
    return out
