"""AMP: adversarial motion priors on PPO (rl_games ``amp_continuous``), compiled end to end.

Sources: Peng et al. 2021, "AMP: Adversarial Motion Priors for Stylized Physics-Based
Character Control" (ToG 40(4)): the least-squares discriminator (eq. 6) and its reward
(eq. 7); IsaacGymEnvs 1.5.1 ``learning/amp_continuous.py`` and ``amp_network_builder.py``
(what both AMP codebases run): the BCE discriminator and the ``-log(1 - D)`` reward, the
logit regulariser, weight decay, the demo and replay buffers. ``specs/imitation.md`` lists
the defaults.

Built on PPO's seams (``purerl.algos.ppo``), not on a copy of its loop. One update:

1. PPO's rollout; its ``[current, previous]`` AMP observation pairs come from
   ``amp_obs_fn(obs, next_obs)`` (default ``[next_obs, obs]``: the humanoid's 210-d pair is
   exactly this, the env's ``info["amp_obs"]``);
2. ``aux_update``: the style reward of every step with the discriminator as it is, on
   inputs normalised with the statistics so far (rl_games' ``_calc_amp_rewards`` in
   ``play_steps``); ``amp_batch_size`` fresh demo pairs into the demo buffer
   (``_update_amp_demos``); this update's demo and replay pairs drawn (the replay ones
   BEFORE this rollout is stored; from this rollout while the buffer is empty); the
   normaliser merges the agent, replay and demo pairs the discriminator will see, in
   equal numbers; this rollout's pairs go to the replay buffer (``_store_replay_amp_obs``);
3. ``reward_fn``: ``task_reward_w * r_task + disc_reward_w * r_style``, before GAE (mixed
   first, so time-outs bootstrap the mixed reward: spec defect 6 does not arise);
4. ``extra_loss`` on every PPO minibatch: ``disc_coef * L_D`` on its first
   ``amp_minibatch_size`` agent pairs and its slice of the update's replay and demo pairs,
   through PPO's one Adam (the discriminator's parameters live in the net's tree,
   ``AMPActorCritic``).

Deviation (documented, not a defect fix): rl_games updates the AMP normaliser on every
minibatch's three batches in train mode; here it merges the same three kinds of pair once
per update, before the epochs (the statistics are identical up to the minibatch order).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar, Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from envs_jax.core import Environment
from purerl.algos import ppo
from purerl.common import buffers
from purerl.common import running_stats as rs
from purerl.common.networks import _ACTIVATIONS, INITIALIZERS, initializer
from purerl.config import check_fields, require, require_positive, require_unit_interval

DemoFn = Callable[[jax.Array, int], jax.Array]
"""``demo_fn(key, n) -> [n, D]`` float32 demo pairs (jittable; ``n`` static)."""
AmpObsFn = Callable[[jax.Array, jax.Array], jax.Array]
"""``amp_obs_fn(obs [..., O], next_obs [..., O]) -> [..., D]`` AMP pairs (raw obs)."""
REWARD_PROB_FLOOR = 1e-4
"""rl_games' ``torch.maximum(1 - prob, 0.0001)`` in ``_calc_disc_rewards``."""
LOGIT_INIT_SCALE = 1.0
"""``DISC_LOGIT_INIT_SCALE``: the logit layer's weights start U(-1, 1), bias 0."""


@dataclasses.dataclass(frozen=True)
class AMPConfig:
    """The AMP keys of an rl_games 'amp_continuous' config (defaults: IsaacGymEnvs'
    HumanoidAMPPPO.yaml) plus the discriminator network (its 'network.disc' block)."""

    amp_obs_demo_buffer_size: int = 200_000
    """Demo pairs held (prefilled in 'amp_batch_size' fetches, a ring afterwards)."""
    amp_replay_buffer_size: int = 1_000_000
    """Agent pairs held from earlier updates (a FIFO ring), the discriminator's replay."""
    amp_replay_keep_prob: float = 0.01
    """Once more pairs than 'amp_replay_buffer_size' were stored, each new pair is
    stored with this probability (rl_games '_store_replay_amp_obs')."""
    amp_batch_size: int = 512
    """Demo pairs fetched per prefill step and added per update."""
    amp_minibatch_size: int = 4096
    """Agent, replay and demo pairs per PPO minibatch for the discriminator; capped at
    the PPO minibatch's size (rl_games slices its first 'amp_minibatch_size' rows)."""
    disc_coef: float = 5.0
    """Weight of the discriminator loss in PPO's total loss (one optimiser)."""
    disc_logit_reg: float = 0.05
    """Weight of 'sum(W_logit^2)', the logit layer's squared weights."""
    disc_grad_penalty: float = 5.0
    """Weight 'w_gp' of 'mean_demo ||d D / d x||^2' on the normalised demo input (the
    codebases' convention; the paper writes 'w_gp / 2')."""
    disc_reward_scale: float = 2.0
    """The style reward is multiplied by this (both losses)."""
    disc_weight_decay: float = 1e-4
    """Weight of the sum of squared discriminator weights (kernels only, logit included)."""
    normalize_amp_input: bool = True
    """Normalise the discriminator's input with its own running mean / variance (clip +-5)."""
    task_reward_w: float = 0.0
    """Weight of the env's reward in the reward PPO sees."""
    disc_reward_w: float = 1.0
    """Weight of the style reward in the reward PPO sees."""
    disc_loss: Literal["bce", "lsgan"] = "bce"
    """'bce': the codebases' 0.5 (BCE(d_agent, 0) + BCE(d_demo, 1)), reward
    -log(max(1 - sigmoid(d), 1e-4)); 'lsgan': the paper's E_demo (d - 1)^2 +
    E_agent (d + 1)^2, reward max(0, 1 - 0.25 (d - 1)^2) (eqs. 6, 7)."""
    disc_units: tuple[int, ...] = (1024, 512)
    """Hidden widths of the discriminator MLP ('network.disc.units')."""
    disc_activation: str = "relu"
    """Hidden activation of the discriminator ('network.disc.activation')."""
    disc_initializer: str = "torch_default"
    """Hidden-layer weight init ('network.disc.initializer'; biases 0)."""

    def __post_init__(self):
        check_fields(self)
        for name in ("amp_obs_demo_buffer_size", "amp_replay_buffer_size", "amp_batch_size",
                     "amp_minibatch_size"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, "a positive integer", value)
        require_unit_interval("amp_replay_keep_prob", self.amp_replay_keep_prob)
        for name in ("disc_coef", "disc_logit_reg", "disc_grad_penalty", "disc_weight_decay"):
            require(getattr(self, name) >= 0, name, "a non-negative number", getattr(self, name))
        require(self.disc_loss in ("bce", "lsgan"), "disc_loss", "'bce' or 'lsgan'",
                self.disc_loss)
        require(len(self.disc_units) >= 1 and all(u >= 1 for u in self.disc_units),
                "disc_units", "one or more positive layer widths", self.disc_units)
        require(self.disc_activation in _ACTIVATIONS, "disc_activation",
                "one of " + ", ".join(_ACTIVATIONS), self.disc_activation)
        require(self.disc_initializer in INITIALIZERS, "disc_initializer",
                "one of " + ", ".join(INITIALIZERS), self.disc_initializer)


# ------------------------------------------------------------------------ networks

class Discriminator(nn.Module):
    """``D(x)``: MLP on normalised AMP pairs ``[..., D] -> logits [...]``
    (IsaacGymEnvs ``AMPBuilder._build_disc``: hidden layers, then a linear logit with
    U(-1, 1) weights and zero biases)."""

    units: tuple[int, ...]
    activation: str = "relu"
    init: str = "torch_default"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, width in enumerate(self.units):
            x = nn.Dense(width, kernel_init=initializer(self.init, None, math.sqrt(2)),
                         bias_init=nn.initializers.zeros, name=f"hidden_{i}")(x)
            x = _ACTIVATIONS[self.activation](x)
        logit = nn.Dense(1, kernel_init=_symmetric_uniform(LOGIT_INIT_SCALE),
                         bias_init=nn.initializers.zeros, name="logit")
        return logit(x)[..., 0]


def _symmetric_uniform(bound: float) -> Callable:
    """U(-bound, bound) weights (torch ``nn.init.uniform_(w, -bound, bound)``)."""
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype,
                                                                    -bound, bound)


class AMPActorCritic(nn.Module):
    """A feed-forward actor-critic and its discriminator in ONE parameter tree
    (``params["params"]["actor_critic" | "discriminator"]``), so PPO's optimiser and
    gradient clip see both. ``__call__`` is the actor-critic's; ``discriminate`` the
    discriminator's (``net.apply(params, x, method="discriminate")``)."""

    actor_critic: nn.Module
    discriminator: Discriminator
    amp_obs_dim: int
    recurrent: ClassVar[bool] = False

    def __call__(self, hidden, obs, reset):
        if self.is_initializing():            # create the discriminator's parameters too
            self.discriminator(jnp.zeros((1, self.amp_obs_dim), jnp.float32))
        return self.actor_critic(hidden, obs, reset)

    def discriminate(self, amp_obs: jax.Array) -> jax.Array:
        return self.discriminator(amp_obs)

    def initial_hidden(self, num_envs: int) -> jax.Array:
        return self.actor_critic.initial_hidden(num_envs)


def make_net(cfg: AMPConfig, actor_critic: nn.Module, amp_obs_dim: int) -> AMPActorCritic:
    """The AMP net around a feed-forward ``actor_critic`` (e.g. ``GaussianActorCritic``).

    Raises:
        ValueError: ``actor_critic`` is recurrent (AMP's pairs are per step) or
            ``amp_obs_dim < 1``.
    """
    require(not getattr(actor_critic, "recurrent", True), "actor_critic",
            "a feed-forward actor-critic (recurrent = False)", type(actor_critic).__name__)
    require_positive("amp_obs_dim", amp_obs_dim)
    return AMPActorCritic(actor_critic, Discriminator(cfg.disc_units, cfg.disc_activation,
                                                      cfg.disc_initializer), amp_obs_dim)


def disc_kernels(params) -> tuple[list[jax.Array], jax.Array]:
    """``(hidden kernels, logit kernel)`` of the discriminator in an ``AMPActorCritic``
    tree (rl_games ``get_disc_weights`` / ``get_disc_logit_weights``: no biases)."""
    tree = params["params"]["discriminator"]
    hidden = [tree[k]["kernel"] for k in sorted(tree) if k.startswith("hidden_")]
    return hidden, tree["logit"]["kernel"]


# ------------------------------------------------------------------------ losses, reward

def prediction_loss(d_agent: jax.Array, d_demo: jax.Array, kind: str) -> jax.Array:
    """The discriminator's prediction loss on logits ``d_agent [Ba]`` (negatives: agent
    and replay pairs) and ``d_demo [Bd]`` (positives).

    ``bce`` (IsaacGymEnvs ``_disc_loss``): ``0.5 * (mean softplus(d_agent) +
    mean softplus(-d_demo))`` = 0.5 (BCE(d_agent, 0) + BCE(d_demo, 1));
    ``lsgan`` (AMP paper eq. 6): ``mean (d_demo - 1)^2 + mean (d_agent + 1)^2``.
    """
    if kind == "lsgan":
        return jnp.mean(jnp.square(d_demo - 1.0)) + jnp.mean(jnp.square(d_agent + 1.0))
    return 0.5 * (jnp.mean(jax.nn.softplus(d_agent)) + jnp.mean(jax.nn.softplus(-d_demo)))


def style_reward(logits: jax.Array, kind: str, scale: float | jax.Array) -> jax.Array:
    """The style reward of logits ``[...]`` (float32, same shape).

    ``bce``: ``scale * -log(max(1 - sigmoid(d), 1e-4))`` (IsaacGymEnvs
    ``_calc_disc_rewards``: at most ``scale * 9.21``); ``lsgan``:
    ``scale * max(0, 1 - 0.25 (d - 1)^2)`` (AMP paper eq. 7: in [0, scale]).
    """
    if kind == "lsgan":
        return scale * jnp.maximum(0.0, 1.0 - 0.25 * jnp.square(logits - 1.0))
    prob = jax.nn.sigmoid(logits)
    return scale * -jnp.log(jnp.maximum(1.0 - prob, REWARD_PROB_FLOOR))


def gradient_penalty(disc: Callable[[jax.Array], jax.Array], x_demo: jax.Array
                     ) -> tuple[jax.Array, jax.Array]:
    """``(mean_b ||d disc(x_b) / d x_b||^2, disc(x) [B])`` on normalised demo inputs
    ``x_demo [B, D]`` (IsaacGymEnvs ``_disc_loss``: ``autograd.grad`` of the demo logits
    with ones as grad_outputs, squared, summed over features, averaged over the batch).
    Differentiable in ``disc``'s parameters (double backprop)."""
    def total(x):
        logits = disc(x)
        return logits.sum(), logits

    grad, logits = jax.grad(total, has_aux=True)(x_demo)
    return jnp.mean(jnp.sum(jnp.square(grad), axis=-1)), logits


def mix_rewards(task: jax.Array, style: jax.Array, task_w, style_w) -> jax.Array:
    """``task_w * task + style_w * style`` (IsaacGymEnvs ``_combine_rewards``)."""
    return task_w * task + style_w * style


def replay_keep(key: jax.Array, stored: jax.Array, capacity: int, n: int, keep_prob
                ) -> jax.Array:
    """``[n]`` bool: which of ``n`` new pairs enter the replay buffer. All of them while at
    most ``capacity`` pairs were stored so far; after that each with ``keep_prob``
    (IsaacGymEnvs ``_store_replay_amp_obs``: ``total_count > buffer_size``)."""
    return (stored <= capacity) | (jax.random.uniform(key, (n,)) < keep_prob)


# ------------------------------------------------------------------------ demo sources

def pair_obs(obs: jax.Array, next_obs: jax.Array) -> jax.Array:
    """``[next_obs, obs]``: the AMP pair [current, previous] of a step ``[..., 2 O]``."""
    return jnp.concatenate([next_obs, obs], axis=-1)


def demo_from_array(pairs: jax.Array) -> DemoFn:
    """A demo source drawing rows of ``pairs [K, D]`` uniformly (with replacement)."""
    pairs = jnp.asarray(pairs, jnp.float32)
    require(pairs.ndim == 2 and pairs.shape[0] >= 1, "pairs", "a [K, D] array", pairs.shape)
    return lambda key, n: pairs[jax.random.randint(key, (n,), 0, pairs.shape[0])]


def rollout_pairs(env: Environment, env_params: Any, expert: Callable[[jax.Array], jax.Array],
                  key: jax.Array, num_envs: int, num_steps: int,
                  amp_obs_fn: AmpObsFn = pair_obs) -> jax.Array:
    """AMP pairs ``[num_envs * num_steps, D]`` of a scripted ``expert(obs) -> action``
    (e.g. ``envs_jax.experts.pendulum_swingup``) acting in ``num_envs`` auto-resetting
    copies of the base ``env`` (``envs_jax.policy.rollout``); jittable."""
    from envs_jax.policy import feed_forward, init_carry, rollout
    from envs_jax.wrappers import AutoReset, VecEnv

    vec, policy = VecEnv(AutoReset(env), num_envs), feed_forward(lambda k, o: expert(o))
    key_reset, key_run = jax.random.split(key)
    carry = init_carry(vec, env_params, policy, key_reset, num_envs)
    _, tr = rollout(vec, env_params, policy, carry, key_run, num_steps)
    pairs = amp_obs_fn(tr.obs, tr.next_obs)
    return pairs.reshape(num_envs * num_steps, pairs.shape[-1]).astype(jnp.float32)


def demo_from_motion_lib(env, env_params) -> DemoFn:
    """Demo pairs of the AMP humanoid's clips: clip by weight, ``t0 ~ U[dt, len]``, pair
    (obs(t0), obs(t0 - dt)) (IsaacGymEnvs ``fetch_amp_obs_demo``: times shifted by the
    truncate time so the earlier half stays in the clip)."""
    from envs_jax.mjx import humanoid
    from envs_jax.mjx import motion_lib as ml

    lib, dt = env_params.motion, float(env.dt)

    def fetch(key, n):
        key_id, key_t = jax.random.split(key)
        ids = ml.sample_motion_ids(lib, key_id, (n,))
        t0 = dt + jax.random.uniform(key_t, (n,)) * jnp.maximum(lib.clip_length[ids] - dt, 0.0)
        return jax.vmap(lambda i, t: humanoid.demo_amp_obs(lib, i, t, dt, env.local_root_obs))(
            ids, t0).astype(jnp.float32)

    return fetch


# ------------------------------------------------------------------------ training

class AMPState(NamedTuple):
    """AMP's part of ``RunnerState.aux``. P = M x B_amp pairs per update."""

    demo: Any                  # flashbax item-buffer state, [1, amp_obs_demo_buffer_size, D]
    replay: Any                # flashbax item-buffer state, [1, amp_replay_buffer_size, D]
    replay_stored: jax.Array   # int32, pairs stored so far (saturates past the capacity)
    amp_stats: Any             # RunningStats [D] (normalize_amp_input) or None
    demo_pool: jax.Array       # [P, D] this update's demo pairs, slice i for minibatch i
    replay_pool: jax.Array     # [P, D] this update's replay pairs
    style_reward: jax.Array    # [T, N] this rollout's style reward
    key: jax.Array


def make_train_parts(ppo_cfg: ppo.PPOConfig, cfg: AMPConfig, env: Environment,
                     env_params: Any, net: AMPActorCritic, demo_fn: DemoFn, *,
                     amp_obs_fn: AmpObsFn = pair_obs, eval_env: Environment | None = None,
                     evaluate_fn: ppo.EvaluateFn | None = None
                     ) -> ppo.TrainParts:
    """PPO's train parts with AMP in its seams (module docstring); ``jax.jit(jax.vmap(...))``
    over seeds as PPO's.

    Args:
        ppo_cfg: the PPO loop (``minibatch`` flat or sequence; feed-forward nets).
        cfg: AMP hyperparameters.
        env, env_params, eval_env, evaluate_fn: as ``ppo.make_train_parts``.
        net: ``make_net(cfg, actor_critic, D)``.
        demo_fn: demo source, ``(key, n) -> [n, D]`` (``demo_from_array``,
            ``demo_from_motion_lib``).
        amp_obs_fn: raw ``(obs, next_obs) -> [..., D]`` pairs of the agent.

    Raises:
        ValueError: ``amp_obs_fn`` and ``demo_fn`` disagree on D, a buffer is smaller than
            the pairs drawn from it per update (``num_minibatches * B_amp``), or as
            ``ppo.make_train_parts``.
    """
    n, t, m = ppo_cfg.num_envs, ppo_cfg.num_steps, ppo_cfg.num_minibatches
    b_amp = min(cfg.amp_minibatch_size, n * t // m)          # rl_games' [0:amp_mb] slice
    pool = m * b_amp
    obs = jax.eval_shape(env.reset, jax.random.PRNGKey(0), env_params)[0]
    dim = jax.eval_shape(amp_obs_fn, obs, obs).shape[-1]
    demo_dim = jax.eval_shape(lambda k: demo_fn(k, 1), jax.random.PRNGKey(0)).shape
    require(demo_dim == (1, dim), "demo_fn", f"pairs [n, {dim}] (amp_obs_fn's size)",
            f"pairs {list(demo_dim)}")
    require(net.amp_obs_dim == dim, "net", f"make_net(..., amp_obs_dim={dim})", net.amp_obs_dim)
    for name in ("amp_obs_demo_buffer_size", "amp_replay_buffer_size"):
        require(getattr(cfg, name) >= pool, name, f"at least the {pool} pairs drawn per update "
                f"(num_minibatches {m} x amp minibatch {b_amp})", getattr(cfg, name))
    example = jnp.zeros((dim,), jnp.float32)
    demo_buf = buffers.make_replay_buffer(cfg.amp_obs_demo_buffer_size, 1, pool, example)
    replay_buf = buffers.make_replay_buffer(cfg.amp_replay_buffer_size, 1, pool, example)
    disc = lambda params, x: net.apply(params, x, method="discriminate")
    norm = ((lambda s, x: rs.normalize(s, x)) if cfg.normalize_amp_input
            else (lambda s, x: x))

    def aux_init(key: jax.Array) -> AMPState:
        key, key_fill = jax.random.split(key)
        fills = -(-cfg.amp_obs_demo_buffer_size // cfg.amp_batch_size)   # rl_games' ceil
        demo = jax.lax.fori_loop(0, fills, lambda i, s: demo_buf.add(s, demo_fn(
            jax.random.fold_in(key_fill, i), cfg.amp_batch_size)), demo_buf.init(example))
        return AMPState(demo, replay_buf.init(example), jnp.zeros((), jnp.int32),
                        rs.init((dim,)) if cfg.normalize_amp_input else None,
                        jnp.zeros((pool, dim)), jnp.zeros((pool, dim)),
                        jnp.zeros((t, n)), key)

    def aux_update(r: ppo.RunnerState, traj: ppo.Transition) -> AMPState:
        a: AMPState = r.aux
        key, k_fetch, k_demo, k_replay, k_agent, k_keep = jax.random.split(a.key, 6)
        agent = amp_obs_fn(traj.obs, traj.next_obs).reshape(t * n, dim)
        logits = disc(r.train_state.params, norm(a.amp_stats, agent))
        style = style_reward(logits, cfg.disc_loss, cfg.disc_reward_scale).reshape(t, n)
        demo = demo_buf.add(a.demo, demo_fn(k_fetch, cfg.amp_batch_size))
        demo_pool = demo_buf.sample(demo, k_demo).experience
        agent_pool = agent[jax.random.randint(k_agent, (pool,), 0, t * n)]
        replay_pool = jnp.where(a.replay_stored > 0,
                                replay_buf.sample(a.replay, k_replay).experience, agent_pool)
        stats = a.amp_stats
        if cfg.normalize_amp_input:
            stats = rs.update(stats, jnp.concatenate([agent_pool, replay_pool, demo_pool]))
        keep = replay_keep(k_keep, a.replay_stored, cfg.amp_replay_buffer_size, t * n,
                           cfg.amp_replay_keep_prob)
        replay = buffers.add_masked(a.replay, agent, keep)
        stored = jnp.minimum(a.replay_stored + t * n, cfg.amp_replay_buffer_size + 1)
        return AMPState(demo, replay, stored, stats, demo_pool, replay_pool, style, key)

    def reward_fn(r: ppo.RunnerState, traj: ppo.Transition) -> jax.Array:
        return mix_rewards(traj.reward, r.aux.style_reward, cfg.task_reward_w,
                           cfg.disc_reward_w)

    def extra_loss(params, mb: ppo.Minibatch, a: AMPState):
        agent = amp_obs_fn(mb.transition.obs, mb.transition.next_obs).reshape(-1, dim)[:b_amp]
        rows = lambda x: jax.lax.dynamic_slice_in_dim(x, mb.index * b_amp, b_amp)
        negatives = norm(a.amp_stats, jnp.concatenate([agent, rows(a.replay_pool)]))
        d_agent = disc(params, negatives)
        gp, d_demo = gradient_penalty(lambda x: disc(params, x),
                                      norm(a.amp_stats, rows(a.demo_pool)))
        pred = prediction_loss(d_agent, d_demo, cfg.disc_loss)
        hidden, logit_w = disc_kernels(params)
        logit_loss = jnp.sum(jnp.square(logit_w))
        decay = sum(jnp.sum(jnp.square(w)) for w in [*hidden, logit_w])
        loss = (pred + cfg.disc_logit_reg * logit_loss + cfg.disc_grad_penalty * gp
                + cfg.disc_weight_decay * decay)
        metrics = {"disc_loss": loss, "disc_pred_loss": pred, "disc_grad_penalty": gp,
                   "disc_logit_loss": logit_loss,
                   "disc_agent_acc": jnp.mean(d_agent[:b_amp] < 0.0),
                   "disc_demo_acc": jnp.mean(d_demo > 0.0),
                   "disc_agent_logit": jnp.mean(d_agent[:b_amp]),
                   "disc_demo_logit": jnp.mean(d_demo),
                   "style_reward": jnp.mean(a.style_reward)}
        return cfg.disc_coef * loss, metrics

    return ppo.make_train_parts(ppo_cfg, env, env_params, net, reward_fn=reward_fn,
                                extra_loss=extra_loss, aux_init=aux_init,
                                aux_update=aux_update, eval_env=eval_env,
                                evaluate_fn=evaluate_fn)


def make_train(ppo_cfg: ppo.PPOConfig, cfg: AMPConfig, env: Environment, env_params: Any,
               net: AMPActorCritic, demo_fn: DemoFn, **kwargs
               ) -> Callable[..., ppo.TrainOutput]:
    """``train(key, seed_idx=0) -> TrainOutput``: all updates in one traced call; a seed
    sweep is ``jax.jit(jax.vmap(train))(keys, jnp.arange(S))``. Arguments as
    ``make_train_parts``."""
    parts = make_train_parts(ppo_cfg, cfg, env, env_params, net, demo_fn, **kwargs)

    def train(key: jax.Array, seed_idx: jax.Array | int = 0) -> ppo.TrainOutput:
        state, metrics = parts.run_updates(parts.init(key, seed_idx), ppo_cfg.num_updates)
        return ppo.TrainOutput(state, metrics)

    return train
