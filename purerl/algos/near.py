"""NEAR step 2: PPO on the reward of a trained energy model (``dmp_continuous`` in the seed).

Source: Diwan et al. 2025, "NEAR: Noise-conditioned Energy-based Annealed Rewards" (ICLR),
as its code (anishhdiwan/near, ``dmp_continuous``) does it, summarised in
``shared/specs/imitation.md`` ("NEAR, step 2"). The energy model is step 1's
(``purerl.algos.near_energy``), frozen. Every PPO update, after the rollout:

1. anneal the noise level c (``sigma_level = -1``: the ncsnv2-adaptive rule, ``anneal``;
   ``sigma_level >= 0``: that level, fixed);
2. ``e = f_EMA(norm(x), sigma_c)`` on the rollout's pairs ``x = [s_{t+1}, s_t]``;
3. ``r_style = tanh((e + sum(offsets) - m) / 10)``, ``m`` the mean of the last <= 3 stored
   energy tensors, refreshed at update 1 and every 3rd update (``style_reward``);
4. ``r = task_reward_w * r_task + energy_reward_w * r_style``: the reward GAE sees.

It is built on PPO's seams (``purerl.algos.ppo`` module docstring): ``aux_init`` puts the
frozen energy arrays and the annealing state in ``RunnerState.aux`` (so a checkpoint holds
everything a resume needs), ``aux_update`` runs steps 1-3 once per update, ``reward_fn``
mixes the rewards (step 4) and ``extra_loss`` (a zero loss) logs the level, the energy and
the style reward as ``extra/near_*``. One compiled train function; seeds vmap as any PPO.

Defects of the original that are not copied (spec, "Known defects" 6 and 7):

- the rewards are mixed BEFORE GAE's time-out bootstrap: PPO bootstraps a truncated
  episode from ``V(final_obs)`` in GAE whatever the weights (the original added
  ``gamma V`` to the task reward, then multiplied it by ``task_reward_w = 0``);
- the level goes up once the moving average passes ``E0 + 0.02 |E0|`` (the original's
  ``1.02 E0`` means "fell by 2%" when ``E0 < 0``, which ncsnv2's ``f / sigma`` reaches).

The reward offsets belong to the original's other annealing modes ("adaptive",
"non-decreasing"), which are not offered; here their sum is 0 (``style_reward`` takes it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl.algos.near_energy import EnergyModel, FrozenEnergy, obs_pair
from purerl.config import check_fields, require, require_positive


@dataclasses.dataclass(frozen=True)
class NEARConfig:
    """NEAR's reward (the seed's ``near_config.inference`` keys and the rule's constants)."""

    task_reward_w: float = 0.0
    """Weight of the env's reward (0 in NEAR: pure style)."""
    energy_reward_w: float = 1.0
    """Weight of the energy (style) reward."""
    sigma_level: int = -1
    """-1: ncsnv2-adaptive annealing from level 0; 0..L-1: that noise level, fixed."""
    anneal_window: int = 3
    """Updates in the moving average of the energy at the current level."""
    anneal_threshold: float = 0.02
    """Go up a level once that average reaches E0 + threshold * |E0|."""
    reward_window: int = 3
    """Stored energy tensors whose mean is m."""
    reward_refresh_every: int = 3
    """m is recomputed at update 1 and every this many updates."""
    reward_temperature: float = 10.0
    """The divisor inside the tanh."""

    def __post_init__(self):
        check_fields(self)
        require(self.sigma_level >= -1, "sigma_level", "-1 (annealing) or a level index",
                self.sigma_level)
        for name in ("anneal_window", "reward_window", "reward_refresh_every",
                     "reward_temperature"):
            require_positive(name, getattr(self, name))
        require(self.anneal_threshold >= 0, "anneal_threshold", "a non-negative number",
                self.anneal_threshold)


class NEARState(NamedTuple):
    """``RunnerState.aux`` of NEAR: the frozen model and the annealing / reward state."""

    energy: FrozenEnergy    # frozen energy arrays (never trained here)
    level: jax.Array        # int32, current noise level c
    e_hist: jax.Array       # [anneal_window] mean energies at c, a ring
    e_count: jax.Array      # int32, updates seen at c
    e0: jax.Array           # float32, first mean energy at c
    r_hist: jax.Array       # [reward_window] mean stored energies, a ring
    r_count: jax.Array      # int32, energies stored
    m: jax.Array            # float32, the reward's centre
    update: jax.Array       # int32, updates done
    energy_mean: jax.Array  # float32, this update's mean energy (logged)
    style: jax.Array        # [T, N] this update's style reward


def anneal(level: jax.Array, e_hist: jax.Array, e_count: jax.Array, e0: jax.Array,
           num_levels: int, threshold: float | jax.Array = 0.02
           ) -> tuple[jax.Array, jax.Array]:
    """The ncsnv2-adaptive rule: ``(level, e_count)`` after this update's check.

    The moving average of the ``min(e_count, W)`` stored energies at ``level``
    (``W = e_hist.shape[0]``) is compared with ``E0 + threshold * |E0|``; once reached
    (and at least one energy is stored) the level goes up by one (capped at ``L - 1``,
    never down) and the count restarts at 0, so the next energy becomes the new E0. The
    original compares with ``(1 + threshold) E0``, which for ``E0 < 0`` asks for a fall.

    Args:
        level: int32 ``[]``. e_hist: ``[W]`` float32. e_count: int32 ``[]``.
        e0: float32 ``[]``. num_levels: L. threshold: the relative rise.
    """
    window = e_hist.shape[0]
    n = jnp.minimum(e_count, window)
    avg = jnp.sum(jnp.where(jnp.arange(window) < n, e_hist, 0.0)) / jnp.maximum(n, 1)
    up = (n > 0) & (avg >= e0 + threshold * jnp.abs(e0)) & (level < num_levels - 1)
    return jnp.where(up, level + 1, level), jnp.where(up, 0, e_count)


def style_reward(energy: jax.Array, m: jax.Array, offsets: jax.Array | float = 0.0,
                 temperature: float | jax.Array = 10.0) -> jax.Array:
    """NEAR's style reward ``tanh((e + sum(offsets) - m) / temperature)``, elementwise.

    Args:
        energy: ``[...]`` energies f(x, sigma_c). m: the centre (mean of stored energies).
        offsets: the summed reward offsets (0 in the annealing modes offered here).
        temperature: 10 in NEAR.
    """
    return jnp.tanh((energy + offsets - m) / temperature)


PairFn = Callable[[Any], jax.Array]
"""``pair_fn(traj [T, N]) -> [T, N, in_dim]`` the energy model's inputs of a rollout."""


def default_pairs(traj) -> jax.Array:
    """``[s_{t+1}, s_t]`` from PPO's raw ``Transition`` (``next_obs`` is the true next
    observation, also at resets): AMP's pair for the humanoid, whose observation is the
    105-d AMP one."""
    return obs_pair(traj.obs, traj.next_obs)


def make_hooks(cfg: NEARConfig, model: EnergyModel, obs_dim: int,
               rollout_shape: tuple[int, int], pair_fn: PairFn = default_pairs) -> dict:
    """PPO's seams for NEAR: ``aux_init``, ``aux_update``, ``reward_fn``, ``extra_loss``.

    Pass them to ``purerl.algos.ppo.make_train_parts(..., **make_hooks(...))``.

    Args:
        cfg: the reward.
        model: the trained energy model (``near_energy.load_energy_model``).
        obs_dim: the env's observation width; ``pair_fn``'s pairs must be the model's
            ``in_dim`` (``2 * obs_dim`` for the default pairs).
        rollout_shape: ``(T, N)``, PPO's ``(num_steps, num_envs)`` (the style reward's
            shape in the aux state).
        pair_fn: the energy inputs of a rollout.

    Raises:
        ValueError: ``sigma_level`` is not -1 or a level of the model, or the model's
            ``in_dim`` is not the pair width.
    """
    num_levels = model.cfg.num_levels
    require(cfg.sigma_level < num_levels, "sigma_level",
            f"-1 or a level 0..{num_levels - 1} of the energy model", cfg.sigma_level)
    if pair_fn is default_pairs:
        require(model.cfg.in_dim == 2 * obs_dim, "near_energy_run",
                f"an energy model of pairs [s_t+1, s_t] of this env (in_dim "
                f"{2 * obs_dim}); its in_dim is", model.cfg.in_dim)
    adaptive = cfg.sigma_level == -1

    def aux_init(key: jax.Array) -> NEARState:
        zero = jnp.zeros((), jnp.float32)
        return NEARState(model.arrays, jnp.asarray(max(cfg.sigma_level, 0), jnp.int32),
                         jnp.zeros((cfg.anneal_window,), jnp.float32),
                         jnp.zeros((), jnp.int32), zero,
                         jnp.zeros((cfg.reward_window,), jnp.float32),
                         jnp.zeros((), jnp.int32), zero, jnp.zeros((), jnp.int32), zero,
                         jnp.zeros(tuple(rollout_shape), jnp.float32))

    def aux_update(runner_state, traj) -> NEARState:
        s: NEARState = runner_state.aux
        update = s.update + 1
        level, e_count = s.level, s.e_count
        if adaptive:                                                   # step 1
            level, e_count = anneal(level, s.e_hist, e_count, s.e0, num_levels,
                                    cfg.anneal_threshold)
        energy = model.energy(s.energy, pair_fn(traj), level)          # step 2, [T, N]
        e_mean = energy.mean()
        e0 = jnp.where(e_count == 0, e_mean, s.e0)
        e_hist = s.e_hist.at[e_count % cfg.anneal_window].set(e_mean)
        raw = energy                                   # + sum(offsets): 0 in these modes
        r_hist = s.r_hist.at[s.r_count % cfg.reward_window].set(raw.mean())
        r_count = s.r_count + 1
        n = jnp.minimum(r_count, cfg.reward_window)
        fresh = jnp.sum(jnp.where(jnp.arange(cfg.reward_window) < n, r_hist, 0.0)) / n
        refresh = (update == 1) | (update % cfg.reward_refresh_every == 0)
        m = jnp.where(refresh, fresh, s.m)                             # step 3
        style = style_reward(raw, m, 0.0, cfg.reward_temperature)
        return NEARState(s.energy, level, e_hist, e_count + 1, e0, r_hist, r_count, m,
                         update, e_mean, style)

    def reward_fn(runner_state, traj) -> jax.Array:                    # step 4
        style = runner_state.aux.style
        return cfg.task_reward_w * traj.reward + cfg.energy_reward_w * style

    def extra_loss(params, minibatch, aux: NEARState):
        return jnp.zeros(()), {"near_level": aux.level.astype(jnp.float32),
                               "near_sigma": aux.energy.sigmas[aux.level],
                               "near_energy": aux.energy_mean,
                               "near_style_reward": aux.style.mean()}

    return {"aux_init": aux_init, "aux_update": aux_update, "reward_fn": reward_fn,
            "extra_loss": extra_loss}
