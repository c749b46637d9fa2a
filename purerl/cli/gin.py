"""The offline seed's command-line conventions: its agent configs, gin bindings and files,
absl-style booleans.

The seed runner (``jrl.localized.runner``) configures its agents with gin
(``--gin_bindings='cql.config.CQLConfig.cql_alpha=5.0'``, ``--gin_configs FILE``) and takes
absl flags (``--flag``, ``--noflag``, ``--flag=False``). This module is the only place the
seed's names exist: ``CQLConfig`` / ``SNRConfig`` carry the seed's field names and defaults
and translate once, in ``learner_config``, into ``purerl.algos.cql.Config`` /
``purerl.algos.snr_ac.Config``:

====================================  ==========================================
seed (gin)                            ours
====================================  ==========================================
``tau``                               ``polyak_tau`` (CQL; the SNR agent: unused)
``num_sgd_steps_per_step``            ``sgd_steps_per_call``
``actor_network_hidden_sizes``        ``actor_hidden_sizes``
``critic_network_hidden_sizes``       ``critic_hidden_sizes``
runner ``batch_size`` (K x per step)  ``sgd_batch_size`` = ``batch_size / K``
====================================  ==========================================
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

from purerl.algos import cql, snr_ac
from purerl.config import require
from purerl.losses.snr import SNRKwargs

SNR_KWARGS_GIN = "snr.config.SNRKwargs"
ABSL_BOOL_FLAGS = ("pdb_post_mortem", "debug_nans", "create_saved_model_actor",
                   "eval_with_q_filter", "disable_jit", "spoof_multi_device",
                   "single_precision_env")


def _check_tau(tau: Any) -> None:
    require(isinstance(tau, (int, float)) and 0.0 < tau <= 1.0, "tau", "a number in (0, 1]",
            tau)


@dataclasses.dataclass(frozen=True)
class CQLConfig:
    """The seed's ``cql.config.CQLConfig``: names and defaults as there (spec); gin
    bindings set these fields, ``learner_config`` checks and translates them."""

    policy_lr: float = 3e-5
    """Actor Adam step size."""
    q_lr: float = 3e-4
    """Critic Adam step size."""
    alpha_lr: float = 3e-4
    """Entropy-temperature Adam step size."""
    discount: float = 0.99
    """gamma."""
    num_bc_iters: int = 50_000
    """SGD steps of behaviour cloning before the actor maximises Q (no K scaling)."""
    cql_alpha: float = 5.0
    """Weight of the conservative term (README antmaze run: 0.05)."""
    num_importance_acts: int = 10
    """N policy actions and N uniform actions per state in the conservative term."""
    actor_network_hidden_sizes: tuple[int, ...] = (256, 256)
    """Actor MLP widths."""
    critic_network_hidden_sizes: tuple[int, ...] = (256, 256, 256)
    """Critic MLP widths."""
    num_critics: int = 2
    """Critic ensemble size (min over critics)."""
    tau: float = 0.005
    """Polyak rate of the target critics (ours: ``polyak_tau``)."""
    eval_with_q_filter: bool = False
    """Also evaluate the Q-filter policies (with and without uniform candidates)."""
    num_eval_samples: int = 10
    """Candidate actions per state of the Q-filter."""
    snr_alpha: float = 0.0
    """Weight of the optional SNR loss (0: off)."""
    snr_applied_to: str = "policy"
    """Where the SNR loss goes: ``policy`` or ``critic``."""
    use_snr_in_bc_iters: bool = False
    """Also apply the SNR loss during the BC phase."""
    snr_kwargs: SNRKwargs = dataclasses.field(default_factory=SNRKwargs)
    """SNR loss options (``snr.config.SNRKwargs`` bindings)."""
    num_sgd_steps_per_step: int = 1
    """K SGD steps per call (ours: ``sgd_steps_per_call``); batch_size = K x per-step."""
    target_entropy: float | None = None
    """Entropy target of the temperature (None: -action_dim)."""

    def learner_config(self, sgd_batch_size: int) -> cql.Config:
        """``purerl.algos.cql.Config`` of these fields (the table above); checks them.

        Raises:
            ValueError: a field out of range (names it, the expected and the value).
        """
        _check_tau(self.tau)
        return cql.Config(**_shared(self, sgd_batch_size), polyak_tau=self.tau,
                          cql_alpha=self.cql_alpha,
                          num_importance_acts=self.num_importance_acts)


@dataclasses.dataclass(frozen=True)
class SNRConfig:
    """The seed's ``snr.config.SNRConfig``: names and defaults as there (spec). As in the
    seed, the default ``snr_kwargs`` is not a runnable combination (``learner_config``
    says which option clashes)."""

    policy_lr: float = 3e-5
    """Actor Adam step size."""
    q_lr: float = 3e-4
    """Critic Adam step size."""
    alpha_lr: float = 3e-4
    """Entropy-temperature Adam step size."""
    discount: float = 0.99
    """gamma."""
    num_bc_iters: int = 50_000
    """SGD steps of behaviour cloning (no K scaling)."""
    actor_network_hidden_sizes: tuple[int, ...] = (256, 256, 256)
    """Actor MLP widths."""
    critic_network_hidden_sizes: tuple[int, ...] = (256, 256, 256)
    """NTK critic widths."""
    num_critics: int = 1
    """Critic ensemble size (the SNR loss is averaged over the critics)."""
    tau: float = 0.005
    """Accepted and unused, as in the original (no target network)."""
    use_snr_in_bc_iters: bool = False
    """Also apply the SNR loss during the BC phase."""
    snr_applied_to: str = "policy"
    """Where the SNR loss goes: ``policy`` or ``critic``."""
    snr_alpha: float = 1.0
    """Weight of the SNR loss (README run: 10)."""
    snr_kwargs: SNRKwargs = dataclasses.field(default_factory=SNRKwargs)
    """SNR loss options (``snr.config.SNRKwargs`` bindings)."""
    eval_with_q_filter: bool = False
    """Also evaluate the Q-filter policies."""
    num_eval_samples: int = 10
    """Candidate actions per state of the Q-filter."""
    num_sgd_steps_per_step: int = 1
    """K SGD steps per call (ours: ``sgd_steps_per_call``); batch_size = K x per-step."""
    target_entropy: float | None = None
    """Entropy target of the temperature (None: -action_dim)."""

    def learner_config(self, sgd_batch_size: int) -> snr_ac.Config:
        """``purerl.algos.snr_ac.Config`` of these fields (``tau`` checked, then dropped).

        Raises:
            ValueError: a field out of range, or SNR options that do not combine.
        """
        _check_tau(self.tau)
        return snr_ac.Config(**_shared(self, sgd_batch_size), polyak_tau=None)


def _shared(seed: CQLConfig | SNRConfig, sgd_batch_size: int) -> dict:
    """The fields both seed configs translate the same way."""
    same = ("policy_lr", "q_lr", "alpha_lr", "discount", "num_bc_iters", "num_critics",
            "eval_with_q_filter", "num_eval_samples", "snr_alpha", "snr_applied_to",
            "use_snr_in_bc_iters", "snr_kwargs", "target_entropy")
    return {**{name: getattr(seed, name) for name in same},
            "actor_hidden_sizes": tuple(seed.actor_network_hidden_sizes),
            "critic_hidden_sizes": tuple(seed.critic_network_hidden_sizes),
            "sgd_steps_per_call": seed.num_sgd_steps_per_step,
            "sgd_batch_size": sgd_batch_size}


AGENTS = {"cql": ("cql.config.CQLConfig", CQLConfig),
          "snr": ("snr.config.SNRConfig", SNRConfig)}
"""``--algorithm`` -> (the gin configurable the seed binds, its config class here)."""


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


def read_gin_file(path: str) -> list[str]:
    """The bindings of a gin config file (``--gin_configs``), in order.

    One binding per line, ``name = value``; ``#`` starts a comment (outside quotes); a value
    may continue over lines while a bracket is open, as in gin. Gin's ``import`` and
    ``include`` statements and macros are not supported (they raise, naming the line).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unsupported statement or a line that is not a binding.
    """
    with open(path) as f:
        lines = f.read().splitlines()
    bindings, pending, depth, start = [], "", 0, 0
    for number, line in enumerate(lines, 1):
        text, quote = "", None
        for ch in line:                  # drop a comment, unless '#' is inside a string
            if quote is None and ch == "#":
                break
            if quote is None and ch in "'\"":
                quote = ch
            elif ch == quote:
                quote = None
            elif quote is None:
                depth += (ch in "([{") - (ch in ")]}")
            text += ch
        if not pending:
            start = number
        pending = f"{pending} {text.strip()}".strip()
        if depth > 0 or not pending:
            continue
        where = f"gin_configs: {path}:{start}"
        first = pending.split()[0]
        if first in ("import", "include") or pending.startswith("%") or "=" not in pending:
            raise ValueError(f"{where}: expected a binding '<configurable>.<field> = "
                             f"<value>' (imports, includes and macros are not supported), "
                             f"got {pending!r}")
        bindings.append(pending)
        pending = ""
    if pending:
        raise ValueError(f"gin_configs: {path}:{start}: unclosed bracket in {pending!r}")
    return bindings


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
