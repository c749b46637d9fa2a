"""The imitation evaluation and the beside-the-reference video on the MJX humanoid itself.

Both compile the humanoid's physics step (minutes on the 2-core CPU), so both are slow.
"""

from __future__ import annotations

import math

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.mjx import record
from envs_jax.policy import feed_forward
from purerl.common import imitation_eval as ie
from purerl.common import video

ZERO = feed_forward(lambda key, obs: jnp.zeros((obs.shape[0], 28), jnp.float32))


@pytest.mark.slow
def test_evaluate_imitation_on_the_humanoid():
    env, params = envs_jax.make("amp-humanoid", reset_mode="start")
    ref = ie.make_reference(env, params)
    assert ref.pose.shape == (1, 77, 45)
    ev = jax.jit(lambda k: ie.evaluate_imitation(env, params, ZERO, k, ref, 2, 6, top_k=1))(
        jax.random.key(0))
    np.testing.assert_array_equal(ev.length, 6)
    # Frame 0 is the clip's first pose (a "start" reset). The torso hangs off the root and
    # agrees exactly; bodies below a 3-DOF joint differ by up to ~1.5 cm, because the
    # model's three hinges take the exp map's components as Euler-like angles (spec
    # defect 3, kept): the floor of the pose error of a perfect imitation is not 0.
    demo0 = np.broadcast_to(ref.pose[0, 0], (2, 45))
    np.testing.assert_allclose(ev.pose[:, 0, :6], demo0[:, :6], atol=1e-4)
    np.testing.assert_allclose(ev.pose[:, 0], demo0, atol=0.03)
    summary = {k: float(v) for k, v in ev.summary().items()}
    assert 0.0 < summary["eval/pose_error"] < 1.0       # metres per body, a few steps in
    assert math.isfinite(summary["eval/sparc"]) and summary["eval/sparc"] < 0.0
    assert int(ev.selected.sum()) == 1


@pytest.mark.slow
def test_beside_reference_video_on_a_tiny_episode(tmp_path):
    env, params = envs_jax.make("amp-humanoid", reset_mode="start")
    frames, episode = record.record_beside_reference(env, params, ZERO, jax.random.key(0),
                                                     max_steps=4, width=24, height=16,
                                                     camera="side", render_every=2)
    assert frames.shape == (3, 16, 2 * 24 + 2, 3) and frames.dtype == np.uint8
    assert int(episode.length) == 4
    np.testing.assert_array_equal(frames[:, :, 24:26], 255)         # the divider
    # Frame 0: the policy starts at the clip's first pose, so both panels show the same.
    left, right = frames[0, :, :24].astype(int), frames[0, :, 26:].astype(int)
    assert np.abs(left - right).mean() < 2.0
    assert frames[:, :, 26:].std() > 5.0                             # the body is drawn
    with pytest.raises(ValueError, match="motion_id: expected an int in"):
        record.record_beside_reference(env, params, ZERO, jax.random.key(0), 4, motion_id=1)
    path = video.write_reference_video(tmp_path, env, params, ZERO, jax.random.key(0),
                                       max_steps=4, width=24, height=16)
    assert path.endswith("videos/beside_reference.gif")
    gif = iio.imread(path, index=None)
    assert gif.shape[1:3] == (16, 50)
