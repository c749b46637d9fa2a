"""CQL training speed: purerl (JAX, K SGD steps per compiled call) vs d3rlpy (PyTorch).

Setting (issue 7): K = 200 SGD steps per call, per-step batch 256, critics (256, 256, 256),
actor (256, 256), 2 critics, 10 importance actions; data = hopper-medium-v2-shaped random
transitions (``envs_jax.offline.synthetic.shaped_random_d4rl``; the speed of an SGD step
does not depend on the numbers). Compile / warm-up time is reported apart from the timed
steady-state steps. The two libraries need different environments, so this script has
three modes::

    # 1. purerl (project venv): writes the shared data file and purerl's result
    python benchmarks/cql_speed.py purerl --data /tmp/cql_speed.npz
    # 2. d3rlpy (its own venv: benchmarks/.venv-d3rlpy, torch 2.13.0 CPU + d3rlpy)
    benchmarks/.venv-d3rlpy/bin/python benchmarks/cql_speed.py d3rlpy --data /tmp/cql_speed.npz
    # 3. the table: benchmarks/results/cql_speed.md
    python benchmarks/cql_speed.py report

Per-mode results go to ``benchmarks/results/cql_speed_<impl>.json``.

Like for like (the method the results table reports)::

    python benchmarks/cql_speed.py compare [--old_tree /tmp/purerl-old] [--pin 0]

starts every side as a resident worker process (purerl from this tree; optionally purerl
from an older source tree; d3rlpy from ``benchmarks/.venv-d3rlpy`` without purerl's XLA
flag), sets all of them up (compile / warm-up), then times one rep of each in the order
A B C C B A (``--rounds`` times): this host drifts ~2x from minute to minute, so the sides
must alternate. Both sides run at their default threads, or all pinned to the same core
with ``--pin 0`` (``taskset``). Each rep records wall and CPU seconds and the load average;
results in ``benchmarks/results/cql_speed_compare_<default_threads|pinned>.json``. Per SGD
step d3rlpy's CQL does more critic work (3N + 1 critic inputs per state against our 2N + 1,
N = 10: 31 / 21 = 1.48x), so the fair comparison is the ratio per unit of critic work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
TASK = "hopper-medium-v2"
K, BATCH, CRITIC, ACTOR, NUM_CRITICS, NUM_ACTS = 200, 256, (256, 256, 256), (256, 256), 2, 10


def _machine() -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "processor": platform.processor(),
            "load_avg_1min_at_start": os.getloadavg()[0]}


def _write(name: str, result: dict) -> None:
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"cql_speed_{name}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")


def make_data(path: str, rows: int) -> None:
    """hopper-shaped random transitions (qlearning layout) to ``path`` (.npz)."""
    from envs_jax.offline import qlearning_dataset, spec_for
    from envs_jax.offline.synthetic import shaped_random_d4rl

    spec = spec_for(TASK)
    data = qlearning_dataset(shaped_random_d4rl(spec, rows, seed=0), spec.max_episode_steps)
    np.savez(path, **{k: np.asarray(v) for k, v in data.items()})


def bench_purerl(args) -> dict:
    import jax

    from envs_jax.offline import from_numpy
    from purerl.algos import cql

    if not os.path.exists(args.data):
        make_data(args.data, args.rows)
    raw = dict(np.load(args.data))
    dataset = from_numpy(raw["observations"], raw["actions"], raw["rewards"],
                         raw["next_observations"], raw["terminals"])
    cfg = cql.Config(actor_hidden_sizes=ACTOR, critic_hidden_sizes=CRITIC,
                     num_critics=NUM_CRITICS, num_importance_acts=NUM_ACTS,
                     sgd_steps_per_call=K, sgd_batch_size=BATCH,
                     num_bc_iters=0)  # time the full RL + CQL step, not the BC shortcut
    learner = cql.make_learner(cfg, dataset.obs_dim, dataset.action_dim)
    t0 = time.perf_counter()
    init = jax.jit(learner.init).lower(jax.random.PRNGKey(0)).compile()
    state = init(jax.random.PRNGKey(0))
    call = jax.jit(learner.train_call, donate_argnums=0).lower(state, dataset).compile()
    compile_s = time.perf_counter() - t0
    state, _ = call(state, dataset)                     # one untimed call (warm caches)
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    for _ in range(args.calls):
        state, metrics = call(state, dataset)
    jax.block_until_ready(state)
    run_s = time.perf_counter() - t0
    steps = args.calls * K
    return {"impl": "purerl", "jax": jax.__version__, "backend": jax.default_backend(),
            "compile_s": compile_s, "timed_sgd_steps": steps, "timed_s": run_s,
            "sgd_steps_per_s": steps / run_s, "rows": int(dataset.size),
            "final_critic_loss": float(metrics["total_critic_loss"]), "machine": _machine()}


def bench_d3rlpy(args) -> dict:
    import d3rlpy
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    raw = dict(np.load(args.data))
    # d3rlpy builds transitions from episodes; terminals end episodes, a timeout flag on
    # the last row of each 1000-step chunk keeps episode boundaries like D4RL's.
    n = raw["observations"].shape[0]
    timeouts = np.zeros(n, bool)
    timeouts[999::1000] = True
    timeouts[-1] = True
    dataset = d3rlpy.dataset.MDPDataset(raw["observations"], raw["actions"], raw["rewards"],
                                        raw["terminals"].astype(np.float32), timeouts=timeouts)
    enc_critic = d3rlpy.models.VectorEncoderFactory(hidden_units=list(CRITIC))
    enc_actor = d3rlpy.models.VectorEncoderFactory(hidden_units=list(ACTOR))
    algo = d3rlpy.algos.CQLConfig(
        batch_size=BATCH, actor_learning_rate=3e-5, critic_learning_rate=3e-4,
        temp_learning_rate=3e-4, alpha_learning_rate=0.0, conservative_weight=5.0,
        n_action_samples=NUM_ACTS, n_critics=NUM_CRITICS, actor_encoder_factory=enc_actor,
        critic_encoder_factory=enc_critic).create(device="cpu:0")
    kwargs = {"show_progress": False, "save_interval": 10**9,
              "logger_adapter": d3rlpy.logging.NoopAdapterFactory()}
    t0 = time.perf_counter()
    algo.fit(dataset, n_steps=args.warmup_steps, n_steps_per_epoch=args.warmup_steps, **kwargs)
    warmup_s = time.perf_counter() - t0
    steps = args.calls * K
    t0 = time.perf_counter()
    algo.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, **kwargs)
    run_s = time.perf_counter() - t0
    return {"impl": "d3rlpy", "d3rlpy": d3rlpy.__version__, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "warmup_steps": args.warmup_steps,
            "warmup_s": warmup_s, "timed_sgd_steps": steps, "timed_s": run_s,
            "sgd_steps_per_s": steps / run_s, "rows": n, "machine": _machine()}


def report() -> None:
    res = {}
    for impl in ("purerl", "d3rlpy"):
        path = os.path.join(RESULTS, f"cql_speed_{impl}.json")
        if os.path.exists(path):
            with open(path) as f:
                res[impl] = json.load(f)
    lines = ["# CQL training speed: purerl vs d3rlpy", "",
             (f"CQL SGD steps per second, K={K} SGD steps per compiled call (purerl), "
              f"per-step batch {BATCH}, critics {CRITIC} x {NUM_CRITICS}, actor {ACTOR}, "
              f"{NUM_ACTS} importance actions, {TASK}-shaped random data (speed does not "
              "depend on the values). Compile / warm-up time is listed apart and excluded "
              "from the rate."), "",
             ("| implementation | versions | SGD steps/s | timed steps | timed s | "
              "compile / warm-up s |"), "|---|---|---|---|---|---|"]
    for impl, r in res.items():
        versions = (f"jax {r['jax']} ({r['backend']})" if impl == "purerl"
                    else f"d3rlpy {r['d3rlpy']}, torch {r['torch']} ({r['torch_threads']} threads)")
        setup = r.get("compile_s", r.get("warmup_s"))
        lines.append(f"| {impl} | {versions} | {r['sgd_steps_per_s']:.1f} | "
                     f"{r['timed_sgd_steps']} | {r['timed_s']:.1f} | {setup:.1f} |")
    if len(res) == 2:
        ratio = res["purerl"]["sgd_steps_per_s"] / res["d3rlpy"]["sgd_steps_per_s"]
        lines += ["", f"purerl / d3rlpy: **{ratio:.2f}x**"]
    any_r = next(iter(res.values()), None)
    if any_r:
        m = any_r["machine"]
        lines += ["", f"Machine: {m['platform']}, {m['cpu_count']} CPU cores, no GPU; "
                  f"python {m['python']}; 1-min load average at start: "
                  + ", ".join(f"{k} {v['machine']['load_avg_1min_at_start']:.1f}"
                              for k, v in res.items())
                  + " (the machine is shared, so absolute numbers are noisy)."]
    lines += [
        "", "Notes:",
        "- Same data (one .npz of 199,800 transitions) and machine; both in float32 on CPU.",
        ("- Workload is not identical: d3rlpy's CQL also scores N policy actions at s' in "
         "the conservative logsumexp (3N + 1 critic evaluations per state vs our 2N + 1, "
         "the seed's variant), so per unit of critic work the gap is about 2/3 of the "
         "ratio."),
        ("- purerl ran with XLA_FLAGS=--xla_cpu_multi_thread_eigen=false (this machine's "
         "XLA:CPU wedge workaround: single-threaded matmuls); torch used 2 threads."),
        ("- purerl's compile time is the ahead-of-time compile of init + one K=200 call; "
         "d3rlpy's warm-up is its first 50 steps (dataset build included)."),
        "", "Commands:", "```",
        "export XLA_FLAGS=--xla_cpu_multi_thread_eigen=false",
        "python benchmarks/cql_speed.py purerl --data /tmp/cql_speed.npz --calls 3",
        ("benchmarks/.venv-d3rlpy/bin/python benchmarks/cql_speed.py d3rlpy "
         "--data /tmp/cql_speed.npz --calls 3"),
        "python benchmarks/cql_speed.py report", "```"]
    path = os.path.join(RESULTS, "cql_speed.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


# ------------------------------------------------------- interleaved comparison (compare)


def setup_purerl(args):
    """Compile purerl's K-step call (new API, or the pre-refactor ``offline_common``)."""
    import jax

    from envs_jax.offline import from_numpy

    raw = dict(np.load(args.data))
    dataset = from_numpy(raw["observations"], raw["actions"], raw["rewards"],
                         raw["next_observations"], raw["terminals"])
    try:
        from purerl.algos import cql
        cfg = cql.Config(actor_hidden_sizes=ACTOR, critic_hidden_sizes=CRITIC,
                         num_critics=NUM_CRITICS, num_importance_acts=NUM_ACTS,
                         sgd_steps_per_call=K, sgd_batch_size=BATCH, num_bc_iters=0)
        learner = cql.make_learner(cfg, dataset.obs_dim, dataset.action_dim)
    except (ImportError, AttributeError, TypeError):   # the tree before the SAC spine
        from purerl.algos.offline_common import LearnerConfig, make_learner
        cfg = LearnerConfig(actor_hidden_sizes=ACTOR, critic_hidden_sizes=CRITIC,
                            num_critics=NUM_CRITICS, num_importance_acts=NUM_ACTS,
                            num_sgd_steps_per_step=K, per_step_batch_size=BATCH,
                            num_bc_iters=0)
        learner = make_learner(cfg, dataset.obs_dim, dataset.action_dim)
    t0 = time.perf_counter()
    state = jax.jit(learner.init)(jax.random.PRNGKey(0))
    call = jax.jit(learner.train_call, donate_argnums=0).lower(state, dataset).compile()
    holder = {"state": call(state, dataset)[0]}           # one untimed call (warm-up)
    jax.block_until_ready(holder["state"])
    info = {"jax": jax.__version__, "setup_s": time.perf_counter() - t0,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "steps_per_rep": K}

    def rep():
        holder["state"], _ = call(holder["state"], dataset)
        jax.block_until_ready(holder["state"])
        return K

    return info, rep


def setup_d3rlpy(args):
    """Build d3rlpy's CQL on the same data; one rep = ``--d3rlpy_steps`` SGD steps."""
    import d3rlpy
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    raw = dict(np.load(args.data))
    n = raw["observations"].shape[0]
    timeouts = np.zeros(n, bool)
    timeouts[999::1000] = True
    timeouts[-1] = True
    dataset = d3rlpy.dataset.MDPDataset(raw["observations"], raw["actions"], raw["rewards"],
                                        raw["terminals"].astype(np.float32), timeouts=timeouts)
    algo = d3rlpy.algos.CQLConfig(
        batch_size=BATCH, actor_learning_rate=3e-5, critic_learning_rate=3e-4,
        temp_learning_rate=3e-4, alpha_learning_rate=0.0, conservative_weight=5.0,
        n_action_samples=NUM_ACTS, n_critics=NUM_CRITICS,
        actor_encoder_factory=d3rlpy.models.VectorEncoderFactory(hidden_units=list(ACTOR)),
        critic_encoder_factory=d3rlpy.models.VectorEncoderFactory(hidden_units=list(CRITIC)),
    ).create(device="cpu:0")
    kwargs = {"show_progress": False, "save_interval": 10**9,
              "logger_adapter": d3rlpy.logging.NoopAdapterFactory()}
    steps = args.d3rlpy_steps
    t0 = time.perf_counter()
    algo.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, **kwargs)   # warm-up
    info = {"d3rlpy": d3rlpy.__version__, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "setup_s": time.perf_counter() - t0,
            "steps_per_rep": steps}

    def rep():
        algo.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, **kwargs)
        return steps

    return info, rep


def worker(args) -> None:
    """Resident side: set up, then answer ``rep`` lines on stdin with one JSON line each
    (SGD steps, wall seconds, CPU seconds of this process); stdout carries only replies."""
    real_stdout, sys.stdout = sys.stdout, sys.stderr
    info, rep = (setup_purerl if args.impl == "purerl" else setup_d3rlpy)(args)
    print(json.dumps(info), file=real_stdout, flush=True)
    for line in sys.stdin:
        if line.strip() != "rep":
            break
        w0, c0 = time.perf_counter(), time.process_time()
        steps = rep()
        reply = {"steps": steps, "wall_s": time.perf_counter() - w0,
                 "cpu_s": time.process_time() - c0}
        print(json.dumps(reply), file=real_stdout, flush=True)


def compare(args) -> None:
    """Start the sides as resident workers, then time reps in the order A B C C B A."""
    import subprocess

    if not os.path.exists(args.data):
        make_data(args.data, args.rows)
    root = os.path.dirname(HERE)
    sides = {"purerl": (sys.executable, root, "purerl")}
    if args.old_tree:
        sides["purerl-old"] = (sys.executable, os.path.abspath(args.old_tree), "purerl")
    if os.path.exists(args.d3rlpy_python):
        sides["d3rlpy"] = (args.d3rlpy_python, root, "d3rlpy")
    procs, infos = {}, {}
    for name, (python, tree, impl) in sides.items():
        cmd = [python, os.path.abspath(__file__), "worker", "--impl", impl, "--data", args.data,
               "--d3rlpy_steps", str(args.d3rlpy_steps)]
        if args.pin is not None:
            cmd = ["taskset", "-c", args.pin, *cmd]
        env = {**os.environ, "PYTHONPATH": tree}
        if impl == "d3rlpy":
            env.pop("XLA_FLAGS", None)
        procs[name] = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, cwd=tree)
    for name, p in procs.items():         # set-ups run concurrently; wait for all
        infos[name] = json.loads(p.stdout.readline())
        print(f"{name}: ready {infos[name]}", flush=True)
    order = list(procs) + list(reversed(procs))
    reps = {name: [] for name in procs}
    for _ in range(args.rounds):
        for name in order:
            p = procs[name]
            load = os.getloadavg()[0]
            p.stdin.write("rep\n")
            p.stdin.flush()
            r = json.loads(p.stdout.readline())
            r["rate"] = r["steps"] / r["wall_s"]
            r["load_before"] = load
            reps[name].append(r)
            print(f"  {name}: {r['rate']:.2f} SGD steps/s ({r['cpu_s'] / r['wall_s']:.2f} "
                  f"cores, load {load:.1f})", flush=True)
    for p in procs.values():
        p.stdin.close()
        p.wait()
    rates = {n: float(np.median([r["rate"] for r in v])) for n, v in reps.items()}
    out = {"infos": infos, "reps": reps, "median_sgd_steps_per_s": rates,
           "pin": args.pin, "machine": _machine(),
           "command": "python benchmarks/cql_speed.py " + " ".join(sys.argv[1:])}
    tag = "pinned" if args.pin is not None else "default_threads"
    path = os.path.join(RESULTS, f"cql_speed_compare_{tag}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(rates, indent=1))
    print(f"wrote {path}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("purerl", "d3rlpy", "report", "compare", "worker"))
    parser.add_argument("--impl", choices=("purerl", "d3rlpy"), help="worker side")
    parser.add_argument("--old_tree", default=None,
                        help="compare: a source tree of an older purerl to time beside")
    parser.add_argument("--d3rlpy_python",
                        default=os.path.join(HERE, ".venv-d3rlpy", "bin", "python"))
    parser.add_argument("--d3rlpy_steps", type=int, default=50, help="d3rlpy steps per rep")
    parser.add_argument("--rounds", type=int, default=1, help="compare: A B C C B A rounds")
    parser.add_argument("--pin", default=None,
                        help="compare: run every side under taskset -c PIN (e.g. 0)")
    parser.add_argument("--data", default="/tmp/cql_speed.npz", help="shared data file (.npz)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of generated data")
    parser.add_argument("--calls", type=int, default=5, help="timed calls of K SGD steps")
    parser.add_argument("--warmup_steps", type=int, default=50, help="d3rlpy untimed steps")
    args = parser.parse_args(argv)
    if args.mode == "report":
        report()
    elif args.mode == "compare":
        compare(args)
    elif args.mode == "worker":
        worker(args)
    elif args.mode == "purerl":
        _write("purerl", bench_purerl(args))
    else:
        _write("d3rlpy", bench_d3rlpy(args))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    main()
