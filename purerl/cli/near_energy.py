"""``purerl-near-energy``: NEAR step 1, the energy model of demo pairs (``purerl.algos.near_energy``).

Examples::

    purerl-near-energy --config near_humanoid_walk          # the humanoid walk clip
    purerl-near-energy --dataset gymnax/Pendulum-v1 --in_dim 6 --L 10 --sigma_begin 2 \\
        --sigma_end 0.05 --encoder_hidden_layers 64 --latent_space_dim 64 \\
        --decoder_hidden_layers 64 --lr 1e-3 --n_iters 2000 --out_file pendulum-energy
    purerl-near-energy --resume runs/pendulum-energy        # continue a killed run
    purerl-ppo --config near_humanoid_walk                  # step 2 reads the run dir

The flags are the seed's ``near_config`` keys (``shared/seeds/near_amp_hyperparameters.md``),
flat: ``training.batch_size`` is ``--batch_size``, ``model.L`` is ``--L``. ``--config YAML``
reads the ``near_config`` (or ``dmp_config``) block of an rl_games / NEAR YAML, under
``params.config``, ``params`` or at the top; typed flags override it. Every key is mapped
(``KEYS``), or refused by name with the reason; the ``inference`` keys belong to step 2
(``purerl-ppo``) and are only noted here, except that ``eb_model_checkpoint`` names
the run directory this command writes (``--runs_dir`` / ``--out_file``). Training is compiled rounds (one buffer of demo
pairs and its SGD steps) through ``purerl.common.experiment.run_sweep``, seeds vmapped, so
the run directory is the one every purerl trainer writes (config.json, checkpoints/,
metrics_<run>.csv, tb/, summary.json), plus the frozen model:
``energy_params/`` (EMA weights) and ``normalizer.json`` (input statistics and the model
config), which ``purerl-ppo --near_energy_run RUN_DIR`` loads.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from typing import Any

import jax
import numpy as np

from purerl.algos import near_energy as ne
from purerl.cli import common
from purerl.common.experiment import run_sweep
from purerl.common.run_dir import RunDir, run_labels
from purerl.config import check_fields, require, require_positive

DATASETS = ("amp-humanoid", "humanoid", "gymnax/Pendulum-v1")
"""``--dataset``: the AMP humanoid's motion clips (``--motion_file``) or the scripted
Pendulum swing-up expert (``envs_jax.experts.pendulum_swingup``)."""
DT_CTRL = 1.0 / 30.0
"""s between the two observations of a humanoid demo pair (spec: control at 30 Hz)."""
STEP2_KEYS = ("task_reward_w", "energy_reward_w", "sigma_level", "eb_model_checkpoint",
              "running_mean_std_checkpoint")
"""``near_config.inference`` keys: step 2's (``purerl-ppo``), refused as flags here."""


@dataclasses.dataclass(frozen=True)
class Args:
    """NEAR's energy model (NCSN, denoising score matching) trained on demo pairs.

    Names are the seed's near_config keys; defaults are NEAR's humanoid values.
    """

    # training
    batch_size: int = 128
    """training.batch_size: demo pairs per SGD step."""
    buffer_size: int = 10000
    """training.buffer_size: pairs drawn at once, consumed in batches, then redrawn."""
    n_epochs: int = 500000
    """training.n_epochs: an upper bound in buffers (training stops at the smaller of
    n_iters and n_epochs x buffer_size // batch_size iterations)."""
    n_iters: int = 100000
    """training.n_iters: SGD iterations (rounded up to whole buffers and checkpoints)."""
    ngpu: int = 1
    """training.ngpu: only 1 (seeds, not data, are spread over devices here)."""
    snapshot_freq: int = 5000
    """training.snapshot_freq: iterations between checkpoints (rounded to whole buffers)."""
    algo: str = "dsm"
    """training.algo: only 'dsm' (denoising score matching)."""
    anneal_power: float = 2.0
    """training.anneal_power: p of the loss weight sigma^p."""
    normalize_energynet_input: bool = True
    """training.normalize_energynet_input: standardise inputs (running stats, clip +-5),
    frozen and saved for RL."""
    # data
    dataset: str = "amp-humanoid"
    """data.dataset: amp-humanoid (alias humanoid) or gymnax/Pendulum-v1."""
    motion_file: str | None = None
    """data.motion_file: a poselib clip .npy or a motion-set .yaml (default: the walk clip)."""
    # model
    sigma_begin: float = 20.0
    """model.sigma_begin: the largest noise level."""
    sigma_end: float = 0.01
    """model.sigma_end: the smallest noise level."""
    L: int = 50
    """model.L: the number of noise levels."""
    in_dim: int | None = None
    """model.in_dim: the pair width; checked against the dataset (None: the dataset's)."""
    numObsSteps: int = 2
    """model.numObsSteps: only 2 (pairs [current, previous])."""
    encoder_hidden_layers: tuple[int, ...] = (512, 1024)
    """model.encoder_hidden_layers."""
    latent_space_dim: int = 2048
    """model.latent_space_dim."""
    decoder_hidden_layers: tuple[int, ...] = (1024, 512, 128)
    """model.decoder_hidden_layers (the output width 1 is added)."""
    ema: bool = True
    """model.ema: keep (and save) an EMA of the weights."""
    ema_rate: float = 0.999
    """model.ema_rate."""
    ncsnv2: bool = True
    """model.ncsnv2: geometric levels and output f / sigma (False: ncsnv1, linear levels
    and a level embedding)."""
    # optim
    weight_decay: float = 0.0
    """optim.weight_decay (L2, as torch)."""
    optimizer: str = "Adam"
    """optim.optimizer: Adam, RMSProp or SGD (NCSN's choices)."""
    lr: float = 1e-5
    """optim.lr."""
    beta1: float = 0.9
    """optim.beta1."""
    amsgrad: bool = False
    """optim.amsgrad."""
    grad_clip: float | None = 1.0
    """Global gradient-norm clip (NCSN's optim.grad_clip; None: none)."""
    # inference: step 2's keys, refused here
    task_reward_w: float | None = None
    """inference.task_reward_w: step 2's; pass it to purerl-ppo (--near_task_reward_w)."""
    energy_reward_w: float | None = None
    """inference.energy_reward_w: step 2's (purerl-ppo --near_energy_reward_w)."""
    sigma_level: int | None = None
    """inference.sigma_level: step 2's (purerl-ppo --near_sigma_level)."""
    eb_model_checkpoint: str | None = None
    """inference.eb_model_checkpoint: step 2's (purerl-ppo --near_energy_run)."""
    running_mean_std_checkpoint: str | None = None
    """inference.running_mean_std_checkpoint: step 2's (read from the energy run dir)."""
    # the run
    demo_envs: int = 16
    """gymnax/Pendulum-v1: expert envs rolled out for the demo set."""
    demo_steps: int = 400
    """gymnax/Pendulum-v1: steps per expert env (demo set = demo_envs x demo_steps pairs)."""
    num_seeds: int = 1
    """Energy models trained side by side (vmapped); purerl-ppo picks one by index."""
    seed: int = 0
    """Base seed."""
    runs_dir: str = "runs"
    """Parent directory of run directories."""
    out_file: str | None = None
    """Run directory name (default near-energy-<dataset>-<timestamp>)."""
    resume: str | None = None
    """RUN_DIR: continue that run from its newest intact checkpoint."""
    log_every: int = 1
    """Print a progress line after every this many checkpoints (0: none)."""

    def __post_init__(self):
        check_fields(self)
        for key in STEP2_KEYS:
            require(getattr(self, key) is None, key, "no value here: it is an inference "
                    "key of NEAR's step 2, read by purerl-ppo (--near_" +
                    {"eb_model_checkpoint": "energy_run",
                     "running_mean_std_checkpoint": "energy_run"}.get(key, key) +
                    ") from its near_config", getattr(self, key))
        require(self.dataset in DATASETS, "dataset", " or ".join(DATASETS), self.dataset)
        require(self.algo == "dsm", "algo", "'dsm' (denoising score matching; sliced score "
                "matching is not implemented)", self.algo)
        require(self.ngpu == 1, "ngpu", "1 (one process; several devices train several "
                "seeds: --num_seeds, sharded by run_sweep)", self.ngpu)
        require(self.numObsSteps == 2, "numObsSteps", "2 (the energy model reads pairs "
                "[current, previous], as the AMP observation)", self.numObsSteps)
        require(self.optimizer.lower() in ("adam", "rmsprop", "sgd"), "optimizer",
                "Adam, RMSProp or SGD", self.optimizer)
        for name in ("n_epochs", "n_iters", "snapshot_freq", "num_seeds", "demo_envs",
                     "demo_steps"):
            require_positive(name, getattr(self, name))
        require(self.log_every >= 0, "log_every", "a non-negative number", self.log_every)
        if self.motion_file is not None:
            require(self.dataset in ("amp-humanoid", "humanoid"), "motion_file",
                    "unset unless dataset is amp-humanoid", self.motion_file)
            require(os.path.exists(self.motion_file), "motion_file", "an existing .npy or "
                    ".yaml file", self.motion_file)
        if self.out_file is not None:
            require(self.out_file != "" and os.sep not in self.out_file, "out_file",
                    "a plain directory name", self.out_file)
        self.energy_config(self.in_dim or 2)          # checks the model's fields

    def energy_config(self, in_dim: int) -> ne.EnergyConfig:
        """The algorithm's config for pairs of width ``in_dim`` (the seed names translated)."""
        per_round = self.buffer_size // max(self.batch_size, 1)
        rounds, _ = self.schedule(per_round)
        return ne.EnergyConfig(
            in_dim=in_dim, encoder_hidden_layers=tuple(self.encoder_hidden_layers),
            latent_space_dim=self.latent_space_dim,
            decoder_hidden_layers=tuple(self.decoder_hidden_layers), ncsnv2=self.ncsnv2,
            sigma_begin=self.sigma_begin, sigma_end=self.sigma_end, num_levels=self.L,
            anneal_power=self.anneal_power, batch_size=self.batch_size,
            buffer_size=self.buffer_size, num_rounds=rounds,
            normalize_input=self.normalize_energynet_input,
            optimizer=self.optimizer.lower(), learning_rate=self.lr, beta1=self.beta1,
            amsgrad=self.amsgrad, weight_decay=self.weight_decay, grad_clip=self.grad_clip,
            ema=self.ema, ema_rate=self.ema_rate)

    def schedule(self, per_round: int) -> tuple[int, int]:
        """``(rounds, rounds per checkpoint)``: ``min(n_iters, n_epochs x per_round)``
        iterations in whole buffers, rounded up to whole checkpoint periods."""
        per_round = max(per_round, 1)
        iters = min(self.n_iters, self.n_epochs * per_round)
        rounds = math.ceil(iters / per_round)
        period = max(1, min(rounds, round(self.snapshot_freq / per_round)))
        return math.ceil(rounds / period) * period, period

    def run_name(self) -> str:
        if self.out_file:
            return self.out_file
        return (f"near-energy-{self.dataset.replace('/', '_')}-"
                f"{time.strftime('%Y%m%d-%H%M%S')}")


# ------------------------------------------------------------------------ YAML

def _check(kind: str):
    from purerl.cli import rl_games_yaml as ry

    if kind == "int":
        return lambda path, v: ry._int(path, v)
    if kind == "float":
        return lambda path, v: ry._float(path, v)
    if kind == "bool":
        return ry._bool
    if kind == "layers":
        return lambda path, v: tuple(ry._int(f"{path}[{i}]", w) for i, w in enumerate(
            v if isinstance(v, (list, tuple)) else [v]))
    if kind == "opt_int":
        return lambda path, v: None if v is None else ry._int(path, v, minimum=None)
    return lambda path, v: None if v is None else str(v)


KEYS: dict[str, tuple[str, str]] = {
    **{f"training.{k}": (k, t) for k, t in (
        ("batch_size", "int"), ("buffer_size", "int"), ("n_epochs", "int"),
        ("n_iters", "int"), ("ngpu", "int"), ("snapshot_freq", "int"), ("algo", "str"),
        ("anneal_power", "float"), ("normalize_energynet_input", "bool"))},
    "data.dataset": ("dataset", "str"),
    "data.motion_file": ("motion_file", "str"),
    **{f"model.{k}": (k, t) for k, t in (
        ("sigma_begin", "float"), ("sigma_end", "float"), ("L", "int"),
        ("in_dim", "opt_int"), ("numObsSteps", "int"),
        ("encoder_hidden_layers", "layers"), ("latent_space_dim", "int"),
        ("decoder_hidden_layers", "layers"), ("ema", "bool"), ("ema_rate", "float"),
        ("ncsnv2", "bool"))},
    **{f"optim.{k}": (k, t) for k, t in (
        ("weight_decay", "float"), ("optimizer", "str"), ("lr", "float"),
        ("beta1", "float"), ("amsgrad", "bool"), ("grad_clip", "float"))},
}
"""``near_config`` key path -> (flag, value kind). ``inference.*`` are step 2's (noted)."""

BLOCK_PATHS = ("config.near_config", "config.dmp_config", "near_config", "dmp_config")
"""Where the block may sit below ``params`` (or at the top of a plain file)."""


def find_block(data: dict) -> tuple[str, dict]:
    """``(path, near_config block)`` of a parsed YAML.

    Raises:
        ValueError: no (or more than one) near_config / dmp_config block.
    """
    roots = [("params.", data.get("params"))] if isinstance(data.get("params"), dict) else []
    roots.append(("", data))
    found = []
    for prefix, root in roots:
        for path in BLOCK_PATHS:
            node: Any = root
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                found.append((prefix + path, node))
    require(len(found) == 1, "config", "one near_config (or dmp_config) block under "
            "params.config, params or the top", [p for p, _ in found] or "none")
    return found[0]


def read_config(source: str) -> tuple[dict, list[str]]:
    """``(flag -> value, notes)`` from the near_config block of a YAML file / short name.

    Raises:
        ValueError: unreadable YAML, a bad value (names the key path) or an unknown key.
    """
    import yaml

    from purerl.cli import rl_games_yaml as ry

    path = ry.shipped_configs().get(source, source) if not os.path.exists(source) else source
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as err:
        raise ValueError(f"config: cannot read {source!r}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"config: {path} is not valid YAML: {err}") from None
    require(isinstance(data, dict), "config", "a YAML mapping", type(data).__name__)
    where, block = find_block(data)
    flags, notes, unknown = {}, [], []
    for section, entries in block.items():
        if section == "inference":
            notes.extend(f"{where}.inference.{k}" for k in (entries or {}))
            run = (entries or {}).get("eb_model_checkpoint")
            if isinstance(run, str) and run.strip("/"):    # step 1 writes where step 2 reads
                head, name = os.path.split(os.path.normpath(run))
                flags.update(runs_dir=head or ".", out_file=name)
            continue
        if not isinstance(entries, dict):
            unknown.append(f"{where}.{section}")
            continue
        for key, value in entries.items():
            rel = f"{section}.{key}"
            if rel not in KEYS:
                unknown.append(f"{where}.{rel}")
                continue
            flag, kind = KEYS[rel]
            ry._interpolation(f"{where}.{rel}", value)
            flags[flag] = _check(kind)(f"{where}.{rel}", value)
    require(not unknown, "config", f"only the near_config keys of the seed doc in {path} "
            f"({', '.join(sorted(KEYS))}, inference.*)", unknown)
    if flags.get("in_dim") is None:
        flags.pop("in_dim", None)
    if flags.get("motion_file") is None:
        flags.pop("motion_file", None)
    return flags, notes


def parse(argv: list[str]) -> tuple[Args, RunDir | None]:
    """``(args, run to resume or None)``; ``--config YAML`` sets defaults under the flags."""
    from purerl.cli import rl_games_yaml as ry

    argv, config, allow = ry.pop_config_flags(argv)
    require(not allow, "allow_unknown_keys", "no such option for purerl-near-energy "
            "(every near_config key is known)", True)
    defaults, notes = (None, []) if config is None else read_config(config)
    typed = set(common.typed_fields(argv, Args))
    defaults = {k: v for k, v in (defaults or {}).items() if k not in typed}
    parsed = common.parse_run_args(Args, argv, defaults=defaults or None)
    if notes:
        print(f"purerl-near-energy: note: {config}: read by purerl-ppo (NEAR step 2), not "
              "here: " + ", ".join(notes), file=sys.stderr, flush=True)
    return parsed


# ------------------------------------------------------------------------ data + run

def demo_sampler(args: Args) -> ne.DemoSampler:
    """The dataset's demo-pair sampler (building it loads clips / rolls out the expert)."""
    if args.dataset == "gymnax/Pendulum-v1":
        from envs_jax.experts import pendulum_swingup

        pairs = ne.expert_demo_pairs(args.dataset, pendulum_swingup,
                                     jax.random.PRNGKey(args.seed + 1), args.demo_envs,
                                     args.demo_steps)
        return ne.array_sampler(pairs)
    from envs_jax.mjx import humanoid
    from envs_jax.mjx import motion_lib as ml

    lib = ml.load_motion_lib(args.motion_file or humanoid.DEFAULT_MOTION)

    def sample(key, n):
        key_id, key_t = jax.random.split(key)
        ids = ml.sample_motion_ids(lib, key_id, (n,))
        times = ml.sample_times(lib, key_t, ids)
        return jax.vmap(lambda i, t: humanoid.demo_amp_obs(lib, i, t, DT_CTRL))(ids, times)
    return sample


def config_dict(args: Args) -> dict:
    return common.config_dict(args, "near_energy")


def run(args: Args, resumed: RunDir | None = None) -> dict:
    """Train ``num_seeds`` energy models in one compiled program; write the run dir.

    Raises:
        RunDirError: the run directory holds another run (and this is no resume).
        ValueError: ``in_dim`` differs from the dataset's pair width.
        NonFiniteError: the loss went NaN or infinite.
    """
    if resumed is not None and resumed.finished:
        return common.report_finished(resumed)
    sample = demo_sampler(args)
    width = jax.eval_shape(lambda k: sample(k, 1), jax.random.PRNGKey(0)).shape[-1]
    require(args.in_dim in (None, width), "in_dim", f"{width} (the pair width of "
            f"{args.dataset})", args.in_dim)
    cfg = args.energy_config(width)
    parts = ne.make_energy_train_parts(cfg, sample)
    _, period = args.schedule(cfg.iterations_per_round)
    run_dir = common.start_run(resumed, args.runs_dir, args.out_file, args.run_name(),
                               {**config_dict(args), "in_dim": width})
    print(f"purerl-near-energy on {args.dataset}: {args.num_seeds} seed(s) x "
          f"{cfg.num_rounds} buffers x {cfg.iterations_per_round} iterations of "
          f"{cfg.batch_size} pairs ({cfg.num_rounds * cfg.iterations_per_round} iterations), "
          f"L={cfg.num_levels} levels {cfg.sigma_begin:g} -> {cfg.sigma_end:g}; run dir "
          f"{run_dir.path}" + (" (resuming)" if resumed is not None else ""), flush=True)
    writer = common.SegmentWriter(run_dir, run_labels(1, args.num_seeds))
    t0, segments = time.perf_counter(), [0]

    def on_segment(done, seg, history):
        writer(done, seg, history)
        segments[0] += 1
        if args.log_every and segments[0] % args.log_every == 0:
            loss = np.asarray(seg["dsm_loss"])[:, -1]
            print(f"  iteration {int(np.asarray(seg['iterations'])[0, -1]):>8d}  dsm_loss "
                  f"{', '.join(f'{x:.4f}' for x in loss)}  ({time.perf_counter() - t0:.0f} s)",
                  flush=True)

    ckpt = run_dir.checkpointer()
    try:
        result = run_sweep(parts.init, parts.run_updates, args.seed, args.num_seeds,
                           cfg.num_rounds, period, ckpt, resumed is not None, on_segment)
    finally:
        ckpt.close()
    writer.finish(result.metrics)
    ne.save_energy_model(run_dir.path, cfg, result.state)
    final = np.asarray(result.metrics["dsm_loss"])[:, -1]
    summary = run_dir.write_summary({
        "config": run_dir.config, "final_dsm_loss_per_seed": final.tolist(),
        "iterations": cfg.num_rounds * cfg.iterations_per_round,
        "wall_clock_s": {"compile": result.compile_s, "run": result.run_s},
        "resumed_from_round": result.resumed_from})
    common.set_active_run_dir(None)
    print(f"final dsm_loss {', '.join(f'{x:.4f}' for x in final)}; compile "
          f"{result.compile_s:.1f} s, run {result.run_s:.1f} s. Energy model in "
          f"{run_dir.path} (purerl-ppo --near_energy_run {run_dir.path})", flush=True)
    return summary


def main(argv: list[str] | None = None) -> dict:
    """CLI: ``purerl-near-energy [--flags]``; raises on errors."""
    return run(*parse(list(sys.argv[1:] if argv is None else argv)))


def cli() -> None:
    """Console script ``purerl-near-energy``: user errors as one line (``--debug``: traceback)."""
    common.run_cli(main, prog="purerl-near-energy")


if __name__ == "__main__":
    cli()
