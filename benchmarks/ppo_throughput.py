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
  function (``bench_worker.mean_return``: 128 sampled episodes per seed, mean over seeds),
  after the same number of updates.

    python benchmarks/ppo_throughput.py [--blocks 2] [--updates 1=40,8=12,64=4]

Writes ``benchmarks/results/ppo_throughput.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    "gradient clip: purerl clips the global norm of all gradients (0.5); rejax clips each "
    "gradient element to [-0.5, 0.5] (`optax.clip`)",
    "optimiser: purerl one Adam (eps 1e-5) over actor + critic, learning rate injected "
    "into the optimiser state; rejax two Adams (eps 1e-8), one per network",
    "loss: purerl one backward pass of pg + vf + entropy; rejax two (actor, then critic) on "
    "the same minibatch (same gradients: the torsos are separate)",
    "time limits: purerl bootstraps truncated episodes from V(final obs), one extra batched "
    "critic pass over the T x N final observations per update; rejax treats the CartPole "
    "time limit as a terminal state (no bootstrap, no extra pass)",
    "episode statistics: purerl's env stack carries RecordEpisodeStats and its program "
    "returns per-update metrics (return sums and counts, losses, KL, clip fraction); "
    "rejax's timed program returns none (its evaluation callback is replaced by a constant)",
    "initialisation: purerl orthogonal (sqrt 2, policy head 0.01, value head 1); rejax "
    "flax defaults (LeCun normal); no effect on speed",
    "CartPole: gymnax 1.0.1 behind purerl's adapter vs gymnax 0.0.9 (same dynamics; 1.0.1 "
    "reports the time limit as truncation); the bandit is purerl's env on both sides",
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
                                 log_every=0, anneal_lr=False,
                                 hidden_size=hparams["hidden_sizes"][0],
                                 **{k: hparams[k] for k in keys})
        parts = ppo_cli.build(self.args)
        keys = jax.random.split(jax.random.PRNGKey(0), num_seeds)
        self.state = jax.jit(jax.vmap(parts.init))(keys, np.arange(num_seeds))
        t0 = time.perf_counter()
        run = jax.vmap(lambda s: parts.run_updates(s, updates))
        self.compiled = jax.jit(run).lower(self.state).compile()
        return {"compile_s": time.perf_counter() - t0}

    def rep(self) -> None:
        import jax

        self.state, metrics = self.compiled(self.state)
        jax.block_until_ready((self.state, metrics))

    def score(self) -> dict:
        import distrax
        import jax
        import jax.numpy as jnp
        import numpy as np

        import envs_jax
        from bench_worker import mean_return
        from purerl.common.networks import MLPActorCritic

        env, env_params = envs_jax.make(self.args.env_id)
        net = MLPActorCritic(env.action_space(env_params).n,
                             (self.args.hidden_size, self.args.hidden_size))
        max_steps = 500 if self.args.env_id.startswith("gymnax/") else HPARAMS["num_episodes"]

        def one_seed(params, key):
            def act(obs, k):
                _, logits, _ = net.apply(params, net.initial_hidden(obs.shape[0]), obs[None],
                                         jnp.zeros((1, obs.shape[0]), bool))
                return distrax.Categorical(logits=logits[0]).sample(seed=k)

            def step(k, state, action):
                ts = env.step(k, state, action, env_params)
                return ts.obs, ts.state, ts.reward, ts.terminated | ts.truncated

            return mean_return(act, lambda k: env.reset(k, env_params), step, key, max_steps)

        params = self.state.train_state.params
        num_seeds = jax.tree.leaves(params)[0].shape[0]
        keys = jax.random.split(jax.random.PRNGKey(1), num_seeds)
        per_seed = np.asarray(jax.jit(jax.vmap(one_seed))(params, keys))
        return {"final_return": float(per_seed.mean()), "per_seed": per_seed.tolist()}


# ---------------------------------------------------------------------------------------
# parent: never imports JAX
# ---------------------------------------------------------------------------------------

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

    def receive(self) -> dict:
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


def start_workers(log) -> dict[str, Worker]:
    ours = os.environ.copy()
    theirs = os.environ.copy()
    flags = [f for f in theirs.get("XLA_FLAGS", "").split() if f not in OUR_XLA_FLAGS]
    theirs["XLA_FLAGS"] = " ".join(flags)
    theirs["PURERL_KEEP_XLA_FLAGS"] = "1"  # importing envs_jax (bandit) must not add it
    return {
        "purerl": Worker("purerl", [sys.executable, os.path.abspath(__file__), "--worker"],
                         ours, log),
        "rejax": Worker("rejax", [ensure_peer_venv(), os.path.join(PEERS, "ppo_peers.py")],
                        theirs, log),
    }


def measure(workers: dict[str, Worker], env: str, num_seeds: int, updates: int,
            blocks: int) -> dict:
    """Compile, warm up and time both sides on one (env, seeds); one results row."""
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
    block_ratios = []
    for b in range(blocks):
        order = ["purerl", "rejax", "rejax", "purerl"]
        if b % 2:
            order = order[::-1]
        this_block = {n: [] for n in workers}
        for name in order:
            rep = workers[name].timed_rep(steps) | {"block": b}
            row["sides"][name]["reps"].append(rep)
            this_block[name].append(rep)
            print(f"  {env} S={num_seeds} block {b} {name:6s} {rep['steps_per_s']:>9,.0f} "
                  f"steps/s  others {rep['others_cores']:.2f} cores  load1 {rep['load1']:.2f}",
                  flush=True)
        rate = {n: sum(r["steps"] for r in v) / sum(r["wall_s"] for r in v)
                for n, v in this_block.items()}
        block_ratios.append(rate["purerl"] / rate["rejax"])
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
    return row


def write_results(rows: list[dict], meta: dict, out_base: str) -> None:
    with open(out_base + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    p, q = meta["sides"]["purerl"], meta["sides"]["rejax"]
    lines = [
        "# PPO throughput: purerl vs rejax (interleaved, both resident)", "",
        f"Command: `{meta['command']}`  ", f"Date: {meta['date']}  ",
        f"Machine: {meta['machine']}  ",
        f"Load average (1, 5, 15 min) at start: {meta['load_start']}, at end: "
        f"{meta['load_end']}  ",
        f"purerl worker: XLA_FLAGS=`{p['xla_flags']}`, {json.dumps(p['versions'])}  ",
        f"rejax worker: XLA_FLAGS=`{q['xla_flags']}`, {json.dumps(q['versions'])}", "",
        "Problem: " + json.dumps(HPARAMS) + ". Method: see the docstring of "
        "`benchmarks/ppo_throughput.py` (warm-up call, then blocks A B B A / B A A B, every "
        "call continuing the previous training state).", "",
        "| env | seeds | updates/call | purerl steps/s median (min..max) | rejax steps/s median "
        "(min..max) | ratio purerl/rejax: median of blocks (blocks) | other processes' CPU, "
        "cores (purerl / rejax calls) | compile s purerl / rejax | return after N updates "
        "purerl / rejax |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, b = r["sides"]["purerl"], r["sides"]["rejax"]
        span = lambda s: f"{s['steps_per_s_median']:,.0f} ({s['steps_per_s_range'][0]:,.0f}..{s['steps_per_s_range'][1]:,.0f})"  # noqa: E731,E501
        lines.append(
            f"| {r['env']} | {r['num_seeds']} | {r['updates_per_call']} | {span(a)} | {span(b)} "
            f"| **{r['ratio']:.2f}x** ({', '.join(f'{x:.2f}' for x in r['block_ratios'])}) | "
            f"{a['others_cores_median']:.2f} / {b['others_cores_median']:.2f} | "
            f"{a['compile_s']:.1f} / {b['compile_s']:.1f} | N={r['total_updates']}: "
            f"{a['final_return']:.1f} / {b['final_return']:.1f} |")
    brax = q.get("brax", {})
    lines += ["", "Return: each side scores its final policies with the same function "
              "(`benchmarks/peers/bench_worker.py:mean_return`): 128 episodes per seed with "
              "sampled actions, mean over seeds, after the same N updates.", "",
              "What still differs between the two problems:", ""]
    lines += [f"- {d}" for d in DIFFERENCES]
    lines += ["", f"Brax PPO trainer: {brax.get('status', 'not run')}"
              + (f" (`{brax.get('error')}` at `{brax.get('where')}`)" if brax.get("error") else "")]
    with open(out_base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


def parse_updates(text: str) -> dict[int, int]:
    """``"1=40,8=12,64=4"`` -> ``{1: 40, 8: 12, 64: 4}``."""
    return {int(s): int(u) for s, u in (p.split("=") for p in text.split(","))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--updates", default="1=40,8=12,64=4",
                        help="updates per timed call for each seed count S (S=U,...)")
    parser.add_argument("--envs", default="CartPole-v1,bandit")
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
            "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, "
                       f"{platform.processor() or platform.machine()}"}
    log_path = os.path.join(tempfile.gettempdir(), "ppo_throughput.workers.log")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        workers = start_workers(log)
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
    print(open(args.out + ".md").read())


if __name__ == "__main__":
    main()
