"""The SNR actor-critic: offline SAC with an NTK critic and the SNR loss on top.

Source: the MSG research code's SNR agent (Ghasemipour et al. 2022, ``jrl/agents/snr``),
as written down in the project's ``specs/offline_rl.md``:

- critic: ``NTKCritic`` (3 x [Dense 256, relu] + Dense 1 in NTK parameterisation,
  ``W_std=1``, ``b_std=0.05``, params ~ N(0, 1)); TD loss ``0.5 * mean((Q(s, a) - y)^2)``;
  NO target network (``polyak_tau=None``: the online critic before the step gives ``y``;
  the seed's ``tau`` is accepted by the command line and unused, as in the original);
- actor, BC phase and temperature: the SAC of ``purerl.algos.sac``;
- the SNR loss (``purerl.losses.snr``) times the traced ``snr_alpha`` added to the actor
  loss (``snr_applied_to="policy"``, through ``a' ~ pi(s')`` reparameterised) or to the
  critic loss (``"critic"``, with the TD target's ``a'``), after the BC phase only unless
  ``use_snr_in_bc_iters``; averaged over the critics, one SNR state per critic, which only
  moves while the loss is on.

``snr_terms`` builds that term for any SAC agent here (CQL uses it for its own
``snr_alpha``). The command line (the seed's flags and gin names) is ``purerl.cli.offline``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from purerl.algos import sac
from purerl.algos.sac_eval import EvalSpec, TrainParts
from purerl.algos.sac_eval import make_train_parts as make_sac_train_parts
from purerl.common.distributions import tanh_gaussian
from purerl.config import require
from purerl.losses.ntk_mlp import NTKCritic
from purerl.losses.snr import (
    DEFAULT_LAST_LAYER,
    SNRBatch,
    SNRKwargs,
    feature_dim,
    init_state,
    snr_loss,
)

SNR_TARGETS = ("policy", "critic")


@dataclasses.dataclass(frozen=True)
class SNROptions:
    """The SNR term's options, shared by every SAC agent that can carry it (CQL, SNR-AC).

    A mixin for a ``sac.SACConfig`` subclass: list it before ``sac.SACConfig`` so its
    ``__post_init__`` runs the SAC checks first. Defaults: the term is off.
    """

    snr_alpha: float = 0.0
    """Weight of the SNR loss (traced; 0: not built)."""
    snr_applied_to: str = "policy"
    """Where the SNR loss goes: ``policy`` or ``critic``."""
    use_snr_in_bc_iters: bool = False
    """Also apply the SNR loss during the BC phase."""
    snr_kwargs: SNRKwargs = dataclasses.field(default_factory=SNRKwargs)
    """SNR loss options."""

    def __post_init__(self):
        super().__post_init__()
        require(self.snr_alpha >= 0, "snr_alpha", "a number >= 0", self.snr_alpha)
        require(self.snr_applied_to in SNR_TARGETS, "snr_applied_to",
                f"one of {SNR_TARGETS}", self.snr_applied_to)
        require(isinstance(self.snr_kwargs, SNRKwargs), "snr_kwargs", "an SNRKwargs",
                self.snr_kwargs)
        if self.snr_alpha > 0:
            # The seed's SNRKwargs() defaults do not combine; only checked when used.
            self.snr_kwargs.check_compatible()


@dataclasses.dataclass(frozen=True)
class Config(SNROptions, sac.SACConfig):
    """The SNR agent's options: ``sac.SACConfig`` with the seed's SNR defaults, plus the
    SNR term's (``SNROptions``). As in the seed, the default ``snr_kwargs`` (ntk with the
    log-space matrix) is not a runnable combination: set them as the README does (the error
    names the clash).
    """

    actor_hidden_sizes: tuple[int, ...] = (256, 256, 256)
    num_critics: int = 1
    polyak_tau: float | None = None
    snr_alpha: float = 1.0
    """Weight of the SNR loss (traced; README run: 10; 0: not built)."""

    @property
    def td_loss_scale(self) -> float:
        """0.5: the original's ``0.5 * mean((Q - y)^2)``."""
        return 0.5


class Hyperparams(NamedTuple):
    """The SNR agent's traced hyperparameters (``polyak_tau``: NaN without targets)."""

    policy_lr: jax.Array
    q_lr: jax.Array
    alpha_lr: jax.Array
    polyak_tau: jax.Array
    snr_alpha: jax.Array


SWEEPABLE = ("policy_lr", "q_lr", "alpha_lr", "snr_alpha")
"""Names a sweep may vary in one compile (``polyak_tau`` too once targets are on)."""


class SNRTerm(NamedTuple):
    """``term``: a ``sac.Term`` for the side ``snr_applied_to`` names; ``init_state``:
    ``(key, critic_params [C, ...]) -> SNRState [C, ...]`` for ``sac.make_learner``."""

    term: sac.Term
    init_state: Any


def snr_terms(cfg: Any, critic: nn.Module, last_layer=DEFAULT_LAST_LAYER) -> SNRTerm:
    """The SNR loss as a ``sac.Term`` of an agent whose config has the SNR fields.

    The ``ntk``/``nngp`` modes use the analytic kernel of the seed's critic architecture
    (``NTKCritic(critic_hidden_sizes)``) whatever the agent's critic is, as the original.
    The term draws ``a' ~ pi(s')`` with ``ctx.keys[2]`` and the loss's own key from
    ``ctx.keys[3]``; it reports ``snr_loss`` (unweighted, mean over critics) and
    ``snr_top_singular_value`` (max over critics).

    Args:
        cfg: ``snr_alpha`` (> 0), ``snr_applied_to``, ``use_snr_in_bc_iters``,
            ``snr_kwargs``, ``discount``, ``num_critics``, ``critic_hidden_sizes``.
        critic: the agent's critic module (one critic).
        last_layer: path of its output layer in its params (``params_kernel`` features).
    """
    kernel = NTKCritic(cfg.critic_hidden_sizes).analytic_kernel()
    on_critic = cfg.snr_applied_to == "critic"

    def init(key, critic_params):
        c = feature_dim(jax.tree.map(lambda x: x[0], critic_params), last_layer)
        return jax.vmap(lambda k: init_state(cfg.snr_kwargs, c, k))(
            jax.random.split(key, cfg.num_critics))

    def ensemble_loss(critic_params, batch, next_action, states, key):
        snr_batch = SNRBatch(batch.observations, batch.actions, batch.next_observations,
                             1.0 - batch.terminals.astype(jnp.float32))

        def one(params, state, key_c):
            return snr_loss(critic.apply, params, snr_batch, next_action, state, key_c,
                            kwargs=cfg.snr_kwargs, gamma=cfg.discount, last_layer=last_layer,
                            kernel=kernel)

        loss, new_states, metrics = jax.vmap(one)(critic_params, states,
                                                  jax.random.split(key, cfg.num_critics))
        return jnp.mean(loss), new_states, jnp.max(metrics.masked_singular_values)

    def term(params, ctx: sac.StepContext):
        state = ctx.state
        gate = (jnp.float32(1.0) if cfg.use_snr_in_bc_iters
                else (~ctx.in_bc).astype(jnp.float32))
        if on_critic:
            critic_params, next_action = params, ctx.next_action
        else:
            # a' ~ pi(s') reparameterised: the loss reaches the policy through a'.
            critic_params = sac.sg(state.critic.params)
            next_action = tanh_gaussian(*ctx.actor.apply(params, ctx.batch.next_observations)
                                        ).sample(seed=ctx.keys[2])
        loss, new_states, top = ensemble_loss(critic_params, ctx.batch, next_action,
                                              state.extra_state, ctx.keys[3])
        # The SNR state (EMA matrices, centroids) only moves while the loss is on.
        new_states = jax.tree.map(lambda a, b: jnp.where(gate > 0, a, b), new_states,
                                  state.extra_state)
        metrics = {"snr_loss": loss, "snr_top_singular_value": top}
        return state.hparams.snr_alpha * gate * loss, metrics, new_states

    return SNRTerm(term, init)


def make_learner(cfg: Config, obs_dim: int, action_dim: int) -> sac.Learner:
    """The SNR agent's pure init / SGD-step functions (``sac.Learner``).

    Raises:
        ValueError: a non-positive dimension.
    """
    return make_learner_with_snr(cfg, NTKCritic(cfg.critic_hidden_sizes), obs_dim,
                                 action_dim, Hyperparams)


def make_learner_with_snr(cfg: Any, critic: nn.Module, obs_dim: int, action_dim: int,
                          hyperparams: type, critic_terms: tuple = ()) -> sac.Learner:
    """``sac.make_learner`` with the agent's own ``critic_terms`` and, when
    ``cfg.snr_alpha > 0``, the SNR term on the side ``cfg.snr_applied_to`` names.

    Args:
        cfg: a ``sac.SACConfig`` with ``SNROptions``.
        critic: the agent's critic module (one critic).
        hyperparams: the agent's traced-hyperparameter NamedTuple (has ``snr_alpha``).
        critic_terms: the agent's other critic ``sac.Term`` s (CQL's conservative term).
    """
    critic_terms, actor_terms, init_extra = list(critic_terms), [], None
    if cfg.snr_alpha > 0:
        snr = snr_terms(cfg, critic)
        (critic_terms if cfg.snr_applied_to == "critic" else actor_terms).append(snr.term)
        init_extra = snr.init_state
    return sac.make_learner(cfg, critic, obs_dim, action_dim, hyperparams=hyperparams,
                            critic_terms=critic_terms, actor_terms=actor_terms,
                            init_extra_state=init_extra)


def make_train_parts(cfg: Config, obs_dim: int, action_dim: int,
                     eval_spec: EvalSpec | None = None) -> TrainParts:
    """``run_sweep`` parts of the SNR agent (see ``sac_eval.make_train_parts``)."""
    return make_sac_train_parts(make_learner(cfg, obs_dim, action_dim), cfg, eval_spec)
