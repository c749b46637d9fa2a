"""Point-mass reaching from pixels: a dot on a plane, moved to the centre, drawn in JAX.

The cheapest pixel task we have for learning tests of pixel agents (SAC+AE) on a CPU, in
the spirit of DMC's ``point_mass`` (a point in a square arena, dense reward for being near
the target) but kinematic, so a policy only has to map the image to a direction:

* state: position ``p`` in ``[-1, 1]^2`` (metres), the step count ``time``;
* action ``[2]`` in ``[-1, 1]^2`` (clipped), a velocity command: one step moves
  ``p <- clip(p + step_size * a, -1, 1)`` (``step_size`` metres per step at full command
  on each axis; the arena's walls stop the point);
* reward: ``-||p_new||_2``, minus the distance (m) from the new position to the target, the
  arena's centre; in ``[-sqrt 2, 0]``;
* reset: ``p ~ U([-1, 1]^2)``, ``time = 0``; never terminates, truncated after
  ``max_steps_in_episode`` steps;
* observation: ``[S, S, 3]`` uint8, the square ``[-EXTENT, EXTENT]^2`` (y up, row 0 at the
  top) sampled at pixel centres: a disk of radius ``DOT_RADIUS`` anti-aliased over one pixel
  (so sub-pixel positions change the image) on a dark background, plus a fixed dim ring of
  radius ``DOT_RADIUS`` marking the target. Velocity is not in the image: nothing needs it
  (the dynamics are first order).

Reference levels (``max_steps_in_episode`` 50, ``step_size`` 0.1, action repeat 2 as
``envs_jax.pixels.make_pixel_env("point_mass_reach")`` builds it, i.e. 25 agent steps and
every agent step's reward the sum of two steps'): uniform random actions return about
-39 per episode (std 12 over episodes), heading straight for the centre (``a = clip(-p /
0.2, -1, 1)``) about -2.4 (std 1.5); both are checked in ``tests/envs/test_pixel_point_mass.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs_jax import spaces
from envs_jax._checks import check_int
from envs_jax.core import Environment, EnvStep

__all__ = ["PixelPointMass", "PointMassParams", "PointMassState", "render_point_mass"]

DOT_RADIUS = 0.2               # metres
EXTENT = 1.2                   # the image shows [-EXTENT, EXTENT]^2 (m)
DOT_RGB = (0.9, 0.8, 0.2)
TARGET_RGB = (0.3, 0.3, 0.6)
BACKGROUND_RGB = (0.1, 0.1, 0.1)
RING_HALF_WIDTH = 0.04         # metres


@struct.dataclass
class PointMassState:
    """``pos [2]`` float32 position (m); ``time []`` int32 steps taken this episode."""

    pos: jax.Array
    time: jax.Array


@struct.dataclass
class PointMassParams:
    """``step_size`` (m per step at full command), ``max_steps_in_episode`` (steps)."""

    step_size: float = 0.1
    max_steps_in_episode: int = struct.field(pytree_node=False, default=50)


def render_point_mass(pos: jax.Array, size: int) -> jax.Array:
    """``[size, size, 3]`` uint8 image of the point at ``pos`` ``[2]`` (m) and the target
    ring at the origin; row 0 is the top, column 0 the left (``x = -EXTENT``). Jittable.

    Each pixel centre ``c`` gets ink ``clip(1 - (||c - pos|| - DOT_RADIUS) / pixel, 0, 1)``
    (pixel = ``2 EXTENT / size`` m): 1 inside the disk, falling linearly to 0 one pixel
    outside it. The ring's ink is the same with the distance ``| ||c|| - DOT_RADIUS | -
    RING_HALF_WIDTH``; the dot is drawn over the ring."""
    centres = (jnp.arange(size) + 0.5) / size * 2 * EXTENT - EXTENT
    x, y = jnp.meshgrid(centres, -centres)                   # y up, row 0 at the top
    pixel = 2 * EXTENT / size

    def ink(dist):
        return jnp.clip(1.0 - dist / pixel, 0.0, 1.0)[..., None]

    dot = ink(jnp.hypot(x - pos[0], y - pos[1]) - DOT_RADIUS)
    ring = ink(jnp.abs(jnp.hypot(x, y) - DOT_RADIUS) - RING_HALF_WIDTH)
    rgb = (1 - ring) * jnp.asarray(BACKGROUND_RGB) + ring * jnp.asarray(TARGET_RGB)
    rgb = (1 - dot) * rgb + dot * jnp.asarray(DOT_RGB)
    return jnp.round(rgb * 255).astype(jnp.uint8)


class PixelPointMass(Environment):
    """Move a point to the centre of a square arena, seen as ``[S, S, 3]`` uint8 images
    (see the module docstring for dynamics, reward and image).

    Args:
        image_size: side S of the square image in pixels (>= 4).
        pixels: image observations; ``False`` gives the state ``pos [2]`` float32 instead
            (the state-based variant of the same task).

    Raises:
        ValueError: ``image_size`` is not an integer >= 4.
    """

    def __init__(self, image_size: int = 12, pixels: bool = True):
        self.image_size = check_int("PixelPointMass", "image_size", image_size, minimum=4)
        self.pixels = bool(pixels)
        self.dt = 1.0                                 # one step = one time unit

    @property
    def episode_length(self) -> int:
        return PointMassParams().max_steps_in_episode

    def default_params(self) -> PointMassParams:
        return PointMassParams()

    def reset(self, key: jax.Array, params: PointMassParams
              ) -> tuple[jax.Array, PointMassState]:
        state = PointMassState(jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0),
                               jnp.zeros((), jnp.int32))
        return self._obs(state.pos), state

    def _obs(self, pos: jax.Array) -> jax.Array:
        return render_point_mass(pos, self.image_size) if self.pixels else pos

    def step(self, key: jax.Array, state: PointMassState, action: jax.Array,
             params: PointMassParams) -> EnvStep:
        move = params.step_size * jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
        pos = jnp.clip(state.pos + move, -1.0, 1.0)
        state = PointMassState(pos, state.time + 1)
        obs = self._obs(pos)
        reward = -jnp.linalg.norm(pos)
        truncated = state.time >= params.max_steps_in_episode
        return EnvStep(obs, state, reward.astype(jnp.float32), jnp.zeros((), bool),
                       truncated, {"final_obs": obs})

    def observation_space(self, params: PointMassParams) -> spaces.Box:
        if not self.pixels:
            return spaces.Box(-1.0, 1.0, (2,), jnp.float32)
        return spaces.Box(0, 255, (self.image_size, self.image_size, 3), jnp.uint8)

    def action_space(self, params: PointMassParams) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)
