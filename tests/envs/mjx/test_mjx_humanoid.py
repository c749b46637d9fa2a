"""AMP humanoid on MJX: contract, reference resets, observation layout, PD mapping, flags.

One compiled reset and one compiled AutoReset step (batch 2, params passed as arguments so
that other reset modes reuse the same executables) are shared by the whole module: the
humanoid step compile takes about a minute on a 2-core CPU.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mjx_contract import ContractFns, check_contract
from mujoco import mjx

import envs_jax
from envs_jax.mjx import humanoid as hm
from envs_jax.mjx import motion_lib as ml
from envs_jax.wrappers import AutoReset

N = 2


@pytest.fixture(scope="module")
def setup():
    env, params = envs_jax.make("amp-humanoid")
    auto = AutoReset(env)
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    step = jax.jit(jax.vmap(auto.step, in_axes=(0, 0, 0, None)))
    return env, params, reset, step


def _keys(seed: int = 0):
    return jax.random.split(jax.random.key(seed), N)


def _np_exp_map(q: np.ndarray) -> np.ndarray:
    """Independent exp map of an xyzw quaternion (numpy, angle in [0, pi])."""
    q = q / np.linalg.norm(q)
    q = -q if q[3] < 0 else q
    s = np.linalg.norm(q[:3])
    return q[:3] / s * 2 * math.atan2(s, q[3]) if s > 1e-8 else np.zeros(3)


# The humanoid's AutoReset step is one ~80 s compile on the 2-core CI machine, over the
# default tier's budget: the two tests that step the physics run in the slow tier
# (`pytest -m slow`); reset, observation layout, PD control and kinematics stay here.
@pytest.mark.slow
def test_contract(setup):
    env, params, reset, step = setup
    fns = ContractFns(
        env, params, N, reset=lambda k: reset(k, params), step=lambda k, s, a: step(k, s, a, params)
    )
    steps = check_contract(fns, num_steps=2)
    assert env.obs_size == hm.OBS_SIZE and env.action_space(params).shape == (28,)
    for ts in steps:
        amp = np.asarray(ts.info["amp_obs"])
        assert amp.shape == (N, 2 * hm.OBS_SIZE) and amp.dtype == np.float32
        np.testing.assert_array_equal(amp[:, : hm.OBS_SIZE], ts.info["final_obs"])  # [current, ...]
    # [..., previous]: the second step's previous half is the first step's observation.
    np.testing.assert_array_equal(
        np.asarray(steps[1].info["amp_obs"])[:, hm.OBS_SIZE :], np.asarray(steps[0].obs)
    )
    assert env.dt == pytest.approx(1 / 30) and env.n_substeps == 6 and env.episode_length == 300


def test_start_reset_reproduces_the_clip_pose(setup):
    _, params, reset, _ = setup
    obs, state = reset(_keys(), params.replace(reset_mode=jnp.int32(hm.RESET_MODES.index("start"))))
    clip = ml.load_motion_clip(hm.DEFAULT_MOTION)
    qpos = np.asarray(state.data.qpos[0])
    np.testing.assert_allclose(qpos[:3], clip.root_pos[0], atol=1e-5)
    for body, lo, hi in zip(ml.DOF_BODY_IDS, ml.DOF_OFFSETS[:-1], ml.DOF_OFFSETS[1:]):
        expected = _np_exp_map(clip.local_rot[0, body].astype(np.float64))
        if hi - lo == 1:  # elbows and knees: the angle about y
            expected = expected[1:2]
        np.testing.assert_allclose(qpos[7 + lo : 7 + hi], expected, atol=1e-3)
    w_first = np.concatenate([clip.local_rot[0, 0, 3:], clip.local_rot[0, 0, :3]])
    np.testing.assert_allclose(abs(np.dot(qpos[3:7], w_first)), 1.0, atol=1e-6)
    np.testing.assert_allclose(obs[:, 0], clip.root_pos[0, 2], atol=1e-5)  # root height
    # The pair's previous half comes from the motion at t - dt, clipped to frame 0 here.
    assert state.extras["amp_obs"].shape == (N, 2 * hm.OBS_SIZE)


def test_random_reset_matches_the_motion_state_it_sampled(setup):
    _, params, reset, _ = setup
    obs, state = reset(_keys(3), params)
    # Recompute what reset sampled (same key split) and compare joint angles and velocities.
    key_id, key_time, _ = jax.random.split(_keys(3)[1], 3)
    mid = ml.sample_motion_ids(params.motion, key_id)
    t = ml.sample_times(params.motion, key_time, mid)
    ref = jax.jit(ml.motion_state)(params.motion, mid, t)
    np.testing.assert_allclose(state.data.qpos[1, 7:], ref.dof_pos, atol=1e-3)
    np.testing.assert_allclose(state.data.qvel[1, 6:], ref.dof_vel, atol=1e-4)
    np.testing.assert_allclose(state.data.qvel[1, :3], ref.root_vel, atol=1e-5)
    assert not np.allclose(obs[0], obs[1])


def test_default_reset_observation_layout(setup):
    _, params, reset, _ = setup
    obs, state = reset(_keys(), params.replace(reset_mode=jnp.int32(0)))
    o = np.asarray(obs[0])
    tan_norm_identity = [1, 0, 0, 0, 0, 1]
    np.testing.assert_allclose(o[0], hm.DEFAULT_ROOT_HEIGHT, atol=1e-6)
    np.testing.assert_allclose(o[1:7], tan_norm_identity, atol=1e-6)
    np.testing.assert_allclose(o[7:13], 0.0, atol=1e-6)  # root velocities
    dof_obs = o[13:65]
    np.testing.assert_allclose(dof_obs[0:6], tan_norm_identity, atol=1e-6)  # abdomen at 0
    # right shoulder_x = -pi/2 (T-pose): x axis stays, z axis -> (0, 1, 0).
    np.testing.assert_allclose(dof_obs[12:18], [1, 0, 0, 0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(dof_obs[18], 0.0, atol=1e-6)  # right elbow angle
    np.testing.assert_allclose(o[65:93], 0.0, atol=1e-6)  # DOF velocities
    # Key bodies relative to the root, arms straight out sideways, legs straight down.
    shoulder_z, arm = 0.236151 + 0.2435, 0.274788 + 0.258947
    leg = 0.421546 + 0.40987
    expected = [
        [-0.02405, -0.18311 - arm, shoulder_z],
        [-0.02405, 0.18311 + arm, shoulder_z],
        [0.0, -0.084887, -leg],
        [0.0, 0.084887, -leg],
    ]
    np.testing.assert_allclose(o[93:105].reshape(4, 3), expected, atol=1e-5)
    # On a default reset the AMP pair's previous half is a copy of the current one.
    np.testing.assert_array_equal(
        state.extras["amp_obs"][0, :105], state.extras["amp_obs"][0, 105:]
    )


def test_actions_map_to_joints_by_name_and_pd_torque(setup):
    env, params, _, _ = setup
    assert env.actuator_names[14:17] == ("right_hip_x", "right_hip_z", "right_hip_y")
    for k, name in enumerate(env.actuator_names):
        assert env.joint_names[env.dof_of_act[k]] == name
    data = mjx.make_data(env.mjx_model)  # q = 0, qdot = 0
    j_hip_y, j_elbow = env.joint_names.index("right_hip_y"), env.joint_names.index("right_elbow")
    action = jnp.zeros(28).at[j_hip_y].set(0.05)
    ctrl = np.asarray(env.control(env.mjx_model, data, action, params))
    # hip: scale min(1.2 * 140 deg, pi) = 2.9322 rad; tau = 300 * 0.05 * 2.9322 = 43.98 N m, / gear 125.
    hip_scale = min(1.2 * math.radians(140), math.pi)
    np.testing.assert_allclose(
        ctrl[env.actuator_names.index("right_hip_y")], 300 * 0.05 * hip_scale / 125, rtol=1e-5
    )
    assert ctrl[env.actuator_names.index("right_hip_z")] == 0.0
    # elbow at a = 0: target = mid-range -1.396 rad; 150 * -1.396 = -209 N m clipped to -60 (gear).
    np.testing.assert_allclose(env.pd_target(action)[j_elbow], -math.radians(80), atol=1e-6)
    np.testing.assert_allclose(env.pd_scale[j_elbow], 0.7 * math.radians(160), atol=1e-6)
    np.testing.assert_allclose(ctrl[env.actuator_names.index("right_elbow")], -1.0, atol=1e-6)
    # Knee at a = 0: target +1.396 rad, clipped at +gear.
    np.testing.assert_allclose(ctrl[env.actuator_names.index("left_knee")], 1.0, atol=1e-6)


def _lying_state(state):
    """Batch state with the humanoid lying on its back, root at 0.1 m (falls at once)."""
    half = math.pi / 4  # rotation by -pi/2 about y: the body axis along +x
    quat = jnp.array([math.cos(half), 0.0, -math.sin(half), 0.0])
    qpos = state.data.qpos.at[:, 2].set(0.1).at[:, 3:7].set(quat)
    return state.replace(data=state.data.replace(qpos=qpos, qvel=jnp.zeros_like(state.data.qvel)))


@pytest.mark.slow
def test_termination_vs_truncation(setup):
    _, params, reset, step = setup
    default = params.replace(reset_mode=jnp.int32(0))
    _, state = reset(_keys(), default)
    zero = jnp.zeros((N, 28))
    # Standing default pose: no termination, no truncation.
    ts = step(_keys(1), state, zero, default)
    assert not np.any(ts.terminated) and not np.any(ts.truncated)
    # Time limit: a step from time_step 299 truncates (not terminates).
    ts = step(_keys(2), ts.state.replace(time_step=jnp.full((N,), 299, jnp.int32)), zero, default)
    assert np.all(ts.truncated) and not np.any(ts.terminated)
    # Lying on the floor: not on the first step after a reset (Isaac: progress > 1) ...
    _, state = reset(_keys(), default)
    ts = step(_keys(3), _lying_state(state), zero, default)
    assert not np.any(ts.terminated) and not np.any(ts.truncated)
    # ... but on the second: contact force on non-foot bodies and bodies below 0.5 m.
    ts = step(_keys(4), _lying_state(ts.state), zero, default)
    assert np.all(ts.terminated) and not np.any(ts.truncated)
    # Below a termination height of 0.05 m no body origin is low enough: no termination.
    low = default.replace(termination_height=jnp.float32(0.05))
    _, state = reset(_keys(), low)
    ts = step(_keys(3), _lying_state(state), zero, low)
    ts = step(_keys(4), _lying_state(ts.state), zero, low)
    assert not np.any(ts.terminated)


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match="reset_mode"):
        hm.AMPHumanoid(reset_mode="sometimes")
    with pytest.raises(ValueError, match="hybrid_init_prob"):
        hm.AMPHumanoid(hybrid_init_prob=1.5)
    with pytest.raises(ValueError, match="termination_height"):
        hm.AMPHumanoid(termination_height=0.0)


def test_body_positions_match_mujoco_kinematics(setup):
    import mujoco

    env, _, _, _ = setup
    m = env.mj_model
    d = mujoco.MjData(m)
    rng = np.random.default_rng(0)
    d.qpos[:3] = [0.3, -0.2, 0.9]
    quat = rng.normal(size=4)
    d.qpos[3:7] = quat / np.linalg.norm(quat)
    d.qpos[7:] = rng.uniform(-1.0, 1.0, 28)
    mujoco.mj_kinematics(m, d)
    ours = jax.jit(env.body_positions)(jnp.asarray(d.qpos, jnp.float32))
    np.testing.assert_allclose(ours, d.xpos, atol=1e-5)
