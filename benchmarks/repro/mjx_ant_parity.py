"""Reproduction for an upstream MJX report: plane-capsule contact frames differ from C MuJoCo.

MJX's ``plane_capsule`` collider (``mujoco/mjx/_src/collision_primitive.py``, mujoco-mjx
3.17.0) takes the first contact tangent from the capsule axis projected on the plane, but
when that projection is shorter than 0.5 (capsule axis within 30 degrees of the plane
normal) it falls back to a fixed world axis (y, or z). C MuJoCo (``mjc_PlaneCapsule`` puts
the raw capsule axis in ``frame[3:6]``; ``mju_makeFrame`` only falls back when that hint is
shorter than 0.5, which a unit axis never is) keeps the normalised projection at every
tilt. The contact set, distances, positions, normals and impedances agree; only the
tangent directions differ. With a pyramidal friction cone (MuJoCo's default, and gym's
ant.xml) the tangents orient the pyramid's edges, so the constraint forces, ``qacc`` and
the trajectory differ. With an elliptic cone, or a capsule closer to horizontal, the
two agree.

This script runs C MuJoCo and MJX on the same model from the same state with the same
controls and prints (1) the contact frames, (2) ``qacc``/``qfrc_constraint`` of one
forward pass, (3) the largest qpos/qvel difference along the rollout. ``--c-frame``
swaps MJX's plane-capsule collider for one that uses C's tangent rule (the only change),
after which MJX follows C. MJX runs in float64 (``jax_enable_x64``) and the solver at
MuJoCo's defaults on both sides, so float32 and iteration caps play no part.

Models:
  * default: one free capsule (radius 0.05, half-length 0.2) tilted 20 degrees from
    vertical, sliding on a plane (inline MJCF, pyramidal cone);
  * ``--xml PATH``: any model, e.g. gymnasium 1.x's ``mujoco/assets/ant.xml``: settled
    from its reference pose with zero controls until it touches the floor (plus 2 control
    steps), then 20 control steps of 5 substeps with controls ``0.1 * U(-1, 1)`` (seed 7).
    This is purerl's ant parity test (``tests/envs/mjx/test_mjx_locomotion.py``).

Measured (mujoco 4.0.0 C, mujoco-mjx 3.17.0, jax 0.10.2, CPU, MJX float64):

  ==========  ============  =====================  ==========================  ==============
  model       MJX collider  tangent C / MJX        first forward |dqacc|       rollout max
                                                   (|dqfrc_constraint|)        |dqpos| / |dqvel|
  ==========  ============  =====================  ==========================  ==============
  capsule     as shipped    (.707,-.707,0) / y     4.4e+1 (1.2e+1)             6.8e-3 / 3.3e-1
  capsule     --c-frame     (.707,-.707,0) / same  1.4e-12 (6.3e-13)           5.6e-16 / 7.1e-15
  capsule     --elliptic    (.707,-.707,0) / y     7.9e-9 (7.8e-8)             2.4e-11 / 1.7e-9
  ant.xml     as shipped    diagonals / y (x4)     7.5e+0 (7.6e+0)             8.1e-2 / 1.5e+0
  ant.xml     --c-frame     same                   1.0e-13 (1.1e-13)           3.2e-6 / 8.8e-5
  ==========  ============  =====================  ==========================  ==============

  (capsule: 100 steps of 2 ms; ant: 20 control steps of 5 x 10 ms, RK4. The smooth
  dynamics ``qacc_smooth`` agree to 1e-15 in every case; ``--float32`` gives the same
  shipped-collider divergence.)

    python benchmarks/repro/mjx_ant_parity.py [--xml envs_jax/mjx/assets/gym/ant.xml]
        [--c-frame] [--float32] [--elliptic]

Needs only ``mujoco``, ``mujoco-mjx``, ``jax`` and ``numpy``.
"""

from __future__ import annotations

import argparse

CAPSULE_XML = """
<mujoco model="tilted capsule on a plane">
  <option timestep="0.002" cone="pyramidal"/>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="capsule" pos="0 0 0.2375" axisangle="1 1 0 20">
      <freejoint/>
      <geom type="capsule" size="0.05 0.2" friction="1 0.005 0.0001"/>
    </body>
  </worldbody>
</mujoco>
"""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--xml", default=None, help="model file (default: the inline capsule)")
    p.add_argument("--c-frame", action="store_true",
                   help="use C MuJoCo's tangent rule in MJX's plane-capsule collider")
    p.add_argument("--float32", action="store_true", help="run MJX in float32")
    p.add_argument("--elliptic", action="store_true",
                   help="switch the model to the elliptic friction cone (both sides)")
    return p.parse_args()


def c_frame_plane_capsule():
    """MJX's plane-capsule collider with C MuJoCo's tangent: the normalised projection of the
    capsule axis on the plane at every tilt (no fallback to a world axis)."""
    import jax
    import jax.numpy as jnp
    from mujoco.mjx._src import collision_primitive as cp

    @cp.collider(ncon=2)
    def plane_capsule(plane, cap):
        normal, axis = plane.mat[:, 2], cap.mat[:, 2]
        tangent = axis - normal * jnp.dot(normal, axis)
        tangent = tangent / jnp.linalg.norm(tangent)  # a capsule exactly along the normal: nan
        frame = jnp.stack([normal, tangent, jnp.cross(normal, tangent)])[None]
        ends = []
        for sign in (1.0, -1.0):  # the two end spheres, as C and MJX do
            centre = cap.pos + sign * cap.size[1] * axis
            dist, pos = cp._plane_sphere(normal, plane.pos, centre, cap.size[0])
            ends.append((dist[None], pos[None], frame))
        return jax.tree_util.tree_map(lambda *x: jnp.concatenate(x), *ends)

    return plane_capsule


def main() -> None:
    args = parse_args()
    import jax

    jax.config.update("jax_enable_x64", not args.float32)
    import mujoco
    import numpy as np
    from mujoco import mjx

    if args.c_frame:
        from mujoco.mjx._src import collision_driver
        from mujoco.mjx._src.types import GeomType

        key = (GeomType.PLANE, GeomType.CAPSULE)
        collision_driver._COLLISION_FUNC[key] = c_frame_plane_capsule()

    if args.xml:
        m = mujoco.MjModel.from_xml_path(args.xml)
        frame_skip, num_steps = 5, 20
        d = mujoco.MjData(m)
        for i in range(200):  # settle from the reference pose until the first contact
            mujoco.mj_step(m, d, nstep=frame_skip)
            if d.ncon > 0 and i >= 2:
                break
        qpos, qvel = d.qpos.copy(), d.qvel.copy()
        controls = 0.1 * np.random.default_rng(7).uniform(-1, 1, (num_steps, m.nu))
    else:
        m = mujoco.MjModel.from_xml_string(CAPSULE_XML)
        frame_skip, num_steps = 1, 100
        qpos = m.qpos0.copy()
        qvel = np.zeros(m.nv)
        qvel[:2] = (0.8, 0.3)  # sliding along a direction that is neither x nor y
        controls = np.zeros((num_steps, m.nu))
    if args.elliptic:  # isotropic friction is invariant to the tangents' orientation
        m.opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    print(f"model: {args.xml or 'inline tilted capsule'}; cone "
          f"{'pyramidal' if m.opt.cone == 0 else 'elliptic'}; integrator {m.opt.integrator}; "
          f"MJX {'float32' if args.float32 else 'float64'}; "
          f"plane-capsule frame: {'C rule (patched)' if args.c_frame else 'MJX as shipped'}")

    mx = mjx.put_model(m, impl="jax")
    forward = jax.jit(lambda data: mjx.forward(mx, data))
    substep = jax.jit(lambda data: mjx.step(mx, data))

    # (1) + (2): one forward pass on the start state
    d = mujoco.MjData(m)
    d.qpos[:], d.qvel[:] = qpos, qvel
    mujoco.mj_forward(m, d)
    dx = forward(mjx.put_data(m, d))
    con = dx._impl.contact
    active = np.nonzero(np.asarray(con.dist) < np.asarray(con.includemargin))[0]
    print(f"\ncontacts at the start: C {d.ncon}, MJX {len(active)}")
    for i, j in zip(range(d.ncon), active):
        c_frame = d.contact[i].frame.reshape(3, 3)
        x_frame = np.asarray(con.frame[j])
        print(f"  geoms C {tuple(d.contact[i].geom)} MJX {tuple(np.asarray(con.geom[j]))}: "
              f"|ddist| {abs(d.contact[i].dist - float(con.dist[j])):.1e}, "
              f"normal C {np.round(c_frame[0], 3)} MJX {np.round(x_frame[0], 3)}, "
              f"tangent C {np.round(c_frame[1], 3)} MJX {np.round(x_frame[1], 3)}")
    print(f"forward: max |dqacc_smooth| {np.abs(np.asarray(dx.qacc_smooth) - d.qacc_smooth).max():.1e}"
          f", max |dqfrc_constraint| "
          f"{np.abs(np.asarray(dx.qfrc_constraint) - d.qfrc_constraint).max():.1e}"
          f", max |dqacc| {np.abs(np.asarray(dx.qacc) - d.qacc).max():.1e}")

    # (3): the rollout from the same state with the same controls
    d = mujoco.MjData(m)
    d.qpos[:], d.qvel[:] = qpos, qvel
    mujoco.mj_forward(m, d)
    dx = forward(mjx.put_data(m, d))  # (also gives the contact fields the dtypes of mjx.step)
    err_q, err_v = [], []
    for ctrl in controls:
        d.ctrl[:] = ctrl
        mujoco.mj_step(m, d, nstep=frame_skip)
        dx = dx.replace(ctrl=np.asarray(ctrl, dx.ctrl.dtype))
        for _ in range(frame_skip):
            dx = substep(dx)
        err_q.append(np.abs(np.asarray(dx.qpos) - d.qpos).max())
        err_v.append(np.abs(np.asarray(dx.qvel) - d.qvel).max())
    first = next((i for i, e in enumerate(err_q) if e > 1e-3), None)
    print(f"rollout of {num_steps} steps x {frame_skip} substeps: max |dqpos| {max(err_q):.2e}, "
          f"max |dqvel| {max(err_v):.2e}; |dqpos| > 1e-3 first at step "
          f"{first if first is not None else 'never'}")


if __name__ == "__main__":
    main()
