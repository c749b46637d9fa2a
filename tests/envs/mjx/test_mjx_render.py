"""The pure-JAX MJX camera (envs_jax.mjx.render) and cheetah-run's pixel observations.

The renderer is compiled once (vmapped over a batch of cheetah poses) and checked against
hand-computed pixels (a ray through the torso capsule, the floor texture, the sky), C
MuJoCo's camera pose, and, where an EGL context exists, MuJoCo's own OpenGL silhouette.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import envs_jax
from envs_jax.mjx.cheetah_run import CHEETAH_XML, _refresh_positions
from envs_jax.mjx.render import DMC_SKYBOX, Camera
from envs_jax.wrappers import AutoReset

SIZE = 84
TAN_HALF_FOVY = np.tan(np.deg2rad(45.0) / 2)  # cheetah.xml cameras: MuJoCo's default fovy 45


def _poses(m: mujoco.MjModel) -> np.ndarray:
    """[4, nq]: default pose; root moved 0.25 m forward; back thigh bent; default again."""
    base = m.qpos0.copy()
    shifted = base.copy()
    shifted[0] += 0.25
    bent = base.copy()
    bent[3] = 0.8  # bthigh, rad (range -30..60 deg)
    return np.stack([base, shifted, bent, base]).astype(np.float32)


@pytest.fixture(scope="module")
def scene():
    env, _ = envs_jax.make("cheetah-run")
    m, mx = env.mj_model, env.mjx_model
    cam = Camera(m, "side")
    qpos = _poses(m)

    @jax.jit
    def render_poses(qpos):
        def one(q):
            data = _refresh_positions(mx, mujoco.mjx.make_data(mx).replace(qpos=q))
            return cam.render(mx, data), data.cam_xpos[cam.cam_id], data.cam_xmat[cam.cam_id]

        return jax.vmap(one)(qpos)

    images, cam_pos, cam_mat = render_poses(jnp.asarray(qpos))
    return {"m": m, "qpos": qpos, "fn": render_poses, "images": np.asarray(images),
            "cam_pos": np.asarray(cam_pos), "cam_mat": np.asarray(cam_mat).reshape(-1, 3, 3)}


def _ray(scene, row, col):
    """World direction of pixel (row, col) of pose 0, by hand (MuJoCo camera: -z forward)."""
    x = ((col + 0.5) / SIZE * 2 - 1) * TAN_HALF_FOVY
    y = (1 - (row + 0.5) / SIZE * 2) * TAN_HALF_FOVY
    d = scene["cam_mat"][0] @ np.array([x, y, -1.0])
    return d / np.linalg.norm(d)


def _shade(rgb, normal, ray):
    """Headlight ambient .4 + diffuse .8 |n.d|, top light diffuse .7 max(0, n_z)."""
    light = 0.4 + 0.8 * abs(normal @ ray) + 0.7 * max(0.0, normal[2])
    return np.round(np.clip(np.asarray(rgb) * light, 0, 1) * 255)


def test_shape_dtype_determinism_and_vmap(scene):
    images = scene["images"]
    assert images.shape == (4, SIZE, SIZE, 3) and images.dtype == np.uint8
    again = np.asarray(scene["fn"](jnp.asarray(scene["qpos"]))[0])
    np.testing.assert_array_equal(images, again)  # deterministic
    np.testing.assert_array_equal(images[0], images[3])  # same pose, same image within a batch


def test_image_changes_when_the_body_moves(scene):
    images = scene["images"].astype(int)
    moved = np.any(images[1] != images[0], axis=-1).sum()  # tracking camera: the floor slides
    bent = np.any(images[2] != images[0], axis=-1).sum()  # a leg swings
    assert moved > 100, moved
    assert bent > 50, bent


def test_camera_pose_matches_c_mujoco(scene):
    m = scene["m"]
    d = mujoco.MjData(m)
    for i, q in enumerate(scene["qpos"][:3]):
        d.qpos[:] = q
        mujoco.mj_forward(m, d)
        np.testing.assert_allclose(scene["cam_pos"][i], d.cam_xpos[0], atol=1e-5)
        np.testing.assert_allclose(scene["cam_mat"][i].ravel(), d.cam_xmat[0], atol=1e-5)


def test_torso_pixel_by_hand(scene):
    """A pixel whose ray crosses the torso capsule (axis x, at y=0, z=0.7, radius 0.046)."""
    pos = scene["cam_pos"][0]
    # the row whose ray reaches z=0.7 at y=0 (the camera looks along +y from y=-3)
    ndc_y = (0.7 - pos[2]) / (0.0 - pos[1]) / TAN_HALF_FOVY
    row, col = int(np.floor((1 - ndc_y) * SIZE / 2)), SIZE // 2
    ray = _ray(scene, row, col)
    # ray vs infinite cylinder y^2 + (z-0.7)^2 = r^2 (the hit is mid-torso, not on a cap)
    oy, oz, dy, dz, r = pos[1], pos[2] - 0.7, ray[1], ray[2], 0.046
    a, b, c = dy * dy + dz * dz, 2 * (oy * dy + oz * dz), oy * oy + oz * oz - r * r
    t = (-b - np.sqrt(b * b - 4 * a * c)) / (2 * a)
    hit = pos + t * ray
    normal = np.array([0.0, hit[1], hit[2] - 0.7]) / r
    expected = _shade([0.7, 0.5, 0.3], normal, ray)  # material "self"
    np.testing.assert_allclose(scene["images"][0, row, col], expected, atol=1)


def test_floor_and_sky_pixels_by_hand(scene):
    m, pos, image = scene["m"], scene["cam_pos"][0], scene["images"][0]
    # sky: top-left ray goes up and misses everything -> DMC skybox gradient by elevation
    ray = _ray(scene, 0, 0)
    top, bottom = np.array(DMC_SKYBOX[0]), np.array(DMC_SKYBOX[1])
    sky = np.round((bottom + (0.5 + 0.5 * ray[2]) * (top - bottom)) * 255)
    np.testing.assert_allclose(image[0, 0], sky, atol=1)
    # floor: a ray that meets z=0 inside the plane's |y| <= 0.8 strip
    row = next(r for r in range(SIZE - 1, 0, -1) if abs(pos[1] - pos[2] / _ray(scene, r, 0)[2] * _ray(scene, r, 0)[1]) < 0.5)
    ray = _ray(scene, row, 5)
    hit = pos - pos[2] / ray[2] * ray
    # "grid" texture: texuniform, texrepeat 1 -> one texture tile per metre; local coordinates
    # are relative to the plane's centre (98, 0, 0)
    u, v = (hit[0] - 98.0) % 1.0, hit[1] % 1.0
    w, h = int(m.tex_width[0]), int(m.tex_height[0])
    texel = m.tex_data[: w * h * 3].reshape(h, w, 3)[int(v * h), int(u * w)] / 255.0
    expected = _shade(texel, np.array([0.0, 0.0, 1.0]), ray)
    np.testing.assert_allclose(image[row, 5], expected, atol=1)


def test_bad_camera_arguments_raise():
    m = mujoco.MjModel.from_xml_path(CHEETAH_XML)
    with pytest.raises(ValueError, match="expected one of"):
        Camera(m, "front")
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        Camera(m, 2)
    with pytest.raises(ValueError, match="height"):
        Camera(m, 0, height=-1)


_GL_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, mujoco
    m = mujoco.MjModel.from_xml_path(sys.argv[1])
    q = np.load(sys.argv[2])
    d = mujoco.MjData(m)
    r = mujoco.Renderer(m, 84, 84)
    out = []
    for qpos in q:
        d.qpos[:] = qpos
        mujoco.mj_forward(m, d)
        r.update_scene(d, camera="side")
        out.append(r.render())
    np.save(sys.argv[3], np.stack(out))
    """
)


def test_silhouette_matches_mujoco_opengl(scene, tmp_path):
    """Body pixels (orange: red well above blue) of our render vs MuJoCo's EGL render."""
    np.save(tmp_path / "q.npy", scene["qpos"][:3])
    result = subprocess.run(
        [sys.executable, "-c", _GL_SCRIPT, CHEETAH_XML, str(tmp_path / "q.npy"), str(tmp_path / "gl.npy")],
        env={**os.environ, "MUJOCO_GL": "egl"},
        capture_output=True,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.skip("no EGL OpenGL context for MuJoCo's renderer: " + result.stderr.decode()[-200:])
    reference = np.load(tmp_path / "gl.npy").astype(int)
    ours = scene["images"][:3].astype(int)
    for i in range(3):
        body_ref = reference[i, ..., 0] > reference[i, ..., 2] + 60
        body = ours[i, ..., 0] > ours[i, ..., 2] + 60
        iou = (body & body_ref).sum() / (body | body_ref).sum()
        assert iou > 0.7, (i, iou)


@pytest.fixture(scope="module")
def pixel_env():
    # AutoReset so that the reset and step paths of the pixel env are both compiled and
    # checked; this is the second MJX step compile of the file, hence slow.
    env, params = envs_jax.make("cheetah-run", obs_mode="pixels", settle_steps=0)
    auto = AutoReset(env)
    keys = jax.random.split(jax.random.key(0), 2)

    @jax.jit
    def reset_then_step(keys, action):
        obs, state = jax.vmap(lambda k: env.reset(k, params))(keys)
        ts = jax.vmap(lambda k, s, a: auto.step(k, s, a, params))(keys, state, action)
        return obs, state, ts

    obs, state, ts = reset_then_step(keys, jnp.full((2, 6), 0.3))
    return {"env": env, "params": params, "obs": obs, "state": state, "ts": ts}


@pytest.mark.slow
def test_pixel_observation_contract(pixel_env):
    env, params, obs, ts = pixel_env["env"], pixel_env["params"], pixel_env["obs"], pixel_env["ts"]
    space = env.observation_space(params)
    assert space.shape == (SIZE, SIZE, 3) and space.dtype == np.uint8
    assert env.obs_dtype == jnp.uint8
    assert obs.shape == (2, SIZE, SIZE, 3) and obs.dtype == jnp.uint8
    assert ts.obs.shape == obs.shape and ts.obs.dtype == jnp.uint8
    assert ts.info["final_obs"].dtype == jnp.uint8
    np.testing.assert_array_equal(ts.info["final_obs"], ts.obs)  # not done after one step
    assert bool(jnp.all(jax.vmap(space.contains)(ts.obs)))
    np.testing.assert_array_equal(pixel_env["state"].obs, obs)
    assert not np.array_equal(obs[0], obs[1])  # different reset poses
    assert not np.array_equal(obs[0], ts.obs[0])  # one step later the cheetah has moved
    assert ts.reward.dtype == jnp.float32 and not ts.truncated.any()
