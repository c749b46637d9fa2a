"""Evaluation of the offline SAC agents (CQL, SNR) inside their compiled training segments.

Source: the seed runner's evaluation (``jrl.localized.runner``; specs/offline_rl.md): the
deterministic policy ``tanh(mean)`` every ``eval_every_steps`` calls, and with
``eval_with_q_filter`` also the two Q-filter policies, which score candidate actions by
``min_i Q_i(s, a)`` and take the best. Episodes run vmapped on an env of our protocol
(``envs_jax.policy.evaluate_episodes``) at the end of each segment, in the same program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from envs_jax.offline.dataset import OfflineDataset
from envs_jax.policy import evaluate_episodes, per_observation
from purerl.algos.sac import Learner, SACConfig, SACState
from purerl.common.distributions import tanh_gaussian
from purerl.config import require

EVAL_MODES = ("deterministic", "q_filter", "q_filter_with_uniform")


def make_policy(learner: Learner, mode: str, num_eval_samples: int) -> Callable:
    """An evaluation policy ``(actor_params, critic_params, obs [obs_dim], key) -> a [A]``.

    The seed's modes: ``deterministic`` = ``tanh(mean)``; ``q_filter`` = the argmax of
    ``min_i Q_i(s, .)`` over ``num_eval_samples`` actions from ``pi(s)``;
    ``q_filter_with_uniform`` = the same over those and as many uniform actions.

    Raises:
        ValueError: unknown mode.
    """
    require(mode in EVAL_MODES, "mode", f"one of {EVAL_MODES}", mode)

    def act(actor_params, critic_params, obs, key):
        loc, scale = learner.actor.apply(actor_params, obs)
        if mode == "deterministic":
            return jnp.tanh(loc)
        key_pi, key_unif = jax.random.split(key)
        candidates = tanh_gaussian(loc, scale).sample(seed=key_pi,
                                                      sample_shape=num_eval_samples)
        if mode == "q_filter_with_uniform":
            unif = jax.random.uniform(key_unif, candidates.shape, minval=-1.0, maxval=1.0)
            candidates = jnp.concatenate([candidates, unif], axis=0)
        obs_rep = jnp.broadcast_to(obs, (candidates.shape[0], obs.shape[-1]))
        q = jnp.min(learner.critic_apply(critic_params, obs_rep, candidates), axis=0)
        return candidates[jnp.argmax(q)]

    return act


def eval_modes(cfg: SACConfig) -> tuple[str, ...]:
    """The modes evaluated: deterministic, plus both Q-filter ones if ``eval_with_q_filter``."""
    return EVAL_MODES if cfg.eval_with_q_filter else EVAL_MODES[:1]


class EvalSpec(NamedTuple):
    """Where to evaluate: ``env`` (our protocol, ``[-1, 1]^A`` actions) and ``env_params``,
    ``num_episodes`` per mode, ``max_steps`` per episode (the task's time limit), and
    ``score_fn(returns [E]) -> [E]`` (the D4RL normalised score) or None."""

    env: Any
    env_params: Any
    num_episodes: int
    max_steps: int
    score_fn: Callable | None = None


class TrainParts(NamedTuple):
    """For ``purerl.common.experiment.run_sweep``: ``init(key, run_idx, hparams)`` and
    ``run_updates(state, n, dataset) -> (state, metrics [n])``: n calls, then evaluation
    (``run_sweep`` counts one call as one update)."""

    init: Callable
    run_updates: Callable


def make_train_parts(learner: Learner, cfg: SACConfig, eval_spec: EvalSpec | None
                     ) -> TrainParts:
    """n calls of ``learner.train_call`` as one ``lax.scan``, then every mode's episodes.

    Metrics ``eval/<mode>/return`` (and ``eval/<mode>/normalized_score``), means over the
    episodes, are NaN on every call of the segment but the last, so every metric is ``[n]``.
    Every mode runs its episodes from the same key.
    """
    policies = {m: make_policy(learner, m, cfg.num_eval_samples) for m in eval_modes(cfg)}

    def run_updates(state: SACState, num_calls: int, dataset: OfflineDataset):
        state, metrics = jax.lax.scan(lambda s, _: learner.train_call(s, dataset), state,
                                      None, length=num_calls)
        if eval_spec is None:
            return state, metrics
        key_eval, key_run = jax.random.split(state.key)
        at_end = jnp.arange(num_calls) == num_calls - 1
        for mode, act in policies.items():
            policy = per_observation(lambda key, obs, act=act: act(
                state.actor.params, state.critic.params, obs, key))
            returns = evaluate_episodes(eval_spec.env, eval_spec.env_params, policy, key_eval,
                                        eval_spec.num_episodes, eval_spec.max_steps).returns
            values = {"return": jnp.mean(returns)}
            if eval_spec.score_fn is not None:
                values["normalized_score"] = jnp.mean(eval_spec.score_fn(returns))
            for name, v in values.items():
                metrics[f"eval/{mode}/{name}"] = jnp.where(at_end, v, jnp.nan)
        return state._replace(key=key_run), metrics

    return TrainParts(learner.init, run_updates)
