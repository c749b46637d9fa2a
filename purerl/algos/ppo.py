"""PPO, feed-forward or recurrent, discrete or continuous actions, compiled end to end.

Source: Schulman et al. 2017, "Proximal Policy Optimization Algorithms" (clipped surrogate,
eq. 7; value + entropy terms, eq. 9), with the implementation details of Huang et al. 2022,
"The 37 Implementation Details of PPO" (advantage normalisation per minibatch, clipped
value loss, global-norm gradient clipping, linear annealing, flat minibatches for
feed-forward policies, whole-sequence minibatches for recurrent ones).

The whole of training (rollouts, GAE, epochs x minibatches) is ``jax.lax.scan``s inside
one traced function::

    parts = make_train_parts(cfg, env, env_params, net)
    state = parts.init(key)                        # RunnerState
    state, metrics = parts.run_updates(state, n)   # n PPO updates, metrics [n]

``make_train(...)`` wraps both into ``train(key) -> TrainOutput`` so a seed sweep is
``jax.jit(jax.vmap(train))(keys)``. Recurrent nets keep their state across rollouts; it
is reset wherever the previous step ended an episode (for RL^2: a trial).

The action distribution follows the env's action space
(``purerl.common.distributions.for_action_space``): ``Discrete`` gives a categorical over the
net's logits, ``Box((A,))`` a diagonal Gaussian over the net's ``(mean, log_std)`` (e.g.
``networks.GaussianActorCritic``). The sampled action goes to the env exactly as sampled,
and its log-probability is that of the unclipped sample: PPO clips nothing. Bounds are the
env's business (gymnax Pendulum clips the torque to +-2 inside ``step``; the AMP humanoid
clips to [-1, 1] before its PD targets).

Hyperparameters come in two kinds (as in rejax): those that fix shapes or control flow
(``num_envs``, ``num_steps``, ``clip_value`` ...) are static fields of ``PPOConfig``; the
float ones (``PPOHyperparams``: learning rate, gamma, gae_lambda, clip_eps, coefficients)
are *traced*: ``init(key, seed_idx, hparams)`` stores them in the ``RunnerState``, so
``jax.vmap`` runs a grid of them x seeds in one compiled call (``purerl.common.sweep``).

Seams, so that an algorithm built on PPO (AMP, NEAR) adds its pieces without copying the
loop; each is a keyword argument of ``make_train_parts`` (and ``make_train``). One update
runs, in this order:

1. rollout of ``num_steps`` steps (``Transition [T, N]``, raw observations);
2. ``aux_update(runner_state, traj) -> aux_state``: the algorithm's own state (e.g. a
   discriminator's replay buffer), kept in ``RunnerState.aux`` and created by
   ``aux_init(key) -> aux_state``; it runs once per update;
3. ``reward_fn(runner_state, traj) -> reward [T, N]``: the reward GAE sees (return
   ``traj.reward + term`` to add a term; it sees the updated ``aux``); logged episode
   returns stay the env's;
4. GAE, then ``update_epochs`` x ``num_minibatches`` gradient steps of
   ``ppo_loss + extra_loss(params, minibatch, aux_state)`` with the one optimiser.
   ``extra_loss`` returns ``(loss, metrics)``; its metrics are logged as ``extra/<name>``.
   Its ``Minibatch`` carries the minibatch's position in the epoch (``index``), so data
   drawn once per update into the aux state (AMP's demo and replay pairs) can be cut into
   the same number of slices, one per minibatch. Extra trainable parameters (a
   discriminator) belong in the net's own parameter tree (a module that holds the
   actor-critic and the discriminator), so the optimiser and the global-norm clip see
   them; ``extra_loss`` reaches them with ``net.apply(params, ..., method=...)``;
5. the observation statistics (``normalize_obs``) take in the rollout's observations.

Every ``eval_every`` updates an evaluation block runs the deterministic policy; its
metrics are the default episodes' ``eval/return`` / ``eval/length``, or those of
``evaluate_fn(runner_state, policy, key)`` (imitation's pose error and SPARC).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import distrax
import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from envs_jax.core import Environment
from envs_jax.policy import episode_limit, evaluate_episodes
from purerl.common import distributions
from purerl.common import running_stats as rs
from purerl.common.evaluate import network_policy
from purerl.common.minibatch import flat_minibatches, sequence_permutation
from purerl.common.returns import gae
from purerl.config import require, require_positive, require_unit_interval


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters of the PPO loop, in the field's standard names.

    Algorithm front-ends (e.g. ``purerl.algos.rl2.Config``) translate their users' flag
    names into this. Shapes: N = ``num_envs``, T = ``num_steps``.
    """

    num_envs: int = 256
    """Parallel environments N (for meta-RL: tasks sampled per rollout)."""
    num_steps: int = 10
    """Rollout length T per environment per update; batch = N * T env steps."""
    num_updates: int = 1000
    """Number of PPO updates (rollout + optimisation) in the whole run."""
    num_minibatches: int = 4
    """Minibatches per epoch (see 'minibatch')."""
    minibatch: Literal["auto", "flat", "sequence"] = "auto"
    """How a rollout is cut into minibatches. 'flat': all N * T steps shuffled across time
    and envs (needs a feed-forward net); 'sequence': whole env sequences, time intact
    (any net; what a recurrent net needs); 'auto': flat for nets whose class says
    'recurrent = False' ('purerl.common.networks'), sequence otherwise.
    'num_minibatches' must divide 'num_envs' unless this is 'flat' (then N * T)."""
    update_epochs: int = 4
    """Passes over each rollout batch."""
    learning_rate: float = 3e-4
    """Adam step size (the initial one under 'linear' and 'adaptive')."""
    lr_schedule: Literal["constant", "linear", "adaptive"] = "linear"
    """'constant'; 'linear': decay to 0 over 'num_updates'; 'adaptive' (rl_games): after
    each minibatch or epoch ('adaptive_lr_every') the exact KL(new || old) of the policy
    sets lr / 1.5 (floor 1e-6) when above 2 x 'kl_threshold' and lr x 1.5 (cap 1e-2) when
    below 'kl_threshold' / 2. The rate is training state: it survives checkpoints."""
    kl_threshold: float = 0.008
    """Target KL of the 'adaptive' schedule (rl_games 'kl_threshold')."""
    adaptive_lr_every: Literal["minibatch", "epoch"] = "minibatch"
    """When the 'adaptive' schedule acts: after every minibatch on that minibatch's KL
    (rl_games' default, 'schedule_type: legacy') or after every epoch on the epoch's mean
    KL ('schedule_type: standard')."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_eps: float = 0.2
    """PPO ratio clip epsilon (also the value-clip range)."""
    anneal_clip: bool = False
    """Decay 'clip_eps' linearly to 0 over 'num_updates' (the seed project does)."""
    clip_value: bool = True
    """Use the clipped value loss (PPO2 style). Its range is 'clip_eps' in reward
    units (in normalised units with 'normalize_value'), so with returns in the hundreds
    scale rewards, normalise values or turn this off."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this for GAE and the value targets only (logged returns
    and the agent's reward input stay raw)."""
    vf_coef: float = 0.5
    """Value-loss coefficient (rl_games 'critic_coef': both scale 0.5 * (V - R)^2)."""
    ent_coef: float = 0.01
    """Entropy-bonus coefficient."""
    max_grad_norm: float | None = 0.5
    """Global gradient-norm clip; None: no clipping (rl_games 'truncate_grads: False')."""
    advantage_norm: Literal["minibatch", "batch", "none"] = "minibatch"
    """Normalise advantages to zero mean, unit std per minibatch (CleanRL), over the whole
    rollout batch before it is cut (rl_games 'normalize_advantage'), or not at all."""
    bounds_loss_coef: float = 0.0
    """Weight of rl_games' bounds loss on a Gaussian policy's mean mu:
    mean over states of sum_a [relu(mu - 1.1)^2 + relu(-1.1 - mu)^2] (0: off)."""
    bootstrap_timeouts: bool = True
    """Bootstrap truncated episodes from V(final_obs) of the true next state (rl_games
    'value_bootstrap'; rl_games adds gamma * V(s_t) to the reward instead, its issue
    #128). False: a time-out is treated as a termination."""
    target_kl: float = 0.0
    """Stop an update's remaining epochs once the epoch's mean approximate KL exceeds
    '1.5 * target_kl' (the seed project's rule). 0 disables."""
    normalize_obs: bool = False
    """Feed the net observations normalised by a running mean and variance
    ('purerl.common.running_stats': 'clip((x - mean) / sqrt(var + 1e-5), +-5)'), kept in
    'RunnerState.obs_stats'. One update's rollout and epochs see the same statistics (so
    the PPO ratio starts at 1); then the rollout's observations are merged in. Stored
    transitions and 'extra_loss' minibatches hold raw observations."""
    normalize_value: bool = False
    """The critic predicts normalised returns (rl_games' 'normalize_value'): the rollout
    denormalises its output for GAE, and before the epochs the statistics in
    'RunnerState.value_stats' take in that update's value targets, which the value loss
    then compares, normalised (no clipping), with the critic's output."""
    log_every: int = 0
    """Print a progress line every this many updates through 'jax.debug.callback'
    (0 compiles no callback)."""
    eval_every: int = 0
    """Every this many updates, play 'eval_episodes' episodes with the deterministic
    action (the distribution's mode: the Gaussian mean, the arg-max logit) inside the
    compiled loop, logged as 'eval/return' and 'eval/length' (NaN at other updates).
    Needs 'eval_env'; a 'run_updates' call must be a multiple of it. 0: no evaluation."""
    eval_episodes: int = 10
    """Episodes per evaluation (vmapped)."""
    eval_max_steps: int | None = None
    """Step cap of an evaluation episode (the scan length); None: the env's episode
    length or time limit ('envs_jax.policy.episode_limit')."""

    def __post_init__(self):
        for name in ("num_envs", "num_steps", "num_updates", "num_minibatches",
                     "update_epochs", "learning_rate", "kl_threshold"):
            require_positive(name, getattr(self, name))
        if self.max_grad_norm is not None:
            require_positive("max_grad_norm", self.max_grad_norm)
        for name, choices in (("lr_schedule", ("constant", "linear", "adaptive")),
                              ("adaptive_lr_every", ("minibatch", "epoch")),
                              ("advantage_norm", ("minibatch", "batch", "none"))):
            require(getattr(self, name) in choices, name, " or ".join(map(repr, choices)),
                    getattr(self, name))
        require(self.minibatch in ("auto", "flat", "sequence"), "minibatch",
                "'auto', 'flat' or 'sequence'", self.minibatch)
        if self.minibatch == "flat":
            batch = self.num_envs * self.num_steps
            require(batch % self.num_minibatches == 0, "num_minibatches",
                    f"a divisor of num_envs * num_steps = {batch} (flat minibatches)",
                    self.num_minibatches)
        else:
            require(self.num_envs % self.num_minibatches == 0, "num_minibatches",
                    f"a divisor of num_envs={self.num_envs} (minibatches are whole "
                    "sequences unless minibatch='flat')", self.num_minibatches)
        require_unit_interval("gamma", self.gamma)
        require_unit_interval("gae_lambda", self.gae_lambda)
        require(0.0 < self.clip_eps < 1.0, "clip_eps", "a number in (0, 1)", self.clip_eps)
        require_positive("eval_episodes", self.eval_episodes)
        if self.eval_max_steps is not None:
            require_positive("eval_max_steps", self.eval_max_steps)
        for name in ("vf_coef", "ent_coef", "target_kl", "log_every", "bounds_loss_coef",
                     "eval_every"):
            require(getattr(self, name) >= 0, name, "a non-negative number",
                    getattr(self, name))
        require_positive("reward_scale", self.reward_scale)


class PPOHyperparams(NamedTuple):
    """The traced (float, shape-free) hyperparameters: each a float32 scalar, or ``[B]``
    under ``jax.vmap``. Field meanings are those of ``PPOConfig``."""

    learning_rate: jax.Array
    gamma: jax.Array
    gae_lambda: jax.Array
    clip_eps: jax.Array
    vf_coef: jax.Array
    ent_coef: jax.Array
    max_grad_norm: jax.Array
    reward_scale: jax.Array
    target_kl: jax.Array
    kl_threshold: jax.Array
    bounds_loss_coef: jax.Array


SWEEPABLE: tuple[str, ...] = PPOHyperparams._fields
"""Names a hyperparameter sweep may vary without recompiling."""


def hyperparams_from(cfg: PPOConfig) -> PPOHyperparams:
    """``cfg``'s traced hyperparameters as float32 scalars (``max_grad_norm=None``: inf,
    which ``optax.clip_by_global_norm`` passes through unchanged)."""
    value = lambda f: jnp.inf if getattr(cfg, f) is None else getattr(cfg, f)  # noqa: E731
    return PPOHyperparams(*(jnp.float32(value(f)) for f in SWEEPABLE))


class Transition(NamedTuple):
    """One rollout step, stacked to ``[T, N, ...]`` by the scan."""

    obs: jax.Array          # [T, N, *obs_shape] input at t (raw: not normalised)
    reset: jax.Array        # [T, N] bool, recurrent state zeroed before obs[t]
    action: jax.Array       # [T, N] int32 (Discrete) or [T, N, A] float32 (Box), as sampled
    log_prob: jax.Array     # [T, N] log pi(a_t | history) at collection time
    value: jax.Array        # [T, N] V(s_t), in return units
    next_value: jax.Array   # [T, N] V(s_{t+1}) of info["final_obs"] (bootstrap)
    reward: jax.Array       # [T, N] the env's reward
    terminated: jax.Array   # [T, N] bool
    done: jax.Array         # [T, N] bool, terminated | truncated
    info: dict              # episode statistics from RecordEpisodeStats
    next_obs: Any = None    # [T, N, *obs_shape] s_{t+1}: info["final_obs"] (raw)
    policy_out: Any = None  # [T, N, ...] the policy's output at collection time, kept for
    #                         the exact KL of lr_schedule='adaptive' (else None)


class Minibatch(NamedTuple):
    """What ``extra_loss`` gets: one minibatch of the epoch loop.

    Leaves are ``[B, ...]`` with flat minibatches, ``[T, B_env, ...]`` with sequence ones.
    """

    transition: Transition  # info empty; obs / next_obs raw
    advantages: jax.Array   # GAE advantages (batch-normalised with advantage_norm='batch')
    targets: jax.Array      # value targets, in return units
    hidden: Any             # None (flat) or the recurrent state before obs[0], [B_env, ...]
    key: jax.Array          # a PRNG key of this minibatch's own
    index: Any = None       # int32 scalar, this minibatch's position 0..M-1 in its epoch
    #                         (e.g. AMP takes rows [index * B, (index + 1) * B) of data it
    #                         drew for the whole update, as rl_games slices its dataset)


class RunnerState(NamedTuple):
    """Everything that evolves during training: checkpointing this resumes a run."""

    train_state: TrainState
    env_state: Any
    obs: jax.Array          # [N, *obs_shape] next input (raw)
    reset: jax.Array        # [N] bool, previous step ended an episode
    hidden: Any             # [N, H] recurrent state before obs (or a pytree, env axis first)
    key: jax.Array          # PRNG key (raw uint32[2])
    update_idx: jax.Array   # int32 scalar, updates done so far
    seed_idx: jax.Array     # int32 scalar, which run of a sweep (run 0 prints progress)
    hparams: PPOHyperparams  # traced hyperparameters of this run
    obs_stats: Any = None   # RunningStats [*obs_shape] with normalize_obs, else None
    value_stats: Any = None  # RunningStats [] with normalize_value, else None
    aux: Any = None         # the aux_init / aux_update state, else None


class EpochCarry(NamedTuple):
    """Carry of the scan over PPO epochs within one update."""

    train_state: TrainState
    stopped: jax.Array      # bool scalar, target_kl tripped: skip remaining epochs
    key: jax.Array


class TrainOutput(NamedTuple):
    runner_state: RunnerState
    metrics: dict           # each [num_updates] (add [S] in front under vmap)


class TrainParts(NamedTuple):
    """``init(key, seed_idx, hparams=None) -> RunnerState``;
    ``run_updates(state, n) -> (state, metrics [n])``.

    ``n`` is static: compile ``run_updates`` once per segment length and reuse it.
    """

    init: Callable[[jax.Array, jax.Array], RunnerState]
    run_updates: Callable[[RunnerState, int], tuple[RunnerState, dict]]


RewardFn = Callable[[RunnerState, Transition], jax.Array]
"""``reward_fn(runner_state, traj [T, N]) -> reward [T, N]`` float32: the reward GAE sees."""
ExtraLoss = Callable[[Any, Minibatch, Any], tuple[jax.Array, dict]]
"""``extra_loss(params, minibatch, aux_state) -> (loss scalar, metrics dict of scalars)``."""
EvaluateFn = Callable[[RunnerState, Any, jax.Array], dict]
"""``evaluate_fn(runner_state, policy, key) -> metrics dict of scalars`` (``eval/...``): an
evaluation block's metrics; ``policy`` is the deterministic ``envs_jax.policy.Policy``."""


def ppo_loss(params, apply_fn, batch: Transition, hidden0, advantages, targets,
             clip_eps, vf_coef, ent_coef, clip_value: bool = True,
             make_dist: Callable[[Any], distrax.Distribution] = distributions.categorical,
             normalize_advantage: bool = True, bounds_loss_coef: float | jax.Array = 0.0):
    """Clipped-surrogate PPO loss on one minibatch.

    Args:
        params: network parameters.
        apply_fn: ``(params, hidden, obs, reset) -> (hidden, policy_out, value)``.
        batch: ``Transition`` with leaves ``[T, M, ...]`` (whole sequences) or ``[B, ...]``
            (flat, feed-forward nets); ``batch.value`` in the critic's units. With
            ``batch.policy_out`` (the collection-time policy output) the exact
            ``KL(new || old)`` is reported as ``kl``.
        hidden0: ``[M, H]`` recurrent state before ``batch.obs[0]``; ``None`` for flat
            minibatches (the net then gets ``hidden=None`` and ``obs [B, ...]``).
        advantages, targets: ``[T, M]`` (or ``[B]``) from GAE; targets in critic units.
        clip_eps: current clip range (may be annealed); float or traced scalar.
        vf_coef, ent_coef: value and entropy coefficients (float or traced scalar).
        clip_value: use the clipped value loss (static).
        make_dist: ``policy_out -> distribution`` (categorical logits by default; see
            ``purerl.common.distributions``).
        normalize_advantage: standardise ``advantages`` over this minibatch (static).
        bounds_loss_coef: weight of rl_games' bounds loss on a Gaussian mean (``bounds_loss``).

    Returns:
        ``(loss, aux)`` with aux = dict of pg_loss, vf_loss, entropy, approx_kl, clip_frac
        (and bounds_loss for Gaussian policies, kl with ``batch.policy_out``).
        The value term is ``0.5 * max((V - R)^2, (V_clip - R)^2)``: correct sign and a
        single square (the seed project has both wrong); the entropy is the mean over
        every state of the minibatch (the seed takes the last sample's only).
    """
    _, policy_out, value = apply_fn(params, hidden0, batch.obs, batch.reset)
    dist = make_dist(policy_out)
    log_prob = dist.log_prob(batch.action)
    log_ratio = log_prob - batch.log_prob
    ratio = jnp.exp(log_ratio)
    adv = advantages
    if normalize_advantage:
        adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    pg_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()
    vf_err = jnp.square(value - targets)
    if clip_value:
        value_clipped = batch.value + jnp.clip(value - batch.value, -clip_eps, clip_eps)
        vf_err = jnp.maximum(vf_err, jnp.square(value_clipped - targets))
    vf_loss = 0.5 * vf_err.mean()
    entropy = dist.entropy().mean()
    loss = pg_loss + vf_coef * vf_loss - ent_coef * entropy
    aux = {
        "pg_loss": pg_loss,
        "vf_loss": vf_loss,
        "entropy": entropy,
        # k3 estimator of KL(old || new), Schulman 2020 "Approximating KL divergence".
        "approx_kl": ((ratio - 1.0) - log_ratio).mean(),
        "clip_frac": (jnp.abs(ratio - 1.0) > clip_eps).mean(),
    }
    if isinstance(policy_out, tuple):  # a Gaussian's (mean, log_std)
        b_loss = bounds_loss(policy_out[0]).mean()
        loss = loss + bounds_loss_coef * b_loss
        aux["bounds_loss"] = b_loss
    if batch.policy_out is not None:
        # rl_games' kl_dist: KL(current || collection-time), summed over action components,
        # averaged over states; a statistic, so no gradient flows through it.
        old = make_dist(batch.policy_out)
        aux["kl"] = jax.lax.stop_gradient(dist.kl_divergence(old).mean())
    return loss, aux


BOUNDS_SOFT_LIMIT = 1.1
"""rl_games' ``soft_bound`` of ``bound_loss`` (``a2c_continuous.py``)."""


def bounds_loss(mean: jax.Array) -> jax.Array:
    """rl_games' bounds loss of a Gaussian policy's mean: ``[..., A] -> [...]``.

    ``sum_a relu(mu_a - 1.1)^2 + relu(-1.1 - mu_a)^2``: zero while the mean stays in
    [-1.1, 1.1], quadratic outside (source: rl_games ``A2CAgent.bound_loss``).
    """
    high = jnp.square(jnp.maximum(mean - BOUNDS_SOFT_LIMIT, 0.0))
    low = jnp.square(jnp.minimum(mean + BOUNDS_SOFT_LIMIT, 0.0))
    return jnp.sum(high + low, axis=-1)


ADAPTIVE_LR_MIN, ADAPTIVE_LR_MAX, ADAPTIVE_LR_FACTOR = 1e-6, 1e-2, 1.5
"""Floor, cap and factor of rl_games' ``AdaptiveScheduler`` (its defaults)."""


def adaptive_lr(lr: jax.Array, kl: jax.Array, kl_threshold: jax.Array) -> jax.Array:
    """rl_games' adaptive learning-rate rule (``rl_games/common/schedulers.py``).

    ``kl > 2 * kl_threshold``: ``max(lr / 1.5, 1e-6)``; ``kl < kl_threshold / 2``:
    ``min(lr * 1.5, 1e-2)``; otherwise ``lr``. Scalars (float32) in, scalar out.
    """
    lr = jnp.where(kl > 2.0 * kl_threshold, jnp.maximum(lr / ADAPTIVE_LR_FACTOR,
                                                         ADAPTIVE_LR_MIN), lr)
    return jnp.where(kl < 0.5 * kl_threshold, jnp.minimum(lr * ADAPTIVE_LR_FACTOR,
                                                          ADAPTIVE_LR_MAX), lr)


def action_distribution(space) -> Callable[[Any], distrax.Distribution]:
    """``policy_out -> distribution`` for an action space: categorical of ``logits`` for
    ``Discrete``, diagonal Gaussian of ``(mean, log_std)`` for a 1-D float ``Box``.

    Raises:
        ValueError: any other space (see ``distributions.for_action_space``).
    """
    spec = distributions.for_action_space(space)
    if spec.kind == "categorical":
        return spec.make
    return lambda out: spec.make(*out)


def _check_policy_output(net, env, env_params, space) -> None:
    """Trace ``env.reset`` and ``net`` once (nothing runs); check ``policy_out`` against
    ``space``."""
    obs, _ = jax.eval_shape(env.reset, jax.random.PRNGKey(0), env_params)   # [N, ...]
    obs = jax.ShapeDtypeStruct((1, 1, *obs.shape[1:]), obs.dtype)
    reset = jax.ShapeDtypeStruct((1, 1), bool)
    hidden = jax.eval_shape(lambda: net.initial_hidden(1))
    params = jax.eval_shape(net.init, jax.random.PRNGKey(0), hidden, obs, reset)
    _, out, _ = jax.eval_shape(net.apply, params, hidden, obs, reset)
    spec = distributions.for_action_space(space)
    if spec.kind == "categorical":
        ok = isinstance(out, jax.ShapeDtypeStruct) and out.shape[-1] == spec.num_outputs
        expected = f"logits [T, N, {spec.num_outputs}] for {space!r}"
    else:
        ok = (isinstance(out, tuple) and len(out) == 2
              and all(o.shape[-1] == spec.num_outputs for o in out))
        expected = (f"a pair (mean, log_std), each [T, N, {spec.num_outputs}], for a Box "
                    f"action space (e.g. networks.GaussianActorCritic)")
    require(ok, "net", f"a network whose policy output is {expected}",
            f"{type(net).__name__} with policy output {jax.tree.map(lambda o: o.shape, out)}")


def make_train_parts(cfg: PPOConfig, env: Environment, env_params: Any, net, *,
                     reward_fn: RewardFn | None = None,
                     extra_loss: ExtraLoss | None = None,
                     aux_init: Callable[[jax.Array], Any] | None = None,
                     aux_update: Callable[[RunnerState, Transition], Any] | None = None,
                     eval_env: Environment | None = None,
                     evaluate_fn: EvaluateFn | None = None,
                     ) -> TrainParts:
    """Build the traced pieces of PPO for a vectorised env and an actor-critic net.

    Args:
        cfg: PPO hyperparameters.
        env: an env with leading ``[N]`` batch, i.e.
            ``VecEnv(AutoReset(RecordEpisodeStats(base)), cfg.num_envs)`` (auto-resets;
            its ``info`` carries ``final_obs``, ``returned_episode``, ``episode_return``).
            Its action space (``Discrete`` or a 1-D ``Box``) picks the distribution.
        env_params: params for ``env`` (shared by all N envs unless the VecEnv is batched).
        net: a ``purerl.common.networks`` actor-critic with ``initial_hidden(N)``, whose
            policy output matches the action space.
        reward_fn: the reward for GAE (module docstring, step 3); default the env's.
        extra_loss: added to the PPO loss of every minibatch (step 4).
        aux_init: ``aux_init(key) -> aux_state``, the initial ``RunnerState.aux``.
        aux_update: ``aux_update(runner_state, traj) -> aux_state``, once per update
            (step 2); needs ``aux_init``.
        eval_env: the base env (no auto-reset, no batch axis; ``env_params`` apply) that
            ``cfg.eval_every`` evaluates on.
        evaluate_fn: replaces the evaluation's default episodes (``eval/return``,
            ``eval/length`` of ``cfg.eval_episodes`` deterministic episodes) with the
            algorithm's own, e.g. imitation's pose error (``purerl.common.imitation_eval``);
            gets the deterministic ``Policy`` of the current params.

    Returns:
        ``TrainParts(init, run_updates)``; pure functions of their inputs, ready for
        ``jax.jit`` / ``jax.vmap``.

    Raises:
        ValueError: the action space has no distribution here, ``net``'s policy output
            does not fit it, ``minibatch='flat'`` with a recurrent net, the minibatch
            count does not divide the batch, or ``aux_update`` comes without ``aux_init``.
    """
    n_envs, n_steps = cfg.num_envs, cfg.num_steps
    space = env.action_space(env_params)
    make_dist = action_distribution(space)
    _check_policy_output(net, env, env_params, space)
    recurrent = getattr(net, "recurrent", True)  # unknown nets: keep time intact
    flat = cfg.minibatch == "flat" or (cfg.minibatch == "auto" and not recurrent)
    require(not (flat and recurrent), "minibatch",
            f"'sequence' or 'auto' for the recurrent {type(net).__name__}", cfg.minibatch)
    require(aux_update is None or aux_init is not None, "aux_init",
            "a function key -> aux_state when aux_update is given", aux_init)
    require(cfg.eval_every == 0 or eval_env is not None, "eval_env",
            "the base env to evaluate on when eval_every > 0", eval_env)

    def make_tx(learning_rate, max_grad_norm):
        return optax.chain(optax.clip_by_global_norm(max_grad_norm),
                           optax.adam(learning_rate, eps=1e-5))

    # Built once: its functions are static metadata of TrainState, so a TrainState made
    # by another ``init`` call must carry the very same objects to hit the compile cache.
    # inject_hyperparams keeps the learning rate and the clip norm in the optimiser STATE:
    # they can be traced (swept under vmap), annealing is a function of the update
    # counter, and both survive checkpoint/resume.
    tx = optax.inject_hyperparams(make_tx)(
        learning_rate=cfg.learning_rate,
        max_grad_norm=jnp.inf if cfg.max_grad_norm is None else cfg.max_grad_norm)

    def init(key: jax.Array, seed_idx: jax.Array | int = 0,
             hparams: PPOHyperparams | None = None) -> RunnerState:
        hp = hyperparams_from(cfg) if hparams is None else PPOHyperparams(
            *(jnp.asarray(v, jnp.float32) for v in hparams))
        aux = None if aux_init is None else aux_init(jax.random.fold_in(key, 1))
        key, key_net, key_env = jax.random.split(key, 3)
        obs, env_state = env.reset(key_env, env_params)
        hidden = net.initial_hidden(n_envs)
        reset = jnp.ones((n_envs,), bool)
        params = net.init(key_net, hidden, obs[None], reset[None])
        train_state = TrainState.create(apply_fn=net.apply, params=params, tx=tx)
        opt_state = train_state.opt_state
        opt_state = opt_state._replace(hyperparams={
            **opt_state.hyperparams, "learning_rate": hp.learning_rate,
            "max_grad_norm": hp.max_grad_norm})
        train_state = train_state.replace(opt_state=opt_state)
        obs_stats = rs.init(obs.shape[1:]) if cfg.normalize_obs else None
        value_stats = rs.init(()) if cfg.normalize_value else None
        return RunnerState(train_state, env_state, obs, reset, hidden, key,
                           jnp.zeros((), jnp.int32), jnp.asarray(seed_idx, jnp.int32), hp,
                           obs_stats, value_stats, aux)

    def apply(params, obs_stats, hidden, obs, reset):
        """``net.apply`` on normalised observations (when ``normalize_obs``)."""
        if obs_stats is not None:
            obs = rs.normalize(obs_stats, obs)
        return net.apply(params, hidden, obs, reset)

    def to_returns(value_stats, value):
        """Critic output -> return units (denormalised when ``normalize_value``)."""
        return value if value_stats is None else rs.denormalize(value_stats, value, clip=None)

    # V(s_{t+1}) must come from the true next obs (info["final_obs"]) so truncated episodes
    # bootstrap correctly. With an array-valued recurrent state (MLP dummy, GRU) we keep
    # final_obs and the post-step state and evaluate all T x N of them in ONE batched call
    # after the rollout: a second small forward pass inside every env step was ~10% of
    # CartPole's wall-clock. Pytree states (SNAIL's cache) are too big to stack over T, so
    # those nets bootstrap inside the step.
    batched_bootstrap = isinstance(net.initial_hidden(1), jax.Array)
    adaptive = cfg.lr_schedule == "adaptive"

    def env_step(params, r: RunnerState, _):
        key, key_act, key_step = jax.random.split(r.key, 3)
        if recurrent:
            hidden, out, value = apply(params, r.obs_stats, r.hidden, r.obs[None],
                                       r.reset[None])
            out, value = jax.tree.map(lambda x: x[0], (out, value))
        else:  # no time axis, no state
            (_, out, value), hidden = apply(params, r.obs_stats, None, r.obs, None), r.hidden
        value = to_returns(r.value_stats, value)
        dist = make_dist(out)
        action = dist.sample(seed=key_act)
        ts = env.step(key_step, r.env_state, action, params=env_params)
        final_obs = ts.info["final_obs"]
        if batched_bootstrap:  # after the rollout; a recurrent net needs its states
            next_value, extra = jnp.zeros_like(value), (hidden if recurrent else ())
        else:
            next_value = to_returns(r.value_stats,
                                    _values(params, r.obs_stats, hidden, final_obs[None])[0])
            extra = ()
        done = ts.terminated | ts.truncated
        stats = {k: ts.info[k] for k in ("returned_episode", "episode_return", "episode_length")}
        transition = Transition(r.obs, r.reset, action, dist.log_prob(action), value,
                                next_value, ts.reward, ts.terminated, done, stats, final_obs,
                                out if adaptive else None)
        return r._replace(env_state=ts.state, obs=ts.obs, reset=done, hidden=hidden,
                          key=key), (transition, extra)

    def _values(params, obs_stats, hidden, obs):
        """V of ``obs [T', M, ...]`` with the recurrent state ``hidden [M, ...]`` (no reset)."""
        return apply(params, obs_stats, hidden, obs, jnp.zeros(obs.shape[:2], bool))[2]

    def rollout(r: RunnerState) -> tuple[RunnerState, Transition]:
        # The params are a loop constant of the rollout, not part of its scan carry: a
        # carried train state got copied at every env step under vmap (copy insertion),
        # which made vmapped seeds slower per step than one seed.
        params, small = r.train_state.params, r._replace(train_state=None)
        small, (traj, hidden) = jax.lax.scan(functools.partial(env_step, params), small,
                                             length=n_steps)
        r = small._replace(train_state=r.train_state)
        if batched_bootstrap:
            merge = lambda x: x.reshape(n_steps * n_envs, *x.shape[2:])  # noqa: E731
            final_obs = merge(traj.next_obs)                          # [T * N, ...]
            if recurrent:
                values = _values(params, r.obs_stats, merge(hidden), final_obs[None])
            else:
                values = apply(params, r.obs_stats, None, final_obs, None)[2]
            values = to_returns(r.value_stats, values)
            traj = traj._replace(next_value=values.reshape(n_steps, n_envs))
        return r, traj

    def update_step(r: RunnerState, _) -> tuple[RunnerState, dict]:
        hp = r.hparams
        frac = 1.0 - r.update_idx.astype(jnp.float32) / cfg.num_updates
        train_state = r.train_state
        if cfg.lr_schedule == "linear":
            train_state = _with_lr(train_state, hp.learning_rate * frac)
        clip_eps = hp.clip_eps * frac if cfg.anneal_clip else hp.clip_eps

        hidden0 = r.hidden
        r, traj = rollout(r)
        if aux_update is not None:
            r = r._replace(aux=aux_update(r, traj))
        reward = traj.reward if reward_fn is None else reward_fn(r, traj)
        # bootstrap_timeouts=False ends the TD error at time-outs too (no bootstrap).
        terminated = traj.terminated if cfg.bootstrap_timeouts else traj.done
        adv, targets = gae(reward * hp.reward_scale, traj.value, traj.next_value,
                           terminated, traj.done, hp.gamma, hp.gae_lambda)
        old_value, loss_targets = traj.value, targets
        if cfg.normalize_value:
            r = r._replace(value_stats=rs.update(r.value_stats, targets))
            old_value = rs.normalize(r.value_stats, traj.value, clip=None)
            loss_targets = rs.normalize(r.value_stats, targets, clip=None)
        if extra_loss is None:  # only what ppo_loss reads is cut into minibatches
            batch = Transition(traj.obs, traj.reset, traj.action, traj.log_prob, old_value,
                               None, None, None, None, {}, None, traj.policy_out)
        else:
            batch = traj._replace(value=old_value, info={})
        obs_stats, aux_state = r.obs_stats, r.aux
        # GAE targets stay unnormalised; the advantages the surrogate sees may be.
        loss_adv = adv
        if cfg.advantage_norm == "batch":
            loss_adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        loss_apply = functools.partial(apply, obs_stats=obs_stats)

        def loss_fn(params, mb: Minibatch, mb_targets):
            loss, aux = ppo_loss(params, lambda p, h, o, rst: loss_apply(p, hidden=h, obs=o,
                                                                         reset=rst),
                                 mb.transition, mb.hidden, mb.advantages, mb_targets,
                                 clip_eps, hp.vf_coef, hp.ent_coef, cfg.clip_value, make_dist,
                                 cfg.advantage_norm == "minibatch", hp.bounds_loss_coef)
            if extra_loss is not None:
                # extra_loss sees targets in return units, like the rest of the minibatch.
                extra, extra_metrics = extra_loss(params, mb, aux_state)
                loss = loss + extra
                aux = {**aux, **{f"extra/{k}": v for k, v in extra_metrics.items()}}
            return loss, aux

        data = (batch, loss_adv, targets, loss_targets)

        def update_minibatch(ts: TrainState, xs):
            if flat:  # xs: the minibatch itself, [B, ...]
                (mb_batch, mb_adv, mb_ret, mb_tgt), mb_hidden, mb_key, mb_index = xs
            else:     # xs: env indices [N / M]; gathered here, inside the loop
                idx, mb_key, mb_index = xs
                take = lambda x: jnp.take(x, idx, axis=1)  # noqa: E731  (env axis is 1)
                mb_batch, mb_adv, mb_ret, mb_tgt = jax.tree.map(take, data)
                # hidden may be a pytree (e.g. SNAIL's context cache), env axis first.
                mb_hidden = jax.tree.map(lambda h: h[idx], hidden0)
            mb = Minibatch(mb_batch, mb_adv, mb_ret, mb_hidden, mb_key, mb_index)
            grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
            (_, aux), grads = grad_fn(ts.params, mb, mb_tgt)
            ts = ts.apply_gradients(grads=grads)
            if adaptive and cfg.adaptive_lr_every == "minibatch":
                ts = _with_lr(ts, adaptive_lr(_lr(ts), aux["kl"], hp.kl_threshold))
            return ts, aux

        def update_epoch(c: EpochCarry, _) -> tuple[EpochCarry, dict]:
            key, key_perm = jax.random.split(c.key)
            mb_keys = None if extra_loss is None else jax.random.split(
                jax.random.fold_in(key_perm, 1), cfg.num_minibatches)
            mb_index = None if extra_loss is None else jnp.arange(cfg.num_minibatches)
            if flat:  # single steps, shuffled across time and envs
                xs = (flat_minibatches(key_perm, data, cfg.num_minibatches), None, mb_keys,
                      mb_index)
            else:     # whole env sequences: the recurrent state needs time intact
                xs = (sequence_permutation(key_perm, n_envs, cfg.num_minibatches), mb_keys,
                      mb_index)
            new_state, aux = jax.lax.scan(update_minibatch, c.train_state, xs)
            aux = jax.tree.map(jnp.mean, aux)
            if adaptive and cfg.adaptive_lr_every == "epoch":
                new_state = _with_lr(new_state, adaptive_lr(_lr(new_state), aux["kl"],
                                                            hp.kl_threshold))
            # target_kl early stop: once tripped, later epochs leave the state untouched.
            train_state = jax.tree.map(lambda old, new: jnp.where(c.stopped, old, new),
                                       c.train_state, new_state)
            ran = ~c.stopped
            stopped = c.stopped
            # target_kl is traced (sweepable), so the test is always compiled; 0 disables.
            stopped = stopped | ((hp.target_kl > 0) & (aux["approx_kl"] > 1.5 * hp.target_kl))
            aux = jax.tree.map(lambda v: jnp.where(ran, v, 0.0), aux)
            aux["epochs_run"] = ran.astype(jnp.float32)
            return EpochCarry(train_state, stopped, key), aux

        key, key_epochs = jax.random.split(r.key)
        carry, aux = jax.lax.scan(update_epoch, EpochCarry(train_state, jnp.array(False),
                                                           key_epochs),
                                  length=cfg.update_epochs)
        epochs_run = aux["epochs_run"].sum()
        losses = jax.tree.map(lambda v: v.sum() / epochs_run, aux)
        finished = traj.info["returned_episode"]
        metrics = {
            # sums and counts, not means: most updates of long-episode tasks finish none.
            "episode_return_sum": jnp.where(finished, traj.info["episode_return"], 0.0).sum(),
            "episode_count": finished.sum().astype(jnp.float32),
            "env_steps": (r.update_idx + 1).astype(jnp.float32) * n_envs * n_steps,
            # the rate this update started with (adaptive: the one the KL rule left last)
            "learning_rate": _lr(train_state),
            **losses,
            "epochs_run": epochs_run,
        }
        if cfg.normalize_obs:
            r = r._replace(obs_stats=rs.update(r.obs_stats, traj.obs))
        r = r._replace(train_state=carry.train_state, key=key, update_idx=r.update_idx + 1)
        if cfg.log_every > 0:
            jax.debug.callback(_print_progress, r.seed_idx, r.update_idx, metrics,
                               cfg.num_updates, cfg.log_every)
        return r, metrics

    eval_steps = cfg.eval_max_steps or (episode_limit(eval_env, env_params)
                                        if eval_env is not None else 0)

    def evaluate(r: RunnerState) -> dict:
        """Deterministic-action episodes of the current policy: scalar metrics."""
        policy = network_policy(net, r.train_state.params, True, make_dist, r.obs_stats)
        if evaluate_fn is not None:
            return evaluate_fn(r, policy, jax.random.fold_in(r.key, 0x5EED))
        stats = evaluate_episodes(eval_env, env_params, policy,
                                  jax.random.fold_in(r.key, 0x5EED), cfg.eval_episodes,
                                  eval_steps)
        return {"eval/return": stats.returns.mean(),
                "eval/length": stats.lengths.astype(jnp.float32).mean()}

    def run_updates(state: RunnerState, num: int) -> tuple[RunnerState, dict]:
        if cfg.eval_every == 0:
            return jax.lax.scan(update_step, state, length=num)
        require(num % cfg.eval_every == 0, "eval_every",
                f"a divisor of the updates per call ({num})", cfg.eval_every)

        def block(r, _):
            # A scan over blocks, not a lax.cond per update: under vmap a cond on the
            # (batched) update counter would run the evaluation at every update.
            r, metrics = jax.lax.scan(update_step, r, length=cfg.eval_every)
            last = jnp.arange(cfg.eval_every) == cfg.eval_every - 1
            for name, value in evaluate(r).items():
                metrics[name] = jnp.where(last, value, jnp.nan)
            return r, metrics

        state, metrics = jax.lax.scan(block, state, length=num // cfg.eval_every)
        return state, jax.tree.map(lambda x: x.reshape(num, *x.shape[2:]), metrics)

    return TrainParts(init, run_updates)


def _lr(train_state: TrainState) -> jax.Array:
    """The learning rate held in the optimiser state (``optax.inject_hyperparams``)."""
    return train_state.opt_state.hyperparams["learning_rate"]


def _with_lr(train_state: TrainState, lr: jax.Array) -> TrainState:
    opt_state = train_state.opt_state
    hyper = {**opt_state.hyperparams, "learning_rate": jnp.asarray(lr, jnp.float32)}
    return train_state.replace(opt_state=opt_state._replace(hyperparams=hyper))


def make_train(cfg: PPOConfig, env: Environment, env_params: Any, net, **hooks
               ) -> Callable[[jax.Array], TrainOutput]:
    """``train(key) -> TrainOutput``: all ``cfg.num_updates`` updates in one traced call.

    A seed sweep is ``jax.jit(jax.vmap(train))(jax.random.split(key, S), jnp.arange(S))``
    (``seed_idx`` only selects which seed prints progress); metrics are ``[S, num_updates]``.
    ``hooks`` are the seams of ``make_train_parts`` (``reward_fn``, ``extra_loss``,
    ``aux_init``, ``aux_update``).

    Raises:
        ValueError: as ``make_train_parts``.
    """
    parts = make_train_parts(cfg, env, env_params, net, **hooks)

    def train(key: jax.Array, seed_idx: jax.Array | int = 0,
              hparams: PPOHyperparams | None = None) -> TrainOutput:
        state, metrics = parts.run_updates(parts.init(key, seed_idx, hparams),
                                           cfg.num_updates)
        return TrainOutput(state, metrics)

    return train


def _print_progress(seed_idx, update_idx, metrics, num_updates, log_every):
    """Host side of the progress callback: fires once per seed under vmap; seed 0 prints."""
    update_idx = int(update_idx)
    if int(seed_idx) != 0 or (update_idx % log_every and update_idx != num_updates):
        return
    count = float(metrics["episode_count"])
    mean_ret = float(metrics["episode_return_sum"]) / max(count, 1.0)
    print(f"  [run 0] update {update_idx:>6d}/{num_updates}  env_steps {float(metrics['env_steps']):>11,.0f}"
          f"  return {mean_ret:8.3f}  entropy {float(metrics['entropy']):.3f}"
          f"  kl {float(metrics['approx_kl']):.4f}", flush=True)
