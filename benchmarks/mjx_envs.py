"""MJX env-steps/s for every registered MJX task, against C MuJoCo on the same CPU.

For each task (``envs_jax.MJX_ENV_IDS``, plus ``cheetah-run:pixels`` = ``make("cheetah-run",
obs_mode="pixels")``; ``task:key=value`` passes kwargs) and each batch size:

* MJX: ``jit(vmap(env.step))`` inside a ``lax.fori_loop`` of uniformly random actions in the
  action box (the base env, no auto-reset: this measures the task step, not the reset).
  The step count is a runtime argument, so one compile serves a calibration call and the
  timed calls; compile time (``jit(...).lower(...).compile()``) is reported apart. Steps per
  rep = the number that takes about ``--cell_s`` seconds, at most ``--steps``.
  env-steps/s = batch x steps / wall-clock.
* Timing: both sides resident, after a warm-up, reps interleaved C MJX MJX C (``--reps``
  rounds), because this host drifts ~2x from minute to minute; the load average is logged
  per rep.
* C MuJoCo: the same ``mj_model``, one thread, from the env's reset state, random controls,
  ``mj_step`` with the env's ``n_substeps`` per control step (physics only: no observation
  or reward; a task whose control law runs every substep, e.g. PD control, gets the
  controls held fixed). Reported as env-steps/s and as MJX / C.

Also times the pixel renderer (``envs_jax.mjx.render.Camera``, cheetah ``side`` camera,
84x84) alone at batch 1 and 16, and with ``--media`` writes a frame PNG and a GIF of a
cheetah-run rollout to ``benchmarks/results/media/``.

    nice -n 5 python benchmarks/mjx_envs.py [--tasks hopper,cheetah-run] [--batches 1,64,1024]
        [--steps 1000] [--cell_s 20] [--reps 2] [--media] [--merge]

``--merge`` adds this run's tasks to the existing results files (rows of other tasks, the
renderer timing and the earlier commands are kept; rows of re-measured tasks are replaced).

Writes ``benchmarks/results/mjx_envs.{md,json}``. A task that fails to build (e.g. not
written yet) is recorded with the error instead of numbers.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import envs_jax  # noqa: E402  (sets the XLA:CPU workaround flags before jax starts)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")
MEDIA = os.path.join(RESULTS, "media")
DEFAULT_TASKS = (*envs_jax.MJX_ENV_IDS, "cheetah-run:pixels")


def parse_task(spec: str) -> tuple[str, dict]:
    """``"cheetah-run:pixels"`` -> ``("cheetah-run", {"obs_mode": "pixels"})``;
    ``"id:k=v,..."`` -> kwargs (ints/floats/bools parsed)."""
    env_id, _, rest = spec.partition(":")
    if not rest:
        return env_id, {}
    if rest == "pixels":
        return env_id, {"obs_mode": "pixels"}
    kwargs = {}
    for item in rest.split(";"):
        k, _, v = item.partition("=")
        for cast in (int, float):
            try:
                v = cast(v)
                break
            except ValueError:
                pass
        kwargs[k] = {"True": True, "False": False}.get(v, v) if isinstance(v, str) else v
    return env_id, kwargs


def device_name() -> str:
    dev = jax.devices()[0]
    return f"{dev.platform}:{getattr(dev, 'device_kind', '')}".rstrip(":")


def mjx_cell(env, params, batch: int, max_steps: int, cell_s: float) -> dict:
    """Compile + time ``batch`` vmapped envs stepping with random actions."""
    act = env.action_space(params)
    low = jnp.asarray(np.where(np.isfinite(act.low), act.low, -1.0), jnp.float32)
    high = jnp.asarray(np.where(np.isfinite(act.high), act.high, 1.0), jnp.float32)
    keys = jax.random.split(jax.random.key(0), batch)
    _, state = jax.jit(jax.vmap(lambda k: env.reset(k, params)))(keys)

    def rollout(state, key, num_steps):
        def body(i, carry):
            state, total = carry
            k_act, k_step = jax.random.split(jax.random.fold_in(key, i))
            action = jax.random.uniform(k_act, (batch, *act.shape), minval=low, maxval=high)
            ts = jax.vmap(lambda k, s, a: env.step(k, s, a, params))(
                jax.random.split(k_step, batch), state, action)
            return ts.state, total + ts.reward.sum()

        return jax.lax.fori_loop(0, num_steps, body, (state, jnp.zeros(())))

    t0 = time.perf_counter()
    compiled = jax.jit(rollout).lower(state, jax.random.key(1), 1).compile()
    compile_s = time.perf_counter() - t0

    def timed(n):
        t = time.perf_counter()
        jax.block_until_ready(compiled(state, jax.random.key(2), n))
        return time.perf_counter() - t

    probe = 2
    probe_s = timed(probe)                               # also the warm-up call
    steps = int(max(1, min(max_steps, cell_s / max(probe_s / probe, 1e-9))))
    return {"steps": steps, "compile_s": compile_s, "reset_state": state,
            "rate": lambda: batch * steps / timed(steps)}


def interleaved(mjx_rate, c_rate, reps: int) -> dict:
    """Time MJX and C MuJoCo in A B B A order, ``reps`` times, logging the load per rep.

    This host drifts ~2x from minute to minute, so each MJX rep sits beside a C rep; the
    medians and the median of the per-pair ratios are reported.
    """
    mjx, c, ratios, load = [], [], [], []
    for _ in range(reps):
        a1 = c_rate()
        b1, b2 = mjx_rate(), mjx_rate()
        a2 = c_rate()
        mjx += [b1, b2]
        c += [a1, a2]
        ratios += [b1 / a1, b2 / a2]
        load.append(os.getloadavg()[0])
    return {"steps_per_s": float(np.median(mjx)), "mujoco_c_steps_per_s": float(np.median(c)),
            "mjx_over_c": float(np.median(ratios)), "mjx_reps": mjx, "c_reps": c,
            "load_avg_1min": load}


def mujoco_c_steps_per_s(env, state, seconds: float = 3.0) -> float:
    """C MuJoCo control steps/s (one thread) from env 0's reset state, random controls."""
    m = env.mj_model
    d = mujoco.MjData(m)
    d.qpos[:] = np.asarray(state.data.qpos[0], np.float64)
    d.qvel[:] = np.asarray(state.data.qvel[0], np.float64)
    mujoco.mj_forward(m, d)
    rng = np.random.default_rng(0)
    lo, hi = m.actuator_ctrlrange.T
    limited = m.actuator_ctrllimited.astype(bool)
    lo, hi = np.where(limited, lo, -1.0), np.where(limited, hi, 1.0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            d.ctrl[:] = rng.uniform(lo, hi)
            mujoco.mj_step(m, d, nstep=env.n_substeps)
        n += 100
        if not np.all(np.isfinite(d.qpos)):  # diverged: restart from the reset state
            d.qpos[:] = np.asarray(state.data.qpos[0], np.float64)
            d.qvel[:] = 0.0
    return n / (time.perf_counter() - t0)


def render_ms_per_frame(batches=(1, 16), reps: int = 5) -> list[dict]:
    """ms per 84x84 frame of the cheetah ``side`` camera, jitted and vmapped over poses."""
    from mujoco import mjx

    from envs_jax.mjx.cheetah_run import _refresh_positions
    from envs_jax.mjx.render import Camera

    env, _ = envs_jax.make("cheetah-run")
    m, mx = env.mj_model, env.mjx_model
    cam = Camera(m, "side")
    rows = []
    for batch in batches:
        qpos = jnp.tile(jnp.asarray(m.qpos0, jnp.float32), (batch, 1))
        qpos = qpos.at[:, 3].set(jnp.linspace(-0.5, 1.0, batch))
        data = jax.jit(jax.vmap(lambda q: _refresh_positions(mx, mjx.make_data(mx).replace(qpos=q))))(qpos)
        t0 = time.perf_counter()
        fn = jax.jit(jax.vmap(lambda d: cam.render(mx, d))).lower(data).compile()
        compile_s = time.perf_counter() - t0
        jax.block_until_ready(fn(data))
        walls = []
        for _ in range(reps):
            t = time.perf_counter()
            jax.block_until_ready(fn(data))
            walls.append(time.perf_counter() - t)
        rows.append({"batch": batch, "ms_per_frame": 1e3 * float(np.median(walls)) / batch,
                     "compile_s": compile_s})
        print(f"render batch {batch}: {rows[-1]['ms_per_frame']:.2f} ms/frame "
              f"(compile {compile_s:.1f} s)", flush=True)
    return rows


def write_media(num_steps: int = 150) -> list[str]:
    """A cheetah-run rollout (a fixed open-loop gait) seen by the side camera: PNG + GIF."""
    from PIL import Image  # Pillow comes with matplotlib (a project dependency)

    from envs_jax.mjx.cheetah_run import CheetahRun
    from envs_jax.mjx.render import Camera

    os.makedirs(MEDIA, exist_ok=True)
    env = CheetahRun(obs_mode="pixels")
    params = env.default_params()
    big = Camera(env.mj_model, "side", width=256, height=256)
    # A sinusoidal gait (legs in antiphase) so the video shows the body moving.
    phase = np.array([0.0, 0.5, 1.0, np.pi, np.pi + 0.5, np.pi + 1.0])

    def body(state, t):
        action = jnp.sin(2 * jnp.pi * 2.0 * t * env.dt + phase)
        ts = env.step(jax.random.key(0), state, action, params)
        return ts.state, (ts.obs, big.render(env.model(params), ts.state.data))

    obs0, state = jax.jit(env.reset)(jax.random.key(0), params)
    _, (frames84, frames256) = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(num_steps)))(state)
    frames84, frames256 = np.asarray(frames84), np.asarray(frames256)
    paths = [os.path.join(MEDIA, "cheetah_run_frame84.png"), os.path.join(MEDIA, "cheetah_run_frame256.png"),
             os.path.join(MEDIA, "cheetah_run.gif")]
    Image.fromarray(np.asarray(obs0)).save(paths[0])
    Image.fromarray(frames256[num_steps // 2]).save(paths[1])
    # every 2nd control step (0.02 s) at 50 fps: real time
    gif = [Image.fromarray(f) for f in frames256[::2]]
    gif[0].save(paths[2], save_all=True, append_images=gif[1:], duration=40, loop=0)
    return paths


def versions() -> dict:
    from importlib.metadata import version

    return {"python": platform.python_version(), "jax": jax.__version__,
            "jaxlib": version("jaxlib"), "mujoco": mujoco.__version__,
            "mujoco-mjx": version("mujoco-mjx")}


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}"


def to_markdown(rows: list[dict], missing: list[dict], render_rows: list[dict], command: str,
                media: list[str]) -> str:
    v = versions()
    lines = [
        "# MJX env-steps/s vs C MuJoCo",
        "",
        f"- Machine: {machine()}; JAX device `{device_name()}`.",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        f"- XLA_FLAGS: `{os.environ.get('XLA_FLAGS', '')}`.",
        f"- Command: `{command}`",
        "- MJX: `jit(vmap(env.step))` in a `fori_loop` of uniformly random actions (base env, no "
        "auto-reset), compile time apart; C MuJoCo: `mj_step` x n_substeps per control step, one "
        "thread, physics only, random controls, same model, same run.",
        "- Timing: after a warm-up, C and MJX reps interleaved C MJX MJX C (`--reps` times); "
        "medians, and the median of the per-pair MJX / C ratios; 1-min load average per rep "
        "in the JSON. Rows from before the interleaving (no `mjx_over_c` field) timed C once.",
        "- The machine is shared (2 cores, other jobs running): numbers are indicative, +/-30%.",
        "",
        "| task | batch | MJX env-steps/s | compile s | steps timed | C MuJoCo env-steps/s (1 thread) | MJX / C | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['batch']} | {r['steps_per_s']:,.0f} | {r['compile_s']:.1f} | "
            f"{r['steps']} | {r['mujoco_c_steps_per_s']:,.0f} | "
            f"{r.get('mjx_over_c', r['steps_per_s'] / r['mujoco_c_steps_per_s']):.3f} | "
            f"{max(r['load_avg_1min']) if 'load_avg_1min' in r else '-'} |"
        )
    if missing:
        lines += ["", "Not measured:", ""]
        lines += [f"- `{m['task']}`: {m['reason']}" for m in missing]
    if render_rows:
        lines += ["", "## Pixel renderer (`envs_jax.mjx.render.Camera`, cheetah side camera, 84x84)", "",
                  "| batch | ms / frame | compile s |", "|---:|---:|---:|"]
        lines += [f"| {r['batch']} | {r['ms_per_frame']:.2f} | {r['compile_s']:.1f} |" for r in render_rows]
    if media:
        lines += ["", "Media: " + ", ".join(f"`{os.path.relpath(p, RESULTS)}`" for p in media)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS),
                        help="comma-separated ids; 'id:pixels' or 'id:k=v;k2=v2' for kwargs")
    parser.add_argument("--batches", default="1,64,1024", help="comma-separated batch sizes")
    parser.add_argument("--steps", type=int, default=1000, help="max control steps per cell")
    parser.add_argument("--cell_s", type=float, default=20.0, help="target seconds per timed cell")
    parser.add_argument("--c_seconds", type=float, default=3.0, help="seconds per C MuJoCo rep")
    parser.add_argument("--reps", type=int, default=2,
                        help="interleaved C MJX MJX C rounds per cell (after a warm-up)")
    parser.add_argument("--no_render", action="store_true", help="skip the renderer timing")
    parser.add_argument("--media", action="store_true", help="write the cheetah-run PNG + GIF")
    parser.add_argument("--out", default=os.path.join(RESULTS, "mjx_envs"), help="output path stem")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other tasks' rows of the existing results files")
    args = parser.parse_args(argv)
    command = "python benchmarks/mjx_envs.py " + " ".join(argv if argv is not None else sys.argv[1:])
    batches = [int(b) for b in args.batches.split(",")]
    specs = [t for t in args.tasks.split(",") if t]

    kept_rows, kept_missing, kept_render = [], [], []
    if args.merge and os.path.exists(args.out + ".json"):
        with open(args.out + ".json") as f:
            old = json.load(f)
        kept_rows = [r for r in old["rows"] if r["task"] not in specs]
        kept_missing = [m for m in old["missing"] if m["task"].split(" @ ")[0] not in specs]
        kept_render = old.get("render", [])
        command = old["command"] + " ; then (--merge) " + command
    render_rows = kept_render if args.no_render else render_ms_per_frame()
    media = write_media() if args.media else []
    if args.merge and not media:  # keep listing the media an earlier run wrote
        media = sorted(glob.glob(os.path.join(RESULTS, "media", "*")))
    rows, missing = kept_rows, kept_missing

    def save():  # after every cell, so a long run that is cut short keeps what it measured
        with open(args.out + ".json", "w") as f:
            json.dump({"machine": machine(), "versions": versions(), "command": command,
                       "rows": rows, "missing": missing, "render": render_rows}, f, indent=1)
        with open(args.out + ".md", "w") as f:
            f.write(to_markdown(rows, missing, render_rows, command, media))

    for spec in specs:
        env_id, kwargs = parse_task(spec)
        try:
            env, params = envs_jax.make(env_id, **kwargs)
        except Exception as err:  # a task another engineer has not finished: record, go on
            missing.append({"task": spec, "reason": f"{type(err).__name__}: {err}"[:300]})
            print(f"{spec}: not built ({missing[-1]['reason']})", flush=True)
            save()
            continue
        for batch in batches:
            try:
                cell = mjx_cell(env, params, batch, args.steps, args.cell_s)
            except Exception as err:
                missing.append({"task": f"{spec} @ batch {batch}", "reason": f"{type(err).__name__}: {err}"[:300]})
                print(f"{spec} batch {batch}: failed ({missing[-1]['reason']})", flush=True)
                continue
            state = cell["reset_state"]
            timing = interleaved(cell["rate"],
                                 lambda: mujoco_c_steps_per_s(env, state, args.c_seconds),
                                 args.reps)
            row = {"task": spec, "backend": "mjx", "device": device_name(), "batch": batch,
                   "compile_s": cell["compile_s"], "steps": cell["steps"],
                   "n_substeps": env.n_substeps, **timing}
            rows.append(row)
            print(f"{spec} batch {batch}: {row['steps_per_s']:,.0f} env-steps/s "
                  f"(compile {row['compile_s']:.1f} s, {row['steps']} steps), "
                  f"C MuJoCo {row['mujoco_c_steps_per_s']:,.0f}/s, MJX/C "
                  f"{row['mjx_over_c']:.3f} (load {timing['load_avg_1min']})", flush=True)
            save()

    save()
    print(f"wrote {args.out}.md/.json", flush=True)


if __name__ == "__main__":
    main()
