"""DeepMind Control Suite cheetah-run on MJX, from joint states or from pixels.

Rebuilt from dm_control 1.0.50 ``suite/cheetah.{py,xml}`` (Apache-2.0); the model file is
``assets/cheetah.xml`` (see ``assets/PROVENANCE.md`` for the changes). Task definition:

* control step = one physics step of 0.01 s; 1000 steps (DMC's 10 s limit) -> ``truncated``
  (the task never terminates);
* reward ``tolerance(speed, bounds=(10, inf), margin=10, value_at_margin=0,
  sigmoid="linear")`` = ``clip(speed / 10, 0, 1)``, ``speed`` the x component of the torso's
  ``subtreelinvel`` sensor (centre-of-mass velocity of the whole cheetah) AFTER the step;
* reset: limited joints ``~ U(jnt_range)``, root at its default, 200 zero-control physics
  steps to settle, time reset to 0;
* observation: ``"state"``: ``qpos[1:]`` (8, no root x) then ``qvel`` (9), float32 [17];
  ``"pixels"``: the ``side`` camera (camera 0, tracks the centre of mass) as ``[84, 84, 3]``
  uint8 RGB, rendered inside the trace by ``envs_jax.mjx.render.Camera``.

DMC's ``Physics.step`` leaves positions and sensors up to date for the NEW state
(``mj_step2`` then ``mj_step1``), while ``mjx.step`` leaves them at the state before the
integration. The position/velocity quantities reward and camera need (kinematics, centre
of mass, cameras, subtree velocities) are therefore recomputed after each step; that costs
no collision detection or constraint solve.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from envs_jax import spaces
from envs_jax.mjx.base import ASSETS_DIR, MjxEnv, MjxParams, TaskStep, load_mjcf
from envs_jax.mjx.render import Camera

__all__ = ["CHEETAH_XML", "EPISODE_LENGTH", "RUN_SPEED", "SETTLE_STEPS", "CheetahRun", "run_reward"]

CHEETAH_XML = os.path.join(ASSETS_DIR, "cheetah.xml")
RUN_SPEED = 10.0  # m/s above which the reward is 1 (dm_control cheetah._RUN_SPEED)
EPISODE_LENGTH = 1000  # 10 s time limit / 0.01 s control step
SETTLE_STEPS = 200  # zero-control physics steps at reset (Cheetah.initialize_episode)
OBS_MODES = ("state", "pixels")


def run_reward(speed: jax.Array, run_speed: float = RUN_SPEED) -> jax.Array:
    """DMC's ``rewards.tolerance(speed, bounds=(run_speed, inf), margin=run_speed,
    value_at_margin=0, sigmoid="linear")``.

    Inside the bounds the value is 1; below them the linear sigmoid falls from 1 at the
    bound to 0 at ``bound - margin``, i.e. ``clip(1 - (run_speed - speed) / margin, 0, 1)``
    = ``clip(speed / run_speed, 0, 1)`` since margin = run_speed.

    Args:
        speed: ``[...]`` forward speed in m/s.
        run_speed: the lower bound (and margin), m/s.

    Returns:
        ``[...]`` float32 reward in [0, 1].
    """
    distance = jnp.maximum(run_speed - speed, 0.0) / run_speed  # distance below the bound, in margins
    return jnp.clip(1.0 - distance, 0.0, 1.0).astype(jnp.float32)


def _refresh_positions(model: mjx.Model, data: mjx.Data) -> mjx.Data:
    """Position- and velocity-dependent kinematics of the current qpos/qvel (cf. mj_step1
    without collision, constraints or actuation)."""
    data = mjx.kinematics(model, data)
    data = mjx.com_pos(model, data)
    data = mjx.camlight(model, data)
    data = mjx.com_vel(model, data)
    return mjx.subtree_vel(model, data)


class CheetahRun(MjxEnv):
    """DMC cheetah-run (Tassa et al. 2018, "DeepMind Control Suite", arXiv 1801.00690).

    Args:
        obs_mode: ``"state"`` (``[17]`` float32) or ``"pixels"`` (``[84, 84, 3]`` uint8).
        episode_length: control steps per episode (DMC: 1000).
        settle_steps: zero-control physics steps at reset (DMC: 200). Every reset pays
            for them, and ``AutoReset`` computes a reset at every step, so lower it only
            knowingly (it changes the initial-state distribution).
        self_collision: keep the contacts between the cheetah's own capsules, as DMC's
            model has them. Default ``False``: only capsule-floor contacts. MJX pays for
            every possible contact, active or not (all 9 geoms collide: 36 capsule pairs,
            minus parent-child, besides the floor), and in 20 random-action episodes (20k
            steps) in C MuJoCo no capsule pair ever touched: only feet and a shin touched
            the floor. Measured on the 2-core CPU at batch 64: 2263 env-steps/s without
            self-collision, 787 with it (compile 118 s vs 134 s, loaded machine). The
            trajectories match DMC's full model until two capsules of the body would meet.
        image_size: pixel observation side length (DMC/SAC+AE: 84).
        camera: camera name or id for pixels (DMC/dmc2gym camera_id 0 = ``"side"``).

    Raises:
        ValueError: for an unknown ``obs_mode``, a negative ``settle_steps``, a bad
            ``image_size``/``camera``, or a model that fails to load.
    """

    def __init__(
        self,
        obs_mode: str = "state",
        episode_length: int = EPISODE_LENGTH,
        settle_steps: int = SETTLE_STEPS,
        self_collision: bool = False,
        image_size: int = 84,
        camera: str | int = "side",
    ):
        if obs_mode not in OBS_MODES:
            raise ValueError(f"CheetahRun.obs_mode: expected one of {OBS_MODES}, got {obs_mode!r}")
        if not isinstance(settle_steps, int) or isinstance(settle_steps, bool) or settle_steps < 0:
            raise ValueError(f"CheetahRun.settle_steps: expected an int >= 0, got {settle_steps!r}")
        mj_model = load_mjcf(CHEETAH_XML)
        if not self_collision:
            # Contact iff (type1 & affinity2) | (type2 & affinity1): with the floor's bits
            # unchanged and the body's affinity 0, body-body pairs vanish, body-floor stay.
            floor = mj_model.geom_bodyid == 0
            mj_model.geom_conaffinity[~floor] = 0
        super().__init__(mj_model, n_substeps=1, episode_length=episode_length, source=CHEETAH_XML)
        self.obs_mode = obs_mode
        self.settle_steps = settle_steps
        self.self_collision = bool(self_collision)
        self.camera = Camera(mj_model, camera, width=image_size, height=image_size) if obs_mode == "pixels" else None
        if obs_mode == "pixels":
            self.obs_dtype = jnp.uint8

        m = mj_model
        limited = np.asarray(m.jnt_limited, bool)
        # initialize_episode indexes qpos by joint: valid because every joint has one dof.
        if m.nq != m.njnt:
            raise ValueError(f"CheetahRun: {CHEETAH_XML} must have one qpos per joint, got nq={m.nq}, njnt={m.njnt}")
        self._limited_idx = np.flatnonzero(limited)
        self._limited_range = m.jnt_range[limited].astype(np.float32)
        self._torso_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "torso")

    def default_params(self) -> MjxParams:
        return MjxParams(model_fields={})

    # ----- task hooks ----------------------------------------------------------------------
    def reset_data(self, key: jax.Array, params: MjxParams, model: mjx.Model) -> tuple[mjx.Data, dict]:
        low, high = self._limited_range.T
        angles = jax.random.uniform(key, low.shape, minval=low, maxval=high)
        qpos = jnp.asarray(self.mj_model.qpos0, jnp.float32).at[self._limited_idx].set(angles)
        data = mjx.make_data(model)
        data = data.replace(qpos=qpos.astype(data.qpos.dtype))
        data = jax.lax.fori_loop(0, self.settle_steps, lambda _, d: mjx.step(model, d), data)
        data = _refresh_positions(model, data).replace(time=jnp.zeros_like(data.time))
        return data, {}

    def physics_step(self, model: mjx.Model, data: mjx.Data, action: jax.Array, params: MjxParams) -> mjx.Data:
        return _refresh_positions(model, super().physics_step(model, data, action, params))

    def speed(self, data: mjx.Data) -> jax.Array:
        """``[]`` forward speed (m/s): x of the torso subtree's centre-of-mass velocity."""
        # MJX 3.3+ keeps subtree_linvel on the JAX implementation's data (``_impl``); the
        # public attribute still works but is deprecated.
        impl = getattr(data, "_impl", data)
        return impl.subtree_linvel[self._torso_id, 0]

    def observation(self, data: mjx.Data, extras: dict, params: MjxParams) -> jax.Array:
        if self.obs_mode == "pixels":
            return self.camera.render(self.model(params), data)
        return jnp.concatenate([data.qpos[1:], data.qvel]).astype(jnp.float32)

    def task_step(self, data_before, data, action, extras, params) -> TaskStep:
        speed = self.speed(data)
        return TaskStep(
            reward=run_reward(speed),
            terminated=jnp.zeros((), jnp.bool_),
            extras=extras,
            info={"speed": speed.astype(jnp.float32)},
        )

    def observation_space(self, params: MjxParams) -> spaces.Space:
        if self.obs_mode == "pixels":
            shape = (self.camera.height, self.camera.width, 3)
            return spaces.Box(0, 255, shape, jnp.uint8)
        return spaces.Box(-np.inf, np.inf, (self.obs_size,), jnp.float32)
