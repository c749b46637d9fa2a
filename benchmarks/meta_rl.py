"""RL^2 Table 1/2 and SNAIL Table 4 with our agents and baselines: runs settings, writes tables.

Runs ``purerl-rl2`` (GRU and/or SNAIL, >= 3 vmapped seeds in one compiled call) for the
chosen settings, keeps each run's ``summary.json`` and learning-curve PNG under
``benchmarks/results/meta_rl/``, and writes ``benchmarks/results/meta_rl.{md,json}``: every
agent row that has been run, beside the classical baselines of
``benchmarks/results/meta_rl_baselines.json`` scored on the SAME 1000 held-out tasks, with
the paper numbers (RL^2 column for GRU, SNAIL column for SNAIL; SNAIL Table 4's
score / value-iteration optimum for MDPs).

Usage::

    # run one setting for both agents (3 seeds each), then rewrite the tables
    python benchmarks/meta_rl.py --task bandit --n 10 --k 5 --models gru snail
    # only rewrite the tables from the kept summaries
    python benchmarks/meta_rl.py --collect_only

A setting without a preset in ``PRESETS`` runs with ``purerl-rl2``'s defaults plus
``--extra`` flags. Only settings that were actually run appear in the tables: nothing is
extrapolated.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
RUNS_KEPT = os.path.join(RESULTS, "meta_rl")

# SNAIL paper (Mishra et al. 2018) Table 1 (bandits, SNAIL column) and Table 4 (MDPs,
# score / value-iteration optimum); RL^2 (Duan et al. 2016) Tables 1-2, RL^2 column.
PAPER = {
    "gru": {("bandit", 10, 5): 6.7, ("bandit", 10, 10): 6.7, ("bandit", 10, 50): 6.8,
            ("bandit", 100, 5): 78.7, ("bandit", 100, 10): 83.5, ("bandit", 100, 50): 84.9,
            ("bandit", 500, 5): 401.6, ("bandit", 500, 10): 432.5, ("bandit", 500, 50): 438.9,
            ("mdp", 10, 5): 156.2, ("mdp", 25, 5): 445.7, ("mdp", 50, 5): 936.1,
            ("mdp", 75, 5): 1428.8, ("mdp", 100, 5): 1913.7},
    "snail": {("bandit", 10, 5): 6.6, ("bandit", 10, 10): 6.7, ("bandit", 10, 50): 6.7,
              ("bandit", 100, 5): 79.1, ("bandit", 100, 10): 83.5, ("bandit", 100, 50): 85.1,
              ("bandit", 500, 5): 408.1, ("bandit", 500, 10): 432.4,
              ("bandit", 500, 50): 442.6},
}
PAPER_NORMALISED = {
    "gru": {10: 0.752, 25: 0.859, 50: 0.902, 75: 0.918, 100: 0.922},
    "snail": {10: 0.766, 25: 0.862, 50: 0.908, 75: 0.930, 100: 0.941},
}
METHOD = {"gru": "rl2_gru", "snail": "snail"}

# Flags per (model, task, n): the configs measured for the README/issue-3 runs, and SNAIL
# with the learning rate its bandit learning test uses. Anything else: defaults + --extra.
PRESETS = {
    ("gru", "bandit", 10): [],  # the main job
    ("snail", "bandit", 10): ["--learning_rate", "3e-3", "--num_workers", "128",
                              "--batch_size", "2560", "--mini_batch_size", "640",
                              "--metalearn_epochs", "300"],
    ("gru", "bandit", 100): ["--num_workers", "256", "--batch_size", "25600",
                             "--mini_batch_size", "6400", "--hidden_size", "128",
                             "--reward_scale", "0.1", "--no_clip_value",
                             "--metalearn_epochs", "800"],
    ("gru", "mdp", 10): ["--num_workers", "256", "--batch_size", "25600",
                         "--mini_batch_size", "6400", "--hidden_size", "128",
                         "--reward_scale", "0.1", "--no_clip_value", "--metalearn_epochs",
                         "800", "--ent_coef", "0.02"],
}


def setting_name(task: str, n: int, k: int) -> str:
    return f"bandit-k{k}-n{n}" if task == "bandit" else f"mdp-n{n}"


def run_setting(model: str, task: str, n: int, k: int, num_seeds: int, extra: list[str],
                runs_dir: str) -> str:
    """Trains one (model, setting) with ``purerl-rl2``; returns the kept summary's path."""
    name = f"{setting_name(task, n, k)}-{model}-s{num_seeds}-{time.strftime('%Y%m%d-%H%M%S')}"
    cmd = [sys.executable, "-m", "purerl.cli.rl2", "--task", task, "--num_traj", str(n),
           "--num_actions", str(k), "--model_type", model, "--num_seeds", str(num_seeds),
           "--runs_dir", runs_dir, "--out_file", name,
           *PRESETS.get((model, task, n), []), *extra]
    print("$", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)
    run_dir = os.path.join(runs_dir, name)
    os.makedirs(RUNS_KEPT, exist_ok=True)
    base = os.path.join(RUNS_KEPT, f"{setting_name(task, n, k)}-{model}")
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    summary["command"] = "purerl-rl2 " + " ".join(cmd[3:])
    with open(base + ".summary.json", "w") as f:
        json.dump(summary, f, indent=1)
    png = glob.glob(os.path.join(run_dir, "*.png"))
    if png:
        shutil.copyfile(png[0], base + ".learning_curve.png")
    return base + ".summary.json"


def agent_row(summary: dict) -> dict:
    """One meta_rl.json row from a ``purerl-rl2`` summary."""
    c, e = summary["config"], summary["eval"]
    task, n = c["task"], c["num_traj"]
    k = c["num_actions"]
    scores = e["score_per_seed"]
    s = len(scores)
    mean = sum(scores) / s
    std = math.sqrt(sum((x - mean) ** 2 for x in scores) / (s - 1)) if s > 1 else float("nan")
    model = c["model_type"]
    row = {"task": task, "n": n, "k": k if task == "bandit" else None, "method": METHOD[model],
           "mean": mean, "stderr": std / math.sqrt(s), "num_seeds": s,
           "paper": PAPER[model].get((task, n, k)),
           "wall_clock_s": summary["wall_clock_s"]["total"],
           "compile_s": summary["wall_clock_s"]["compile"],
           "env_steps_per_seed": summary["env_steps_per_seed"],
           "random": e["random"], "optimum": e["optimum"],
           "normalised": mean / e["optimum"],
           "command": summary.get("command", ""), "machine": summary["machine"]}
    if task == "mdp":
        row["paper_normalised"] = PAPER_NORMALISED[model].get(n)
    return row


def load_rows() -> tuple[list[dict], list[dict]]:
    agents = []
    for path in sorted(glob.glob(os.path.join(RUNS_KEPT, "*.summary.json"))):
        with open(path) as f:
            agents.append(agent_row(json.load(f)))
    with open(os.path.join(RESULTS, "meta_rl_baselines.json")) as f:
        baselines = json.load(f)
    return agents, baselines


def _fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def _diff(r: dict) -> str:
    if r.get("paper") is None:
        return "-"
    d = (r["mean"] - r["paper"]) / r["paper"]
    return f"{100 * d:+.1f}%" + (" (within 3%)" if abs(d) <= 0.03 else "")


def write_tables(agents: list[dict], baselines: list[dict]) -> None:
    """Writes meta_rl.json (agent + baseline rows of every setting an agent ran) and .md."""
    settings = sorted({(r["task"], r["n"], r["k"]) for r in agents},
                      key=lambda s: (s[0], s[1], s[2] or 0))
    rows = []
    lines = [
        "# Meta-RL results: RL^2 (GRU) and SNAIL beside the classical baselines",
        "",
        "Written by `python benchmarks/meta_rl.py` (each agent row's exact command is listed "
        "below the tables). Scores: total reward per trial, mean over the SAME 1000 held-out "
        "tasks (`purerl.common.evaluate.heldout_tasks`), then mean +- standard error over "
        "seeds (agents: independently trained seeds, vmapped in one compiled call; "
        "baselines: evaluation seeds, from `benchmarks/results/meta_rl_baselines.md`, where "
        "their definitions, tuning and any gap to the paper are explained). Paper: RL^2 "
        "Tables 1-2 (RL^2 column for GRU and the baselines), SNAIL Table 1 (SNAIL column); "
        "'normalised' = score / our value-iteration optimum (SNAIL Table 4). Only settings "
        "actually run appear; nothing is extrapolated.",
        "",
    ]
    for task, n, k in settings:
        title = f"Bandits n={n}, k={k}" if task == "bandit" else f"MDPs n={n}"
        lines += [f"## {title}", "",
                  "| method | ours | +- stderr | seeds | paper | diff | normalised "
                  "(paper) | wall-clock | env steps/seed |",
                  "|---|---|---|---|---|---|---|---|---|"]
        mine = [r for r in agents if (r["task"], r["n"], r["k"]) == (task, n, k)]
        base = [b for b in baselines if b["task"] == task and b["n"] == n
                and (task == "mdp" or b["k"] == k)]
        for r in mine + base:
            rows.append({key: r.get(key) for key in ("task", "n", "k", "method", "mean",
                                                     "stderr", "num_seeds", "paper",
                                                     "wall_clock_s", "normalised",
                                                     "paper_normalised", "env_steps_per_seed",
                                                     "command")})
            name = f"**{r['method']}**" if r in mine else r["method"]
            norm = f"{r['normalised']:.3f}" if r.get("normalised") is not None else "-"
            if r.get("paper_normalised") is not None:
                norm += f" ({r['paper_normalised']:.3f})"
            steps = (f"{r['env_steps_per_seed'] / 1e6:.1f}M" if r.get("env_steps_per_seed")
                     else "-")
            lines.append(f"| {name} | {_fmt(r['mean'])} | {_fmt(r['stderr'])} "
                         f"| {r['num_seeds']} | {_fmt(r['paper'], 1)} | {_diff(r)} | {norm} "
                         f"| {r['wall_clock_s']:.0f} s | {steps} |")
        for r in mine:
            png = f"meta_rl/{setting_name(task, n, k)}-{r['method'].replace('rl2_', '')}"
            lines.append("")
            lines.append(f"{r['method']}: `{r['command']}` (compile {r['compile_s']:.0f} s; "
                         f"machine {r['machine'].get('cpu_count')}-core "
                         f"{r['machine'].get('jax_backend')}); learning curve "
                         f"[{png}.learning_curve.png]({png}.learning_curve.png)")
        lines.append("")
    with open(os.path.join(RESULTS, "meta_rl.json"), "w") as f:
        json.dump(rows, f, indent=1)
    with open(os.path.join(RESULTS, "meta_rl.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=["bandit", "mdp"], default="bandit")
    p.add_argument("--n", type=int, default=10, help="episodes per trial (num_traj)")
    p.add_argument("--k", type=int, default=5, help="arms (bandits) / actions (MDPs)")
    p.add_argument("--models", nargs="+", choices=["gru", "snail"], default=["gru", "snail"])
    p.add_argument("--num_seeds", type=int, default=3)
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                   help="further purerl-rl2 flags, e.g. --extra --metalearn_epochs 400")
    p.add_argument("--runs_dir", default="runs")
    p.add_argument("--collect_only", action="store_true",
                   help="only rewrite meta_rl.{md,json} from the kept summaries")
    a = p.parse_args()
    if a.num_seeds < 3 and not a.collect_only:
        p.error(f"--num_seeds: expected >= 3 (mean +- standard error), got {a.num_seeds}")
    if not a.collect_only:
        for model in a.models:
            run_setting(model, a.task, a.n, a.k, a.num_seeds, a.extra, a.runs_dir)
    write_tables(*load_rows())


if __name__ == "__main__":
    main()
