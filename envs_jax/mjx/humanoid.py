"""The AMP humanoid (``"amp-humanoid"``): IsaacGymEnvs' HumanoidAMP task on MJX.

Task facts from ``specs/imitation.md`` and IsaacGymEnvs 1.5.1 (``tasks/humanoid_amp.py``,
``tasks/amp/humanoid_amp_base.py``):

* model ``assets/amp_humanoid.xml`` (15 bodies, 28 hinge DOFs in 12 joints; changes from the
  original listed in its header and ``assets/PROVENANCE.md``);
* 30 Hz control: 6 physics substeps of 1/180 s per action;
* explicit PD control per substep: ``q* = offset + scale * clip(a, -1, 1)`` and
  ``tau = clip(kp (q* - q) - kd qdot, +/-gear)`` (Isaac's position drive with the MJCF
  stiffness/damping as kp/kd and the gear as effort limit). Offsets/scales follow Isaac's
  ``_build_pd_action_offset_scale``: 1-DOF joints mid-range +/- 0.7 (hi - lo); 3-DOF joints
  offset 0, scale ``min(1.2 * max |limit|, pi)`` (pi for the shoulders; 1.88 rad abdomen,
  1.26 neck, 2.93 hips, 1.15 ankles; the spec's "scale pi" holds for the shoulders only).
  Actions are in DOF order and mapped to the actuators by joint name (the actuator list
  orders the hips x, z, y);
* observation (105): root height, root rotation tan-norm, root linear and angular velocity
  in the heading frame, DOF positions as tan-norms of the 3-DOF exp maps + the 4 hinge
  angles, DOF velocities, hands and feet relative to the root in the heading frame;
* ``info["amp_obs"]`` (210): ``[obs after the step, obs before it]`` (Isaac's
  ``amp_obs`` with ``numAMPObsSteps = 2``);
* reward 1 per step (the task reward, weight 0 in AMP/NEAR: the style reward comes from the
  discriminator / energy model in the agent);
* early termination (after the 2nd step): a non-foot body has contact force > 0.1 N AND a
  non-foot body origin is below ``termination_height``; the 300-step limit truncates;
* resets: default pose, clip start, random reference state, or hybrid (Isaac's stateInit).

Speed (2-core CPU shared with other jobs, jax 0.10.2, ``AutoReset`` step in a jitted
``lax.scan``, random actions): 116 / 185 / 435 / 364 env steps/s at batch 1 / 16 / 64 / 128
(x6 physics steps); the shipped Newton 100/50 budget gives 190 at batch 128. Compile of the
step: ~90-130 s of CPU. At batch 128 the 100/50 model deadlocks XLA:CPU (every thread parked
on a futex, 0% CPU) unless ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` is set,
which importing ``envs_jax`` does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import mjx

from envs_jax import spaces
from envs_jax.mjx import motion_lib as ml
from envs_jax.mjx.base import ASSETS_DIR, MjxEnv, MjxParams, TaskStep, load_mjcf

MODEL_PATH = os.path.join(ASSETS_DIR, "amp_humanoid.xml")
MOTIONS_DIR = os.path.join(ASSETS_DIR, "motions")
DEFAULT_MOTION = os.path.join(MOTIONS_DIR, "amp_humanoid_walk.npy")

OBS_SIZE = 105  # 1 + 6 + 3 + 3 + 52 + 28 + 12
N_SUBSTEPS = 6  # x 1/180 s = 1/30 s control step
EPISODE_LENGTH = 300  # control steps (10 s)
RESET_MODES: tuple[str, ...] = ("default", "start", "random", "hybrid")
DEFAULT_ROOT_HEIGHT = 0.89  # m, Isaac's default root state
FOOT_BODY_NAMES: tuple[str, ...] = ("right_foot", "left_foot")  # Isaac's contactBodies

# kp (N m / rad) by joint group: the reference MJCF's joint stiffness, which Isaac uses as the
# position-drive gain. The matching kd is the MJCF damping, kept in the model (dof_damping).
PD_GAINS: dict[str, tuple[float, float]] = {  # group: (kp, kd)
    "abdomen": (600.0, 60.0),
    "neck": (50.0, 5.0),
    "shoulder": (200.0, 20.0),
    "elbow": (150.0, 15.0),
    "hip": (300.0, 30.0),
    "knee": (300.0, 30.0),
    "ankle": (200.0, 20.0),
}


def _group(joint_name: str) -> str:
    return next(g for g in PD_GAINS if g in joint_name)


@struct.dataclass
class AMPHumanoidParams(MjxParams):
    """Per-task parameters of ``AMPHumanoid`` (all traced: vmap over them is allowed).

    Attributes:
        model_fields: see ``MjxParams`` (empty by default).
        motion: the ``MotionLib`` that reference resets (and demo pairs) sample from.
        reset_mode: ``[]`` int32 index into ``RESET_MODES`` (Isaac's stateInit).
        hybrid_init_prob: ``[]`` float32, probability of a reference reset in "hybrid".
        termination_height: ``[]`` float32, m (0.5 in IsaacGymEnvs, 0.3 in NEAR).
    """

    motion: ml.MotionLib
    reset_mode: jax.Array
    hybrid_init_prob: jax.Array
    termination_height: jax.Array


# ----- observation (pure functions, shared by the env and demo generation) ------------------
def dof_to_obs(dof_pos: jax.Array) -> jax.Array:
    """``[..., 28]`` DOF angles (rad) -> ``[..., 52]``: tan-norm (6) of each 3-DOF joint's exp
    map, the raw angle of each 1-DOF joint (Isaac's ``dof_to_obs``)."""
    parts = []
    for lo, hi in zip(ml.DOF_OFFSETS[:-1], ml.DOF_OFFSETS[1:]):
        if hi - lo == 3:
            parts.append(ml.quat_to_tan_norm(ml.exp_map_to_quat(dof_pos[..., lo:hi])))
        else:
            parts.append(dof_pos[..., lo:hi])
    return jnp.concatenate(parts, axis=-1)


def build_observation(
    root_pos: jax.Array,
    root_rot: jax.Array,
    root_vel: jax.Array,
    root_ang_vel: jax.Array,
    dof_pos: jax.Array,
    dof_vel: jax.Array,
    key_pos: jax.Array,
    local_root_obs: bool = False,
) -> jax.Array:
    """The 105-dim AMP humanoid observation (Isaac's ``build_amp_observations``).

    Args:
        root_pos: ``[3]`` pelvis position, m.
        root_rot: ``[4]`` xyzw pelvis rotation (world).
        root_vel: ``[3]`` world-frame pelvis velocity, m/s.
        root_ang_vel: ``[3]`` world-frame angular velocity, rad/s.
        dof_pos: ``[28]`` rad. dof_vel: ``[28]`` rad/s.
        key_pos: ``[4, 3]`` right hand, left hand, right foot, left foot positions, m.
        local_root_obs: tan-norm of the heading-free root rotation (Isaac's
            ``localRootObs``; False in HumanoidAMP's configs).

    Returns:
        ``[105]``: height (1), root tan-norm (6), heading-frame root velocity (3) and angular
        velocity (3), ``dof_to_obs`` (52), DOF velocity (28), heading-frame key-body
        positions relative to the root (12).
    """
    heading_inv = ml.heading_quat_inv(root_rot)
    rot_obs = ml.quat_mul(heading_inv, root_rot) if local_root_obs else root_rot
    local_key = ml.quat_rotate(heading_inv[None], key_pos - root_pos[None])
    return jnp.concatenate(
        [
            root_pos[2:3],
            ml.quat_to_tan_norm(rot_obs),
            ml.quat_rotate(heading_inv, root_vel),
            ml.quat_rotate(heading_inv, root_ang_vel),
            dof_to_obs(dof_pos),
            dof_vel,
            local_key.reshape(-1),
        ]
    )


def motion_observation(state: ml.MotionState, local_root_obs: bool = False) -> jax.Array:
    """``build_observation`` of a reference state (the demo side of the AMP pair)."""
    return build_observation(
        state.root_pos,
        state.root_rot,
        state.root_vel,
        state.root_ang_vel,
        state.dof_pos,
        state.dof_vel,
        state.body_pos[..., list(ml.KEY_BODY_IDS), :],
        local_root_obs,
    )


def demo_amp_obs(
    lib: ml.MotionLib,
    motion_id: jax.Array,
    time: jax.Array,
    dt: float,
    local_root_obs: bool = False,
) -> jax.Array:
    """A demo pair ``[210]``: observations of the clip at ``t`` and ``t - dt`` (s).

    Jittable/vmappable over ``motion_id`` (int) and ``time`` (float32). The AMP
    discriminator's positives (Isaac's ``fetch_amp_obs_demo``).
    """
    now = motion_observation(ml.motion_state(lib, motion_id, time), local_root_obs)
    before = motion_observation(ml.motion_state(lib, motion_id, time - dt), local_root_obs)
    return jnp.concatenate([now, before])


def _wxyz_to_xyzw(q: jax.Array) -> jax.Array:
    return jnp.concatenate([q[..., 1:], q[..., :1]], axis=-1)


def _xyzw_to_wxyz(q: jax.Array) -> jax.Array:
    return jnp.concatenate([q[..., 3:], q[..., :3]], axis=-1)


class AMPHumanoid(MjxEnv):
    """IsaacGymEnvs' AMP humanoid on MJX (see the module docstring for the definition).

    Args:
        motion_files: clip ``.npy`` path(s) or a motion-set ``.yaml`` for reference resets
            (default: the walk clip shipped in ``assets/motions``); every clip must have
            this model's skeleton (``motion_lib.load_motion_lib(offsets=...)``).
        motion_weights: sampling weights for a list of clips.
        reset_mode: one of ``RESET_MODES`` (default "random", Isaac's configured stateInit).
        hybrid_init_prob: reference-reset probability in "hybrid" mode, in [0, 1].
        termination_height: m, > 0 (0.5 IsaacGymEnvs; NEAR uses 0.3).
        early_termination: whether falls terminate the episode (Isaac's enableEarlyTermination).
        local_root_obs: observe the heading-free root rotation (False in the AMP configs).
        episode_length: control steps before truncation (300 = 10 s).

    Raises:
        ValueError: for an unknown reset mode, out-of-range numbers, missing or malformed
            clip files (the message names the file and the field), clips of another
            skeleton, or a model whose joints/actuators are not the AMP humanoid's.

    Deviations from Isaac, on purpose: the default pose puts the shoulders at the mocap
    T-pose signs (right x = -pi/2, left x = +pi/2) because Isaac's signs lie outside the
    joint ranges (spec defect 4); reference times below 0 hold frame 0 instead of
    extrapolating (see ``motion_lib.frame_blend``).
    """

    def __init__(
        self,
        motion_files: str | os.PathLike | Sequence[str | os.PathLike] = DEFAULT_MOTION,
        motion_weights: Sequence[float] | None = None,
        reset_mode: str = "random",
        hybrid_init_prob: float = 0.5,
        termination_height: float = 0.5,
        early_termination: bool = True,
        local_root_obs: bool = False,
        episode_length: int = EPISODE_LENGTH,
    ):
        if reset_mode not in RESET_MODES:
            raise ValueError(
                f"AMPHumanoid: reset_mode must be one of {RESET_MODES}, got {reset_mode!r}"
            )
        if not 0.0 <= float(hybrid_init_prob) <= 1.0:
            raise ValueError(
                f"AMPHumanoid: hybrid_init_prob must be in [0, 1], got {hybrid_init_prob!r}"
            )
        if not float(termination_height) > 0.0:
            raise ValueError(
                f"AMPHumanoid: termination_height must be > 0 (m), got {termination_height!r}"
            )
        super().__init__(
            load_mjcf(MODEL_PATH),
            n_substeps=N_SUBSTEPS,
            episode_length=episode_length,
            source=MODEL_PATH,
        )
        self.early_termination = bool(early_termination)
        self.local_root_obs = bool(local_root_obs)
        self._defaults = (reset_mode, float(hybrid_init_prob), float(termination_height))
        # Clips must fit this model's skeleton (names, parents and body offsets).
        self._motion = ml.load_motion_lib(motion_files, motion_weights,
                                          offsets=np.asarray(self.mj_model.body_pos[1:]))
        self._build_tables(self.mj_model)

    # ----- static tables from the model (numpy, built once) ----------------------------------
    def _build_tables(self, m: mujoco.MjModel) -> None:
        name = lambda obj, i: mujoco.mj_id2name(m, obj, i)
        joints = [name(mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(1, m.njnt)]
        if m.njnt != 29 or m.nu != ml.NUM_DOF or m.jnt_type[0] != mujoco.mjtJoint.mjJNT_FREE:
            raise ValueError(
                f"AMPHumanoid: expected a free root + 28 hinges and 28 motors in {MODEL_PATH!r}, got njnt={m.njnt}, nu={m.nu}"
            )
        bodies = tuple(name(mujoco.mjtObj.mjOBJ_BODY, b) for b in range(1, m.nbody))
        if bodies != ml.BODY_NAMES:
            raise ValueError(f"AMPHumanoid: expected bodies {ml.BODY_NAMES}, got {bodies}")
        # Actuator k drives DOF dof_of_act[k] (hinge j has qvel address 6 + DOF index).
        dof_of_act = np.array([m.jnt_dofadr[m.actuator_trnid[k, 0]] - 6 for k in range(m.nu)])
        if sorted(dof_of_act) != list(range(ml.NUM_DOF)):
            raise ValueError(
                f"AMPHumanoid: expected one motor per hinge in {MODEL_PATH!r}, got DOFs {dof_of_act}"
            )
        gear = np.zeros(ml.NUM_DOF)
        gear[dof_of_act] = m.actuator_gear[:, 0]
        kp = np.array([PD_GAINS[_group(j)][0] for j in joints])
        kd = np.array([PD_GAINS[_group(j)][1] for j in joints])
        if not np.allclose(m.dof_damping[6:], kd):
            raise ValueError(
                f"AMPHumanoid: expected joint damping = kd {kd} in {MODEL_PATH!r}, got {m.dof_damping[6:]}"
            )
        lo, hi = m.jnt_range[1:, 0], m.jnt_range[1:, 1]
        # Isaac's _build_pd_action_offset_scale: 3-DOF joints symmetric, scale
        # min(1.2 * max |limit| of the joint, pi); 1-DOF joints mid-range +/- 0.7 (hi - lo).
        offset, scale = np.zeros(ml.NUM_DOF), np.zeros(ml.NUM_DOF)
        for a, b in zip(ml.DOF_OFFSETS[:-1], ml.DOF_OFFSETS[1:]):
            if b - a == 3:
                scale[a:b] = min(1.2 * np.max(np.abs(np.concatenate([lo[a:b], hi[a:b]]))), np.pi)
            else:
                offset[a] = 0.5 * (lo[a] + hi[a])
                scale[a] = 0.7 * (hi[a] - lo[a])
        default_dof = np.zeros(ml.NUM_DOF)
        default_dof[joints.index("right_shoulder_x")] = -0.5 * np.pi
        default_dof[joints.index("left_shoulder_x")] = 0.5 * np.pi
        geom_body = np.asarray(m.geom_bodyid)  # MuJoCo body id = poselib index + 1
        not_foot = np.ones(m.nbody, bool)
        not_foot[0] = False  # the world (floor)
        not_foot[[ml.BODY_NAMES.index(n) + 1 for n in FOOT_BODY_NAMES]] = False
        if np.any(m.jnt_pos[1:] != 0) or not np.allclose(m.body_quat, [1, 0, 0, 0]):
            raise ValueError(
                f"AMPHumanoid: expected hinges at body origins and unrotated bodies in {MODEL_PATH!r} (body_positions assumes both)"
            )
        # For body_positions: each body's hinges as (qpos address, axis), in MuJoCo's order.
        self._body_hinges = [
            [
                (int(m.jnt_qposadr[j]), np.asarray(m.jnt_axis[j], np.float32))
                for j in range(1, m.njnt)
                if m.jnt_bodyid[j] == b
            ]
            for b in range(m.nbody)
        ]
        self._body_parent = np.asarray(m.body_parentid)
        self._body_offset = np.asarray(m.body_pos, np.float32)
        f32 = lambda x: np.asarray(x, np.float32)
        self.joint_names = tuple(joints)
        self.actuator_names = tuple(name(mujoco.mjtObj.mjOBJ_ACTUATOR, k) for k in range(m.nu))
        self.dof_of_act, self.gear, self.kp, self.kd = dof_of_act, f32(gear), f32(kp), f32(kd)
        self.pd_offset, self.pd_scale, self.default_dof = f32(offset), f32(scale), f32(default_dof)
        self.geom_body, self.not_foot = geom_body, not_foot
        self.key_body_ids = np.array(ml.KEY_BODY_IDS) + 1

    # ----- params / spaces --------------------------------------------------------------------
    def default_params(self) -> AMPHumanoidParams:
        mode, prob, height = self._defaults
        return AMPHumanoidParams(
            model_fields={},
            motion=self._motion,
            reset_mode=jnp.int32(RESET_MODES.index(mode)),
            hybrid_init_prob=jnp.float32(prob),
            termination_height=jnp.float32(height),
        )

    def observation_space(self, params) -> spaces.Space:
        return spaces.Box(-np.inf, np.inf, (OBS_SIZE,), jnp.float32)

    def action_space(self, params) -> spaces.Space:
        """``[-1, 1]^28`` in DOF order (Isaac clips actions to [-1, 1])."""
        return spaces.Box(-1.0, 1.0, (ml.NUM_DOF,), jnp.float32)

    # ----- control -----------------------------------------------------------------------------
    def pd_target(self, action: jax.Array) -> jax.Array:
        """``[28]`` joint targets (rad) of an action ``[28]`` in DOF order."""
        return self.pd_offset + self.pd_scale * jnp.clip(action, -1.0, 1.0)

    def control(self, model: mjx.Model, data: mjx.Data, action: jax.Array, params) -> jax.Array:
        """Motor controls ``[nu]`` of one substep: the clipped PD torque over the gear.

        ``tau = clip(kp (q* - q) - kd qdot, +/-gear)``. MuJoCo's Euler step applies the joint
        damping ``kd`` implicitly (``-kd qdot_next``), so ``kd qdot`` is added back here: the
        net torque is ``tau`` with its damping part made implicit, which keeps the light
        hands and feet (kd dt / I up to ~10) stable at 1/180 s where an explicit damper
        would diverge. Unsaturated, that is exactly ``kp (q* - q) - kd qdot_next``.
        """
        del model, params
        q, qd = data.qpos[7:], data.qvel[6:]
        tau = jnp.clip(self.kp * (self.pd_target(action) - q) - self.kd * qd, -self.gear, self.gear)
        tau = tau + self.kd * qd
        return tau[self.dof_of_act] / self.gear[self.dof_of_act]

    def body_positions(self, qpos: jax.Array) -> jax.Array:
        """``[nbody, 3]`` world positions of the body origins (m) at ``qpos [35]``.

        Forward kinematics of this model's tree (free root, hinges at body origins), the
        same numbers as MuJoCo's ``xpos`` after ``mj_kinematics``. Used instead of
        ``data.xpos``, which after ``mjx.step`` lags one substep behind ``qpos``, and
        instead of ``mjx.kinematics``, whose generic tree code costs ~16 s of compile per
        use on this CPU.
        """
        pos = [jnp.zeros(3, qpos.dtype), qpos[:3]]
        rot = [jnp.array([0.0, 0.0, 0.0, 1.0], qpos.dtype), _wxyz_to_xyzw(qpos[3:7])]
        for b in range(2, len(self._body_parent)):
            p = self._body_parent[b]
            pos.append(pos[p] + ml.quat_rotate(rot[p], jnp.asarray(self._body_offset[b])))
            r = rot[p]
            for adr, axis in self._body_hinges[b]:
                r = ml.quat_mul(r, ml.quat_from_angle_axis(qpos[adr], jnp.asarray(axis)))
            rot.append(r)
        return jnp.stack(pos)

    # ----- observation -------------------------------------------------------------------------
    def observation(self, data: mjx.Data, extras: dict, params) -> jax.Array:
        """``[105]`` float32, see ``build_observation`` (velocities from ``qvel``)."""
        root_rot = _wxyz_to_xyzw(data.qpos[3:7])
        # MuJoCo's free-joint angular velocity is in the body frame; Isaac's is in the world.
        root_ang_vel = ml.quat_rotate(root_rot, data.qvel[3:6])
        return build_observation(
            data.qpos[:3],
            root_rot,
            data.qvel[:3],
            root_ang_vel,
            data.qpos[7:],
            data.qvel[6:],
            self.body_positions(data.qpos)[self.key_body_ids],
            self.local_root_obs,
        ).astype(jnp.float32)

    # ----- resets ------------------------------------------------------------------------------
    def reference_qpos_qvel(self, state: ml.MotionState) -> tuple[jax.Array, jax.Array]:
        """MuJoCo ``(qpos [35], qvel [34])`` of a reference state (Isaac's ``_set_env_state``)."""
        qpos = jnp.concatenate([state.root_pos, _xyzw_to_wxyz(state.root_rot), state.dof_pos])
        local_ang_vel = ml.quat_rotate(ml.quat_conj(state.root_rot), state.root_ang_vel)
        qvel = jnp.concatenate([state.root_vel, local_ang_vel, state.dof_vel])
        return qpos, qvel

    def reset_data(
        self, key: jax.Array, params: AMPHumanoidParams, model: mjx.Model
    ) -> tuple[mjx.Data, dict]:
        key_id, key_time, key_hybrid = jax.random.split(key, 3)
        lib = params.motion
        motion_id = ml.sample_motion_ids(lib, key_id)
        mode = params.reset_mode
        use_ref = (
            (mode == 1)
            | (mode == 2)
            | ((mode == 3) & (jax.random.uniform(key_hybrid) < params.hybrid_init_prob))
        )
        time = jnp.where(mode == 1, 0.0, ml.sample_times(lib, key_time, motion_id))
        ref_qpos, ref_qvel = self.reference_qpos_qvel(ml.motion_state(lib, motion_id, time))
        default_qpos = jnp.concatenate(
            [jnp.array([0.0, 0.0, DEFAULT_ROOT_HEIGHT, 1.0, 0.0, 0.0, 0.0]), self.default_dof]
        )
        qpos = jnp.where(use_ref, ref_qpos, default_qpos)
        qvel = jnp.where(use_ref, ref_qvel, jnp.zeros_like(ref_qvel))
        # No mjx.forward: the observation needs only qpos/qvel (body_positions), and the
        # first mjx.step recomputes every derived field; a forward here would compile the
        # collision + solver pipeline a second time (~1 min on a 2-core CPU).
        data = mjx.make_data(model)
        data = data.replace(qpos=qpos.astype(data.qpos.dtype), qvel=qvel.astype(data.qvel.dtype))
        now = self.observation(data, {}, params)
        # The pair's previous half: the motion at t - dt (reference) or a copy (default).
        before = motion_observation(
            ml.motion_state(lib, motion_id, time - self.dt), self.local_root_obs
        )
        before = jnp.where(use_ref, before, now)
        extras = {
            "amp_obs": jnp.concatenate([now, before]).astype(jnp.float32),
            "progress": jnp.zeros((), jnp.int32),
        }
        return data, extras

    # ----- reward / termination ----------------------------------------------------------------
    def body_contact_force(self, data: mjx.Data) -> jax.Array:
        """``[nbody]`` total normal contact force (N) on each body (floor contacts only).

        With the pyramidal cone a contact's normal force is the sum of its ``2 (condim - 1)``
        pyramid rows; inactive contact slots carry zero force.
        """
        contact = data._impl.contact  # MJX keeps contacts in the JAX implementation's data
        dim = np.asarray(contact.dim)
        rows = np.where(dim == 1, 1, 2 * (dim - 1))
        idx = np.concatenate(
            [a + np.arange(r) for a, r in zip(np.asarray(contact.efc_address), rows)]
        )
        owner = np.repeat(np.arange(len(rows)), rows)
        normal = jax.ops.segment_sum(data._impl.efc_force[idx], owner, num_segments=len(rows))
        body = jnp.asarray(self.geom_body)[contact.geom]  # [ncon, 2]
        nbody = self.mj_model.nbody
        return jax.ops.segment_sum(normal, body[:, 0], nbody) + jax.ops.segment_sum(
            normal, body[:, 1], nbody
        )

    def has_fallen(self, data: mjx.Data, params: AMPHumanoidParams) -> jax.Array:
        """``[]`` bool: a non-foot body touches the floor (> 0.1 N) and a non-foot body origin is
        below ``termination_height`` (Isaac's ``compute_humanoid_reset``)."""
        not_foot = jnp.asarray(self.not_foot)
        contact = jnp.any((self.body_contact_force(data) > 0.1) & not_foot)
        low = jnp.any((self.body_positions(data.qpos)[:, 2] < params.termination_height) & not_foot)
        return contact & low

    def task_step(self, data_before, data, action, extras, params) -> TaskStep:
        del data_before, action
        now = self.observation(data, extras, params)
        amp_obs = jnp.concatenate([now, extras["amp_obs"][:OBS_SIZE]])
        # Isaac checks falls only once progress > 1: the first step after a reset can still
        # carry the reset's contact impulses.
        progress = extras["progress"] + 1
        fallen = self.has_fallen(data, params) & (progress > 1)
        terminated = fallen if self.early_termination else jnp.zeros((), jnp.bool_)
        return TaskStep(
            reward=jnp.ones((), jnp.float32),
            terminated=terminated,
            extras={"amp_obs": amp_obs.astype(jnp.float32), "progress": progress},
            info={"amp_obs": amp_obs.astype(jnp.float32)},
        )
