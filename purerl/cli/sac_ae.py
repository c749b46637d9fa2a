"""``purerl-sac-ae``: SAC+AE from pixels with pytorch_sac_ae's command line and outputs.

The seed's command works as written::

    purerl-sac-ae --domain_name cheetah --task_name run --encoder_type pixel \\
        --decoder_type pixel --action_repeat 4 --save_video --save_tb --work_dir ./log --seed 1

    purerl-sac-ae --domain_name pendulum --task_name swingup --image_size 16 --num_layers 2 \\
        --action_repeat 2 --num_train_steps 6000 --init_steps 500 --eval_freq 1000   # CPU

Every flag is pytorch_sac_ae ``train.py``'s, with its default, translated ONCE here into
``purerl.algos.sac_ae.Config`` (``SEED_NAMES``); ``--num_seeds`` (ours) vmaps seeds
``seed, seed + 1, ...`` in the same compiled program (``purerl.common.experiment.run_sweep``).
Tasks: ``cheetah run`` (MJX physics, the 84x84 side camera rendered in JAX) and ``pendulum
swingup`` (gymnax Pendulum drawn as an image; a cheap CPU task), ``envs_jax.pixels``.

Outputs, all under ``--work_dir`` (``seed_<s>/`` per seed when ``--num_seeds`` > 1):

- console, seed 0: ``| train | E: | S: | D: s | R: | BR: | ALOSS: | CLOSS: | RLOSS:`` at each
  episode end and ``| eval | S: | ER:`` at each evaluation. S counts agent steps (env steps
  = S x action_repeat, ``env_step`` in the logs), R is the episode that just ended, RLOSS
  the real autoencoder loss (the seed prints 0: its defect 1), D the episode's share of the
  compiled segment's wall time (steps x segment seconds / segment steps);
- ``train.log`` / ``eval.log``: one JSON line per episode / evaluation; ``args.json``;
- ``tb/`` (``--save_tb``): scalars per episode and evaluation (tensorboardX);
- ``video/<step>.gif`` (``--save_video``): one deterministic episode of seed 0
  after each evaluation (cheetah: 256x256 camera 0, rendered in JAX; pendulum: the newest
  observation frame, enlarged). GIF, since MP4 needs the imageio-ffmpeg package;
- ``model/{actor,critic,decoder}_<step>.msgpack`` (``--save_model``): flax-serialised params
  of seed 0 (the actor's file holds the shared convs it reads);
- ``buffer/<step>.npz`` (``--save_buffer``): seed 0's replay buffer arrays.

Evaluations run every ``eval_freq`` agent steps counted by step (the seed evaluates only when
an episode ends on a multiple: its defect 6), after steps eval_freq, 2 eval_freq, ...; the
seed's extra evaluation at step 0 is not made.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from typing import Literal

import numpy as np

from purerl.algos import sac_ae
from purerl.cli import common

PROG = "purerl-sac-ae"
TASKS = {("cheetah", "run"): "cheetah_run", ("pendulum", "swingup"): "pendulum_swingup"}

SEED_NAMES = {
    "num_train_steps": "num_updates", "init_steps": "learning_starts",
    "replay_buffer_capacity": "replay_buffer_size", "batch_size": "sgd_batch_size",
    "hidden_dim": "hidden_size", "eval_freq": "eval_every",
    "num_eval_episodes": "num_eval_episodes", "critic_lr": "q_lr", "critic_beta": "q_beta1",
    "critic_tau": "polyak_tau", "critic_target_update_freq": "target_update_every",
    "actor_lr": "policy_lr", "actor_beta": "policy_beta1", "actor_log_std_min": "log_std_min",
    "actor_log_std_max": "log_std_max", "actor_update_freq": "actor_update_every",
    "encoder_type": "encoder_type", "encoder_feature_dim": "feature_dim",
    "encoder_lr": "encoder_lr", "encoder_tau": "encoder_polyak_tau",
    "decoder_type": "decoder_type", "decoder_lr": "decoder_lr",
    "decoder_update_freq": "decoder_update_every",
    "decoder_latent_lambda": "decoder_latent_penalty",
    "decoder_weight_lambda": "decoder_weight_decay", "num_layers": "num_layers",
    "num_filters": "num_filters", "discount": "discount", "init_temperature": "init_alpha",
    "alpha_lr": "alpha_lr", "alpha_beta": "alpha_beta1"}
"""pytorch_sac_ae flag -> ``sac_ae.Config`` field (the only place the seed's names live)."""
_CONFIG_DEFAULTS = {f.name: f.default for f in dataclasses.fields(sac_ae.Config)}


def _default(seed_name: str):
    """The default of the seed's flag ``seed_name``: that of the ``sac_ae.Config`` field it
    maps to (``SEED_NAMES``), the one owner of every hyperparameter's default."""
    return _CONFIG_DEFAULTS[SEED_NAMES[seed_name]]


@dataclasses.dataclass(frozen=True)
class Args:
    """SAC+AE (Yarats et al. 2019) with pytorch_sac_ae's flags and defaults. Each flag maps
    to one purerl.algos.sac_ae.Config field (named in brackets), whose default it takes."""

    domain_name: str = "cheetah"
    """DMC domain: cheetah (task run) or pendulum (task swingup, a cheap CPU task)."""
    task_name: str = "run"
    """Task of the domain."""
    image_size: int = 84
    """Side of the square camera image in pixels."""
    action_repeat: int = 1
    """Env steps per agent step (the seed's default 1; its README and the benchmarks use 4
    for cheetah run)."""
    frame_stack: int = 3
    """Frames per observation."""
    replay_buffer_capacity: int = _default("replay_buffer_capacity")
    """Replay transitions [replay_buffer_size]; pixels are stored once per frame (about 21
    kB a transition at 84x84, so 1e6 needs ~21 GB per seed: see
    benchmarks/results/sac_ae_memory.md)."""
    agent: str = "sac_ae"
    """Agent (only sac_ae)."""
    init_steps: int = _default("init_steps")
    """Agent steps of uniform actions; then that many updates at once [learning_starts]."""
    num_train_steps: int = _default("num_train_steps")
    """Agent steps of the run [num_updates]."""
    batch_size: int = _default("batch_size")
    """Transitions per update [sgd_batch_size]."""
    hidden_dim: int = _default("hidden_dim")
    """Actor / Q MLP width [hidden_size]."""
    eval_freq: int = _default("eval_freq")
    """Agent steps between evaluations [eval_every]."""
    num_eval_episodes: int = _default("num_eval_episodes")
    """Deterministic evaluation episodes [num_eval_episodes]."""
    critic_lr: float = _default("critic_lr")
    """[q_lr]."""
    critic_beta: float = _default("critic_beta")
    """Critic Adam beta1 [q_beta1]."""
    critic_tau: float = _default("critic_tau")
    """Polyak rate of the target Q heads [polyak_tau]."""
    critic_target_update_freq: int = _default("critic_target_update_freq")
    """[target_update_every]."""
    actor_lr: float = _default("actor_lr")
    """[policy_lr]."""
    actor_beta: float = _default("actor_beta")
    """[policy_beta1]."""
    actor_log_std_min: float = _default("actor_log_std_min")
    """[log_std_min]."""
    actor_log_std_max: float = _default("actor_log_std_max")
    """[log_std_max]."""
    actor_update_freq: int = _default("actor_update_freq")
    """[actor_update_every]."""
    encoder_type: Literal["pixel", "identity"] = _default("encoder_type")
    """pixel, or identity: state-based SAC [encoder_type]."""
    encoder_feature_dim: int = _default("encoder_feature_dim")
    """[feature_dim]."""
    encoder_lr: float = _default("encoder_lr")
    """[encoder_lr]."""
    encoder_tau: float = _default("encoder_tau")
    """Polyak rate of the target encoder [encoder_polyak_tau]."""
    decoder_type: Literal["pixel", "identity"] = _default("decoder_type")
    """pixel, or identity: no autoencoder [decoder_type]."""
    decoder_lr: float = _default("decoder_lr")
    """[decoder_lr]."""
    decoder_update_freq: int = _default("decoder_update_freq")
    """[decoder_update_every]."""
    decoder_latent_lambda: float = _default("decoder_latent_lambda")
    """[decoder_latent_penalty]."""
    decoder_weight_lambda: float = _default("decoder_weight_lambda")
    """Coupled L2 weight decay of the decoder [decoder_weight_decay]."""
    num_layers: int = _default("num_layers")
    """Conv layers [num_layers]."""
    num_filters: int = _default("num_filters")
    """[num_filters]."""
    discount: float = _default("discount")
    """[discount]."""
    init_temperature: float = _default("init_temperature")
    """[init_alpha]."""
    alpha_lr: float = _default("alpha_lr")
    """[alpha_lr]."""
    alpha_beta: float = _default("alpha_beta")
    """[alpha_beta1]."""
    seed: int = 1
    """Base seed; with --num_seeds S the runs are seeds seed .. seed + S - 1 (keys
    split(PRNGKey(seed), S))."""
    work_dir: str = "."
    """Output directory (created)."""
    save_tb: bool = False
    """Write TensorBoard scalars to work_dir/tb."""
    save_model: bool = False
    """Write model/{actor,critic,decoder}_<step>.msgpack at each evaluation."""
    save_buffer: bool = False
    """Write buffer/<step>.npz (seed 0's replay arrays) at each evaluation."""
    save_video: bool = False
    """Write video/<step>.gif of one evaluation episode at each evaluation."""
    num_seeds: int = 1
    """(purerl) seeds vmapped in one compiled program."""
    segment_steps: int | None = None
    """(purerl) agent steps per compiled call (console/log flush period); default: the
    largest divisor of gcd(num_train_steps, eval_freq) up to 1000."""

    def __post_init__(self):
        from purerl.config import require

        require((self.domain_name, self.task_name) in TASKS, "domain_name/task_name",
                "one of " + ", ".join(f"{d} {t}" for d, t in TASKS),
                f"{self.domain_name} {self.task_name}")
        require(self.agent == "sac_ae", "agent", "'sac_ae'", self.agent)
        for name in ("image_size", "action_repeat", "frame_stack", "num_seeds"):
            require(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        self.config()                                      # the algorithm's own checks
        if self.segment_steps is not None:
            require(self.segment_steps >= 1 and self.num_train_steps % self.segment_steps == 0
                    and (self.eval_freq == 0 or self.eval_freq % self.segment_steps == 0),
                    "segment_steps", f"a divisor of num_train_steps={self.num_train_steps} "
                    f"and eval_freq={self.eval_freq}", self.segment_steps)

    @property
    def task(self) -> str:
        return TASKS[(self.domain_name, self.task_name)]

    def config(self) -> sac_ae.Config:
        """The ``sac_ae.Config`` these flags mean (``SEED_NAMES``)."""
        return sac_ae.Config(**{ours: getattr(self, seed) for seed, ours in SEED_NAMES.items()})

    @property
    def segment(self) -> int:
        if self.segment_steps is not None:
            return self.segment_steps
        period = math.gcd(self.num_train_steps, self.eval_freq or self.num_train_steps)
        return max(d for d in range(1, min(period, 1000) + 1) if period % d == 0)


def parse(argv: list[str]) -> Args:
    """``Args`` from the command line (seed flag names as written)."""
    return common.parse_flags(Args, common.normalize_bool_flags(argv, Args),
                              description=(Args.__doc__ or "") + "\n\n" + (__doc__ or ""))


class _Run:
    """Per-seed output files and the running sums of the seed's logger between dumps."""

    def __init__(self, path: str, save_tb: bool):
        os.makedirs(path, exist_ok=True)
        self.path = path
        self.train = open(os.path.join(path, "train.log"), "a")
        self.eval = open(os.path.join(path, "eval.log"), "a")
        self.tb = None
        if save_tb:
            from tensorboardX import SummaryWriter
            self.tb = SummaryWriter(os.path.join(path, "tb"))
        self.sums: dict[str, float] = {}
        self.steps_since = 0
        self.episode = 0

    def close(self):
        self.train.close()
        self.eval.close()
        if self.tb is not None:
            self.tb.close()


SUM_KEYS = ("critic_loss_sum", "actor_loss_sum", "alpha_loss_sum", "ae_loss_sum",
            "batch_reward_sum", "entropy_sum", "sgd_steps", "actor_updates",
            "decoder_updates")


def _ratio(sums: dict, num: str, den: str) -> float:
    return float(sums.get(num, 0.0) / sums[den]) if sums.get(den, 0.0) > 0 else 0.0


def episode_lines(run: _Run, metrics: dict, b: int, seconds_per_step: float,
                  repeat: int, echo: bool) -> list[dict]:
    """Walk one segment of run ``b`` (``metrics [B, n]``); write its train/eval log lines
    (and TensorBoard, console when ``echo``); returns the evaluation records."""
    n = np.shape(metrics["sgd_steps"])[1]
    evals = []
    for t in range(n):
        for key in SUM_KEYS:
            run.sums[key] = run.sums.get(key, 0.0) + float(metrics[key][b, t])
        run.steps_since += 1
        step = int(metrics["agent_steps"][b, t])
        if metrics["episode_count"][b, t] > 0:
            run.episode += 1
            s = run.sums
            rec = {"episode": run.episode, "step": step, "env_step": step * repeat,
                   "duration": run.steps_since * seconds_per_step,
                   "episode_reward": float(metrics["episode_return_sum"][b, t]),
                   "batch_reward": _ratio(s, "batch_reward_sum", "sgd_steps"),
                   "actor_loss": _ratio(s, "actor_loss_sum", "actor_updates"),
                   "critic_loss": _ratio(s, "critic_loss_sum", "sgd_steps"),
                   "ae_loss": _ratio(s, "ae_loss_sum", "decoder_updates"),
                   "alpha_loss": _ratio(s, "alpha_loss_sum", "actor_updates"),
                   "entropy": _ratio(s, "entropy_sum", "actor_updates"),
                   "alpha": float(metrics["alpha"][b, t]), "updates": int(s["sgd_steps"])}
            run.train.write(json.dumps(rec) + "\n")
            if run.tb is not None:
                for k, v in rec.items():
                    if k not in ("step", "env_step"):
                        run.tb.add_scalar(f"train/{k}", v, step)
            if echo:
                print(f"| train | E: {rec['episode']} | S: {step} | D: {rec['duration']:.1f} s "
                      f"| R: {rec['episode_reward']:.4f} | BR: {rec['batch_reward']:.4f} "
                      f"| ALOSS: {rec['actor_loss']:.4f} | CLOSS: {rec['critic_loss']:.4f} "
                      f"| RLOSS: {rec['ae_loss']:.4f}", flush=True)
            run.sums, run.steps_since = {}, 0
        er = metrics.get("eval/return")
        if er is not None and np.isfinite(er[b, t]):
            rec = {"step": step, "env_step": step * repeat, "episode_reward": float(er[b, t])}
            run.eval.write(json.dumps(rec) + "\n")
            if run.tb is not None:
                run.tb.add_scalar("eval/episode_reward", rec["episode_reward"], step)
            if echo:
                print(f"| eval | S: {step} | ER: {rec['episode_reward']:.4f}", flush=True)
            evals.append(rec)
    run.train.flush()
    run.eval.flush()
    return evals


def _write_artifacts(args: Args, env, env_params, parts, state, path: str, step: int):
    """Video / model / buffer of seed 0 after the evaluation at ``step``."""
    import jax
    from flax import serialization

    first = jax.tree.map(lambda x: np.asarray(x[0]), state)
    if args.save_model:
        os.makedirs(os.path.join(path, "model"), exist_ok=True)
        p = first.learner.params
        groups = {"actor": ("convs", "actor_head", "actor_mlp"),
                  "critic": ("convs", "critic_head", "q"), "decoder": ("decoder",)}
        for name, keys in groups.items():
            with open(os.path.join(path, "model", f"{name}_{step}.msgpack"), "wb") as f:
                f.write(serialization.to_bytes({k: p[k] for k in keys}))
    if args.save_buffer:
        os.makedirs(os.path.join(path, "buffer"), exist_ok=True)
        leaves = jax.tree_util.tree_flatten_with_path(first.buffer)[0]
        np.savez(os.path.join(path, "buffer", f"{step}.npz"),
                 **{jax.tree_util.keystr(k).strip(".[]'"): np.asarray(v) for k, v in leaves})
    if args.save_video:
        from purerl.common.video import write_video

        frames, fps = _episode_frames(args, env, env_params, parts, first)
        os.makedirs(os.path.join(path, "video"), exist_ok=True)
        write_video(os.path.join(path, "video", f"{step}.gif"), frames, fps)


_RECORDERS: dict = {}


def _episode_frames(args: Args, env, env_params, parts, first):
    """Frames ``[T, H, W, 3]`` uint8 and frames/s of one deterministic episode of seed 0."""
    import jax
    import jax.numpy as jnp

    from envs_jax.policy import episode_limit, feed_forward
    from envs_jax.wrappers import is_mjx_env

    max_steps = episode_limit(env, env_params)
    dt = float(getattr(env, "dt", 0.05))
    if is_mjx_env("", env):
        from envs_jax.mjx.record import make_camera, render_episode
        from purerl.common.video import frame_stride

        stride = frame_stride(1.0 / dt, "gif")
        if "mjx" not in _RECORDERS:          # compiled once; the params are an argument
            camera = make_camera(env, 256, 256, 0)

            def record(state, key):
                policy = feed_forward(lambda k, obs: parts.act(state, obs))
                return render_episode(env, env_params, policy, key, camera, max_steps, stride)
            _RECORDERS["mjx"] = jax.jit(record)
        episode = _RECORDERS["mjx"](first, jax.random.PRNGKey(0))
        return np.asarray(episode.frames[:int(episode.num_frames)]), 1.0 / (dt * stride)
    if "rollout" not in _RECORDERS:
        def rollout(state, key):
            obs, env_state = env.reset(key, env_params)

            def body(c, _):
                obs, env_state, alive = c
                ts = env.step(key, env_state, parts.act(state, obs[None])[0], env_params)
                return (ts.obs, ts.state, alive & ~(ts.terminated | ts.truncated)), \
                    (obs[..., -3:], alive)
            _, (frames, alive) = jax.lax.scan(body, (obs, env_state, jnp.ones((), bool)),
                                              length=max_steps)
            return frames, alive
        _RECORDERS["rollout"] = jax.jit(rollout)
    frames, alive = _RECORDERS["rollout"](first, jax.random.PRNGKey(0))
    frames = np.asarray(frames)[np.asarray(alive)]
    scale = max(1, 128 // frames.shape[1])
    return frames.repeat(scale, 1).repeat(scale, 2), 1.0 / dt


def check_memory(buffer_bytes: int, num_seeds: int) -> None:
    """Refuse a replay buffer larger than the host's memory (CPU) before allocating it.

    Raises:
        ValueError: ``buffer_bytes x num_seeds`` exceeds the physical memory (CPU backend).
    """
    import jax

    from purerl.config import require

    if jax.default_backend() != "cpu":
        return
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    require(buffer_bytes * num_seeds < total, "replay_buffer_capacity",
            f"a capacity whose buffers fit in this machine's {total / 1e9:.1f} GB "
            f"(these need {buffer_bytes * num_seeds / 1e9:.1f} GB for {num_seeds} seed(s); "
            "CURL used 1e5)", "too large")


def run(args: Args) -> dict:
    """Train ``args.num_seeds`` vmapped seeds and write every output (module docstring)."""
    from envs_jax.pixels import make_pixel_env
    from purerl.common.experiment import run_sweep

    cfg = args.config()
    env, env_params = make_pixel_env(args.task, args.action_repeat, args.frame_stack,
                                     args.image_size, pixels=cfg.pixels)
    parts = sac_ae.make_train_parts(cfg, env, env_params)
    check_memory(parts.buffer_bytes, args.num_seeds)
    os.makedirs(args.work_dir, exist_ok=True)
    with open(os.path.join(args.work_dir, "args.json"), "w") as f:
        json.dump(dataclasses.asdict(args), f, indent=2, sort_keys=True)
    paths = ([args.work_dir] if args.num_seeds == 1 else
             [os.path.join(args.work_dir, f"seed_{args.seed + i}") for i in
              range(args.num_seeds)])
    runs = [_Run(p, args.save_tb) for p in paths]
    print(f"purerl SAC+AE on {args.task} ({cfg.encoder_type} encoder, {cfg.decoder_type} "
          f"decoder, {args.image_size}x{args.image_size}, action repeat "
          f"{parts.action_repeat}): {args.num_seeds} seed(s) x {args.num_train_steps} agent "
          f"steps in one compiled program; replay {parts.buffer_bytes / 1e9:.2f} GB per seed "
          f"({parts.buffer_bytes / cfg.replay_buffer_size:,.0f} B per transition); output in "
          f"{args.work_dir}", flush=True)
    clock = {"t": None}

    def on_compiled(seconds):
        print(f"compiled in {seconds:.1f} s", flush=True)
        clock["t"] = time.perf_counter()

    last_evals: list = []

    def after_segment(done, state, metrics):
        now = time.perf_counter()
        per_step = (now - clock["t"]) / np.shape(metrics["sgd_steps"])[1]
        clock["t"] = now
        metrics = {k: np.asarray(v) for k, v in metrics.items()}
        evals = []
        for b, r in enumerate(runs):
            evals.append(episode_lines(r, metrics, b, per_step, parts.action_repeat, b == 0))
        if evals[0]:
            step = evals[0][-1]["step"]
            last_evals[:] = [e[-1]["episode_reward"] for e in evals]
            if args.save_model or args.save_buffer or args.save_video:
                _write_artifacts(args, env, env_params, parts, state, runs[0].path, step)
        clock["t"] = time.perf_counter()
        return False

    try:
        result = run_sweep(parts.init, parts.run_updates, args.seed, args.num_seeds,
                           args.num_train_steps, args.segment, on_compiled=on_compiled,
                           after_segment=after_segment)
    finally:
        for r in runs:
            r.close()
    steps = args.num_train_steps * args.num_seeds
    summary = {"compile_s": result.compile_s, "run_s": result.run_s,
               "agent_steps_per_s": steps / result.run_s,
               "env_steps_per_s": steps * parts.action_repeat / result.run_s,
               "last_eval_return_per_seed": last_evals}
    with open(os.path.join(args.work_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"compile {result.compile_s:.1f} s, run {result.run_s:.1f} s "
          f"({summary['env_steps_per_s']:,.1f} env-steps/s over {args.num_seeds} seed(s))",
          flush=True)
    return summary


def main(argv: list[str] | None = None) -> dict:
    """CLI: ``purerl-sac-ae [--flags]``; raises on errors."""
    return run(parse(list(sys.argv[1:] if argv is None else argv)))


def cli() -> None:
    """Console script ``purerl-sac-ae``: user errors as one line (``--debug``: traceback)."""
    common.run_cli(main, prog=PROG, multihost=False)


if __name__ == "__main__":
    cli()
