"""D4RL's gym MuJoCo locomotion tasks on MJX: Hopper, HalfCheetah, Walker2d, Ant.

Definitions follow gym's ``Hopper-v2/v3``, ``HalfCheetah-v2/v3``, ``Walker2d-v2/v3`` and
``Ant-v2`` (``gym/envs/mujoco/*.py``; gymnasium keeps them as v4), the versions D4RL v2's
datasets were recorded with. Models are gym's XMLs, copied unchanged from the gymnasium wheel
(``assets/gym/``, see ``assets/PROVENANCE.md``). Per task (control ``dt = frame_skip * timestep``):

============  ======  ==========  =====  ===================================================
task          obs     frame_skip  dt(s)  reward
============  ======  ==========  =====  ===================================================
Hopper        11      4           0.008  dx/dt + 1 - 1e-3 |a|^2
HalfCheetah   17      5           0.05   dx/dt - 0.1 |a|^2
Walker2d      17      4           0.008  dx/dt + 1 - 1e-3 |a|^2
Ant           111/27  5           0.05   dx/dt + 1 - 0.5 |a|^2 - 0.5e-3 |clip(cfrc_ext,-1,1)|^2
============  ======  ==========  =====  ===================================================

``x`` is ``qpos[0]`` (for Ant equal to the torso body's x that gym reads), before and after the control step. The
healthy reward is paid on every step (gym terminates when unhealthy). Episodes are cut at
1000 steps (``truncated``); only the health checks set ``terminated``.

Solver: MuJoCo's Newton solver as in gym's XMLs, but at most ``solver_iterations=4`` Newton
iterations and ``ls_iterations=8`` line-search steps instead of MuJoCo's 100/50 (per-step
cost in MJX scales with the caps because a vmapped ``while_loop`` runs until every copy
converges, and float32 rarely meets the float64 tolerance 1e-8). In C MuJoCo the solver of
these models converges in <= 4 iterations on 99% of steps (max 6) along random-action
rollouts (3000 steps each, measured with ``data.solver_niter``); the parity test bounds the
difference to C MuJoCo at its default settings. Integrators (RK4 for hopper/walker/ant,
Euler for halfcheetah), timesteps, contacts and all other physics are gym's.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from envs_jax.mjx.base import (
    ASSETS_DIR,
    MjxEnv,
    MjxParams,
    TaskStep,
    data_from_state,
    load_mjcf,
)

DEFAULT_EPISODE_LENGTH = 1000
DEFAULT_SOLVER_ITERATIONS = 4
DEFAULT_LS_ITERATIONS = 8


def gym_asset(name: str) -> str:
    """Path of one of gym's model files shipped in ``assets/gym/``."""
    return os.path.join(ASSETS_DIR, "gym", name)


def load_gym_model(
    name: str, solver_iterations: int | None, ls_iterations: int | None
) -> mujoco.MjModel:
    """Loads ``assets/gym/<name>`` and sets the Newton solver caps (``None`` keeps MuJoCo's).

    Raises:
        ValueError: for a cap below 1, or a model MuJoCo cannot load.
    """
    model = load_mjcf(gym_asset(name))
    for field, value in (
        ("solver_iterations", solver_iterations),
        ("ls_iterations", ls_iterations),
    ):
        if value is not None and (int(value) != value or value < 1):
            raise ValueError(f"{field}: expected an integer >= 1, got {value!r}")
    if solver_iterations is not None:
        model.opt.iterations = int(solver_iterations)
    if ls_iterations is not None:
        model.opt.ls_iterations = int(ls_iterations)
    return model


class GymLocomotionEnv(MjxEnv):
    """Shared part of the gym locomotion tasks (subclasses set the class constants).

    Args:
        episode_length: time limit in control steps (-> ``truncated``), default 1000.
        solver_iterations: Newton iteration cap (default 4; ``None``: MuJoCo's 100).
        ls_iterations: line-search iteration cap (default 8; ``None``: MuJoCo's 50).

    Class constants:
        XML: file in ``assets/gym/``; FRAME_SKIP: physics steps per control step;
        CTRL_COST: weight of ``|a|^2``; HEALTHY_REWARD: reward per step;
        RESET_NOISE: half-width of the uniform qpos noise (and qvel scale);
        QVEL_NOISE_NORMAL: qvel noise is ``RESET_NOISE * N(0, 1)`` (else uniform like qpos);
        RESET_FORWARD: run ``mjx.forward`` at reset (needed when the observation reads
            derived quantities such as contact forces).

    Raises:
        ValueError: for bad arguments (see ``MjxEnv``, ``load_gym_model``).
    """

    XML: str
    FRAME_SKIP: int
    CTRL_COST: float
    HEALTHY_REWARD: float = 0.0
    RESET_NOISE: float
    QVEL_NOISE_NORMAL: bool = False
    # The reset observation reads only qpos/qvel: skip mj_forward at reset (see data_from_state).
    RESET_FORWARD: bool = False

    def __init__(
        self,
        episode_length: int = DEFAULT_EPISODE_LENGTH,
        solver_iterations: int | None = DEFAULT_SOLVER_ITERATIONS,
        ls_iterations: int | None = DEFAULT_LS_ITERATIONS,
    ):
        mj_model = load_gym_model(self.XML, solver_iterations, ls_iterations)
        super().__init__(
            mj_model,
            n_substeps=self.FRAME_SKIP,
            episode_length=episode_length,
            source=gym_asset(self.XML),
        )
        # gym's init_qpos / init_qvel: the model's reference pose, at rest.
        self.init_qpos = np.array(mj_model.qpos0, np.float32)

    # --- per-task pieces ---
    def x_position(self, data: mjx.Data) -> jax.Array:
        """``[]`` the x coordinate whose change is the forward reward (gym: ``qpos[0]``)."""
        return data.qpos[0]

    def is_healthy(self, data: mjx.Data) -> jax.Array:
        """``[]`` bool; tasks without termination are always healthy."""
        return jnp.array(True)

    def extra_cost(self, data: mjx.Data) -> jax.Array:
        """``[]`` additional cost subtracted from the reward (Ant: contact cost)."""
        return jnp.zeros((), jnp.float32)

    # --- MjxEnv hooks ---
    def default_params(self) -> MjxParams:
        return MjxParams(model_fields={})

    def reset_data(
        self, key: jax.Array, params: MjxParams, model: mjx.Model
    ) -> tuple[mjx.Data, dict]:
        """gym's ``reset_model``: ``qpos0 + U(-s, s)``; qvel ``U(-s, s)`` or ``s * N(0, 1)``."""
        key_pos, key_vel = jax.random.split(key)
        s = self.RESET_NOISE
        nq, nv = self.mj_model.nq, self.mj_model.nv
        qpos = jnp.asarray(self.init_qpos) + jax.random.uniform(key_pos, (nq,), minval=-s, maxval=s)
        if self.QVEL_NOISE_NORMAL:
            qvel = s * jax.random.normal(key_vel, (nv,))
        else:
            qvel = jax.random.uniform(key_vel, (nv,), minval=-s, maxval=s)
        return data_from_state(model, qpos, qvel, forward=self.RESET_FORWARD), {}

    def task_step(self, data_before, data, action, extras, params) -> TaskStep:
        x_velocity = (self.x_position(data) - self.x_position(data_before)) / self.dt
        ctrl_cost = self.CTRL_COST * jnp.sum(jnp.square(action))
        extra_cost = self.extra_cost(data)
        reward = x_velocity + self.HEALTHY_REWARD - ctrl_cost - extra_cost
        info = {
            "x_velocity": x_velocity,
            "reward_forward": x_velocity,
            "reward_ctrl": -ctrl_cost,
        }
        return TaskStep(reward, ~self.is_healthy(data), extras, info)


def _finite(data: mjx.Data) -> jax.Array:
    return jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel))


def ant_is_healthy(data: mjx.Data) -> jax.Array:
    """``[]`` bool, gym Ant's health check: a finite state and torso height in [0.2, 1.0] m."""
    z = data.qpos[2]
    return _finite(data) & (z >= 0.2) & (z <= 1.0)


class _PlanarWalker(GymLocomotionEnv):
    """What gym's Hopper and Walker2d share: 4 physics steps per control step, control cost
    1e-3, healthy reward 1, reset noise ``U(-5e-3, 5e-3)`` on qpos and qvel, and the
    observation ``qpos[1:]`` (x excluded) followed by ``clip(qvel, -10, 10)``."""

    FRAME_SKIP = 4
    CTRL_COST = 1e-3
    HEALTHY_REWARD = 1.0
    RESET_NOISE = 5e-3

    def observation(self, data, extras, params) -> jax.Array:
        return jnp.concatenate([data.qpos[1:], jnp.clip(data.qvel, -10.0, 10.0)])


class Hopper(_PlanarWalker):
    """gym ``Hopper-v2/v3``: obs ``[11]`` = ``qpos[1:]`` (5), ``clip(qvel, -10, 10)`` (6).

    Healthy (else terminated): all of ``(qpos, qvel)[2:]`` finite and in ``(-100, 100)``,
    torso height ``qpos[1] > 0.7``, torso angle ``|qpos[2]| < 0.2`` rad. Actions ``[3]`` in
    ``[-1, 1]`` (torques = 200 x action, N m). Reset noise ``U(-5e-3, 5e-3)`` on qpos and qvel.
    """

    XML = "hopper.xml"

    def is_healthy(self, data) -> jax.Array:
        state = jnp.concatenate([data.qpos, data.qvel])[2:]
        z, angle = data.qpos[1], data.qpos[2]
        in_range = jnp.all((state > -100.0) & (state < 100.0))
        return _finite(data) & in_range & (z > 0.7) & (jnp.abs(angle) < 0.2)


class Walker2d(_PlanarWalker):
    """gym ``Walker2d-v2/v3``: obs ``[17]`` = ``qpos[1:]`` (8), ``clip(qvel, -10, 10)`` (9).

    Healthy (else terminated): ``0.8 < qpos[1] < 2.0`` (torso height, m) and
    ``-1 < qpos[2] < 1`` (torso angle, rad). Actions ``[6]`` in ``[-1, 1]`` (torques = 100 x
    action). Reset noise ``U(-5e-3, 5e-3)`` on qpos and qvel.
    """

    XML = "walker2d.xml"

    def is_healthy(self, data) -> jax.Array:
        z, angle = data.qpos[1], data.qpos[2]
        return (z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0)


class HalfCheetah(GymLocomotionEnv):
    """gym ``HalfCheetah-v2/v3``: obs ``[17]`` = ``qpos[1:]`` (8), ``qvel`` (9); never terminates.

    Actions ``[6]`` in ``[-1, 1]`` (gears 120/90/60/120/60/30). Reset noise: qpos
    ``U(-0.1, 0.1)``, qvel ``0.1 * N(0, 1)``.
    """

    XML = "half_cheetah.xml"
    FRAME_SKIP = 5
    CTRL_COST = 0.1
    RESET_NOISE = 0.1
    QVEL_NOISE_NORMAL = True

    def observation(self, data, extras, params) -> jax.Array:
        return jnp.concatenate([data.qpos[1:], data.qvel])


class Ant(GymLocomotionEnv):
    """gym ``Ant-v2`` as D4RL recorded it: obs ``[111]`` = ``qpos[2:]`` (13), ``qvel`` (14),
    ``clip(cfrc_ext, -1, 1)`` (14 bodies x 6 = 84).

    Reward: ``dx/dt + 1 - 0.5 |a|^2 - 0.5e-3 |clip(cfrc_ext, -1, 1)|^2`` with ``x`` the torso
    body's x (gym's ``get_body_com("torso")[0]``, the body frame origin), which equals
    ``qpos[0]`` since the free joint sits at that origin. Healthy (else terminated): ``(qpos, qvel)`` finite and torso height
    ``0.2 <= qpos[2] <= 1.0``. Actions ``[8]`` in ``[-1, 1]`` (torques = 150 x action). Reset
    noise: qpos ``U(-0.1, 0.1)``, qvel ``0.1 * N(0, 1)``.

    ``cfrc_ext`` (external contact wrench per body, ``[nbody, 6]``, torque then force) is that
    of the new state: ``mjx.forward`` + ``mjx.rne_postconstraint`` after each control step and
    at reset (one extra forward pass per control step, ~5% of the step). MuJoCo 2.0
    (mujoco-py, which D4RL used) computed it in every ``mj_forward``; MuJoCo >= 2.2 only on
    demand, which left gymnasium's Ant-v4 contact forces at zero.

    Args:
        use_contact_forces: ``True`` (default): D4RL's 111-dim obs and the contact cost;
            ``False``: gymnasium ``Ant-v4``'s default, 27-dim obs and no contact cost.
        **kwargs: see ``GymLocomotionEnv``.
    """

    XML = "ant.xml"
    FRAME_SKIP = 5
    CTRL_COST = 0.5
    HEALTHY_REWARD = 1.0
    RESET_NOISE = 0.1
    QVEL_NOISE_NORMAL = True
    CONTACT_COST = 0.5e-3

    def __init__(self, use_contact_forces: bool = True, **kwargs):
        if not isinstance(use_contact_forces, bool):
            raise ValueError(f"use_contact_forces: expected a bool, got {use_contact_forces!r}")  # noqa: TRY004 (config errors are ValueErrors here)
        self.use_contact_forces = use_contact_forces
        # D4RL's obs holds cfrc_ext at reset too: that needs mj_forward + rne_postconstraint.
        self.RESET_FORWARD = use_contact_forces
        super().__init__(**kwargs)

    def _with_contact_forces(self, model: mjx.Model, data: mjx.Data) -> mjx.Data:
        if not self.use_contact_forces:
            return data
        # The contact forces OF the new state: after mjx.step the derived fields belong to
        # the last (RK4 stage of the) pre-integration state, so run forward on the new state.
        return mjx.rne_postconstraint(model, mjx.forward(model, data))

    def reset_data(self, key, params, model):
        data, extras = super().reset_data(key, params, model)
        return self._with_contact_forces(model, data), extras

    def physics_step(self, model, data, action, params):
        data = super().physics_step(model, data, action, params)
        return self._with_contact_forces(model, data)

    def contact_forces(self, data: mjx.Data) -> jax.Array:
        """``[nbody * 6]`` clipped external contact wrenches (gym's ``contact_forces``)."""
        # MJX 3.x keeps cfrc_ext in the JAX implementation part of Data (Data.cfrc_ext is deprecated).
        return jnp.clip(data._impl.cfrc_ext, -1.0, 1.0).reshape(-1)

    def extra_cost(self, data) -> jax.Array:
        if not self.use_contact_forces:
            return jnp.zeros((), jnp.float32)
        return self.CONTACT_COST * jnp.sum(jnp.square(self.contact_forces(data)))

    def is_healthy(self, data) -> jax.Array:
        return ant_is_healthy(data)

    def observation(self, data, extras, params) -> jax.Array:
        parts = [data.qpos[2:], data.qvel]
        if self.use_contact_forces:
            parts.append(self.contact_forces(data))
        return jnp.concatenate(parts)
