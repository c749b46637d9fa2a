"""Learning curves of continuous-control agents on the MJX tasks, on this machine's CPU.

Runs the commands in ``RUNS`` (each one ``purerl-sac`` / ``purerl-ppo`` CLI call, 3 seeds
vmapped in one compiled program; they can run concurrently) and writes
``benchmarks/results/continuous_mjx.md`` + ``.json`` from their run directories::

    python benchmarks/continuous_mjx.py run sac_halfcheetah   # one run (hours on 2 CPUs)
    python benchmarks/continuous_mjx.py report                # table from finished runs

Curves come from the run directories' CSVs (written after every segment, so a run that is
still going or was stopped reports what it has); training minutes (compile excluded) from
the progress lines of each run's log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS_DIR = os.path.join(HERE, "runs")
RESULTS = os.path.join(HERE, "results", "continuous_mjx")

SAC_UTD1 = ("purerl-sac --env_id {env} --num_seeds 3 --num_envs 16 --num_updates 18750 "
            "--sgd_steps_per_call 16 --learning_starts 10000 --replay_buffer_size 1000000 "
            "--actor_hidden_sizes 256 256 --critic_hidden_sizes 256 256 --policy_lr 3e-4 "
            "--q_lr 3e-4 --alpha_lr 3e-4 --eval_every 1250 --num_eval_episodes 5 "
            "--checkpoint_every 3750 --log_every 625 --policy_snapshots")
"""The issue's setting: one SGD step per env step (hours on this 2-core CPU)."""
SAC = SAC_UTD1.replace("--sgd_steps_per_call 16", "--sgd_steps_per_call 4")
"""What fits in a session here: one SGD step per 4 env steps."""
PPO = ("purerl-ppo --config ppo_halfcheetah --num_seeds 3 --num_updates 36 "
       "--checkpoint_every 6 --eval_every 6 --eval_episodes 4 --log_every 3")
RUNS = {
    "sac_halfcheetah": (SAC.format(env="halfcheetah"), 4000.0),
    "sac_hopper": (SAC.format(env="hopper"), 2000.0),
    "sac_halfcheetah_utd1": (SAC_UTD1.format(env="halfcheetah"), 4000.0),
    "sac_hopper_utd1": (SAC_UTD1.format(env="hopper"), 2000.0),
    "sac_hopper_utd1_1seed": (SAC_UTD1.format(env="hopper").replace(
        "--num_seeds 3", "--num_seeds 1 --seed 0").replace("--eval_every 1250", "--eval_every 625")
        .replace("--checkpoint_every 3750", "--checkpoint_every 1250"), 2000.0),
    "ppo_halfcheetah": (PPO, None),
}
"""name -> (command, target mean evaluation return at 300k env steps or None)."""


def run_dir(name: str) -> str:
    return os.path.join(RUNS_DIR, f"{name}_cpu")


def launch(name: str) -> None:
    command, _ = RUNS[name]
    args = command.split() + ["--runs_dir", RUNS_DIR, "--out_file", f"{name}_cpu"]
    exe = os.path.join(os.path.dirname(sys.executable), args[0])
    with open(run_dir(name) + ".log", "w") as log:
        subprocess.run([exe, *args[1:]], stdout=log, stderr=subprocess.STDOUT, check=True)


def _elapsed_by_update(log_path: str, checkpoint_every: int | None = None
                       ) -> dict[int, float]:
    """Training seconds at each progress line of a run's log (``update U/N ... elapsed``).

    A run resumed with ``--resume`` appends a second process's lines, whose clock starts
    again at 0 from the newest checkpoint before its first line: those are offset by the
    first process's elapsed time at that checkpoint, so minutes count training once.
    """
    import re

    out: dict[int, float] = {}
    offset, last = 0.0, None
    if os.path.exists(log_path):
        with open(log_path) as f:
            for line in f:
                m = re.search(r"update\s+(\d+)/\d+.*elapsed (\d+):(\d+)(?::(\d+))?", line)
                if not m:
                    continue
                parts = [int(x) for x in m.groups()[1:] if x is not None]
                seconds = parts[-1] + 60 * parts[-2] + (3600 * parts[-3]
                                                        if len(parts) == 3 else 0)
                update = int(m.group(1))
                if last is not None and update <= last and checkpoint_every:
                    resumed_at = (update - 1) // checkpoint_every * checkpoint_every
                    offset = out.get(resumed_at, 0.0)
                last = update
                out[update] = offset + float(seconds)
    return out


def curve(name: str) -> dict | None:
    """Evaluation curve of a run so far (its CSVs, written per segment), or None."""
    import csv
    import glob

    path = run_dir(name)
    files = sorted(glob.glob(os.path.join(path, "metrics_*.csv")))
    if not files:
        return None
    per_seed = []
    for file in files:
        with open(file) as f:
            rows = list(csv.DictReader(f))
        per_seed.append({int(r["update"]): (float(r["env_steps"]), float(r["eval/return"]))
                         for r in rows if r["eval/return"] not in ("", "nan")})
    updates = sorted(set.intersection(*(set(d) for d in per_seed)))
    if not updates:
        return None
    evals = np.array([[d[u][1] for u in updates] for d in per_seed])        # [S, E]
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    elapsed = _elapsed_by_update(path + ".log", config.get("checkpoint_every"))
    summary_path = os.path.join(path, "summary.json")
    summary = {}
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
    total = config["num_updates"]
    return {"command": RUNS[name][0], "target": RUNS[name][1], "finished": bool(summary),
            "num_seeds": len(per_seed),
            "updates_done": max(updates), "num_updates": total,
            "env_steps": [per_seed[0][u][0] for u in updates],
            "minutes": [elapsed[u] / 60 if u in elapsed else None for u in updates],
            "eval_mean": evals.mean(0).tolist(), "eval_std": evals.std(0).tolist(),
            "final_per_seed": evals[:, -1].tolist(),
            "compile_s": summary.get("wall_clock_s", {}).get("compile"),
            "run_s": summary.get("wall_clock_s", {}).get("run"),
            "env_steps_per_s": summary.get("env_steps_per_s"),
            "machine": summary.get("machine"), "versions": summary.get("versions")}


def report() -> None:
    """Rewrite the results from the run directories; a run whose directory is gone (an
    earlier machine's) keeps its entry of the previous results JSON."""
    previous = {}
    if os.path.exists(RESULTS + ".json"):
        with open(RESULTS + ".json") as f:
            previous = json.load(f)
    out = {name: curve(name) or previous.get(name) for name in RUNS}
    with open(RESULTS + ".json", "w") as f:
        json.dump(out, f, indent=1)
    lines = ["# Continuous control on the MJX tasks, 2-core CPU", "",
             "`python benchmarks/continuous_mjx.py report` (after `... run <name>` for each "
             "name; the commands are below). The seeds of a run are vmapped in one compiled "
             "program; evaluation = mean return of deterministic-action episodes inside the "
             "compiled loop; minutes = training wall-clock (compile excluded).", ""]
    for name, c in out.items():
        if c is None:
            lines += [f"## {name}: not run yet", ""]
            continue
        final = np.asarray(c["final_per_seed"])
        seeds = c.get("num_seeds", 3)
        steps = c["env_steps"][-1]
        verdict = ("" if c["target"] is None else
                   f"; target >= {c['target']:.0f} at 300k steps: " +
                   ("met" if final.mean() >= c["target"] else
                    "NOT met" if steps >= 300_000 else f"not reached by {steps:,.0f} steps"))
        state = ("finished" if c["finished"] else
                 f"not finished when reported: update {c['updates_done']}/{c['num_updates']}")
        lines += [f"## {name}: eval {final.mean():.0f} +- {final.std():.0f} at "
                  f"{steps:,.0f} steps per seed ({state}{verdict})", "",
                  f"`{c['command']}`", ""]
        if c["finished"]:
            lines += [f"compile {c['compile_s']:.0f} s, training {c['run_s'] / 60:.1f} min, "
                      f"{c['env_steps_per_s']:,.0f} env-steps/s over the {seeds} seed(s).", ""]
        lines += [f"Final evaluation per seed: {', '.join(f'{x:.0f}' for x in final)}", "",
                  f"| env steps / seed | training minutes | eval return (mean +- std, {seeds} "
                  "seed(s)) |",
                  "|---:|---:|---:|"]
        lines += [f"| {s:,.0f} | {'-' if t is None else f'{t:.1f}'} | {mu:.0f} +- {sd:.0f} |"
                  for s, t, mu, sd in zip(c["env_steps"], c["minutes"], c["eval_mean"],
                                          c["eval_std"])]
        lines.append("")
    sac, ppo = out.get("sac_halfcheetah"), out.get("ppo_halfcheetah")
    if sac and ppo and sac["minutes"][-1] is not None:
        minutes = sac["minutes"][-1]
        before = [(t, e, s) for t, e, s in zip(ppo["minutes"], ppo["eval_mean"],
                                               ppo["env_steps"]) if t is not None
                  and t <= minutes]
        if before:
            t, e, steps = before[-1]
            lines += ["## Same wall-clock, halfcheetah", "",
                      f"SAC's last evaluation ({sac['eval_mean'][-1]:.0f} at "
                      f"{sac['env_steps'][-1]:,.0f} steps per seed) came after {minutes:.1f} "
                      f"training minutes; PPO's last evaluation within that time: {e:.0f} at "
                      f"{steps:,.0f} steps per seed ({t:.1f} min). Both ran on the same "
                      "shared CPU at the same time, so each slowed the other.", ""]
    from purerl.common.logging import machine_description, package_versions

    first = next((c for c in out.values() if c and c["machine"]), None) or {
        "machine": machine_description(), "versions": package_versions()}
    lines += [f"Machine: {first['machine']}", "", f"Versions: {first['versions']}",
              "", f"Load average at report time: {os.getloadavg()}", ""]
    with open(RESULTS + ".md", "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        launch(sys.argv[2])
    else:
        report()
