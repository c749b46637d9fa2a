"""MJCF loading with clear errors, and the adapter from an MJX model to the env protocol.

A task subclasses ``MjxEnv`` and fills in four hooks::

    reset_data(key, params, model) -> (mjx.Data, extras)     # initial physics state
    observation(data, extras, params) -> obs [obs_dim]
    task_step(data_before, data, action, extras, params) -> TaskStep(reward, terminated, extras, info)
    control(model, data, action, params) -> ctrl [nu]        # optional; default: ctrl = action

``MjxEnv`` does the rest: ``reset``/``step`` in the ``envs_jax`` protocol, ``n_substeps``
physics steps per control step in a ``lax.fori_loop``, the episode time limit as
``truncated`` (never ``terminated``), ``info["final_obs"]``, spaces and ``obs_size``.

Design (after MuJoCo Playground's ``MjxEnv``): the ``mjx.Model`` is built once per env object
and closed over by the traced functions (a constant of the compiled step); the fields a task
randomises per episode batch (masses, frictions, ...) live in ``params.model_fields`` and are
swapped into the model inside the trace, so ``jax.vmap`` over ``params`` is a batch of
physically different tasks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import mjx

from envs_jax import spaces
from envs_jax._checks import check_int
from envs_jax.core import Environment, EnvStep

ASSETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")


def _source_name(source: str | os.PathLike) -> tuple[str, bool]:
    """``(name for messages, is_xml_string)``: an XML string starts with ``<``."""
    text = os.fspath(source)
    if text.lstrip().startswith("<"):
        return "<MJCF string>", True
    return text, False


def load_mjcf(source: str | os.PathLike) -> mujoco.MjModel:
    """Compiles an MJCF model with MuJoCo.

    Args:
        source: a path to an ``.xml`` file (includes and meshes resolve relative to it) or
            the XML text itself (a string starting with ``<``).

    Returns:
        The compiled ``mujoco.MjModel`` (float64, C MuJoCo).

    Raises:
        ValueError: if the file is missing or MuJoCo cannot parse/compile it; the message
            names the file and carries MuJoCo's own message.
    """
    name, is_string = _source_name(source)
    if not is_string and not os.path.isfile(name):
        raise ValueError(f"load_mjcf: expected an existing MJCF file, got {name!r} (no such file)")
    try:
        if is_string:
            return mujoco.MjModel.from_xml_string(os.fspath(source))
        return mujoco.MjModel.from_xml_path(name)
    except ValueError as err:  # MuJoCo reports parse and compile errors as ValueError
        raise ValueError(f"load_mjcf: MuJoCo could not load {name!r}: {err}") from err


def put_model(mj_model: mujoco.MjModel, source: str | os.PathLike = "<model>") -> mjx.Model:
    """Copies a C MuJoCo model to MJX (JAX implementation), checking that MJX supports it.

    Args:
        mj_model: the compiled model.
        source: the file (or ``"<MJCF string>"``) it came from, for the error message.

    Returns:
        The ``mjx.Model`` pytree (float32 unless JAX x64 is enabled).

    Raises:
        ValueError: if MJX cannot take the model (e.g. the PGS solver, an unsupported
            collision pair or integrator); the message names ``source`` and MJX's message.
    """
    name, _ = _source_name(source)
    try:
        return mjx.put_model(mj_model, impl="jax")
    except (NotImplementedError, ValueError, TypeError) as err:
        raise ValueError(
            f"put_model: MJX cannot use the model from {name!r}: {type(err).__name__}: {err}"
        ) from err


def data_from_state(
    model: mjx.Model, qpos: jax.Array, qvel: jax.Array, forward: bool = True
) -> mjx.Data:
    """A fresh ``mjx.Data`` at ``(qpos [nq], qvel [nv])``.

    Args:
        model: the MJX model.
        qpos: ``[nq]`` joint positions.
        qvel: ``[nv]`` joint velocities.
        forward: apply ``mjx.forward`` (gym's ``set_state`` runs ``mj_forward``), so that
            positions, contacts and sensors match the state. ``False`` leaves every derived
            field at zero: enough for tasks whose reset observation reads only ``qpos``/
            ``qvel``, since ``mjx.step`` recomputes all of them first. It saves a forward pass
            per reset (inside ``AutoReset``: per step) and its compile time.
    """
    data = mjx.make_data(model)
    data = data.replace(qpos=qpos.astype(data.qpos.dtype), qvel=qvel.astype(data.qvel.dtype))
    return mjx.forward(model, data) if forward else data


def physics_step(model: mjx.Model, data: mjx.Data, ctrl: jax.Array, n_substeps: int) -> mjx.Data:
    """``n_substeps`` calls of ``mjx.step`` with a fixed ``ctrl [nu]`` (gym's ``do_simulation``).

    Args:
        model: the MJX model.
        data: the state before.
        ctrl: ``[nu]`` actuator controls (MuJoCo clamps them to ``ctrlrange`` if limited).
        n_substeps: static Python int, the frame skip.

    Returns:
        The state after ``n_substeps * model.opt.timestep`` seconds.
    """
    data = data.replace(ctrl=ctrl.astype(data.ctrl.dtype))
    return jax.lax.fori_loop(0, n_substeps, lambda _, d: mjx.step(model, d), data)


@struct.dataclass
class MjxState:
    """Per-episode state of an ``MjxEnv``.

    Attributes:
        data: the ``mjx.Data`` physics state.
        obs: ``[obs_dim]`` (``obs_dtype``, float32 by default), the current observation.
        time_step: ``[]`` int32, control steps taken in this episode.
        extras: dict of task-specific per-episode arrays (fixed structure per task).
    """

    data: mjx.Data
    obs: jax.Array
    time_step: jax.Array
    extras: dict


@struct.dataclass
class MjxParams:
    """Per-task parameters shared by every ``MjxEnv`` (subclasses may add fields).

    Attributes:
        model_fields: ``{mjx.Model attribute: array}`` swapped into the model inside the
            trace (e.g. ``{"geom_friction": [ngeom, 3]}``); empty by default.
    """

    model_fields: dict


class TaskStep(NamedTuple):
    """What ``MjxEnv.task_step`` returns for one control step.

    Attributes:
        reward: ``[]`` float32.
        terminated: ``[]`` bool, a true terminal state (not the time limit).
        extras: the new per-episode extras (same structure as before).
        info: dict of extra ``[]``/``[k]`` arrays for ``EnvStep.info`` (fixed keys per task).
    """

    reward: jax.Array
    terminated: jax.Array
    extras: dict
    info: dict


class MjxEnv(Environment[MjxState, Any]):
    """Adapter from an MJX model + task hooks to the ``envs_jax`` protocol.

    Args:
        mj_model: the compiled C model (solver options already set by the subclass).
        n_substeps: physics steps per control step (gym's ``frame_skip``), >= 1.
        episode_length: control steps before the episode is truncated, >= 1.
        source: the MJCF file the model came from (for error messages).

    Attributes:
        mj_model: the C MuJoCo model (reference simulator, renderer, names).
        mjx_model: the ``mjx.Model`` on the default device.
        n_substeps: physics steps per control step.
        dt: control time step in seconds, ``n_substeps * opt.timestep``.
        episode_length: the time limit in control steps (-> ``truncated``).
        obs_dtype: dtype observations are cast to (class default float32; pixel tasks
            set uint8 and override ``observation_space``).

    Raises:
        ValueError: for bad ``n_substeps``/``episode_length`` or a model MJX cannot take.
    """

    obs_dtype: Any = jnp.float32

    def __init__(
        self,
        mj_model: mujoco.MjModel,
        *,
        n_substeps: int,
        episode_length: int,
        source: str | os.PathLike = "<model>",
    ):
        owner = type(self).__name__
        self.n_substeps = check_int(owner, "n_substeps", n_substeps, minimum=1)
        self.episode_length = check_int(owner, "episode_length", episode_length, minimum=1)
        self.mj_model = mj_model
        self.mjx_model = put_model(mj_model, source)
        self.source = os.fspath(source)

    # ----- properties --------------------------------------------------------------------
    @property
    def dt(self) -> float:
        """Control time step in seconds."""
        return float(self.mj_model.opt.timestep) * self.n_substeps

    @property
    def action_size(self) -> int:
        return int(self.mj_model.nu)

    @cached_property
    def obs_size(self) -> int:
        """Observation length, from ``jax.eval_shape`` of ``reset`` (no compile, no FLOPs)."""
        obs, _ = jax.eval_shape(self.reset, jax.random.key(0), self.default_params())
        return int(np.prod(obs.shape))

    # ----- hooks for subclasses ----------------------------------------------------------
    def default_params(self) -> Any:
        return MjxParams(model_fields={})

    def reset_data(self, key: jax.Array, params: Any, model: mjx.Model) -> tuple[mjx.Data, dict]:
        """Initial physics state and extras of an episode (use ``data_from_state``)."""
        raise NotImplementedError

    def observation(self, data: mjx.Data, extras: dict, params: Any) -> jax.Array:
        """``[obs_dim]`` float32 observation of ``data``."""
        raise NotImplementedError

    def task_step(
        self,
        data_before: mjx.Data,
        data: mjx.Data,
        action: jax.Array,
        extras: dict,
        params: Any,
    ) -> TaskStep:
        """Reward, termination, new extras and info of the transition ``data_before -> data``."""
        raise NotImplementedError

    def control(
        self, model: mjx.Model, data: mjx.Data, action: jax.Array, params: Any
    ) -> jax.Array:
        """``[nu]`` controls for one physics substep; default: the action itself.

        Override for controllers that act every substep (e.g. explicit PD control reads
        ``data.qpos``/``data.qvel`` of the current substep).
        """
        del model, data, params
        return action

    # ----- the protocol ------------------------------------------------------------------
    def model(self, params: Any) -> mjx.Model:
        """The ``mjx.Model`` with ``params.model_fields`` swapped in."""
        fields: Mapping[str, jax.Array] = getattr(params, "model_fields", None) or {}
        if not fields:
            return self.mjx_model
        return self.mjx_model.replace(**fields)

    def physics_step(
        self, model: mjx.Model, data: mjx.Data, action: jax.Array, params: Any
    ) -> mjx.Data:
        """``n_substeps`` physics steps, ``ctrl = control(...)`` recomputed every substep."""
        if type(self).control is MjxEnv.control:  # fixed ctrl: the plain gym loop
            return physics_step(model, data, action, self.n_substeps)

        def substep(_, d: mjx.Data) -> mjx.Data:
            ctrl = self.control(model, d, action, params)
            return mjx.step(model, d.replace(ctrl=ctrl.astype(d.ctrl.dtype)))

        return jax.lax.fori_loop(0, self.n_substeps, substep, data)

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, MjxState]:
        """``(obs [obs_dim] float32, MjxState)`` of a new episode (``reset_data`` + ``observation``)."""
        model = self.model(params)
        data, extras = self.reset_data(key, params, model)
        obs = self.observation(data, extras, params).astype(self.obs_dtype)
        state = MjxState(data=data, obs=obs, time_step=jnp.zeros((), jnp.int32), extras=extras)
        return obs, state

    def step(self, key: jax.Array, state: MjxState, action: jax.Array, params: Any) -> EnvStep:
        """One control step: ``n_substeps`` physics steps with ``action [nu]``, then ``task_step``.

        ``truncated`` is ``time_step >= episode_length`` and not terminated; ``info`` holds
        the task's entries and ``"final_obs"`` (here equal to ``obs``: no auto-reset).
        """
        del key  # the physics is deterministic; tasks with noise override step
        model = self.model(params)
        action = jnp.asarray(action, jnp.float32)
        data = self.physics_step(model, state.data, action, params)
        task = self.task_step(state.data, data, action, state.extras, params)
        obs = self.observation(data, task.extras, params).astype(self.obs_dtype)
        time_step = state.time_step + 1
        terminated = jnp.asarray(task.terminated, jnp.bool_)
        # The time limit cuts the episode; a terminal state at the same step stays terminal.
        truncated = (time_step >= self.episode_length) & ~terminated
        new_state = MjxState(data=data, obs=obs, time_step=time_step, extras=task.extras)
        info = {**task.info, "final_obs": obs}
        return EnvStep(
            obs=obs,
            state=new_state,
            reward=jnp.asarray(task.reward, jnp.float32),
            terminated=terminated,
            truncated=truncated,
            info=info,
        )

    def observation_space(self, params: Any) -> spaces.Space:
        return spaces.Box(-np.inf, np.inf, (self.obs_size,), jnp.float32)

    def action_space(self, params: Any) -> spaces.Space:
        """Box of ``actuator_ctrlrange`` (``[-inf, inf]`` for unlimited actuators)."""
        m = self.mj_model
        limited = np.asarray(m.actuator_ctrllimited, bool)
        low = np.where(limited, m.actuator_ctrlrange[:, 0], -np.inf)
        high = np.where(limited, m.actuator_ctrlrange[:, 1], np.inf)
        return spaces.Box(low, high, (m.nu,), jnp.float32)
