"""One PPO seed sweep on 2 processes (loopback) beside 1 process: wall-clock and bytes moved.

Three ways to run the SAME sweep (``purerl-ppo`` with ``FLAGS``, 4 seeds):

- ``1proc-1dev``: one process, one CPU device (all runs in one vmap);
- ``2proc``: two processes on 127.0.0.1 (``--coordinator_address 127.0.0.1:PORT
  --num_processes 2 --process_id I``), one CPU device each, gloo collectives: the
  multi-host path, each process training 2 of the 4 runs;
- ``1proc-2dev``: one process with 2 CPU devices (``--xla_force_host_platform_device_count=2``),
  the single-process program with the 2-process job's per-device shapes.

Each rep is fresh subprocesses, in the order A B C C B A (``--reps`` rounds), because this
host is shared and drifts; reported per run: the whole command's wall-clock (start to exit,
imports and compiles included), compile and run seconds from ``summary.json`` (process 0's
for the 2-process job), and the 1-minute load average at start and end. The machine has 2
cores, so the 2-process job can at best use both cores where one process would use one:
its gain is bounded by 2x and, on a shared host, by whatever the other load leaves.

Communication per segment (``bytes`` mode, printed and stored with the timings) is computed,
not sniffed: the segment program is compiled for the 2-device mesh exactly as ``run_sweep``
does it and its optimised HLO is searched for collective ops (all-gather, all-reduce,
reduce-scatter, all-to-all, collective-permute): none means the devices exchange nothing
inside a segment. Between segments ``run_sweep`` all-gathers the segment's metrics
(``distributed.to_host``: every metric ``[runs, segment_updates]``), whose global size S is
read from ``jax.eval_shape`` of the segment; in an all-gather over P processes each process
receives its peers' rows, S (P-1)/P bytes. The inputs are fed per process
(``jax.make_array_from_process_local_data``: no transfer), checkpoints go to a shared
filesystem (no process-to-process bytes), and the barriers exchange a few bytes each.

    python benchmarks/multihost.py [--reps 1]

Writes ``benchmarks/results/multihost.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
FLAGS = ["--env_id=gymnax/CartPole-v1", "--num_seeds=4", "--num_envs=64", "--num_steps=64",
         "--num_updates=40", "--num_minibatches=4", "--update_epochs=2",
         "--checkpoint_every=10", "--log_every=10", "--eval_every=0"]
COLLECTIVES = ("all-gather", "all-reduce", "reduce-scatter", "all-to-all",
               "collective-permute")
TIMEOUT_S = 1200


def child_env(devices: int) -> dict:
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    return {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": " ".join([*flags, f"--xla_force_host_platform_device_count={devices}"])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(mode: str, runs_dir: str, name: str) -> dict:
    """One run of the sweep in ``mode``: timings from its summary and the wall-clock."""
    base = [sys.executable, "-m", "purerl.cli.ppo", *FLAGS, f"--runs_dir={runs_dir}",
            f"--out_file={name}"]
    if mode == "2proc":
        port = free_port()
        cmds = [[*base, f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
                 f"--process_id={i}", "--distributed_timeout=300"] for i in range(2)]
        devices = 1
    else:
        cmds, devices = [base], (2 if mode == "1proc-2dev" else 1)
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    procs = [subprocess.Popen(c, env=child_env(devices), cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for c in cmds]
    try:
        outs = [p.communicate(timeout=TIMEOUT_S)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    wall = time.perf_counter() - t0
    for p, out in zip(procs, outs):
        if p.returncode:
            raise RuntimeError(f"{mode} failed ({p.returncode}):\n{out[-3000:]}")
    with open(os.path.join(runs_dir, name, "summary.json")) as f:
        summary = json.load(f)
    return {"mode": mode, "wall_s": wall, "compile_s": summary["wall_clock_s"]["compile"],
            "run_s": summary["wall_clock_s"]["run"],
            "env_steps_per_s": summary["env_steps_per_s"],
            "processes": summary.get("processes", 1),
            "load_start": load0, "load_end": os.getloadavg()[0]}


def count_collectives(hlo: str) -> dict:
    """How many times each collective op of ``COLLECTIVES`` occurs in HLO text."""
    return {op: len(re.findall(rf"\b{op}(-start)?\(", hlo)) for op in COLLECTIVES}


def segment_bytes() -> dict:
    """(``bytes`` mode, in a 2-device process) collectives of the compiled segment and the
    bytes ``run_sweep`` all-gathers per segment."""
    import jax
    import numpy as np

    from purerl.cli import ppo as ppo_cli
    from purerl.common import sweep as sw
    from purerl.common.experiment import run_inputs, run_sharding
    from purerl.algos import ppo

    args, _ = ppo_cli.parse(FLAGS)
    parts = ppo_cli.build(args)
    points = sw.grid_points(args.grid())
    hparams = sw.stack_hparams(ppo.hyperparams_from(args.ppo_config()), points)
    inputs = run_inputs(args.seed, args.num_seeds, hparams)
    batch = inputs[0].shape[0]
    sharding = run_sharding(batch)
    n = args.segment_updates
    abstract = jax.eval_shape(jax.vmap(parts.init), *inputs)
    segment = jax.vmap(lambda s: parts.run_updates(s, n))
    compiled = jax.jit(segment, in_shardings=sharding, out_shardings=sharding
                       ).lower(abstract).compile()
    found = count_collectives(compiled.as_text())
    # control: the same search finds the all-reduce of a sum over the sharded run axis
    control = count_collectives(jax.jit(lambda x: x.sum(), in_shardings=sharding).lower(
        jax.ShapeDtypeStruct((batch,), np.float32)).compile().as_text())
    if not any(control.values()):
        raise RuntimeError(f"the collective search found nothing in a sharded sum: {control}")
    metrics = jax.eval_shape(segment, abstract)[1]
    gathered = sum(int(np.prod(m.shape)) * np.dtype(m.dtype).itemsize
                   for m in jax.tree.leaves(metrics))
    state = sum(int(np.prod(a.shape)) * np.dtype(a.dtype).itemsize
                for a in jax.tree.leaves(abstract))
    procs = 2
    return {"devices": len(sharding.device_set), "runs": batch, "segment_updates": n,
            "collectives_in_segment": found, "collectives_in_sharded_sum": control,
            "metrics": {k: {"shape": list(v.shape), "dtype": str(v.dtype)}
                        for k, v in sorted(metrics.items())},
            "gathered_bytes_per_segment": gathered,
            "received_bytes_per_process_per_segment": gathered * (procs - 1) // procs,
            "state_bytes_all_runs": state}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "bytes", "report"],
                        help="bench: measure; bytes: the communication (2-device child); "
                             "report: rewrite multihost.md from multihost.json")
    parser.add_argument("--reps", type=int, default=1, help="rounds of A B C C B A")
    args = parser.parse_args(argv)
    if args.mode == "bytes":
        print(json.dumps(segment_bytes()))
        return
    if args.mode == "report":
        with open(os.path.join(RESULTS, "multihost.json")) as f:
            write_report(json.load(f))
        return
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "bytes"],
                          env=child_env(2), cwd=REPO, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    comm = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(comm), flush=True)
    order = ["1proc-1dev", "2proc", "1proc-2dev", "1proc-2dev", "2proc", "1proc-1dev"]
    runs = []
    with tempfile.TemporaryDirectory(prefix="purerl-multihost-") as runs_dir:
        for r in range(args.reps):
            for i, mode in enumerate(order):
                res = run_once(mode, runs_dir, f"{mode}-{r}-{i}")
                runs.append(res)
                print(json.dumps(res), flush=True)
    import jax

    from purerl.common import logging as lg

    modes = list(dict.fromkeys(order))
    mean = {m: {k: sum(x[k] for x in runs if x["mode"] == m) / sum(x["mode"] == m for x in runs)
                for k in ("wall_s", "compile_s", "run_s", "env_steps_per_s")} for m in modes}
    command = "python benchmarks/multihost.py " + " ".join(argv or sys.argv[1:])
    out = {"flags": FLAGS, "order": order, "reps": args.reps, "runs": runs, "mean": mean,
           "communication": comm, "versions": lg.package_versions(),
           "jax": jax.__version__,
           "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
           "command": command}
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "multihost.json"), "w") as f:
        json.dump(out, f, indent=1)
    write_report(out)


def load_note(runs: list[dict], cpus: int) -> list[str]:
    """What the load average says about these timings."""
    load = sum(x["load_start"] + x["load_end"] for x in runs) / (2 * len(runs))
    if load < cpus:
        return [f"Mean 1-minute load {load:.1f} on {cpus} cores: the second core was "
                "mostly free for the second process or device."]
    return [f"Mean 1-minute load **{load:.1f} on {cpus} cores**: the host was "
            f"oversubscribed about {load / cpus:.0f}x by other jobs, so a second process or "
            "device found no free core to run on. These numbers therefore measure what the "
            "2-process path costs (two compiles sharing the same cores, the per-segment "
            "all-gather, the multi-host checkpoint barriers), not its speed-up, which needs "
            "idle cores or, as intended, other hosts."]


def write_report(out: dict) -> str:
    """``multihost.md`` from the results dict (``main``; ``report`` mode rereads the JSON)."""
    runs, mean, comm, order = out["runs"], out["mean"], out["communication"], out["order"]
    modes, command, reps = list(mean), out["command"], out["reps"]
    platform_name, cpus, jax_version = (out["machine"]["platform"],
                                        out["machine"]["cpu_count"], out["jax"])
    ratio = {m: mean["1proc-1dev"]["run_s"] / mean[m]["run_s"] for m in modes}
    wall_ratio = {m: mean["1proc-1dev"]["wall_s"] / mean[m]["wall_s"] for m in modes}
    steps = 4 * 64 * 64 * 40
    lines = [
        "# A seed sweep on 2 processes (loopback) beside 1 process", "",
        f"`purerl-ppo {' '.join(FLAGS)}` ({steps:,} env steps in all: 4 seeds x 64 envs x "
        "64 steps x 40 updates, checkpoints every 10). Fresh subprocesses per run, order "
        f"{' '.join(order)} x {reps}. Machine: {platform_name}, "
        f"{cpus} CPU cores, no GPU, shared with other jobs (1-minute load "
        f"average per run below); jax {jax_version}.", "",
        "| mode | wall s (whole command) | compile s | run s | env-steps/s (run) | "
        "load start-end |", "|---|---:|---:|---:|---:|---|"]
    for x in runs:
        lines.append(f"| {x['mode']} | {x['wall_s']:.1f} | {x['compile_s']:.1f} | "
                     f"{x['run_s']:.1f} | {x['env_steps_per_s']:,.0f} | "
                     f"{x['load_start']:.1f}-{x['load_end']:.1f} |")
    lines += ["", "| mode | mean wall s | mean run s | run speed-up vs 1proc-1dev | "
              "wall speed-up |", "|---|---:|---:|---:|---:|"]
    for m in modes:
        lines.append(f"| {m} | {mean[m]['wall_s']:.1f} | {mean[m]['run_s']:.1f} | "
                     f"{ratio[m]:.2f}x | {wall_ratio[m]:.2f}x |")
    found = comm["collectives_in_segment"]
    lines += [
        "", "On 2 cores the 2-process job can use at most both cores where one process uses "
        "one, so its gain is bounded by 2x, less what the other load on this shared host "
        "takes, and the per-segment all-gather and the multi-host checkpoint barriers cost "
        "on top. `run s` excludes compiles (each process compiles the same program, in "
        "parallel); `wall s` is everything a user waits for, imports included.", "",
        *load_note(runs, cpus), "",
        "## Communication per segment", "",
        f"- Inside a segment: the compiled segment program for the {comm['devices']}-device "
        f"mesh ({comm['runs']} runs, {comm['segment_updates']} updates per segment) has "
        + ", ".join(f"{v} {k}" for k, v in found.items())
        + " ops: the devices exchange nothing while they train (the same search finds "
        + ", ".join(f"{v} {k}" for k, v in comm["collectives_in_sharded_sum"].items() if v)
        + " in a sum over the sharded run axis, the control).",
        f"- Between segments: `run_sweep` all-gathers the segment's metrics, "
        f"{len(comm['metrics'])} arrays of `[runs, segment_updates]` = "
        f"**{comm['gathered_bytes_per_segment']:,} bytes** in all; over 2 processes each "
        f"receives its peer's half, {comm['received_bytes_per_process_per_segment']:,} "
        "bytes per segment.",
        "- Inputs: each process feeds its own rows of the run axis "
        "(`jax.make_array_from_process_local_data`), so keys, run indices and hyperparameters "
        "are not sent; checkpoints are written by each process to a shared filesystem "
        f"(the whole training state of the 4 runs is {comm['state_bytes_all_runs']:,} bytes, "
        "half per process), not sent to process 0. The barriers (run directory, orbax) "
        "exchange a few bytes each.",
        "- How computed: collective ops counted in `compiled.as_text()` of the segment "
        "compiled exactly as `run_sweep` compiles it (`python benchmarks/multihost.py "
        "bytes` with 2 CPU devices); bytes from `jax.eval_shape` of the segment's metric "
        "outputs (shape x itemsize).", "", f"Command: `{command}`"]
    with open(os.path.join(RESULTS, "multihost.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
