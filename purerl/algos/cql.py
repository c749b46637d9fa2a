"""CQL (conservative Q-learning): offline SAC plus the seed's conservative critic term.

Source: Kumar et al. 2020, "Conservative Q-Learning for Offline Reinforcement Learning"
(CQL(H), eq. 4, importance-sampled as in their appendix F), in the variant of the MSG
research code (Ghasemipour et al. 2022, ``jrl/agents/cql``) written down in the project's
``specs/offline_rl.md``:

- the SAC of ``purerl.algos.sac`` with an ``MLPCritic`` ensemble, Polyak targets and the TD
  loss ``C * mean_{i,b}(Q_i(s, a) - y)^2`` (metric ``critic_loss``);
- plus ``cql_alpha * cql_term`` (metric ``cql_term``, unweighted), with N policy actions at
  the current state and N uniform ones: ``cql_term = mean(logsumexp_2N([Q(s, a_pi) -
  log pi, Q(s, a_unif) + A log 2]) - Q(s, a_data))``; no ``-log 2N``, no temperature, no
  Lagrange version, no next-state actions;
- optionally the SNR loss (``snr_alpha > 0``) on the actor or the critic, built by
  ``purerl.algos.snr_ac.snr_terms``.

The seed notes it reproduces CQL on D4RL gym but not on AntMaze. The command line (the
seed's flags and gin names) is ``purerl.cli.offline``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from purerl.algos import sac
from purerl.algos.sac_eval import EvalSpec, TrainParts
from purerl.algos.sac_eval import make_train_parts as make_sac_train_parts
from purerl.algos.snr_ac import SNROptions, make_learner_with_snr
from purerl.common.distributions import tanh_gaussian
from purerl.config import require, require_positive


@dataclasses.dataclass(frozen=True)
class Config(SNROptions, sac.SACConfig):
    """CQL options: those of ``sac.SACConfig`` (defaults: the seed's CQL), the conservative
    term's, and the optional SNR term's (``snr_ac.SNROptions``, off by default).

    ``cql_alpha`` and ``snr_alpha`` are traced (sweepable); whether a term is built at all
    is decided by its weight here being > 0 (a sweep builds it if any point needs it).
    """

    cql_alpha: float = 5.0
    """Weight of the conservative term (README antmaze run: 0.05)."""
    num_importance_acts: int = 10
    """N policy actions and N uniform actions per state in the conservative term."""

    def __post_init__(self):
        super().__post_init__()
        require(self.cql_alpha >= 0, "cql_alpha", "a number >= 0", self.cql_alpha)
        require_positive("num_importance_acts", self.num_importance_acts)
        require(isinstance(self.num_importance_acts, int), "num_importance_acts", "an int",
                self.num_importance_acts)


class Hyperparams(NamedTuple):
    """CQL's traced hyperparameters (``sac.SACHyperparams`` and the two term weights)."""

    policy_lr: jax.Array
    q_lr: jax.Array
    alpha_lr: jax.Array
    polyak_tau: jax.Array
    cql_alpha: jax.Array
    snr_alpha: jax.Array


SWEEPABLE = Hyperparams._fields
"""Names a sweep may vary in one compile."""


def conservative_term(q_data: jax.Array, q_pi: jax.Array, log_pi: jax.Array,
                      q_unif: jax.Array, action_dim: int) -> jax.Array:
    """CQL(H)'s conservative term, the seed's variant (module docstring).

    The uniform density on ``[-1, 1]^A`` is ``2^-A``, hence ``+ A log 2``.

    Args:
        q_data: ``[C, B]`` Q of the dataset actions.
        q_pi: ``[C, N, B]`` Q of N policy actions at the same states.
        log_pi: ``[N, B]`` their log-probabilities (pass them stopped).
        q_unif: ``[C, N, B]`` Q of N uniform actions.
        action_dim: A.

    Returns:
        ``[]`` float32, the mean over critics and states.
    """
    combined = jnp.concatenate(
        [q_pi - log_pi[None], q_unif + action_dim * math.log(2.0)], axis=1)
    return jnp.mean(jax.nn.logsumexp(combined, axis=1) - q_data)


def conservative_critic_term(num_importance_acts: int, action_dim: int) -> sac.Term:
    """The conservative term as a critic ``sac.Term``, weighted by the traced
    ``hparams.cql_alpha``; it draws with ``ctx.keys[0]`` (policy) and ``[1]`` (uniform)."""
    num_acts = num_importance_acts

    def term(critic_params, ctx: sac.StepContext):
        obs = ctx.batch.observations
        dist = tanh_gaussian(*ctx.actor.apply(ctx.state.actor.params, obs))
        pi_actions, pi_log_prob = dist.sample_and_log_prob(seed=ctx.keys[0],
                                                           sample_shape=num_acts)
        pi_actions, pi_log_prob = sac.sg(pi_actions), sac.sg(pi_log_prob)  # [N, B, A], [N, B]
        unif_actions = jax.random.uniform(ctx.keys[1], pi_actions.shape, minval=-1.0,
                                          maxval=1.0)
        obs_rep = jnp.broadcast_to(obs, (num_acts, *obs.shape))
        q_pi = ctx.critic_apply(critic_params, obs_rep, pi_actions)           # [C, N, B]
        q_unif = ctx.critic_apply(critic_params, obs_rep, unif_actions)
        cql = conservative_term(ctx.q_data, q_pi, pi_log_prob, q_unif, action_dim)
        return ctx.state.hparams.cql_alpha * cql, {"cql_term": cql}, None

    return term


def make_learner(cfg: Config, obs_dim: int, action_dim: int) -> sac.Learner:
    """CQL's pure init / SGD-step functions (``sac.Learner``; the caller jits and vmaps).

    Raises:
        ValueError: a non-positive dimension.
    """
    terms = ([conservative_critic_term(cfg.num_importance_acts, action_dim)]
             if cfg.cql_alpha > 0 else [])
    return make_learner_with_snr(cfg, sac.MLPCritic(cfg.critic_hidden_sizes), obs_dim,
                                 action_dim, Hyperparams, critic_terms=terms)


def make_train_parts(cfg: Config, obs_dim: int, action_dim: int,
                     eval_spec: EvalSpec | None = None) -> TrainParts:
    """``run_sweep`` parts of CQL: ``init(key, run_idx, Hyperparams)`` and
    ``run_updates(state, calls, dataset)`` ending with the evaluation (``sac_eval``)."""
    return make_sac_train_parts(make_learner(cfg, obs_dim, action_dim), cfg, eval_spec)
