"""RL^2: a recurrent policy meta-learned with PPO over trials of bandit or tabular-MDP tasks.

Source: Duan et al. 2016, "RL^2: Fast Reinforcement Learning via Slow Reinforcement
Learning" (arXiv 1611.02779). The agent sees (obs, one-hot previous action, previous
reward, done flag); its GRU state runs across the ``num_traj`` episodes of a trial and is
zeroed at the next trial; PPO maximises the return of the whole trial (GAE cut at trial
boundaries only). Spec: ``shared/specs/meta_rl.md`` of the project.

``Config`` uses the standard hyperparameter names of ``purerl.algos.ppo.PPOConfig``
(``num_envs``, ``num_updates``, ``update_epochs``, ``clip_eps``, ``gae_lambda``); the
PyTorch seed project's flag names (``num_workers``, ``metalearn_epochs``, ``ppo_epochs``,
``clip_param``, ``tau``) exist only in the command line, ``purerl.cli.rl2``, which
translates them once.

Main entry points: ``Config``, ``build(cfg)``, ``make_train(cfg)``, ``make_evaluator``. The
run directory, resume and evaluation of a saved run are the CLI's (``purerl.cli.rl2``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, NamedTuple

import jax

import envs_jax
from envs_jax.wrappers import AutoReset, RecordEpisodeStats, VecEnv
from purerl.algos import ppo
from purerl.common import evaluate as ev
from purerl.common.networks import GRUActorCritic, MLPActorCritic
from purerl.common.snail import SNAILActorCritic
from purerl.config import check_fields, require, require_positive, require_unit_interval

# Paper numbers (RL^2 Tables 1 and 2, RL^2 column) for the settings we report.
PAPER_RL2 = {("bandit", 10, 5): 6.7, ("bandit", 10, 10): 6.7, ("bandit", 10, 50): 6.8,
             ("bandit", 100, 5): 78.7, ("bandit", 100, 10): 83.5, ("bandit", 100, 50): 84.9,
             ("bandit", 500, 5): 401.6, ("bandit", 500, 10): 432.5, ("bandit", 500, 50): 438.9,
             ("mdp", 10, 5): 156.2, ("mdp", 25, 5): 445.7, ("mdp", 50, 5): 936.1,
             ("mdp", 75, 5): 1428.8, ("mdp", 100, 5): 1913.7}


@dataclasses.dataclass(frozen=True)
class Config:
    """RL^2 with PPO. Defaults: the main job, GRU on 5-armed Bernoulli bandits, n=10 pulls."""

    task: Literal["bandit", "mdp"] = "bandit"
    """Task family: Bernoulli k-armed bandits or random tabular MDPs."""
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
    """Held-out evaluation tasks, drawn once from a fixed key; training samples a fresh
    task for every trial (as the papers)."""
    num_updates: int = 200
    """PPO updates (each: one rollout of batch_size steps, then update_epochs epochs)."""
    num_envs: int = 256
    """Parallel environments (= tasks in flight), vectorised with vmap."""
    batch_size: int = 5120
    """Env steps per PPO update, num_envs x rollout length (the PPO paper's T*N)."""
    mini_batch_size: int = 1280
    """Env steps per minibatch; minibatches are whole env sequences, so batch_size /
    mini_batch_size must divide num_envs."""
    update_epochs: int = 4
    """PPO epochs K per update."""
    clip_eps: float = 0.2
    """PPO clip epsilon."""
    gae_lambda: float = 0.3
    """GAE lambda; 0.3 as strong RL^2 reimplementations (spec)."""
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
    0 disables."""
    anneal: bool = True
    """Decay learning rate and clip linearly to 0 over the run (the seed does)."""
    clip_value: bool = True
    """Clipped value loss (range clip_eps, in scaled reward units)."""
    reward_scale: float = 1.0
    """Multiply rewards by this for the value targets (e.g. 0.1 for trials whose
    returns are in the hundreds); the agent's reward input and reported scores stay raw."""
    normalize_value: bool = False
    """The critic predicts returns normalised by running statistics of the value targets
    (``ppo.PPOConfig.normalize_value``); an alternative to picking reward_scale by hand."""
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
    log_every: int = 0
    """In-jit progress line every this many updates (0: none; the CLI prints its own)."""
    eval_greedy: bool = False
    """Evaluate with argmax actions instead of sampling."""

    def __post_init__(self):
        check_fields(self)
        for name in ("num_actions", "num_traj", "num_tasks", "num_updates", "num_envs",
                     "batch_size", "mini_batch_size", "update_epochs", "learning_rate",
                     "max_grad_norm", "hidden_size", "num_seeds", "reward_scale"):
            require_positive(name, getattr(self, name))
        require(self.num_actions >= 2, "num_actions", "at least 2", self.num_actions)
        if self.task == "bandit":
            require(self.traj_len in (None, 1), "traj_len", "1 (or unset) for bandits",
                    self.traj_len)
        else:
            require(self.traj_len is None or self.traj_len > 0, "traj_len",
                    "a positive MDP horizon", self.traj_len)
            require(self.num_states >= 2, "num_states", "at least 2", self.num_states)
        require(self.batch_size % self.num_envs == 0, "batch_size",
                f"a multiple of num_envs={self.num_envs}", self.batch_size)
        require(self.mini_batch_size <= self.batch_size
                and self.batch_size % self.mini_batch_size == 0, "mini_batch_size",
                f"a divisor of batch_size={self.batch_size}", self.mini_batch_size)
        require(self.num_envs % self.num_minibatches == 0, "mini_batch_size",
                f"a multiple of the rollout length {self.num_steps} that splits "
                f"num_envs={self.num_envs} evenly (whole sequences per minibatch)",
                self.mini_batch_size)
        require_unit_interval("gamma", self.gamma)
        require_unit_interval("gae_lambda", self.gae_lambda)
        require(0.0 < self.clip_eps < 1.0, "clip_eps", "a number in (0, 1)", self.clip_eps)
        for name in ("vf_coef", "ent_coef", "target_kl", "log_every"):
            require(getattr(self, name) >= 0, name, "a non-negative number",
                    getattr(self, name))

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
        return self.batch_size // self.num_envs

    @property
    def num_minibatches(self) -> int:
        return self.batch_size // self.mini_batch_size

    def ppo_config(self) -> ppo.PPOConfig:
        """The PPO loop's config (same names; sizes per env instead of per batch)."""
        return ppo.PPOConfig(
            num_envs=self.num_envs, num_steps=self.num_steps,
            num_updates=self.num_updates, num_minibatches=self.num_minibatches,
            update_epochs=self.update_epochs, learning_rate=self.learning_rate,
            lr_schedule="linear" if self.anneal else "constant", anneal_clip=self.anneal,
            gamma=self.gamma, gae_lambda=self.gae_lambda, clip_eps=self.clip_eps, vf_coef=self.vf_coef,
            ent_coef=self.ent_coef, max_grad_norm=self.max_grad_norm,
            target_kl=self.target_kl, clip_value=self.clip_value,
            reward_scale=self.reward_scale, normalize_value=self.normalize_value,
            log_every=self.log_every)


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
    train_env = VecEnv(AutoReset(RecordEpisodeStats(trial_env)), cfg.num_envs)
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
