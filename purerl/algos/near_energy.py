"""NEAR step 1: a noise-conditioned energy model of demonstration pairs, by denoising score
matching (NCSN).

Sources: Song & Ermon 2019, "Generative Modeling by Estimating Gradients of the Data
Distribution" (NCSN: noise levels sigma_1 > ... > sigma_L, the denoising score-matching
objective of eq. 5-6 weighted by lambda(sigma) = sigma^2); Song & Ermon 2020, "Improved
Techniques for Training Score-Based Generative Models" (NCSNv2: geometric levels, and the
unconditional net whose output is divided by sigma, their technique 3 / eq. 6); Diwan et al.
2025, "NEAR" (ICLR), whose energy net f(x, sigma) is a scalar MLP trained so that its INPUT
gradient matches the score: f acts as a log-density, higher = more expert-like. What the
NEAR code (anishhdiwan/near, motion_ncsn) does is summarised in
``shared/specs/imitation.md`` ("NEAR, step 1") and followed here:

- data: a buffer of ``buffer_size`` demo pairs ``[current, previous]`` is drawn, consumed in
  shuffled batches of ``batch_size``, then redrawn; batches are standardised by a running
  mean / variance (``purerl.common.running_stats``, clip +-5) that takes in every batch
  before normalising it and is frozen (saved) for RL;
- noise levels ``sigma_i``, i = 0..L-1, index 0 the largest: geometric (ncsnv2) or linear
  (ncsnv1) from ``sigma_begin`` to ``sigma_end``;
- net: encoder MLP -> latent -> decoder MLP -> 1, ELU after every hidden layer and on the
  output; ncsnv2 returns ``f / sigma`` (the only noise conditioning), ncsnv1 adds a
  sinusoidal embedding of the level index to the latent; Xavier-uniform weights, bias 0.01;
- loss: a level drawn uniformly per sample, ``x~ = x + sigma eps``,
  ``L = mean_b 0.5 sigma^p || d f(x~, sigma) / d x~ + (x~ - x) / sigma^2 ||^2``
  (``p = anneal_power``, 2 in NCSN);
- optimiser: global-norm clip, then Adam (amsgrad optional, L2 weight decay as torch's
  ``weight_decay``), RMSProp or SGD, as NCSN's ``get_optimizer``; an EMA of the weights
  (NCSN's ``EMAHelper``: ``shadow <- rate * shadow + (1 - rate) * param``) is what RL uses.

Training is ``run_updates(state, n)``: ``n`` rounds, each one buffer draw and its
``buffer_size // batch_size`` SGD steps, all inside one ``lax.scan``; it runs through
``purerl.common.experiment.run_sweep`` (seeds vmapped, checkpoints, resume) from
``purerl-near-energy`` (``purerl/cli/near_energy.py``). ``save_energy_model`` /
``load_energy_model`` write and read the frozen model (EMA weights + normaliser) that NEAR's
step 2 (``purerl.algos.near``) turns into a reward.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from purerl.common import distributed
from purerl.common import running_stats as rs
from purerl.common.polyak import polyak
from purerl.config import check_fields, require, require_positive


@dataclasses.dataclass(frozen=True)
class EnergyConfig:
    """The energy model and its training, in NCSN's names where it has them.

    Defaults are NEAR's humanoid settings (``shared/specs/imitation.md``): 210-d pairs,
    encoder [512, 1024] -> latent 2048, decoder [1024, 512, 128], ncsnv2 levels 20 -> 0.01
    with L = 50, Adam 1e-5, EMA 0.999, 100k iterations of 128 from buffers of 10000.
    """

    in_dim: int = 210
    """Features of one input: a demo pair [current, previous] (2 x obs_dim)."""
    encoder_hidden_layers: tuple[int, ...] = (512, 1024)
    """Encoder widths before the latent layer."""
    latent_space_dim: int = 2048
    """Width of the latent layer (where ncsnv1 adds the level embedding)."""
    decoder_hidden_layers: tuple[int, ...] = (1024, 512, 128)
    """Decoder widths after the latent layer; the output width 1 is added."""
    ncsnv2: bool = True
    """True: geometric levels and output f / sigma (NCSNv2); False: linear levels and a
    sinusoidal level embedding added to the latent (NCSNv1 as NEAR builds it)."""
    sigma_begin: float = 20.0
    """Largest noise level sigma_0 (units of the normalised input)."""
    sigma_end: float = 0.01
    """Smallest noise level sigma_{L-1}."""
    num_levels: int = 50
    """L, the number of noise levels."""
    anneal_power: float = 2.0
    """p of the loss weight sigma^p (2: NCSN's lambda(sigma) = sigma^2)."""
    batch_size: int = 128
    """Demo pairs per SGD step."""
    buffer_size: int = 10000
    """Demo pairs drawn at once; its ``buffer_size // batch_size`` shuffled batches are
    consumed, then a new buffer is drawn."""
    num_rounds: int = 1282
    """Buffer rounds to train (``ceil(n_iters / iterations_per_round)`` from the CLI)."""
    normalize_input: bool = True
    """Standardise inputs by the running mean / variance (clip +-5), frozen for RL."""
    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    """NCSN's ``get_optimizer`` choices."""
    learning_rate: float = 1e-5
    """Step size."""
    beta1: float = 0.9
    """Adam's first-moment decay (beta2 0.999, eps 1e-8 as torch)."""
    amsgrad: bool = False
    """Adam only: AMSGrad's running maximum of the second moment."""
    weight_decay: float = 0.0
    """L2 penalty added to the gradient (torch optimisers' ``weight_decay``)."""
    grad_clip: float | None = 1.0
    """Global gradient-norm clip (None: none)."""
    ema: bool = True
    """Keep an EMA of the weights; the saved model is the EMA (else the raw weights)."""
    ema_rate: float = 0.999
    """EMA decay mu: ``shadow <- mu * shadow + (1 - mu) * params``."""

    def __post_init__(self):
        check_fields(self)
        for name in ("in_dim", "latent_space_dim", "num_levels", "batch_size", "buffer_size",
                     "num_rounds", "learning_rate", "sigma_begin", "sigma_end"):
            require_positive(name, getattr(self, name))
        for name in ("encoder_hidden_layers", "decoder_hidden_layers"):
            require(all(int(w) >= 1 for w in getattr(self, name)), name,
                    "positive layer widths", getattr(self, name))
        require(self.sigma_begin > self.sigma_end, "sigma_begin",
                f"a level above sigma_end={self.sigma_end}", self.sigma_begin)
        require(self.batch_size <= self.buffer_size, "batch_size",
                f"at most buffer_size={self.buffer_size}", self.batch_size)
        require(self.optimizer in ("adam", "rmsprop", "sgd"), "optimizer",
                "'adam', 'rmsprop' or 'sgd'", self.optimizer)
        require(not self.amsgrad or self.optimizer == "adam", "amsgrad",
                "False unless optimizer is adam", self.amsgrad)
        require(0.0 <= self.beta1 < 1.0, "beta1", "a number in [0, 1)", self.beta1)
        require(0.0 <= self.ema_rate < 1.0, "ema_rate", "a number in [0, 1)", self.ema_rate)
        require(self.weight_decay >= 0, "weight_decay", "a non-negative number",
                self.weight_decay)
        if self.grad_clip is not None:
            require_positive("grad_clip", self.grad_clip)

    @property
    def iterations_per_round(self) -> int:
        """SGD steps per buffer: ``buffer_size // batch_size`` (the remainder is unused)."""
        return self.buffer_size // self.batch_size

    @property
    def sigmas(self) -> np.ndarray:
        """``[L]`` float32 noise levels, largest first (``noise_levels``)."""
        return noise_levels(self.sigma_begin, self.sigma_end, self.num_levels,
                            "geometric" if self.ncsnv2 else "linear")


def noise_levels(sigma_begin: float, sigma_end: float, num_levels: int,
                 spacing: Literal["geometric", "linear"]) -> np.ndarray:
    """The noise levels ``[L]`` float32, ``sigma_0 = sigma_begin`` down to ``sigma_end``.

    Geometric (NCSN / NCSNv2, Song & Ermon 2019 sec. 4.2, 2020 technique 2):
    ``sigma_i = exp(log b + i (log e - log b) / (L - 1))``, a constant ratio
    ``sigma_{i+1} / sigma_i = (e / b)^(1 / (L - 1))``; linear (NEAR's ncsnv1):
    ``sigma_i = b + i (e - b) / (L - 1)``. ``L = 1`` gives ``[b]``.

    Raises:
        ValueError: non-positive levels, ``sigma_end >= sigma_begin``, ``L < 1`` or an
            unknown ``spacing``.
    """
    require(sigma_begin > sigma_end > 0, "sigma_end", f"a number in (0, sigma_begin="
            f"{sigma_begin})", sigma_end)
    require(int(num_levels) >= 1, "num_levels", "a positive integer", num_levels)
    if spacing == "geometric":
        return np.exp(np.linspace(np.log(sigma_begin), np.log(sigma_end), num_levels)
                      ).astype(np.float32)
    require(spacing == "linear", "spacing", "'geometric' or 'linear'", spacing)
    return np.linspace(sigma_begin, sigma_end, num_levels).astype(np.float32)


def level_embedding(level: jax.Array, dim: int) -> jax.Array:
    """Transformer sinusoidal embedding of integer level indices: ``[...] -> [..., dim]``.

    ``[sin(i w_k), cos(i w_k)]`` with ``w_k = 10000^(-k / (dim/2 - 1))``, k < dim/2 (an odd
    ``dim`` gets a trailing 0), as DDPM's ``get_timestep_embedding`` (Ho et al. 2020).
    """
    half = dim // 2
    freq = jnp.exp(-math.log(10000.0) * jnp.arange(half) / max(half - 1, 1))
    angle = jnp.asarray(level, jnp.float32)[..., None] * freq
    emb = jnp.concatenate([jnp.sin(angle), jnp.cos(angle)], axis=-1)
    return jnp.pad(emb, [(0, 0)] * (emb.ndim - 1) + [(0, dim - 2 * half)])


class EnergyNet(nn.Module):
    """NEAR's energy net ``f(x, sigma)``: ``x [..., D]``, ``sigma [...]``, ``level [...]``
    (int32 index of sigma) -> ``[...]`` float32.

    Dense layers with Xavier-uniform weights and bias 0.01; ELU after every hidden layer
    (encoder layers, the latent, decoder layers) and on the scalar output, so
    ``f >= -1 / sigma`` with ncsnv2 (-100 at sigma 0.01).
    """

    encoder_hidden_layers: tuple[int, ...]
    latent_space_dim: int
    decoder_hidden_layers: tuple[int, ...]
    ncsnv2: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, sigma: jax.Array, level: jax.Array) -> jax.Array:
        dense = lambda w: nn.Dense(w, kernel_init=nn.initializers.xavier_uniform(),  # noqa
                                   bias_init=nn.initializers.constant(0.01))
        h = x
        for width in self.encoder_hidden_layers:
            h = nn.elu(dense(width)(h))
        h = dense(self.latent_space_dim)(h)
        if not self.ncsnv2:
            h = h + level_embedding(level, self.latent_space_dim)
        h = nn.elu(h)
        for width in self.decoder_hidden_layers:
            h = nn.elu(dense(width)(h))
        f = nn.elu(dense(1)(h))[..., 0]
        return f / sigma if self.ncsnv2 else f


def make_net(cfg: EnergyConfig) -> EnergyNet:
    return EnergyNet(tuple(cfg.encoder_hidden_layers), cfg.latent_space_dim,
                     tuple(cfg.decoder_hidden_layers), cfg.ncsnv2)


EnergyFn = Callable[[Any, jax.Array, jax.Array], jax.Array]
"""``energy_fn(params, x [B, D], level [B] int32) -> f [B]``."""


def dsm_loss(energy_fn: EnergyFn, params: Any, x: jax.Array, level: jax.Array,
             noise: jax.Array, sigmas: jax.Array, anneal_power: float | jax.Array = 2.0
             ) -> jax.Array:
    """Denoising score matching of an energy's input gradient, one scalar.

    ``x~ = x + sigma_l eps``; the score model is ``s(x~) = d f(x~, sigma_l) / d x~`` and its
    DSM target ``-(x~ - x) / sigma_l^2 = -eps / sigma_l`` (Vincent 2011; Song & Ermon 2019
    eq. 5-6), weighted by ``sigma_l^p``:
    ``L = mean_b 0.5 sigma_l^p || s(x~_b) + (x~_b - x_b) / sigma_l^2 ||^2``
    (NCSN's ``anneal_dsm_score_estimation``; NEAR's energy version).

    Args:
        energy_fn: ``(params, x [B, D], level [B]) -> [B]``, samples independent.
        params: its parameters.
        x: ``[B, D]`` clean (normalised) inputs.
        level: ``[B]`` int32 noise-level index of each sample.
        noise: ``[B, D]`` standard normal eps.
        sigmas: ``[L]`` noise levels.
        anneal_power: p.

    Returns:
        ``[]`` float32 loss.
    """
    sigma = sigmas[level][:, None]                                      # [B, 1]
    noisy = x + sigma * noise
    score = jax.grad(lambda z: energy_fn(params, z, level).sum())(noisy)  # [B, D]
    err = score + (noisy - x) / sigma ** 2
    return jnp.mean(0.5 * jnp.sum(err ** 2, axis=-1) * sigma[:, 0] ** anneal_power)


class EnergyState(NamedTuple):
    """Training state of the energy model: checkpointing this resumes training."""

    params: Any
    opt_state: Any
    ema_params: Any          # EMA weights (== params when ema is off)
    norm_stats: rs.RunningStats  # running statistics of the inputs [D]
    key: jax.Array
    round_idx: jax.Array     # int32, rounds done


class EnergyParts(NamedTuple):
    """``init(key, run_idx) -> EnergyState``; ``run_updates(state, n) -> (state, metrics [n])``
    (one update = one buffer round): ``run_sweep``'s contract."""

    init: Callable[..., EnergyState]
    run_updates: Callable[[EnergyState, int], tuple[EnergyState, dict]]
    net: EnergyNet
    tx: optax.GradientTransformation


DemoSampler = Callable[[jax.Array, int], jax.Array]
"""``sample_demos(key, n) -> [n, in_dim]`` float32 demo pairs (jittable; n static)."""


def make_optimizer(cfg: EnergyConfig) -> optax.GradientTransformation:
    """Clip, L2 decay (torch's ``weight_decay``), then Adam / AMSGrad / RMSProp / SGD."""
    if cfg.optimizer == "adam":
        opt = (optax.amsgrad if cfg.amsgrad else optax.adam)(cfg.learning_rate, b1=cfg.beta1,
                                                             b2=0.999, eps=1e-8)
    elif cfg.optimizer == "rmsprop":
        opt = optax.rmsprop(cfg.learning_rate, decay=0.99, eps=1e-8)   # torch defaults
    else:
        opt = optax.sgd(cfg.learning_rate, momentum=0.9)               # NCSN's SGD
    parts = [optax.clip_by_global_norm(cfg.grad_clip)] if cfg.grad_clip is not None else []
    if cfg.weight_decay > 0:
        parts.append(optax.add_decayed_weights(cfg.weight_decay))
    return optax.chain(*parts, opt)


def make_energy_train_parts(cfg: EnergyConfig, sample_demos: DemoSampler) -> EnergyParts:
    """The traced pieces of energy-model training (module docstring).

    Args:
        cfg: the model and its training.
        sample_demos: draws ``[n, in_dim]`` demo pairs (called once per round with
            ``n = buffer_size``).

    Returns:
        ``EnergyParts``; ``init`` and ``run_updates`` are pure, ready for jit / vmap.

    Raises:
        ValueError: ``sample_demos`` does not return ``[buffer_size, in_dim]`` floats
            (checked by tracing it once; nothing runs).
    """
    shape = jax.eval_shape(lambda k: sample_demos(k, cfg.buffer_size), jax.random.PRNGKey(0))
    require(tuple(shape.shape) == (cfg.buffer_size, cfg.in_dim), "in_dim",
            f"the demo pairs' width (sample_demos gives {tuple(shape.shape)} for "
            f"{cfg.buffer_size} pairs)", cfg.in_dim)
    net, tx = make_net(cfg), make_optimizer(cfg)
    sigmas = jnp.asarray(cfg.sigmas)
    per_round, batch = cfg.iterations_per_round, cfg.batch_size

    def energy_fn(params, x, level):
        return net.apply(params, x, sigmas[level], level)

    def init(key: jax.Array, run_idx: jax.Array | int = 0) -> EnergyState:
        key, key_net = jax.random.split(key)
        params = net.init(key_net, jnp.zeros((1, cfg.in_dim)), sigmas[:1],
                          jnp.zeros((1,), jnp.int32))
        return EnergyState(params, tx.init(params), params, rs.init((cfg.in_dim,)), key,
                           jnp.zeros((), jnp.int32))

    def sgd_step(s: EnergyState, xs):
        x, key = xs
        stats = s.norm_stats
        if cfg.normalize_input:
            stats = rs.update(stats, x)
            x = rs.normalize(stats, x)
        key_level, key_noise = jax.random.split(key)
        level = jax.random.randint(key_level, (batch,), 0, cfg.num_levels)
        noise = jax.random.normal(key_noise, x.shape)
        loss, grads = jax.value_and_grad(dsm_loss, argnums=1)(
            energy_fn, s.params, x, level, noise, sigmas, cfg.anneal_power)
        updates, opt_state = tx.update(grads, s.opt_state, s.params)
        params = optax.apply_updates(s.params, updates)
        ema = polyak(s.ema_params, params, 1.0 - cfg.ema_rate) if cfg.ema else params
        return s._replace(params=params, opt_state=opt_state, ema_params=ema,
                          norm_stats=stats), {"dsm_loss": loss,
                                              "grad_norm": optax.tree.norm(grads)}

    def round_step(s: EnergyState, _):
        key, key_buf, key_perm, key_steps = jax.random.split(s.key, 4)
        buffer = sample_demos(key_buf, cfg.buffer_size).astype(jnp.float32)
        idx = jax.random.permutation(key_perm, cfg.buffer_size)[:per_round * batch]
        batches = buffer[idx].reshape(per_round, batch, cfg.in_dim)
        s, m = jax.lax.scan(sgd_step, s._replace(key=key),
                            (batches, jax.random.split(key_steps, per_round)))
        s = s._replace(round_idx=s.round_idx + 1)
        return s, {**jax.tree.map(jnp.mean, m),
                   "iterations": (s.round_idx * per_round).astype(jnp.float32)}

    def run_updates(state: EnergyState, num: int) -> tuple[EnergyState, dict]:
        return jax.lax.scan(round_step, state, length=num)

    return EnergyParts(init, run_updates, net, tx)


# ------------------------------------------------------------------------ the frozen model

class FrozenEnergy(NamedTuple):
    """The arrays of a trained energy model (a pytree: it may ride in a training state)."""

    params: Any               # the EMA weights
    norm_stats: rs.RunningStats  # frozen input statistics [D]
    sigmas: jax.Array         # [L] float32 noise levels


@dataclasses.dataclass(frozen=True)
class EnergyModel:
    """A trained energy model: static config + ``arrays`` (``FrozenEnergy``)."""

    cfg: EnergyConfig
    arrays: FrozenEnergy

    def energy(self, arrays: FrozenEnergy, x: jax.Array, level: jax.Array) -> jax.Array:
        """``f(norm(x), sigma_level)``: raw pairs ``[..., D]``, level int32 ``[]`` or
        ``[...]`` -> ``[...]`` float32. ``arrays`` is passed explicitly so a traced copy
        (e.g. in ``RunnerState.aux``) is used rather than a constant."""
        if self.cfg.normalize_input:
            x = rs.normalize(arrays.norm_stats, x)
        level = jnp.broadcast_to(jnp.asarray(level, jnp.int32), x.shape[:-1])
        return make_net(self.cfg).apply(arrays.params, x, arrays.sigmas[level], level)


ENERGY_PARAMS, NORMALIZER = "energy_params", "normalizer.json"
"""What ``save_energy_model`` writes in a run directory, beside its config.json."""


def save_energy_model(path: str, cfg: EnergyConfig, state: EnergyState) -> None:
    """Write the frozen model of every run of a sweep into the run directory ``path``.

    ``energy_params/``: the EMA weights (``[S, ...]``, orbax); ``normalizer.json``: each
    run's frozen input mean / variance / count, the clip and eps, and the energy config
    (``model`` block), which ``load_energy_model`` reads.
    """
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as saver:       # every process (orbax multi-host)
        saver.save(os.path.abspath(os.path.join(path, ENERGY_PARAMS)),
                   distributed.to_host(state.ema_params), force=True)
    stats = distributed.to_host(state.norm_stats)
    if not distributed.is_writer():                 # process 0 writes the JSON
        return
    doc = {"normalize_input": cfg.normalize_input, "clip": 5.0, "eps": rs.EPS,
           "runs": [{"mean": np.asarray(stats.mean[i]).tolist(),
                     "var": np.asarray(stats.var[i]).tolist(),
                     "count": float(stats.count[i])} for i in range(stats.count.shape[0])],
           "model": {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in dataclasses.asdict(cfg).items()}}
    tmp = os.path.join(path, NORMALIZER + ".tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, os.path.join(path, NORMALIZER))


def load_energy_model(path: str, run_index: int = 0) -> EnergyModel:
    """The frozen energy model of run ``run_index`` of a ``purerl-near-energy`` run dir.

    Raises:
        ValueError: ``path`` holds no finished energy model (names the missing file), or
            ``run_index`` is not one of its runs.
    """
    import orbax.checkpoint as ocp

    norm_path = os.path.join(path, NORMALIZER)
    params_path = os.path.abspath(os.path.join(path, ENERGY_PARAMS))
    for needed in (norm_path, params_path):
        require(os.path.exists(needed), "near_energy_run", "a purerl-near-energy run "
                f"directory with a trained model ({needed} is missing)", path)
    with open(norm_path) as f:
        doc = json.load(f)
    model = {k: tuple(v) if isinstance(v, list) else v for k, v in doc["model"].items()}
    cfg = EnergyConfig(**model)
    runs = doc["runs"]
    require(0 <= run_index < len(runs), "near_energy_index",
            f"a run of {path} (0..{len(runs) - 1})", run_index)
    net = make_net(cfg)
    one = jax.eval_shape(net.init, jax.random.PRNGKey(0), jnp.zeros((1, cfg.in_dim)),
                         jnp.ones((1,)), jnp.zeros((1,), jnp.int32))
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct((len(runs), *a.shape), a.dtype),
                            one)
    params = ocp.StandardCheckpointer().restore(params_path, abstract)
    params = jax.tree.map(lambda x: jnp.asarray(x[run_index]), params)
    run = runs[run_index]
    stats = rs.RunningStats(jnp.asarray(run["mean"], jnp.float32),
                            jnp.asarray(run["var"], jnp.float32),
                            jnp.asarray(run["count"], jnp.float32))
    return EnergyModel(cfg, FrozenEnergy(params, stats, jnp.asarray(cfg.sigmas)))


# ------------------------------------------------------------------------ demo pairs

def obs_pair(obs: jax.Array, next_obs: jax.Array) -> jax.Array:
    """The energy model's input for a step ``s_t -> s_{t+1}``: ``[s_{t+1}, s_t]``
    (``[..., 2 * obs_dim]``), AMP's ``[current, previous]`` order, on both the demo and the
    agent side."""
    return jnp.concatenate([next_obs, obs], axis=-1)


def expert_demo_pairs(env_id: str, expert: Callable[[jax.Array], jax.Array], key: jax.Array,
                      num_envs: int, num_steps: int) -> jax.Array:
    """``[num_envs * num_steps, 2 * obs_dim]`` pairs of a scripted expert on an env.

    ``num_envs`` auto-resetting envs act ``expert(obs [N, ...]) -> action`` for
    ``num_steps`` steps; every step gives ``obs_pair(obs, final_obs)`` (the true next
    observation, also at episode ends). Builds the env, so call it outside ``jax.jit``
    (the rollout itself is compiled).
    """
    import envs_jax
    from envs_jax.policy import feed_forward, init_carry, rollout
    from envs_jax.wrappers import vec_env

    env, params = envs_jax.make(env_id)          # outside jit: env construction is Python
    vec = vec_env(env_id, env, num_envs)
    policy = feed_forward(lambda k, obs: expert(obs))

    @jax.jit
    def pairs_of(key):
        key_reset, key_roll = jax.random.split(key)
        carry = init_carry(vec, params, policy, key_reset, num_envs)
        _, traj = rollout(vec, params, policy, carry, key_roll, num_steps)
        pairs = obs_pair(traj.obs, traj.next_obs)
        return pairs.reshape(-1, pairs.shape[-1])

    return pairs_of(key)


def array_sampler(data: jax.Array) -> DemoSampler:
    """Uniform draws (with replacement) from a fixed ``[M, D]`` array of demo pairs."""
    data = jnp.asarray(data, jnp.float32)
    return lambda key, n: data[jax.random.randint(key, (n,), 0, data.shape[0])]
