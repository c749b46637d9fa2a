"""One episode of a policy on an MJX task, rendered frame by frame inside one compiled call.

``render_episode`` is the jittable core: a ``lax.while_loop`` over frames that renders the
current state with the pure-JAX ``render.Camera`` and then steps the env ``render_every``
control steps with the policy; the loop stops at the episode end (``terminated |
truncated``) or after ``max_steps`` steps, so nothing is simulated or rendered past it.
``record_episode`` compiles it (once per env, policy, camera, image size and step count)
and returns the frames of the episode as a host array. Encoding to GIF/MP4 is left to the
caller (``purerl.common.video``), so this module needs nothing beyond MuJoCo and JAX.

Why the in-jit camera and not ``mujoco.Renderer`` on the host (measured twice on the shared
2-core CPU machine, load 3-4, halfcheetah's ``track`` camera, ``benchmarks/video_render.py``):
the host renderer works there only with ``MUJOCO_GL=egl`` (software Mesa; ``osmesa`` and
``glfw`` find no library/display) and took 88-187 ms per 32x24 frame and 121-196 ms per
160x120 frame; the in-jit camera took 4.2-5.9 and 17.5-34 ms (pose recomputation included),
and a whole 1000-step 160x120 episode 28-35 ms per frame with the physics, after a 66-70 s
compile. The in-jit camera also needs no OpenGL, runs on any JAX device, and keeps rollout
and rendering in one compiled call with no per-step host transfer. Its images are
simplified (see ``render``: no shadows, reflections or cylinders).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from mujoco import mjx

from envs_jax.core import Environment
from envs_jax.mjx.base import MjxEnv, MjxState
from envs_jax.mjx.render import Camera
from envs_jax.policy import Policy

__all__ = ["RenderedEpisode", "base_mjx_env", "control_fps", "make_camera", "num_frame_slots",
           "record_beside_reference", "record_episode", "record_episode_stats",
           "render_beside_reference", "render_episode", "render_reference"]


class RenderedEpisode(NamedTuple):
    """What ``render_episode`` returns (F = ``num_frame_slots(max_steps, render_every)``).

    Attributes:
        frames: ``[F, H, W, 3]`` uint8 RGB; frame 0 is the reset state, frame ``i`` the state
            after ``i * render_every`` steps (the last one: the state the episode ended in).
            Slots ``>= num_frames`` are zero.
        num_frames: ``[]`` int32, frames rendered: ``1 + ceil(length / render_every)``.
        length: ``[]`` int32, control steps until the episode ended (or ``max_steps``).
        episode_return: ``[]`` float32, undiscounted return of those steps.
    """

    frames: jax.Array
    num_frames: jax.Array
    length: jax.Array
    episode_return: jax.Array


def base_mjx_env(env: Environment, caller: str = "record_episode") -> MjxEnv:
    """The ``MjxEnv`` under ``env``'s wrappers (``Wrapper.env`` chain).

    Raises:
        ValueError: ``env`` is not an MJX task, or is vectorised (``VecEnv``: one episode
            is rendered, pass the unvectorised env).
    """
    inner = env
    while not isinstance(inner, MjxEnv):
        if type(inner).__name__ == "VecEnv":
            raise ValueError(f"{caller}: expected an unvectorised env, got a VecEnv of "
                             f"{inner.name!r}; pass the env inside it")
        inner = getattr(inner, "env", None)
        if inner is None:
            raise ValueError(f"{caller}: videos need an MJX task (envs_jax.MJX_ENV_IDS), "
                             f"got {getattr(env, 'name', type(env).__name__)!r}")
    return inner


def control_fps(env: Environment) -> float:
    """Control steps per second of the MJX task under ``env`` (``1 / dt``), in Hz.

    Raises:
        ValueError: ``env`` is not an MJX task.
    """
    return 1.0 / base_mjx_env(env, "control_fps").dt


def num_frame_slots(max_steps: int, render_every: int) -> int:
    """Frames of an episode that runs all ``max_steps`` steps: ``1 + ceil(max_steps / k)``."""
    return 1 + math.ceil(max_steps / render_every)


@functools.lru_cache(maxsize=32)
def make_camera(env: Environment, width: int, height: int,
                camera: str | int | None = None) -> Camera:
    """The ``Camera`` of the MJX task under ``env`` (cached: the same object, hence the same
    compiled ``record_episode``, for the same arguments).

    Args:
        env: an MJX task (wrappers allowed).
        width: image width in pixels, >= 1.
        height: image height in pixels, >= 1.
        camera: a model camera name or id; ``None`` picks the model's first camera (the
            gym tasks' ``"track"``, DMC's ``"side"``: both follow the centre of mass) or,
            for a model without cameras (AntMaze), ``Camera``'s fixed fallback camera.

    Raises:
        ValueError: not an MJX task, bad size, unknown camera (from ``Camera``).
    """
    mj_model = base_mjx_env(env, "make_camera").mj_model
    if camera is None:
        camera = 0 if mj_model.ncam else None
    return Camera(mj_model, camera, width=width, height=height)


def _current_pose(model: mjx.Model, data: mjx.Data) -> mjx.Data:
    """Geom, camera and centre-of-mass positions of the current ``qpos``.

    ``mjx.step`` leaves them at the state before the integration, and a reset without
    ``mjx.forward`` leaves them zero; the camera reads them, so recompute (no collision
    detection or constraint solve)."""
    data = mjx.kinematics(model, data)
    data = mjx.com_pos(model, data)
    return mjx.camlight(model, data)


def _mjx_data(state: Any) -> mjx.Data:
    """The ``mjx.Data`` inside a (wrapped) env state (``env_state`` chain)."""
    while not isinstance(state, MjxState):
        state = state.env_state
    return state.data


def render_episode(env: Environment, env_params: Any, policy: Policy, key: jax.Array,
                   camera: Camera, max_steps: int, render_every: int = 1) -> RenderedEpisode:
    """Roll out one episode of ``policy`` and render it; jittable (pure JAX).

    Args:
        env: an MJX task of our protocol, unvectorised, without auto-reset (wrappers that
            keep the inner state in ``env_state``, e.g. ``RecordEpisodeStats``, are fine).
        env_params: its params (``model_fields`` are swapped into the rendered model too).
        policy: the acting ``Policy``, run with ``N = 1``; ``reset`` is true on the first
            step only. Pass a deterministic policy for an evaluation video; ``key`` still
            feeds ``policy.act`` and ``env.step``.
        key: PRNG key (reset, then one per step).
        camera: from ``make_camera`` (static: closed over).
        max_steps: static int >= 1, the step budget (e.g. the task's time limit).
        render_every: static int >= 1, render one frame every this many control steps.

    Returns:
        ``RenderedEpisode`` with ``frames [1 + ceil(max_steps / render_every), H, W, 3]``.
    """
    base = base_mjx_env(env, "render_episode")
    num_slots = num_frame_slots(max_steps, render_every)
    key_reset, key_steps = jax.random.split(key)
    obs, state = env.reset(key_reset, env_params)
    model = base.model(env_params)

    def render(state):
        return camera.render(model, _current_pose(model, _mjx_data(state)))

    def env_step(_, c):
        obs, state, hidden, first, alive, t, total, key = c
        key, key_act, key_env = jax.random.split(key, 3)

        def live(_):
            hidden_new, action = policy.act(hidden, obs[None], first, key_act)[:2]
            ts = env.step(key_env, state, action[0], env_params)
            done = ts.terminated | ts.truncated
            return (ts.obs, ts.state, hidden_new, jnp.zeros_like(first), ~done, t + 1,
                    total + ts.reward.astype(jnp.float32))

        running = alive & (t < max_steps)
        frozen = (obs, state, hidden, first, alive, t, total)
        return (*jax.lax.cond(running, live, lambda _: frozen, None), key)

    def body(c):
        i, frames, running, step_carry = c
        frames = frames.at[i].set(render(step_carry[1]))
        _, _, _, _, alive, t, _, _ = step_carry
        running = alive & (t < max_steps)   # another chunk of steps, hence another frame
        step_carry = jax.lax.fori_loop(0, render_every, env_step, step_carry)
        return i + 1, frames, running, step_carry

    frames = jnp.zeros((num_slots, camera.height, camera.width, 3), jnp.uint8)
    step_carry = (obs, state, policy.initial_hidden(1), jnp.ones((1,), bool),
                  jnp.array(True), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32),
                  key_steps)
    i, frames, _, step_carry = jax.lax.while_loop(
        lambda c: (c[0] < num_slots) & c[2], body,
        (jnp.zeros((), jnp.int32), frames, jnp.array(True), step_carry))
    return RenderedEpisode(frames, i, step_carry[5], step_carry[6])


_render_episode_jit = jax.jit(render_episode, static_argnames=(
    "env", "policy", "camera", "max_steps", "render_every"))


def record_episode(env: Environment, env_params: Any, policy: Policy, key: jax.Array,
                   max_steps: int, width: int = 160, height: int = 120,
                   camera: str | int | None = None, render_every: int = 1) -> np.ndarray:
    """Frames of one episode of ``policy`` on an MJX task, rolled out and rendered in one
    compiled call (``render_episode``), trimmed at the episode end.

    The compiled call is cached per ``(env, policy, width, height, camera, max_steps,
    render_every)`` (``env`` and ``policy`` by identity/hash): recording the same policy
    object again does not recompile.

    Args:
        env: an MJX task (see ``render_episode``).
        env_params: its params.
        policy: the ``Policy`` (hashable: a ``Policy`` of plain functions is).
        key: PRNG key.
        max_steps: int >= 1, the step budget (e.g. the task's ``episode_length``).
        width: image width in pixels, >= 1.
        height: image height in pixels, >= 1.
        camera: model camera name or id; ``None``: the model's first camera (see
            ``make_camera``).
        render_every: int >= 1, one frame every this many control steps (the video then
            plays in real time at ``control_fps(env) / render_every`` frames per second).

    Returns:
        ``[T, height, width, 3]`` uint8 numpy, ``T = 1 + ceil(length / render_every)``
        frames (the reset frame first, the state the episode ended in last), ``length``
        the control steps until ``terminated | truncated`` or ``max_steps``.

    Raises:
        ValueError: ``env`` is not an MJX task or is vectorised; ``max_steps`` or
            ``render_every`` below 1; a bad image size or camera.
    """
    frames, _ = record_episode_stats(env, env_params, policy, key, max_steps, width, height,
                                     camera, render_every)
    return frames


def record_episode_stats(env: Environment, env_params: Any, policy: Policy, key: jax.Array,
                         max_steps: int, width: int = 160, height: int = 120,
                         camera: str | int | None = None, render_every: int = 1,
                         ) -> tuple[np.ndarray, RenderedEpisode]:
    """``record_episode`` that also returns the ``RenderedEpisode`` (``length``,
    ``episode_return``, the untrimmed frames); same arguments and errors."""
    for name, value in (("max_steps", max_steps), ("render_every", render_every)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"record_episode.{name}: expected an int >= 1, got {value!r}")
    cam = make_camera(env, width, height, camera)      # raises for a non-MJX env
    episode = _render_episode_jit(env, env_params, policy, key, camera=cam,
                                  max_steps=int(max_steps), render_every=int(render_every))
    num_frames = int(episode.num_frames)
    return np.asarray(episode.frames[:num_frames]), episode


# ----- the policy beside its reference clip -------------------------------------------------
_DIVIDER_PX = 2  # white columns between the two panels


def render_reference(env: Environment, env_params: Any, camera: Camera, motion_id: jax.Array,
                     num_frames: int, render_every: int = 1) -> jax.Array:
    """Frames of a reference clip's poses set into the model; jittable (pure JAX).

    Frame ``i`` shows the clip at ``t = i * render_every * dt`` (looped over the clip's
    length, so a 2.55 s walk repeats beside a 10 s episode): the motion library's state
    (lerped positions, slerped rotations) becomes ``qpos`` through the task's
    ``reference_qpos_qvel`` (the same mapping as a reference-state reset), then
    kinematics, and the camera renders it. Frames are made one after another
    (``lax.map``), so memory stays at one frame's rays.

    Args:
        env: an MJX task with a motion library (``AMPHumanoid``; wrappers allowed).
        env_params: its params; ``env_params.motion`` is the ``MotionLib``.
        camera: from ``make_camera`` (static).
        motion_id: ``[]`` int, the clip.
        num_frames: static int >= 1.
        render_every: static int >= 1, control steps between frames.

    Returns:
        ``[num_frames, H, W, 3]`` uint8.

    Raises:
        ValueError: the task has no ``reference_qpos_qvel`` or the params no ``motion``.
    """
    from envs_jax.mjx import motion_lib as ml

    base = base_mjx_env(env, "render_reference")
    if not hasattr(base, "reference_qpos_qvel") or not hasattr(env_params, "motion"):
        raise ValueError(f"render_reference: expected a task with a motion library (the AMP "
                         f"humanoid), got {type(base).__name__}")
    model = base.model(env_params)
    lib = env_params.motion
    length = lib.clip_length[motion_id]

    def frame(i):
        t = jnp.mod(i.astype(jnp.float32) * (render_every * base.dt), length)
        qpos, qvel = base.reference_qpos_qvel(ml.motion_state(lib, motion_id, t))
        data = mjx.make_data(model)
        data = data.replace(qpos=qpos.astype(data.qpos.dtype), qvel=qvel.astype(data.qvel.dtype))
        return camera.render(model, _current_pose(model, data))

    return jax.lax.map(frame, jnp.arange(num_frames))


def render_beside_reference(env: Environment, env_params: Any, policy: Policy, key: jax.Array,
                            camera: Camera, max_steps: int, render_every: int = 1,
                            motion_id: jax.Array | int = 0) -> RenderedEpisode:
    """One episode of ``policy`` (left) beside reference clip ``motion_id`` (right), both
    from the same camera (a tracking camera follows each body); jittable.

    Args:
        env, env_params, policy, key, camera, max_steps, render_every: as in
            ``render_episode``.
        motion_id: the clip of ``env_params.motion`` to show (traced int).

    Returns:
        ``RenderedEpisode`` with ``frames [F, H, 2 W + 2, 3]`` (a 2-pixel white divider);
        past ``num_frames`` the left panel is black.
    """
    episode = render_episode(env, env_params, policy, key, camera, max_steps, render_every)
    reference = render_reference(env, env_params, camera, jnp.asarray(motion_id, jnp.int32),
                                 episode.frames.shape[0], render_every)
    divider = jnp.full(episode.frames.shape[:2] + (_DIVIDER_PX, 3), 255, jnp.uint8)
    frames = jnp.concatenate([episode.frames, divider, reference], axis=2)
    return episode._replace(frames=frames)


_render_beside_jit = jax.jit(render_beside_reference, static_argnames=(
    "env", "policy", "camera", "max_steps", "render_every"))


def record_beside_reference(env: Environment, env_params: Any, policy: Policy, key: jax.Array,
                            max_steps: int, width: int = 160, height: int = 120,
                            camera: str | int | None = None, render_every: int = 1,
                            motion_id: int = 0) -> tuple[np.ndarray, RenderedEpisode]:
    """Host frames of ``render_beside_reference``, trimmed at the episode end (one compiled
    call, cached as ``record_episode``'s).

    Args:
        env, env_params, policy, key, max_steps, width, height, camera, render_every: as in
            ``record_episode`` (``width`` is one panel's).
        motion_id: int in ``[0, num_clips)``.

    Returns:
        ``([T, height, 2 width + 2, 3] uint8, RenderedEpisode)``.

    Raises:
        ValueError: as ``record_episode``; ``motion_id`` outside the library; a task
            without a motion library.
    """
    for name, value in (("max_steps", max_steps), ("render_every", render_every)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"record_beside_reference.{name}: expected an int >= 1, got "
                             f"{value!r}")
    num_clips = getattr(getattr(env_params, "motion", None), "num_clips", None)
    if num_clips is None:
        raise ValueError("record_beside_reference: expected the humanoid's params with a "
                         f".motion MotionLib, got {type(env_params).__name__}")
    if isinstance(motion_id, bool) or not isinstance(motion_id, (int, np.integer)) \
            or not 0 <= motion_id < num_clips:
        raise ValueError(f"record_beside_reference.motion_id: expected an int in "
                         f"[0, {num_clips}), got {motion_id!r}")
    cam = make_camera(env, width, height, camera)
    episode = _render_beside_jit(env, env_params, policy, key, camera=cam,
                                 max_steps=int(max_steps), render_every=int(render_every),
                                 motion_id=int(motion_id))
    return np.asarray(episode.frames[: int(episode.num_frames)]), episode
