"""Motion library: poselib loading (both dtypes, fps types) and sampling against hand values.

Synthetic 3-frame clips are written with numpy in ``tmp_path`` in poselib's layout; the
expected frames are computed by hand (rotations about one axis, where exp maps, slerp and
finite differences have closed forms). One compile of ``motion_state`` serves all clips of
the same shape.
"""

from __future__ import annotations

import collections
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs_jax.mjx import motion_lib as ml

FPS = 10.0
ROOT_YAW = np.array([0.0, 0.2, 0.4])  # pelvis rotation about z per frame, rad
ABDOMEN_X = np.array([0.1, 0.3, 0.5])  # torso about x
R_ELBOW = np.array([0.0, -0.3, -0.6])  # right_lower_arm about y
ROOT_X = np.array([0.0, 0.1, 0.3])  # root x, m
ASSET_MOTIONS = os.path.join(os.path.dirname(ml.__file__), "assets", "motions")

_motion_state = jax.jit(ml.motion_state)


def _quat(axis: int, angle: float) -> np.ndarray:
    q = np.zeros(4)
    q[axis] = math.sin(angle / 2)
    q[3] = math.cos(angle / 2)
    return q


def _tensor(arr: np.ndarray, dtype) -> dict:
    return {"arr": np.asarray(arr, dtype), "context": {"dtype": np.dtype(dtype).name}}


def write_clip(path, dtype=np.float32, fps=FPS, root_vel=(1.0, 0.0, 0.0)) -> str:
    """A 3-frame poselib SkeletonMotion of the AMP skeleton (identity except three joints)."""
    rot = np.zeros((3, 15, 4))
    rot[..., 3] = 1.0
    for f in range(3):
        rot[f, 0] = _quat(2, ROOT_YAW[f])
        rot[f, 1] = _quat(0, ABDOMEN_X[f])
        rot[f, 4] = _quat(1, R_ELBOW[f])
    root = np.stack([ROOT_X, np.zeros(3), np.full(3, 0.9)], axis=1)
    vel = np.zeros((3, 15, 3))
    vel[:, 0] = np.array(root_vel) * np.arange(1, 4)[:, None]  # frame f: (f + 1) * root_vel
    ang = np.zeros((3, 15, 3))
    ang[:, 0, 2] = [2.0, 2.5, 3.0]
    offsets = np.zeros((15, 3))
    offsets[0] = (0, 0, 1)
    offsets[1:] = (0.0, 0.0, -0.25)  # every child 0.25 m below its parent
    clip = collections.OrderedDict(
        rotation=_tensor(rot, dtype),
        root_translation=_tensor(root, dtype),
        global_velocity=_tensor(vel, dtype),
        global_angular_velocity=_tensor(ang, dtype),
        skeleton_tree=collections.OrderedDict(
            node_names=list(ml.BODY_NAMES),
            parent_indices=_tensor(ml.PARENT_INDICES, np.int64),
            local_translation=_tensor(offsets, np.float32),
        ),
        is_local=True,
        fps=fps,
    )
    clip["__name__"] = "SkeletonMotion"
    np.save(path, clip, allow_pickle=True)
    return str(path)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def lib32(clip_dir):
    return ml.load_motion_lib(write_clip(clip_dir / "c32.npy"))


def _dof(state, name: str) -> np.ndarray:
    """The DOF slice of the joint owning body ``name`` from a ``[..., 28]`` vector."""
    j = ml.DOF_BODY_IDS.index(ml.BODY_NAMES.index(name))
    return np.asarray(state)[..., ml.DOF_OFFSETS[j] : ml.DOF_OFFSETS[j + 1]]


def test_interpolation_between_frames_matches_hand_values(lib32):
    # t = 0.15 s at 10 fps: i0 = 1, i1 = 2, blend 0.5.
    s = _motion_state(lib32, jnp.array([0]), jnp.array([0.15]))
    np.testing.assert_allclose(s.root_pos[0], [0.2, 0.0, 0.9], atol=1e-6)  # lerp
    np.testing.assert_allclose(s.root_rot[0], _quat(2, 0.3), atol=1e-6)  # slerp about z
    np.testing.assert_allclose(_dof(s.dof_pos[0], "torso"), [0.4, 0.0, 0.0], atol=1e-6)  # exp map
    np.testing.assert_allclose(_dof(s.dof_pos[0], "right_lower_arm"), [-0.45], atol=1e-6)  # y angle
    np.testing.assert_allclose(_dof(s.dof_pos[0], "head"), [0.0, 0.0, 0.0], atol=1e-6)
    # Velocities come from frame i0 = 1 (no blending).
    np.testing.assert_allclose(s.root_vel[0], [2.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(s.root_ang_vel[0], [0.0, 0.0, 2.5], atol=1e-6)
    # DOF velocity of frame 1 = (frame 2 - frame 1) * fps: abdomen 0.2 * 10, elbow -0.3 * 10.
    np.testing.assert_allclose(_dof(s.dof_vel[0], "torso"), [2.0, 0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(_dof(s.dof_vel[0], "right_lower_arm"), [-3.0], atol=1e-5)


def test_frame_rules_at_the_ends_and_the_last_frame_velocity(lib32):
    # t = 0 -> frame 0 exactly; t = len (0.2 s) -> the last frame; t < 0 holds frame 0.
    s = _motion_state(lib32, jnp.array([0, 0, 0]), jnp.array([0.0, 0.2, -0.05]))
    np.testing.assert_allclose(s.root_pos[:, 0], [0.0, 0.3, 0.0], atol=1e-6)
    np.testing.assert_allclose(_dof(s.dof_pos, "torso")[:, 0], [0.1, 0.5, 0.1], atol=1e-6)
    # The last frame repeats the previous frame's finite difference (Isaac's rule).
    np.testing.assert_allclose(_dof(s.dof_vel, "torso")[:, 0], [2.0, 2.0, 2.0], atol=1e-5)
    i0, i1, blend = ml.frame_blend(lib32, jnp.array([0, 0]), jnp.array([0.05, 0.125]))
    np.testing.assert_array_equal(i0, [0, 1])
    np.testing.assert_array_equal(i1, [1, 2])
    np.testing.assert_allclose(blend, [0.5, 0.25], atol=1e-5)


def test_forward_kinematics_matches_hand_computation(lib32):
    # Frame 0: pelvis yaw 0, torso turned 0.1 rad about x. The head is 2 x 0.25 m below the
    # pelvis along the torso's rotated -z axis: (0, 0.5 sin 0.1, -0.5 cos 0.1) from the
    # torso, whose own origin is 0.25 m below the pelvis.
    s = _motion_state(lib32, jnp.array([0]), jnp.array([0.0]))
    head = np.asarray(s.body_pos[0, ml.BODY_NAMES.index("head")])
    np.testing.assert_allclose(
        head, [0.0, 0.25 * math.sin(0.1), 0.9 - 0.25 - 0.25 * math.cos(0.1)], atol=1e-6
    )
    foot = np.asarray(s.body_pos[0, ml.BODY_NAMES.index("left_foot")])
    np.testing.assert_allclose(foot, [0.0, 0.0, 0.9 - 0.75], atol=1e-6)


@pytest.mark.parametrize(
    "fps", [10.0, 10, np.array(10, dtype=np.int32)], ids=["float", "int", "0d-array"]
)
def test_float64_clips_and_every_fps_type_give_the_same_library(clip_dir, lib32, fps):
    path = write_clip(clip_dir / f"c64_{type(fps).__name__}.npy", dtype=np.float64, fps=fps)
    clip = ml.load_motion_clip(path)
    assert clip.local_rot.dtype == np.float64 and isinstance(clip.fps, float) and clip.fps == 10.0
    lib64 = ml.load_motion_lib(path)
    for a, b in zip(jax.tree.leaves(lib64), jax.tree.leaves(lib32)):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, atol=1e-6)
    s = _motion_state(lib64, jnp.array([0]), jnp.array([0.15]))  # same shapes: no recompile
    np.testing.assert_allclose(_dof(s.dof_pos[0], "torso"), [0.4, 0.0, 0.0], atol=1e-6)


def _exp_map(q: np.ndarray) -> np.ndarray:
    """Independent numpy exp map of xyzw quaternions (angle wrapped to [-pi, pi])."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., 3:] < 0, -q, q)  # w >= 0: angle in [0, pi]
    s = np.linalg.norm(q[..., :3], axis=-1, keepdims=True)
    angle = 2 * np.arctan2(s, q[..., 3:])
    return np.where(s > 1e-8, q[..., :3] / np.maximum(s, 1e-12) * angle, 0.0)


@pytest.mark.parametrize(
    "name, dtype, frames, fps",
    [
        ("amp_humanoid_backflip.npy", np.float64, 29, 16.0),
        ("amp_humanoid_run.npy", np.float32, 82, 60.0),
    ],
)
def test_shipped_clips_load_with_their_dtype_and_length(name, dtype, frames, fps):
    path = os.path.join(ASSET_MOTIONS, name)
    clip = ml.load_motion_clip(path)
    assert (
        clip.local_rot.dtype == dtype
        and clip.local_rot.shape == (frames, 15, 4)
        and clip.fps == fps
    )
    lib = ml.load_motion_lib(path)
    assert lib.local_rot.dtype == jnp.float32
    np.testing.assert_allclose(lib.clip_length, [(frames - 1) / fps], rtol=1e-6)
    # On a frame (blend 0) the DOF angles are the clip's own: exp maps of the 3-DOF joints.
    k = frames // 2
    s = jax.jit(ml.motion_state)(lib, jnp.array(0), jnp.array(k / fps, jnp.float32))
    raw = np.asarray(clip.local_rot, np.float64)[k]
    for body, lo, hi in zip(ml.DOF_BODY_IDS, ml.DOF_OFFSETS[:-1], ml.DOF_OFFSETS[1:]):
        if hi - lo == 3:
            np.testing.assert_allclose(s.dof_pos[lo:hi], _exp_map(raw[body]), atol=2e-4)
    np.testing.assert_allclose(s.root_pos, clip.root_pos[k], atol=1e-5)


def test_multi_clip_weights_and_yaml_sets(clip_dir):
    a = write_clip(clip_dir / "a.npy")
    b = write_clip(clip_dir / "b.npy", root_vel=(0.0, 1.0, 0.0))
    yaml_path = clip_dir / "set.yaml"
    yaml_path.write_text(
        "motions:\n  - file: a.npy\n    weight: 3.0\n  - file: b.npy\n    weight: 1.0\n"
    )
    lib = ml.load_motion_lib(str(yaml_path))
    np.testing.assert_allclose(lib.clip_weight, [0.75, 0.25])
    np.testing.assert_array_equal(lib.clip_start, [0, 3])
    ids = ml.sample_motion_ids(lib, jax.random.key(0), (4000,))
    assert abs(float(jnp.mean(ids == 0)) - 0.75) < 0.03  # 4 sigma ~ 0.027
    times = ml.sample_times(lib, jax.random.key(1), ids)
    assert float(times.min()) >= 0.0 and float(times.max()) <= 0.2
    # Clip 1's frames, not clip 0's: its root velocity points along y.
    s = _motion_state(ml.load_motion_lib([a, b], [1.0, 1.0]), jnp.array([1]), jnp.array([0.15]))
    np.testing.assert_allclose(s.root_vel[0], [0.0, 2.0, 0.0], atol=1e-6)


def test_bad_inputs_raise_clear_errors(clip_dir):
    with pytest.raises(ValueError, match="no_such.npy"):
        ml.load_motion_clip(clip_dir / "no_such.npy")
    bad = clip_dir / "bad.npy"
    np.save(bad, {"rotation": 1}, allow_pickle=True)
    with pytest.raises(ValueError, match="missing"):
        ml.load_motion_clip(bad)
    with pytest.raises(ValueError, match="weights"):
        ml.load_motion_lib([write_clip(clip_dir / "w.npy")], [1.0, 2.0])
