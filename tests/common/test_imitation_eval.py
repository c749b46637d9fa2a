"""NEAR's evaluation protocol (``purerl.common.imitation_eval``) on a replay env.

The env plays the walk clip's demo frames back, one per control step, plus per-episode
noise of a level drawn at reset (reported in ``info["amp_obs"]``); noisy episodes "fall"
at step 10. So the clean replay's pose error is 0 and its SPARC is the demo's; the top-k
selection, the learned-return rule and the early ends are checked against numpy. The
humanoid itself runs in the slow test at the end (its step compile takes minutes).
"""

from __future__ import annotations

import os

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from envs_jax import spaces
from envs_jax.core import Environment, EnvStep
from envs_jax.mjx import motion_lib as ml
from envs_jax.mjx import motion_metrics as mm
from envs_jax.policy import feed_forward
from purerl.common import imitation_eval as ie
from tests.references import np_dtw

WALK = os.path.join(os.path.dirname(ml.__file__), "assets", "motions", "amp_humanoid_walk.npy")
DT = 1 / 30
E = 8
STEPS = 76  # 77 frames with the reset frame: the walk clip's length at 30 Hz
FALL_STEP = 10


def episode_noise(key) -> np.ndarray:
    """The noise levels ``evaluate_imitation(key)`` draws: its reset keys through
    ``ReplayEnv.reset``."""
    reset_keys = jax.random.split(jax.random.split(key)[0], E)
    return np.asarray(jax.vmap(lambda k: jax.random.uniform(jax.random.split(k)[0]))(
        reset_keys)) * 0.05


@struct.dataclass
class ReplayState:
    t: jax.Array
    noise: jax.Array
    key: jax.Array


class ReplayEnv(Environment):
    """Replays ``frames [T, 15, 3]``; noise level ~ U[0, max_noise] per episode."""

    def __init__(self, frames: np.ndarray, max_noise: float):
        self.frames, self.max_noise = jnp.asarray(frames), max_noise

    def default_params(self):
        return None

    def reset(self, key, params):
        k_noise, k_state = jax.random.split(key)
        noise = jax.random.uniform(k_noise) * self.max_noise
        return jnp.zeros(1), ReplayState(jnp.int32(0), noise, k_state)

    def step(self, key, state, action, params):
        t = state.t + 1
        fell = (state.noise > 0.5 * self.max_noise) & (t == FALL_STEP)
        obs = jnp.zeros(1)
        return EnvStep(obs, ReplayState(t, state.noise, state.key), jnp.float32(1.0), fell,
                       jnp.bool_(False), {"amp_obs": state.noise[None], "final_obs": obs})

    def body_positions(self, state):
        clean = self.frames[jnp.minimum(state.t, self.frames.shape[0] - 1)]
        return clean + state.noise * jax.random.normal(jax.random.fold_in(state.key, state.t),
                                                       clean.shape)

    def observation_space(self, params):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def action_space(self, params):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)


@pytest.fixture(scope="module")
def setup():
    lib = ml.load_motion_lib(WALK)
    ref = mm.reference_motion(lib, DT)
    frames = np.asarray(lib.body_pos)[mm.reference_frames(154, 60.0, DT)]
    env = ReplayEnv(frames, max_noise=0.05)
    policy = feed_forward(lambda key, obs: jnp.zeros((obs.shape[0], 1)))

    def run(key, noise_free=False, top_k=None, style=True):
        e = ReplayEnv(frames, 0.0) if noise_free else env
        return ie.evaluate_imitation(
            e, None, policy, key, ref, E, STEPS, top_k=top_k,
            style_reward=(lambda amp_obs: -amp_obs[:, 0]) if style else None,
            body_positions=e.body_positions)

    return ref, run


def test_a_clean_replay_of_the_demo_scores_zero_and_the_demos_sparc(setup):
    ref, run = setup
    ev = jax.jit(lambda k: run(k, noise_free=True))(jax.random.key(0))
    np.testing.assert_allclose(ev.pose_error, 0.0, atol=1e-5)
    np.testing.assert_array_equal(ev.length, STEPS)
    demo = ie.demo_summary(ref)
    summary = {k: float(v) for k, v in ev.summary().items()}
    assert summary["eval/sparc"] == pytest.approx(demo["demo/sparc"], abs=1e-5)
    assert summary["eval/root_vel_norm"] == pytest.approx(demo["demo/root_vel_norm"], rel=1e-5)
    assert summary["eval/root_jerk_norm"] == pytest.approx(demo["demo/root_jerk_norm"],
                                                           rel=1e-4)
    assert 1.0 < demo["demo/root_vel_norm"] < 2.0   # the walk clip: about 1.4 m/s
    assert -10.0 < demo["demo/sparc"] < -1.0


def test_top_k_learned_return_early_ends_and_the_pose_error_against_numpy(setup):
    ref, run = setup
    ev = jax.jit(lambda k: run(k, top_k=3))(jax.random.key(1))
    noise = episode_noise(jax.random.key(1))
    fell = np.asarray(ev.length) == FALL_STEP
    assert fell.any() and not fell.all()
    np.testing.assert_array_equal(np.asarray(ev.length)[~fell], STEPS)
    np.testing.assert_allclose(ev.env_return, ev.length)              # reward 1 per step
    # The learned return sums the steps before the first done: 76 or 9 steps of -noise.
    np.testing.assert_array_equal(fell, noise > 0.025)
    steps = np.where(fell, FALL_STEP - 1, STEPS)
    np.testing.assert_allclose(ev.style_return, -noise * steps, rtol=1e-5)
    selected = np.asarray(ev.selected)
    assert selected.sum() == 3
    order = np.argsort(-np.asarray(ev.style_return), kind="stable")
    np.testing.assert_array_equal(np.sort(np.nonzero(selected)[0]), np.sort(order[:3]))
    # Pose error of each episode over its own frames only (length + 1), against numpy.
    pose = np.asarray(ev.pose)
    want = [np_dtw(pose[i, : int(ev.length[i]) + 1], np.asarray(ref.pose[0])) / 15
            for i in range(E)]
    np.testing.assert_allclose(ev.pose_error[:, 0], want, rtol=1e-4, atol=1e-6)
    assert float(ev.summary()["eval/pose_error"]) == pytest.approx(
        np.mean(np.asarray(want)[selected]), rel=1e-4)
    # Frozen after the end: the frames past an early end repeat the last one.
    i = int(np.nonzero(fell)[0][0])
    np.testing.assert_array_equal(pose[i, FALL_STEP + 1 :], np.broadcast_to(
        pose[i, FALL_STEP], pose[i, FALL_STEP + 1 :].shape))


def test_more_noise_more_pose_error_and_a_vmap_over_seeds(setup):
    _, run = setup
    summaries = jax.jit(jax.vmap(lambda k: run(k).summary()))(
        jax.random.split(jax.random.key(2), 3))
    assert summaries["eval/pose_error"].shape == (3,)
    ev = jax.jit(lambda k: run(k, style=False))(jax.random.key(3))
    np.testing.assert_array_equal(ev.style_return, 0.0)
    assert bool(ev.selected.all())
    noise = episode_noise(jax.random.key(3))
    err = np.asarray(ev.pose_error[:, 0])
    # Rank correlation between noise and error: the noisiest episode errs most.
    assert int(np.argmax(err)) == int(np.argmax(noise))
    assert float(np.corrcoef(np.argsort(np.argsort(noise)), np.argsort(np.argsort(err)))[0, 1]
                 ) > 0.8


def test_bad_arguments_raise_before_tracing(setup):
    ref, _ = setup
    policy = feed_forward(lambda key, obs: obs)
    with pytest.raises(ValueError, match="evaluate_imitation.num_episodes"):
        ie.evaluate_imitation(None, None, policy, jax.random.key(0), ref, 0, 10,
                              body_positions=lambda s: s)
    with pytest.raises(ValueError, match="evaluate_imitation.top_k"):
        ie.evaluate_imitation(None, None, policy, jax.random.key(0), ref, 2, 10, top_k=0,
                              body_positions=lambda s: s)
    with pytest.raises(ValueError, match="humanoid_body_positions: expected the AMP humanoid"):
        ie.humanoid_body_positions(ReplayEnv(np.zeros((2, 15, 3)), 0.0))
    with pytest.raises(ValueError, match="make_reference: expected the humanoid's params"):
        ie.make_reference(None, None)


def test_learning_curve_png_of_pose_error_and_reward(tmp_path):
    s, u = 2, 12
    steps = np.tile(np.arange(1, u + 1) * 1000, (s, 1))
    pose = np.full((s, u), np.nan)
    pose[:, 2::3] = [[0.30, 0.22, 0.15, 0.10], [0.32, 0.25, 0.18, 0.12]]  # every 3rd update
    metrics = {"env_steps": steps, "eval/pose_error": pose,
               "episode_return_sum": np.full((s, u), 30.0), "episode_count": np.full((s, u), 2.0),
               "eval/sparc": np.where(np.isnan(pose), np.nan, -3.0)}
    path = str(tmp_path / "curves.png")
    skipped = ie.plot_imitation_curves(path, metrics, "AMP walk", baselines={"random": 0.35},
                                       demo={"demo/sparc": -2.5})
    assert skipped == ["eval/style_return"]
    image = iio.imread(path)
    assert image.shape[0] > 3 * 250 and image.shape[2] in (3, 4)       # three panels
    with pytest.raises(ValueError, match="plot_metric_panels: expected at least one of"):
        ie.plot_imitation_curves(path, {"env_steps": steps}, "nothing")
