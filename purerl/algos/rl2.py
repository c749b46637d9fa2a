"""RL^2: a recurrent policy meta-learned with PPO over trials of bandit or tabular-MDP tasks.

Source: Duan et al. 2016, "RL^2: Fast Reinforcement Learning via Slow Reinforcement
Learning" (arXiv 1611.02779). The agent sees (obs, one-hot previous action, previous
reward, done flag); its GRU state runs across the ``num_traj`` episodes of a trial and is
zeroed at the next trial; PPO maximises the return of the whole trial (GAE cut at trial
boundaries only). Spec: ``shared/specs/meta_rl.md`` of the project.

Flags keep the names of the PyTorch seed project (``rl2_train.py``), with our semantics
where they differ (marked "Differs" in each field's docstring). Run ``purerl-rl2 --help``.

Main entry points: ``Config``, ``build(cfg)``, ``make_train(cfg)``, ``make_evaluator``. The
run directory, resume and evaluation of a saved run are the CLI's (``purerl.cli.rl2``).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Annotated, Any, Literal, NamedTuple

import jax
import tyro

import envs_jax
from envs_jax.wrappers import AutoReset, RecordEpisodeStats, VecEnv
from purerl.algos import ppo
from purerl.common import evaluate as ev
from purerl.common.networks import GRUActorCritic, MLPActorCritic
from purerl.common.snail import SNAILActorCritic
from purerl.config import require, require_positive, require_unit_interval

_alias = lambda *names: tyro.conf.arg(aliases=names)

# Paper numbers (RL^2 Tables 1 and 2, RL^2 column) for the settings we report.
PAPER_RL2 = {("bandit", 10, 5): 6.7, ("bandit", 10, 10): 6.7, ("bandit", 10, 50): 6.8,
             ("bandit", 100, 5): 78.7, ("bandit", 100, 10): 83.5, ("bandit", 100, 50): 84.9,
             ("bandit", 500, 5): 401.6, ("bandit", 500, 10): 432.5, ("bandit", 500, 50): 438.9,
             ("mdp", 10, 5): 156.2, ("mdp", 25, 5): 445.7, ("mdp", 50, 5): 936.1,
             ("mdp", 75, 5): 1428.8, ("mdp", 100, 5): 1913.7}


@dataclasses.dataclass(frozen=True)
class Config:
    """RL^2 with PPO. Defaults: the main job, GRU on 5-armed Bernoulli bandits, n=10 pulls.

    Seed-project flags keep their names; the field's standard names are accepted as
    aliases (``--num_envs`` = ``--num_workers``, ``--gae_lambda`` = ``--tau``,
    ``--clip_eps`` = ``--clip_param``, ``--update_epochs`` = ``--ppo_epochs``,
    ``--num_updates`` = ``--metalearn_epochs``).
    """

    task: Literal["bandit", "mdp"] = "bandit"
    """Task family: Bernoulli k-armed bandits or random tabular MDPs. Differs: the seed
    defaults to mdp; our no-argument run is the bandit main job."""
    model_type: Literal["gru", "snail", "mlp"] = "gru"
    """Policy: gru (RL^2), snail (SNAIL: TC blocks + attention over the trial, paper sizes
    32/16; hidden_size and layer_norm do not apply) or mlp (feed-forward, no memory: a
    sanity floor)."""
    num_actions: int = 5
    """Actions: arms k of the bandit; |A| of the MDP (spec: 5)."""
    num_states: int = 10
    """|S| of the tabular MDP (spec: 10); ignored for bandits."""
    num_traj: int = 10
    """Episodes n per trial (bandit pulls, or MDP episodes) on one task."""
    traj_len: int | None = None
    """Episode length: 1 for bandits; the MDP horizon T (default 10)."""
    num_tasks: int = 1000
    """Held-out evaluation tasks, drawn once from a fixed key. Differs: the seed trains on
    a fixed set of num_tasks tasks; we sample fresh tasks for every trial (as the papers)."""
    metalearn_epochs: Annotated[int, _alias("--num_updates")] = 200
    """PPO updates (each: one rollout of batch_size steps, then ppo_epochs epochs)."""
    num_workers: Annotated[int, _alias("--num_envs")] = 256
    """Parallel environments (= tasks in flight), vectorised with vmap. Differs: the seed
    spawns processes; the default 1 there would waste an accelerator here."""
    batch_size: int = 5120
    """Env steps per PPO update, num_workers x rollout length (the PPO paper's T*N)."""
    mini_batch_size: int = 1280
    """Env steps per minibatch; minibatches are whole env sequences, so batch_size /
    mini_batch_size must divide num_workers."""
    ppo_epochs: Annotated[int, _alias("--update_epochs")] = 4
    """PPO epochs K per update."""
    clip_param: Annotated[float, _alias("--clip_eps")] = 0.2
    """PPO clip epsilon."""
    tau: Annotated[float, _alias("--gae_lambda")] = 0.3
    """GAE lambda (the seed's name). 0.3 as strong RL^2 reimplementations (spec)."""
    gamma: float = 0.99
    """Discount (RL^2 paper: 0.99)."""
    learning_rate: float = 1e-3
    """Adam step size."""
    vf_coef: float = 0.5
    """Value-loss coefficient."""
    ent_coef: float = 0.01
    """Entropy-bonus coefficient."""
    max_grad_norm: float = 0.9
    """Global gradient-norm clip."""
    target_kl: float = 0.0
    """Stop remaining PPO epochs of an update when the mean KL exceeds 1.5*target_kl.
    0 disables. Differs: the seed defaults to 0.01."""
    anneal: bool = True
    """Decay learning rate and clip linearly to 0 over the run (the seed does)."""
    clip_value: bool = True
    """Clipped value loss (range clip_param, in scaled reward units)."""
    reward_scale: float = 1.0
    """Multiply rewards by this for the value targets (e.g. 0.1 for trials whose
    returns are in the hundreds); the agent's reward input and reported scores stay raw."""
    non_linearity: Literal["none", "tanh", "relu", "sigmoid"] = "none"
    """Output activation of the value head."""
    hidden_size: int = 256
    """GRU width (RL^2: 256) or MLP width."""
    layer_norm: bool = True
    """Layer norm on the GRU input (obs, one-hot action, reward, done flag)."""
    num_seeds: int = 2
    """Seeds trained in lock-step by one vmapped, compiled call."""
    seed: int = 0
    """Base PRNG seed."""
    out_file: str | None = None
    """Run name: artefacts go to runs_dir/out_file/. Default: a timestamped name. Differs:
    the seed names a single model file; we write a directory (params, logs, summary)."""
    runs_dir: str = "runs"
    """Parent directory of run directories."""
    checkpoint_every: int = 50
    """Updates per compiled segment; the full training state is checkpointed after each."""
    resume: bool = False
    """Continue runs_dir/out_file from its last complete checkpoint."""
    log_every: int = 50
    """Progress line every this many updates (0: none)."""
    eval_greedy: bool = False
    """Evaluate with argmax actions instead of sampling."""

    def __post_init__(self):
        for name in ("num_actions", "num_traj", "num_tasks", "metalearn_epochs",
                     "num_workers", "batch_size", "mini_batch_size", "ppo_epochs",
                     "learning_rate", "max_grad_norm", "hidden_size", "num_seeds",
                     "checkpoint_every", "reward_scale"):
            require_positive(name, getattr(self, name))
        require(self.num_actions >= 2, "num_actions", "at least 2", self.num_actions)
        if self.task == "bandit":
            require(self.traj_len in (None, 1), "traj_len", "1 (or unset) for bandits",
                    self.traj_len)
        else:
            require(self.traj_len is None or self.traj_len > 0, "traj_len",
                    "a positive MDP horizon", self.traj_len)
            require(self.num_states >= 2, "num_states", "at least 2", self.num_states)
        require(self.batch_size % self.num_workers == 0, "batch_size",
                f"a multiple of num_workers={self.num_workers}", self.batch_size)
        require(self.mini_batch_size <= self.batch_size
                and self.batch_size % self.mini_batch_size == 0, "mini_batch_size",
                f"a divisor of batch_size={self.batch_size}", self.mini_batch_size)
        require(self.num_workers % self.num_minibatches == 0, "mini_batch_size",
                f"a multiple of the rollout length {self.num_steps} that splits "
                f"num_workers={self.num_workers} evenly (whole sequences per minibatch)",
                self.mini_batch_size)
        require(self.metalearn_epochs % self.checkpoint_every == 0, "checkpoint_every",
                f"a divisor of metalearn_epochs={self.metalearn_epochs}",
                self.checkpoint_every)
        require_unit_interval("gamma", self.gamma)
        require_unit_interval("tau", self.tau)
        require(0.0 < self.clip_param < 1.0, "clip_param", "a number in (0, 1)",
                self.clip_param)
        for name in ("vf_coef", "ent_coef", "target_kl", "log_every"):
            require(getattr(self, name) >= 0, name, "a non-negative number",
                    getattr(self, name))
        if self.out_file is not None:
            require(self.out_file != "" and os.sep not in self.out_file, "out_file",
                    "a plain directory name", self.out_file)

    # Derived sizes (never written back).
    @property
    def episode_length(self) -> int:
        return 1 if self.task == "bandit" else (self.traj_len or 10)

    @property
    def trial_length(self) -> int:
        """Env steps per trial: num_traj * episode length."""
        return self.num_traj * self.episode_length

    @property
    def num_steps(self) -> int:
        """Rollout length per env per update."""
        return self.batch_size // self.num_workers

    @property
    def num_minibatches(self) -> int:
        return self.batch_size // self.mini_batch_size

    def ppo_config(self) -> ppo.PPOConfig:
        """Translate the seed-named flags into the PPO loop's standard names."""
        return ppo.PPOConfig(
            num_envs=self.num_workers, num_steps=self.num_steps,
            num_updates=self.metalearn_epochs, num_minibatches=self.num_minibatches,
            update_epochs=self.ppo_epochs, learning_rate=self.learning_rate,
            anneal_lr=self.anneal, anneal_clip=self.anneal, gamma=self.gamma,
            gae_lambda=self.tau, clip_eps=self.clip_param, vf_coef=self.vf_coef,
            ent_coef=self.ent_coef, max_grad_norm=self.max_grad_norm,
            target_kl=self.target_kl, clip_value=self.clip_value,
            reward_scale=self.reward_scale, log_every=self.log_every)

    def run_name(self) -> str:
        if self.out_file:
            return self.out_file
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        k = f"-k{self.num_actions}" if self.task == "bandit" else ""
        return f"rl2-{self.model_type}-{self.task}{k}-n{self.num_traj}-{stamp}"


class Setup(NamedTuple):
    """Everything ``build`` derives from a config (no arrays of the run itself)."""

    trial_env: Any        # TrialWrapper (one env, no auto-reset): evaluation
    train_env: Any        # VecEnv(AutoReset(RecordEpisodeStats(trial_env))): training
    env_params: Any       # TrialParams with resample_task=True (fresh tasks each trial)
    net: Any              # actor-critic module
    parts: ppo.TrainParts


def build(cfg: Config) -> Setup:
    """Construct envs, network and the PPO train parts for ``cfg`` (nothing compiled)."""
    if cfg.task == "bandit":
        trial_env, env_params = envs_jax.make("bernoulli_bandit_trial", num_arms=cfg.num_actions,
                                              num_episodes=cfg.num_traj)
    else:
        trial_env, env_params = envs_jax.make(
            "random_mdp_trial", num_states=cfg.num_states, num_actions=cfg.num_actions,
            horizon=cfg.episode_length, num_episodes=cfg.num_traj)
    train_env = VecEnv(AutoReset(RecordEpisodeStats(trial_env)), cfg.num_workers)
    if cfg.model_type == "gru":
        net = GRUActorCritic(cfg.num_actions, cfg.hidden_size, layer_norm=cfg.layer_norm,
                             non_linearity=cfg.non_linearity)
    elif cfg.model_type == "snail":
        net = SNAILActorCritic(cfg.num_actions, context_length=cfg.trial_length,
                               non_linearity=cfg.non_linearity)
    else:
        net = MLPActorCritic(cfg.num_actions, (cfg.hidden_size, cfg.hidden_size),
                             non_linearity=cfg.non_linearity)
    parts = ppo.make_train_parts(cfg.ppo_config(), train_env, env_params, net)
    return Setup(trial_env, train_env, env_params, net, parts)


def make_train(cfg: Config):
    """``train(key, seed_idx=0) -> ppo.TrainOutput`` for ``cfg``, all updates in one call.

    ``jax.jit(jax.vmap(make_train(cfg)))(keys, jnp.arange(S))`` is an S-seed sweep.
    """
    s = build(cfg)
    return ppo.make_train(cfg.ppo_config(), s.train_env, s.env_params, s.net)


def make_evaluator(cfg: Config, setup: Setup):
    """Jitted scorers on the fixed held-out tasks.

    Returns:
        ``(score_params, baselines)``: ``score_params(params [S, ...]) -> [S, num_tasks]``
        total reward per trial for each seed's params; ``baselines() -> dict`` with
        ``random`` and ``optimum`` ``[num_tasks]`` on the same tasks.
    """
    base_env = setup.trial_env.env
    tasks = ev.heldout_tasks(base_env, cfg.num_tasks)
    key = jax.random.PRNGKey(ev.HELDOUT_TASK_SEED + 1)

    @jax.jit
    def score_params(params):
        policy = lambda p: ev.network_policy(setup.net, p, greedy=cfg.eval_greedy)
        return jax.vmap(lambda p: ev.evaluate_trials(setup.trial_env, policy(p), tasks, key)
                        )(params)

    @jax.jit
    def baselines():
        rand = ev.evaluate_trials(setup.trial_env, ev.random_policy(cfg.num_actions), tasks, key)
        return {"random": rand, "optimum": ev.optimal_returns(setup.trial_env, tasks)}

    return score_params, baselines
