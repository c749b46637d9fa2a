"""Motion library for the AMP humanoid: poselib clips -> reference states at any time t.

Loads IsaacGymEnvs poselib ``SkeletonMotion`` clips (``.npy`` pickles of an OrderedDict)
and samples them as IsaacGymEnvs' ``MotionLib`` does (``tasks/amp/utils_amp/motion_lib.py``,
release 1.5.1; rules restated in ``specs/imitation.md``):

* clip length ``(T - 1) / fps``; ``i0 = floor(t / len * (T - 1))``, ``i1 = min(i0 + 1, T - 1)``,
  ``blend = (t - i0 / fps) * fps``;
* root and body positions are lerped, rotations slerped; root linear/angular velocity and
  DOF velocity are those of frame ``i0``;
* DOF positions from the (slerped) local rotations: exp map for the 3-DOF joints, the
  signed angle about y for the 1-DOF elbows/knees (wrapped to ``[-pi, pi]``);
* DOF velocity per frame by finite differences of local rotations (axis * angle * fps; the
  last frame repeats the one before);
* global body positions by forward kinematics of the skeleton.

Everything is float32 on device and jit/vmap-able; a ``MotionLib`` is a pytree, so it can
ride in an env's ``params``. Quaternions are ``xyzw`` (poselib/Isaac order) throughout this
module; MuJoCo's ``wxyz`` conversion happens in ``humanoid.py``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

# Skeleton of the AMP humanoid (poselib order = MuJoCo body id - 1).
BODY_NAMES: tuple[str, ...] = (
    "pelvis", "torso", "head", "right_upper_arm", "right_lower_arm", "right_hand",
    "left_upper_arm", "left_lower_arm", "left_hand", "right_thigh", "right_shin",
    "right_foot", "left_thigh", "left_shin", "left_foot",
)  # fmt: skip
PARENT_INDICES: tuple[int, ...] = (-1, 0, 1, 1, 3, 4, 1, 6, 7, 0, 9, 10, 0, 12, 13)
# Joints in DOF order: (owning body, first DOF, number of DOFs); 1-DOF joints turn about y.
DOF_BODY_IDS: tuple[int, ...] = (1, 2, 3, 4, 6, 7, 9, 10, 11, 12, 13, 14)
DOF_OFFSETS: tuple[int, ...] = (0, 3, 6, 9, 10, 13, 14, 17, 18, 21, 24, 25, 28)
NUM_DOF = DOF_OFFSETS[-1]  # 28
NUM_BODIES = len(BODY_NAMES)  # 15
KEY_BODY_NAMES: tuple[str, ...] = ("right_hand", "left_hand", "right_foot", "left_foot")
KEY_BODY_IDS: tuple[int, ...] = tuple(BODY_NAMES.index(n) for n in KEY_BODY_NAMES)

_FRAME_BUCKET = 128  # frames of a MotionLib are padded to a multiple of this
_MIN_ANGLE = 1e-5  # Isaac's threshold below which an axis is undefined (angle set to 0)


# ----- quaternion helpers (xyzw, broadcasting over leading axes) ---------------------------
def quat_mul(a: jax.Array, b: jax.Array) -> jax.Array:
    """Hamilton product ``a * b`` of ``[..., 4]`` xyzw quaternions."""
    ax, ay, az, aw = jnp.moveaxis(a, -1, 0)
    bx, by, bz, bw = jnp.moveaxis(b, -1, 0)
    return jnp.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def quat_conj(q: jax.Array) -> jax.Array:
    """Conjugate (= inverse for unit quaternions) of ``[..., 4]`` xyzw."""
    return q * jnp.array([-1.0, -1.0, -1.0, 1.0], q.dtype)


def quat_normalize(q: jax.Array) -> jax.Array:
    """``q / |q|`` for ``[..., 4]``."""
    return q / jnp.linalg.norm(q, axis=-1, keepdims=True)


def quat_rotate(q: jax.Array, v: jax.Array) -> jax.Array:
    """Rotates ``v [..., 3]`` by the unit quaternion ``q [..., 4]`` (xyzw)."""
    xyz, w = q[..., :3], q[..., 3:]
    t = 2.0 * jnp.cross(xyz, v)
    return v + w * t + jnp.cross(xyz, t)


def normalize_angle(x: jax.Array) -> jax.Array:
    """Wraps angles (rad) to ``[-pi, pi]`` (Isaac's ``normalize_angle``: atan2(sin, cos))."""
    return jnp.arctan2(jnp.sin(x), jnp.cos(x))


def quat_to_angle_axis(q: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(angle [...], axis [..., 3])`` of a unit xyzw quaternion, angle wrapped to [-pi, pi].

    Isaac's ``torch_utils.quat_to_angle_axis``: ``angle = wrap(2 acos w)``,
    ``axis = xyz / sin(angle/2)``; for ``|sin| <= 1e-5`` angle 0 and axis z.
    """
    w = jnp.clip(q[..., 3], -1.0, 1.0)
    sin_half = jnp.sqrt(jnp.maximum(1.0 - w * w, 0.0))
    ok = sin_half > _MIN_ANGLE
    angle = jnp.where(ok, normalize_angle(2.0 * jnp.arccos(w)), 0.0)
    axis = q[..., :3] / jnp.where(ok, sin_half, 1.0)[..., None]
    axis = jnp.where(ok[..., None], axis, jnp.array([0.0, 0.0, 1.0], q.dtype))
    return angle, axis


def quat_to_exp_map(q: jax.Array) -> jax.Array:
    """Exp map ``angle * axis [..., 3]`` (rad) of a unit xyzw quaternion."""
    angle, axis = quat_to_angle_axis(q)
    return angle[..., None] * axis


def quat_from_angle_axis(angle: jax.Array, axis: jax.Array) -> jax.Array:
    """Unit xyzw quaternion of a rotation by ``angle [...]`` (rad) about ``axis [..., 3]``."""
    axis = axis / jnp.linalg.norm(axis, axis=-1, keepdims=True)
    half = 0.5 * angle[..., None]
    return jnp.concatenate([axis * jnp.sin(half), jnp.cos(half)], axis=-1)


def exp_map_to_quat(e: jax.Array) -> jax.Array:
    """Unit xyzw quaternion of an exp map ``e [..., 3]`` (Isaac's ``exp_map_to_quat``).

    The angle ``|e|`` is wrapped to ``[-pi, pi]``; below 1e-5 rad the identity results.
    """
    norm = jnp.linalg.norm(e, axis=-1)
    ok = norm > _MIN_ANGLE
    axis = e / jnp.where(ok, norm, 1.0)[..., None]
    axis = jnp.where(ok[..., None], axis, jnp.array([0.0, 0.0, 1.0], e.dtype))
    angle = jnp.where(ok, normalize_angle(norm), 0.0)
    return quat_from_angle_axis(angle, axis)


def quat_to_tan_norm(q: jax.Array) -> jax.Array:
    """``[..., 6]``: the rotated x axis then the rotated z axis (Isaac's ``quat_to_tan_norm``)."""
    shape = q.shape[:-1] + (3,)
    tan = quat_rotate(q, jnp.broadcast_to(jnp.array([1.0, 0.0, 0.0], q.dtype), shape))
    norm = quat_rotate(q, jnp.broadcast_to(jnp.array([0.0, 0.0, 1.0], q.dtype), shape))
    return jnp.concatenate([tan, norm], axis=-1)


def heading_quat_inv(q: jax.Array) -> jax.Array:
    """Inverse yaw of ``q [..., 4]``: rotation by ``-heading`` about z (Isaac's
    ``calc_heading_quat_inv``; heading = atan2 of the rotated x axis' y and x)."""
    x_axis = quat_rotate(
        q, jnp.broadcast_to(jnp.array([1.0, 0.0, 0.0], q.dtype), q.shape[:-1] + (3,))
    )
    heading = jnp.arctan2(x_axis[..., 1], x_axis[..., 0])
    z = jnp.broadcast_to(jnp.array([0.0, 0.0, 1.0], q.dtype), q.shape[:-1] + (3,))
    return quat_from_angle_axis(-heading, z)


def slerp(q0: jax.Array, q1: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical interpolation of ``[..., 4]`` unit quaternions at ``t [..., 1]`` in [0, 1].

    Takes the short way (flips ``q1`` when ``q0 . q1 < 0``) as Isaac's ``slerp``. Where the
    two are within ~1e-3 rad, a normalised lerp replaces the ratio of sines (Isaac returns
    ``0.5 (q0 + q1)`` there whatever ``t``; the nlerp keeps ``t`` and agrees to O(1e-6)).
    """
    cos_half = jnp.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = jnp.where(cos_half < 0.0, -q1, q1)
    cos_half = jnp.minimum(jnp.abs(cos_half), 1.0)
    half = jnp.arccos(cos_half)
    sin_half = jnp.sqrt(1.0 - cos_half * cos_half)
    small = sin_half < 1e-3
    safe = jnp.where(small, 1.0, sin_half)
    ratio0 = jnp.where(small, 1.0 - t, jnp.sin((1.0 - t) * half) / safe)
    ratio1 = jnp.where(small, t, jnp.sin(t * half) / safe)
    return quat_normalize(ratio0 * q0 + ratio1 * q1)


# ----- skeleton math ------------------------------------------------------------------------
def forward_kinematics(
    root_pos: jax.Array, local_rot: jax.Array, local_translation: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Global body positions and rotations of the skeleton.

    Args:
        root_pos: ``[..., 3]`` root (pelvis) position, m.
        local_rot: ``[..., 15, 4]`` xyzw rotations relative to the parent (root: global).
        local_translation: ``[15, 3]`` body offsets in the parent frame, m.

    Returns:
        ``(body_pos [..., 15, 3], body_rot [..., 15, 4])`` in the world frame (poselib's
        ``global_translation`` / ``global_rotation``).
    """
    pos, rot = [root_pos], [local_rot[..., 0, :]]
    for b in range(1, NUM_BODIES):
        p = PARENT_INDICES[b]
        rot.append(quat_mul(rot[p], local_rot[..., b, :]))
        pos.append(
            pos[p] + quat_rotate(rot[p], jnp.broadcast_to(local_translation[b], pos[p].shape))
        )
    return jnp.stack(pos, axis=-2), jnp.stack(rot, axis=-2)


def local_rotation_to_dof(local_rot: jax.Array) -> jax.Array:
    """DOF positions ``[..., 28]`` (rad) from local rotations ``[..., 15, 4]``.

    3-DOF joints: exp map of the body's local rotation; 1-DOF joints: the angle about y
    (``angle * axis_y``, wrapped to [-pi, pi]), as Isaac's ``_local_rotation_to_dof``.
    """
    parts = []
    for body, lo, hi in zip(DOF_BODY_IDS, DOF_OFFSETS[:-1], DOF_OFFSETS[1:]):
        q = local_rot[..., body, :]
        if hi - lo == 3:
            parts.append(quat_to_exp_map(q))
        else:
            angle, axis = quat_to_angle_axis(q)
            parts.append(normalize_angle(angle * axis[..., 1])[..., None])
    return jnp.concatenate(parts, axis=-1)


def local_rotation_to_dof_vel(rot0: jax.Array, rot1: jax.Array, fps: jax.Array) -> jax.Array:
    """DOF velocities ``[..., 28]`` (rad/s) between consecutive frames ``[..., 15, 4]``.

    ``axis * angle * fps`` of ``rot0^-1 rot1`` per body; 1-DOF joints keep the y
    component (Isaac's ``_local_rotation_to_dof_vel``).
    """
    diff = quat_normalize(quat_mul(quat_conj(rot0), rot1))
    angle, axis = quat_to_angle_axis(diff)
    local_vel = axis * angle[..., None] * jnp.asarray(fps)[..., None, None]
    parts = []
    for body, lo, hi in zip(DOF_BODY_IDS, DOF_OFFSETS[:-1], DOF_OFFSETS[1:]):
        v = local_vel[..., body, :]
        parts.append(v if hi - lo == 3 else v[..., 1:2])
    return jnp.concatenate(parts, axis=-1)


# ----- loading ------------------------------------------------------------------------------
class MotionClip(NamedTuple):
    """One poselib clip in numpy (as stored, before conversion to float32 on device).

    Attributes:
        name: file name.
        fps: frames per second (float, whatever the stored type).
        local_rot: ``[T, 15, 4]`` xyzw local rotations.
        root_pos: ``[T, 3]`` root translation, m.
        root_vel: ``[T, 3]`` root linear velocity, world frame, m/s.
        root_ang_vel: ``[T, 3]`` root angular velocity, world frame, rad/s.
        local_translation: ``[15, 3]`` skeleton body offsets, m.
    """

    name: str
    fps: float
    local_rot: np.ndarray
    root_pos: np.ndarray
    root_vel: np.ndarray
    root_ang_vel: np.ndarray
    local_translation: np.ndarray


def _clip_error(path: str, field: str, expected: str, got: object) -> ValueError:
    """The one-line error of a bad clip: the file, the field, what was expected and got."""
    return ValueError(f"load_motion_clip: {path!r}: field {field!r}: expected {expected}, got {got}")


def _arr(entry: object, key: str, path: str) -> np.ndarray:
    """The numeric ``arr`` of a poselib tensor dict ``{"arr": ..., "context": ...}``."""
    if not (isinstance(entry, dict) and "arr" in entry):
        raise _clip_error(path, key, "a poselib tensor dict with 'arr'", type(entry).__name__)
    arr = np.asarray(entry["arr"])
    if arr.dtype.kind not in "iuf":
        raise _clip_error(path, key, "a numeric array", f"dtype {arr.dtype}")
    return arr


def _shaped(raw: dict, key: str, path: str, shape: tuple, what: str) -> np.ndarray:
    """``_arr`` checked against ``shape`` (None = any size) and for finite values."""
    arr = _arr(raw[key], key, path)
    ok = arr.ndim == len(shape) and all(s is None or a == s for a, s in zip(arr.shape, shape))
    if not ok:
        raise _clip_error(path, key, what, f"shape {list(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise _clip_error(path, key, "finite values", f"{int(np.sum(~np.isfinite(arr)))} NaN/inf")
    return arr


def _fps(value: object, path: str) -> float:
    """``fps`` as a float: a Python/numpy int or float, or a 1-element numeric array (the
    shipped clips use all three); anything else (str, bool, None, a list) is an error."""
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        value = value.reshape(())[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        shown = f"{type(value).__name__} {value!r}"[:80]
        raise _clip_error(path, "fps", "a number (float, int or a 0-d numeric array)", shown)
    fps = float(value)
    if not (np.isfinite(fps) and fps > 0):
        raise _clip_error(path, "fps", "a frame rate > 0 (Hz)", fps)
    return fps


def load_motion_clip(path: str | os.PathLike) -> MotionClip:
    """Loads one poselib ``SkeletonMotion`` ``.npy`` file (float32 or float64).

    Args:
        path: the ``.npy`` file (``np.load(path, allow_pickle=True).item()``).

    Returns:
        A ``MotionClip`` with ``fps`` cast to float (stored as float, int or 0-d array).

    Raises:
        ValueError: one line naming the file and the field, for: a missing or unreadable
            file; a missing SkeletonMotion key; global rotations (``is_local`` False); a
            skeleton other than the 15-body AMP humanoid (``skeleton_tree.node_names``,
            ``parent_indices``, ``local_translation [15, 3]``); an ``fps`` that is not a
            positive number (a str, bool, None, list ...); ``rotation`` not ``[T >= 2, 15,
            4]`` (e.g. a wrong body count), ``root_translation`` not ``[T, 3]``, velocities
            not ``[T, 15, 3]``; non-numeric or non-finite values.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"load_motion_clip: expected an existing .npy file, got {path!r}")
    try:
        raw = np.load(path, allow_pickle=True)
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"load_motion_clip: {path!r}: expected a numpy .npy file, "
                         f"np.load failed: {err}") from err
    raw = raw.item() if raw.shape == () else raw
    if not isinstance(raw, dict):  # a bad file, not a bad argument type: ValueError
        raise ValueError(  # noqa: TRY004
            f"load_motion_clip: {path!r}: expected a poselib SkeletonMotion dict, got {type(raw).__name__}"
        )
    missing = {"rotation", "root_translation", "global_velocity", "global_angular_velocity",
               "skeleton_tree", "fps"} - set(raw)  # fmt: skip
    if missing:
        raise ValueError(
            f"load_motion_clip: {path!r}: expected SkeletonMotion keys, missing {sorted(missing)}"
        )
    if not raw.get("is_local", True):
        raise _clip_error(path, "is_local", "local rotations (True)", raw["is_local"])
    tree = raw["skeleton_tree"]
    if not isinstance(tree, dict):
        raise _clip_error(path, "skeleton_tree", "a poselib SkeletonTree dict",
                          type(tree).__name__)
    tree_missing = {"node_names", "parent_indices", "local_translation"} - set(tree)
    if tree_missing:
        raise _clip_error(path, "skeleton_tree", "keys node_names, parent_indices, "
                          "local_translation", f"missing {sorted(tree_missing)}")
    names = tuple(str(n) for n in tree["node_names"])
    if len(names) != NUM_BODIES:
        raise _clip_error(path, "skeleton_tree.node_names",
                          f"the {NUM_BODIES} bodies of the AMP humanoid {BODY_NAMES}",
                          f"{len(names)} bodies {names}")
    if names != BODY_NAMES:
        i = next(i for i, (a, b) in enumerate(zip(names, BODY_NAMES)) if a != b)
        raise _clip_error(path, "skeleton_tree.node_names", f"the AMP humanoid's bodies "
                          f"{BODY_NAMES}", f"{names[i]!r} where {BODY_NAMES[i]!r} belongs "
                          f"(body {i})")
    parents = tuple(int(p) for p in _arr(tree["parent_indices"], "skeleton_tree.parent_indices",
                                         path).reshape(-1))
    if parents != PARENT_INDICES:
        raise _clip_error(path, "skeleton_tree.parent_indices", f"{PARENT_INDICES}", parents)
    offsets = _shaped(tree, "local_translation", path, (NUM_BODIES, 3), "[15, 3] body offsets")
    fps = _fps(raw["fps"], path)
    rot = _shaped(raw, "rotation", path, (None, NUM_BODIES, 4),
                  f"[T >= 2, {NUM_BODIES}, 4] local quaternions ({NUM_BODIES} bodies)")
    frames = rot.shape[0]
    if frames < 2:
        raise _clip_error(path, "rotation", "at least 2 frames", frames)
    if np.any(np.linalg.norm(rot, axis=-1) < 1e-6):
        raise _clip_error(path, "rotation", "unit quaternions", "a zero quaternion")
    root = _shaped(raw, "root_translation", path, (frames, 3), f"[{frames}, 3] (T as rotation)")
    vel_shape, vel_what = (frames, NUM_BODIES, 3), f"[{frames}, {NUM_BODIES}, 3] (T as rotation)"
    vel = _shaped(raw, "global_velocity", path, vel_shape, vel_what)
    ang = _shaped(raw, "global_angular_velocity", path, vel_shape, vel_what)
    return MotionClip(
        name=os.path.basename(path),
        fps=fps,
        local_rot=rot,
        root_pos=root,
        root_vel=vel[:, 0],
        root_ang_vel=ang[:, 0],
        local_translation=offsets,
    )


def read_motion_set(path: str | os.PathLike) -> tuple[list[str], list[float]]:
    """Reads an IsaacGymEnvs motion-set ``.yaml`` (``motions: [{file, weight}, ...]``).

    Files are resolved relative to the yaml's folder (IsaacGymEnvs' ``MotionLib``);
    ``weight`` defaults to 1.

    Returns:
        ``(clip paths, weights)``.

    Raises:
        ValueError: one line naming the yaml and the entry (``motions[i].file`` /
            ``motions[i].weight``) for: a missing or unparsable file, no ``motions`` list,
            an entry without a str ``file``, a clip file that does not exist, a weight that
            is not a number >= 0.
    """
    import yaml  # only needed for motion sets; PyYAML is a dependency of flax

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"read_motion_set: expected an existing .yaml file, got {path!r}")
    try:
        with open(path) as f:
            spec = yaml.safe_load(f)
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"read_motion_set: {path!r}: expected YAML, got a parse error: "
                         f"{first}") from err
    entries = spec.get("motions") if isinstance(spec, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"read_motion_set: {path!r}: field 'motions': expected a non-empty "
                         f"list of {{file, weight}}, got {str(spec)[:80]!r}")
    folder = os.path.dirname(path)
    files, weights = [], []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("file"), str):
            raise ValueError(f"read_motion_set: {path!r}: field 'motions[{i}].file': expected "
                             f"a clip file name (str), got {str(e)[:80]!r}")
        clip = os.path.join(folder, e["file"])
        if not os.path.isfile(clip):
            raise ValueError(f"read_motion_set: {path!r}: field 'motions[{i}].file': expected "
                             f"an existing .npy file (relative to the yaml), got {clip!r}")
        w = e.get("weight", 1.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0 \
                or not np.isfinite(w):
            raise ValueError(f"read_motion_set: {path!r}: field 'motions[{i}].weight': "
                             f"expected a number >= 0, got {w!r}")
        files.append(clip)
        weights.append(float(w))
    return files, weights


@struct.dataclass
class MotionLib:
    """A set of clips on device, frames of all clips concatenated (``F`` frames in all,
    padded to a multiple of 128 so that similar libraries share compiled code).

    Attributes:
        local_rot: ``[F, 15, 4]`` float32 xyzw local rotations.
        body_pos: ``[F, 15, 3]`` float32 global body positions (forward kinematics), m.
        root_vel: ``[F, 3]`` float32 world-frame root velocity, m/s.
        root_ang_vel: ``[F, 3]`` float32 world-frame root angular velocity, rad/s.
        dof_vel: ``[F, 28]`` float32 DOF velocities (finite differences), rad/s.
        clip_start: ``[C]`` int32 first frame of each clip.
        clip_frames: ``[C]`` int32 frames per clip ``T``.
        clip_fps: ``[C]`` float32.
        clip_length: ``[C]`` float32 ``(T - 1) / fps``, s.
        clip_weight: ``[C]`` float32 sampling probabilities (sum 1).
        local_translation: ``[15, 3]`` float32 skeleton offsets, m.
    """

    local_rot: jax.Array
    body_pos: jax.Array
    root_vel: jax.Array
    root_ang_vel: jax.Array
    dof_vel: jax.Array
    clip_start: jax.Array
    clip_frames: jax.Array
    clip_fps: jax.Array
    clip_length: jax.Array
    clip_weight: jax.Array
    local_translation: jax.Array

    @property
    def num_clips(self) -> int:
        return int(self.clip_start.shape[0])


def motion_lib_from_clips(
    clips: Sequence[MotionClip], weights: Sequence[float] | None = None
) -> MotionLib:
    """Converts clips to a float32 ``MotionLib`` (forward kinematics and DOF velocities here).

    Args:
        clips: one or more clips of the AMP skeleton.
        weights: relative sampling weights, one per clip (default: equal).

    Raises:
        ValueError: for no clips, a weight count that does not match, negative weights or a
            zero total, or clips with different skeleton offsets.
    """
    if not clips:
        raise ValueError("motion_lib_from_clips: expected at least one clip, got none")
    weights = [1.0] * len(clips) if weights is None else [float(w) for w in weights]
    if len(weights) != len(clips):
        raise ValueError(
            f"motion_lib_from_clips: expected {len(clips)} weights (one per clip), got {len(weights)}"
        )
    if min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(
            f"motion_lib_from_clips: expected weights >= 0 with a positive sum, got {weights}"
        )
    offsets = np.asarray(clips[0].local_translation, np.float32)
    for c in clips[1:]:
        if not np.allclose(np.asarray(c.local_translation, np.float32), offsets, atol=1e-6):
            raise ValueError(
                f"motion_lib_from_clips: expected one skeleton, clip {c.name!r} has other body offsets"
            )
    frames = np.array([c.local_rot.shape[0] for c in clips], np.int32)
    fps = np.array([c.fps for c in clips], np.float32)
    start = np.concatenate([[0], np.cumsum(frames)[:-1]]).astype(np.int32)
    # Frame pairs for the finite differences: (f, f+1) inside each clip; the last frame of a
    # clip reuses the pair before it (Isaac appends a copy of the last difference).
    pair0 = np.concatenate([s + np.minimum(np.arange(n), n - 2) for s, n in zip(start, frames)])
    # Frame arrays are padded (identity rotations, zeros) to a multiple of _FRAME_BUCKET so
    # that libraries of similar size share compiled code; padded frames are never indexed.
    pad = -int(frames.sum()) % _FRAME_BUCKET

    def cat(arrays, fill=0.0):
        x = np.concatenate(arrays).astype(np.float32)
        return np.concatenate([x, np.full((pad, *x.shape[1:]), fill, np.float32)])

    rot = cat([c.local_rot for c in clips])
    rot[rot.shape[0] - pad :, :, 3] = 1.0
    derived = _derived_frames(
        rot,
        cat([c.root_pos for c in clips]),
        offsets,
        np.concatenate([pair0, np.zeros(pad, int)]).astype(np.int32),
        cat([np.repeat(fps, frames)], fill=1.0),
    )
    return MotionLib(
        **derived,
        root_vel=jnp.asarray(cat([c.root_vel for c in clips])),
        root_ang_vel=jnp.asarray(cat([c.root_ang_vel for c in clips])),
        clip_start=jnp.asarray(start),
        clip_frames=jnp.asarray(frames),
        clip_fps=jnp.asarray(fps),
        clip_length=jnp.asarray((frames - 1) / fps, jnp.float32),
        clip_weight=jnp.asarray(np.asarray(weights, np.float32) / np.float32(sum(weights))),
        local_translation=jnp.asarray(offsets),
    )


@jax.jit
def _derived_frames(rot, root_pos, offsets, pair0, fps):
    # One compiled call for all clips (op-by-op dispatch over 15 bodies takes tens of s).
    rot = quat_normalize(rot)
    body_pos, _ = forward_kinematics(root_pos, rot, offsets)
    dof_vel = local_rotation_to_dof_vel(rot[pair0], rot[pair0 + 1], fps)
    return {"local_rot": rot, "body_pos": body_pos, "dof_vel": dof_vel}


def check_offsets(clip: MotionClip, offsets: np.ndarray, path: str = "",
                  atol: float = 1e-4) -> None:
    """Raises if ``clip``'s skeleton offsets are not the model's (same names, other sizes).

    Args:
        clip: a loaded clip.
        offsets: ``[15, 3]`` the model's body offsets in the parent frame (m), poselib order;
            the root row is ignored (the root's offset is its position).
        path: the clip file, for the message (default ``clip.name``).
        atol: tolerance in m (the shipped clips match the MJCF to 1.5e-8 m).

    Raises:
        ValueError: naming the file, ``skeleton_tree.local_translation``, the worst body and
            its deviation.
    """
    dev = np.linalg.norm(np.asarray(clip.local_translation, np.float64)[1:]
                         - np.asarray(offsets, np.float64)[1:], axis=-1)
    worst = int(np.argmax(dev))
    if dev[worst] > atol:
        raise _clip_error(path or clip.name, "skeleton_tree.local_translation",
                          f"the model's body offsets (within {atol} m)",
                          f"body {BODY_NAMES[worst + 1]!r} {dev[worst]:.4f} m away")


def load_motion_lib(
    files: str | os.PathLike | Sequence[str | os.PathLike],
    weights: Sequence[float] | None = None,
    offsets: np.ndarray | None = None,
) -> MotionLib:
    """Loads a ``MotionLib`` from ``.npy`` clip(s) or a motion-set ``.yaml``.

    Args:
        files: one ``.npy`` (poselib ``SkeletonMotion``) or ``.yaml``/``.yml`` motion set
            (IsaacGymEnvs' ``motions: [{file, weight}]``) path, or a list of ``.npy`` paths.
        weights: per-clip sampling weights for a list (a yaml carries its own).
        offsets: ``[15, 3]`` the simulated model's body offsets (m); when given, every clip's
            skeleton must match them (``check_offsets``): a clip retargeted to another body
            size would otherwise load and drive a model it does not fit.

    Raises:
        ValueError: see ``load_motion_clip``, ``read_motion_set``, ``check_offsets`` and
            ``motion_lib_from_clips``; errors of a clip listed in a yaml also name the yaml
            and the entry.
    """
    listed_in = None
    if isinstance(files, (str, os.PathLike)):
        if os.fspath(files).endswith((".yaml", ".yml")):
            if weights is not None:
                raise ValueError(
                    f"load_motion_lib: expected no weights with a yaml motion set, got {weights}"
                )
            listed_in = os.fspath(files)
            files, weights = read_motion_set(files)
        else:
            files = [files]
    clips = []
    for i, f in enumerate(files):
        try:
            clip = load_motion_clip(f)
            if offsets is not None:
                check_offsets(clip, offsets, os.fspath(f))
        except ValueError as err:
            if listed_in is None:
                raise
            raise ValueError(f"{err} (listed in {listed_in!r} as motions[{i}])") from err
        clips.append(clip)
    return motion_lib_from_clips(clips, weights)


# ----- sampling -----------------------------------------------------------------------------
class MotionState(NamedTuple):
    """A reference state (one sample; leading axes added under vmap / batched times).

    Attributes:
        root_pos: ``[3]`` m. root_rot: ``[4]`` xyzw (world). root_vel: ``[3]`` m/s (world).
        root_ang_vel: ``[3]`` rad/s (world). dof_pos: ``[28]`` rad. dof_vel: ``[28]`` rad/s.
        body_pos: ``[15, 3]`` global body positions, m.
    """

    root_pos: jax.Array
    root_rot: jax.Array
    root_vel: jax.Array
    root_ang_vel: jax.Array
    dof_pos: jax.Array
    dof_vel: jax.Array
    body_pos: jax.Array


def sample_motion_ids(lib: MotionLib, key: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
    """Clip indices ``[*shape]`` int32 drawn with probabilities ``clip_weight``."""
    return jax.random.categorical(key, jnp.log(lib.clip_weight), shape=shape).astype(jnp.int32)


def sample_times(lib: MotionLib, key: jax.Array, motion_ids: jax.Array) -> jax.Array:
    """Times ``t ~ U[0, clip_length]`` (s), same shape as ``motion_ids``."""
    u = jax.random.uniform(key, jnp.shape(motion_ids))
    return u * lib.clip_length[motion_ids]


def frame_blend(
    lib: MotionLib, motion_ids: jax.Array, times: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(i0, i1, blend)``: global frame indices and lerp weight for time ``t`` in each clip.

    Isaac's ``_calc_frame_blend``: ``phase = clip(t / len, 0, 1)``,
    ``i0 = floor(phase (T - 1))``, ``i1 = min(i0 + 1, T - 1)``, ``blend = (t - i0 / fps) fps``.
    Times are first clipped to ``[0, len]`` (Isaac extrapolates with blend < 0 for t < 0,
    which its reset pair asks for at t - dt near the start; we hold frame 0 instead).
    """
    length = lib.clip_length[motion_ids]
    frames = lib.clip_frames[motion_ids]
    fps = lib.clip_fps[motion_ids]
    times = jnp.clip(times, 0.0, length)
    phase = times / length
    i0 = jnp.minimum(jnp.floor(phase * (frames - 1)).astype(jnp.int32), frames - 1)
    i1 = jnp.minimum(i0 + 1, frames - 1)
    blend = jnp.clip((times - i0 / fps) * fps, 0.0, 1.0)
    start = lib.clip_start[motion_ids]
    return start + i0, start + i1, blend


def motion_state(lib: MotionLib, motion_ids: jax.Array, times: jax.Array) -> MotionState:
    """The reference state of clip ``motion_ids`` at ``times`` (s); any matching shapes.

    Positions lerp, rotations slerp, velocities come from frame ``i0`` (see module doc).
    Jittable and vmappable; ``motion_ids`` int, ``times`` float32, same shape ``[*B]``.
    """
    i0, i1, blend = frame_blend(lib, motion_ids, times)
    b = blend[..., None]
    root_pos = (1.0 - b) * lib.body_pos[i0, 0] + b * lib.body_pos[i1, 0]
    body_pos = (1.0 - b[..., None]) * lib.body_pos[i0] + b[..., None] * lib.body_pos[i1]
    local_rot = slerp(lib.local_rot[i0], lib.local_rot[i1], b[..., None])
    return MotionState(
        root_pos=root_pos,
        root_rot=local_rot[..., 0, :],
        root_vel=lib.root_vel[i0],
        root_ang_vel=lib.root_ang_vel[i0],
        dof_pos=local_rotation_to_dof(local_rot),
        dof_vel=lib.dof_vel[i0],
        body_pos=body_pos,
    )
