"""Evaluation videos (``purerl.common.video``, ``envs_jax.mjx.record``).

One MJX compile for the whole module: halfcheetah with a 5-step time limit, a 32x24 image
and an 8-step budget, recorded once by the fixture; ``write_eval_video`` with the same
arguments reuses that compiled call (checked).
"""

from __future__ import annotations

import os

import imageio.v3 as iio
import jax
import numpy as np
import pytest

import envs_jax
from envs_jax.policy import per_observation
from purerl.common import video

WIDTH, HEIGHT, MAX_STEPS, EPISODE_LENGTH = 32, 24, 8, 5


def _random_action(key, obs):
    return jax.random.uniform(key, (6,), minval=-1.0, maxval=1.0)


RANDOM_POLICY = per_observation(_random_action)


@pytest.fixture(scope="module")
def cheetah():
    env, params = envs_jax.make("halfcheetah", episode_length=EPISODE_LENGTH)
    frames = video.record_episode(env, params, RANDOM_POLICY, jax.random.key(0), MAX_STEPS,
                                  WIDTH, HEIGHT)
    return env, params, frames


def test_frames_shape_dtype_and_motion(cheetah):
    _, _, frames = cheetah
    assert frames.dtype == np.uint8
    assert frames.shape == (EPISODE_LENGTH + 1, HEIGHT, WIDTH, 3)
    # Every frame differs from the one before (the cheetah moves under random torques).
    assert all(np.any(frames[i] != frames[i - 1]) for i in range(1, len(frames)))
    assert frames.std() > 10          # not a blank image


def test_episode_end_truncates_frames(cheetah):
    from envs_jax.mjx import record

    env, params, frames = cheetah
    frames_again, episode = record.record_episode_stats(
        env, params, RANDOM_POLICY, jax.random.key(0), MAX_STEPS, WIDTH, HEIGHT)
    # The time limit (5 steps) ends the episode before the 8-step budget: reset frame + 5.
    assert int(episode.length) == EPISODE_LENGTH
    assert len(frames_again) == EPISODE_LENGTH + 1 < MAX_STEPS + 1
    assert not np.asarray(episode.frames[EPISODE_LENGTH + 1:]).any()   # never rendered
    np.testing.assert_array_equal(frames_again, frames)                  # same key, same video


def test_write_eval_video_gif_reads_back(cheetah, tmp_path):
    from envs_jax.mjx import record

    env, params, frames = cheetah
    compiled = record._render_episode_jit._cache_size()
    path = video.write_eval_video(str(tmp_path), env, params, RANDOM_POLICY, jax.random.key(0),
                                  max_steps=MAX_STEPS, width=WIDTH, height=HEIGHT)
    assert record._render_episode_jit._cache_size() == compiled        # no recompile
    assert path == os.path.join(str(tmp_path), "videos", "final.gif")
    assert os.listdir(tmp_path / "videos") == ["final.gif"]              # no temp file left
    back = iio.imread(path, index=None)
    assert back.shape == (EPISODE_LENGTH + 1, HEIGHT, WIDTH, 3)
    assert iio.immeta(path)["duration"] == 50                           # dt 0.05 s: 20 fps
    # GIF quantises colours: close to the rendered frames, not equal.
    assert np.abs(back.astype(int) - frames.astype(int)).mean() < 8


def test_non_mjx_env_is_a_clear_error(tmp_path):
    env, params = envs_jax.make("gymnax/CartPole-v1")
    with pytest.raises(ValueError, match=r"videos need an MJX task.*'CartPole-v1'"):
        video.write_eval_video(str(tmp_path), env, params, RANDOM_POLICY, jax.random.key(0))
    with pytest.raises(ValueError, match=r"videos need an MJX task.*'CartPole-v1'"):
        video.record_episode(env, params, RANDOM_POLICY, jax.random.key(0), 4)
    assert not (tmp_path / "videos").exists()


def test_bad_format_is_checked_before_compiling(cheetah, tmp_path):
    env, params, _ = cheetah
    with pytest.raises(ValueError, match=r"fmt: expected one of \('gif', 'mp4'\), got 'avi'"):
        video.write_eval_video(str(tmp_path), env, params, RANDOM_POLICY, jax.random.key(0),
                               fmt="avi")
    with pytest.raises(ValueError, match=r"max_steps: expected an int >= 1, got 0"):
        video.record_episode(env, params, RANDOM_POLICY, jax.random.key(0), 0)


def test_write_video_gif_frame_count_and_errors(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (7, 5, 9, 3), dtype=np.uint8)
    path = video.write_video(str(tmp_path / "a.gif"), frames, fps=25.0)
    assert iio.imread(path, index=None).shape == (7, 5, 9, 3)
    assert iio.immeta(path)["duration"] == 40
    with pytest.raises(ValueError, match=r"expected \[T >= 1, H, W, 3\] uint8, got \[5, 9, 3\]"):
        video.write_video(str(tmp_path / "b.gif"), frames[0], fps=25.0)
    with pytest.raises(ValueError, match="expected a .gif or .mp4 file"):
        video.write_video(str(tmp_path / "c.avi"), frames, fps=25.0)
    with pytest.raises(ValueError, match="fps: expected > 0 Hz"):
        video.write_video(str(tmp_path / "d.gif"), frames, fps=0.0)


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")   # imageio-ffmpeg's subprocess
def test_write_video_mp4_pads_odd_sizes(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    frames = np.random.default_rng(0).integers(0, 256, (6, 5, 9, 3), dtype=np.uint8)
    path = video.write_video(str(tmp_path / "a.mp4"), frames, fps=20.0)
    assert iio.imread(path, index=None).shape == (6, 6, 10, 3)


@pytest.mark.parametrize("fps, fmt, stride", [
    (20.0, "gif", 1),      # halfcheetah, ant: 50 ms
    (125.0, "gif", 5),     # hopper, walker2d: 40 ms
    (100.0, "gif", 2),     # cheetah-run: 20 ms
    (30.0, "gif", 2),      # 66.7 ms -> 70 ms (5% slow)
    (125.0, "mp4", 3),     # <= 60 fps
    (20.0, "mp4", 1),
])
def test_frame_stride(fps, fmt, stride):
    assert video.frame_stride(fps, fmt) == stride
