"""A pure-JAX camera for MJX: one ray per pixel, usable inside ``jax.jit`` and ``jax.vmap``.

MJX ships ``mjx.render`` / ``mjx.get_rgb``, but both drive MuJoCo Warp (they raise without
the ``warp`` package and need a render context of fixed world count, so they do not vmap).
This module renders from the ``mjx.Data`` alone with ``mjx.ray`` (MuJoCo's own ray-geom
intersection, in JAX) and shades each hit the way MuJoCo's default OpenGL scene looks, in
a simplified form:

* camera: the model's camera (``cam_xpos``, ``cam_xmat``, ``cam_fovy`` as MJX computes
  them, so ``trackcom``/``track`` cameras follow the body), pinhole, one ray through each
  pixel centre, row 0 at the top (MuJoCo cameras look along their -z axis, +y up);
* visibility: geom groups 0-2 (MuJoCo's default ``vis.geomgroup``), alpha-0 geoms hidden,
  as ``mjx.ray`` decides. Types ``mjx.ray`` cannot hit (cylinders, height fields) are not
  drawn;
* colour: the geom's material rgba (else its own rgba); planes with a 2-D material texture
  are textured (e.g. DMC's checker floor), sampled nearest-texel like MuJoCo's plane
  mapping (``texuniform``: ``texrepeat`` repeats per metre);
* lighting: Lambert diffuse from the headlight (a light at the camera, ``vis.headlight``)
  plus each model light treated as directional along its world direction at ``qpos0``
  (spot cones, attenuation, specular, shadows and reflections are left out);
* background: a vertical gradient (DMC's skybox colours by default) for rays that miss.

Cost: ``W*H`` rays, each tested against every visible geom; see
``benchmarks/results/mjx_envs.md`` for measured ms/frame.
"""

from __future__ import annotations

import mujoco
import numpy as np
from jax import numpy as jnp
from mujoco import mjx

import jax

__all__ = ["DMC_SKYBOX", "Camera"]

# DMC's common/skybox.xml gradient: rgb1 (zenith) and rgb2 (nadir).
DMC_SKYBOX = ((0.4, 0.6, 0.8), (0.0, 0.0, 0.0))

# Geom groups MuJoCo's viewer shows by default (mjvOption.geomgroup = 1,1,1,0,0,0).
_DEFAULT_GEOMGROUP = (1, 1, 1, 0, 0, 0)
_RGB_ROLE = int(mujoco.mjtTextureRole.mjTEXROLE_RGB)


class Camera:
    """Renders ``[H, W, 3]`` uint8 RGB images of an MJX state from one model camera.

    Build it once from the ``mujoco.MjModel`` (colours, textures and lights become numpy
    constants); ``render(mjx_model, data)`` is a pure function of traced arrays, so it
    runs inside ``jax.jit``, under ``jax.vmap`` over ``data`` (and ``mjx_model``), and
    gives bit-identical images for identical inputs.

    Args:
        mj_model: the compiled model (the one the ``mjx.Model`` was put from).
        camera: camera name or id. ``None`` or a model without cameras gives a fixed
            camera at ``fixed_pos`` looking at ``fixed_lookat``.
        width: image width in pixels.
        height: image height in pixels.
        background: ``(zenith_rgb, nadir_rgb)`` in [0, 1] for rays that hit nothing.
        fixed_pos: world position (m) of the fallback camera.
        fixed_lookat: world point (m) the fallback camera looks at.
        fixed_fovy: vertical field of view (degrees) of the fallback camera.

    Raises:
        ValueError: for non-positive ``width``/``height``, an unknown camera name or an
            id outside ``[0, ncam)``.

    Source: camera conventions and lighting defaults follow MuJoCo's ``mjv``/OpenGL
    renderer (``mjr_render``); hit testing is MJX's ``mjx.ray`` (port of ``mj_ray``).
    """

    def __init__(
        self,
        mj_model: mujoco.MjModel,
        camera: str | int | None = 0,
        width: int = 84,
        height: int = 84,
        background: tuple[tuple[float, float, float], tuple[float, float, float]] = DMC_SKYBOX,
        fixed_pos: tuple[float, float, float] = (0.0, -3.0, 1.0),
        fixed_lookat: tuple[float, float, float] = (0.0, 0.0, 0.5),
        fixed_fovy: float = 45.0,
    ):
        for name, value in (("width", width), ("height", height)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Camera.{name}: expected a positive int, got {value!r}")
        self.width, self.height = width, height
        self.cam_id = self._camera_id(mj_model, camera)
        m = mj_model

        # Per-pixel ray directions in the camera frame (-z forward, +y up): [H, W, 3].
        fovy = float(m.cam_fovy[self.cam_id]) if self.cam_id >= 0 else float(fixed_fovy)
        half_h = np.tan(np.deg2rad(fovy) / 2.0)
        half_w = half_h * width / height
        xs = ((np.arange(width) + 0.5) / width * 2.0 - 1.0) * half_w
        ys = (1.0 - (np.arange(height) + 0.5) / height * 2.0) * half_h
        gx, gy = np.meshgrid(xs, ys)
        dirs = np.stack([gx, gy, -np.ones_like(gx)], axis=-1)
        self._cam_dirs = (dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)).astype(np.float32)

        if self.cam_id < 0:  # fixed camera: orthonormal frame with -z towards lookat
            pos, look = np.asarray(fixed_pos, float), np.asarray(fixed_lookat, float)
            fwd = (look - pos) / np.linalg.norm(look - pos)
            right = np.cross(fwd, [0.0, 0.0, 1.0])
            right /= np.linalg.norm(right)
            up = np.cross(right, fwd)
            self._fixed_pos = pos.astype(np.float32)
            self._fixed_mat = np.stack([right, up, -fwd], axis=1).astype(np.float32)

        # Base colour per geom: material rgba if it has a material, else geom rgba.
        matid = m.geom_matid
        rgba = np.where((matid >= 0)[:, None], m.mat_rgba[np.maximum(matid, 0)], m.geom_rgba)
        self._geom_rgb = rgba[:, :3].astype(np.float32)
        self._geom_type = m.geom_type.astype(np.int32)
        self._geom_size = m.geom_size.astype(np.float32)

        # Plane textures: flat texel buffer + per-geom (address, width, height, repeat).
        self._tex_data, self._tex_info, self._tex_repeat = self._plane_textures(m)

        # Lights: headlight from the camera + model lights as fixed world directions.
        self._ambient = np.float32(np.clip(m.vis.headlight.ambient.sum() / 3 + m.light_ambient.sum(0).mean(), 0, 1))
        self._head_diffuse = np.float32(m.vis.headlight.diffuse.mean()) if m.vis.headlight.active else np.float32(0)
        d = mujoco.MjData(m)
        mujoco.mj_forward(m, d)  # world light directions at qpos0 (mj_camlight)
        active = m.light_active.astype(bool) if hasattr(m, "light_active") else np.ones(m.nlight, bool)
        self._light_dir = d.light_xdir[active].astype(np.float32).reshape(-1, 3)
        self._light_diffuse = m.light_diffuse[active].mean(-1).astype(np.float32).reshape(-1)

        self._sky_top = np.asarray(background[0], np.float32)
        self._sky_bottom = np.asarray(background[1], np.float32)

    @staticmethod
    def _camera_id(m: mujoco.MjModel, camera: str | int | None) -> int:
        if camera is None or m.ncam == 0:
            return -1
        if isinstance(camera, str):
            cam_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, camera)
            if cam_id < 0:
                names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(m.ncam)]
                raise ValueError(f"Camera.camera: expected one of {names}, got {camera!r}")
            return cam_id
        if not 0 <= int(camera) < m.ncam:
            raise ValueError(f"Camera.camera: expected an id in [0, {m.ncam}), got {camera!r}")
        return int(camera)

    @staticmethod
    def _plane_textures(m: mujoco.MjModel):
        """Flat RGB texels [sum texels, 3] float32, info [ngeom, 4] int32, repeat [ngeom, 3]."""
        info = np.zeros((m.ngeom, 4), np.int32)  # has_tex, adr (texels), width, height
        repeat = np.zeros((m.ngeom, 3), np.float32)  # rx, ry, uniform
        chunks, offset = [np.zeros((1, 3), np.float32)], 1
        for g in range(m.ngeom):
            mat = m.geom_matid[g]
            if m.geom_type[g] != mujoco.mjtGeom.mjGEOM_PLANE or mat < 0:
                continue
            tex = m.mat_texid[mat, _RGB_ROLE]
            if tex < 0 or m.tex_type[tex] != mujoco.mjtTexture.mjTEXTURE_2D:
                continue
            w, h, c = int(m.tex_width[tex]), int(m.tex_height[tex]), int(m.tex_nchannel[tex])
            texels = m.tex_data[m.tex_adr[tex] : m.tex_adr[tex] + w * h * c].reshape(h * w, c)
            rgb = texels[:, :3] if c >= 3 else np.repeat(texels[:, :1], 3, axis=1)
            # MuJoCo multiplies the texture by the material colour.
            chunks.append(rgb.astype(np.float32) / 255.0 * m.mat_rgba[mat, :3])
            info[g] = (1, offset, w, h)
            repeat[g] = (*m.mat_texrepeat[mat], float(m.mat_texuniform[mat]))
            offset += w * h
        return np.concatenate(chunks).astype(np.float32), info, repeat

    def camera_frame(self, data: mjx.Data) -> tuple[jax.Array, jax.Array]:
        """World position ``[3]`` (m) and rotation ``[3, 3]`` (columns: camera x, y, z)."""
        if self.cam_id < 0:
            return jnp.asarray(self._fixed_pos), jnp.asarray(self._fixed_mat)
        return data.cam_xpos[self.cam_id], data.cam_xmat[self.cam_id].reshape(3, 3)

    def render(self, mjx_model: mjx.Model, data: mjx.Data) -> jax.Array:
        """One RGB image of ``data`` (positions must be current, e.g. after ``mjx.forward``
        or ``mjx.step``).

        Args:
            mjx_model: the MJX model (geom sizes and materials are read from it, so a
                batch of models with randomised sizes renders correctly under vmap).
            data: MJX data of one env (vmap for a batch).

        Returns:
            ``[height, width, 3]`` uint8 image.
        """
        pos, rot = self.camera_frame(data)
        dirs = jnp.einsum("ij,hwj->hwi", rot, jnp.asarray(self._cam_dirs)).reshape(-1, 3)

        def cast(vec):
            return mjx.ray(mjx_model, data, pos, vec, geomgroup=_DEFAULT_GEOMGROUP)

        dist, geom = jax.vmap(cast)(dirs)
        hit = geom >= 0
        g = jnp.maximum(geom, 0)
        point = pos + dist[:, None] * dirs
        normal = self._normals(mjx_model, data, g, point, dirs)
        colour = self._base_colour(data, g, point)

        lambert = self._ambient + self._head_diffuse * jnp.abs(jnp.sum(normal * dirs, -1))
        if self._light_dir.shape[0]:
            facing = jnp.maximum(0.0, -normal @ jnp.asarray(self._light_dir).T)  # [P, L]
            lambert = lambert + facing @ jnp.asarray(self._light_diffuse)
        shaded = colour * lambert[:, None]

        t = 0.5 + 0.5 * dirs[:, 2:3]  # elevation of the ray: nadir 0, zenith 1
        sky = self._sky_bottom + t * (self._sky_top - self._sky_bottom)
        rgb = jnp.where(hit[:, None], shaded, sky)
        image = jnp.round(jnp.clip(rgb, 0.0, 1.0) * 255.0).astype(jnp.uint8)
        return image.reshape(self.height, self.width, 3)

    def _normals(self, m, data, g, point, dirs):
        """World unit normals [P, 3] at the hit points, from the hit geom's analytic shape."""
        xmat = data.geom_xmat[g]  # [P, 3, 3]
        local = jnp.einsum("pji,pj->pi", xmat, point - data.geom_xpos[g])
        size = m.geom_size[g]
        gtype = jnp.asarray(self._geom_type)[g]
        ez = jnp.broadcast_to(jnp.array([0.0, 0.0, 1.0]), local.shape)
        capsule = local - ez * jnp.clip(local[:, 2:3], -size[:, 1:2], size[:, 1:2])
        ellipsoid = local / jnp.maximum(size, 1e-9) ** 2
        ratio = jnp.abs(local) / jnp.maximum(size, 1e-9)
        axis = jnp.argmax(ratio, axis=-1)
        box = jax.nn.one_hot(axis, 3) * jnp.sign(local)
        cases = [
            (mujoco.mjtGeom.mjGEOM_PLANE, ez),
            (mujoco.mjtGeom.mjGEOM_SPHERE, local),
            (mujoco.mjtGeom.mjGEOM_CAPSULE, capsule),
            (mujoco.mjtGeom.mjGEOM_ELLIPSOID, ellipsoid),
            (mujoco.mjtGeom.mjGEOM_BOX, box),
        ]
        # Meshes (and anything else): a normal facing the camera, i.e. flat headlight shading.
        n_local = jnp.einsum("pji,pj->pi", xmat, -dirs)
        for geom_type, n in cases:
            n_local = jnp.where((gtype == int(geom_type))[:, None], n, n_local)
        n_local = n_local / jnp.maximum(jnp.linalg.norm(n_local, axis=-1, keepdims=True), 1e-9)
        return jnp.einsum("pij,pj->pi", xmat, n_local)

    def _base_colour(self, data, g, point):
        """Unlit colour [P, 3]: material/geom rgb, or the plane's texel at the hit point."""
        colour = jnp.asarray(self._geom_rgb)[g]
        if not self._tex_info[:, 0].any():
            return colour
        info = jnp.asarray(self._tex_info)[g]
        repeat = jnp.asarray(self._tex_repeat)[g]
        xmat = data.geom_xmat[g]
        local = jnp.einsum("pji,pj->pi", xmat, point - data.geom_xpos[g])[:, :2]
        # texuniform: texrepeat tiles per metre; otherwise tiles over the plane's extent.
        extent = 2.0 * jnp.asarray(self._geom_size)[g, :2]
        uv = jnp.where(repeat[:, 2:3] > 0, local, local / jnp.maximum(extent, 1e-9)) * repeat[:, :2]
        uv = uv - jnp.floor(uv)
        col = jnp.minimum((uv[:, 0] * info[:, 2]).astype(jnp.int32), info[:, 2] - 1)
        row = jnp.minimum((uv[:, 1] * info[:, 3]).astype(jnp.int32), info[:, 3] - 1)
        texel = jnp.asarray(self._tex_data)[info[:, 1] + row * info[:, 2] + col]
        return jnp.where(info[:, 0:1] > 0, texel, colour)
