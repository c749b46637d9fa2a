"""What every command line shares: user errors as one line, ``--debug``, Ctrl-C.

A mistake a user can make (a bad flag value, a run directory that exists, a missing
dataset, a run that went NaN) is printed as ONE line, ``error: <message>``, and the process
exits with status 2, without a Python traceback; ``--debug`` (anywhere on the command line)
re-raises it with the traceback. Ctrl-C prints how to resume the run it interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from envs_jax.offline.validate import DatasetError
from purerl.common.experiment import NonFiniteError
from purerl.common.run_dir import RunDirError

USER_ERRORS = (ValueError, FileExistsError, FileNotFoundError, NotADirectoryError,
               RunDirError, NonFiniteError, DatasetError)
"""Exceptions that are the user's to fix: printed as one line (``--debug``: traceback)."""
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

_active_run_dir: list[str] = []


def set_active_run_dir(path: str | None) -> None:
    """Record the run directory being written, for the Ctrl-C message."""
    _active_run_dir[:] = [path] if path else []


def run_cli(main: Callable[[list[str]], Any], argv: Sequence[str] | None = None,
            prog: str = "purerl") -> Any:
    """Call ``main(argv)`` with the CLI conventions of the module docstring.

    Args:
        main: the command's ``main(argv) -> result``.
        argv: arguments (default ``sys.argv[1:]``); ``--debug`` is removed before ``main``.
        prog: the command's name, for messages.

    Returns:
        ``main``'s result (the process exits on a user error or Ctrl-C).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        return main(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        where = _active_run_dir[0] if _active_run_dir else None
        hint = (f"; continue it with: {prog} --resume {where}" if where else "")
        print(f"\ninterrupted{hint}", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except USER_ERRORS as err:
        if debug:
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"{prog}: error: {message} (add --debug for a traceback)", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
