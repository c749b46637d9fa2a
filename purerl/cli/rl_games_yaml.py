"""rl_games training YAML -> ``purerl-ppo`` flag values (``purerl-ppo --config train.yaml``).

One job: read an rl_games ``params:`` file (the layout of ``rl_games/configs/*.yaml`` and
IsaacGymEnvs' ``cfg/train/*PPO.yaml``) and return the ``purerl-ppo`` flags it stands for,
plus the keys that have no effect here. The whole mapping is the one table ``ROWS``: key
path (below ``params``) -> flag(s), converter, rl_games' default, note.
``docs/rl_games_mapping.md`` is that table rendered (``python -m purerl.cli.rl_games_yaml
--write-doc docs/rl_games_mapping.md``; a test keeps the two in sync).

Semantics are those of rl_games 1.6.1 (the version IsaacGymEnvs 1.5.1 pins), read from
``rl_games/common/a2c_common.py``, ``algos_torch/a2c_continuous.py``,
``algos_torch/network_builder.py``, ``algos_torch/models.py`` and ``common/tr_helpers.py``:

- A key rl_games reads with a default (``config.get(key, default)``) takes that default
  when absent, so a YAML means what it means to rl_games, not to purerl-ppo. A key rl_games
  requires (``config[key]``) that is absent leaves purerl-ppo's own default.
- Every key present is mapped, accepted as having no effect here (listed in
  ``Loaded.ignored``; the CLI prints one note) or unsupported. Unsupported keys are an
  error unless ``allow_unknown_keys`` (then one warning lists them). Nothing is dropped silently.
- A bad value (wrong type, out of range, unknown name, an unresolved Hydra
  ``${...}`` interpolation) is always an error: one line naming the key path, the value and
  what was expected.
"""

from __future__ import annotations

import math
import os
import re
import sys
import warnings
from typing import Any, Callable, NamedTuple, Sequence

REQUIRED = object()
"""``Row.default`` of a key rl_games requires: absent -> purerl-ppo's own default."""
OPTIONAL = object()
"""``Row.default`` of a key rl_games reads only when present (no default value)."""


class Loaded(NamedTuple):
    """What ``load`` read from one YAML file."""

    flags: dict[str, Any]
    """purerl-ppo flag -> value (defaults under the command-line flags)."""
    ignored: list[str]
    """Key paths accepted with no effect in purerl-ppo (see the table's notes)."""
    unsupported: list[str]
    """Key paths (``path=value`` where the value is the problem) purerl-ppo cannot honour."""


class _Unsupported(Exception):
    """A value rl_games accepts that purerl-ppo cannot honour (collected, not raised)."""


class _Ctx:
    """What a converter sees: the whole ``params`` tree and the lists it may add to."""

    def __init__(self, params: dict):
        self.params = params
        self.ignored: list[str] = []

    def get(self, path: str, default: Any = None) -> Any:
        node: Any = self.params
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def has(self, path: str) -> bool:
        return self.get(path, _ABSENT) is not _ABSENT


_ABSENT = object()


# ------------------------------------------------------------------------ value checks

def _bad(path: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{path}: expected {expected}, got {value!r}")


def _int(path: str, value: Any, minimum: int | None = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise _bad(path, "an integer", value)
    if minimum is not None and value < minimum:
        raise _bad(path, "a positive integer" if minimum == 1 else f"an integer >= {minimum}",
                   value)
    return value


def _float(path: str, value: Any, minimum: float | None = None, positive: bool = False) -> float:
    """A finite float; YAML 1.1 reads ``5e-5`` (no dot) as a string, so numeric strings
    are accepted as OmegaConf (IsaacGymEnvs) reads them."""
    if isinstance(value, bool):
        raise _bad(path, "a number", value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad(path, "a number", value) from None
    if not math.isfinite(number):
        raise _bad(path, "a finite number", value)
    if positive and number <= 0:
        raise _bad(path, "a positive number", value)
    if minimum is not None and number < minimum:
        raise _bad(path, f"a number >= {minimum:g}", value)
    return number


def _bool(path: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(path, "True or False", value)


def _choice(path: str, value: Any, table: dict) -> Any:
    key = "None" if value is None else value
    if not isinstance(key, str) or key not in table:
        raise _bad(path, "one of " + ", ".join(map(repr, table)), value)
    return table[key]


def _dict(path: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise _bad(path, "a block of keys", value)
    return value


# ------------------------------------------------------------------------ converters
# Each converter is ``(value, path, ctx) -> {flag: value}``; it raises ``ValueError`` for a
# bad value and ``_Unsupported`` for a value purerl-ppo cannot honour.

Converter = Callable[[Any, str, _Ctx], dict]


def to(flag: str, check: Callable[[str, Any], Any]) -> Converter:
    """The value, checked by ``check(path, value)``, becomes ``flag``."""
    return lambda value, path, ctx: {flag: check(path, value)}


def positive_int(path, value):
    return _int(path, value)


def any_float(path, value):
    return _float(path, value)


def nonneg_float(path, value):
    return _float(path, value, minimum=0.0)


def positive_float(path, value):
    return _float(path, value, positive=True)


def unit_float(path, value):
    number = _float(path, value)
    if not 0.0 <= number <= 1.0:
        raise _bad(path, "a number in [0, 1]", value)
    return number


def only(*accepted: Any, why: str) -> Converter:
    """Accepted (no effect) at ``accepted`` values; any other value is unsupported."""
    def convert(value, path, ctx):
        if value not in accepted:
            raise _Unsupported(f"{path}={value!r} ({why})")
        return {}
    convert.doc = f"accepted: {' / '.join(map(repr, accepted))}; else unsupported ({why})"
    return convert


def no_effect(value, path, ctx):
    """Accepted, no effect in purerl-ppo (listed in ``Loaded.ignored``)."""
    ctx.ignored.append(path)
    return {}


def unsupported(why: str) -> Converter:
    """A key purerl-ppo knows and cannot honour, whatever its value."""
    def convert(value, path, ctx):
        raise _Unsupported(f"{path} ({why})")
    convert.unsupported, convert.doc = True, why
    return convert


# rl_games ``activations_factory`` names -> purerl-ppo activation names.
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "elu": "elu",
               "selu": "selu", "swish": "swish", "gelu": "gelu", "softplus": "softplus",
               "None": "none"}


def activation(flag: str) -> Converter:
    return lambda value, path, ctx: {flag: _choice(path, value, ACTIVATIONS)}


def _initializer(value: Any, path: str, ctx: _Ctx) -> tuple[str, float | None]:
    """rl_games ``init_factory`` block ``{name: ..., **torch kwargs}`` -> (name, scale).

    rl_games passes the kwargs to the ``torch.nn.init`` function (``default`` ignores them),
    so the scale is ``val`` (const), ``gain`` (orthogonal, glorot) or ``b`` of a symmetric
    ``uniform_(a=-b, b=b)``.
    """
    block = _dict(path, value)
    name = block.get("name")
    kwargs = {k: v for k, v in block.items() if k != "name"}

    def take(allowed: dict[str, Any]) -> dict[str, Any]:
        extra = sorted(set(kwargs) - set(allowed))
        if extra:
            raise _bad(f"{path}.{extra[0]}", f"only {sorted(allowed) or 'no arguments'} "
                       f"for {name} (torch.nn.init arguments)", kwargs[extra[0]])
        return {k: kwargs.get(k, v) for k, v in allowed.items()}

    if name == "default":                      # torch's own nn.Linear init (kwargs unused)
        for key in kwargs:
            ctx.ignored.append(f"{path}.{key}")
        return "torch_default", None
    if name == "const_initializer":
        if "val" not in kwargs:
            raise _bad(path, "const_initializer with a val (torch.nn.init.constant_)", block)
        return "const", _float(f"{path}.val", take({"val": None})["val"])
    if name in ("orthogonal_initializer", "orthogonal"):
        return "orthogonal", _float(f"{path}.gain", take({"gain": 1.0})["gain"])
    if name == "glorot_normal_initializer":
        return "xavier_normal", _float(f"{path}.gain", take({"gain": 1.0})["gain"])
    if name == "glorot_uniform_initializer":
        return "xavier_uniform", _float(f"{path}.gain", take({"gain": 1.0})["gain"])
    if name == "random_uniform_initializer":
        args = take({"a": 0.0, "b": 1.0})
        a, b = _float(f"{path}.a", args["a"]), _float(f"{path}.b", args["b"])
        if a != -b or b <= 0:
            raise _Unsupported(f"{path}={block!r} (only a symmetric U(-s, s), a = -b < 0)")
        return "random_uniform", b
    if name == "kaiming_normal":
        args = take({"a": 0, "mode": "fan_in", "nonlinearity": "leaky_relu"})
        if args != {"a": 0, "mode": "fan_in", "nonlinearity": "leaky_relu"}:
            raise _Unsupported(f"{path}={block!r} (only torch's default kaiming_normal_ "
                               "arguments)")
        return "kaiming_normal", None
    if name == "variance_scaling_initializer":
        # rl_games' torch_ext: N(0, scale / fan_in) truncated at +-2 in absolute units,
        # which for any real layer (std sqrt(scale / fan_in) << 2) is no truncation at all.
        args = take({"scale": 2.0, "mode": "fan_in"})
        if args["mode"] != "fan_in":
            raise _Unsupported(f"{path}={block!r} (only mode fan_in)")
        return "variance_scaling", _float(f"{path}.scale", args["scale"])
    raise _bad(f"{path}.name", "one of 'default', 'const_initializer', "
               "'orthogonal_initializer', 'orthogonal', 'glorot_normal_initializer', "
               "'glorot_uniform_initializer', 'random_uniform_initializer', "
               "'kaiming_normal', 'variance_scaling_initializer'", name)


def initializer(flag: str, scale_flag: str) -> Converter:
    def convert(value, path, ctx):
        name, scale = _initializer(value, path, ctx)
        return {flag: name, scale_flag: scale}
    return convert


def algo_name(value, path, ctx):
    if value == "dmp_continuous":             # NEAR: PPO on a trained energy model
        where = [p for p in NEAR_BLOCKS if ctx.has(f"{p}.inference.eb_model_checkpoint")]
        if not where:
            raise _bad(f"{NEAR_BLOCKS[0]}.inference.eb_model_checkpoint", "the "
                       "purerl-near-energy run directory for algo.name=dmp_continuous "
                       "(train it first: purerl-near-energy --config <this yaml>)", None)
        return {}
    _choice(path, value, {"a2c_continuous": None, "a2c_discrete": None,
                          "amp_continuous": None})
    space = ctx.get("network.space", {}) or {}
    wants = "discrete" if value == "a2c_discrete" else "continuous"
    if isinstance(space, dict) and space and wants not in space:
        raise _bad("network.space", f"a '{wants}' block for algo.name={value}",
                   sorted(space))
    return {"imitation": "amp"} if value == "amp_continuous" else {}


def amp_key(flag: str, check: Callable[[str, Any], Any]) -> Converter:
    """An AMP key: mapped to ``flag`` under ``algo.name: amp_continuous``; any other
    algorithm does not read it (rl_games' a2c agents ignore it): no effect."""
    def convert(value, path, ctx):
        if ctx.get("algo.name") != "amp_continuous":
            ctx.ignored.append(path)
            return {}
        return {flag: check(path, value)}
    convert.doc = "read under algo.name amp_continuous only (else no effect)"
    return convert


def disc_units(path, value):
    if not isinstance(value, (list, tuple)) or not value:
        raise _bad(path, "a non-empty list of layer widths, e.g. [1024, 512]", value)
    return tuple(_int(f"{path}[{i}]", u) for i, u in enumerate(value))


def disc_activation(path, value):
    return _choice(path, value, ACTIVATIONS)


def disc_initializer(value, path, ctx):
    """The discriminator's hidden-layer init (IsaacGymEnvs ``network.disc.initializer``;
    its logit layer is always U(-1, 1)); names as ``network.mlp.initializer``, default
    scales only."""
    if ctx.get("algo.name") != "amp_continuous":
        ctx.ignored.append(path)
        return {}
    name, scale = _initializer(value, path, ctx)
    if scale not in (None, 1.0, 2.0) or name in ("const", "random_uniform"):
        raise _Unsupported(f"{path}={value!r} (the discriminator takes an initializer by "
                           "name with its default scale)")
    return {"disc_initializer": name}


MODELS = {"continuous_a2c_logstd": "log_std", "continuous_a2c": "std",
          "continuous_amp": "log_std", "a2c_discrete": None}


def model_name(value, path, ctx):
    if value in ("a2c_multi_discrete",):
        raise _Unsupported(f"{path}={value!r} (multi-discrete actions)")
    output = _choice(path, value, MODELS)
    return {} if output is None else {"sigma_output": output}


def fixed_sigma(value, path, ctx):
    """rl_games ``fixed_sigma: True``: ``self.sigma = nn.Parameter(zeros)`` (state-
    independent, learned); ``False``: ``self.sigma = nn.Linear`` (a head). IsaacGymEnvs'
    AMP network adds ``learn_sigma: False``: the parameter gets ``requires_grad=False``."""
    fixed = _bool(path, value)
    learn_path = path.rsplit(".", 1)[0] + ".learn_sigma"
    learn = _bool(learn_path, ctx.get(learn_path, True))
    if not fixed and not learn:
        raise _bad(learn_path, "True unless fixed_sigma is True (a sigma head is always "
                   "learned)", False)
    return {"log_std": ("param" if learn else "fixed") if fixed else "head"}


def sigma_init(value, path, ctx):
    """The initial sigma parameter (log-std for ``continuous_a2c_logstd``)."""
    fixed = ctx.get(path.rsplit(".", 1)[0] + ".fixed_sigma", True)
    name, scale = _initializer(value, path, ctx)
    if name == "torch_default" and fixed is True:
        return {"log_std_init": 0.0}          # 'default' leaves nn.Parameter(zeros) at 0
    if name == "const" and (fixed is True or scale == 0.0):
        # A sigma head with zero weights (and rl_games' zero bias) outputs 0 at init.
        return {"log_std_init": scale}
    raise _Unsupported(f"{path}={value!r} (purerl-ppo initialises sigma as a constant "
                       "log_std_init; a sigma head only with const_initializer val 0)")


def space_discrete(value, path, ctx):
    if value not in (None, {}):
        _dict(path, value)
        raise _Unsupported(f"{path}={value!r} (the discrete head takes no options)")
    return {}


def units(value, path, ctx):
    if not isinstance(value, (list, tuple)) or not value:
        raise _bad(path, "a non-empty list of layer widths, e.g. [256, 128]", value)
    return {"hidden_sizes": tuple(_int(f"{path}[{i}]", u) for i, u in enumerate(value))}


def regularizer(value, path, ctx):
    block = _dict(path, value)
    if block.get("name") not in (None, "None") or set(block) - {"name"}:
        raise _Unsupported(f"{path}={value!r} (no weight regularizer; rl_games builds none "
                           "either)")
    return {}


def run_name(value, path, ctx):
    """rl_games names the run ``name + _%d-%H-%M-%S`` (``full_experiment_name``: verbatim)."""
    if ctx.has("config.full_experiment_name"):
        ctx.ignored.append(path)              # the full name wins, as in rl_games
        return {}
    import time
    return {"out_file": _sanitise(path, value) + time.strftime("_%d-%H-%M-%S")}


def full_name(value, path, ctx):
    return {"out_file": _sanitise(path, value)}


def _sanitise(path: str, value: Any) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise _bad(path, "a run name", value)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("._")
    if not name:
        raise _bad(path, "a run name with a letter or digit", value)
    return name


def env_name(value, path, ctx):
    import envs_jax
    known = envs_jax.registered_envs()
    if not isinstance(value, str) or not (value in known or value.startswith("gymnax/")):
        hint = (" (rl_games' 'rlgpu' takes the task from IsaacGymEnvs' command line: pass "
                "--env_id)" if value == "rlgpu" else "")
        raise _bad(path, f"one of {known} or 'gymnax/<ID>'{hint}", value)
    return {"env_id": value}


def _batch(path: str, ctx: _Ctx) -> tuple[int, int]:
    """``(num_actors, horizon_length)`` for a key that needs the batch size."""
    for key in ("config.num_actors", "config.horizon_length"):
        if not ctx.has(key):
            raise _bad(path, f"{key} beside it (the batch is horizon_length * num_actors)",
                       "no " + key)
    return (_int("config.num_actors", ctx.get("config.num_actors")),
            _int("config.horizon_length", ctx.get("config.horizon_length")))


def minibatch_size(value, path, ctx):
    """rl_games: ``num_minibatches = batch // minibatch_size`` over all N * T steps
    shuffled (``datasets.PPODataset``, feed-forward nets): purerl's ``minibatch='flat'``."""
    size = _int(path, value)
    actors, horizon = _batch(path, ctx)
    batch = actors * horizon
    if batch % size:
        raise ValueError(f"{path}: expected a divisor of config.horizon_length * "
                         f"config.num_actors = {horizon} * {actors} = {batch}, got {size}")
    return {"num_minibatches": batch // size, "minibatch": "flat"}


def minibatch_size_per_env(value, path, ctx):
    """Used by rl_games only when ``minibatch_size`` is absent: size = num_actors * this."""
    per_env = _int(path, value)
    if ctx.has("config.minibatch_size"):
        ctx.ignored.append(path)
        return {}
    actors, horizon = _batch(path, ctx)
    if horizon % per_env:
        raise ValueError(f"{path}: expected a divisor of config.horizon_length = {horizon}, "
                         f"got {per_env}")
    return {"num_minibatches": horizon // per_env, "minibatch": "flat"}


def max_epochs(value, path, ctx):
    epochs = _int(path, value, minimum=-1)
    if epochs == 0:
        raise _bad(path, "a positive number of epochs (or -1: use config.max_frames)", value)
    frames = _int("config.max_frames", ctx.get("config.max_frames", -1), minimum=-1)
    updates = [epochs] if epochs > 0 else []
    if frames > 0:
        actors, horizon = _batch("config.max_frames", ctx)
        updates.append(-(-frames // (actors * horizon)))
    return {"num_updates": min(updates)} if updates else {}


def max_frames(value, path, ctx):
    if not ctx.has("config.max_epochs"):       # else max_epochs' row takes both
        return max_epochs(-1, "config.max_epochs", ctx)
    return {}


LR_SCHEDULES = {"constant": "constant", "None": "constant", "identity": "constant",
                "linear": "linear", "adaptive": "adaptive"}


def lr_schedule(value, path, ctx):
    schedule = _choice(path, value, LR_SCHEDULES)
    if schedule == "adaptive" and not ctx.has("config.kl_threshold"):
        raise _bad(path, "config.kl_threshold beside lr_schedule: adaptive", value)
    return {"lr_schedule": schedule}


SCHEDULE_TYPES = {"legacy": "minibatch", "per_minibatch": "minibatch", "standard": "epoch"}


def truncate_grads(value, path, ctx):
    if not _bool(path, value):
        return {"max_grad_norm": None}
    if not ctx.has("config.grad_norm"):
        raise _bad(path, "config.grad_norm beside truncate_grads: True", value)
    return {"max_grad_norm": positive_float("config.grad_norm", ctx.get("config.grad_norm"))}


def normalize_advantage(value, path, ctx):
    """rl_games normalises the advantages of the whole batch once (``prepare_dataset``)."""
    return {"advantage_norm": "batch" if _bool(path, value) else "none"}


def bounds_loss_coef(value, path, ctx):
    return {"bounds_loss_coef": 0.0 if value is None else nonneg_float(path, value)}


def score_to_win(value, path, ctx):
    return {"score_to_win": any_float(path, value)}


def save_best_after(value, path, ctx):
    return {"save_best_after": _int(path, value, minimum=0)}


def save_frequency(value, path, ctx):
    """rl_games saves weights every ``save_frequency`` epochs (0: never); purerl-ppo always
    checkpoints the full training state (for --resume), every ``checkpoint_every`` updates,
    a divisor of num_updates."""
    every = _int(path, value, minimum=0)
    if every == 0:
        return {"checkpoint_every": None}
    updates = ctx.get("config.max_epochs")
    if isinstance(updates, int) and not isinstance(updates, bool) and updates > 0 \
            and updates % every:
        raise ValueError(f"{path}: expected a divisor of config.max_epochs={updates} "
                         f"(purerl-ppo checkpoints divide the run), got {every}")
    return {"checkpoint_every": every}


def seed(value, path, ctx):
    return {"seed": _int(path, value, minimum=0)}


def reward_shaper(value, path, ctx):
    _dict(path, value)
    return {}


# ------------------------------------------------------------------------ the table

class Row(NamedTuple):
    """One rl_games key: where it lives, what it sets, and how."""

    path: str
    """Key path below ``params`` (``config.gamma``); a trailing ``.*`` takes a whole block."""
    flags: tuple[str, ...]
    """purerl-ppo flags it sets (the first is the one whose typed value replaces the key)."""
    convert: Converter
    default: Any = REQUIRED
    """rl_games' default when the key is absent, applied only when the key's parent block
    is present. ``REQUIRED``: rl_games needs the key (absent -> purerl-ppo's default);
    ``OPTIONAL``: rl_games reads it only when present."""
    note: str = ""


AMP_KEYS = {"amp_obs_demo_buffer_size": positive_int, "amp_replay_buffer_size": positive_int,
            "amp_replay_keep_prob": unit_float, "amp_batch_size": positive_int,
            "amp_minibatch_size": positive_int, "disc_coef": nonneg_float,
            "disc_logit_reg": nonneg_float, "disc_grad_penalty": nonneg_float,
            "disc_reward_scale": any_float, "disc_weight_decay": nonneg_float,
            "normalize_amp_input": _bool, "task_reward_w": any_float,
            "disc_reward_w": any_float}
"""The seed doc's "AMP - Additional Params": key -> value check (flag = key)."""
AMP_NOTE = "AMP (purerl.algos.amp, IsaacGymEnvs amp_continuous)"
NEAR_BLOCKS = ("config.near_config", "config.dmp_config", "near_config", "dmp_config")
"""Where NEAR's ``near_config`` (the seed's name; ``dmp_config`` in NEAR's code) may sit."""
NEAR_STEP1_KEYS = (
    "training.batch_size", "training.buffer_size", "training.n_epochs", "training.n_iters",
    "training.ngpu", "training.snapshot_freq", "training.algo", "training.anneal_power",
    "training.normalize_energynet_input", "data.dataset", "data.motion_file",
    "model.sigma_begin", "model.sigma_end", "model.L", "model.in_dim", "model.numObsSteps",
    "model.encoder_hidden_layers", "model.latent_space_dim", "model.decoder_hidden_layers",
    "model.ema", "model.ema_rate", "model.ncsnv2", "optim.weight_decay", "optim.optimizer",
    "optim.lr", "optim.beta1", "optim.amsgrad", "optim.grad_clip")
"""near_config keys of the energy model (NEAR step 1): read by ``purerl-near-energy``."""


def _near_only(ctx: _Ctx, path: str) -> None:
    if ctx.get("algo.name") != "dmp_continuous":
        raise _Unsupported(f"{path} (NEAR's inference keys need algo.name dmp_continuous)")


def near_weight(flag: str) -> Converter:
    def convert(value, path, ctx):
        _near_only(ctx, path)
        return {flag: _float(path, value)}
    return convert


def near_sigma_level(value, path, ctx):
    _near_only(ctx, path)
    level = _int(path, value, minimum=-1)
    return {"near_sigma_level": level}


def near_energy_run(value, path, ctx):
    """The energy model's run directory (``purerl-near-energy``), as written, relative to
    the working directory."""
    _near_only(ctx, path)
    if not isinstance(value, str) or not value:
        raise _bad(path, "the path of a purerl-near-energy run directory", value)
    return {"near_energy_run": value}


def near_normaliser(value, path, ctx):
    """NEAR saves the input normaliser apart; here it lives in the energy run directory."""
    _near_only(ctx, path)
    run = ctx.get(path.rsplit(".", 1)[0] + ".eb_model_checkpoint")
    if value in (None, "") or (isinstance(value, str) and isinstance(run, str) and
                               os.path.normpath(value) in (
                                   os.path.normpath(run),
                                   os.path.normpath(os.path.join(run, "normalizer.json")))):
        return {}
    raise _Unsupported(f"{path}={value!r} (the frozen normaliser is read from the energy run "
                       "directory, eb_model_checkpoint/normalizer.json; leave it empty)")


def _near_rows(block: str) -> list:
    step1 = "NEAR step 1 (the energy model): read by purerl-near-energy --config, no effect " \
            "in purerl-ppo"
    return [
        *(Row(f"{block}.{key}", (), no_effect, OPTIONAL, step1) for key in NEAR_STEP1_KEYS),
        Row(f"{block}.inference.task_reward_w", ("near_task_reward_w",),
            near_weight("near_task_reward_w"), OPTIONAL,
            "NEAR: weight of the env reward (algo dmp_continuous)"),
        Row(f"{block}.inference.energy_reward_w", ("near_energy_reward_w",),
            near_weight("near_energy_reward_w"), OPTIONAL,
            "NEAR: weight of the energy reward tanh((e - m) / 10)"),
        Row(f"{block}.inference.sigma_level", ("near_sigma_level",), near_sigma_level,
            OPTIONAL, "NEAR: -1 ncsnv2-adaptive annealing, 0..L-1 a fixed level"),
        Row(f"{block}.inference.eb_model_checkpoint", ("near_energy_run",), near_energy_run,
            OPTIONAL, "NEAR: the purerl-near-energy run directory (EMA weights + normaliser)"),
        Row(f"{block}.inference.running_mean_std_checkpoint", (), near_normaliser, OPTIONAL,
            "NEAR: empty, or the energy run dir (its normalizer.json)"),
    ]
C = "network.space.continuous"

ROWS: tuple[Row, ...] = (
    Row("seed", ("seed",), seed, OPTIONAL,
        "rl_games: absent = time-based seed; here absent = purerl-ppo's seed 0"),
    Row("algo.name", (), algo_name, REQUIRED,
        "a2c_continuous or a2c_discrete (must match network.space); amp_continuous -> "
        "imitation amp (AMP: the config.amp_* / disc_* keys and network.disc apply); "
        "dmp_continuous: NEAR, PPO on the energy reward (needs "
        "near_config.inference.eb_model_checkpoint)"),
    Row("model.name", ("sigma_output",), model_name, REQUIRED,
        "continuous_a2c_logstd -> log_std (Normal(mu, exp(sigma))); continuous_a2c -> std "
        "(Normal(mu, sigma)); continuous_amp (IsaacGymEnvs, a log-std model) -> log_std; "
        "a2c_discrete -> nothing"),
    Row("network.name", (), only("actor_critic", "amp", why="the MLP actor-critic only; "
                                 "'amp' is IsaacGymEnvs' actor_critic + discriminator"),
        REQUIRED, "actor_critic (or IsaacGymEnvs' amp: actor_critic + network.disc)"),
    Row("network.separate", ("separate",), to("separate", _bool), False,
        "separate actor and critic MLPs"),
    Row(f"{C}.mu_activation", ("mu_activation",), activation("mu_activation"), REQUIRED,
        "relu tanh sigmoid elu selu swish gelu softplus None (-> none)"),
    Row(f"{C}.sigma_activation", ("sigma_activation",), activation("sigma_activation"),
        REQUIRED, "applied to the sigma parameter / head output"),
    Row(f"{C}.mu_init.*", ("mu_init", "mu_init_scale"), initializer("mu_init", "mu_init_scale"),
        REQUIRED, "rl_games applies it to the mu layer's weight after the mlp initializer "
        "(bias 0); names as for network.mlp.initializer"),
    Row(f"{C}.sigma_init.*", ("log_std_init",), sigma_init, REQUIRED,
        "const_initializer val V -> V (default -> 0: the parameter starts at zeros); with "
        "fixed_sigma False only const val 0 (zero head weights and bias)"),
    Row(f"{C}.fixed_sigma", ("log_std",), fixed_sigma, REQUIRED,
        "True = a state-independent LEARNED nn.Parameter -> param; False = an nn.Linear "
        "sigma head -> head; True with learn_sigma False -> fixed"),
    Row(f"{C}.learn_sigma", (), only(True, False, why="read with fixed_sigma"), True,
        "IsaacGymEnvs' amp network: False freezes the sigma parameter (requires_grad=False); "
        "stock rl_games' actor_critic ignores the key, purerl-ppo honours it for any "
        "network.name (read by fixed_sigma's row)"),
    Row("network.space.discrete", (), space_discrete, OPTIONAL,
        "the categorical head (a2c_discrete); no options"),
    Row("network.mlp.units", ("hidden_sizes",), units, REQUIRED, "layer widths"),
    Row("network.mlp.activation", ("activation",), activation("activation"), REQUIRED,
        "names as mu_activation"),
    Row("network.mlp.initializer.*", ("initializer", "initializer_scale"),
        initializer("initializer", "initializer_scale"), REQUIRED,
        "applied to every Linear weight, biases zeroed: default -> torch_default (torch's "
        "nn.Linear init, kwargs unused), const_initializer val -> const, "
        "orthogonal(_initializer) gain -> orthogonal, glorot_normal/glorot_uniform_initializer "
        "gain -> xavier_normal/xavier_uniform, random_uniform_initializer a=-s b=s -> "
        "random_uniform s, kaiming_normal (torch defaults) -> kaiming_normal; "
        "variance_scaling_initializer scale -> variance_scaling (N(0, scale / fan_in); rl_games' "
        "truncation at +-2 is absolute, so never reached)"),
    Row("network.mlp.d2rl", (), only(False, why="no D2RL dense-skip MLP"), False, ""),
    Row("network.mlp.norm_only_first_layer", (), only(False, why="no layer normalisation"),
        False, ""),
    Row("network.mlp.regularizer.*", (), regularizer, {"name": "None"},
        "only name None (rl_games builds no regularizer from it either)"),
    Row("network.normalization", (), only(None, "None", why="no layer/batch norm"), None, ""),
    Row("network.value_activation", (), only("None", None, why="a linear value head"),
        "None", ""),
    Row("network.rnn.*", (), unsupported("a recurrent torso: the Gaussian actor-critic is "
                                         "feed-forward"), OPTIONAL, ""),
    Row("network.cnn.*", (), unsupported("a convolutional torso"), OPTIONAL, ""),
    Row("network.inputs.*", (), unsupported("dict observations"), OPTIONAL, ""),
    Row("network.disc.units", ("disc_units",), amp_key("disc_units", disc_units), OPTIONAL,
        AMP_NOTE + ": discriminator hidden widths"),
    Row("network.disc.activation", ("disc_activation",),
        amp_key("disc_activation", disc_activation), OPTIONAL,
        AMP_NOTE + ": discriminator hidden activation"),
    Row("network.disc.initializer.*", ("disc_initializer",), disc_initializer, OPTIONAL,
        AMP_NOTE + ": discriminator hidden-layer init (biases 0; logit layer U(-1, 1))"),
    Row("load_checkpoint", (), only(False, "False", why="rl_games .pth checkpoints do not "
                                    "load; continue a purerl run with --resume RUN_DIR"),
        False, ""),
    Row("load_path", (), no_effect, OPTIONAL, "unused while load_checkpoint is False"),
    Row("config.name", ("out_file",), run_name, REQUIRED,
        "as rl_games: run dir <name>_<DD-HH-MM-SS> (sanitised to [A-Za-z0-9._-])"),
    Row("config.full_experiment_name", ("out_file",), full_name, OPTIONAL,
        "as rl_games: the run dir name verbatim (sanitised), overrides config.name"),
    Row("config.env_name", ("env_id",), env_name, REQUIRED,
        "one of envs_jax.registered_envs() or gymnax/<ID>; the action space must suit "
        "algo.name (checked when the env is built)"),
    Row("config.num_actors", ("num_envs",), to("num_envs", positive_int), REQUIRED, ""),
    Row("config.horizon_length", ("num_steps",), to("num_steps", positive_int), REQUIRED, ""),
    Row("config.minibatch_size", ("num_minibatches", "minibatch"), minibatch_size, REQUIRED,
        "num_minibatches = horizon_length * num_actors / minibatch_size (the YAML's own "
        "values: typing --num_envs keeps num_minibatches), minibatch flat (rl_games shuffles "
        "all N*T steps)"),
    Row("config.minibatch_size_per_env", ("num_minibatches", "minibatch"),
        minibatch_size_per_env, OPTIONAL,
        "only without minibatch_size: num_minibatches = horizon_length / this"),
    Row("config.mini_epochs", ("update_epochs",), to("update_epochs", positive_int),
        REQUIRED, ""),
    Row("config.max_epochs", ("num_updates",), max_epochs, -1,
        "one epoch = one rollout + its mini_epochs = one purerl update; -1 -> max_frames"),
    Row("config.max_frames", ("num_updates",), max_frames, -1,
        "num_updates = ceil(max_frames / (horizon_length * num_actors)); with max_epochs "
        "too, the smaller (rl_games stops at whichever comes first)"),
    Row("config.learning_rate", ("learning_rate",), to("learning_rate", positive_float),
        REQUIRED, "5e-5 (a YAML 1.1 string) is read as a number, as OmegaConf does"),
    Row("config.lr_schedule", ("lr_schedule",), lr_schedule, REQUIRED,
        "constant / None / identity -> constant, linear, adaptive (needs kl_threshold)"),
    Row("config.kl_threshold", ("kl_threshold",), to("kl_threshold", positive_float),
        OPTIONAL, "adaptive: KL > 2*kl_threshold -> lr/1.5, KL < kl_threshold/2 -> lr*1.5"),
    Row("config.schedule_type", ("adaptive_lr_every",),
        lambda v, p, c: {"adaptive_lr_every": _choice(p, v, SCHEDULE_TYPES)}, "legacy",
        "legacy (rl_games 1.6.1's default; per_minibatch in later versions) -> minibatch, "
        "standard (once per mini-epoch on its mean KL) -> epoch"),
    Row("config.min_lr", (), only(1e-6, "1e-6", why="purerl-ppo's schedules use rl_games' "
                                  "default bound"), 1e-6, ""),
    Row("config.max_lr", (), only(1e-2, "1e-2", why="purerl-ppo's adaptive schedule uses "
                                  "rl_games' default bound"), 1e-2, ""),
    Row("config.lr_multiplier", (), only(1.5, why="purerl-ppo's adaptive schedule uses "
                                         "rl_games' default factor"), 1.5, ""),
    Row("config.schedule_entropy", (), only(False, why="the entropy coefficient is not "
                                            "scheduled"), False, ""),
    Row("config.gamma", ("gamma",), to("gamma", unit_float), REQUIRED, ""),
    Row("config.tau", ("gae_lambda",), to("gae_lambda", unit_float), REQUIRED,
        "GAE lambda (rl_games' name)"),
    Row("config.e_clip", ("clip_eps",), to("clip_eps", positive_float), REQUIRED,
        "also the value-clip range, as in rl_games"),
    Row("config.clip_value", ("clip_value",), to("clip_value", _bool), REQUIRED, ""),
    Row("config.critic_coef", ("vf_coef",), to("vf_coef", nonneg_float), REQUIRED,
        "rl_games' 0.5 * mean((R-V)^2) * critic_coef = purerl's vf_coef * 0.5 * mean(err^2)"),
    Row("config.entropy_coef", ("ent_coef",), to("ent_coef", nonneg_float), REQUIRED, ""),
    Row("config.truncate_grads", ("max_grad_norm",), truncate_grads, False,
        "False -> max_grad_norm None (no clipping); True -> config.grad_norm"),
    Row("config.grad_norm", (), lambda v, p, c: (positive_float(p, v), {})[1], REQUIRED,
        "read by truncate_grads' row (rl_games requires it even when unused)"),
    Row("config.normalize_advantage", ("advantage_norm",), normalize_advantage, REQUIRED,
        "True -> batch (rl_games normalises the whole batch once), False -> none"),
    Row("config.normalize_rms_advantage", (), only(False, why="no running-stats advantage "
                                                  "normalisation"), False, ""),
    Row("config.normalize_input", ("normalize_obs",), to("normalize_obs", _bool), REQUIRED,
        "running mean/var, clip +-5"),
    Row("config.normalize_value", ("normalize_value",), to("normalize_value", _bool), False,
        ""),
    Row("config.value_bootstrap", ("bootstrap_timeouts",), to("bootstrap_timeouts", _bool),
        False, "rl_games 1.6.1 default (None = off); rl_games >= 1.6.5 defaults to True: set "
        "it explicitly"),
    Row("config.bounds_loss_coef", ("bounds_loss_coef",), bounds_loss_coef, None,
        "None -> 0 (rl_games: no bounds loss)"),
    Row("config.bound_loss_type", (), only("bound", why="only the bounds loss "
                                           "sum(relu(|mu|-1)^2)"), "bound", ""),
    Row("config.reward_shaper", (), reward_shaper, REQUIRED, "the block"),
    Row("config.reward_shaper.scale_value", ("reward_scale",), to("reward_scale", any_float),
        1.0, "rewards x scale for GAE and value targets (logged returns stay raw)"),
    Row("config.reward_shaper.shift_value", (), only(0, 0.0, why="no reward shift"), 0, ""),
    Row("config.reward_shaper.log_val", (), only(False, why="no log reward"), False, ""),
    Row("config.reward_shaper.is_torch", (), no_effect, True, ""),
    Row("config.score_to_win", ("score_to_win",), score_to_win, OPTIONAL,
        "absent: no target (rl_games reads it only when present)"),
    Row("config.save_best_after", ("save_best_after",), save_best_after, 100,
        "updates before the best policy is kept"),
    Row("config.save_frequency", ("checkpoint_every",), save_frequency, 0,
        "epochs = updates; must divide max_epochs; 0 -> None (purerl-ppo's default period: "
        "it always checkpoints, for --resume)"),
    Row("config.train_dir", ("runs_dir",), to("runs_dir", lambda p, v: str(v)), "runs",
        "parent of run directories (rl_games' default 'runs' = purerl-ppo's)"),
    Row("config.mixed_precision", (), only(False, "False", why="float32 only"), False, ""),
    Row("config.multi_gpu", (), only(False, "False", why="one process; several devices are "
                                     "used by sharding the seed/grid axis"), False, ""),
    Row("config.ppo", (), only(True, "True", why="the PPO objective only"), True, ""),
    Row("config.weight_decay", (), only(0, 0.0, why="plain Adam"), 0.0, ""),
    Row("config.use_smooth_clamp", (), only(False, why="hard ratio clip only"), False, ""),
    Row("config.use_action_masks", (), only(False, why="no action masks"), False, ""),
    Row("config.self_play", (), only(False, why="no self-play"), False, ""),
    Row("config.epochs_between_resets", (), only(0, why="no periodic env resets"), 0, ""),
    Row("config.zero_rnn_on_done", (), only(True, why="RNN option"), True, ""),
    Row("config.print_stats", (), no_effect, True,
        "purerl-ppo prints progress every --log_every updates"),
    Row("config.games_to_track", (), no_effect, 100,
        "rl_games' mean-reward window; purerl logs per-update sums and counts"),
    Row("config.clip_actions", (), no_effect, True,
        "purerl-ppo passes the Gaussian sample to the env (amp-humanoid clips to [-1, 1])"),
    Row("config.device", (), no_effect, OPTIONAL, "JAX places the run"),
    Row("config.device_name", (), no_effect, OPTIONAL, "JAX places the run"),
    Row("config.use_diagnostics", (), no_effect, False, ""),
    Row("config.log_path", (), no_effect, OPTIONAL, "the run dir holds everything"),
    Row("config.network_path", (), no_effect, OPTIONAL, "the run dir holds everything"),
    Row("config.seq_len", (), no_effect, OPTIONAL,
        "IsaacGymEnvs' misspelling of seq_length; RNN only"),
    Row("config.seq_length", (), no_effect, 4, "RNN only (feed-forward nets here)"),
    Row("config.bptt_length", (), no_effect, OPTIONAL, "RNN only"),
    Row("config.central_value_config.*", (), unsupported("an asymmetric central critic"),
        OPTIONAL, ""),
    Row("config.defer_summaries_sec", (), no_effect, OPTIONAL, "TensorBoard writer timing"),
    Row("config.summaries_interval_sec_min", (), no_effect, OPTIONAL,
        "TensorBoard writer timing"),
    Row("config.summaries_interval_sec_max", (), no_effect, OPTIONAL,
        "TensorBoard writer timing"),
    Row("config.force_interval_writer", (), no_effect, OPTIONAL, "TensorBoard writer timing"),
    Row("torch_threads", (), no_effect, OPTIONAL, "XLA picks its threads"),
    Row("config.env_config.*", (), only({}, None, why="envs take their own parameters"),
        OPTIONAL, "only empty"),
    Row("config.player.*", (), no_effect, OPTIONAL,
        "play-mode options: score runs with purerl-evaluate --run_dir"),
    *(Row(f"config.{key}", (key,), amp_key(key, check), REQUIRED,
          AMP_NOTE + (" (rl_games' default True = purerl's)"
                      if key == "normalize_amp_input" else ""))
      for key, check in AMP_KEYS.items()),
    *(row for block in NEAR_BLOCKS for row in _near_rows(block)),
)

_BY_PATH = {row.path.removesuffix(".*"): row for row in ROWS}
BLOCKS = {row.path.removesuffix(".*") for row in ROWS if row.path.endswith(".*")}
_PARENTS = {path.rsplit(".", i)[0] for path in _BY_PATH for i in range(1, path.count(".") + 1)}


# ------------------------------------------------------------------------ loading

def _walk(node: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """``(path, value)`` of every leaf, stopping at the table's whole-block rows and at
    blocks the table does not know (reported once, as a whole)."""
    out = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path in BLOCKS or not isinstance(value, dict) or not value or (
                path not in _PARENTS and path not in _BY_PATH):
            out.append((path, value))
        else:
            if path in _BY_PATH:                    # a block that is also a row
                out.append((path, value))
            out.extend(_walk(value, path + "."))
    return out


def _interpolation(path: str, value: Any) -> None:
    if isinstance(value, str) and "${" in value:
        raise _bad(path, "a value (this is an unresolved Hydra/OmegaConf interpolation; "
                   "resolve it first, e.g. IsaacGymEnvs' train.py ... --cfg job)", value)
    if isinstance(value, dict):
        for k, v in value.items():
            _interpolation(f"{path}.{k}", v)
    if isinstance(value, list):
        for i, v in enumerate(value):
            _interpolation(f"{path}[{i}]", v)


def load(source: str | dict, *, allow_unknown_keys: bool = False,
         typed: Sequence[str] = ()) -> Loaded:
    """Read an rl_games YAML (a path, YAML text, or the parsed dict) into flag values.

    Args:
        source: path to a ``.yaml`` file, the short name of a shipped one (``ppo_ant``, see
            ``shipped_configs``), YAML text (with a newline), or its parsed dict.
        allow_unknown_keys: unsupported keys give one warning instead of an
            error.
        typed: flags typed on the command line; a key whose first flag is typed is not
            read (the typed value replaces it, unchecked).

    Raises:
        ValueError: a bad value (names the key path, the value and what was expected), or
            unsupported keys without ``allow_unknown_keys``.
    """
    import yaml                                  # pyyaml: the chosen YAML library

    where = "config"
    if isinstance(source, dict):
        data = source
    else:
        text = source
        if "\n" not in source:
            if not os.path.exists(source) and source in shipped_configs():
                source = shipped_configs()[source]      # a short name: ppo_ant
            where = source
            try:
                with open(source) as f:
                    text = f.read()
            except OSError as err:
                raise ValueError(f"config: cannot read {source!r}: {err.strerror}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or str(err)
            raise ValueError(f"config: {where} is not valid YAML{at}: {problem}") from None
    if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
        raise ValueError(f"config: {where}: expected an rl_games file with a 'params:' block, "
                         f"got {type(data).__name__ if not isinstance(data, dict) else sorted(data)}")
    unsupported = [f"{k} (only the params: block is read)" for k in data if k != "params"]
    params = data["params"]
    ctx = _Ctx(params)
    flags: dict[str, Any] = {}
    present = dict(_walk(params))
    typed = set(typed)
    for path in present:
        if path not in _BY_PATH:
            unsupported.append(f"{path} (a key purerl-ppo does not know)")
    for row in ROWS:
        path = row.path.removesuffix(".*")
        parent = path.rpartition(".")[0]
        if path in present:
            value = present[path]
        elif row.default not in (REQUIRED, OPTIONAL) and row.convert is not no_effect \
                and (not parent or ctx.has(parent)):
            value = row.default               # rl_games' default, where its block exists
        else:
            continue
        if row.flags and row.flags[0] in typed:
            continue
        _interpolation(path, value)
        try:
            flags.update(row.convert(value, path, ctx))
        except _Unsupported as err:
            unsupported.append(str(err))
    problems = []
    if unsupported:
        problems.append("unsupported in purerl-ppo: " + ", ".join(unsupported))
    if problems:
        message = f"config: {where}: " + "; ".join(problems)
        if not allow_unknown_keys:
            raise ValueError(message + " (see docs/rl_games_mapping.md; --allow_unknown_keys "
                             "runs without them)")
        warnings.warn(message + " -- ignored (--allow_unknown_keys)", stacklevel=2)
    return Loaded(flags, ctx.ignored, unsupported)


def pop_config_flags(argv: Sequence[str]) -> tuple[list[str], str | None, bool]:
    """Take ``--config PATH`` and ``--allow_unknown_keys`` out of ``argv``:
    ``(rest, PATH or None, allow_unknown_keys)``.

    Raises:
        ValueError: ``--config`` without a path, or ``--allow_unknown_keys`` without it.
    """
    rest, path, allow, i = [], None, False, 0
    argv = list(argv)
    while i < len(argv):
        arg = argv[i]
        if arg == "--allow_unknown_keys":
            allow = True
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        elif arg == "--config":
            if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                raise ValueError("config: expected a path (--config train.yaml), got none")
            path, i = argv[i + 1], i + 1
        else:
            rest.append(arg)
        i += 1
    if allow and path is None:
        raise ValueError("allow_unknown_keys: expected --config PATH beside it, got none")
    if path == "":
        raise ValueError("config: expected a path (--config train.yaml), got ''")
    return rest, path, allow


def note_ignored(path: str | None, loaded: Loaded | None, prog: str = "purerl-ppo") -> None:
    """One stderr line naming the keys of ``path`` that have no effect here (if any)."""
    if loaded is not None and loaded.ignored:
        print(f"{prog}: note: {path}: no effect in {prog} (docs/rl_games_mapping.md): "
              + ", ".join(loaded.ignored), file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ the doc

DOC_BEGIN = "<!-- BEGIN rl_games mapping table (generated: python -m purerl.cli.rl_games_yaml --write-doc docs/rl_games_mapping.md) -->"
DOC_END = "<!-- END rl_games mapping table -->"


def _default_text(row: Row) -> str:
    if row.default is REQUIRED:
        return "required"
    if row.default is OPTIONAL:
        return "-"
    return f"`{row.default!r}`"


def _kind(row: Row) -> str:
    if row.convert is no_effect:
        return "no effect"
    if getattr(row.convert, "unsupported", False):
        return "unsupported"
    if not row.flags:
        return "checked"
    return ", ".join(f"`{f}`" for f in row.flags)


def mapping_markdown() -> str:
    """The table of ``ROWS`` as Markdown (what ``docs/rl_games_mapping.md`` embeds)."""
    lines = ["| rl_games key (below `params`) | purerl-ppo flag(s) | rl_games default | note |",
             "|---|---|---|---|"]
    for row in ROWS:
        doc = getattr(row.convert, "doc", "")
        note = "; ".join(n for n in (row.note, doc) if n).replace("|", "\\|")
        lines.append(f"| `{row.path}` | {_kind(row)} | {_default_text(row)} | {note} |")
    return "\n".join(lines) + "\n"


def write_doc(path: str) -> None:
    """Replace the generated table between ``DOC_BEGIN`` and ``DOC_END`` in ``path``."""
    with open(path) as f:
        text = f.read()
    head, _, rest = text.partition(DOC_BEGIN)
    _, _, tail = rest.partition(DOC_END)
    with open(path, "w") as f:
        f.write(f"{head}{DOC_BEGIN}\n{mapping_markdown()}{DOC_END}{tail}")


def shipped_configs() -> dict[str, str]:
    """Short name -> path of the example YAMLs shipped in ``purerl/configs/rl_games``."""
    folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "rl_games")
    return {name.removesuffix(".yaml"): os.path.join(folder, name)
            for name in sorted(os.listdir(folder)) if name.endswith(".yaml")}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write-doc"] and len(sys.argv) == 3:
        write_doc(sys.argv[2])
    else:
        sys.stdout.write(mapping_markdown())
