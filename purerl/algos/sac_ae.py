"""SAC+AE: soft actor-critic from pixels with a regularised autoencoder, all in one jit.

Source: Yarats, Zhang, Kostrikov, Amos, Pineau, Fergus 2019, "Improving Sample Efficiency in
Model-Free Reinforcement Learning from Images" (arXiv 1910.01741), and the behaviour of its
code, denisyarats/pytorch_sac_ae (``sac_ae.py``, ``encoder.py``, ``decoder.py``,
``utils.py``, ``train.py``; defaults = ``train.py``'s flag defaults).

Networks (``purerl.common.networks``: ``PixelConvs``, ``EncoderHead``, ``PixelDecoder``):

- critic encoder: obs / 255 -> 4 convs (3x3, 32 filters, stride 2 then 1) -> Linear(50) ->
  LayerNorm -> tanh; two Q heads ``(50 + A) -> 1024 -> 1024 -> 1`` (ReLU);
- actor: its OWN Linear + LayerNorm on the critic's convs (the same parameters, not a copy),
  whose output it detaches (``stop_gradient``); MLP ``50 -> 1024 -> 1024 -> 2A``; the raw
  log-std is squashed as ``-10 + 0.5 * 12 * (tanh(raw) + 1)`` into ``[-10, 2]``;
  ``a = tanh(mu + std * eps)``, ``log pi = N(eps) log-density - sum log(relu(1 - a^2) +
  1e-6)`` (``purerl.common.distributions.tanh_gaussian`` with ``log_det_epsilon=1e-6``);
  the evaluation action is ``tanh(mu)``;
- target critic: a full copy (convs, head, Q heads), initialised equal to the critic;
- decoder: Linear -> 3 transposed convs -> stride-2 transposed conv to the 3k channels.

One SGD update (``update``), on one sampled batch, in the seed's order, gated by the agent
step counter ``step`` exactly as ``SacAeAgent.update(replay_buffer, L, step)``:

1. critic, every step: ``y = r + (1 - terminated) * discount * (min Q_target(s', a') -
   sg(alpha) log pi(a'|s'))``, ``a' ~ pi(s')``, no gradient; ``L = MSE(Q1, y) + MSE(Q2, y)``;
   gradients reach the Q heads and the whole critic encoder (convs included); Adam
   ``(q_lr, betas (q_beta1, 0.999))`` over the critic.
2. actor and temperature, when ``step % actor_update_every == 0``: Q from the updated critic
   with its conv output detached; ``L_pi = mean(sg(alpha) log pi - min(Q1, Q2))`` steps the
   actor's own head and MLP only (the shared convs are never moved by the actor);
   ``L_alpha = mean(alpha * sg(-log pi - target_entropy))`` with ``alpha = exp(log_alpha)``,
   Adam ``(alpha_lr, betas (alpha_beta1, 0.999))``, ``target_entropy = -A``.
3. targets, when ``step % target_update_every == 0``: Polyak of rate ``polyak_tau`` (Q heads)
   and ``encoder_polyak_tau`` (target convs + head).
4. autoencoder, when ``step % decoder_update_every == 0`` (pixel decoder only): ``h =``
   critic encoder(obs), no detach; ``L = mean((decoder(h) - preprocess(obs))^2) +
   decoder_latent_penalty * mean(0.5 ||h||^2)``; separate Adams for the critic encoder
   (``encoder_lr``) and the decoder (``decoder_lr`` with coupled L2 weight decay
   ``decoder_weight_decay``, PyTorch Adam's ``weight_decay``: ``optax.add_decayed_weights``
   before ``optax.adam``). ``preprocess`` is ``reconstruction_target``: 5-bit quantisation
   plus uniform dequantisation noise, in [-0.5, 0.5].

Training loop (one ``run_sweep`` update = one agent step of the seed's ``train.py``): act
(uniform in [-1, 1] for ``step < learning_starts``, else a sample of pi from the params
before this step's updates), then the SGD updates -- none before ``learning_starts``,
``learning_starts`` of them at once at ``step == learning_starts`` (all with that same
``step``, as the seed, so all of them also update the actor and targets when the frequencies
divide it), one afterwards -- then the env step, and the transition (obs, a, r, next_obs,
terminated) goes into the replay buffer. Time-limit ends are not terminal (the seed's
``done_bool = 0`` at ``max_episode_steps``; DMC tasks never terminate).

Replay: pixels go into ``purerl.common.frame_buffer`` (uint8, each frame stored once);
``encoder_type="identity"`` (state input) into the flashbax FIFO of
``purerl.common.buffers``. Evaluation: every ``eval_every`` agent steps (counted by step,
not by episode boundaries: the seed's defect 6), ``num_eval_episodes`` episodes of
``tanh(mu)`` vmapped, inside the compiled program (``eval/return``, NaN otherwise).

Conditional work (the burst of updates, the actor / decoder updates, episode resets,
evaluation) runs in ``lax.while_loop``s of 0 or 1 (or ``learning_starts``) trips. Under
``vmap`` over seeds a ``lax.cond`` would become a select that computes both branches on
every step; a while loop with a batched trip count runs max(trip counts) trips, which is
the same count for every seed here (they share the step counter and, DMC tasks having a
fixed episode length, the episode ends), so no seed pays for work it does not do.

Variants (the seed's flags): ``encoder_type="identity"`` is state-based SAC (the encoder is
the identity, no convs, no decoder); ``decoder_type="identity"`` is pixel SAC without the
autoencoder (the critic's convs learn from the TD loss only).

Traced (sweepable in one compile): ``Hyperparams`` (learning rates, Polyak rates, discount).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from envs_jax.offline.dataset import OfflineDataset
from envs_jax.policy import episode_limit, evaluate_episodes, feed_forward
from purerl.algos import sac
from purerl.algos.sac_online import check_action_space, rescale_action
from purerl.common.buffers import make_replay_buffer
from purerl.common.distributions import tanh_gaussian
from purerl.common.frame_buffer import PixelBatch, make_frame_buffer
from purerl.common.networks import EncoderHead, PixelConvs, PixelDecoder, conv_output_side
from purerl.common.polyak import polyak
from purerl.config import check_fields, require

__all__ = ["Config", "Hyperparams", "SWEEPABLE", "LearnerState", "RunnerState", "TrainParts",
           "Networks", "hyperparams_from", "make_networks", "make_learner", "make_train_parts",
           "make_train", "reconstruction_target", "squash_log_std"]


@dataclasses.dataclass(frozen=True)
class Config:
    """SAC+AE options; defaults are pytorch_sac_ae ``train.py``'s flag defaults (the seed's
    names in brackets where ours differ; ``purerl-sac-ae`` maps them)."""

    encoder_type: Literal["pixel", "identity"] = "pixel"
    """``pixel``: conv encoder on image observations; ``identity``: state vectors as they
    are (state SAC)."""
    decoder_type: Literal["pixel", "identity"] = "pixel"
    """``pixel``: train the autoencoder; ``identity``: no decoder (pixel SAC)."""
    num_updates: int = 1_000_000
    """Agent steps of the run (num_train_steps); env steps = this x action repeat."""
    learning_starts: int = 1000
    """Agent steps of uniform actions before learning; at this step that many updates run
    at once (init_steps)."""
    replay_buffer_size: int = 1_000_000
    """Replay capacity in transitions (replay_buffer_capacity)."""
    sgd_batch_size: int = 128
    """Transitions per SGD update (batch_size)."""
    discount: float = 0.99
    """Discount of the TD target."""
    q_lr: float = 1e-3
    """Critic Adam step size (critic_lr)."""
    q_beta1: float = 0.9
    """Critic Adam beta1 (critic_beta)."""
    policy_lr: float = 1e-3
    """Actor Adam step size (actor_lr)."""
    policy_beta1: float = 0.9
    """Actor Adam beta1 (actor_beta)."""
    encoder_lr: float = 1e-3
    """Adam step size of the critic encoder in the autoencoder update."""
    decoder_lr: float = 1e-3
    """Decoder Adam step size."""
    alpha_lr: float = 1e-4
    """Temperature Adam step size."""
    alpha_beta1: float = 0.5
    """Temperature Adam beta1 (alpha_beta)."""
    init_alpha: float = 0.1
    """Initial temperature alpha (init_temperature)."""
    polyak_tau: float = 0.01
    """Polyak rate of the target Q heads (critic_tau)."""
    encoder_polyak_tau: float = 0.05
    """Polyak rate of the target encoder (encoder_tau)."""
    actor_update_every: int = 2
    """Actor and temperature update when step % this == 0 (actor_update_freq)."""
    target_update_every: int = 2
    """Target update when step % this == 0 (critic_target_update_freq)."""
    decoder_update_every: int = 1
    """Autoencoder update when step % this == 0 (decoder_update_freq)."""
    decoder_latent_penalty: float = 1e-6
    """Weight of mean(0.5 ||h||^2) in the autoencoder loss (decoder_latent_lambda)."""
    decoder_weight_decay: float = 1e-7
    """Coupled L2 weight decay of the decoder Adam (decoder_weight_lambda)."""
    hidden_size: int = 1024
    """Width of the actor and Q MLPs' two hidden layers (hidden_dim)."""
    feature_dim: int = 50
    """Encoder output size (encoder_feature_dim)."""
    num_layers: int = 4
    """Conv layers of the encoder (and transposed convs of the decoder)."""
    num_filters: int = 32
    """Filters per conv layer."""
    log_std_min: float = -10.0
    """Lower bound of the actor's log std."""
    log_std_max: float = 2.0
    """Upper bound of the actor's log std."""
    reconstruction_bits: int = 5
    """Bits kept by the reconstruction target's quantisation (1..8)."""
    eval_every: int = 10_000
    """Agent steps between deterministic evaluations (eval_freq; 0: none)."""
    num_eval_episodes: int = 10
    """Evaluation episodes, vmapped."""

    def __post_init__(self):
        check_fields(self)
        require(self.encoder_type in ("pixel", "identity"), "encoder_type",
                "'pixel' or 'identity'", self.encoder_type)
        require(self.decoder_type in ("pixel", "identity"), "decoder_type",
                "'pixel' or 'identity'", self.decoder_type)
        require(not (self.decoder_type == "pixel" and self.encoder_type == "identity"),
                "decoder_type", "'identity' with encoder_type identity (a pixel decoder "
                "needs the pixel encoder)", self.decoder_type)
        for name in ("num_updates", "replay_buffer_size", "sgd_batch_size",
                     "actor_update_every", "target_update_every", "decoder_update_every",
                     "hidden_size", "feature_dim", "num_layers", "num_filters",
                     "num_eval_episodes"):
            value = getattr(self, name)
            require(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                    name, "an int >= 1", value)
        for name in ("learning_starts", "eval_every"):
            value = getattr(self, name)
            require(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                    name, "an int >= 0", value)
        for name in ("q_lr", "policy_lr", "encoder_lr", "decoder_lr", "alpha_lr",
                     "init_alpha"):
            require(getattr(self, name) > 0, name, "a number > 0", getattr(self, name))
        for name in ("discount", "polyak_tau", "encoder_polyak_tau", "q_beta1",
                     "policy_beta1", "alpha_beta1"):
            value = getattr(self, name)
            require(0.0 <= value <= 1.0, name, "a number in [0, 1]", value)
        for name in ("decoder_latent_penalty", "decoder_weight_decay"):
            require(getattr(self, name) >= 0, name, "a number >= 0", getattr(self, name))
        require(self.log_std_min < self.log_std_max, "log_std_min",
                f"below log_std_max={self.log_std_max}", self.log_std_min)
        require(isinstance(self.reconstruction_bits, int)
                and 1 <= self.reconstruction_bits <= 8, "reconstruction_bits",
                "an int in 1..8", self.reconstruction_bits)

    @property
    def pixels(self) -> bool:
        """Image observations (``encoder_type == "pixel"``)."""
        return self.encoder_type == "pixel"

    @property
    def autoencoder(self) -> bool:
        """The decoder is trained (``decoder_type == "pixel"``)."""
        return self.decoder_type == "pixel"


class Hyperparams(NamedTuple):
    """Traced hyperparameters (float32 ``[]``, ``[G*S]`` under ``vmap``), ``Config``'s
    fields of the same names."""

    q_lr: jax.Array
    policy_lr: jax.Array
    encoder_lr: jax.Array
    decoder_lr: jax.Array
    alpha_lr: jax.Array
    polyak_tau: jax.Array
    encoder_polyak_tau: jax.Array
    discount: jax.Array


SWEEPABLE = Hyperparams._fields
"""Names a sweep may vary in one compile."""


def hyperparams_from(cfg: Config) -> Hyperparams:
    """``cfg``'s traced hyperparameters as float32 scalars."""
    return sac.hyperparams_from(cfg, Hyperparams)


# ------------------------------------------------------------------------------ networks
def squash_log_std(raw: jax.Array, low: float, high: float) -> jax.Array:
    """``low + 0.5 (high - low) (tanh(raw) + 1)``: any raw output into ``[low, high]``
    (pytorch_sac_ae ``Actor.forward``)."""
    return low + 0.5 * (high - low) * (jnp.tanh(raw) + 1.0)


def reconstruction_target(obs: jax.Array, key: jax.Array, bits: int = 5) -> jax.Array:
    """The autoencoder's target: ``floor(obs / 2^(8 - bits)) / 2^bits + U[0, 1) / 2^bits -
    0.5``, float32 in ``[-0.5, 0.5)``, same shape as ``obs`` (uint8 ``[..., H, W, C]``).

    Source: pytorch_sac_ae ``utils.preprocess_obs`` (5-bit quantisation and uniform
    dequantisation noise, after Kingma & Dhariwal 2018, Glow, sec. 5)."""
    bins = 2.0 ** bits
    x = jnp.floor(obs.astype(jnp.float32) / 2.0 ** (8 - bits)) / bins
    return x + jax.random.uniform(key, obs.shape) / bins - 0.5


def _dense(features: int) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(),
                    bias_init=nn.initializers.zeros)


class ActorMLP(nn.Module):
    """``h [..., F]`` -> ReLU MLP ``hidden, hidden`` -> ``(mu [..., A], raw_log_std [..., A])``."""

    action_dim: int
    hidden_size: int = 1024

    @nn.compact
    def __call__(self, h):
        x = nn.relu(_dense(self.hidden_size)(h))
        x = nn.relu(_dense(self.hidden_size)(x))
        out = _dense(2 * self.action_dim)(x)
        return out[..., :self.action_dim], out[..., self.action_dim:]


class TwinQ(nn.Module):
    """``(h [..., F], action [..., A])`` -> ``[..., 2]``: two ReLU MLP Q heads."""

    hidden_size: int = 1024

    @nn.compact
    def __call__(self, h, action):
        x = jnp.concatenate([h, action], axis=-1)
        qs = []
        for _ in range(2):
            y = nn.relu(_dense(self.hidden_size)(x))
            y = nn.relu(_dense(self.hidden_size)(y))
            qs.append(_dense(1)(y)[..., 0])
        return jnp.stack(qs, axis=-1)


class Networks(NamedTuple):
    """The modules and pure functions on the parameter dict ``params`` with keys ``convs``,
    ``critic_head``, ``q``, ``actor_head``, ``actor_mlp``, ``decoder`` (``{}`` where a
    variant has none).

    * ``encode(params, head_name, obs, detach_convs) -> h [..., F]``;
    * ``actor(params, obs) -> (mu [..., A], log_std [..., A])`` (convs detached);
    * ``critic(params, obs, action, detach_convs) -> q [..., 2]``;
    * ``decode(params, h) -> image [..., H, W, C]``;
    * ``init(key, obs_example, action_dim) -> params``.
    """

    encode: Callable
    actor: Callable
    critic: Callable
    decode: Callable
    init: Callable


def make_networks(cfg: Config, obs_shape: tuple[int, ...], action_dim: int) -> Networks:
    """SAC+AE's networks for observations ``obs_shape`` (``[H, W, C]`` uint8 for pixels,
    ``[D]`` for identity) and A = ``action_dim`` (see ``Networks``).

    Raises:
        ValueError: pixel observations that are not square ``[S, S, C]`` or too small for
            ``num_layers`` convs.
    """
    convs = PixelConvs(cfg.num_layers, cfg.num_filters)
    head = EncoderHead(cfg.feature_dim)
    actor_mlp = ActorMLP(action_dim, cfg.hidden_size)
    twin_q = TwinQ(cfg.hidden_size)
    decoder = None
    if cfg.pixels:
        require(len(obs_shape) == 3 and obs_shape[0] == obs_shape[1], "env observation space",
                "square images [S, S, C] for encoder_type pixel", obs_shape)
        require(conv_output_side(obs_shape[0], cfg.num_layers) >= 1, "num_layers",
                f"few enough 3x3 convs for {obs_shape[0]}x{obs_shape[0]} images",
                cfg.num_layers)
        decoder = PixelDecoder(obs_shape[0], obs_shape[2], cfg.num_layers, cfg.num_filters)
    else:
        require(len(obs_shape) == 1, "env observation space",
                "state vectors [D] for encoder_type identity", obs_shape)

    def encode(params, head_name, obs, detach_convs):
        if not cfg.pixels:
            return obs.astype(jnp.float32)
        c = convs.apply(params["convs"], obs)
        if detach_convs:
            c = jax.lax.stop_gradient(c)
        return head.apply(params[head_name], c)

    def actor(params, obs):
        mu, raw = actor_mlp.apply(params["actor_mlp"], encode(params, "actor_head", obs, True))
        return mu, squash_log_std(raw, cfg.log_std_min, cfg.log_std_max)

    def critic(params, obs, action, detach_convs):
        return twin_q.apply(params["q"], encode(params, "critic_head", obs, detach_convs),
                            action)

    def decode(params, h):
        return decoder.apply(params["decoder"], h)

    def init(key, obs, a_dim):
        keys = jax.random.split(key, 6)
        obs = obs[None]
        params = {"convs": {}, "critic_head": {}, "actor_head": {}, "decoder": {}}
        if cfg.pixels:
            params["convs"] = convs.init(keys[0], obs)
            c = convs.apply(params["convs"], obs)
            params["critic_head"] = head.init(keys[1], c)
            params["actor_head"] = head.init(keys[2], c)
            h = head.apply(params["critic_head"], c)
            if cfg.autoencoder:
                params["decoder"] = decoder.init(keys[3], h)
        else:
            h = obs.astype(jnp.float32)
        params["actor_mlp"] = actor_mlp.init(keys[4], h)
        params["q"] = twin_q.init(keys[5], h, jnp.zeros((1, a_dim)))
        return params

    return Networks(encode, actor, critic, decode, init)


SQUASH_EPSILON = 1e-6
"""The floor inside pytorch_sac_ae's ``log(relu(1 - a^2) + 1e-6)`` squashing term."""


def sample_action(mu: jax.Array, log_std: jax.Array, key: jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
    """``(a [..., A], log pi [...])``: ``a = tanh(mu + std eps)``, ``log pi`` the Gaussian
    log-density of ``eps`` minus ``sum log(relu(1 - a^2) + 1e-6)``: a sample of
    ``purerl.common.distributions.tanh_gaussian(mu, exp(log_std), SQUASH_EPSILON)``
    (pytorch_sac_ae ``gaussian_logprob`` and ``squash``)."""
    dist = tanh_gaussian(mu, jnp.exp(log_std), log_det_epsilon=SQUASH_EPSILON)
    return dist.sample_and_log_prob(seed=key)


# ------------------------------------------------------------------------------- learner
CRITIC_KEYS = ("convs", "critic_head", "q")
ENCODER_KEYS = ("convs", "critic_head")
ACTOR_KEYS = ("actor_head", "actor_mlp")


def _sub(params: dict, keys: tuple[str, ...]) -> dict:
    return {k: params[k] for k in keys}


class LearnerState(NamedTuple):
    """The agent: ``params`` (``Networks``' dict), ``target`` (``convs``, ``critic_head``,
    ``q``), one optax state per optimiser, ``log_alpha []``, ``hparams``, ``key``."""

    params: dict
    target: dict
    critic_opt: Any
    actor_opt: Any
    encoder_opt: Any
    decoder_opt: Any
    alpha_opt: Any
    log_alpha: jax.Array
    hparams: Hyperparams


class Learner(NamedTuple):
    """``init(key, obs_example, hparams) -> LearnerState``; ``update(state, batch, key,
    step) -> (state, metrics)`` (one SGD update, see the module docstring); ``nets``; and
    the four parts of ``update``, each ``(state, batch, key) -> (state, metrics)``
    (``target_step(state) -> state``), for tests of what each one moves."""

    init: Callable
    update: Callable
    nets: Networks
    critic_step: Callable
    actor_step: Callable
    target_step: Callable
    decoder_step: Callable


def _maybe(pred: jax.Array, fn: Callable, x: Any) -> Any:
    """``fn(x)`` if ``pred`` else ``x``, as a ``while_loop`` of 0 or 1 trips (see the module
    docstring: cheaper than a ``cond`` under ``vmap`` when ``pred`` agrees across runs)."""
    _, out = jax.lax.while_loop(lambda c: c[0], lambda c: (jnp.zeros((), bool), fn(c[1])),
                                (jnp.asarray(pred, bool), x))
    return out


def make_learner(cfg: Config, obs_shape: tuple[int, ...], action_dim: int) -> Learner:
    """SAC+AE's update (see the module docstring) for ``obs_shape`` and ``action_dim``."""
    nets = make_networks(cfg, obs_shape, action_dim)
    target_entropy = -float(action_dim)
    adam = optax.inject_hyperparams(optax.adam)
    critic_tx = adam(learning_rate=cfg.q_lr, b1=cfg.q_beta1, b2=0.999)
    actor_tx = adam(learning_rate=cfg.policy_lr, b1=cfg.policy_beta1, b2=0.999)
    encoder_tx = adam(learning_rate=cfg.encoder_lr)
    alpha_tx = adam(learning_rate=cfg.alpha_lr, b1=cfg.alpha_beta1, b2=0.999)
    decoder_tx = optax.inject_hyperparams(
        lambda learning_rate: optax.chain(optax.add_decayed_weights(cfg.decoder_weight_decay),
                                          optax.adam(learning_rate)))(learning_rate=cfg.decoder_lr)

    def with_lr(opt_state, lr):
        return opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": lr})

    def init(key: jax.Array, obs: jax.Array, hparams: Hyperparams | None = None
             ) -> LearnerState:
        hp = hyperparams_from(cfg) if hparams is None else hparams
        params = nets.init(key, obs, action_dim)
        log_alpha = jnp.asarray(np.log(cfg.init_alpha), jnp.float32)
        return LearnerState(
            params, jax.tree.map(jnp.copy, _sub(params, CRITIC_KEYS)),
            with_lr(critic_tx.init(_sub(params, CRITIC_KEYS)), hp.q_lr),
            with_lr(actor_tx.init(_sub(params, ACTOR_KEYS)), hp.policy_lr),
            with_lr(encoder_tx.init(_sub(params, ENCODER_KEYS)), hp.encoder_lr),
            with_lr(decoder_tx.init(params["decoder"]), hp.decoder_lr),
            with_lr(alpha_tx.init(log_alpha), hp.alpha_lr), log_alpha, hp)

    def critic_step(s: LearnerState, batch: PixelBatch, key):
        alpha = jnp.exp(s.log_alpha)
        mu, log_std = nets.actor(s.params, batch.next_obs)
        next_a, next_log_pi = sample_action(mu, log_std, key)
        q_next = nets.critic({**s.params, **s.target}, batch.next_obs, next_a, False)
        y = jax.lax.stop_gradient(sac.td_target(batch.reward, batch.terminated,
                                                s.hparams.discount, jnp.min(q_next, -1),
                                                alpha, next_log_pi))

        def loss_fn(sub):
            q = nets.critic({**s.params, **sub}, batch.obs, batch.action, False)
            return jnp.mean((q[..., 0] - y) ** 2) + jnp.mean((q[..., 1] - y) ** 2), q

        sub = _sub(s.params, CRITIC_KEYS)
        (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(sub)
        updates, opt = critic_tx.update(grads, s.critic_opt, sub)
        params = {**s.params, **optax.apply_updates(sub, updates)}
        return s._replace(params=params, critic_opt=opt), {"critic_loss": loss,
                                                           "q": jnp.mean(q)}

    def actor_step(s: LearnerState, batch: PixelBatch, key):
        alpha = jnp.exp(s.log_alpha)

        def loss_fn(sub):
            p = {**s.params, **sub}
            a, log_pi = sample_action(*nets.actor(p, batch.obs), key)
            q = nets.critic(s.params, batch.obs, a, True)
            return jnp.mean(jax.lax.stop_gradient(alpha) * log_pi - jnp.min(q, -1)), log_pi

        sub = _sub(s.params, ACTOR_KEYS)
        (loss, log_pi), grads = jax.value_and_grad(loss_fn, has_aux=True)(sub)
        updates, actor_opt = actor_tx.update(grads, s.actor_opt, sub)
        params = {**s.params, **optax.apply_updates(sub, updates)}
        gap = jax.lax.stop_gradient(-log_pi - target_entropy)
        alpha_loss, g_alpha = jax.value_and_grad(
            lambda la: jnp.mean(jnp.exp(la) * gap))(s.log_alpha)
        a_updates, alpha_opt = alpha_tx.update(g_alpha, s.alpha_opt, s.log_alpha)
        return s._replace(params=params, actor_opt=actor_opt, alpha_opt=alpha_opt,
                          log_alpha=optax.apply_updates(s.log_alpha, a_updates)), \
            {"actor_loss": loss, "alpha_loss": alpha_loss, "entropy": -jnp.mean(log_pi)}

    def target_step(s: LearnerState):
        t, p = s.target, s.params
        return s._replace(target={
            "q": polyak(t["q"], p["q"], s.hparams.polyak_tau),
            "convs": polyak(t["convs"], p["convs"], s.hparams.encoder_polyak_tau),
            "critic_head": polyak(t["critic_head"], p["critic_head"],
                                  s.hparams.encoder_polyak_tau)})

    def decoder_step(s: LearnerState, batch: PixelBatch, key):
        target = reconstruction_target(batch.obs, key, cfg.reconstruction_bits)

        def loss_fn(sub):
            p = {**s.params, **sub}
            h = nets.encode(p, "critic_head", batch.obs, False)
            rec = jnp.mean((nets.decode(p, h) - target) ** 2)
            return rec + cfg.decoder_latent_penalty * jnp.mean(0.5 * jnp.sum(h ** 2, -1))

        sub = _sub(s.params, (*ENCODER_KEYS, "decoder"))
        loss, grads = jax.value_and_grad(loss_fn)(sub)
        enc = _sub(sub, ENCODER_KEYS)
        enc_updates, encoder_opt = encoder_tx.update(_sub(grads, ENCODER_KEYS),
                                                     s.encoder_opt, enc)
        dec_updates, decoder_opt = decoder_tx.update(grads["decoder"], s.decoder_opt,
                                                     sub["decoder"])
        params = {**s.params, **optax.apply_updates(enc, enc_updates),
                  "decoder": optax.apply_updates(sub["decoder"], dec_updates)}
        return s._replace(params=params, encoder_opt=encoder_opt, decoder_opt=decoder_opt), \
            {"ae_loss": loss}

    def update(s: LearnerState, batch: PixelBatch, key: jax.Array, step: jax.Array
               ) -> tuple[LearnerState, dict]:
        """One SGD update on ``batch`` at agent step ``step``; metrics are the losses
        (0 where that part did not run) and the counts ``actor_updates`` /
        ``decoder_updates`` (0 or 1)."""
        k_critic, k_actor, k_dec = jax.random.split(key, 3)
        s, m = critic_step(s, batch, k_critic)
        zeros = {"actor_loss": jnp.zeros(()), "alpha_loss": jnp.zeros(()),
                 "entropy": jnp.zeros(())}
        do_actor = step % cfg.actor_update_every == 0
        s, m_actor = _maybe(do_actor, lambda c: actor_step(c[0], batch, k_actor), (s, zeros))
        do_target = step % cfg.target_update_every == 0
        s = s._replace(target=jax.tree.map(lambda new, old: jnp.where(do_target, new, old),
                                           target_step(s).target, s.target))
        m_dec = {"ae_loss": jnp.zeros(())}
        do_dec = jnp.asarray(cfg.autoencoder) & (step % cfg.decoder_update_every == 0)
        if cfg.autoencoder:
            s, m_dec = _maybe(do_dec, lambda c: decoder_step(c[0], batch, k_dec), (s, m_dec))
        return s, {**m, **m_actor, **m_dec, "batch_reward": jnp.mean(batch.reward),
                   "actor_updates": do_actor.astype(jnp.float32),
                   "decoder_updates": do_dec.astype(jnp.float32)}

    return Learner(init, update, nets, critic_step, actor_step, target_step, decoder_step)


# ------------------------------------------------------------------------------ training
class RunnerState(NamedTuple):
    """One run's training state (add ``[S]`` in front under ``vmap``).

    Attributes:
        learner: ``LearnerState``. buffer: the replay buffer's state.
        env_state: the base env's state (one env). obs: ``[*obs_shape]``, the observation
            to act on. episode_return: ``[]`` float32 return of the current episode so far.
        step: ``[]`` int32 agent steps done (the seed's ``step``). key: PRNG key.
    """

    learner: LearnerState
    buffer: Any
    env_state: Any
    obs: jax.Array
    episode_return: jax.Array
    step: jax.Array
    key: jax.Array


class TrainParts(NamedTuple):
    """``init(key, run_idx=0, hparams=None) -> RunnerState``; ``run_updates(state, n) ->
    (state, metrics [n])`` (any static n); ``act(state, obs [N, *obs_shape]) -> env action
    [N, A]``, the deterministic policy; ``learner``; ``buffer_bytes``: device bytes of one
    run's replay buffer; ``action_repeat``: env steps per agent step."""

    init: Callable
    run_updates: Callable
    act: Callable
    learner: Learner
    buffer_bytes: int
    action_repeat: int


class TrainOutput(NamedTuple):
    runner_state: RunnerState
    metrics: dict           # each [num_updates] (add [S] in front under vmap)


def _action_repeat(env: Any) -> int:
    """The product of the ``repeat`` of every ``ActionRepeat`` in the wrapper chain."""
    from envs_jax.wrappers import ActionRepeat

    r = 1
    while env is not None:
        if isinstance(env, ActionRepeat):
            r *= env.repeat
        env = env.__dict__.get("env")
    return r


def _make_replay(cfg: Config, obs_shape, action_dim: int, episode_length: int):
    """``(init, start_episode(s, obs, where), add(s, obs, a, r, term, next_obs),
    sample(s, key) -> PixelBatch, bytes)`` over the frame buffer (pixels) or flashbax."""
    if cfg.pixels:
        h, w, channels = obs_shape
        frame_c = 3 if channels % 3 == 0 else 1
        k = channels // frame_c
        fb = make_frame_buffer(cfg.replay_buffer_size, 1, (h, w, frame_c), action_dim, k,
                               episode_length)
        newest = lambda o: o[None, ..., -frame_c:]                      # noqa: E731
        return (fb.init,
                lambda s, obs, where: fb.start_episode(s, newest(obs), where[None]),
                lambda s, obs, a, r, term, next_obs: fb.add(s, a[None], r[None], term[None],
                                                            newest(next_obs)),
                lambda s, key: fb.sample(s, key, cfg.sgd_batch_size), fb.bytes_per_seed)
    example = OfflineDataset(jnp.zeros(obs_shape), jnp.zeros(action_dim), jnp.zeros(()),
                             jnp.zeros(obs_shape), jnp.zeros((), bool), jnp.zeros((), bool))
    buf = make_replay_buffer(cfg.replay_buffer_size, 1, cfg.sgd_batch_size, example,
                             add_batches=False)

    def add(s, obs, a, r, term, next_obs):
        return buf.add(s, OfflineDataset(obs.astype(jnp.float32), a, r, next_obs.astype(
            jnp.float32), term, jnp.zeros((), bool)))

    def sample(s, key):
        e = buf.sample(s, key).experience
        return PixelBatch(e.observations, e.actions, e.rewards, e.next_observations,
                          e.terminals)

    item_bytes = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(example))
    return (lambda: buf.init(example), lambda s, obs, where: s, add, sample,
            item_bytes * cfg.replay_buffer_size)


def make_train_parts(cfg: Config, env: Any, env_params: Any) -> TrainParts:
    """Build SAC+AE's pure functions for ``run_sweep`` (nothing compiled).

    Args:
        cfg: the options.
        env: a BASE env of our protocol (no auto-reset; ``envs_jax.pixels.make_pixel_env``):
            ``[S, S, 3k]`` uint8 observations (``FrameStack``'s layout) with
            ``encoder_type="pixel"``, ``[D]`` vectors with ``identity``; a 1-D bounded Box
            action space. One env per run; runs are vmapped by the caller.
        env_params: its params.

    Raises:
        ValueError: the action space is not a 1-D bounded Box, the observations do not fit
            ``encoder_type``, or the replay capacity is below one batch.
    """
    low, high = check_action_space(env.action_space(env_params))
    obs_shape = tuple(env.observation_space(env_params).shape)
    action_dim = low.shape[0]
    require(cfg.replay_buffer_size >= cfg.sgd_batch_size, "replay_buffer_size",
            f"at least sgd_batch_size={cfg.sgd_batch_size}", cfg.replay_buffer_size)
    learner = make_learner(cfg, obs_shape, action_dim)
    episode_length = episode_limit(env, env_params)
    buf_init, buf_start, buf_add, buf_sample, buf_bytes = _make_replay(
        cfg, obs_shape, action_dim, episode_length)
    repeat = _action_repeat(env)
    starts = cfg.learning_starts
    obs_dtype = jnp.uint8 if cfg.pixels else jnp.float32

    def init(key: jax.Array, run_idx: jax.Array | int = 0, hparams: Any = None
             ) -> RunnerState:
        del run_idx
        key_learner, key_env, key_run = jax.random.split(key, 3)
        obs, env_state = env.reset(key_env, env_params)
        obs = obs.astype(obs_dtype)
        buffer = buf_start(buf_init(), obs, jnp.ones((), bool))
        return RunnerState(learner.init(key_learner, obs, hparams), buffer, env_state, obs,
                           jnp.zeros(()), jnp.zeros((), jnp.int32), key_run)

    def act(state: RunnerState, obs: jax.Array) -> jax.Array:
        mu, _ = learner.nets.actor(state.learner.params, obs)
        return rescale_action(jnp.tanh(mu), low, high)

    def sgd_updates(ls: LearnerState, buffer, key, step, count):
        """``count`` updates on fresh batches (a while loop); metric sums and counts."""
        names = ("critic_loss", "q", "actor_loss", "alpha_loss", "entropy", "ae_loss",
                 "batch_reward", "actor_updates", "decoder_updates")

        def body(c):
            i, s, sums = c
            k_sample, k_update = jax.random.split(jax.random.fold_in(key, i))
            s, m = learner.update(s, buf_sample(buffer, k_sample), k_update, step)
            return i + 1, s, {n: sums[n] + m[n] for n in names}

        _, ls, sums = jax.lax.while_loop(lambda c: c[0] < count, body,
                                         (jnp.zeros((), jnp.int32), ls,
                                          {n: jnp.zeros(()) for n in names}))
        return ls, sums

    def evaluate(r: RunnerState, key) -> dict:
        policy = feed_forward(lambda k, obs: act(r, obs))
        stats = evaluate_episodes(env, env_params, policy, key, cfg.num_eval_episodes,
                                  episode_length)
        return {"eval/return": jnp.mean(stats.returns),
                "eval/length": jnp.mean(stats.lengths.astype(jnp.float32))}

    def update_step(r: RunnerState, _) -> tuple[RunnerState, dict]:
        key, k_act, k_sgd, k_env, k_reset, k_eval = jax.random.split(r.key, 6)
        step = r.step
        learning = step >= starts
        mu, log_std = learner.nets.actor(r.learner.params, r.obs[None])
        action = jnp.where(learning, sample_action(mu, log_std, k_act)[0][0],
                           jax.random.uniform(k_act, (action_dim,), minval=-1.0, maxval=1.0))
        count = jnp.where(step == starts, starts, jnp.where(learning, 1, 0))
        ls, sums = sgd_updates(r.learner, r.buffer, k_sgd, step, count)
        ts = env.step(k_env, r.env_state, rescale_action(action, low, high), env_params)
        next_obs = ts.info["final_obs"].astype(obs_dtype)
        reward = ts.reward.astype(jnp.float32)
        buffer = buf_add(r.buffer, r.obs, action, reward, ts.terminated, next_obs)
        done = ts.terminated | ts.truncated
        episode_return = r.episode_return + reward
        obs, env_state = _maybe(done, lambda _: env.reset(k_reset, env_params),
                                (ts.obs, ts.state))
        obs = obs.astype(obs_dtype)
        buffer = buf_start(buffer, obs, done)
        r = RunnerState(ls, buffer, env_state, obs, jnp.where(done, 0.0, episode_return),
                        step + 1, key)
        metrics = {f"{n}_sum": v for n, v in sums.items() if n not in ("actor_updates",
                                                                      "decoder_updates")}
        metrics.update(sgd_steps=count.astype(jnp.float32), actor_updates=sums["actor_updates"],
                       decoder_updates=sums["decoder_updates"],
                       alpha=jnp.exp(ls.log_alpha), learning=learning.astype(jnp.float32),
                       episode_return_sum=jnp.where(done, episode_return, 0.0),
                       episode_count=done.astype(jnp.float32),
                       agent_steps=(step + 1).astype(jnp.float32),
                       env_steps=((step + 1) * repeat).astype(jnp.float32))
        if cfg.eval_every:
            nan = {"eval/return": jnp.full((), jnp.nan), "eval/length": jnp.full((), jnp.nan)}
            metrics.update(_maybe((step + 1) % cfg.eval_every == 0,
                                  lambda _: evaluate(r, k_eval), nan))
        return r, metrics

    def run_updates(state: RunnerState, num: int) -> tuple[RunnerState, dict]:
        return jax.lax.scan(update_step, state, length=num)

    return TrainParts(init, run_updates, act, learner, buf_bytes, repeat)


def make_train(cfg: Config, env: Any, env_params: Any) -> Callable[..., TrainOutput]:
    """``train(key, run_idx=0, hparams=None) -> TrainOutput``: all ``cfg.num_updates``
    agent steps in one traced call; ``jax.jit(jax.vmap(train))(keys [S, 2])`` is a seed
    sweep. Errors as ``make_train_parts``."""
    parts = make_train_parts(cfg, env, env_params)

    def train(key: jax.Array, run_idx: jax.Array | int = 0, hparams: Any = None
              ) -> TrainOutput:
        return TrainOutput(*parts.run_updates(parts.init(key, run_idx, hparams),
                                              cfg.num_updates))

    return train


def buffer_bytes_per_transition(parts: TrainParts, capacity: int) -> float:
    """Device bytes of the replay buffer per stored transition (``buffer_bytes /
    capacity``)."""
    return parts.buffer_bytes / capacity

