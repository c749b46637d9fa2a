"""PPO for discrete actions, feed-forward or recurrent, compiled end to end.

Source: Schulman et al. 2017, "Proximal Policy Optimization Algorithms" (clipped surrogate,
eq. 7; value + entropy terms, eq. 9), with the implementation details of Huang et al. 2022,
"The 37 Implementation Details of PPO" (advantage normalisation per minibatch, clipped
value loss, global-norm gradient clipping, linear annealing).

The whole of training (rollouts, GAE, epochs x minibatches) is ``jax.lax.scan``s inside
one traced function::

    parts = make_train_parts(cfg, env, env_params, net)
    state = parts.init(key)                        # RunnerState
    state, metrics = parts.run_updates(state, n)   # n PPO updates, metrics [n]

``make_train(...)`` wraps both into ``train(key) -> TrainOutput`` so a seed sweep is
``jax.jit(jax.vmap(train))(keys)``. Recurrent nets keep their state across rollouts; it
is reset wherever the previous step ended an episode (for RL^2: a trial).

Hyperparameters come in two kinds (as in rejax): those that fix shapes or control flow
(``num_envs``, ``num_steps``, ``clip_value`` ...) are static fields of ``PPOConfig``; the
float ones (``PPOHyperparams``: learning rate, gamma, gae_lambda, clip_eps, coefficients)
are *traced*: ``init(key, seed_idx, hparams)`` stores them in the ``RunnerState``, so
``jax.vmap`` runs a grid of them x seeds in one compiled call (``purerl.common.sweep``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import distrax
import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from envs_jax.core import Environment
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
    """Minibatches per epoch. Recurrent policies split along envs (whole sequences)."""
    update_epochs: int = 4
    """Passes over each rollout batch."""
    learning_rate: float = 3e-4
    """Adam step size."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over ``num_updates``."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_eps: float = 0.2
    """PPO ratio clip epsilon (also the value-clip range)."""
    anneal_clip: bool = False
    """Decay ``clip_eps`` linearly to 0 over ``num_updates`` (the seed project does)."""
    clip_value: bool = True
    """Use the clipped value loss (PPO2 style). Its range is ``clip_eps`` in reward
    units, so with returns in the hundreds either scale rewards or turn this off."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this for GAE and the value targets only (logged returns
    and the agent's reward input stay raw)."""
    vf_coef: float = 0.5
    """Value-loss coefficient."""
    ent_coef: float = 0.01
    """Entropy-bonus coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    target_kl: float = 0.0
    """Stop an update's remaining epochs once the epoch's mean approximate KL exceeds
    ``1.5 * target_kl`` (the seed project's rule). 0 disables."""
    log_every: int = 0
    """Print a progress line every this many updates through ``jax.debug.callback``
    (0 compiles no callback)."""

    def __post_init__(self):
        for name in ("num_envs", "num_steps", "num_updates", "num_minibatches",
                     "update_epochs", "learning_rate", "max_grad_norm"):
            require_positive(name, getattr(self, name))
        require(self.num_envs % self.num_minibatches == 0, "num_minibatches",
                f"a divisor of num_envs={self.num_envs} (minibatches are whole sequences)",
                self.num_minibatches)
        require_unit_interval("gamma", self.gamma)
        require_unit_interval("gae_lambda", self.gae_lambda)
        require(0.0 < self.clip_eps < 1.0, "clip_eps", "a number in (0, 1)", self.clip_eps)
        for name in ("vf_coef", "ent_coef", "target_kl", "log_every"):
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


SWEEPABLE: tuple[str, ...] = PPOHyperparams._fields
"""Names a hyperparameter sweep may vary without recompiling."""


def hyperparams_from(cfg: PPOConfig) -> PPOHyperparams:
    """``cfg``'s traced hyperparameters as float32 scalars."""
    return PPOHyperparams(*(jnp.float32(getattr(cfg, f)) for f in SWEEPABLE))


class Transition(NamedTuple):
    """One rollout step, stacked to ``[T, N, ...]`` by the scan."""

    obs: jax.Array          # [T, N, obs_dim] input at t
    reset: jax.Array        # [T, N] bool, recurrent state zeroed before obs[t]
    action: jax.Array       # [T, N] int32
    log_prob: jax.Array     # [T, N] log pi(a_t | history) at collection time
    value: jax.Array        # [T, N] V(s_t)
    next_value: jax.Array   # [T, N] V(s_{t+1}) of info["final_obs"] (bootstrap)
    reward: jax.Array       # [T, N]
    terminated: jax.Array   # [T, N] bool
    done: jax.Array         # [T, N] bool, terminated | truncated
    info: dict              # episode statistics from RecordEpisodeStats


class RunnerState(NamedTuple):
    """Everything that evolves during training: checkpointing this resumes a run."""

    train_state: TrainState
    env_state: Any
    obs: jax.Array          # [N, obs_dim] next input
    reset: jax.Array        # [N] bool, previous step ended an episode
    hidden: Any             # [N, H] recurrent state before obs (or a pytree, env axis first)
    key: jax.Array          # PRNG key (raw uint32[2])
    update_idx: jax.Array   # int32 scalar, updates done so far
    seed_idx: jax.Array     # int32 scalar, which run of a sweep (run 0 prints progress)
    hparams: PPOHyperparams  # traced hyperparameters of this run


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


def ppo_loss(params, apply_fn, batch: Transition, hidden0, advantages, targets,
             clip_eps, vf_coef, ent_coef, clip_value: bool = True):
    """Clipped-surrogate PPO loss on one minibatch of whole sequences.

    Args:
        params: network parameters.
        apply_fn: ``(params, hidden, obs, reset) -> (hidden, logits, value)``.
        batch: ``Transition`` with leaves ``[T, M, ...]``.
        hidden0: ``[M, H]`` recurrent state before ``batch.obs[0]``.
        advantages, targets: ``[T, M]`` from GAE.
        clip_eps: current clip range (may be annealed); float or traced scalar.
        vf_coef, ent_coef: value and entropy coefficients (float or traced scalar).
        clip_value: use the clipped value loss (static).

    Returns:
        ``(loss, aux)`` with aux = dict of pg_loss, vf_loss, entropy, approx_kl, clip_frac.
        The value term is ``0.5 * max((V - R)^2, (V_clip - R)^2)``: correct sign and a
        single square (the seed project has both wrong); the entropy is the mean over
        every state of the minibatch (the seed takes the last sample's only).
    """
    _, logits, value = apply_fn(params, hidden0, batch.obs, batch.reset)
    dist = distrax.Categorical(logits=logits)
    log_prob = dist.log_prob(batch.action)
    log_ratio = log_prob - batch.log_prob
    ratio = jnp.exp(log_ratio)
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
    return loss, aux


def make_train_parts(cfg: PPOConfig, env: Environment, env_params: Any, net) -> TrainParts:
    """Build the traced pieces of PPO for a vectorised env and an actor-critic net.

    Args:
        cfg: PPO hyperparameters.
        env: an env with leading ``[N]`` batch, i.e.
            ``VecEnv(AutoReset(RecordEpisodeStats(base)), cfg.num_envs)`` (auto-resets;
            its ``info`` carries ``final_obs``, ``returned_episode``, ``episode_return``).
        env_params: params for ``env`` (shared by all N envs unless the VecEnv is batched).
        net: a ``purerl.common.networks`` actor-critic with ``initial_hidden(N)``.

    Returns:
        ``TrainParts(init, run_updates)``; pure functions of their inputs, ready for
        ``jax.jit`` / ``jax.vmap``.
    """
    n_envs, n_steps = cfg.num_envs, cfg.num_steps

    def make_tx(learning_rate, max_grad_norm):
        return optax.chain(optax.clip_by_global_norm(max_grad_norm),
                           optax.adam(learning_rate, eps=1e-5))

    # Built once: its functions are static metadata of TrainState, so a TrainState made
    # by another ``init`` call must carry the very same objects to hit the compile cache.
    # inject_hyperparams keeps the learning rate and the clip norm in the optimiser STATE:
    # they can be traced (swept under vmap), annealing is a function of the update
    # counter, and both survive checkpoint/resume.
    tx = optax.inject_hyperparams(make_tx)(learning_rate=cfg.learning_rate,
                                           max_grad_norm=cfg.max_grad_norm)

    def init(key: jax.Array, seed_idx: jax.Array | int = 0,
             hparams: PPOHyperparams | None = None) -> RunnerState:
        hp = hyperparams_from(cfg) if hparams is None else PPOHyperparams(
            *(jnp.asarray(v, jnp.float32) for v in hparams))
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
        return RunnerState(train_state, env_state, obs, reset, hidden, key,
                           jnp.zeros((), jnp.int32), jnp.asarray(seed_idx, jnp.int32), hp)

    # V(s_{t+1}) must come from the true next obs (info["final_obs"]) so truncated episodes
    # bootstrap correctly. With an array-valued recurrent state (MLP dummy, GRU) we keep
    # final_obs and the post-step state and evaluate all T x N of them in ONE batched call
    # after the rollout: a second small forward pass inside every env step was ~10% of
    # CartPole's wall-clock. Pytree states (SNAIL's cache) are too big to stack over T, so
    # those nets bootstrap inside the step.
    batched_bootstrap = isinstance(net.initial_hidden(1), jax.Array)

    def env_step(params, r: RunnerState, _):
        key, key_act, key_step = jax.random.split(r.key, 3)
        hidden, logits, value = net.apply(params, r.hidden, r.obs[None], r.reset[None])
        dist = distrax.Categorical(logits=logits[0])
        action = dist.sample(seed=key_act)
        ts = env.step(key_step, r.env_state, action, params=env_params)
        final_obs = ts.info["final_obs"]
        if batched_bootstrap:
            next_value, extra = jnp.zeros_like(value[0]), (final_obs, hidden)
        else:
            next_value, extra = _values(params, hidden, final_obs[None])[0], ()
        done = ts.terminated | ts.truncated
        stats = {k: ts.info[k] for k in ("returned_episode", "episode_return", "episode_length")}
        transition = Transition(r.obs, r.reset, action, dist.log_prob(action), value[0],
                                next_value, ts.reward, ts.terminated, done, stats)
        return r._replace(env_state=ts.state, obs=ts.obs, reset=done, hidden=hidden,
                          key=key), (transition, extra)

    def _values(params, hidden, obs):
        """V of ``obs [T', M, ...]`` with the recurrent state ``hidden [M, ...]`` (no reset)."""
        return net.apply(params, hidden, obs, jnp.zeros(obs.shape[:2], bool))[2]

    def rollout(r: RunnerState) -> tuple[RunnerState, Transition]:
        # The params are a loop constant of the rollout, not part of its scan carry: a
        # carried train state got copied at every env step under vmap (copy insertion),
        # which made vmapped seeds slower per step than one seed.
        params, small = r.train_state.params, r._replace(train_state=None)
        small, (traj, extra) = jax.lax.scan(functools.partial(env_step, params), small,
                                            length=n_steps)
        r = small._replace(train_state=r.train_state)
        if batched_bootstrap:
            final_obs, hidden = extra                        # [T, N, ...] each
            flat = lambda x: x.reshape(n_steps * n_envs, *x.shape[2:])  # noqa: E731
            values = _values(r.train_state.params, flat(hidden), flat(final_obs)[None])
            traj = traj._replace(next_value=values.reshape(n_steps, n_envs))
        return r, traj

    def update_step(r: RunnerState, _) -> tuple[RunnerState, dict]:
        hp = r.hparams
        frac = 1.0 - r.update_idx.astype(jnp.float32) / cfg.num_updates
        train_state = r.train_state
        if cfg.anneal_lr:
            opt_state = train_state.opt_state
            hyper = {**opt_state.hyperparams, "learning_rate": hp.learning_rate * frac}
            train_state = train_state.replace(opt_state=opt_state._replace(hyperparams=hyper))
        clip_eps = hp.clip_eps * frac if cfg.anneal_clip else hp.clip_eps

        hidden0 = r.hidden
        r, traj = rollout(r)
        adv, targets = gae(traj.reward * hp.reward_scale, traj.value, traj.next_value,
                           traj.terminated, traj.done, hp.gamma, hp.gae_lambda)
        batch = traj._replace(info={})

        def update_minibatch(ts: TrainState, idx):
            take = lambda x: jnp.take(x, idx, axis=1)  # noqa: E731  (env axis is 1)
            grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)
            # hidden may be a pytree (e.g. SNAIL's context cache), env axis first.
            hidden_mb = jax.tree.map(lambda h: h[idx], hidden0)
            (_, aux), grads = grad_fn(ts.params, net.apply, jax.tree.map(take, batch),
                                      hidden_mb, take(adv), take(targets), clip_eps,
                                      hp.vf_coef, hp.ent_coef, cfg.clip_value)
            return ts.apply_gradients(grads=grads), aux

        def update_epoch(c: EpochCarry, _) -> tuple[EpochCarry, dict]:
            key, key_perm = jax.random.split(c.key)
            # Minibatches are sets of whole env sequences: the GRU needs time intact.
            perm = jax.random.permutation(key_perm, n_envs).reshape(cfg.num_minibatches, -1)
            new_state, aux = jax.lax.scan(update_minibatch, c.train_state, perm)
            aux = jax.tree.map(jnp.mean, aux)
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
            "learning_rate": train_state.opt_state.hyperparams["learning_rate"],
            **losses,
            "epochs_run": epochs_run,
        }
        r = r._replace(train_state=carry.train_state, key=key, update_idx=r.update_idx + 1)
        if cfg.log_every > 0:
            jax.debug.callback(_print_progress, r.seed_idx, r.update_idx, metrics,
                               cfg.num_updates, cfg.log_every)
        return r, metrics

    def run_updates(state: RunnerState, num: int) -> tuple[RunnerState, dict]:
        return jax.lax.scan(update_step, state, length=num)

    return TrainParts(init, run_updates)


def make_train(cfg: PPOConfig, env: Environment, env_params: Any, net
               ) -> Callable[[jax.Array], TrainOutput]:
    """``train(key) -> TrainOutput``: all ``cfg.num_updates`` updates in one traced call.

    A seed sweep is ``jax.jit(jax.vmap(train))(jax.random.split(key, S), jnp.arange(S))``
    (``seed_idx`` only selects which seed prints progress); metrics are ``[S, num_updates]``.
    """
    parts = make_train_parts(cfg, env, env_params, net)

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
