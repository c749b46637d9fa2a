"""DTW pose error and SPARC against numpy references and hand-computed values.

The numpy references are written here independently: DTW as tslearn's double loop
(squared Euclidean local cost, sqrt of the total), SPARC as the reference implementation
(siva82kb/SPARC ``smoothness.sparc``, the code NEAR copies). Known values: tslearn's
docstring examples and SPARC's own (a Gaussian speed profile gives -1.41403).
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs_jax.mjx import motion_lib as ml
from envs_jax.mjx import motion_metrics as mm
from tests.references import np_dtw

WALK = os.path.join(os.path.dirname(ml.__file__), "assets", "motions", "amp_humanoid_walk.npy")
_dtw = jax.jit(mm.dtw)
_sparc30 = jax.jit(lambda x, n: mm.sparc(x, n, 30.0))


def np_sparc(movement, fs, padlevel=4, fc=10.0, amp_th=0.05) -> float:
    """The reference implementation's steps, in numpy."""
    nfft = int(2 ** (np.ceil(np.log2(len(movement))) + padlevel))
    f = np.arange(0, fs, fs / nfft)
    mag = np.abs(np.fft.fft(movement, nfft))
    mag = mag / mag.max()
    f_sel, m_sel = f[f <= fc], mag[f <= fc]
    inx = np.nonzero(m_sel >= amp_th)[0]
    f_sel, m_sel = f_sel[inx[0] : inx[-1] + 1], m_sel[inx[0] : inx[-1] + 1]
    return float(-np.sum(np.sqrt((np.diff(f_sel) / (f_sel[-1] - f_sel[0])) ** 2
                                 + np.diff(m_sel) ** 2)))


def _col(values) -> jnp.ndarray:
    return jnp.asarray(values, jnp.float32)[:, None]


# ----- DTW ---------------------------------------------------------------------------------
def test_dtw_hand_computed_cases():
    # tslearn's docstring: a repeated sample warps for free; one extra sample costs 1.
    assert float(_dtw(_col([1, 2, 3]), _col([1, 2, 2, 3]))) == 0.0
    assert float(mm.dtw(_col([1, 2, 3]), _col([1, 2, 2, 3, 4]))) == pytest.approx(1.0)
    # x = (0, 0), y = (1): both x samples match y -> sqrt(1 + 1).
    assert float(mm.dtw(_col([0, 0]), _col([1]))) == pytest.approx(math.sqrt(2.0))
    # 2-D: x = ((0,0), (1,1)), y = ((0,1)): costs 1 + 1 -> sqrt 2; y = ((0,0), (2,1)): 0 + 1.
    x = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    assert float(mm.dtw(x, jnp.array([[0.0, 1.0]]))) == pytest.approx(math.sqrt(2.0))
    assert float(mm.dtw(x, jnp.array([[0.0, 0.0], [2.0, 1.0]]))) == pytest.approx(1.0)
    # x = (0, 1, 2), y = (0, 2): the best path (0,0) (1,0) (2,1) or (1,1) costs 1 -> 1.
    assert float(mm.dtw(_col([0, 1, 2]), _col([0, 2]))) == pytest.approx(1.0)


def test_dtw_matches_the_loop_with_padding_and_under_vmap():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(23, 6)), rng.normal(size=(17, 6))
    for nx, ny in [(23, 17), (9, 17), (23, 1), (1, 5), (12, 11)]:
        expected = np_dtw(x[:nx], y[:ny])
        assert float(_dtw(x, y, nx, ny)) == pytest.approx(expected, rel=1e-5)
    # vmapped over "episodes" of different lengths: padding never changes a value.
    xs = np.stack([x, x[::-1], rng.normal(size=(23, 6))])
    lens = jnp.array([23, 10, 4])
    got = jax.jit(jax.vmap(mm.dtw, in_axes=(0, None, 0, None)))(xs, y, lens, 17)
    want = [np_dtw(xs[i, : int(n)], y) for i, n in enumerate(lens)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert float(mm.dtw(x, x)) == 0.0  # identity
    assert float(mm.dtw(x, y)) == pytest.approx(float(mm.dtw(y, x)), rel=1e-6)  # symmetric


def test_pose_error_divides_by_the_body_count_per_clip():
    rng = np.random.default_rng(1)
    body = rng.normal(size=(12, 15, 3))
    agent = mm.pose_features(jnp.asarray(body))
    assert agent.shape == (12, 45) and float(jnp.abs(agent[:, :3]).max()) == 0.0
    shifted = body + np.array([1.0, 2.0, 3.0])  # a translated copy: the same pose features
    demos = jnp.stack([mm.pose_features(jnp.asarray(shifted)),
                       mm.pose_features(jnp.asarray(body[::-1]))])
    err = mm.pose_error(agent, 12, demos, jnp.array([12, 7]))
    assert float(err[0]) == pytest.approx(0.0, abs=1e-6)
    expected = np_dtw(np.asarray(agent), np.asarray(demos[1, :7])) / 15
    assert float(err[1]) == pytest.approx(expected, rel=1e-5)


def test_dtw_rejects_mismatched_features():
    with pytest.raises(ValueError, match=r"dtw: expected x \[Tx, D\] and y \[Ty, D\]"):
        mm.dtw(jnp.zeros((3, 2)), jnp.zeros((3, 4)))


# ----- SPARC -------------------------------------------------------------------------------
def test_sparc_known_values():
    # The reference implementation's docstring: a Gaussian speed profile at 100 Hz.
    t = np.arange(-1, 1, 0.01)
    gauss = np.exp(-5 * t**2)
    assert float(mm.sparc(jnp.asarray(gauss), None, 100.0)) == pytest.approx(-1.41403,
                                                                              abs=1e-5)
    # A unit impulse has a flat spectrum: the arc is the straight line 0..fc, length 1.
    impulse = np.zeros(50)
    impulse[0] = 1.0
    assert float(mm.sparc(jnp.asarray(impulse), None, 30.0)) == pytest.approx(-1.0, abs=1e-6)
    # Any monotone spectrum from M(0) = 1 down to the threshold is at least the straight
    # line from (0, 1) to (1, 0.05): -sqrt(1 + 0.95^2) bounds a smooth profile from above.
    assert float(mm.sparc(jnp.asarray(gauss), None, 100.0)) < -math.sqrt(1 + 0.95**2)


def test_sparc_is_closer_to_zero_for_the_smoother_profile():
    # A Gaussian speed profile at 30 Hz plus white noise, 20 draws per level. SPARC's
    # published behaviour (Balasubramanian et al. 2012, 2015): more noise, more negative;
    # noise whose spectrum stays under the 0.05 amplitude threshold barely changes it.
    rng = np.random.default_rng(2)
    t = np.arange(-1, 1, 1 / 30)
    smooth = np.exp(-5 * t**2)
    batched = jax.jit(jax.vmap(lambda x: mm.sparc(x, None, 30.0)))
    clean, tiny, noisy, noisier = (
        float(jnp.mean(batched(jnp.asarray(smooth + s * rng.normal(size=(20, t.size))))))
        for s in (0.0, 0.02, 0.1, 0.2))
    assert clean == pytest.approx(np_sparc(smooth, 30.0), abs=1e-5)
    assert abs(tiny - clean) < 0.01
    assert clean > noisy + 0.3 > noisier + 0.6


@pytest.mark.parametrize("n", [1, 2, 3, 16, 17, 64, 65, 100, 255, 256, 257, 300])
def test_sparc_of_a_padded_signal_is_the_reference_of_its_valid_part(n):
    rng = np.random.default_rng(n)
    x = np.zeros(300)
    x[:n] = rng.normal(size=n) + np.sin(np.arange(n) / 5)
    x[n:] = 7.0  # padding is ignored whatever it holds
    got = float(_sparc30(jnp.asarray(x), n))
    assert got == pytest.approx(np_sparc(x[:n], 30.0), abs=2e-5)


def test_sparc_undefined_cases_are_nan_and_bad_arguments_raise():
    assert math.isnan(float(mm.sparc(jnp.zeros(20), None, 30.0)))  # 0 / 0 normalisation
    # A Hann-windowed 14 Hz tone: nothing at or below fc = 10 Hz reaches 0.05 (the
    # reference raises IndexError there).
    tone = np.hanning(256) * np.cos(2 * np.pi * 14.0 * np.arange(256) / 30.0)
    assert math.isnan(float(mm.sparc(jnp.asarray(tone), None, 30.0)))
    with pytest.raises(ValueError, match="sparc.fs"):
        mm.sparc(jnp.ones(4), None, 0.0)
    with pytest.raises(ValueError, match="sparc.amp_th"):
        mm.sparc(jnp.ones(4), None, 30.0, amp_th=0.0)
    with pytest.raises(ValueError, match=r"sparc.signal: expected a \[T >= 1\] profile"):
        mm.sparc(jnp.ones((4, 3)), None, 30.0)


def test_motion_stats_of_a_uniform_circle():
    # Root on a circle of radius 1 m at 1 rad/s, sampled at 30 Hz: |v| ~ 1, |a| ~ 1, |j| ~ 1.
    dt = 1 / 30
    th = np.arange(120) * dt
    pos = np.stack([np.cos(th), np.sin(th), np.full_like(th, 0.9)], 1)
    stats = mm.motion_stats(jnp.asarray(pos), 120, dt)
    chord = 2 * math.sin(dt / 2) / dt
    assert float(stats.vel_norm) == pytest.approx(chord, rel=1e-4)
    assert float(stats.acc_norm) == pytest.approx(chord**2, rel=1e-3)
    assert float(stats.jerk_norm) == pytest.approx(chord**3, rel=1e-2)
    # The z velocity is exactly 0: SPARC is undefined there and the mean over the axes is
    # NaN, as NEAR's would be.
    assert math.isnan(float(stats.sparc))
    pos[:, 2] = 0.9 + 0.1 * th  # a steady climb: every axis defined
    stats = mm.motion_stats(jnp.asarray(pos), 100, dt)  # and only the first 100 frames
    vel = np.diff(pos[:100], axis=0) / dt
    want = np.mean([np_sparc(vel[:, a], 30.0) for a in range(3)])
    assert float(stats.sparc) == pytest.approx(want, abs=1e-5)
    # Fewer than 2 frames: no derivative, norms 0 (NEAR's zero row), SPARC undefined.
    short = mm.motion_stats(jnp.asarray(pos), 1, dt)
    assert float(short.vel_norm) == 0.0 and math.isnan(float(short.sparc))


# ----- the demo side -------------------------------------------------------------------------
def test_reference_frames_follow_nears_rule():
    # walk: 154 frames at 60 Hz (2.55 s) -> t = 0, 1/30, ... < 2.55: 77 samples, every 2nd.
    idx = mm.reference_frames(154, 60.0, 1 / 30)
    assert idx.shape == (77,) and idx[0] == 0 and idx[1] == 2 and idx[-1] == 152
    # backflip: 29 frames at 16 Hz (1.75 s) -> 53 samples of a slower clip: repeats.
    idx = mm.reference_frames(29, 16.0, 1 / 30)
    assert idx.shape == (53,) and idx[-1] == 27 and np.all(np.diff(idx) >= 0)


def test_reference_motion_of_the_walk_clip():
    lib = ml.load_motion_lib(WALK)
    ref = mm.reference_motion(lib, 1 / 30)
    assert ref.pose.shape == (1, 77, 45) and ref.root_pos.shape == (1, 77, 3)
    np.testing.assert_array_equal(ref.length, [77])
    body = np.asarray(lib.body_pos)[::2][:77]
    np.testing.assert_allclose(ref.root_pos[0], body[:, 0], atol=1e-6)
    np.testing.assert_allclose(ref.pose[0].reshape(77, 15, 3), body - body[:, :1], atol=1e-6)
    with pytest.raises(ValueError, match="reference_motion.dt"):
        mm.reference_motion(lib, 0.0)
