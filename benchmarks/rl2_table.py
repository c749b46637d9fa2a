"""Collect RL^2 run summaries into the README's results table (markdown).

Usage::

    python benchmarks/rl2_table.py runs/<run1> runs/<run2> ...

Reads each ``summary.json`` written by ``purerl-rl2`` and prints one row per run: setting,
our held-out score (mean over seeds, with the per-seed values), random and optimum on the
same 1000 tasks, the RL^2 paper's number, env steps, wall-clock and the machine.
"""

from __future__ import annotations

import json
import os
import sys


def row(run_dir: str) -> str:
    with open(os.path.join(run_dir, "summary.json")) as f:
        s = json.load(f)
    c, e, w = s["config"], s["eval"], s["wall_clock_s"]
    setting = (f"bandit k={c['num_actions']}, n={c['num_traj']}" if c["task"] == "bandit"
               else f"MDP n={c['num_traj']}")
    seeds = ", ".join(f"{x:.2f}" for x in e["score_per_seed"])
    paper = "-" if e["paper_rl2"] is None else f"{e['paper_rl2']:.1f}"
    m = s["machine"]
    return (f"| {setting} | GRU({c['hidden_size']}) | **{e['score_mean']:.2f}** ({seeds}) "
            f"| {e['random']:.2f} | {e['optimum']:.2f} | {paper} "
            f"| {s['env_steps_per_seed'] / 1e6:.1f}M x {len(e['score_per_seed'])} "
            f"| {w['total'] / 60:.1f} min (compile {w['compile']:.0f} s) "
            f"| {m['cpu_count']}-core {m['jax_backend']} |")


def main(run_dirs: list[str]) -> None:
    print("| setting | agent | purerl RL^2 (per seed) | random | optimum | RL^2 paper "
          "| env steps / seed x seeds | wall-clock | machine |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in run_dirs:
        print(row(d))


if __name__ == "__main__":
    main(sys.argv[1:])
