"""Online soft actor-critic: the shared SAC learner of ``purerl.algos.sac`` fed by N envs.

Source: Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications" (algorithm 1;
soft TD target eq. 3/5, actor eq. 7, temperature eq. 18), with rl_games'
``rl_games/algos_torch/sac_agent.py`` and Brax's ``brax/training/agents/sac`` as reference
implementations. The gradient step is ``sac.make_learner``'s (the one CQL and SNR-AC
extend) with ``backup_entropy=True``: twin critics (``num_critics=2``) with the min, a
tanh-Gaussian actor, adaptive temperature (target entropy ``-A`` by default, or fixed with
``learnable_temperature=False``), Polyak targets of rate ``polyak_tau``.

One *update* (``run_sweep``'s unit) is: one step of ``num_envs`` vmapped envs (N env
steps), their N transitions added to a device-resident FIFO replay buffer
(``purerl.common.buffers``, capacity ``replay_buffer_size``), then ``sgd_steps_per_call``
(K) SGD steps on ``[K, sgd_batch_size]`` transitions drawn uniformly from the buffer. For
the first ``warmup_updates = ceil(learning_starts / num_envs)`` updates the actions are
uniform in the env's Box bounds and no SGD step is done (a ``lax.cond``; under ``vmap``
it becomes a select, so warm-up updates compute the SGD step and discard it: same
results, warm-up as slow as learning).

Choices, each documented where it matters:

- actions: the actor acts in ``[-1, 1]^A`` (tanh); the env gets ``low + (a + 1) / 2 *
  (high - low)`` (the Box must be 1-D and bounded). The buffer stores the ``[-1, 1]``
  action, so the critic and the entropy are those of the squashed Gaussian.
- truncation: a transition stores ``next_observations = info["final_obs"]`` (the true
  next state, also when an auto-reset replaced the carried observation) and
  ``terminals = terminated`` only, so a time-limit truncation bootstraps from
  ``V(final_obs)`` while a true termination does not. Brax's SAC instead drops the
  truncated transitions from the loss (``truncation`` mask); rl_games zeroes ``done`` at
  its own ``max_env_steps`` count and bootstraps from the next observation it stored.
- observation normalisation (``normalize_obs``): running mean/var (``running_stats``)
  of every collected observation; the buffer keeps raw observations, normalised with the
  current statistics when sampled, and the acting / evaluation policies use them too.
- evaluation: every ``eval_every`` updates, ``num_eval_episodes`` episodes of the
  deterministic policy ``tanh(mean)`` on the base env (``envs_jax.policy
  .evaluate_episodes``), inside the compiled program; ``eval/return`` (mean undiscounted
  return) and ``eval/length`` are NaN on the other updates (``NAN_BY_DESIGN``).

Traced (sweepable without recompiling): ``Hyperparams`` = the learning rates,
``polyak_tau`` and ``discount``. Everything is checked before tracing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax import spaces
from envs_jax.offline.dataset import OfflineDataset
from envs_jax.policy import episode_limit, evaluate_episodes, feed_forward
from envs_jax.wrappers import vec_env
from purerl.algos import sac
from purerl.common import running_stats as rs
from purerl.common.buffers import make_replay_buffer
from purerl.common.distributions import tanh_gaussian
from purerl.config import check_fields, require, require_positive


@dataclasses.dataclass(frozen=True)
class Config(sac.SACConfig):
    """Online SAC options: ``sac.SACConfig``'s (online defaults) plus collection and eval.

    Defaults are Haarnoja et al. 2018's table 1 (Adam 3e-4 everywhere, 256x256 MLPs,
    batch 256, tau 0.005, gamma 0.99, buffer 1e6, one SGD step per env step) with no BC
    phase and the entropy term in the TD target.
    """

    policy_lr: float = 3e-4
    num_bc_iters: int = 0
    critic_hidden_sizes: tuple[int, ...] = (256, 256)
    backup_entropy: bool = True
    num_envs: int = 1
    """N, envs stepped in parallel (vmapped) per update."""
    num_updates: int = 100_000
    """Updates of the whole run (``make_train``); env steps = num_updates x num_envs."""
    learning_starts: int = 5_000
    """Env steps (summed over the N envs) with uniform random actions and no SGD step
    before learning starts; rounded up to whole updates."""
    replay_buffer_size: int = 1_000_000
    """Capacity of the FIFO replay buffer in transitions (never derived from the run
    length); >= sgd_steps_per_call x sgd_batch_size."""
    normalize_obs: bool = False
    """Normalise observations by their running mean and variance."""
    eval_every: int = 0
    """Updates between deterministic evaluations (0: none); a segment of run_updates
    must be a multiple of it."""
    num_eval_episodes: int = 10
    """Evaluation episodes, vmapped."""
    eval_max_steps: int | None = None
    """Steps per evaluation episode (default: the env's time limit, else 1000)."""

    def __post_init__(self):
        check_fields(self)
        super().__post_init__()
        require(self.num_bc_iters == 0, "num_bc_iters", "0 for online SAC", self.num_bc_iters)
        for name in ("num_envs", "num_updates", "replay_buffer_size", "num_eval_episodes"):
            value = getattr(self, name)
            require(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                    name, "an int >= 1", value)
        for name in ("learning_starts", "eval_every"):
            value = getattr(self, name)
            require(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                    name, "an int >= 0", value)
        require(self.polyak_tau is not None, "polyak_tau",
                "a number in (0, 1] (online SAC uses target critics)", self.polyak_tau)
        require(self.replay_buffer_size >= self.transitions_per_call, "replay_buffer_size",
                f"at least sgd_steps_per_call x sgd_batch_size = {self.transitions_per_call}",
                self.replay_buffer_size)
        if self.eval_max_steps is not None:
            require_positive("eval_max_steps", self.eval_max_steps)

    @property
    def warmup_updates(self) -> int:
        """Updates of uniform actions without SGD: ``ceil(learning_starts / num_envs)``."""
        return -(-self.learning_starts // self.num_envs)


class Hyperparams(NamedTuple):
    """Traced hyperparameters (float32 ``[]``, ``[G*S]`` under ``vmap``): the fields of
    ``sac.SACHyperparams`` and ``discount`` (read by ``sac.make_learner``'s TD target)."""

    policy_lr: jax.Array
    q_lr: jax.Array
    alpha_lr: jax.Array
    polyak_tau: jax.Array
    discount: jax.Array


SWEEPABLE = Hyperparams._fields
"""Names a sweep may vary in one compile."""


def hyperparams_from(cfg: Config) -> Hyperparams:
    """``cfg``'s traced hyperparameters as float32 scalars."""
    return sac.hyperparams_from(cfg, Hyperparams)


class RunnerState(NamedTuple):
    """Everything that changes in training (one run); checkpointing it resumes the run.

    Attributes:
        learner: ``sac.SACState`` (actor, critics, targets, temperature, hparams, key).
        buffer: the flashbax buffer state, items ``OfflineDataset`` rows (raw obs).
        env_state: the vectorised env's state ``[N, ...]``.
        obs: ``[N, obs_dim]`` float32, the next observation to act on (raw).
        obs_stats: ``RunningStats [obs_dim]`` with ``normalize_obs``, else None.
        update_idx: ``[]`` int32, updates done. key: PRNG key of collection.
    """

    learner: sac.SACState
    buffer: Any
    env_state: Any
    obs: jax.Array
    obs_stats: Any
    update_idx: jax.Array
    key: jax.Array


class TrainParts(NamedTuple):
    """``init(key, run_idx=0, hparams=None) -> RunnerState``; ``run_updates(state, n) ->
    (state, metrics [n])`` with ``n`` static (a multiple of ``eval_every``); ``act(state,
    obs [N, obs_dim]) -> env action [N, A]``, the deterministic policy; ``learner``."""

    init: Callable
    run_updates: Callable
    act: Callable
    learner: sac.Learner


class TrainOutput(NamedTuple):
    runner_state: RunnerState
    metrics: dict           # each [num_updates] (add [S] in front under vmap)


def check_action_space(space: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(low [A], high [A])`` float32 of a 1-D, bounded ``Box``.

    Raises:
        ValueError: a ``Discrete`` (or other non-Box) space, a Box not 1-D, or one with
            an infinite bound.
    """
    require(isinstance(space, spaces.Box), "env action space",
            "a 1-D bounded Box (SAC acts with a tanh-Gaussian; Discrete needs another agent)",
            space)
    require(len(space.shape) == 1, "env action space", "a 1-D Box [A]", space)
    require(bool(np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))),
            "env action space", "a Box with finite low and high (actions are rescaled from "
            "[-1, 1])", space)
    return np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)


def rescale_action(action: jax.Array, low: np.ndarray, high: np.ndarray) -> jax.Array:
    """``[..., A]`` in ``[-1, 1]`` -> ``low + (action + 1) / 2 * (high - low)``."""
    return low + (action + 1.0) * 0.5 * (high - low)


def warmup_action(key: jax.Array, num_envs: int, action_dim: int) -> jax.Array:
    """``[N, A]`` uniform in ``[-1, 1]``: uniform in the Box once ``rescale_action``ed."""
    return jax.random.uniform(key, (num_envs, action_dim), minval=-1.0, maxval=1.0)


def make_train_parts(cfg: Config, env: Any, env_params: Any, env_id: str = "") -> TrainParts:
    """Build online SAC's pure functions for ``run_sweep`` (nothing compiled).

    Args:
        cfg: the options.
        env: the BASE env of our protocol (no auto-reset: it is evaluated as it is, and
            vectorised here with ``envs_jax.wrappers.vec_env``).
        env_params: its params.
        env_id: the ``envs_jax.make`` id, if any (picks the MJX auto-reset).

    Raises:
        ValueError: the action space is not a 1-D bounded Box, the observations are not
            1-D, or buffer sizes do not fit (``purerl.common.buffers``).
    """
    low, high = check_action_space(env.action_space(env_params))
    obs_shape = tuple(env.observation_space(env_params).shape)
    require(len(obs_shape) == 1, "env observation space", "1-D observations [obs_dim]",
            obs_shape)
    obs_dim, action_dim, n_envs = obs_shape[0], low.shape[0], cfg.num_envs
    learner = sac.make_learner(cfg, sac.MLPCritic(cfg.critic_hidden_sizes), obs_dim,
                               action_dim, hyperparams=Hyperparams)
    venv = vec_env(env_id, env, n_envs)
    example = OfflineDataset(jnp.zeros(obs_shape), jnp.zeros(action_dim), jnp.zeros(()),
                             jnp.zeros(obs_shape), jnp.zeros((), bool), jnp.zeros((), bool))
    buffer = make_replay_buffer(cfg.replay_buffer_size, 1, cfg.transitions_per_call, example)
    max_steps = cfg.eval_max_steps or episode_limit(env, env_params)
    k, b = cfg.sgd_steps_per_call, cfg.sgd_batch_size

    def normalize(stats, obs):
        return obs if stats is None else rs.normalize(stats, obs)

    def init(key: jax.Array, run_idx: jax.Array | int = 0, hparams: Any = None
             ) -> RunnerState:
        key_learner, key_env, key_run = jax.random.split(key, 3)
        obs, env_state = venv.reset(key_env, env_params)
        return RunnerState(learner.init(key_learner, run_idx, hparams), buffer.init(example),
                           env_state, obs.astype(jnp.float32),
                           rs.init(obs_shape) if cfg.normalize_obs else None,
                           jnp.zeros((), jnp.int32), key_run)

    def act(state: RunnerState, obs: jax.Array) -> jax.Array:
        loc, _ = learner.actor.apply(state.learner.actor.params,
                                     normalize(state.obs_stats, obs))
        return rescale_action(jnp.tanh(loc), low, high)

    def sgd(learner_state: sac.SACState, buffer_state, obs_stats):
        key_sample, key_run = jax.random.split(learner_state.key)
        batch = buffer.sample(buffer_state, key_sample).experience          # [K * B]
        batch = batch.replace(observations=normalize(obs_stats, batch.observations),
                              next_observations=normalize(obs_stats,
                                                          batch.next_observations))
        batches = jax.tree.map(lambda x: x.reshape(k, b, *x.shape[1:]), batch)
        learner_state, metrics = learner.update_on_batches(
            learner_state._replace(key=key_run), batches)
        return learner_state, jax.tree.map(jnp.mean, metrics)

    def update_step(r: RunnerState, _) -> tuple[RunnerState, dict]:
        key, key_act, key_unif, key_step = jax.random.split(r.key, 4)
        obs_stats = None if r.obs_stats is None else rs.update(r.obs_stats, r.obs)
        learning = r.update_idx >= cfg.warmup_updates
        loc, scale = learner.actor.apply(r.learner.actor.params, normalize(obs_stats, r.obs))
        action = jnp.where(learning, tanh_gaussian(loc, scale).sample(seed=key_act),
                           warmup_action(key_unif, n_envs, action_dim))       # [N, A]
        ts = venv.step(key_step, r.env_state, rescale_action(action, low, high), env_params)
        transitions = OfflineDataset(r.obs, action, ts.reward.astype(jnp.float32),
                                     ts.info["final_obs"].astype(jnp.float32),
                                     ts.terminated, ts.truncated)
        buffer_state = buffer.add(r.buffer, transitions)
        no_sgd = lambda ls, bs, st: (ls, jax.tree.map(                       # noqa: E731
            lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(sgd, ls, bs, st)[1]))
        learner_state, metrics = jax.lax.cond(learning, sgd, no_sgd, r.learner,
                                              buffer_state, obs_stats)
        finished = ts.info["returned_episode"]
        metrics = {**metrics, "learning": learning.astype(jnp.float32),
                   "entropy": -metrics["avg_log_prob"],
                   "episode_return_sum": jnp.where(finished, ts.info["episode_return"],
                                                   0.0).sum(),
                   "episode_count": finished.sum().astype(jnp.float32),
                   "env_steps": (r.update_idx + 1).astype(jnp.float32) * n_envs}
        return RunnerState(learner_state, buffer_state, ts.state,
                           ts.obs.astype(jnp.float32), obs_stats, r.update_idx + 1,
                           key), metrics

    def evaluate(r: RunnerState) -> tuple[RunnerState, dict]:
        key_eval, key_run = jax.random.split(r.key)
        policy = feed_forward(lambda key, obs: act(r, obs))
        stats = evaluate_episodes(env, env_params, policy, key_eval, cfg.num_eval_episodes,
                                  max_steps)
        return r._replace(key=key_run), {"eval/return": jnp.mean(stats.returns),
                                         "eval/length": jnp.mean(stats.lengths
                                                                 .astype(jnp.float32))}

    def run_updates(state: RunnerState, num: int) -> tuple[RunnerState, dict]:
        if cfg.eval_every == 0:
            return jax.lax.scan(update_step, state, length=num)
        require(num % cfg.eval_every == 0, "segment updates",
                f"a multiple of eval_every={cfg.eval_every}", num)

        def block(r: RunnerState, _):
            r, metrics = jax.lax.scan(update_step, r, length=cfg.eval_every)
            r, evals = evaluate(r)
            at_end = jnp.arange(cfg.eval_every) == cfg.eval_every - 1
            metrics.update({name: jnp.where(at_end, v, jnp.nan) for name, v in evals.items()})
            return r, metrics

        state, metrics = jax.lax.scan(block, state, length=num // cfg.eval_every)
        return state, jax.tree.map(lambda x: x.reshape(num, *x.shape[2:]), metrics)

    return TrainParts(init, run_updates, act, learner)


def make_train(cfg: Config, env: Any, env_params: Any, env_id: str = ""
               ) -> Callable[..., TrainOutput]:
    """``train(key, run_idx=0, hparams=None) -> TrainOutput``: all ``cfg.num_updates``
    updates in one traced call; ``jax.jit(jax.vmap(train))(keys [S, 2])`` is a seed sweep
    (metrics ``[S, num_updates]``).

    Raises:
        ValueError: as ``make_train_parts``; ``num_updates`` not a multiple of
            ``eval_every``.
    """
    if cfg.eval_every:
        require(cfg.num_updates % cfg.eval_every == 0, "num_updates",
                f"a multiple of eval_every={cfg.eval_every}", cfg.num_updates)
    parts = make_train_parts(cfg, env, env_params, env_id)

    def train(key: jax.Array, run_idx: jax.Array | int = 0, hparams: Any = None
              ) -> TrainOutput:
        return TrainOutput(*parts.run_updates(parts.init(key, run_idx, hparams),
                                              cfg.num_updates))

    return train


__all__ = ["Config", "Hyperparams", "SWEEPABLE", "RunnerState", "TrainParts", "TrainOutput",
           "check_action_space", "hyperparams_from", "make_train",
           "make_train_parts", "rescale_action", "warmup_action"]
