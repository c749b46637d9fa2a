"""Soft actor-critic on a fixed dataset: the pieces CQL and the SNR actor-critic share.

Sources: Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications" (actor loss
eq. 7, temperature loss eq. 18), in the variant of the MSG research code (Ghasemipour et
al., NeurIPS 2022; ``jrl/agents/cql`` and ``jrl/agents/snr``) written down in the project's
``specs/offline_rl.md``:

- actor: relu MLP -> tanh-squashed Gaussian, ``scale = softplus + 1e-3``, VarianceScaling(1,
  fan_avg, truncated normal) weights, zero biases; evaluation action ``tanh(mean)``;
- ``C`` critics; TD target ``y = r + (1 - terminal) gamma min_i Q_tgt_i(s', a')``,
  ``a' ~ pi(s')``, with NO entropy term (the seed's default; ``backup_entropy=True`` adds
  ``- alpha log pi(a'|s')``, the soft target of online SAC, Haarnoja et al. 2018 eq. 3/5);
  ``Q_tgt`` is a Polyak copy (rate ``polyak_tau``) or, with ``polyak_tau=None``, the online
  critic before the step;
- behaviour cloning for the first ``num_bc_iters`` SGD steps (actor loss ``-log pi(a|s)``),
  then ``alpha log pi(a|s) - min_i Q_i(s, a)``, ``a ~ pi(s)`` reparameterised;
- temperature ``alpha = exp(log_alpha)``, ``log_alpha`` initialised to ``log(init_alpha)``
  (default 1.0: ``log_alpha = 0``), loss ``alpha * sg(-mean log pi - target_entropy)``,
  updated only after the BC phase and only with ``learnable_temperature`` (else ``alpha``
  stays ``init_alpha``); all gradients come from the state before the step.

The online SAC of ``purerl.algos.sac_online`` is this same learner with ``backup_entropy``
on, no BC phase, and ``discount`` traced (a hyperparameter NamedTuple with a ``discount``
field is read instead of the static ``cfg.discount``).

Words used with one meaning each: an *SGD step* updates critic, actor and temperature once
on ``sgd_batch_size`` transitions; a *call* is ``sgd_steps_per_call`` SGD steps as one
``lax.scan`` over a ``[K, B]`` sample drawn on device (the seed's "step"); ``run_sweep``
counts calls as its updates. An algorithm adds its own losses as *terms*
(``critic_terms`` / ``actor_terms`` of ``make_learner``) and its traced hyperparameters as
a NamedTuple with at least the fields of ``SACHyperparams``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from envs_jax.offline.dataset import OfflineDataset, sample_steps
from purerl.common.distributions import tanh_gaussian
from purerl.common.polyak import polyak
from purerl.config import require, require_positive, require_unit_interval

MIN_SCALE = 1e-3
"""Floor of the actor's Gaussian scale (acme's NormalTanhDistribution: softplus + 1e-3)."""
ACTION_CLIP = 1.0 - 1e-6
"""Dataset actions are clipped into ``(-1, 1)`` before ``atanh`` in the BC log-likelihood
(an action exactly at the bound would have log-prob -inf; acme clips too)."""
sg = jax.lax.stop_gradient


def _variance_scaling():
    return nn.initializers.variance_scaling(1.0, "fan_avg", "truncated_normal")


class TanhGaussianActor(nn.Module):
    """``pi(a|s)``: relu MLP -> ``(loc, scale)`` of a Gaussian that ``tanh`` squashes.

    ``apply(params, obs [..., obs_dim]) -> (loc [..., A], scale [..., A])`` float32; the
    distribution is ``purerl.common.distributions.tanh_gaussian(loc, scale)``.
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


class MLPCritic(nn.Module):
    """``Q(s, a)``: relu MLP on ``concat(obs, action)``; ``obs [..., obs_dim]``,
    ``action [..., A]`` -> ``Q [...]`` float32. The output layer is named ``head``."""

    hidden_sizes: Sequence[int] = (256, 256, 256)

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, action], axis=-1)
        for i, width in enumerate(self.hidden_sizes):
            x = nn.relu(nn.Dense(width, kernel_init=_variance_scaling(), name=f"hidden_{i}")(x))
        return nn.Dense(1, kernel_init=_variance_scaling(), name="head")(x)[..., 0]


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Options every offline SAC agent has (defaults: the seed's CQL). Checked on creation.

    Attributes:
        policy_lr, q_lr, alpha_lr: Adam step sizes of actor, critics, temperature (traced).
        discount: gamma (traced instead when the hyperparams type has a discount field).
        num_bc_iters: SGD steps of behaviour cloning before the actor maximises Q.
        actor_hidden_sizes, critic_hidden_sizes: MLP widths.
        num_critics: C, critics of the ensemble (min over them in targets and actor loss).
        polyak_tau: rate of the Polyak target critics (traced); None: no target network.
        target_entropy: of the temperature loss; None: -A.
        sgd_steps_per_call: K, SGD steps per call.
        sgd_batch_size: B, transitions per SGD step (a call samples K x B).
        eval_with_q_filter: also evaluate the two Q-filter policies (sac_eval).
        num_eval_samples: candidate actions per state of the Q-filter.
        backup_entropy: subtract alpha log pi(a'|s') in the TD target (online SAC,
            Haarnoja et al. 2018 eq. 3/5); False (the seed's offline SAC): no entropy term.
        init_alpha: initial temperature alpha (> 0; rl_games' init_alpha).
        learnable_temperature: learn alpha by its loss (eq. 18); False: keep
            init_alpha for the whole run (rl_games' learnable_temperature).
    """

    policy_lr: float = 3e-5
    q_lr: float = 3e-4
    alpha_lr: float = 3e-4
    discount: float = 0.99
    num_bc_iters: int = 50_000
    actor_hidden_sizes: tuple[int, ...] = (256, 256)
    critic_hidden_sizes: tuple[int, ...] = (256, 256, 256)
    num_critics: int = 2
    polyak_tau: float | None = 0.005
    target_entropy: float | None = None
    sgd_steps_per_call: int = 1
    sgd_batch_size: int = 256
    eval_with_q_filter: bool = False
    num_eval_samples: int = 10
    backup_entropy: bool = False
    init_alpha: float = 1.0
    learnable_temperature: bool = True

    def __post_init__(self):
        ints = ("num_critics", "sgd_steps_per_call", "sgd_batch_size", "num_eval_samples")
        for name in ("policy_lr", "q_lr", "alpha_lr", "init_alpha", *ints):
            require_positive(name, getattr(self, name))
        for name in (*ints, "num_bc_iters"):
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
        if self.polyak_tau is not None:
            require(0.0 < self.polyak_tau <= 1.0, "polyak_tau", "a number in (0, 1] (or None)",
                    self.polyak_tau)

    @property
    def td_loss_scale(self) -> float:
        """Factor of ``mean_{i,b}(Q_i - y)^2``: C (the seed's CQL sums over critics)."""
        return float(self.num_critics)

    @property
    def transitions_per_call(self) -> int:
        """K x B, sampled once per call (the seed's ``batch_size``)."""
        return self.sgd_steps_per_call * self.sgd_batch_size


class StepSize(NamedTuple):
    """Optimiser state of ``adam``'s step size: ``learning_rate`` ``[]`` float32."""

    learning_rate: jax.Array


def adam(learning_rate: float) -> optax.GradientTransformation:
    """``optax.adam(learning_rate)`` with the step size kept in its state (``StepSize``),
    so that it can be traced and swept. Bitwise equal to ``optax.adam`` (measured;
    ``optax.inject_hyperparams(optax.adam)`` differs by ~5e-7 after a few steps)."""

    def init(params):
        return StepSize(jnp.float32(learning_rate))

    def update(updates, state, params=None):
        return jax.tree.map(lambda u: -state.learning_rate * u, updates), state

    return optax.chain(optax.scale_by_adam(), optax.GradientTransformation(init, update))


class SACHyperparams(NamedTuple):
    """Traced hyperparameters (float32 ``[]``, ``[G*S]`` under ``vmap``); see ``SACConfig``.
    ``polyak_tau`` is unused without a target network."""

    policy_lr: jax.Array
    q_lr: jax.Array
    alpha_lr: jax.Array
    polyak_tau: jax.Array


def hyperparams_from(cfg: Any, cls: type) -> Any:
    """``cls`` (a NamedTuple of traced hyperparameters) filled from ``cfg``, float32; an
    option that is None (``polyak_tau`` without targets) becomes NaN, so a use would show."""
    return cls(*(jnp.float32(jnp.nan if getattr(cfg, f) is None else getattr(cfg, f))
                 for f in cls._fields))


class SACState(NamedTuple):
    """Everything that changes in training (one run; ``[G*S]`` in front under ``vmap``).

    Attributes:
        actor, critic, alpha: ``TrainState``s (critic leaves ``[C, ...]``; alpha's params
            ``{"log_alpha": []}``, init ``log(init_alpha)``, 0 by default); learning rates
            live in their optimiser state.
        target_critic_params: Polyak target ``[C, ...]``, or None without one.
        extra_state: an algorithm's own state (e.g. SNR matrices ``[C, ...]``), or ``()``.
        sgd_steps: ``[]`` int32, SGD steps done. key: PRNG key. hparams: traced values.
    """

    actor: TrainState
    critic: TrainState
    target_critic_params: Any
    alpha: TrainState
    extra_state: Any
    sgd_steps: jax.Array
    key: jax.Array
    hparams: Any


class StepContext(NamedTuple):
    """What a loss term reads, all from before the SGD step.

    Attributes:
        state: the ``SACState``. batch: ``OfflineDataset`` ``[B]``.
        next_action: ``[B, A]`` the TD target's ``a' ~ pi(s')`` (no gradient).
        in_bc: ``[]`` bool, the BC phase.
        keys: 4 PRNG keys for terms (CQL uses 0 and 1, the SNR term 2 and 3).
        actor: the actor module. critic_apply: ``(params [C, ...], obs, action) -> Q [C, ...]``.
        q_data: ``[C, B]`` Q of the dataset actions under the critics being differentiated
            (critic terms only; None for actor terms).
    """

    state: SACState
    batch: OfflineDataset
    next_action: jax.Array
    in_bc: jax.Array
    keys: tuple
    actor: TanhGaussianActor
    critic_apply: Callable
    q_data: jax.Array | None = None


Term = Callable[[Any, StepContext], tuple[jax.Array, dict, Any]]
"""``term(params, ctx) -> (weighted loss [], metrics, new extra_state or None)``: added to
the critic loss (params: the critics') or the actor loss (the actor's)."""


def td_target(rewards: jax.Array, terminals: jax.Array, discount: float | jax.Array,
              q_next: jax.Array, alpha: jax.Array | None = None,
              next_log_prob: jax.Array | None = None) -> jax.Array:
    """The (soft) TD target ``y [B]`` float32 of the critics.

    ``y = r + gamma (1 - terminal) min_i Q'_i(s', a')`` (the offline seed's), or with
    ``alpha`` and ``next_log_prob`` the soft target of online SAC, ``y = r + gamma (1 -
    terminal) (min_i Q'_i(s', a') - alpha log pi(a'|s'))`` (Haarnoja et al. 2018, eq. 3 with
    the soft value of eq. 5; rl_games' ``target_V``). A terminal ``s'`` does not bootstrap;
    a time-limit truncation is not terminal (its ``s'`` is the true next state).

    Args:
        rewards: ``[B]`` r. terminals: ``[B]`` bool, ``s'`` terminal.
        discount: gamma (a number or a traced ``[]``).
        q_next: ``[B]`` ``min_i Q'_i(s', a')``, ``a' ~ pi(s')``.
        alpha: ``[]`` temperature, or None: no entropy term.
        next_log_prob: ``[B]`` ``log pi(a'|s')`` (with ``alpha``).
    """
    v_next = q_next if alpha is None else q_next - alpha * next_log_prob
    return rewards + (1.0 - terminals.astype(jnp.float32)) * discount * v_next


class Learner(NamedTuple):
    """Pure functions of one configured agent (nothing compiled).

    Attributes:
        init: ``(key, run_idx=0, hparams=None) -> SACState``.
        sgd_step: ``(state, batch [B]) -> (state, metrics of [] floats)``.
        update_on_batches: ``(state, batches [K, B]) -> (state, metrics [K])``.
        train_call: ``(state, dataset) -> (state, metrics [])``: sample ``[K, B]``, K SGD
            steps, metrics averaged over them.
        actor: the actor module. critic_apply: ``(params [C, ...], obs, action) -> Q [C, ...]``;
        critic_apply_one: one critic's ``apply``.
    """

    init: Callable
    sgd_step: Callable
    update_on_batches: Callable
    train_call: Callable
    actor: TanhGaussianActor
    critic_apply: Callable
    critic_apply_one: Callable


def make_learner(cfg: SACConfig, critic: nn.Module, obs_dim: int, action_dim: int, *,
                 hyperparams: type = SACHyperparams, critic_terms: Sequence[Term] = (),
                 actor_terms: Sequence[Term] = (),
                 init_extra_state: Callable[[jax.Array, Any], Any] | None = None) -> Learner:
    """Build the pure init / SGD-step functions of an offline SAC agent.

    Args:
        cfg: the options (``td_loss_scale`` scales the TD loss).
        critic: one critic, ``apply(params, obs, action) -> Q``; C copies are vmapped.
        obs_dim, action_dim: data dimensions (actions in ``[-1, 1]^A``).
        hyperparams: NamedTuple type of the traced values (``SACHyperparams`` fields first).
        critic_terms, actor_terms: extra losses, added in order (``Term``).
        init_extra_state: ``(key, critic_params [C, ...]) -> extra_state`` (default ``()``).

    Raises:
        ValueError: a non-positive dimension.
    """
    require_positive("obs_dim", obs_dim)
    require_positive("action_dim", action_dim)
    actor = TanhGaussianActor(action_dim, cfg.actor_hidden_sizes)
    critic_apply = jax.vmap(critic.apply, in_axes=(0, None, None))
    target_entropy = -float(action_dim) if cfg.target_entropy is None else cfg.target_entropy
    log_alpha_init = math.log(cfg.init_alpha)        # 0.0 exactly for the default 1.0
    # Built once: a TrainState's optimiser is static metadata, so every init must share
    # these objects; the (traced) step sizes live in the optimiser states.
    actor_tx, critic_tx, alpha_tx = (adam(cfg.policy_lr), adam(cfg.q_lr), adam(cfg.alpha_lr))

    def train_state(apply_fn, params, tx, lr):
        ts = TrainState.create(apply_fn=apply_fn, params=params, tx=tx)
        return ts.replace(opt_state=(ts.opt_state[0], StepSize(lr)))

    def init(key: jax.Array, run_idx: jax.Array | int = 0, hparams: Any = None) -> SACState:
        hp = hyperparams_from(cfg, hyperparams) if hparams is None else hyperparams(
            *(jnp.asarray(v, jnp.float32) for v in hparams))
        key_actor, key_critic, key_extra, key_run = jax.random.split(key, 4)
        obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, action_dim))
        critic_params = jax.vmap(lambda k: critic.init(k, obs, act))(
            jax.random.split(key_critic, cfg.num_critics))
        return SACState(
            actor=train_state(actor.apply, actor.init(key_actor, obs), actor_tx, hp.policy_lr),
            critic=train_state(critic.apply, critic_params, critic_tx, hp.q_lr),
            target_critic_params=critic_params if cfg.polyak_tau is not None else None,
            alpha=train_state(None, {"log_alpha": jnp.full((), log_alpha_init, jnp.float32)},
                              alpha_tx, hp.alpha_lr),
            extra_state=(init_extra_state(key_extra, critic_params) if init_extra_state
                         else ()),
            sgd_steps=jnp.zeros((), jnp.int32), key=key_run, hparams=hp)

    def add_terms(terms, params, ctx, loss, aux):
        new_extra = None
        for term in terms:
            value, metrics, extra = term(params, ctx)
            loss = loss + value
            aux.update(metrics)
            new_extra = extra if extra is not None else new_extra
        return loss, new_extra

    def sgd_step(state: SACState, batch: OfflineDataset) -> tuple[SACState, dict]:
        # An 8-way split: slots 2, 3, 5, 6 are the terms' (slot 7 is spare).
        keys = jax.random.split(state.key, 8)
        key_run, key_next, key_actor = keys[0], keys[1], keys[4]
        in_bc = state.sgd_steps < cfg.num_bc_iters
        alpha = jnp.exp(state.alpha.params["log_alpha"])
        obs, act = batch.observations, batch.actions

        next_dist = tanh_gaussian(*actor.apply(state.actor.params, batch.next_observations))
        if cfg.backup_entropy:
            next_action, next_log_prob = next_dist.sample_and_log_prob(seed=key_next)
        else:
            next_action = next_dist.sample(seed=key_next)
        target_params = (state.target_critic_params if cfg.polyak_tau is not None
                         else state.critic.params)
        q_next = jnp.min(critic_apply(target_params, batch.next_observations, next_action), 0)
        discount = (state.hparams.discount if "discount" in type(state.hparams)._fields
                    else cfg.discount)
        y = sg(td_target(batch.rewards, batch.terminals, discount, q_next,
                         alpha if cfg.backup_entropy else None,
                         next_log_prob if cfg.backup_entropy else None))
        ctx = StepContext(state, batch, sg(next_action), in_bc,
                          (keys[2], keys[3], keys[5], keys[6]), actor, critic_apply)

        def critic_loss_fn(critic_params):
            q_data = critic_apply(critic_params, obs, act)                  # [C, B]
            td = cfg.td_loss_scale * jnp.mean((q_data - y[None]) ** 2)
            aux = {"critic_loss": td, "q/avg": jnp.mean(q_data), "q/std": jnp.std(q_data),
                   "q/max": jnp.max(q_data), "q/min": jnp.min(q_data)}
            loss, new_extra = add_terms(critic_terms, critic_params,
                                        ctx._replace(q_data=q_data), td, aux)
            aux["total_critic_loss"] = loss
            return loss, (aux, new_extra)

        critic_params_sg = sg(state.critic.params)

        def actor_loss_fn(actor_params):
            dist = tanh_gaussian(*actor.apply(actor_params, obs))
            bc_loss = -jnp.mean(dist.log_prob(jnp.clip(act, -ACTION_CLIP, ACTION_CLIP)))
            pi_action, log_prob = dist.sample_and_log_prob(seed=key_actor)
            q_pi = jnp.min(critic_apply(critic_params_sg, obs, pi_action), 0)
            rl_loss = jnp.mean(sg(alpha) * log_prob - q_pi)
            aux = {"bc_loss": bc_loss, "rl_actor_loss": rl_loss}
            loss, new_extra = add_terms(actor_terms, actor_params, ctx,
                                        jnp.where(in_bc, bc_loss, rl_loss), aux)
            return loss, (aux, sg(log_prob), new_extra)

        (_, (critic_aux, extra_c)), critic_grads = jax.value_and_grad(
            critic_loss_fn, has_aux=True)(state.critic.params)
        (actor_loss, (actor_aux, log_prob, extra_a)), actor_grads = jax.value_and_grad(
            actor_loss_fn, has_aux=True)(state.actor.params)
        entropy = -jnp.mean(log_prob)

        def alpha_loss_fn(alpha_params):
            return jnp.exp(alpha_params["log_alpha"]) * sg(entropy - target_entropy)

        alpha_loss, alpha_grad = jax.value_and_grad(alpha_loss_fn)(state.alpha.params)
        if cfg.learnable_temperature:
            new_alpha = jax.tree.map(lambda a, b: jnp.where(in_bc, a, b), state.alpha,
                                     state.alpha.apply_gradients(grads=alpha_grad))
        else:
            new_alpha = state.alpha
        new_critic = state.critic.apply_gradients(grads=critic_grads)
        new_target = (polyak(state.target_critic_params, new_critic.params,
                             state.hparams.polyak_tau) if cfg.polyak_tau is not None else None)
        extra = next((e for e in (extra_a, extra_c) if e is not None), state.extra_state)
        metrics = {"actor_loss": actor_loss, "alpha": alpha, "alpha_loss": alpha_loss,
                   "avg_log_prob": jnp.mean(log_prob), "in_bc": in_bc.astype(jnp.float32),
                   **critic_aux, **actor_aux}
        return state._replace(actor=state.actor.apply_gradients(grads=actor_grads),
                              critic=new_critic, target_critic_params=new_target,
                              alpha=new_alpha, extra_state=extra,
                              sgd_steps=state.sgd_steps + 1, key=key_run), metrics

    def update_on_batches(state: SACState, batches: OfflineDataset):
        return jax.lax.scan(sgd_step, state, batches)

    def train_call(state: SACState, dataset: OfflineDataset):
        key_sample, key_run = jax.random.split(state.key)
        batches = sample_steps(key_sample, dataset, cfg.sgd_steps_per_call,
                               cfg.transitions_per_call)
        state, metrics = update_on_batches(state._replace(key=key_run), batches)
        return state, jax.tree.map(jnp.mean, metrics)

    return Learner(init, sgd_step, update_on_batches, train_call, actor, critic_apply,
                   critic.apply)
