"""The offline seed's command-line conventions: gin bindings and absl-style booleans.

The seed runner (``jrl.localized.runner``) configures its agents with gin
(``--gin_bindings='cql.config.CQLConfig.cql_alpha=5.0'``) and takes absl flags
(``--flag``, ``--noflag``, ``--flag=False``). This module turns both into our configs; it is
the only place the seed's gin names exist.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

from purerl.algos import cql, snr_ac
from purerl.config import require
from purerl.losses.snr import SNRKwargs

AGENTS = {"cql": ("cql.config.CQLConfig", cql.CQLConfig),
          "snr": ("snr.config.SNRConfig", snr_ac.SNRConfig)}
"""``--algorithm`` -> (the gin configurable the seed binds, our config class)."""
SNR_KWARGS_GIN = "snr.config.SNRKwargs"
ABSL_BOOL_FLAGS = ("pdb_post_mortem", "debug_nans", "create_saved_model_actor")


def parse_gin_value(text: str, binding: str) -> Any:
    """A gin value: a Python literal, or a ``@name()`` reference (returned as the string).

    Raises:
        ValueError: not a literal (names the binding).
    """
    text = text.strip()
    if text.startswith("@"):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"gin_bindings: cannot parse the value {text!r} of {binding!r}; "
                         "expected a Python literal (number, True/False, \"string\", "
                         "(tuple), None) or @snr.config.SNRKwargs()") from None


def _coerce(value: Any, default: Any, field: str, binding: str) -> Any:
    """Check ``value`` against the type of the field's default (gin does no checking)."""
    def bad(expected):
        return ValueError(f"gin_bindings: {field}: expected {expected}, got {value!r} "
                          f"(in {binding!r})")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("True or False")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an int")
    elif isinstance(default, float) or default is None:
        if isinstance(value, bool) or not (isinstance(value, (int, float)) or
                                          (default is None and value is None)):
            raise bad("a number")
        value = None if value is None else float(value)
    elif isinstance(default, tuple):
        if not isinstance(value, (tuple, list)):
            raise bad("a tuple such as (256, 256)")
        value = tuple(value)
    elif isinstance(default, str) and not isinstance(value, str):
        raise bad("a quoted string")
    return value


def apply_gin_bindings(algorithm: str, bindings: list[str]) -> Any:
    """Build the agent config (``CQLConfig`` / ``SNRConfig``) from the seeds' gin bindings.

    Args:
        algorithm: ``"cql"`` or ``"snr"``.
        bindings: strings ``"<configurable>.<field>=<value>"``; the configurable is the
            agent's (``cql.config.CQLConfig`` / ``snr.config.SNRConfig``) or
            ``snr.config.SNRKwargs``. A later binding of the same field wins (as gin).

    Returns:
        The agent config with its ``snr_kwargs`` built from the SNRKwargs bindings.

    Raises:
        ValueError: a malformed binding, an unknown configurable or field, another agent's
            configurable, a value of the wrong type, or a field out of range.
    """
    require(algorithm in AGENTS, "algorithm", f"one of {tuple(AGENTS)}", algorithm)
    gin_name, config_cls = AGENTS[algorithm]
    targets = {gin_name: (config_cls, {}), SNR_KWARGS_GIN: (SNRKwargs, {})}
    for binding in bindings:
        name, sep, text = binding.partition("=")
        configurable, _, field = name.strip().rpartition(".")
        if not sep or not configurable or not field:
            raise ValueError(f"gin_bindings: expected '<configurable>.<field>=<value>', "
                             f"got {binding!r}")
        if configurable not in targets:
            others = [g for a, (g, _) in AGENTS.items() if a != algorithm]
            if configurable in others:
                raise ValueError(f"gin_bindings: {binding!r} binds {configurable}, but "
                                 f"--algorithm is {algorithm!r} (use {gin_name})")
            raise ValueError(f"gin_bindings: unknown configurable {configurable!r} in "
                             f"{binding!r}; known: {sorted(targets)}")
        cls, values = targets[configurable]
        defaults = {f.name: (f.default if f.default is not dataclasses.MISSING else None)
                    for f in dataclasses.fields(cls)}
        if field not in defaults:
            raise ValueError(f"gin_bindings: unknown field {field!r} of {configurable} in "
                             f"{binding!r}; known fields: {sorted(defaults)}")
        value = parse_gin_value(text, binding)
        if field == "snr_kwargs":
            require(value == f"@{SNR_KWARGS_GIN}()", f"gin_bindings: {field}",
                    f"@{SNR_KWARGS_GIN}() (its fields are bound separately)", value)
            continue  # the SNRKwargs bindings always reach the agent (module docstring)
        if isinstance(value, str) and value.startswith("@"):
            raise ValueError(f"gin_bindings: {field}: references are only supported for "
                             f"snr_kwargs, got {value!r}")
        values[field] = _coerce(value, defaults[field], field, binding)
    snr_kwargs = SNRKwargs(**targets[SNR_KWARGS_GIN][1])
    return config_cls(**targets[gin_name][1], snr_kwargs=snr_kwargs)


def normalize_absl_bools(argv: list[str]) -> list[str]:
    """absl boolean flags -> explicit values: ``--x`` -> ``--x=True``, ``--nox`` ->
    ``--x=False``; ``--x=False`` and ``--x False`` pass through."""
    out = []
    for i, arg in enumerate(argv):
        flag = arg[2:] if arg.startswith("--") and "=" not in arg else None
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if flag in ABSL_BOOL_FLAGS and nxt not in ("True", "False", "true", "false"):
            out.append(f"--{flag}=True")
        elif flag is not None and flag.startswith("no") and flag[2:] in ABSL_BOOL_FLAGS:
            out.append(f"--{flag[2:]}=False")
        else:
            out.append(arg)
    return out
