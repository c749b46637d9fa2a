"""Pixel env-steps/s of cheetah-run at 84x84 (action repeat 4, frame stack 3), our in-jit
pipeline against the seed's design, in one script.

* ours: ``envs_jax.pixels.make_pixel_env("cheetah_run")`` = FrameStack(MjxPixels(
  ActionRepeat(CheetahRun, 4)), 3): MJX physics, the side camera rendered in JAX once per
  agent step, the frame stack, ``jax.vmap`` over N envs and ``lax.scan`` over T agent steps,
  one compiled call (random actions);
* seed's design (dmc2gym): one env at a time on the host, C MuJoCo ``mj_step`` x 4 per agent
  step and MuJoCo's C renderer (``mujoco.Renderer``, what dm_control's ``physics.render``
  calls; ``MUJOCO_GL=egl``, software Mesa here) for the 84x84 side image, numpy frame stack;
  the same model file (``envs_jax/mjx/assets/cheetah.xml``).

Warm-up, then interleaved repetitions A B B A; env steps = agent steps x 4. Also the
full-size SAC+AE update rate (84x84x9, batch 128, the spec's networks) on this machine::

    MUJOCO_GL=egl python benchmarks/sac_ae_pixels_speed.py [--envs 1 8] [--steps 250]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from envs_jax.pixels import make_pixel_env  # noqa: E402
from purerl.common.logging import machine_description, package_versions  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
UPDATE_JSON = os.path.join(OUT, "sac_ae_update_speed.json")
R, K, SIZE = 4, 3, 84


def ours(num_envs: int, steps: int):
    env, params = make_pixel_env("cheetah_run", R, K, SIZE)

    def run(key):
        keys = jax.random.split(key, num_envs)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)

        def body(c, k):
            state = c
            a = jax.random.uniform(k, (num_envs, 6), minval=-1, maxval=1)
            ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k, num_envs), state, a, params)
            return ts.state, ts.obs[:, 0, 0, 0]
        _, out = jax.lax.scan(body, state, jax.random.split(key, steps))
        return out

    f = jax.jit(run)
    t0 = time.perf_counter()
    jax.block_until_ready(f(jax.random.PRNGKey(0)))
    compile_s = time.perf_counter() - t0

    def rep():
        t = time.perf_counter()
        jax.block_until_ready(f(jax.random.PRNGKey(1)))
        return num_envs * steps * R / (time.perf_counter() - t)
    return compile_s, rep


def seed_design(steps: int):
    import mujoco

    from envs_jax.mjx.cheetah_run import CHEETAH_XML

    m = mujoco.MjModel.from_xml_path(CHEETAH_XML)
    d = mujoco.MjData(m)
    renderer = mujoco.Renderer(m, SIZE, SIZE)
    rng = np.random.default_rng(0)

    def render():
        renderer.update_scene(d, camera="side")
        return renderer.render()

    def rep():
        mujoco.mj_resetData(m, d)
        frames = [render()] * K
        t = time.perf_counter()
        for _ in range(steps):
            d.ctrl[:] = rng.uniform(-1, 1, m.nu)
            for _ in range(R):
                mujoco.mj_step(m, d)
            frames = frames[1:] + [render()]
            np.concatenate(frames, -1)
        return steps * R / (time.perf_counter() - t)
    rep()
    return rep


def update_rate(reps: int = 2) -> dict:
    from purerl.algos import sac_ae
    from purerl.common.frame_buffer import PixelBatch

    learner = sac_ae.make_learner(sac_ae.Config(), (SIZE, SIZE, 9), 6)
    s = jax.jit(learner.init)(jax.random.PRNGKey(0), jnp.zeros((SIZE, SIZE, 9), jnp.uint8))
    obs = jax.random.randint(jax.random.PRNGKey(1), (128, SIZE, SIZE, 9), 0, 256
                             ).astype(jnp.uint8)
    batch = PixelBatch(obs, jnp.zeros((128, 6)), jnp.zeros(128), obs, jnp.zeros(128, bool))
    f = jax.jit(learner.update)
    t = time.perf_counter()
    jax.block_until_ready(f(s, batch, jax.random.PRNGKey(2), jnp.int32(2)))
    compile_s = time.perf_counter() - t
    times = []
    for i in range(reps):
        t = time.perf_counter()
        s, _ = f(s, batch, jax.random.PRNGKey(i), jnp.int32(i))
        jax.block_until_ready(s)
        times.append(time.perf_counter() - t)
    return {"compile_s": compile_s, "seconds_per_update": times,
            "updates_per_s": 1.0 / float(np.median(times))}


def save(record: dict) -> None:
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "sac_ae_pixels_speed.json"), "w") as f:
        json.dump(record, f, indent=2)
    write_md(record)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--envs", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--peer_steps", type=int, default=100)
    ap.add_argument("--no_update", action="store_true", help="skip the update rate")
    ap.add_argument("--update_only", action="store_true",
                    help="measure only the update rate, into the existing JSON record")
    a = ap.parse_args()
    if a.update_only:                 # its own record, merged into the table when present
        record = {"machine": machine_description(), "versions": package_versions(),
                  "load_average_start": os.getloadavg(),
                  "command": "python benchmarks/sac_ae_pixels_speed.py --update_only",
                  **update_rate()}
        record["load_average_end"] = os.getloadavg()
        print("update", record, flush=True)
        with open(UPDATE_JSON, "w") as f:
            json.dump(record, f, indent=2)
        if os.path.exists(os.path.join(OUT, "sac_ae_pixels_speed.json")):
            with open(os.path.join(OUT, "sac_ae_pixels_speed.json")) as f:
                write_md(json.load(f))
        return
    record = {"machine": machine_description(), "versions": package_versions(),
              "load_average_start": os.getloadavg(),
              "command": "MUJOCO_GL=egl python benchmarks/sac_ae_pixels_speed.py "
                         + " ".join(sys.argv[1:]), "image": SIZE, "action_repeat": R,
              "frame_stack": K, "ours": {}, "seed_design": None}
    try:
        peer = seed_design(a.peer_steps)
    except Exception as err:                       # no GL: reported, not hidden
        peer, record["seed_design"] = None, f"unavailable: {type(err).__name__}: {err}"
    for n in a.envs:
        compile_s, mine = ours(n, a.steps)
        got = {"ours": [], "seed": []}
        for who in ("ours", "seed", "seed", "ours"):             # A B B A
            if who == "seed" and peer is None:
                continue
            got[who].append(mine() if who == "ours" else peer())
        record["ours"][str(n)] = {"compile_s": compile_s, "env_steps_per_s": got["ours"]}
        if peer is not None:
            record["seed_design"] = record["seed_design"] or []
            record["seed_design"] += got["seed"]
        print(n, "envs:", got, flush=True)
    record["load_average_end"] = os.getloadavg()
    save(record)                                   # the env part is kept if the rest dies
    if not a.no_update:
        record["update"] = update_rate()
        print("update", record["update"], flush=True)
        save(record)


def write_md(record: dict) -> None:
    """``sac_ae_pixels_speed.md`` from the JSON record."""
    m = record["machine"]
    lines = ["# SAC+AE pixel pipeline speed: cheetah-run 84x84, action repeat 4, frame stack 3",
             "", f"Command: `{record['command']}`. Machine: {m['platform']}, {m['cpu_count']} CPUs, jax backend {m['jax_backend']}; load average "
             f"{record['load_average_start'][0]:.1f} at the start, "
             f"{record['load_average_end'][0]:.1f} at the end (a 2-core CPU shared by several "
             "jobs: absolute numbers are low and noisy, the ratio is the result). jax "
             f"{record['versions'].get('jax')}, mujoco C renderer through `mujoco.Renderer` "
             "(MUJOCO_GL=egl, software Mesa). Env steps = agent steps x 4; each repetition "
             "is one compiled call of 250 agent steps (ours) or 100 agent steps one env at a "
             "time (seed's design); repetitions interleaved A B B A after a warm-up.", "",
             "| pipeline | envs | env-steps/s (reps) | median |", "|---|---|---|---|"]
    for n, r in record["ours"].items():
        v = r["env_steps_per_s"]
        lines.append(f"| ours: MJX + in-jit camera + frame stack, one jit (compile "
                     f"{r['compile_s']:.0f} s) | {n} | {', '.join(f'{x:,.0f}' for x in v)} | "
                     f"{np.median(v):,.0f} |")
    peer = record["seed_design"]
    if isinstance(peer, list):
        lines.append(f"| seed's design: C MuJoCo + C renderer, numpy stack | 1 | "
                     f"{', '.join(f'{x:,.0f}' for x in peer)} | {np.median(peer):,.0f} |")
    else:
        lines.append(f"| seed's design | 1 | {peer} | - |")
    u = record.get("update")
    if u is None and os.path.exists(UPDATE_JSON):
        with open(UPDATE_JSON) as f:
            u = json.load(f)
        lines += ["", f"Update rate measured separately (`{u['command']}`, load average "
                  f"{u['load_average_start'][0]:.1f} -> {u['load_average_end'][0]:.1f})."]
    if u is not None:
        lines += ["", f"Full-size SAC+AE update (84x84x9, batch 128, 4 convs, 1024-wide MLPs, "
                  f"decoder), one jitted `update` on this CPU: "
                  f"{', '.join(f'{x:.1f}' for x in u['seconds_per_update'])} s per update "
                  f"(compile and first call {u['compile_s']:.0f} s). The acceptance run "
                  f"(125k agent steps = 126k updates) would take about "
                  f"{126_000 / u['updates_per_s'] / 86400:.0f} days here per seed, so no "
                  "cheetah-run learning curve is claimed from this machine: it needs a GPU."]
    with open(os.path.join(OUT, "sac_ae_pixels_speed.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
