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
    # keep a run made with purerl-rl2 directly (a second row for its setting, named by tag)
    python benchmarks/meta_rl.py --import_run runs/NAME --tag long

A setting without a preset in ``PRESETS`` runs with ``purerl-rl2``'s defaults plus
``--extra`` flags. The first table lists every setting of the papers, run or not, with its
status; the per-setting tables hold only what was actually run: nothing is extrapolated.

Converged: the mean training return of the last 10% of updates (all seeds) against the 10%
before them, from the run's ``metrics_seed*.csv`` at the time it is kept; "converged" when it
rose by less than 1% (runs kept before this check: judged from the learning-curve PNG,
``JUDGED_FROM_PNG``). Full size: the paper's task sizes (k arms / |S|=10, |A|=5, horizon 10).
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
SETTINGS = ([("bandit", n, k) for n in (10, 100, 500) for k in (5, 10, 50)]
            + [("mdp", n, 5) for n in (10, 25, 50, 75, 100)])
"""Every (task, n, k) of RL^2 Tables 1-2 (SNAIL Table 4 has the same MDP settings)."""
CONVERGED_REL_RISE = 0.01
JUDGED_FROM_PNG = {
    # kept base name -> (converged?, what the learning-curve PNG shows)
    "bandit-k5-n10-gru": (True, "flat over the last third"),
    "bandit-k10-n10-gru": (True, "flat over the last third"),
    "bandit-k50-n10-gru": (True, "flat over the last third"),
    "bandit-k5-n10-snail": (True, "flat over the last third"),
    "bandit-k10-n10-snail": (True, "flat over the last third"),
    "bandit-k50-n10-snail": (True, "flat over the last third"),
    "bandit-k5-n100-gru": (True, "flat at ~75 from 8M to 20.5M steps (lr annealed to 0)"),
    "mdp-n10-gru": (False, "still rising ~+3 over the last 8M steps when lr reached 0"),
}

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
    return keep_run(os.path.join(runs_dir, name), "purerl-rl2 " + " ".join(cmd[3:]))


def curve_tail(run_dir: str) -> dict | None:
    """Mean training return of the last 10% of updates and of the 10% before, all seeds
    (``metrics_seed*.csv``), or None without metrics."""
    returns = []
    for path in sorted(glob.glob(os.path.join(run_dir, "metrics_seed*.csv"))):
        with open(path) as f:
            header = f.readline().strip().split(",")
            col = header.index("episode_return_mean")
            returns.append([float(line.split(",")[col]) for line in f if line.strip()])
    if not returns or min(len(r) for r in returns) < 20:
        return None
    num = min(len(r) for r in returns)
    w = num // 10
    last = sum(sum(r[num - w:num]) for r in returns) / (w * len(returns))
    before = sum(sum(r[num - 2 * w:num - w]) for r in returns) / (w * len(returns))
    return {"updates": num, "window": w, "last": last, "before": before,
            "converged": (last - before) < CONVERGED_REL_RISE * abs(before)}


def keep_run(run_dir: str, command: str, tag: str | None = None) -> str:
    """Copies a finished run's summary (with its command and curve tail) and learning curve
    to ``RUNS_KEPT``; returns the kept summary's path.

    Raises:
        FileNotFoundError: if ``run_dir`` has no summary.json (the run did not finish).
    """
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    c = summary["config"]
    name = f"{setting_name(c['task'], c['num_traj'], c['num_actions'])}-{c['model_type']}"
    base = os.path.join(RUNS_KEPT, name + (f"-{tag}" if tag else ""))
    summary["command"] = command
    summary["tag"] = tag
    summary["curve_tail"] = curve_tail(run_dir)
    os.makedirs(RUNS_KEPT, exist_ok=True)
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
           "mean": mean, "stderr": std / math.sqrt(s) if s > 1 else None, "num_seeds": s,
           "paper": PAPER[model].get((task, n, k)),
           "wall_clock_s": summary["wall_clock_s"]["total"],
           "compile_s": summary["wall_clock_s"]["compile"],
           "env_steps_per_seed": summary["env_steps_per_seed"],
           "random": e["random"], "optimum": e["optimum"],
           "normalised": mean / e["optimum"],
           "command": summary.get("command", ""), "machine": summary["machine"]}
    if task == "mdp":
        row["paper_normalised"] = PAPER_NORMALISED[model].get(n)
    row["tag"] = summary.get("tag")
    row["kept_as"] = (f"{setting_name(task, n, k)}-{model}"
                      + (f"-{row['tag']}" if row["tag"] else ""))
    tail = summary.get("curve_tail")
    if tail is not None:
        row["converged"] = bool(tail["converged"])
        row["convergence"] = (f"training return {tail['before']:.2f} -> {tail['last']:.2f} "
                              f"over the last {2 * tail['window']} of {tail['updates']} updates")
    else:
        row["converged"], row["convergence"] = JUDGED_FROM_PNG.get(
            row["kept_as"], (None, "no curve data"))
        row["convergence"] += " (judged from the PNG)"
    row["full_size"] = (task == "bandit" or (c.get("num_states"), c.get("num_actions"),
                                             c.get("traj_len")) in ((10, 5, 10), (10, 5, None)))
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


def _baseline(baselines: list[dict], task: str, n: int, k: int, method: str) -> float | None:
    for b in baselines:
        if (b["task"], b["n"], b["method"]) == (task, n, method) and (
                task == "mdp" or b["k"] == k):
            return b["mean"]
    return None


def status(r: dict, baselines: list[dict]) -> str:
    """Reached (within 3% of the paper), or where it stands against our baselines."""
    if r.get("paper") is not None and abs(r["mean"] - r["paper"]) <= 0.03 * r["paper"]:
        return "reached (within 3%)"
    task, n, k = r["task"], r["n"], r["k"]
    names = (("greedy", "greedy_empirical", "psrl") if task == "mdp"
             else ("greedy", "ucb1"))
    parts = []
    for name in names:
        b = _baseline(baselines, task, n, k, name)
        if b is not None:
            parts.append(f"{'above' if r['mean'] > b else 'below'} {name} ({b:.2f})")
    return "; ".join(parts) or "no baseline scored"


def coverage_lines(agents: list[dict], baselines: list[dict]) -> list[str]:
    """One line per (setting, model) of the papers, run or not."""
    lines = ["## Every setting of the papers", "",
             "| setting | model | ours | paper | diff | status | full size | converged | "
             "env steps/seed |", "|---|---|---|---|---|---|---|---|---|"]
    for task, n, k in SETTINGS:
        label = f"bandit n={n} k={k}" if task == "bandit" else f"MDP n={n}"
        for model in ("gru", "snail"):
            paper = PAPER[model].get((task, n, k))
            if task == "mdp" and model == "snail":
                paper = None  # SNAIL Table 4 gives only normalised MDP scores
            mine = [r for r in agents if (r["task"], r["n"], r["k"]) == (
                task, n, k if task == "bandit" else None) and r["method"] == METHOD[model]]
            if not mine:
                ref = (f"{paper:.1f}" if paper is not None else
                       f"{PAPER_NORMALISED[model][n]:.3f} (normalised)")
                lines.append(f"| {label} | {model} | not run | {ref} | - | - | - | - | - |")
                continue
            for r in mine:
                tag = f" ({r['tag']})" if r.get("tag") else ""
                conv = {True: "yes", False: "no", None: "?"}[r.get("converged")]
                steps = (f"{r['env_steps_per_seed'] / 1e6:.1f}M"
                         if r.get("env_steps_per_seed") else "-")
                lines.append(
                    f"| {label} | {model}{tag} | {r['mean']:.2f} | {_fmt(paper, 1)} | "
                    f"{_diff(r)} | {status(r, baselines)} | "
                    f"{'yes' if r.get('full_size') else 'no'} | {conv} | {steps} |")
    return lines + [""]


def write_tables(agents: list[dict], baselines: list[dict]) -> None:
    """Writes meta_rl.json (agent + baseline rows of every setting an agent ran, and a
    status row for every setting of the papers) and .md."""
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
        *coverage_lines(agents, baselines),
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
                                                     "command", "tag", "converged",
                                                     "convergence", "full_size")})
            if r in mine:
                rows[-1]["status"] = status(r, baselines)
            name = (f"**{r['method']}{' (' + r['tag'] + ')' if r.get('tag') else ''}**"
                    if r in mine else r["method"])
            norm = f"{r['normalised']:.3f}" if r.get("normalised") is not None else "-"
            if r.get("paper_normalised") is not None:
                norm += f" ({r['paper_normalised']:.3f})"
            steps = (f"{r['env_steps_per_seed'] / 1e6:.1f}M" if r.get("env_steps_per_seed")
                     else "-")
            lines.append(f"| {name} | {_fmt(r['mean'])} | {_fmt(r['stderr'])} "
                         f"| {r['num_seeds']} | {_fmt(r['paper'], 1)} | {_diff(r)} | {norm} "
                         f"| {r['wall_clock_s']:.0f} s | {steps} |")
        for r in mine:
            png = f"meta_rl/{r['kept_as']}"
            tag = f" ({r['tag']})" if r.get("tag") else ""
            conv = {True: "converged", False: "NOT converged", None: "convergence unknown"}[
                r.get("converged")]
            lines.append("")
            lines.append(f"{r['method']}{tag}: `{r['command']}` (compile {r['compile_s']:.0f} "
                         f"s; machine {r['machine'].get('cpu_count')}-core "
                         f"{r['machine'].get('jax_backend')}); {conv}: {r['convergence']}; "
                         f"learning curve [{png}.learning_curve.png]({png}.learning_curve.png)")
        lines.append("")
    for line in coverage_lines(agents, baselines)[4:-1]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append({"coverage": True, "setting": cells[0], "model": cells[1],
                     "ours": cells[2], "paper": cells[3], "diff": cells[4],
                     "status": cells[5], "full_size": cells[6], "converged": cells[7]})
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
    p.add_argument("--import_run", default=None, metavar="RUN_DIR",
                   help="keep a finished purerl-rl2 run (its config.json gives the setting)")
    p.add_argument("--tag", default=None,
                   help="with --import_run: a second row for the setting, kept as "
                        "<setting>-<model>-<tag> (default: replaces the setting's row)")
    a = p.parse_args()
    if a.import_run:
        with open(os.path.join(a.import_run, "config.json")) as f:
            flags = json.load(f)
        command = "purerl-rl2 " + " ".join(
            f"--{k} {v}" for k, v in flags.items() if v is not None and k != "algo")
        print("kept", keep_run(a.import_run, command, a.tag))
        write_tables(*load_rows())
        return
    if a.num_seeds < 3 and not a.collect_only:
        p.error(f"--num_seeds: expected >= 3 (mean +- standard error), got {a.num_seeds}")
    if not a.collect_only:
        for model in a.models:
            run_setting(model, a.task, a.n, a.k, a.num_seeds, a.extra, a.runs_dir)
    write_tables(*load_rows())


if __name__ == "__main__":
    main()
