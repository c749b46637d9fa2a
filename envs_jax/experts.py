"""Scripted experts with a known return: demonstrations for imitation tests (AMP, NEAR) and
reference policies for dataset tests, without training anything.

Each expert is a pure function of the observation, usable as a ``Policy`` through
``envs_jax.policy.feed_forward(lambda key, obs: expert(obs))``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

PENDULUM_SWINGUP_RETURN = -141.0
"""Mean return of ``pendulum_swingup`` over 200 gymnax Pendulum-v1 episodes of 200 steps
(random starts; ``tests/envs/test_experts.py`` checks it within 10). A uniform random policy
scores about -1200, SAC about -150."""


def pendulum_swingup(obs: jax.Array, pump_gain: float = 1.0, hold_cos: float = 0.85
                     ) -> jax.Array:
    """Energy-shaping swing-up with a PD hold at the top, for gymnax ``Pendulum-v1``.

    The env's dynamics (g = 10, m = l = 1, dt = 0.05) are ``theta'' = 15 sin(theta) + 3 u``
    with ``theta = 0`` upright, so ``E = theta'^2 / 2 + 15 cos(theta)`` is 15 at rest on top
    and ``dE/dt = 3 u theta'``. Far from the top the torque pumps energy towards 15
    (``u = k (15 - E) sign(theta')``, Astrom & Furuta 2000); once ``cos(theta) > hold_cos``
    a PD law ``u = -(10 theta + 2 theta')`` balances. Torques are clipped to [-2, 2] N m.

    Args:
        obs: ``[..., 3]`` float32 ``(cos theta, sin theta, theta')`` (rad/s).
        pump_gain: ``k`` of the energy pump.
        hold_cos: switch to the PD hold above this ``cos(theta)``.

    Returns:
        ``[..., 1]`` float32 torque (N m).
    """
    cos, sin, speed = obs[..., 0], obs[..., 1], obs[..., 2]
    energy = 0.5 * speed ** 2 + 15.0 * cos
    pump = pump_gain * (15.0 - energy) * jnp.sign(speed + 1e-6)
    hold = -(10.0 * jnp.arctan2(sin, cos) + 2.0 * speed)
    return jnp.clip(jnp.where(cos > hold_cos, hold, pump), -2.0, 2.0)[..., None]
