"""ms/frame of the evaluation video (``envs_jax.mjx.record``) on halfcheetah, against
``mujoco.Renderer`` on the host, and one 1000-step GIF.

* in-jit camera: ``jit(camera.render(model, pose(qpos)))`` at 32x24 and 160x120 (the pose
  recomputation ``record`` does before each frame included), 50 calls after the compile;
* host renderer: ``mujoco.Renderer`` (``MUJOCO_GL=egl``, else reported as unavailable),
  ``mj_forward`` + ``update_scene`` + ``render``, 50 frames;
* a whole episode: ``write_eval_video`` of a random policy, 1000 steps at 160x120; compile =
  first call minus second call.

    MUJOCO_GL=egl python benchmarks/video_render.py [--out /tmp/video-bench]

Prints the numbers (quoted in ``envs_jax/mjx/record.py``); writes ``<out>/videos/final.gif``.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp

import envs_jax
from envs_jax.mjx import record
from envs_jax.mjx.base import data_from_state
from envs_jax.policy import per_observation
from purerl.common import video

SIZES = ((32, 24), (160, 120))
REPS = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="/tmp/video-bench")
    args = parser.parse_args()
    env, params = envs_jax.make("halfcheetah")
    model, qpos0 = env.mjx_model, jnp.asarray(env.init_qpos)

    for width, height in SIZES:
        cam = record.make_camera(env, width, height)
        render = jax.jit(lambda q, cam=cam: cam.render(model, record._current_pose(
            model, data_from_state(model, q, jnp.zeros(model.nv), forward=False))))
        t = time.perf_counter()
        render(qpos0).block_until_ready()
        compile_s = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(REPS):
            render(qpos0 + 0.01 * i).block_until_ready()
        print(f"in-jit camera {width}x{height}: {(time.perf_counter() - t) / REPS * 1e3:.2f} "
              f"ms/frame, compile {compile_s:.1f} s")

    try:
        import mujoco

        m = env.mj_model
        d = mujoco.MjData(m)
        for width, height in SIZES:
            renderer = mujoco.Renderer(m, height, width)
            mujoco.mj_forward(m, d)
            renderer.update_scene(d, camera=0)
            renderer.render()
            t = time.perf_counter()
            for _ in range(REPS):
                d.qpos[3] += 0.01
                mujoco.mj_forward(m, d)
                renderer.update_scene(d, camera=0)
                renderer.render()
            print(f"mujoco.Renderer ({os.environ.get('MUJOCO_GL', 'default GL')}) {width}x"
                  f"{height}: {(time.perf_counter() - t) / REPS * 1e3:.2f} ms/frame")
            renderer.close()
    except Exception as err:  # no OpenGL backend on this machine
        print(f"mujoco.Renderer unavailable: {type(err).__name__}: {err}")

    policy = per_observation(lambda key, obs: jax.random.uniform(key, (env.action_size,),
                                                                 minval=-1.0, maxval=1.0))
    times = []
    for seed in range(2):
        t = time.perf_counter()
        path = video.write_eval_video(args.out, env, params, policy, jax.random.key(seed))
        times.append(time.perf_counter() - t)
    frames = env.episode_length + 1
    print(f"episode {env.episode_length} steps 160x120: {times[1] / frames * 1e3:.2f} ms/frame "
          f"(physics + render + GIF), compile {times[0] - times[1]:.1f} s; {path} "
          f"{os.path.getsize(path) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
