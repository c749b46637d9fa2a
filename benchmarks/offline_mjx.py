"""Offline RL end to end on our MJX tasks: a ``purerl-datagen`` dataset, a ``purerl-offline``
run on it, evaluated on the same MJX env inside the compiled loop (issue 16, part 3).

Reads a finished (or still running) ``purerl-offline`` run directory and the datasets that
fix the normalisation, and writes ``benchmarks/results/offline_mjx.{md,json}`` (one entry
per ``--name``, merged with the entries already there)::

    python benchmarks/offline_mjx.py --name snr_halfcheetah_medium \\
        --run /work/offruns/snr-halfcheetah-medium \\
        --dataset /work/datasets/halfcheetah-medium-200k.hdf5 \\
        --random_dataset /work/datasets/halfcheetah-random-10k.hdf5 \\
        --expert_dataset /work/datasets/halfcheetah-expert-10k.hdf5

Scores are given twice (our MJX tasks are not bit-identical to gym's MuJoCo envs):
``d4rl``: 100 (R - random) / (expert - random) with D4RL's reference returns;
``ours``: the same with the random / expert returns measured on our env, i.e. the mean
episode return recorded in the random and expert datasets' metadata (sampled actions, as
the datasets). The agent's return is the deterministic evaluation of its last segment,
per seed (``eval/deterministic/return`` in ``metrics_seed<i>.csv``).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import platform

import numpy as np

from envs_jax.offline import normalized_score
from envs_jax.offline.d4rl import read_d4rl

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
RETURN = "eval/deterministic/return"


def dataset_meta(path: str) -> dict:
    """The ``metadata/*`` scalars ``purerl-datagen`` wrote into a D4RL file."""
    keys = ("metadata/policy_return", "metadata/num_episodes", "metadata/command",
            "metadata/data_sha256", "metadata/dataset", "metadata/env_id")
    raw = read_d4rl(path, keys)
    out = {}
    for k, v in raw.items():
        v = np.asarray(v).item() if np.ndim(v) == 0 else v
        out[k.split("/", 1)[1]] = v.decode() if isinstance(v, bytes) else v
    return out


def eval_curve(run_dir: str) -> tuple[list[int], np.ndarray]:
    """``(sgd_steps, returns [S, E])`` at each evaluation, read from the seeds' CSVs."""
    files = sorted(glob.glob(os.path.join(run_dir, "metrics_seed*.csv")),
                   key=lambda p: int(p.rsplit("seed", 1)[1].split(".")[0]))
    if not files:
        raise SystemExit(f"error: {run_dir} has no metrics_seed*.csv yet")
    steps, per_seed = None, []
    for path in files:
        with open(path) as f:
            rows = [r for r in csv.DictReader(f) if r.get(RETURN)]
        per_seed.append([float(r[RETURN]) for r in rows])
        steps = [int(float(r["sgd_steps"])) for r in rows]
    n = min(len(s) for s in per_seed)
    return steps[:n], np.array([s[:n] for s in per_seed])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", required=True)
    p.add_argument("--run", required=True, help="purerl-offline run directory")
    p.add_argument("--dataset", required=True, help="the D4RL file it trained on")
    p.add_argument("--random_dataset", required=True)
    p.add_argument("--expert_dataset", required=True)
    p.add_argument("--command", default=None, help="the purerl-offline command, as typed")
    p.add_argument("--note", default=None, help="what the run shows (kept in the entry)")
    args = p.parse_args()

    with open(os.path.join(args.run, "config.json")) as f:
        config = json.load(f)
    task = config["args"]["task_name"]
    data, rnd, exp = (dataset_meta(x) for x in (args.dataset, args.random_dataset,
                                                 args.expert_dataset))
    steps, returns = eval_curve(args.run)
    final = returns[:, -1]
    ours = lambda r: 100 * (r - rnd["policy_return"]) / (      # noqa: E731
        exp["policy_return"] - rnd["policy_return"])
    entry = {
        "task": task, "algorithm": config["args"]["algorithm"], "run_dir": args.run,
        "command": args.command, "note": args.note,
        "num_seeds": int(returns.shape[0]), "sgd_steps": steps[-1],
        "num_bc_iters": config.get("learner", {}).get("num_bc_iters"),
        "final_return_per_seed": final.tolist(),
        "final_return_mean": float(final.mean()), "final_return_std": float(final.std()),
        "d4rl_normalized_mean": float(np.mean(normalized_score(task, final))),
        "ours_normalized_mean": float(np.mean(ours(final))),
        "curve": {"sgd_steps": steps, "return_mean": returns.mean(0).tolist()},
        "behaviour": {"return": data["policy_return"], "ours_normalized":
                      float(ours(data["policy_return"])), "d4rl_normalized":
                      float(normalized_score(task, data["policy_return"])),
                      "command": data.get("command"), "sha256": data.get("data_sha256")},
        "random_return_ours": rnd["policy_return"], "expert_return_ours": exp["policy_return"],
        "reference_commands": {"random": rnd.get("command"), "expert": exp.get("command")},
        "machine": f"{platform.platform()}, {os.cpu_count()} CPU cores",
        "load_average_at_report": os.getloadavg()[0],
    }
    path = os.path.join(RESULTS, "offline_mjx.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    results[args.name] = entry
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    write_md(results)
    print(f"wrote {path} and offline_mjx.md ({args.name}: {entry['final_return_mean']:.0f})")


def write_md(results: dict) -> None:
    lines = ["# Offline RL on our MJX tasks, from our own datasets", "",
             "`python benchmarks/offline_mjx.py ...` (module docstring). Return: the "
             "deterministic evaluation of the last segment (10 episodes per seed, inside the "
             "compiled loop), mean +- std over seeds vmapped in one program. Normalised "
             "twice: `d4rl` with D4RL's reference random / expert returns (gym MuJoCo), "
             "`ours` with the random and expert datasets' returns measured on our MJX env.",
             "", "| run | task | SGD steps | return | d4rl norm. | ours norm. | behaviour "
             "return (ours norm.) |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, e in results.items():
        b = e["behaviour"]
        lines.append(f"| {name} | {e['task']} | {e['sgd_steps']:,} | "
                     f"{e['final_return_mean']:.0f} +- {e['final_return_std']:.0f} | "
                     f"{e['d4rl_normalized_mean']:.1f} | {e['ours_normalized_mean']:.1f} | "
                     f"{b['return']:.0f} ({b['ours_normalized']:.1f}) |")
    for name, e in results.items():
        lines += ["", f"## {name}", "",
                  f"- {e['algorithm']} on `{e['task']}`, {e['num_seeds']} seeds, "
                  f"{e['sgd_steps']:,} SGD steps (first {e['num_bc_iters']} behaviour "
                  f"cloning); run dir `{e['run_dir']}`; {e['machine']}; load at report "
                  f"{e['load_average_at_report']:.1f}.",
                  f"- Command: `{e.get('command')}`",
                  *([f"- Finding: {e['note']}"] if e.get("note") else []),
                  "- Final return per seed: "
                  + ", ".join(f"{x:.0f}" for x in e["final_return_per_seed"]) + ".",
                  f"- Our env's references: random {e['random_return_ours']:.1f}, expert "
                  f"{e['expert_return_ours']:.1f} (sampled actions).",
                  f"- Dataset: `{e['behaviour']['command']}` (sha256 "
                  f"{str(e['behaviour']['sha256'])[:16]}...).",
                  f"- References: `{e['reference_commands']['random']}`; "
                  f"`{e['reference_commands']['expert']}`.",
                  "- Curve (SGD steps: mean return): " + ", ".join(
                      f"{s:,}: {r:.0f}" for s, r in zip(e["curve"]["sgd_steps"],
                                                        e["curve"]["return_mean"])) + "."]
    with open(os.path.join(RESULTS, "offline_mjx.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
