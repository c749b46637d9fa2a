"""Evaluation videos: one episode of a final policy on an MJX task, as ``videos/<name>.gif``
(or ``.mp4``) in the run directory.

Rollout and rendering happen in one compiled call on the device
(``envs_jax.mjx.record.record_episode``: a ``lax.while_loop`` over frames with the pure-JAX
camera, stopped at the episode end); this module picks the frame rate, encodes with
imageio and writes atomically::

    path = write_eval_video(run.path, env, env_params, policy, key)   # runs/x/videos/final.gif
    path = write_reference_video(run.path, env, env_params, policy, key)  # imitation: policy
                                                        # beside its clip, beside_reference.gif

GIF is encoded by Pillow (a dependency of imageio itself); MP4 (H.264) needs the
``imageio-ffmpeg`` package, which ships its own ffmpeg binary.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

import numpy as np

from envs_jax.policy import Policy
from envs_jax.wrappers import is_mjx_env

__all__ = ["FORMATS", "frame_stride", "record_episode", "write_eval_video",
           "write_reference_video", "write_video"]

FORMATS = ("gif", "mp4")

# GIF frame delays are whole centiseconds, and browsers play delays under 20 ms at 100 ms.
_GIF_MIN_DELAY_S = 0.02
_GIF_DELAY_UNIT_S = 0.01
_GIF_DELAY_TOLERANCE = 0.06   # relative playback-speed error accepted
_MP4_MAX_FPS = 60.0


def record_episode(env, env_params: Any, policy: Policy, key, max_steps: int,
                   width: int = 160, height: int = 120, camera: str | int | None = None,
                   render_every: int = 1) -> np.ndarray:
    """``envs_jax.mjx.record.record_episode`` (see there): ``[T, height, width, 3]`` uint8
    frames of one episode, reset frame first, trimmed at the episode end.

    Raises:
        ValueError: ``env`` is not an MJX task (checked before MuJoCo is imported), or bad
            ``max_steps``/``render_every``/size/camera.
    """
    _check_mjx("record_episode", env)
    from envs_jax.mjx import record

    return record.record_episode(env, env_params, policy, key, max_steps, width, height,
                                 camera, render_every)


def frame_stride(fps: float, fmt: str) -> int:
    """Control steps per video frame so that ``fmt`` can play the episode in real time.

    GIF stores frame delays in whole centiseconds (and browsers slow delays under 20 ms to
    100 ms): the smallest stride ``k`` whose delay ``k / fps`` is >= 20 ms and within 6% of
    a whole number of centiseconds (halfcheetah, 20 Hz: 1, 50 ms; hopper, 125 Hz: 5, 40 ms;
    30 Hz: 2, 70 ms for 66.7 ms), else ``ceil(0.02 * fps)``. MP4: at most 60 frames/s.

    Args:
        fps: control steps per second (Hz), > 0.
        fmt: ``"gif"`` or ``"mp4"``.

    Raises:
        ValueError: unknown ``fmt`` or ``fps <= 0``.
    """
    _check_fmt("frame_stride", fmt)
    if not fps > 0:
        raise ValueError(f"frame_stride.fps: expected > 0 Hz, got {fps!r}")
    if fmt == "mp4":
        return max(1, math.ceil(fps / _MP4_MAX_FPS - 1e-9))
    first = max(1, math.ceil(_GIF_MIN_DELAY_S * fps - 1e-9))
    for k in range(first, first + 100):
        units = k / fps / _GIF_DELAY_UNIT_S
        if abs(round(units) - units) <= _GIF_DELAY_TOLERANCE * units:
            return k
    return first


def write_video(path: str, frames: np.ndarray, fps: float) -> str:
    """Encode ``frames`` to ``path`` with imageio; the format follows the extension.

    ``.gif``: Pillow, looping, delay ``1000 / fps`` ms rounded to whole centiseconds (GIF's
    unit; at least 10 ms); Pillow merges consecutive identical frames into one longer frame. ``.mp4``: H.264
    (yuv420p) through ``imageio-ffmpeg``; an odd width or height is padded by repeating
    the last column/row (yuv420p needs even sizes).

    Args:
        path: output file, ending in ``.gif`` or ``.mp4``.
        frames: ``[T, H, W, 3]`` uint8 RGB, T >= 1.
        fps: frames per second (Hz), > 0.

    Returns:
        ``path``.

    Raises:
        ValueError: bad frame shape/dtype, ``fps <= 0``, another extension, or ``.mp4``
            without the ``imageio-ffmpeg`` package.
    """
    import imageio.v3 as iio

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1 \
            or frames.dtype != np.uint8:
        raise ValueError(f"write_video.frames: expected [T >= 1, H, W, 3] uint8, got "
                         f"{list(frames.shape)} {frames.dtype}")
    if not fps > 0:
        raise ValueError(f"write_video.fps: expected > 0 Hz, got {fps!r}")
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    _check_fmt("write_video", fmt, f"path {path!r}: expected a .gif or .mp4 file")
    if fmt == "gif":
        iio.imwrite(path, frames, extension=".gif", plugin="pillow",
                    duration=10 * max(1, round(100.0 / fps)), loop=0)
    else:
        _check_ffmpeg("write_video")
        pad = ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0))
        frames = np.pad(frames, pad, mode="edge")
        iio.imwrite(path, frames, extension=".mp4", plugin="FFMPEG", fps=fps,
                    codec="libx264", pixelformat="yuv420p", macro_block_size=1)
    return path


def write_eval_video(run_dir: Any, env, env_params: Any, policy: Policy, key, *,
                     max_steps: int | None = None, width: int = 160, height: int = 120,
                     camera: str | int | None = None, fmt: str = "gif",
                     name: str = "final") -> str:
    """Record one episode of ``policy`` and write it to ``<run_dir>/videos/<name>.<fmt>``.

    The file is written to a temporary file in ``videos/`` and renamed, so a reader never
    sees a half-written video and an existing one is replaced whole. The video plays in
    real time: one frame every ``frame_stride(1 / dt, fmt)`` control steps of ``dt``
    seconds (halfcheetah, dt = 0.05 s: every step, 20 fps).

    Args:
        run_dir: the run directory (a path, or anything with a ``.path``, e.g. ``RunDir``).
        env: an MJX task (``envs_jax.MJX_ENV_IDS``), unvectorised, without auto-reset.
        env_params: its params.
        policy: the (deterministic) ``Policy`` to film, run with N = 1.
        key: PRNG key of the episode.
        max_steps: step budget; default the task's ``episode_length`` (1000 for gym).
        width: image width in pixels.
        height: image height in pixels.
        camera: model camera name or id; ``None``: the model's first camera.
        fmt: ``"gif"`` (Pillow) or ``"mp4"`` (needs ``imageio-ffmpeg``).
        name: file name without extension.

    Returns:
        The path of the written video.

    Raises:
        ValueError: ``env`` is not an MJX task; unknown ``fmt``; ``"mp4"`` without
            ``imageio-ffmpeg``; bad ``max_steps``, size or camera. All are checked before
            anything is compiled.
    """
    from envs_jax.mjx import record

    max_steps, fps, stride = _episode_timing("write_eval_video", env, fmt, max_steps)
    frames = record.record_episode(env, env_params, policy, key, max_steps, width, height,
                                   camera, stride)
    return _write_run_video(run_dir, name, fmt, frames, fps / stride)


def write_reference_video(run_dir: Any, env, env_params: Any, policy: Policy, key, *,
                          motion_id: int = 0, max_steps: int | None = None, width: int = 160,
                          height: int = 120, camera: str | int | None = "side",
                          fmt: str = "gif", name: str = "beside_reference") -> str:
    """The policy (left) beside reference clip ``motion_id`` (right), as
    ``<run_dir>/videos/<name>.<fmt>``: what an imitation run's user looks at first.

    One compiled call renders both panels with the in-jit camera
    (``envs_jax.mjx.record.record_beside_reference``): the policy's episode, and the clip's
    poses set into the same model (looped over the clip's length); the file is written
    atomically and plays in real time, as ``write_eval_video``.

    Args:
        run_dir: the run directory (a path or anything with ``.path``).
        env: the AMP humanoid (``"amp-humanoid"``), unvectorised, without auto-reset.
        env_params: its params (``.motion`` holds the clips).
        policy: the (deterministic) ``Policy``, run with N = 1.
        key: PRNG key of the episode.
        motion_id: the clip to show, an index into ``env_params.motion``.
        max_steps: step budget; default the task's ``episode_length`` (300).
        width: width of one panel in pixels (the video is ``2 width + 2`` wide).
        height: height in pixels.
        camera: model camera; default ``"side"`` (tracks the body's centre of mass).
        fmt: ``"gif"`` or ``"mp4"``.
        name: file name without extension.

    Returns:
        The path of the written video.

    Raises:
        ValueError: not an MJX task; a task without motion clips; bad ``motion_id``,
            ``fmt``, size or camera (all before anything is compiled).
    """
    from envs_jax.mjx import record

    max_steps, fps, stride = _episode_timing("write_reference_video", env, fmt, max_steps)
    frames, _ = record.record_beside_reference(env, env_params, policy, key, max_steps, width,
                                               height, camera, stride, motion_id)
    return _write_run_video(run_dir, name, fmt, frames, fps / stride)


def _episode_timing(caller: str, env, fmt: str, max_steps: int | None
                   ) -> tuple[int, float, int]:
    """Checks shared by the run-video writers (before any compile), then ``(max_steps,
    env fps, frame stride)``: ``max_steps`` defaults to the task's episode length."""
    _check_mjx(caller, env)
    _check_fmt(caller, fmt)
    if fmt == "mp4":
        _check_ffmpeg(caller)
    from envs_jax.mjx import record

    base = record.base_mjx_env(env, caller)
    fps = 1.0 / base.dt
    return (base.episode_length if max_steps is None else max_steps, fps,
            frame_stride(fps, fmt))


def _write_run_video(run_dir: Any, name: str, fmt: str, frames: np.ndarray, fps: float) -> str:
    """``write_video`` to ``<run_dir>/videos/<name>.<fmt>`` through a temporary file + rename
    (a reader never sees a half-written video; an existing one is replaced whole)."""
    videos = os.path.join(getattr(run_dir, "path", run_dir), "videos")
    os.makedirs(videos, exist_ok=True)
    path = os.path.join(videos, f"{name}.{fmt}")
    fd, tmp = tempfile.mkstemp(dir=videos, prefix=f".{name}.", suffix=f".{fmt}")
    os.close(fd)
    try:
        write_video(tmp, frames, fps)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _check_mjx(caller: str, env) -> None:
    if not is_mjx_env("", env):
        name = getattr(env, "name", type(env).__name__)
        raise ValueError(f"{caller}: videos need an MJX task (envs_jax.MJX_ENV_IDS, e.g. "
                         f"'halfcheetah'), got env {name!r}")


def _check_fmt(caller: str, fmt: str, detail: str | None = None) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"{caller}: " + (detail or f"fmt: expected one of {FORMATS}, "
                                          f"got {fmt!r}"))


def _check_ffmpeg(caller: str) -> None:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError as err:
        raise ValueError(f"{caller}: MP4 needs the imageio-ffmpeg package (pip install "
                         "imageio-ffmpeg); GIF needs nothing more") from err
