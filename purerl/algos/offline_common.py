"""The offline actor-critic learner shared by CQL and the SNR actor-critic.

Source: the MSG paper's research code (Ghasemipour et al., NeurIPS 2022; ``jrl/agents/cql``
and ``jrl/agents/snr``), re-implemented from the behaviour written down in the project's
``specs/offline_rl.md``. Both agents are one loop with a few switches (``LearnerConfig``):

- tanh-squashed Gaussian actor (distrax), MLP(relu) torso, VarianceScaling(1, fan_avg,
  truncated normal) weights and zero biases; deterministic action ``tanh(mean)``.
- an ensemble of ``num_critics`` critics (plain MLP for CQL, NTK-parameterised for SNR),
  TD target ``y = r + (1 - terminal) 0.99 min_i Q_tgt_i(s', a')``, ``a' ~ pi(s')``, with
  NO entropy term; the target is a Polyak copy (CQL) or the online critic itself (SNR).
- BC phase for the first ``num_bc_iters`` true SGD steps: actor loss ``-log pi(a_data|s)``;
  afterwards ``alpha log pi(a|s) - min_i Q_i(s, a)``, ``a ~ pi(s)`` reparameterised.
- adaptive entropy temperature ``alpha = exp(log_alpha)``, loss
  ``alpha * sg(-mean log pi - target_entropy)``, updated only after the BC phase.
- CQL's conservative term (``cql_alpha > 0``) and the SNR loss (``snr_alpha > 0``, on the
  actor or the critic loss, ``purerl.losses.snr``).
- critic and actor gradients both come from the state before the step.

Loop semantics (the seeds'): one compiled call = ``K = num_sgd_steps_per_step`` SGD steps
as a ``lax.scan`` over ``[K, B]`` batches sampled on device; a run is ``num_steps`` calls,
evaluated every ``eval_every_steps`` calls by ``episodes_per_eval`` vmapped rollouts inside
the same compiled segment.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from envs_jax import spaces
from envs_jax.offline.dataset import OfflineDataset, sample_steps
from purerl.config import require, require_positive, require_unit_interval
from purerl.losses.ntk_mlp import NTKCritic
from purerl.losses.snr import SNRBatch, SNRKwargs, SNRState, feature_dim, init_state, snr_loss

SNR_TARGETS = ("policy", "critic")
EVAL_MODES = ("deterministic", "q_filter", "q_filter_with_uniform")
MIN_SCALE = 1e-3
"""Floor of the actor's Gaussian scale (acme's NormalTanhDistribution: softplus + 1e-3)."""
ACTION_CLIP = 1.0 - 1e-6
"""Dataset actions are clipped into ``(-1, 1)`` before ``atanh`` in the BC log-likelihood
(a D4RL action exactly at the bound would otherwise have log-prob -inf; acme clips too)."""


# ----------------------------------------------------------------------------- networks


def _variance_scaling():
    return nn.initializers.variance_scaling(1.0, "fan_avg", "truncated_normal")


class TanhGaussianActor(nn.Module):
    """``pi(a|s)``: MLP(relu) -> (loc, scale) of a Gaussian squashed by tanh.

    Source: acme's ``NormalTanhDistribution`` head as used by the seed's CQL/SNR actors:
    ``scale = softplus(raw) + 1e-3``, actions ``tanh(x)``, ``x ~ N(loc, scale)``.

    Attributes:
        action_dim: A.
        hidden_sizes: widths of the relu torso (CQL default (256, 256); SNR (256, 256, 256)).

    ``apply(params, obs [..., obs_dim]) -> (loc [..., A], scale [..., A])`` float32; build
    the distribution with ``action_distribution(loc, scale)``.
    """

    action_dim: int
    hidden_sizes: Sequence[int] = (256, 256)

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = obs
        for width in self.hidden_sizes:
            x = nn.relu(nn.Dense(width, kernel_init=_variance_scaling())(x))
        out = nn.Dense(2 * self.action_dim, kernel_init=_variance_scaling())(x)
        loc, raw_scale = jnp.split(out, 2, axis=-1)
        return loc, jax.nn.softplus(raw_scale) + MIN_SCALE


def action_distribution(loc: jax.Array, scale: jax.Array) -> distrax.Distribution:
    """Tanh-squashed diagonal Gaussian over ``[..., A]`` (event = the last axis)."""
    return distrax.Transformed(distrax.MultivariateNormalDiag(loc, scale),
                               distrax.Block(distrax.Tanh(), 1))


class MLPCritic(nn.Module):
    """``Q(s, a)``: MLP(relu) on ``concat(obs, action)``, output layer named ``"head"``.

    The name lets the SNR ``params_kernel`` mode find the last layer at
    ``params["params"]["head"]`` (``purerl.losses.snr.DEFAULT_LAST_LAYER``).

    Attributes:
        hidden_sizes: widths (CQL default (256, 256, 256)).
    """

    hidden_sizes: Sequence[int] = (256, 256, 256)

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        """``obs [..., obs_dim]``, ``action [..., A]`` -> ``Q [...]`` float32."""
        x = jnp.concatenate([obs, action], axis=-1)
        for i, width in enumerate(self.hidden_sizes):
            x = nn.relu(nn.Dense(width, kernel_init=_variance_scaling(), name=f"hidden_{i}")(x))
        return nn.Dense(1, kernel_init=_variance_scaling(), name="head")(x)[..., 0]


# ------------------------------------------------------------------------------- config


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    """Everything the shared learner needs; CQL and SNR configs translate into this.

    Attributes:
        policy_lr: actor Adam step size.
        q_lr: critic Adam step size.
        alpha_lr: entropy-temperature Adam step size (spec: 3e-4).
        discount: gamma.
        num_bc_iters: true SGD steps of behaviour cloning (no K scaling).
        actor_hidden_sizes: actor torso widths.
        critic_hidden_sizes: critic widths.
        num_critics: ensemble size C (min over critics in targets and the actor loss).
        critic_type: ``"mlp"`` (standard parameterisation) or ``"ntk"`` (``NTKCritic``).
        q_loss_scale: ``"num_critics"``: ``C * mean((Q - y)^2)`` (CQL);
            ``"half"``: ``0.5 * mean((Q - y)^2)`` (SNR).
        cql_alpha: weight of the conservative term (0: none).
        num_importance_acts: N policy and N uniform actions of the conservative term.
        tau: Polyak rate of the target critic; ``None``: no target network, the online
            critic before the step gives the targets (the original SNR agent).
        snr_alpha: weight of the SNR loss (0: not computed).
        snr_applied_to: ``"policy"`` or ``"critic"``.
        use_snr_in_bc_iters: add the SNR loss during the BC phase too.
        snr_kwargs: SNR loss options.
        num_sgd_steps_per_step: K SGD steps per compiled call.
        per_step_batch_size: B transitions per SGD step.
        target_entropy: ``None``: ``-action_dim``.
        eval_with_q_filter: also evaluate the Q-filter policies.
        num_eval_samples: policy (and uniform) actions scored by the Q-filter.
    """

    policy_lr: float = 3e-5
    q_lr: float = 3e-4
    alpha_lr: float = 3e-4
    discount: float = 0.99
    num_bc_iters: int = 50_000
    actor_hidden_sizes: tuple[int, ...] = (256, 256)
    critic_hidden_sizes: tuple[int, ...] = (256, 256, 256)
    num_critics: int = 2
    critic_type: str = "mlp"
    q_loss_scale: str = "num_critics"
    cql_alpha: float = 5.0
    num_importance_acts: int = 10
    tau: float | None = 0.005
    snr_alpha: float = 0.0
    snr_applied_to: str = "policy"
    use_snr_in_bc_iters: bool = False
    snr_kwargs: SNRKwargs = dataclasses.field(default_factory=SNRKwargs)
    num_sgd_steps_per_step: int = 1
    per_step_batch_size: int = 256
    target_entropy: float | None = None
    eval_with_q_filter: bool = False
    num_eval_samples: int = 10

    def __post_init__(self):
        for name in ("policy_lr", "q_lr", "alpha_lr", "num_critics", "num_importance_acts",
                     "num_sgd_steps_per_step", "per_step_batch_size", "num_eval_samples"):
            require_positive(name, getattr(self, name))
        for name in ("num_critics", "num_importance_acts", "num_sgd_steps_per_step",
                     "per_step_batch_size", "num_eval_samples", "num_bc_iters"):
            value = getattr(self, name)
            require(isinstance(value, int) and not isinstance(value, bool), name, "an int",
                    value)
        require(self.num_bc_iters >= 0, "num_bc_iters", "an int >= 0", self.num_bc_iters)
        require_unit_interval("discount", self.discount)
        for name in ("actor_hidden_sizes", "critic_hidden_sizes"):
            sizes = getattr(self, name)
            require(isinstance(sizes, tuple) and len(sizes) >= 1
                    and all(isinstance(h, int) and h >= 1 for h in sizes), name,
                    "a non-empty tuple of positive ints, e.g. (256, 256)", sizes)
        require(self.critic_type in ("mlp", "ntk"), "critic_type", "'mlp' or 'ntk'",
                self.critic_type)
        require(self.q_loss_scale in ("num_critics", "half"), "q_loss_scale",
                "'num_critics' or 'half'", self.q_loss_scale)
        require(self.cql_alpha >= 0, "cql_alpha", "a number >= 0", self.cql_alpha)
        if self.tau is not None:
            require(0.0 < self.tau <= 1.0, "tau", "a number in (0, 1] (or None)", self.tau)
        require(self.snr_alpha >= 0, "snr_alpha", "a number >= 0", self.snr_alpha)
        require(self.snr_applied_to in SNR_TARGETS, "snr_applied_to", f"one of {SNR_TARGETS}",
                self.snr_applied_to)
        require(isinstance(self.snr_kwargs, SNRKwargs), "snr_kwargs", "an SNRKwargs",
                self.snr_kwargs)
        if self.snr_alpha > 0:
            # The seed's SNRKwargs() defaults are not a runnable combination; only check
            # them when the loss is actually used (CQL carries them with snr_alpha=0).
            self.snr_kwargs.check_compatible()

    @property
    def use_snr(self) -> bool:
        return self.snr_alpha > 0

    @property
    def batch_size(self) -> int:
        """The seeds' ``batch_size``: K x per-step batch, sampled per compiled call."""
        return self.num_sgd_steps_per_step * self.per_step_batch_size


# ------------------------------------------------------------------------------- state


class LearnerState(NamedTuple):
    """Everything that changes during training (one seed; add ``[S]`` when vmapped).

    Attributes:
        actor: actor ``TrainState`` (params, Adam state).
        critic: critic ``TrainState``; every param leaf has a leading ``[C]`` axis.
        target_critic_params: Polyak target ``[C, ...]``, or ``None`` without targets.
        alpha: ``TrainState`` whose params are ``{"log_alpha": [] float32}`` (init 0).
        snr_state: ``SNRState`` with a leading ``[C]`` axis on every array.
        sgd_steps: ``[]`` int32, true SGD steps done.
        key: PRNG key.
    """

    actor: TrainState
    critic: TrainState
    target_critic_params: Any
    alpha: TrainState
    snr_state: SNRState
    sgd_steps: jax.Array
    key: jax.Array


class Learner(NamedTuple):
    """Pure functions of one configured learner (see ``make_learner``).

    Attributes:
        init: ``(key) -> LearnerState``.
        sgd_step: ``(state, batch [B]) -> (state, metrics dict of [] floats)``: one SGD step.
        update_on_batches: ``(state, batches [K, B]) -> (state, metrics [K])``: the K-step
            ``lax.scan`` of ``sgd_step``.
        train_call: ``(state, dataset) -> (state, metrics [])``: one seed-semantics call
            (sample ``[K, B]`` on device, K steps, metrics averaged over the K steps).
        actor: the actor module; ``critic_apply``: ``(params [C, ...], obs, action) ->
            Q [C, ...]``; ``critic_apply_one``: one critic's ``(params, obs, action) -> Q``.
    """

    init: Callable
    sgd_step: Callable
    update_on_batches: Callable
    train_call: Callable
    actor: TanhGaussianActor
    critic_apply: Callable
    critic_apply_one: Callable


# ------------------------------------------------------------------------------ losses


def conservative_term(q_data: jax.Array, q_pi: jax.Array, log_pi: jax.Array,
                      q_unif: jax.Array, action_dim: int) -> jax.Array:
    """CQL(H)'s conservative term, the seed's variant.

    ``combined = concat([Q(s, a_pi) - log pi(a_pi|s), Q(s, a_unif) + A log 2])`` over the
    2N sampled actions; term = ``mean(logsumexp_2N(combined) - Q(s, a_data))`` over the
    batch and the critics. No ``-log 2N``, no temperature, no next-state actions (spec).
    Source: Kumar et al. 2020 (CQL), eq. 4 with importance sampling (appendix F); the
    uniform density on ``[-1, 1]^A`` is ``2^-A``.

    Args:
        q_data: ``[C, B]`` Q of the dataset actions.
        q_pi: ``[C, N, B]`` Q of N policy actions at the same states.
        log_pi: ``[N, B]`` their log-probabilities (no gradient wanted: pass stopped).
        q_unif: ``[C, N, B]`` Q of N uniform actions.
        action_dim: A.

    Returns:
        ``[]`` float32.
    """
    combined = jnp.concatenate(
        [q_pi - log_pi[None], q_unif + action_dim * math.log(2.0)], axis=1)
    return jnp.mean(jax.nn.logsumexp(combined, axis=1) - q_data)


def polyak(target: Any, online: Any, tau: float) -> Any:
    """``(1 - tau) target + tau online``, leafwise (Lillicrap et al. 2016, DDPG)."""
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def _select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


# ----------------------------------------------------------------------------- learner


def make_learner(cfg: LearnerConfig, obs_dim: int, action_dim: int) -> Learner:
    """Build the pure init / update functions of one configured learner.

    Args:
        cfg: the learner options.
        obs_dim: observation length.
        action_dim: A (actions live in ``[-1, 1]^A``).

    Returns:
        ``Learner`` (nothing compiled; the caller jits, vmaps over seeds).
    """
    require_positive("obs_dim", obs_dim)
    require_positive("action_dim", action_dim)
    actor = TanhGaussianActor(action_dim, cfg.actor_hidden_sizes)
    critic = (NTKCritic(cfg.critic_hidden_sizes) if cfg.critic_type == "ntk"
              else MLPCritic(cfg.critic_hidden_sizes))
    critic_apply = jax.vmap(critic.apply, in_axes=(0, None, None))
    # The analytic infinite-width kernel of the seed's Dense(h, 1.0, 0.05) + relu stack
    # (its ntk/nngp modes use it whatever the agent's critic is).
    kernel = NTKCritic(cfg.critic_hidden_sizes).analytic_kernel()
    target_entropy = -float(action_dim) if cfg.target_entropy is None else cfg.target_entropy
    sg = jax.lax.stop_gradient
    num_acts, num_critics = cfg.num_importance_acts, cfg.num_critics
    # Built once: a TrainState's optimiser is pytree metadata, so every init (and
    # jax.eval_shape of it) must share these objects for compiled calls to accept its state.
    actor_tx, critic_tx, alpha_tx = (optax.adam(cfg.policy_lr), optax.adam(cfg.q_lr),
                                     optax.adam(cfg.alpha_lr))

    def init(key: jax.Array) -> LearnerState:
        key_actor, key_critic, key_snr, key_run = jax.random.split(key, 4)
        obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, action_dim))
        actor_params = actor.init(key_actor, obs)
        critic_params = jax.vmap(lambda k: critic.init(k, obs, act))(
            jax.random.split(key_critic, num_critics))
        if cfg.use_snr:
            one = jax.tree.map(lambda x: x[0], critic_params)
            c = feature_dim(one)
            snr_state = jax.vmap(lambda k: init_state(cfg.snr_kwargs, c, k))(
                jax.random.split(key_snr, num_critics))
        else:
            snr_state = SNRState()
        return LearnerState(
            actor=TrainState.create(apply_fn=actor.apply, params=actor_params,
                                    tx=actor_tx),
            critic=TrainState.create(apply_fn=critic.apply, params=critic_params,
                                     tx=critic_tx),
            target_critic_params=critic_params if cfg.tau is not None else None,
            alpha=TrainState.create(apply_fn=None,
                                    params={"log_alpha": jnp.zeros((), jnp.float32)},
                                    tx=alpha_tx),
            snr_state=snr_state,
            sgd_steps=jnp.zeros((), jnp.int32),
            key=key_run,
        )

    def snr_term(critic_params, batch: OfflineDataset, next_action, snr_state, key):
        """SNR loss of every critic of the ensemble, averaged (state per critic)."""
        snr_batch = SNRBatch(batch.observations, batch.actions, batch.next_observations,
                             1.0 - batch.terminals.astype(jnp.float32))

        def one(params, state, key_c):
            return snr_loss(critic.apply, params, snr_batch, next_action, state, key_c,
                            kwargs=cfg.snr_kwargs, gamma=cfg.discount, kernel=kernel)

        loss, new_state, metrics = jax.vmap(one)(critic_params, snr_state,
                                                 jax.random.split(key, num_critics))
        top = jnp.max(metrics.masked_singular_values)
        return jnp.mean(loss), new_state, top

    def sgd_step(state: LearnerState, batch: OfflineDataset):
        keys = jax.random.split(state.key, 8)
        key_run, key_next, key_cql_pi, key_cql_unif, key_actor, key_snr_next, key_snr = keys[:7]
        in_bc = state.sgd_steps < cfg.num_bc_iters
        snr_gate = jnp.float32(1.0) if cfg.use_snr_in_bc_iters else (~in_bc).astype(jnp.float32)
        alpha = jnp.exp(state.alpha.params["log_alpha"])
        obs, act = batch.observations, batch.actions
        not_terminal = 1.0 - batch.terminals.astype(jnp.float32)

        # TD target from the state before the step; no entropy term (spec).
        next_action = action_distribution(*actor.apply(state.actor.params,
                                                       batch.next_observations)
                                          ).sample(seed=key_next)
        target_params = (state.target_critic_params if cfg.tau is not None
                         else state.critic.params)
        q_next = jnp.min(critic_apply(target_params, batch.next_observations, next_action), 0)
        y = sg(batch.rewards + not_terminal * cfg.discount * q_next)

        if cfg.cql_alpha > 0:
            dist_s = action_distribution(*actor.apply(state.actor.params, obs))
            pi_actions, pi_log_prob = dist_s.sample_and_log_prob(seed=key_cql_pi,
                                                                 sample_shape=num_acts)
            pi_actions, pi_log_prob = sg(pi_actions), sg(pi_log_prob)    # [N, B, A], [N, B]
            unif_actions = jax.random.uniform(key_cql_unif, pi_actions.shape,
                                              minval=-1.0, maxval=1.0)
            obs_rep = jnp.broadcast_to(obs, (num_acts, *obs.shape))

        def critic_loss_fn(critic_params):
            q_data = critic_apply(critic_params, obs, act)                  # [C, B]
            sq = jnp.mean((q_data - y[None]) ** 2)
            q_loss = num_critics * sq if cfg.q_loss_scale == "num_critics" else 0.5 * sq
            loss, aux = q_loss, {"q_loss": q_loss, "q_data": jnp.mean(q_data)}
            if cfg.cql_alpha > 0:
                q_pi = critic_apply(critic_params, obs_rep, pi_actions)       # [C, N, B]
                q_unif = critic_apply(critic_params, obs_rep, unif_actions)
                cql = conservative_term(q_data, q_pi, pi_log_prob, q_unif, action_dim)
                loss = loss + cfg.cql_alpha * cql
                aux["cql_term"] = cql
            new_snr = state.snr_state
            if cfg.use_snr and cfg.snr_applied_to == "critic":
                snr, new_snr, top = snr_term(critic_params, batch, sg(next_action),
                                             state.snr_state, key_snr)
                loss = loss + cfg.snr_alpha * snr_gate * snr
                aux.update(snr_loss=snr, snr_top_singular_value=top)
            return loss, (aux, new_snr)

        critic_params_sg = sg(state.critic.params)

        def actor_loss_fn(actor_params):
            dist = action_distribution(*actor.apply(actor_params, obs))
            bc_loss = -jnp.mean(dist.log_prob(jnp.clip(act, -ACTION_CLIP, ACTION_CLIP)))
            pi_action, log_prob = dist.sample_and_log_prob(seed=key_actor)
            q_pi = jnp.min(critic_apply(critic_params_sg, obs, pi_action), 0)
            rl_loss = jnp.mean(sg(alpha) * log_prob - q_pi)
            loss = jnp.where(in_bc, bc_loss, rl_loss)
            aux = {"bc_loss": bc_loss, "rl_actor_loss": rl_loss}
            new_snr = state.snr_state
            if cfg.use_snr and cfg.snr_applied_to == "policy":
                # a' ~ pi(s') reparameterised: the SNR loss reaches the policy through a'.
                next_a = action_distribution(*actor.apply(actor_params,
                                                          batch.next_observations)
                                             ).sample(seed=key_snr_next)
                snr, new_snr, top = snr_term(critic_params_sg, batch, next_a,
                                             state.snr_state, key_snr)
                loss = loss + cfg.snr_alpha * snr_gate * snr
                aux.update(snr_loss=snr, snr_top_singular_value=top)
            return loss, (aux, sg(log_prob), new_snr)

        (critic_loss, (critic_aux, snr_from_critic)), critic_grads = jax.value_and_grad(
            critic_loss_fn, has_aux=True)(state.critic.params)
        (actor_loss, (actor_aux, log_prob, snr_from_actor)), actor_grads = jax.value_and_grad(
            actor_loss_fn, has_aux=True)(state.actor.params)

        entropy = -jnp.mean(log_prob)

        def alpha_loss_fn(alpha_params):
            return jnp.exp(alpha_params["log_alpha"]) * sg(entropy - target_entropy)

        alpha_loss, alpha_grad = jax.value_and_grad(alpha_loss_fn)(state.alpha.params)
        new_alpha = _select(in_bc, state.alpha, state.alpha.apply_gradients(grads=alpha_grad))
        new_critic = state.critic.apply_gradients(grads=critic_grads)
        new_actor = state.actor.apply_gradients(grads=actor_grads)
        new_target = (polyak(state.target_critic_params, new_critic.params, cfg.tau)
                      if cfg.tau is not None else None)
        snr_new = snr_from_critic if cfg.snr_applied_to == "critic" else snr_from_actor
        # The SNR state (EMA matrices, centroids) only moves while the loss is active.
        snr_state = _select(snr_gate > 0, snr_new, state.snr_state) if cfg.use_snr \
            else state.snr_state

        metrics = {"critic_loss": critic_loss, "actor_loss": actor_loss,
                   "alpha": alpha, "alpha_loss": alpha_loss, "entropy": entropy,
                   "in_bc": in_bc.astype(jnp.float32), **critic_aux, **actor_aux}
        new_state = LearnerState(new_actor, new_critic, new_target, new_alpha, snr_state,
                                 state.sgd_steps + 1, key_run)
        return new_state, metrics

    def update_on_batches(state: LearnerState, batches: OfflineDataset):
        return jax.lax.scan(sgd_step, state, batches)

    def train_call(state: LearnerState, dataset: OfflineDataset):
        key_sample, key_run = jax.random.split(state.key)
        batches = sample_steps(key_sample, dataset, cfg.num_sgd_steps_per_step, cfg.batch_size)
        state, metrics = update_on_batches(state._replace(key=key_run), batches)
        return state, jax.tree.map(jnp.mean, metrics)

    return Learner(init, sgd_step, update_on_batches, train_call, actor, critic_apply,
                   critic.apply)


# -------------------------------------------------------------------------- evaluation


def make_policy(learner: Learner, mode: str, num_eval_samples: int
                ) -> Callable[[Any, Any, jax.Array, jax.Array], jax.Array]:
    """An evaluation policy ``(actor_params, critic_params, obs [obs_dim], key) -> a [A]``.

    Modes (the seed's evaluation): ``deterministic`` = ``tanh(mean)``; ``q_filter`` = the
    argmax of ``min_i Q_i(s, .)`` over ``num_eval_samples`` actions from ``pi(s)``;
    ``q_filter_with_uniform`` = the same over those plus as many uniform actions.

    Raises:
        ValueError: unknown mode.
    """
    require(mode in EVAL_MODES, "mode", f"one of {EVAL_MODES}", mode)

    def act(actor_params, critic_params, obs, key):
        loc, scale = learner.actor.apply(actor_params, obs)
        if mode == "deterministic":
            return jnp.tanh(loc)
        key_pi, key_unif = jax.random.split(key)
        candidates = action_distribution(loc, scale).sample(seed=key_pi,
                                                            sample_shape=num_eval_samples)
        if mode == "q_filter_with_uniform":
            unif = jax.random.uniform(key_unif, candidates.shape, minval=-1.0, maxval=1.0)
            candidates = jnp.concatenate([candidates, unif], axis=0)
        obs_rep = jnp.broadcast_to(obs, (candidates.shape[0], obs.shape[-1]))
        q = jnp.min(learner.critic_apply(critic_params, obs_rep, candidates), axis=0)
        return candidates[jnp.argmax(q)]

    return act


def check_eval_env(env, env_params, obs_dim: int, action_dim: int) -> None:
    """Check before tracing that an env of our protocol fits a learner's data.

    Raises:
        ValueError: non-Box spaces, dimensions unlike the dataset's, or an action box that
            is not ``[-1, 1]^A`` (the actor's tanh range).
    """
    obs_space, act_space = env.observation_space(env_params), env.action_space(env_params)
    require(isinstance(act_space, spaces.Box) and act_space.shape == (action_dim,),
            "eval env action_space", f"a Box of shape ({action_dim},) like the dataset",
            act_space)
    require(bool(jnp.all(act_space.low == -1.0)) and bool(jnp.all(act_space.high == 1.0)),
            "eval env action_space", "bounds [-1, 1] (the actor's tanh range)", act_space)
    require(tuple(obs_space.shape) == (obs_dim,), "eval env observation_space",
            f"shape ({obs_dim},) like the dataset", obs_space)


def evaluate_episodes(env, env_params, policy, actor_params, critic_params, key: jax.Array,
                      num_episodes: int, max_steps: int) -> jax.Array:
    """Undiscounted returns of ``num_episodes`` vmapped episodes of ``policy``; jittable.

    Each episode runs until ``terminated | truncated`` or ``max_steps`` steps (a
    ``lax.scan`` of ``max_steps``; rewards after the end are masked out).

    Args:
        env: a base env of our protocol (no auto-reset).
        env_params: its params.
        policy: ``(actor_params, critic_params, obs, key) -> action`` (``make_policy``).
        actor_params, critic_params: the learner's params.
        key: PRNG key.
        num_episodes: E (static).
        max_steps: scan length (static).

    Returns:
        ``[E]`` float32 returns.
    """
    def episode(key_ep):
        key_reset, key_steps = jax.random.split(key_ep)
        obs, env_state = env.reset(key_reset, env_params)

        def env_step(carry, key_t):
            obs, env_state, alive, total = carry
            key_act, key_step = jax.random.split(key_t)
            action = policy(actor_params, critic_params, obs, key_act)
            ts = env.step(key_step, env_state, action, env_params)
            total = total + jnp.where(alive, ts.reward, 0.0)
            return (ts.obs, ts.state, alive & ~ts.done, total), None

        carry = (obs, env_state, jnp.bool_(True), jnp.float32(0.0))
        carry, _ = jax.lax.scan(env_step, carry, jax.random.split(key_steps, max_steps))
        return carry[-1]

    return jax.vmap(episode)(jax.random.split(key, num_episodes))


class EvalSpec(NamedTuple):
    """Where and how to evaluate (host-side, static).

    Attributes:
        env, env_params: an env of our protocol with ``[-1, 1]^A`` actions.
        num_episodes: ``episodes_per_eval``.
        max_steps: episode cap (the D4RL time limit).
        score_fn: ``returns [E] -> normalised scores [E]`` (D4RL), or None.
    """

    env: Any
    env_params: Any
    num_episodes: int
    max_steps: int
    score_fn: Callable | None = None


def eval_modes(cfg: LearnerConfig) -> tuple[str, ...]:
    """Modes reported: deterministic, plus both Q-filter variants if enabled."""
    return EVAL_MODES if cfg.eval_with_q_filter else EVAL_MODES[:1]


def make_segment(learner: Learner, cfg: LearnerConfig, eval_spec: EvalSpec | None):
    """``segment(state, dataset, num_calls) -> (state, metrics [num_calls])``.

    ``num_calls`` calls of ``train_call`` as a ``lax.scan``, then (if ``eval_spec``)
    evaluation of every mode of ``eval_modes(cfg)``, all in one traced function. Eval
    metrics (``eval/<mode>/return`` and ``.../normalized_score``, means over episodes)
    are NaN on every call but the last of the segment, so all metrics stay ``[num_calls]``.
    """
    policies = {m: make_policy(learner, m, cfg.num_eval_samples) for m in eval_modes(cfg)}

    def segment(state: LearnerState, dataset: OfflineDataset, num_calls: int):
        state, metrics = jax.lax.scan(lambda s, _: learner.train_call(s, dataset), state,
                                      None, length=num_calls)
        if eval_spec is None:
            return state, metrics
        key_eval, key_run = jax.random.split(state.key)
        state = state._replace(key=key_run)
        at_end = jnp.arange(num_calls) == num_calls - 1
        for mode, policy in policies.items():
            returns = evaluate_episodes(eval_spec.env, eval_spec.env_params, policy,
                                        state.actor.params, state.critic.params, key_eval,
                                        eval_spec.num_episodes, eval_spec.max_steps)
            values = {"return": jnp.mean(returns)}
            if eval_spec.score_fn is not None:
                values["normalized_score"] = jnp.mean(eval_spec.score_fn(returns))
            for name, v in values.items():
                metrics[f"eval/{mode}/{name}"] = jnp.where(at_end, v, jnp.nan)
        return state, metrics

    return segment
