"""``purerl-ppo``: PPO on any registered env, with seed AND hyperparameter sweeps in one compile.

Examples::

    purerl-ppo                                   # CartPole-v1, 1 seed
    purerl-ppo --num_seeds 8 --sweep learning_rate=1e-4,3e-4,1e-3 --sweep gae_lambda=0.9,0.95
    purerl-ppo --env_id bernoulli_bandit_trial --model_type gru --sweep gae_lambda=0.3,0.95
    purerl-ppo --resume runs/<name>              # continue a killed run

Every float hyperparameter of ``purerl.algos.ppo.SWEEPABLE`` can be swept; several
``--sweep`` entries make a cartesian grid. The G grid points x S seeds are one
``jax.vmap`` inside one ``jax.jit`` (see ``purerl.common.experiment.run_sweep``); with several
devices (e.g. ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` on CPU) the runs are
sharded over them. The run directory is the one ``purerl-rl2`` writes
(``purerl.common.run_dir``): config.json, checkpoints/, metrics_<run>.csv and tb/<run>/
(as segments finish), learning_curve.png, params/, metrics.npz (``[G, S, num_updates]``)
and summary.json. ``purerl-evaluate --run_dir`` scores the saved policies.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Annotated, Any, Literal, NamedTuple

import jax
import numpy as np
import tyro

import envs_jax
from envs_jax import spaces
from envs_jax.policy import episode_limit
from envs_jax.wrappers import FlattenObservation, is_mjx_env, vec_env
from purerl.algos import amp, ppo
from purerl.cli import common
from purerl.common import distributed
from purerl.common import evaluate as ev
from purerl.common import sweep as sw
from purerl.common.experiment import run_inputs
from purerl.common.networks import (ConvActorCritic, GaussianActorCritic, GRUActorCritic,
                                    MLPActorCritic)
from purerl.common.run_dir import RunDir
from purerl.config import check_fields, require, require_positive

SWEEP_HELP = ("Grid entry NAME=V1,V2,... (comma-separated values, no spaces). Repeat --sweep "
              "for a cartesian grid, e.g. --sweep learning_rate=1e-4,3e-4 --sweep "
              "gae_lambda=0.9,0.95 (4 points). Sweepable: " + ", ".join(ppo.SWEEPABLE) + ".")


RL_GAMES_NAMES = {"num_actors": "num_envs", "horizon_length": "num_steps",
                  "max_epochs": "num_updates", "mini_epochs": "update_epochs",
                  "tau": "gae_lambda", "e_clip": "clip_eps", "critic_coef": "vf_coef",
                  "entropy_coef": "ent_coef", "grad_norm": "max_grad_norm"}
"""rl_games flag name -> ours: each is also accepted as a flag (an alias, mapped here
only). rl_games' ``minibatch_size`` (a size, not a count) is read from YAML configs."""

_rl_games = lambda field: tyro.conf.arg(aliases=tuple(  # noqa: E731
    f"--{k}" for k, v in RL_GAMES_NAMES.items() if v == field))


@dataclasses.dataclass(frozen=True)
class Args(ppo.PPOConfig, amp.AMPConfig):
    """PPO run on one env: every PPO hyperparameter, plus the run's own options.

    --imitation amp trains AMP (purerl.algos.amp, rl_games' amp_continuous): the AMP
    fields (amp_*, disc_*, normalize_amp_input, task_reward_w) then apply, with demo pairs
    from --amp_demo; under --imitation none they must keep their defaults.

    Defaults are the classic CartPole setting (16 envs x 128 steps, 4 epochs x 4
    minibatches, 64x64 tanh MLP), which solves CartPole-v1 in ~100k steps. Boolean flags
    take --flag / --no_flag or --flag True / False. rl_games names are aliases:
    --num_actors, --horizon_length, --max_epochs, --mini_epochs, --tau, --e_clip,
    --critic_coef, --entropy_coef, --grad_norm (and --config reads a whole rl_games YAML).
    """

    num_envs: Annotated[int, _rl_games("num_envs")] = 16
    """Parallel environments N."""
    num_steps: Annotated[int, _rl_games("num_steps")] = 128
    """Rollout length T per environment per update; batch = N * T env steps."""
    num_updates: Annotated[int, _rl_games("num_updates")] = 100
    """PPO updates (rollout + optimisation) in the whole run."""
    num_minibatches: int = 4
    """Minibatches per epoch (recurrent policies split along envs: whole sequences)."""
    update_epochs: Annotated[int, _rl_games("update_epochs")] = 4
    """Passes over each rollout batch."""
    learning_rate: float = 2.5e-3
    """Adam step size (the initial one under linear and adaptive schedules)."""
    gae_lambda: Annotated[float, _rl_games("gae_lambda")] = 0.95
    """GAE lambda."""
    anneal_clip: bool = False
    """Decay clip_eps linearly to 0 over the run."""
    clip_value: bool = True
    """Clipped value loss (PPO2 style, range clip_eps in reward units)."""
    max_grad_norm: Annotated[float | None, _rl_games("max_grad_norm")] = 0.5
    """Global gradient-norm clip (None: no clipping)."""
    target_kl: float = 0.0
    """Stop an update's remaining epochs once the mean approximate KL exceeds
    1.5 x target_kl. 0 disables."""
    clip_eps: Annotated[float, _rl_games("clip_eps")] = 0.2
    """PPO ratio clip epsilon (also the value-clip range)."""
    vf_coef: Annotated[float, _rl_games("vf_coef")] = 0.5
    """Value-loss coefficient (scales 0.5 * (V - R)^2, as rl_games' critic_coef does)."""
    ent_coef: Annotated[float, _rl_games("ent_coef")] = 0.01
    """Entropy-bonus coefficient."""
    log_every: int = 10
    """Progress line about every this many updates (0: none)."""
    env_id: str = "gymnax/CartPole-v1"
    """An envs_jax.make id (gymnax/<ID> for any gymnax env)."""
    model_type: Literal["mlp", "gru", "conv"] = "mlp"
    """mlp (tanh MLP, hidden_size x 2), gru (GRU(hidden_size)) or conv (MinAtar's 3x3x16
    convolution + a hidden_size layer, for [H, W, C] images). Boards and images are
    flattened for mlp and gru."""
    hidden_size: int = 64
    """Width of each MLP layer / of the GRU / of conv's fully connected layer."""
    hidden_sizes: tuple[int, ...] | None = None
    """MLP layer widths, e.g. 256 128 (mlp only; default: hidden_size twice)."""
    activation: str = "tanh"
    """Box envs: hidden activation (tanh, relu, elu, selu, sigmoid, swish, gelu, softplus,
    none)."""
    separate: bool = True
    """Box envs: separate actor and critic MLPs (False: one shared torso)."""
    initializer: str = "orthogonal"
    """Box envs: hidden and value-layer weight init (orthogonal, torch_default,
    xavier_uniform, xavier_normal, kaiming_normal, variance_scaling, const, zeros,
    random_uniform; see purerl.common.networks.initializer)."""
    initializer_scale: float | None = None
    """Box envs: the initializer's parameter (gain, value or bound; None: its default)."""
    mu_activation: str = "none"
    """Box envs: activation of the Gaussian mean."""
    mu_init: str = "orthogonal"
    """Box envs: weight init of the mean head (names as initializer; orthogonal: gain 0.01)."""
    mu_init_scale: float | None = None
    """Box envs: mu_init's parameter."""
    log_std: Literal["param", "head", "fixed"] = "param"
    """Box envs: the std is a learned state-independent vector (param), a head of the
    actor (head) or the constant log_std_init (fixed)."""
    log_std_init: float = 0.0
    """Box envs: initial (or fixed) raw sigma output (a log std unless sigma_output=std)."""
    sigma_activation: str = "none"
    """Box envs: activation of the sigma output."""
    sigma_output: Literal["log_std", "std"] = "log_std"
    """Box envs: whether the sigma output is a log std or the std itself."""
    video: bool = False
    """MJX tasks: write videos/final.gif, one episode of run 0's final policy (its mean
    action), rendered in-jit (purerl.common.video)."""
    imitation: Literal["none", "amp"] = "none"
    """none: plain PPO on the env's reward; amp: AMP (rl_games algo amp_continuous), a
    discriminator's style reward mixed with it (task_reward_w, disc_reward_w)."""
    amp_demo: str = "auto"
    """AMP demo pairs: motion_lib (the amp-humanoid's clips), pendulum_swingup (the scripted
    expert on gymnax/Pendulum-v1, 64 episodes), a .npy file of [K, D] pairs, or auto (the
    one of the first two that fits env_id)."""
    score_to_win: float | None = None
    """Stop when every run's mean training return over a segment reaches this."""
    save_best_after: int | None = None
    """From this update on, keep each run's best params (by a segment's mean training
    return) in best_params/run_<b>/ (None: none kept)."""
    num_seeds: int = 1
    """Seeds per grid point, vmapped in the same compiled call."""
    seed: int = 0
    """Base seed: seed s of every grid point starts from split(PRNGKey(seed), S)[s]."""
    sweep: Annotated[tuple[str, ...], tyro.conf.UseAppendAction,
                     tyro.conf.arg(help=SWEEP_HELP)] = ()
    """Grid entry NAME=V1,V2,... (repeat the flag); see SWEEP_HELP."""
    checkpoint_every: int | None = None
    """Updates between checkpoints of the full training state, a divisor of num_updates
    (default: the smallest divisor that is at least num_updates / 10)."""
    runs_dir: str = "runs"
    """Parent directory of run directories."""
    out_file: str | None = None
    """Run directory name (default: ppo-<env>-<timestamp>); never overwritten."""
    resume: str | None = None
    """RUN_DIR: continue that run from its newest intact checkpoint. Every flag comes from
    its config.json; a flag typed again must match it."""
    near_energy_run: str | None = None
    """NEAR (rl_games algo dmp_continuous): a purerl-near-energy run directory; PPO then
    trains on its energy reward (purerl.algos.near; YAML near_config.inference
    eb_model_checkpoint)."""
    near_energy_index: int = 0
    """NEAR: which of that run's seeds' energy models to use."""
    near_task_reward_w: float = 0.0
    """NEAR: weight of the env's reward (near_config.inference.task_reward_w)."""
    near_energy_reward_w: float = 1.0
    """NEAR: weight of the energy reward (near_config.inference.energy_reward_w)."""
    near_sigma_level: int = -1
    """NEAR: -1 anneals the noise level (ncsnv2-adaptive), 0..L-1 fixes it
    (near_config.inference.sigma_level)."""

    def __post_init__(self):
        check_fields(self)
        super().__post_init__()
        amp.AMPConfig.__post_init__(self)
        if self.imitation == "none":
            changed = [f.name for f in dataclasses.fields(amp.AMPConfig)
                       if getattr(self, f.name) != f.default] + (
                ["amp_demo"] if self.amp_demo != "auto" else [])
            require(not changed, changed[0] if changed else "", "its default unless "
                    "--imitation amp (it configures AMP)",
                    getattr(self, changed[0]) if changed else None)
        else:
            require(self.model_type != "gru", "model_type", "mlp or conv for --imitation amp "
                    "(AMP's pairs are per step: a feed-forward policy)", self.model_type)
        for name in ("hidden_size", "num_seeds"):
            require_positive(name, getattr(self, name))
        if self.hidden_sizes is not None:
            require(len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes),
                    "hidden_sizes", "one or more positive layer widths", self.hidden_sizes)
        if self.save_best_after is not None:
            require(self.save_best_after >= 0, "save_best_after", "an update number >= 0",
                    self.save_best_after)
        if self.checkpoint_every is not None:
            require(self.checkpoint_every > 0 and self.num_updates % self.checkpoint_every == 0,
                    "checkpoint_every", f"a divisor of num_updates={self.num_updates}",
                    self.checkpoint_every)
        if self.eval_every:
            require(self.num_updates % self.eval_every == 0, "eval_every",
                    f"a divisor of num_updates={self.num_updates}", self.eval_every)
            require(self.checkpoint_period % self.eval_every == 0, "eval_every",
                    f"a divisor of checkpoint_every={self.checkpoint_period}", self.eval_every)
        if self.out_file is not None:
            require(self.out_file != "" and os.sep not in self.out_file, "out_file",
                    "a plain directory name", self.out_file)
        known = envs_jax.registered_envs()
        require(self.env_id in known or self.env_id.startswith("gymnax/"), "env_id",
                f"one of {known} or 'gymnax/<ID>'", self.env_id)
        if self.near_energy_run is None:
            for name in ("near_energy_index", "near_task_reward_w", "near_energy_reward_w",
                         "near_sigma_level"):
                require(getattr(self, name) == Args.__dataclass_fields__[name].default, name,
                        "its default unless --near_energy_run is given (a NEAR option)",
                        getattr(self, name))
        else:
            require(self.imitation == "none", "near_energy_run", "no NEAR energy model "
                    "with --imitation amp (AMP and NEAR are two ways to imitate: pick one)",
                    self.near_energy_run)
            self.near_config()                        # checks the NEAR fields
        # Parses (and so checks) the sweep before anything is built.
        sw.check_points(self.ppo_config(), sw.grid_points(self.grid()))

    def near_config(self):
        """NEAR's reward config (``purerl.algos.near.NEARConfig``) from the near_* flags."""
        from purerl.algos import near
        return near.NEARConfig(task_reward_w=self.near_task_reward_w,
                               energy_reward_w=self.near_energy_reward_w,
                               sigma_level=self.near_sigma_level)

    def grid(self) -> dict[str, tuple[float, ...]]:
        return sw.parse_sweep(self.sweep, ppo.SWEEPABLE)

    def amp_config(self) -> amp.AMPConfig:
        """The AMP fields as ``purerl.algos.amp.AMPConfig``."""
        return amp.AMPConfig(**{f.name: getattr(self, f.name)
                                for f in dataclasses.fields(amp.AMPConfig)})

    def ppo_config(self) -> ppo.PPOConfig:
        """The PPO loop's config (the CLI prints progress itself: no in-jit callback)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(ppo.PPOConfig)}
        return ppo.PPOConfig(**{**values, "log_every": 0})

    @property
    def checkpoint_period(self) -> int:
        """``checkpoint_every``, or its default (about 10 checkpoints per run)."""
        if self.checkpoint_every is not None:
            return self.checkpoint_every
        every = self.eval_every or 1   # a checkpoint period holds whole evaluation blocks
        return min(d for d in range(every, self.num_updates + 1, every)
                   if self.num_updates % d == 0 and d * 10 >= self.num_updates)

    @property
    def segment_updates(self) -> int:
        """Updates per compiled segment: the largest divisor of the checkpoint period
        that is at most log_every (progress lines come between segments)."""
        period, every, block = self.checkpoint_period, self.log_every, self.eval_every or 1
        if every <= 0 or every >= period:
            return period
        return max((d for d in range(block, every + 1, block) if period % d == 0),
                   default=period)

    def run_name(self) -> str:
        if self.out_file:
            return self.out_file
        return f"ppo-{self.env_id.replace('/', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"


class Setup(NamedTuple):
    """What ``build_setup`` derives from the args (nothing compiled)."""

    env: Any              # the base env (evaluation)
    env_params: Any
    net: Any              # actor-critic module
    parts: ppo.TrainParts


def build_setup(args: Args) -> Setup:
    """Env, network and PPO train parts for ``args`` (nothing compiled).

    Raises:
        ValueError: the env does not build, or its action space is neither ``Discrete``
            (categorical policy) nor a 1-D ``Box`` (diagonal Gaussian, ``mlp`` only).
    """
    try:
        env, env_params = envs_jax.make(args.env_id)
    except Exception as err:
        raise ValueError(f"env_id: {args.env_id!r} does not build: {err}") from err
    action_space = env.action_space(env_params)
    continuous = isinstance(action_space, spaces.Box)
    require(isinstance(action_space, spaces.Discrete) or
            (continuous and len(action_space.shape) == 1), "env_id",
            "an env with a Discrete or a 1-D Box action space (categorical or diagonal "
            "Gaussian policy)", f"{args.env_id} (action space {action_space})")
    require(not continuous or args.model_type == "mlp", "model_type",
            "mlp for a Box action space (the Gaussian actor-critic is feed-forward)",
            args.model_type)
    num_actions = action_space.shape[0] if continuous else action_space.n
    obs_shape = tuple(env.observation_space(env_params).shape)
    if args.model_type == "conv":
        require(len(obs_shape) == 3, "model_type",
                "an env with [H, W, C] image observations for 'conv' (e.g. MinAtar)",
                f"conv on {args.env_id} (observations {obs_shape})")
    elif len(obs_shape) != 1:
        # Boards and images (bsuite [10, 5], MinAtar [10, 10, C]) reach MLP/GRU torsos as
        # float vectors; without this the Dense layers act on the last axis only.
        env = FlattenObservation(env)
    require(not args.video or is_mjx_env(args.env_id, env), "video",
            "an MJX task for --video (videos are rendered by the MJX camera)", args.env_id)
    vec = vec_env(args.env_id, env, args.num_envs)
    sizes = args.hidden_sizes or (args.hidden_size, args.hidden_size)
    gaussian_fields = ("activation", "separate", "initializer", "initializer_scale",
                       "mu_activation", "mu_init", "mu_init_scale", "log_std",
                       "log_std_init", "sigma_activation", "sigma_output")
    if not continuous:
        changed = [f for f in gaussian_fields
                   if getattr(args, f) != Args.__dataclass_fields__[f].default]
        require(not changed, changed[0] if changed else "", "its default for a Discrete "
                "action space (it configures the Gaussian actor-critic of Box envs)",
                getattr(args, changed[0]) if changed else None)
        require(args.hidden_sizes is None or args.model_type == "mlp", "hidden_sizes",
                "unset unless model_type is mlp", args.hidden_sizes)
    if continuous:
        try:
            net = GaussianActorCritic(num_actions, sizes,
                                      **{f: getattr(args, f) for f in gaussian_fields})
        except ValueError as err:
            raise ValueError(str(err)) from None
    elif args.model_type == "gru":
        net = GRUActorCritic(num_actions, args.hidden_size)
    elif args.model_type == "conv":
        net = ConvActorCritic(num_actions, hidden_size=args.hidden_size)
    else:
        net = MLPActorCritic(num_actions, sizes)
    eval_env = env if args.eval_every else None
    evaluate_fn = imitation_evaluation(args, env, env_params) if eval_env else None
    if args.imitation == "amp":
        demo_fn = amp_demo_source(args, env, env_params)
        obs = jax.eval_shape(env.reset, jax.random.PRNGKey(0), env_params)[0]
        net = amp.make_net(args.amp_config(), net, 2 * int(np.prod(obs.shape)))
        return Setup(env, env_params, net, amp.make_train_parts(
            args.ppo_config(), args.amp_config(), vec, env_params, net, demo_fn,
            eval_env=eval_env, evaluate_fn=evaluate_fn))
    hooks = {}
    if args.near_energy_run is not None:      # NEAR: PPO on a trained energy model's reward
        from purerl.algos import near, near_energy
        model = near_energy.load_energy_model(args.near_energy_run, args.near_energy_index)
        hooks = near.make_hooks(args.near_config(), model, int(np.prod(obs_shape)),
                                (args.num_steps, args.num_envs))
    return Setup(env, env_params, net,
                 ppo.make_train_parts(args.ppo_config(), vec, env_params, net,
                                      eval_env=eval_env, evaluate_fn=evaluate_fn, **hooks))


def imitation_evaluation(args: Args, env, env_params):
    """On a task with a motion library (the amp-humanoid), evaluation blocks score the
    deterministic policy against every demo clip (``purerl.common.imitation_eval``:
    ``eval/pose_error`` = NEAR's DTW pose error, ``eval/sparc``, ``eval/return``, ...) for
    every PPO variant; elsewhere None (the default return / length episodes)."""
    if not (hasattr(env_params, "motion") and hasattr(env, "local_root_obs")):
        return None
    from purerl.common import imitation_eval as ie

    reference = ie.make_reference(env, env_params)

    def evaluate(runner_state, policy, key):
        out = ie.evaluate_imitation(env, env_params, policy, key, reference,
                                    args.eval_episodes, max_steps=args.eval_max_steps)
        # no learned reward is passed in, so its (zero) return is not logged
        return {k: v for k, v in out.summary().items() if k != "eval/style_return"}
    return evaluate


def amp_demo_source(args: Args, env, env_params) -> amp.DemoFn:
    """The demo source ``--amp_demo`` names for ``env`` (see the flag).

    Raises:
        ValueError: no source fits the env, or the .npy file does not load as [K, D].
    """
    choice = args.amp_demo
    if choice == "auto":
        choice = {"amp-humanoid": "motion_lib",
                  "gymnax/Pendulum-v1": "pendulum_swingup"}.get(args.env_id, "")
        require(choice != "", "amp_demo", "motion_lib, pendulum_swingup or a .npy file of "
                f"[K, D] demo pairs for {args.env_id} (auto knows amp-humanoid and "
                "gymnax/Pendulum-v1)", args.amp_demo)
    if choice == "motion_lib":
        require(hasattr(env_params, "motion") and hasattr(env, "local_root_obs"),
                "amp_demo", "motion_lib only for the amp-humanoid (an env with a motion "
                "library)", f"{choice} on {args.env_id}")
        return amp.demo_from_motion_lib(env, env_params)
    if choice == "pendulum_swingup":
        require(args.env_id == "gymnax/Pendulum-v1", "amp_demo",
                "pendulum_swingup only on gymnax/Pendulum-v1", f"{choice} on {args.env_id}")
        from envs_jax.experts import pendulum_swingup
        pairs = jax.jit(lambda k: amp.rollout_pairs(env, env_params, pendulum_swingup, k,
                                                    64, 200))(jax.random.PRNGKey(args.seed))
        return amp.demo_from_array(pairs)
    require(choice.endswith(".npy") and os.path.isfile(choice), "amp_demo",
            "motion_lib, pendulum_swingup, auto or an existing .npy file", choice)
    try:
        pairs = np.load(choice)
    except Exception as err:
        raise ValueError(f"amp_demo: {choice!r} does not load: {err}") from None
    require(pairs.ndim == 2 and np.issubdtype(pairs.dtype, np.floating), "amp_demo",
            "a float array of [K, D] demo pairs", f"{choice} with {pairs.dtype} {pairs.shape}")
    return amp.demo_from_array(pairs)


def build(args: Args) -> ppo.TrainParts:
    """The PPO train parts for ``args`` (see ``build_setup``)."""
    return build_setup(args).parts


def config_dict(args: Args) -> dict:
    """What ``config.json`` stores: the algorithm and every flag but ``--resume``."""
    algo = ("amp" if args.imitation == "amp" else
            "near" if args.near_energy_run is not None else "ppo")
    return common.config_dict(args, algo)


def parse(argv: list[str]) -> tuple[Args, RunDir | None]:
    """``(args, run to resume or None)`` from a command line (see ``common.parse_run_args``).

    ``--config train.yaml`` (rl_games YAML, ``purerl.cli.rl_games_yaml``) sets the defaults
    under the typed flags; ``--allow_unknown_keys`` turns its unsupported keys into a warning.
    """
    from purerl.cli import rl_games_yaml

    argv, config, allow_unknown = rl_games_yaml.pop_config_flags(argv)
    loaded = None if config is None else rl_games_yaml.load(
        config, allow_unknown_keys=allow_unknown, typed=common.typed_fields(argv, Args))
    parsed = common.parse_run_args(Args, argv, aliases=RL_GAMES_NAMES,
                                   defaults=loaded and loaded.flags)
    rl_games_yaml.note_ignored(config, loaded)
    return parsed


def run(args: Args, resumed: RunDir | None = None) -> dict:
    """Train the grid x seeds in one compiled program and write the run's artefacts.

    Raises:
        RunDirError: the run directory holds another run (and this is no resume).
        NonFiniteError: a training metric went NaN or infinite.
    """
    if resumed is not None and resumed.finished:
        return common.report_finished(resumed)
    points = sw.grid_points(args.grid())
    hparams = sw.stack_hparams(ppo.hyperparams_from(args.ppo_config()), points)
    setup = build_setup(args)                         # fails before any file is written
    run_dir = common.start_run(resumed, args.runs_dir, args.out_file, args.run_name(),
                               config_dict(args))
    num_points, num_seeds = len(points), args.num_seeds
    steps_per_update = num_points * num_seeds * args.num_envs * args.num_steps
    print(f"purerl PPO on {args.env_id}: {num_points} grid point(s) x {num_seeds} "
          f"seed(s) x {args.num_updates} updates x {args.num_envs * args.num_steps} steps "
          f"in one compiled call; run dir {run_dir.path}"
          + (" (resuming)" if resumed is not None else ""), flush=True)
    best = common.BestAndStop(run_dir, lambda s: s.train_state.params, args.save_best_after,
                              args.score_to_win)
    result, writer = common.train_grid(
        run_dir, setup.parts, title=f"PPO on {args.env_id}", seed=args.seed,
        num_seeds=num_seeds, points=points, hparams=hparams, num_updates=args.num_updates,
        segment_updates=args.segment_updates, checkpoint_every=args.checkpoint_period,
        steps_per_update=steps_per_update, log=bool(args.log_every),
        resumed=resumed is not None, after_segment=best)
    run_dir.save_params(result.state.train_state.params)
    writer.finish(result.metrics)
    metrics = common.save_metrics(run_dir, result.metrics, num_points, num_seeds)
    returns = common.final_return(metrics)                       # [G, S]
    summary = run_dir.write_summary({
        "config": run_dir.config,
        "grid": [{"hparams": p, **common.per_seed_entries("final_return", r)}
                 for p, r in zip(points, returns)],
        **common.speed_summary(result, steps_per_update),
        "stopped_by_score_to_win_at": best.stopped_at,
    })
    if "eval/pose_error" in result.metrics and run_dir.writes:   # an imitation task's
        from purerl.common.imitation_eval import plot_imitation_curves
        plot_imitation_curves(os.path.join(run_dir.path, "imitation_curves.png"),
                              result.metrics, f"{run_dir.config['algo']} on {args.env_id}")
    if args.video:
        _write_video(setup, run_dir, result.state)
    common.print_run_end(f"final return (last 10% of updates), mean over {num_seeds} "
                         "seed(s):", points, returns, result, summary, run_dir)
    return summary


def _write_video(setup: Setup, run_dir: RunDir, state) -> None:
    """``videos/final.gif`` of run 0's final policy (mode action), printed when written;
    on a task with motion clips (the amp-humanoid) ``videos/beside_reference.gif``: the
    policy beside the first clip."""
    from purerl.common.video import write_eval_video, write_reference_video

    first = lambda tree: jax.tree.map(lambda x: x[0], tree)  # noqa: E731
    state = state._replace(train_state=state.train_state.replace(   # (several processes:
        params=distributed.to_host(state.train_state.params)),      # a gather on each)
        obs_stats=distributed.to_host(state.obs_stats))
    if not run_dir.writes:
        return
    make_dist = ppo.action_distribution(setup.env.action_space(setup.env_params))
    policy = ev.network_policy(setup.net, first(state.train_state.params), True, make_dist,
                               None if state.obs_stats is None else first(state.obs_stats))
    print("rendering the evaluation video (one compile) ...", flush=True)
    write = (write_reference_video if hasattr(setup.env_params, "motion")
             else write_eval_video)
    path = write(run_dir.path, setup.env, setup.env_params, policy,
                 jax.random.PRNGKey(ev.HELDOUT_TASK_SEED))
    print(f"video: {path}", flush=True)


def load_args(run_dir: RunDir) -> Args:
    """Rebuild the ``Args`` saved in a run's ``config.json`` (newer fields: defaults)."""
    return common.args_from_config(Args, run_dir.config)


def evaluate_run(run_dir: str, num_episodes: int = 100, max_steps: int | None = None,
                 greedy: bool = False) -> dict:
    """Score the saved policies of a PPO run: mean return of ``num_episodes`` episodes each.

    Every run of the sweep (grid point x seed) is scored on the same episodes (a fixed
    key), vmapped over runs and over episodes. A run without final params is scored from
    its newest intact checkpoint.

    Returns:
        dict with ``grid`` (per point: ``hparams``, ``score_per_seed``, ``score_mean``),
        ``score_mean`` over all runs, ``score_per_seed`` (a single point's), ``updates``.

    Raises:
        RunDirError: no config.json, or neither params nor checkpoints.
    """
    rd = RunDir.load(run_dir)
    args = load_args(rd)
    points = sw.grid_points(args.grid())
    hparams = sw.stack_hparams(ppo.hyperparams_from(args.ppo_config()), points)
    setup = build_setup(args)
    abstract = jax.eval_shape(jax.vmap(setup.parts.init),
                              *run_inputs(args.seed, args.num_seeds, hparams))
    params, updates, obs_stats = _restore_for_scoring(rd, abstract, args)
    max_steps = max_steps or episode_limit(setup.env, setup.env_params)
    key = jax.random.PRNGKey(ev.HELDOUT_TASK_SEED)

    make_dist = ppo.action_distribution(setup.env.action_space(setup.env_params))

    @jax.jit
    def score(params, obs_stats):
        def one(p, stats):
            policy = ev.network_policy(setup.net, p, greedy, make_dist, stats)
            return ev.evaluate_episodes(setup.env, setup.env_params, policy, key,
                                        num_episodes, max_steps).returns
        return jax.vmap(one)(params, obs_stats)

    returns = np.asarray(score(params, obs_stats)).mean(axis=1).reshape(len(points),
                                                                        args.num_seeds)
    return common.score_report("ppo", args.env_id, points, returns,
                               num_episodes=num_episodes, max_steps=max_steps, greedy=greedy,
                               updates=updates)


def _restore_for_scoring(rd: RunDir, abstract, args: Args):
    """``(params, updates, obs_stats)``; the observation statistics (``normalize_obs``)
    come from the newest intact checkpoint, as the final params do not hold them."""
    params, updates = common.restore_final_or_latest(rd, abstract, args.num_updates)
    if not args.normalize_obs:
        return params, updates, None
    _, state = common.restore_latest_state(rd, abstract, "normalize_obs needs a checkpoint "
                                           "to score (none)")
    return params, updates, state.obs_stats


def main(argv: list[str] | None = None) -> dict:
    """CLI: ``purerl-ppo [--flags]`` (``python -m purerl.cli.ppo``); raises on errors."""
    return run(*parse(list(sys.argv[1:] if argv is None else argv)))


def cli() -> None:
    """Console script ``purerl-ppo``: user errors as one line (``--debug``: traceback)."""
    common.run_cli(main, prog="purerl-ppo")


if __name__ == "__main__":
    cli()
