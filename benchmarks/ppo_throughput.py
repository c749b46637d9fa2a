"""PPO throughput: purerl against rejax (and Brax's trainer where it runs), one script run.

The same PPO problem (hyperparameters in ``HPARAMS``: 16 envs x 128 steps, 4 epochs x 4
minibatches of 512 samples, separate 64x64 tanh actor and critic, no lr annealing) on
gymnax ``CartPole-v1`` and on purerl's ``bernoulli_bandit_trial`` (k=5, n=10), for 1, 8 and
64 vmapped seeds. purerl runs in this process; the peers run in their own virtual
environment (rejax 0.1.3 needs gymnax 0.0.9's five-value ``step``; created from
``benchmarks/peers/requirements.txt`` if missing) through ``benchmarks/peers/ppo_peers.py``
on the same machine, with the same jax version and the same XLA flags.

Timing: each program is compiled ahead of time (``jit(...).lower(...).compile()``; compile
time reported apart), then called ``--reps`` times; env-steps/s is seeds x steps / median
wall-clock of a call, and the spread is min..max over the calls.

    python benchmarks/ppo_throughput.py [--reps 3] [--updates 50] [--seeds 1,8,64]

Writes ``benchmarks/results/ppo_throughput.{md,json}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import purerl  # noqa: E402,F401  (sets the XLA:CPU workaround flags before jax starts)
import jax  # noqa: E402
import numpy as np  # noqa: E402

from purerl.cli import ppo as ppo_cli  # noqa: E402
from purerl.common import logging as lg  # noqa: E402

PEER_VENV = os.path.join(ROOT, "benchmarks", ".venv-peers")
HPARAMS = {"num_envs": 16, "num_steps": 128, "update_epochs": 4, "num_minibatches": 4,
           "learning_rate": 2.5e-3, "gamma": 0.99, "gae_lambda": 0.95, "clip_eps": 0.2,
           "vf_coef": 0.5, "ent_coef": 0.01, "max_grad_norm": 0.5, "hidden_sizes": [64, 64],
           "num_arms": 5, "num_episodes": 10}
ENVS = {"CartPole-v1": "gymnax/CartPole-v1", "bandit": "bernoulli_bandit_trial"}


def run_purerl(env_name: str, num_updates: int, num_seeds: int, reps: int) -> dict:
    """Compile and time purerl's vmapped train function; one results row."""
    args = ppo_cli.Args(
        env_id=ENVS[env_name], num_updates=num_updates, num_seeds=num_seeds, log_every=0,
        anneal_lr=False, hidden_size=HPARAMS["hidden_sizes"][0],
        **{k: HPARAMS[k] for k in ("num_envs", "num_steps", "update_epochs", "num_minibatches",
                                   "learning_rate", "gamma", "gae_lambda", "clip_eps",
                                   "vf_coef", "ent_coef", "max_grad_norm")})
    if env_name == "bandit":
        args = dataclasses.replace(args, env_id="bernoulli_bandit_trial")
    parts = ppo_cli.build(args)
    train = jax.vmap(lambda key, idx: parts.run_updates(parts.init(key, idx), num_updates))
    keys = jax.random.split(jax.random.PRNGKey(0), num_seeds)
    idx = np.arange(num_seeds)
    t0 = time.perf_counter()
    compiled = jax.jit(train).lower(keys, idx).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        _, metrics = compiled(keys, idx)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t0)
    steps = num_seeds * num_updates * args.num_envs * args.num_steps
    return {"library": "purerl", "env": env_name, "num_seeds": num_seeds,
            "steps_per_s": steps / statistics.median(times),
            "steps_per_s_runs": [steps / t for t in times], "wall_clock_s_runs": times,
            "compile_s": compile_s,
            "final_return": float(np.nanmean(ppo_cli.final_return(metrics))),
            "final_return_definition": "mean return of the training episodes that ended in "
                                       "the last 10% of updates, mean over seeds",
            "device": str(jax.devices()[0].device_kind)}


def ensure_peer_venv() -> str:
    python = os.path.join(PEER_VENV, "bin", "python")
    if not os.path.exists(python):
        print(f"creating {PEER_VENV} (rejax, gymnax 0.0.9, brax) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", PEER_VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "-r",
                        os.path.join(ROOT, "benchmarks", "peers", "requirements.txt")],
                       check=True)
    return python


def run_peers(num_updates: int, seeds: str, reps: int, envs: str) -> list[dict]:
    hp = {**HPARAMS, "total_timesteps": num_updates * HPARAMS["num_envs"] * HPARAMS["num_steps"]}
    cmd = [ensure_peer_venv(), os.path.join(ROOT, "benchmarks", "peers", "ppo_peers.py"),
           "--hparams", json.dumps(hp), "--seeds", seeds, "--reps", str(reps), "--envs", envs]
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode:
        print(out.stderr[-3000:], file=sys.stderr)
    return rows


def peer_versions() -> dict:
    python = ensure_peer_venv()
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('rejax', 'gymnax', 'brax', 'jax', 'jaxlib', 'flax', 'optax')}))")
    return json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True,
                                     check=True).stdout)


def write_results(rows: list[dict], brax: dict, meta: dict, out_base: str) -> None:
    lg.write_json(out_base + ".json", [
        {k: r[k] for k in ("library", "env", "num_seeds", "steps_per_s", "compile_s",
                           "final_return", "device")} | {"wall_clock_s_runs": r["wall_clock_s_runs"]}
        for r in rows])
    by = {(r["library"], r["env"], r["num_seeds"]): r for r in rows}
    lines = ["# PPO throughput: purerl vs rejax", "",
             f"Command: `{meta['command']}`  ", f"Date: {meta['date']}  ",
             f"Machine: {meta['machine']}  ", f"Load average before the run: {meta['load']}  ",
             f"XLA_FLAGS: `{meta['xla_flags']}`  ",
             f"purerl side: {json.dumps(meta['versions'])}  ",
             f"peer venv: {json.dumps(meta['peer_versions'])}", "",
             "Problem (identical on both sides): " + json.dumps(HPARAMS) + f", "
             f"{meta['num_updates']} updates = {meta['steps_per_seed']:,} env steps per seed.",
             "", "| env | seeds | purerl steps/s (min..max) | rejax steps/s (min..max) | "
             "ratio purerl/rejax | compile s purerl / rejax | final return purerl / rejax |",
             "|---|---|---|---|---|---|---|"]
    for env in sorted({r["env"] for r in rows}):
        for s in sorted({r["num_seeds"] for r in rows}):
            p, q = by.get(("purerl", env, s)), by.get(("rejax", env, s))
            if p is None or q is None:
                continue
            rng = lambda r: f"{min(r['steps_per_s_runs']):,.0f}..{max(r['steps_per_s_runs']):,.0f}"  # noqa: E731
            lines.append(
                f"| {env} | {s} | {p['steps_per_s']:,.0f} ({rng(p)}) | {q['steps_per_s']:,.0f} "
                f"({rng(q)}) | **{p['steps_per_s'] / q['steps_per_s']:.2f}x** | "
                f"{p['compile_s']:.1f} / {q['compile_s']:.1f} | "
                f"{p['final_return']:.1f} / {q['final_return']:.1f} |")
    lines += ["", "Seed scaling (wall-clock of one call, median, relative to 1 seed):", ""]
    for lib in ("purerl", "rejax"):
        for env in sorted({r["env"] for r in rows}):
            base = by.get((lib, env, 1))
            if base is None:
                continue
            parts = [f"{s} seeds {statistics.median(by[(lib, env, s)]['wall_clock_s_runs']) / statistics.median(base['wall_clock_s_runs']):.2f}x"
                     for s in sorted({r["num_seeds"] for r in rows}) if (lib, env, s) in by]
            lines.append(f"- {lib} {env}: " + ", ".join(parts))
    lines += ["", f"Brax PPO trainer: {brax.get('status')}"
              + (f" — `{brax.get('error')}` at `{brax.get('where')}`" if brax.get("error") else ""),
              "", "Final return: " + rows[0]["final_return_definition"] + " (purerl); "
              + next((r["final_return_definition"] for r in rows if r["library"] == "rejax"), "")
              + " (rejax). Timing excludes compile and rejax's evaluation."]
    with open(out_base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--seeds", default="1,8,64")
    parser.add_argument("--envs", default="CartPole-v1,bandit")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "ppo_throughput"))
    args = parser.parse_args()
    meta = {"command": "python benchmarks/ppo_throughput.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M"), "load": os.getloadavg(),
            "machine": lg.machine_description(), "versions": lg.package_versions(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "num_updates": args.updates,
            "steps_per_seed": args.updates * HPARAMS["num_envs"] * HPARAMS["num_steps"]}
    rows = []
    for env in args.envs.split(","):
        for s in map(int, args.seeds.split(",")):
            rows.append(run_purerl(env, args.updates, s, args.reps))
            print(json.dumps(rows[-1]), flush=True)
    peer_rows = run_peers(args.updates, args.seeds, args.reps, args.envs)
    for r in peer_rows:
        print(json.dumps(r), flush=True)
    brax = next((r for r in peer_rows if r["library"] == "brax"), {"status": "not run"})
    rows += [r for r in peer_rows if r["library"] == "rejax"]
    meta["peer_versions"] = peer_versions()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    write_results(rows, brax, meta, args.out)
    print(open(args.out + ".md").read())


if __name__ == "__main__":
    main()
