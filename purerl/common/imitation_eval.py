"""Imitation evaluation inside the compiled run: DTW pose error and SPARC of a policy.

NEAR's protocol (anishhdiwan/near ``amp_continuous.py``: ``run_policy`` +
``compute_performance_metrics``; ``specs/imitation.md``, "Evaluation"), as one jittable
function an agent calls from its evaluation block::

    reference = imitation_eval.make_reference(env, env_params)          # host, once
    ev = evaluate_imitation(env, env_params, policy, key, reference,   # inside jit
                            num_episodes=32, top_k=20, style_reward=disc_reward)
    metrics.update(ev.summary())     # eval/pose_error, eval/sparc, ... scalars

1. ``num_episodes`` episodes from a full reset, side by side (vmapped), with the policy the
   caller passes (NEAR: the mean action), for up to ``max_steps`` control steps;
2. the 15 body positions at the reset and after every step, and the style (learned) return
   summed over the steps before each episode's first ``done``;
3. the ``top_k`` episodes of largest learned return are kept (NEAR: 20);
4. per kept episode: DTW pose error against every demo clip (``motion_metrics``, divided by
   15), SPARC of the finite-difference root velocity (mean over axes), and the mean root
   velocity / acceleration / jerk norms; averaged over the kept episodes.

Differences from NEAR, on purpose: each episode's trajectory ends with the episode (NEAR
keeps recording the environment after an early termination, i.e. an auto-reset episode's
frames enter its DTW and SPARC), and ``summary`` reports the nearest clip's pose error
beside NEAR's mean over clips (for a multi-clip set a policy that imitates one clip well is
penalised by NEAR's mean).

Everything but ``make_reference`` and ``demo_summary`` is pure JAX: jit it, vmap it over
seeds (build ``policy`` from the seed's parameters inside the vmapped function).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.mjx import motion_metrics as mm
from envs_jax.policy import Policy, episode_limit

__all__ = ["IMITATION_PANELS", "ImitationEval", "demo_summary", "evaluate_imitation",
           "humanoid_body_positions", "make_reference", "plot_imitation_curves"]

IMITATION_PANELS: dict[str, str] = {
    "eval/pose_error": "DTW pose error (m)",
    "eval/sparc": "SPARC of root velocity",
    "episode_return": "training return per episode",
    "eval/style_return": "learned (style) return",
}
"""The panels of ``plot_imitation_curves``: metric key -> y label (absent keys are skipped)."""


class ImitationEval(NamedTuple):
    """Per-episode results of ``evaluate_imitation`` (E episodes, C demo clips, T steps).

    Attributes:
        pose_error: ``[E, C]`` float32 DTW pose error (m) of each episode against each clip.
        stats: ``MotionStats`` with ``[E]`` leaves (SPARC, root velocity/acc/jerk norms).
        length: ``[E]`` int32 control steps until the episode ended or ``max_steps``.
        env_return: ``[E]`` float32 undiscounted environment reward.
        style_return: ``[E]`` float32 learned reward summed before the first done (zeros
            without ``style_reward``).
        selected: ``[E]`` bool, the ``top_k`` episodes the summary averages over.
        pose: ``[E, T + 1, 45]`` float32 pose features (reset frame first; frames after
            ``length`` repeat the last one).
        root_pos: ``[E, T + 1, 3]`` float32 root positions, m.
    """

    pose_error: jax.Array
    stats: mm.MotionStats
    length: jax.Array
    env_return: jax.Array
    style_return: jax.Array
    selected: jax.Array
    pose: jax.Array
    root_pos: jax.Array

    def summary(self, prefix: str = "eval/") -> dict[str, jax.Array]:
        """Scalars averaged over the selected episodes (jittable), keyed ``prefix + name``.

        ``pose_error`` is NEAR's number (mean over clips, then episodes);
        ``pose_error_nearest`` takes each episode's nearest clip; ``sparc`` averages the
        finite values (NaN if none is); ``length``, ``return`` (env reward) and
        ``style_return`` (learned) as means.
        """
        w = self.selected.astype(jnp.float32)
        n = jnp.maximum(jnp.sum(w), 1.0)

        def mean(x):
            return jnp.sum(w * x) / n

        sparc_ok = self.selected & jnp.isfinite(self.stats.sparc)
        sparc = jnp.sum(jnp.where(sparc_ok, self.stats.sparc, 0.0)) / jnp.maximum(
            jnp.sum(sparc_ok), 1)
        values = {
            "pose_error": mean(jnp.mean(self.pose_error, axis=1)),
            "pose_error_nearest": mean(jnp.min(self.pose_error, axis=1)),
            "sparc": jnp.where(jnp.any(sparc_ok), sparc, jnp.nan),
            "root_vel_norm": mean(self.stats.vel_norm),
            "root_acc_norm": mean(self.stats.acc_norm),
            "root_jerk_norm": mean(self.stats.jerk_norm),
            "length": mean(self.length.astype(jnp.float32)),
            "return": mean(self.env_return),
            "style_return": mean(self.style_return),
        }
        return {prefix + k: v for k, v in values.items()}


def _base_env(env, caller: str):
    from envs_jax.mjx.record import base_mjx_env

    return base_mjx_env(env, caller)


def _mjx_data(state: Any):
    while not hasattr(state, "data"):
        state = state.env_state
    return state.data


def humanoid_body_positions(env) -> Callable[[Any], jax.Array]:
    """``state -> [15, 3]`` world body positions (m) of the AMP humanoid under ``env``.

    Forward kinematics of the state's ``qpos`` (``AMPHumanoid.body_positions``: exact,
    unlike ``mjx.Data.xpos``, which lags one substep after ``mjx.step``), world body
    dropped, poselib order.

    Raises:
        ValueError: ``env`` is not an MJX task with ``body_positions`` (the humanoid).
    """
    try:
        base = _base_env(env, "humanoid_body_positions")
    except ValueError:
        base = env
    if not hasattr(base, "body_positions") or not hasattr(base, "mjx_model"):
        raise ValueError(f"humanoid_body_positions: expected the AMP humanoid (an MJX task "
                         f"with body_positions), got {type(base).__name__}")
    return lambda state: base.body_positions(_mjx_data(state).qpos)[1:]


def make_reference(env, env_params: Any) -> mm.ReferenceMotion:
    """The demo side of the evaluation: every clip of ``env_params.motion`` sampled at the
    env's control step (NEAR's frame rule; ``motion_metrics.reference_motion``). Host-side;
    build it once, outside the compiled function.

    Raises:
        ValueError: ``env_params`` has no ``motion`` (not the humanoid's params), or ``env``
            is not an MJX task.
    """
    if not hasattr(env_params, "motion"):
        raise ValueError(f"make_reference: expected the humanoid's params with a .motion "
                         f"MotionLib, got {type(env_params).__name__}")
    return mm.reference_motion(env_params.motion, _base_env(env, "make_reference").dt)


def demo_summary(reference: mm.ReferenceMotion, prefix: str = "demo/") -> dict[str, float]:
    """The same root statistics on the demo clips (NEAR logs them once beside the agent's):
    ``sparc``, ``root_vel_norm``, ``root_acc_norm``, ``root_jerk_norm``, mean over clips.
    Host-side floats (one small compile)."""
    dt = float(reference.dt)
    stats = jax.jit(jax.vmap(lambda p, n: mm.motion_stats(p, n, dt)))(reference.root_pos,
                                                                      reference.length)
    names = {"sparc": stats.sparc, "root_vel_norm": stats.vel_norm,
             "root_acc_norm": stats.acc_norm, "root_jerk_norm": stats.jerk_norm}
    return {prefix + k: float(np.nanmean(np.asarray(v))) for k, v in names.items()}


def evaluate_imitation(env, env_params: Any, policy: Policy, key: jax.Array,
                       reference: mm.ReferenceMotion, num_episodes: int,
                       max_steps: int | None = None, top_k: int | None = None,
                       style_reward: Callable[[jax.Array], jax.Array] | None = None,
                       body_positions: Callable[[Any], jax.Array] | None = None,
                       ) -> ImitationEval:
    """Roll out ``num_episodes`` episodes and score them against the demo clips; jittable.

    Args:
        env: the base env (no auto-reset, no batch axis), e.g. ``AMPHumanoid``.
        env_params: its params (shared by every episode; reset mode as configured).
        policy: the acting ``Policy`` (pass the deterministic / mean-action one), run with
            ``N = num_episodes``; ``reset`` is true on the first step only.
        key: PRNG key (resets, then one per step).
        reference: ``make_reference(env, env_params)`` (sampled at the env's ``dt``).
        num_episodes: E (static int >= 1).
        max_steps: scan length (static); default the env's episode length (300).
        top_k: keep the k episodes of largest learned return (NEAR: 20; ``style_reward``
            absent: largest env return, ties to the lower index); ``None``: all.
        style_reward: ``amp_obs [E, 210] -> [E]`` learned reward of a step, from the step's
            ``info["amp_obs"]`` (the AMP discriminator reward, the NEAR energy reward); a
            step counts while the episode has not ended at it (NEAR zeroes the step that
            ends it). ``None``: no learned return.
        body_positions: ``state -> [B, 3]`` body positions (m) of one env state; default
            ``humanoid_body_positions(env)``. Body 0 is the root.

    Returns:
        ``ImitationEval`` (``.summary()`` for the scalars to log).

    Raises:
        ValueError: bad ``num_episodes``/``max_steps``/``top_k`` or a non-humanoid env
            without ``body_positions`` (all before tracing).
    """
    for name, value in (("num_episodes", num_episodes), ("max_steps", max_steps),
                        ("top_k", top_k)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ValueError(f"evaluate_imitation.{name}: expected an int >= 1, got {value!r}")
    if body_positions is None:
        body_positions = humanoid_body_positions(env)
    max_steps = episode_limit(env, env_params) if max_steps is None else max_steps
    dt = float(reference.dt)
    e = num_episodes
    key_reset, key_steps = jax.random.split(key)
    reset = jax.vmap(env.reset, in_axes=(0, None))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    positions = jax.vmap(body_positions)
    obs, state = reset(jax.random.split(key_reset, e), env_params)

    def env_step(carry, key_t):
        obs, state, hidden, first, alive, env_ret, style_ret, length = carry
        key_act, key_env = jax.random.split(key_t)
        hidden, action = policy.act(hidden, obs, first, key_act)[:2]
        ts = step(jax.random.split(key_env, e), state, action, env_params)
        done = ts.terminated | ts.truncated
        env_ret = env_ret + jnp.where(alive, ts.reward, 0.0)
        if style_reward is not None:
            r = jnp.asarray(style_reward(ts.info["amp_obs"]), jnp.float32).reshape(e)
            style_ret = style_ret + jnp.where(alive & ~done, r, 0.0)
        length = length + alive.astype(jnp.int32)
        state, obs = jax.tree.map(
            lambda new, old: jnp.where(alive.reshape(alive.shape + (1,) * (new.ndim - 1)),
                                       new, old), (ts.state, ts.obs), (state, obs))
        alive = alive & ~done
        carry = (obs, state, hidden, jnp.zeros_like(first), alive, env_ret, style_ret, length)
        return carry, positions(state)

    zeros = jnp.zeros((e,), jnp.float32)
    carry = (obs, state, policy.initial_hidden(e), jnp.ones((e,), bool), jnp.ones((e,), bool),
             zeros, zeros, jnp.zeros((e,), jnp.int32))
    carry, pos = jax.lax.scan(env_step, carry, jax.random.split(key_steps, max_steps))
    _, _, _, _, _, env_ret, style_ret, length = carry
    body = jnp.concatenate([positions(state)[:, None], jnp.swapaxes(pos, 0, 1)], axis=1)
    body = body.astype(jnp.float32)                                  # [E, T + 1, B, 3]
    pose, root = mm.pose_features(body), body[:, :, 0, :]
    frames = length + 1
    errors = jax.vmap(mm.pose_error, in_axes=(0, 0, None, None))(pose, frames, reference.pose,
                                                                 reference.length)
    stats = jax.vmap(lambda p, n: mm.motion_stats(p, n, dt))(root, frames)
    score = style_ret if style_reward is not None else env_ret
    k = e if top_k is None else min(top_k, e)
    _, idx = jax.lax.top_k(score, k)
    selected = jnp.zeros((e,), bool).at[idx].set(True)
    return ImitationEval(errors, stats, length, env_ret, style_ret, selected, pose, root)


def plot_imitation_curves(path: str, metrics: dict, title: str,
                          baselines: dict[str, float] | None = None,
                          demo: dict[str, float] | None = None,
                          panels: dict[str, str] | None = None) -> list[str]:
    """The learning-curve PNG of an imitation run: pose error, SPARC, reward (training
    return and learned return) vs env steps, mean +- std over seeds
    (``purerl.common.logging.plot_metric_panels``).

    Args:
        path: output PNG.
        metrics: the run's ``[S, U]`` metrics with ``env_steps`` and the ``summary()`` keys
            (NaN between evaluations).
        title: figure title.
        baselines: reference pose errors to draw, e.g. ``{"random policy": 0.31,
            "no training": 0.27}``.
        demo: ``demo_summary(reference)``; its SPARC is drawn on the SPARC panel.
        panels: override ``IMITATION_PANELS``.

    Returns:
        The panel keys ``metrics`` lacks (skipped).
    """
    from purerl.common.logging import plot_metric_panels

    refs = {"eval/pose_error": dict(baselines or {})}
    if demo and "demo/sparc" in demo:
        refs["eval/sparc"] = {"demo clips": demo["demo/sparc"]}
    return plot_metric_panels(path, metrics, panels or IMITATION_PANELS, title, refs)
