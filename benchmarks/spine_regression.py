"""The RL^2 main job before and after a refactor: score and wall-clock, side by side.

Runs the no-argument main job (GRU RL^2 on 5-armed Bernoulli bandits, n=10 pulls, 3 seeds,
as ``purerl-rl2`` with no flags) from two source trees of purerl, one subprocess per run,
in the order old new new old (``--rounds`` times), because this host drifts ~2x from
minute to minute. Each tree is imported through ``PYTHONPATH``; its own entry point is used
(``purerl.cli.rl2`` where it exists, else the older ``purerl.algos.rl2``). Reports each run's
held-out score and compile / train wall-clock from its ``summary.json``, with the 1-minute
load average at its start and end::

    git worktree add --detach /tmp/purerl-old <old commit>
    python benchmarks/spine_regression.py --old /tmp/purerl-old --new . [--rounds 1]

Writes ``benchmarks/results/spine_regression.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def entry_module(tree: str) -> str:
    return ("purerl.cli.rl2" if os.path.exists(os.path.join(tree, "purerl", "cli", "rl2.py"))
            else "purerl.algos.rl2")


def commit_of(tree: str) -> str:
    out = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", tree, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


def run_main_job(tree: str, runs_dir: str, name: str) -> dict:
    """One main-job run of ``tree`` in a subprocess; its summary's score and timings."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    cmd = [sys.executable, "-m", entry_module(tree), f"--runs_dir={runs_dir}",
           f"--out_file={name}", "--log_every=0"]
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=runs_dir, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{cmd} failed:\n{proc.stderr[-3000:]}")
    with open(os.path.join(runs_dir, name, "summary.json")) as f:
        summary = json.load(f)
    clock = summary["wall_clock_s"]
    return {"score": summary["eval"]["score_mean"],
            "score_per_seed": summary["eval"]["score_per_seed"],
            "compile_s": clock["compile"], "train_s": clock["train"],
            "process_s": wall, "load_start": load0, "load_end": os.getloadavg()[0]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="source tree of the old purerl")
    parser.add_argument("--new", default=os.path.dirname(HERE), help="source tree of the new")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of --order")
    parser.add_argument("--order", default="old,new,new,old",
                        help="side order within a round (e.g. old,new for a quick check)")
    args = parser.parse_args(argv)
    trees = {"old": args.old, "new": args.new}
    commits = {k: commit_of(v) for k, v in trees.items()}
    runs = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="purerl-spine-") as runs_dir:
        for r in range(args.rounds):
            for i, side in enumerate(args.order.split(",")):
                res = run_main_job(trees[side], runs_dir, f"{side}-{r}-{i}")
                runs[side].append(res)
                print(f"{side} ({commits[side]}): score {res['score']:.3f}, compile "
                      f"{res['compile_s']:.1f} s, train {res['train_s']:.1f} s, load "
                      f"{res['load_start']:.1f}-{res['load_end']:.1f}", flush=True)
    mean = {s: {k: sum(x[k] for x in v) / len(v) for k in ("score", "compile_s", "train_s")}
            for s, v in runs.items()}
    ratio = mean["new"]["train_s"] / mean["old"]["train_s"]
    out = {"commits": commits, "runs": runs, "mean": mean, "train_time_new_over_old": ratio,
           "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
           "command": "python benchmarks/spine_regression.py " + " ".join(argv or sys.argv[1:])}
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "spine_regression.json"), "w") as f:
        json.dump(out, f, indent=1)
    lines = ["# RL^2 main job, before and after the one-spine refactor", "",
             f"Old tree {commits['old']}, new tree {commits['new']}; runs in the order "
             f"{args.order} x {args.rounds}, one subprocess each; machine {platform.platform()}, "
             f"{os.cpu_count()} CPUs, shared (load averages per run below).", "",
             "| side | commit | score (held-out, mean of seeds) | compile s | train s | load start-end |",
             "|---|---|---:|---:|---:|---|"]
    for side, v in runs.items():
        for x in v:
            lines.append(f"| {side} | {commits[side]} | {x['score']:.3f} | {x['compile_s']:.1f} "
                         f"| {x['train_s']:.1f} | {x['load_start']:.1f}-{x['load_end']:.1f} |")
    lines += ["", f"Mean train time new / old: **{ratio:.3f}**; mean score old "
              f"{mean['old']['score']:.3f}, new {mean['new']['score']:.3f}.", "",
              f"Command: `{out['command']}`"]
    with open(os.path.join(RESULTS, "spine_regression.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
