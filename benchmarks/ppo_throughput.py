"""PPO throughput: purerl against rejax, both resident, timed calls interleaved A B B A.

The problem (``HPARAMS``): 16 envs x 128 steps, 4 epochs x 4 minibatches of 512 samples,
separate 64x64 tanh actor and critic, constant learning rate, on gymnax ``CartPole-v1`` and
on purerl's ``bernoulli_bandit_trial`` (k=5, n=10), for 1, 8 and 64 vmapped seeds. What still
differs between the two sides is listed in ``DIFFERENCES`` (and in the results file).

How it is measured, so that this shared host's minute-to-minute drift cancels:

* each library runs in its own long-lived worker process, as its users run it: purerl in
  this virtual environment with purerl's XLA:CPU flag; rejax in ``benchmarks/.venv-peers``
  (created from ``benchmarks/peers/requirements.txt`` if missing) with that flag removed
  from ``XLA_FLAGS``. The parent (this process, which never starts JAX) sends "setup" and
  "rep" commands (``benchmarks/peers/bench_worker.py``);
* per (env, seeds): both sides compile (at the same time, each timing its own compile),
  run one untimed warm-up call, then ``--blocks`` blocks of timed calls in the order
  A B B A (then B A A B, ...); every call continues the training state of the previous one;
* around each timed call the parent reads ``/proc/stat``: the CPU used by everything else
  on the machine (cores, = busy jiffies minus the worker's own CPU time, over the call's
  wall-clock) and the 1-minute load average are stored with the call;
* the ratio is the median over blocks of (purerl steps/s) / (rejax steps/s) within the
  block, each side's steps/s being its calls' total steps over their total time in the block;
* returns: after the timed calls both sides score their final policies with the same
  evaluator (``envs_jax.policy.evaluate_episodes``: 128 sampled episodes per seed, mean
  over seeds), after the same number of updates;
* besides wall-clock, each side's steps per CPU-second of its worker (all threads) is
  reported: the other processes take cores from a call, not work.

    python benchmarks/ppo_throughput.py [--blocks 2] [--updates 1=30,8=8,64=2]
        [--sides purerl,rejax]

``--sides`` also takes ``purerl-noflag`` / ``rejax-flag`` (a library with purerl's XLA:CPU
flag the other way round; without it purerl's vmapped init deadlocks, so that worker
initialises seeds one at a time) and ``purerl-seq`` (whole-sequence minibatches), to
measure what each costs.

Writes ``benchmarks/results/ppo_throughput.{md,json}``; the .md ends with the hand-written
profile findings of ``benchmarks/results/ppo_throughput_profile.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "benchmarks", "peers")
PEER_VENV = os.path.join(ROOT, "benchmarks", ".venv-peers")
HPARAMS = {"num_envs": 16, "num_steps": 128, "update_epochs": 4, "num_minibatches": 4,
           "learning_rate": 2.5e-3, "gamma": 0.99, "gae_lambda": 0.95, "clip_eps": 0.2,
           "vf_coef": 0.5, "ent_coef": 0.01, "max_grad_norm": 0.5, "hidden_sizes": [64, 64],
           "num_arms": 5, "num_episodes": 10}
ENVS = {"CartPole-v1": "gymnax/CartPole-v1", "bandit": "bernoulli_bandit_trial"}
OUR_XLA_FLAGS = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",)
DIFFERENCES = [
    ("gradient clip: purerl clips the global norm of all gradients (0.5); rejax clips each "
     "gradient element to [-0.5, 0.5] (`optax.clip`)"),
    ("optimiser: purerl one Adam (eps 1e-5) over actor + critic, learning rate injected "
     "into the optimiser state; rejax two Adams (eps 1e-8), one per network"),
    ("loss: purerl one backward pass of pg + vf + entropy; rejax two (actor, then critic) on "
     "the same minibatch (same gradients: the torsos are separate)"),
    ("time limits: purerl bootstraps truncated episodes from V(final obs), one extra batched "
     "critic pass over the T x N final observations per update; rejax treats the CartPole "
     "time limit as a terminal state (no bootstrap, no extra pass)"),
    ("episode statistics: purerl's env stack carries RecordEpisodeStats and its program "
     "returns per-update metrics (return sums and counts, losses, KL, clip fraction); "
     "rejax's timed program returns none (its evaluation callback is replaced by a constant)"),
    ("minibatches: the same on both sides (all T x N steps shuffled every epoch with "
     "`jax.random.permutation`, cut into 4 flat minibatches of 512)"),
    ("initialisation: purerl orthogonal (sqrt 2, policy head 0.01, value head 1); rejax "
     "flax defaults (LeCun normal); no effect on speed"),
    ("CartPole: gymnax 1.0.1 behind purerl's adapter vs gymnax 0.0.9 (same dynamics; 1.0.1 "
     "reports the time limit as truncation); the bandit is purerl's env on both sides"),
]


# ---------------------------------------------------------------------------------------
# purerl side (runs in a worker process: ``ppo_throughput.py --worker``)
# ---------------------------------------------------------------------------------------

class PurerlSide:
    def __init__(self):
        sys.path.insert(0, ROOT)
        sys.path.insert(0, PEERS)
        import purerl  # noqa: F401  (purerl's XLA:CPU flags, as for purerl's users)

        self.compiled = self.state = self.args = None

    def info(self) -> dict:
        import jax

        from purerl.common import logging as lg

        return {"versions": lg.package_versions(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
                "device": str(jax.devices()[0].device_kind),
                "machine": lg.machine_description()}

    def setup(self, env: str, num_seeds: int, updates: int, hparams: dict) -> dict:
        import jax
        import numpy as np

        from purerl.cli import ppo as ppo_cli

        keys = ("num_envs", "num_steps", "update_epochs", "num_minibatches", "learning_rate",
                "gamma", "gae_lambda", "clip_eps", "vf_coef", "ent_coef", "max_grad_norm")
        self.args = ppo_cli.Args(env_id=ENVS[env], num_updates=updates, num_seeds=num_seeds,
                                 log_every=0, lr_schedule="constant",
                                 minibatch=os.environ.get("PPO_BENCH_MINIBATCH", "auto"),
                                 hidden_size=hparams["hidden_sizes"][0],
                                 **{k: hparams[k] for k in keys})
        parts = ppo_cli.build(self.args)
        keys = jax.random.split(jax.random.PRNGKey(0), num_seeds)
        if OUR_XLA_FLAGS[0] in os.environ.get("XLA_FLAGS", ""):
            self.state = jax.jit(jax.vmap(parts.init))(keys, np.arange(num_seeds))
        else:  # without the flag the vmapped init deadlocks XLA:CPU: one seed at a time
            one = jax.jit(parts.init)
            states = [one(keys[i], i) for i in range(num_seeds)]
            self.state = jax.tree.map(lambda *x: np.stack(x), *states)
        t0 = time.perf_counter()
        run = jax.vmap(lambda s: parts.run_updates(s, updates))
        self.compiled = jax.jit(run).lower(self.state).compile()
        return {"compile_s": time.perf_counter() - t0}

    def rep(self) -> None:
        import jax

        self.state, metrics = self.compiled(self.state)
        jax.block_until_ready((self.state, metrics))

    def score(self) -> dict:
        import jax
        import numpy as np
        from bench_worker import EVAL_EPISODES

        import envs_jax
        from envs_jax.policy import evaluate_episodes
        from purerl.common.evaluate import network_policy
        from purerl.common.networks import MLPActorCritic

        env, env_params = envs_jax.make(self.args.env_id)
        net = MLPActorCritic(env.action_space(env_params).n,
                             (self.args.hidden_size, self.args.hidden_size))
        max_steps = 500 if self.args.env_id.startswith("gymnax/") else HPARAMS["num_episodes"]

        def one_seed(params, key):
            stats = evaluate_episodes(env, env_params, network_policy(net, params), key,
                                      EVAL_EPISODES, max_steps)
            return stats.returns.mean()

        params = self.state.train_state.params
        num_seeds = jax.tree.leaves(params)[0].shape[0]
        keys = jax.random.split(jax.random.PRNGKey(1), num_seeds)
        per_seed = np.asarray(jax.jit(jax.vmap(one_seed))(params, keys))
        return {"final_return": float(per_seed.mean()), "per_seed": per_seed.tolist()}


# ---------------------------------------------------------------------------------------
# parent: never imports JAX
# ---------------------------------------------------------------------------------------

def cpu_model() -> str:
    """The CPU's ``model name`` from ``/proc/cpuinfo`` (else ``platform.machine()``)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from ``/proc/stat``."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


class Worker:
    """A worker process and its line protocol."""

    def __init__(self, name: str, cmd: list[str], env: dict, log):
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, text=True, env=env, cwd=ROOT)

    def send(self, cmd: str, **kw) -> None:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout_s: float = 900.0) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:  # e.g. the XLA:CPU scheduler deadlock (envs_jax/_xla.py)
            raise RuntimeError(f"{self.name} worker: no reply in {timeout_s:.0f} s (hung?)")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} worker died (see the worker log)")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.name} worker: {reply['error']}")
        return reply

    def ask(self, cmd: str, **kw) -> dict:
        self.send(cmd, **kw)
        return self.receive()

    def timed_rep(self, steps: int) -> dict:
        load1 = os.getloadavg()[0]
        busy0, _ = cpu_jiffies()
        reply = self.ask("rep")
        busy1, _ = cpu_jiffies()
        tick = os.sysconf("SC_CLK_TCK")
        others = max(0.0, (busy1 - busy0) / tick - reply["cpu_s"]) / reply["wall_s"]
        return {**reply, "steps": steps, "steps_per_s": steps / reply["wall_s"],
                "load1": load1, "others_cores": others}

    def close(self) -> None:
        try:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def ask_all(workers: dict[str, Worker], cmd: str, **kw) -> dict[str, dict]:
    """Send ``cmd`` to every worker, then collect the replies (the workers run at once)."""
    for w in workers.values():
        w.send(cmd, **kw)
    return {n: w.receive() for n, w in workers.items()}


def ensure_peer_venv() -> str:
    python = os.path.join(PEER_VENV, "bin", "python")
    if not os.path.exists(python):
        print(f"creating {PEER_VENV} (rejax, gymnax 0.0.9, brax) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", PEER_VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "-r",
                        os.path.join(PEERS, "requirements.txt")], check=True)
    return python


SIDES = ("purerl", "rejax", "purerl-noflag", "rejax-flag", "purerl-seq")
"""Worker kinds for ``--sides``: each library as its users run it (purerl with its XLA:CPU
flag, rejax without), or with the flag the other way round (to measure what it costs);
``purerl-seq`` is purerl with whole-sequence minibatches (``minibatch='sequence'``: the
layout of purerl before flat minibatches, bitwise the same numbers)."""


def start_workers(sides: list[str], log) -> dict[str, Worker]:
    workers = {}
    for side in sides:
        env = os.environ.copy()
        flags = [f for f in env.get("XLA_FLAGS", "").split() if f not in OUR_XLA_FLAGS]
        if side in ("purerl", "purerl-seq", "rejax-flag"):
            flags += list(OUR_XLA_FLAGS)
        env["XLA_FLAGS"] = " ".join(flags)
        env["PURERL_KEEP_XLA_FLAGS"] = "1"  # importing purerl / envs_jax adds nothing more
        env["PPO_BENCH_MINIBATCH"] = "sequence" if side == "purerl-seq" else "auto"
        if side.startswith("purerl"):
            cmd = [sys.executable, os.path.abspath(__file__), "--worker"]
        else:
            cmd = [ensure_peer_venv(), os.path.join(PEERS, "ppo_peers.py")]
        workers[side] = Worker(side, cmd, env, log)
    return workers


def interleaved_blocks(workers: dict, first: str, second: str, steps: int, blocks: int,
                       row: dict, label: str) -> list[float]:
    """Timed reps in blocks A B B A (odd blocks B A A B), appended to
    ``row["sides"][name]["reps"]``; returns each block's steps/s ratio first / second
    (this host drifts ~2x from minute to minute, so only same-block ratios compare)."""
    block_ratios = []
    for b in range(blocks):
        order = [first, second, second, first]
        if b % 2:
            order = order[::-1]
        this_block = {n: [] for n in workers}
        for name in order:
            rep = workers[name].timed_rep(steps) | {"block": b}
            row["sides"][name]["reps"].append(rep)
            this_block[name].append(rep)
            print(f"  {label} block {b} {name:13s} {rep['steps_per_s']:>9,.0f} "
                  f"steps/s  others {rep['others_cores']:.2f} cores  load1 {rep['load1']:.2f}",
                  flush=True)
        rate = {n: sum(r["steps"] for r in v) / sum(r["wall_s"] for r in v)
                for n, v in this_block.items()}
        block_ratios.append(rate[first] / rate[second])
    return block_ratios


def measure(workers: dict[str, Worker], env: str, num_seeds: int, updates: int,
            blocks: int) -> dict:
    """Compile, warm up and time both sides on one (env, seeds); one results row. The
    ratio is first side / second side."""
    first, second = workers
    steps = num_seeds * updates * HPARAMS["num_envs"] * HPARAMS["num_steps"]
    row = {"env": env, "num_seeds": num_seeds, "updates_per_call": updates,
           "steps_per_call": steps, "sides": {}}
    # Both sides compile at the same time (each in its own process): halves the wall-clock
    # of the run on a loaded host; each compile time is measured under the other compile.
    setups = ask_all(workers, "setup", env=env, num_seeds=num_seeds, updates=updates,
                     hparams=HPARAMS)
    for name, reply in setups.items():
        row["sides"][name] = {**reply, "reps": []}
    for w in workers.values():
        w.ask("rep")  # warm-up: first-call costs (allocation, thread pools) stay out
    block_ratios = interleaved_blocks(workers, first, second, steps, blocks, row,
                                      f"{env} S={num_seeds}")
    row["block_ratios"] = block_ratios
    row["ratio"] = statistics.median(block_ratios)
    total_updates = updates * (1 + 2 * blocks)
    row["total_updates"] = total_updates
    for name, reply in ask_all(workers, "score").items():
        side = row["sides"][name]
        side.update(reply)
        rates = [r["steps_per_s"] for r in side["reps"]]
        side["steps_per_s_median"] = statistics.median(rates)
        side["steps_per_s_range"] = [min(rates), max(rates)]
        side["others_cores_median"] = statistics.median(r["others_cores"] for r in side["reps"])
        # Steps per CPU-second of the worker (all its threads): what a call costs, less
        # sensitive to the other processes than wall-clock (they take cores, not work).
        side["steps_per_cpu_s"] = (sum(r["steps"] for r in side["reps"])
                                   / sum(r["cpu_s"] for r in side["reps"]))
    return row


def write_results(rows: list[dict], meta: dict, out_base: str) -> None:
    with open(out_base + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    a_name, b_name = meta["sides_order"]
    p, q = meta["sides"][a_name], meta["sides"][b_name]
    lines = [
        f"# PPO throughput: {a_name} vs {b_name} (interleaved, both resident)", "",
        f"Command: `{meta['command']}`  ", f"Date: {meta['date']}  ",
        f"Machine: {meta['machine']}  ",
        (f"Load average (1, 5, 15 min) at start: {meta['load_start']}, at end: "
        f"{meta['load_end']}; whole run {meta['wall_clock_s'] / 60:.1f} min  "),
        f"{a_name} worker: XLA_FLAGS=`{p['xla_flags']}`, {json.dumps(p['versions'])}  ",
        f"{b_name} worker: XLA_FLAGS=`{q['xla_flags']}`, {json.dumps(q['versions'])}", "",
        "Problem: " + json.dumps(HPARAMS) + ". Method: see the docstring of "
        "`benchmarks/ppo_throughput.py` (warm-up call, then blocks A B B A / B A A B, every "
        "call continuing the previous training state).", "",
        (f"| env | seeds | updates/call | {a_name} steps/s median (min..max) | {b_name} steps/s "
        f"median (min..max) | ratio: median of blocks (blocks) | ratio of steps per "
        f"CPU-second | other processes' CPU, cores | compile s | return after N updates |"),
        "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, b = r["sides"][a_name], r["sides"][b_name]
        span = lambda s: f"{s['steps_per_s_median']:,.0f} ({s['steps_per_s_range'][0]:,.0f}..{s['steps_per_s_range'][1]:,.0f})"
        lines.append(
            f"| {r['env']} | {r['num_seeds']} | {r['updates_per_call']} | {span(a)} | {span(b)} "
            f"| **{r['ratio']:.2f}x** ({', '.join(f'{x:.2f}' for x in r['block_ratios'])}) | "
            f"{a['steps_per_cpu_s'] / b['steps_per_cpu_s']:.2f}x | "
            f"{a['others_cores_median']:.2f} / {b['others_cores_median']:.2f} | "
            f"{a['compile_s']:.1f} / {b['compile_s']:.1f} | N={r['total_updates']}: "
            f"{a['final_return']:.1f} / {b['final_return']:.1f} |")
    brax = next((s["brax"] for s in meta["sides"].values() if "brax" in s), {})
    lines += ["", ("Columns with two numbers are first side / second side. Return: each side "
              "scores its final policies with the same evaluator "
              "(`envs_jax.policy.evaluate_episodes`): 128 episodes per seed with sampled "
              "actions, mean over seeds, after the same N updates."), ""]
    if {a_name, b_name} & {"rejax", "rejax-flag"}:
        lines += ["What still differs between the two problems:", ""]
        lines += [f"- {d}" for d in DIFFERENCES]
        lines += ["", f"Brax PPO trainer: {brax.get('status', 'not run')}"
                  + (f" (`{brax.get('error')}` at `{brax.get('where')}`)"
                     if brax.get("error") else "")]
    notes = os.path.join(os.path.dirname(out_base), "ppo_throughput_profile.md")
    if os.path.exists(notes):  # the hand-written profile findings (kept across reruns)
        with open(notes) as f:
            lines += ["", f.read().strip()]
    with open(out_base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


def parse_updates(text: str) -> dict[int, int]:
    """``"1=40,8=12,64=4"`` -> ``{1: 40, 8: 12, 64: 4}``."""
    return {int(s): int(u) for s, u in (p.split("=") for p in text.split(","))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--updates", default="1=30,8=8,64=2",
                        help="updates per timed call for each seed count S (S=U,...)")
    parser.add_argument("--envs", default="CartPole-v1,bandit")
    parser.add_argument("--sides", default="purerl,rejax",
                        help=f"two of {', '.join(SIDES)}: A,B (the ratio is A/B)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "ppo_throughput"))
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, PEERS)
        from bench_worker import serve

        serve(PurerlSide())
        return
    updates = parse_updates(args.updates)
    meta = {"command": "python benchmarks/ppo_throughput.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M"), "load_start": os.getloadavg(),
            "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, {cpu_model()}"}
    log_path = os.path.join(tempfile.gettempdir(), "ppo_throughput.workers.log")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        sides = args.sides.split(",")
        if len(sides) != 2 or len(set(sides)) != 2 or not set(sides) <= set(SIDES):
            parser.error(f"--sides: expected two different names of {SIDES}, got {sides}")
        meta["sides_order"] = sides
        workers = start_workers(sides, log)
        try:
            meta["sides"] = ask_all(workers, "info")
            rows = []
            for env in args.envs.split(","):
                for num_seeds, u in updates.items():
                    rows.append(measure(workers, env, num_seeds, u, args.blocks))
        finally:
            for w in workers.values():
                w.close()
    meta["load_end"] = os.getloadavg()
    meta["wall_clock_s"] = time.perf_counter() - t0
    write_results(rows, meta, args.out)
    with open(args.out + ".md") as f:
        print(f.read())


if __name__ == "__main__":
    main()
