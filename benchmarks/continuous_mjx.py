"""Learning curves of continuous-control agents on the MJX tasks, on this machine's CPU.

Runs the commands in ``RUNS`` (each one ``purerl-sac`` / ``purerl-ppo`` CLI call, 3 seeds
vmapped in one compiled program; they can run concurrently) and writes
``benchmarks/results/continuous_mjx.md`` + ``.json`` from their run directories::

    python benchmarks/continuous_mjx.py run sac_halfcheetah   # one run (hours on 2 CPUs)
    python benchmarks/continuous_mjx.py report                # table from finished runs

Wall-clock: compile time is reported apart; training time is the run's ``run_s``
(``summary.json``), and a point of a curve is placed at ``run_s * update / num_updates``
(updates take equal time: same work each, evaluations included).
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

SAC = ("purerl-sac --env_id {env} --num_seeds 3 --num_envs 16 --num_updates 18750 "
       "--sgd_steps_per_call 16 --learning_starts 10000 --replay_buffer_size 1000000 "
       "--actor_hidden_sizes 256 256 --critic_hidden_sizes 256 256 --policy_lr 3e-4 "
       "--q_lr 3e-4 --alpha_lr 3e-4 --eval_every 1250 --num_eval_episodes 5 "
       "--checkpoint_every 3750 --log_every 625")
PPO = ("purerl-ppo --config ppo_halfcheetah --num_seeds 3 --num_updates 36 "
       "--checkpoint_every 6 --eval_every 6 --eval_episodes 4 --log_every 3")
RUNS = {
    "sac_halfcheetah": (SAC.format(env="halfcheetah"), 4000.0),
    "sac_hopper": (SAC.format(env="hopper"), 2000.0),
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


def curve(name: str) -> dict | None:
    """Evaluation curve of a finished (or partly checkpointed) run, or None."""
    path = run_dir(name)
    summary_path = os.path.join(path, "summary.json")
    if not os.path.exists(summary_path):
        return None
    with open(summary_path) as f:
        summary = json.load(f)
    m = np.load(os.path.join(path, "metrics.npz"))
    evals = m["eval/return"].reshape(-1, m["eval/return"].shape[-1])        # [S, U]
    steps = m["env_steps"].reshape(-1, m["env_steps"].shape[-1])[0]          # per seed
    at = np.isfinite(evals).all(0)
    updates = np.nonzero(at)[0] + 1
    total = m["env_steps"].shape[-1]
    run_s = summary["wall_clock_s"]["run"]
    return {"command": RUNS[name][0], "target": RUNS[name][1],
            "env_steps": steps[at].tolist(), "minutes": (run_s * updates / total / 60).tolist(),
            "eval_mean": evals[:, at].mean(0).tolist(), "eval_std": evals[:, at].std(0).tolist(),
            "final_per_seed": evals[:, at][:, -1].tolist(),
            "compile_s": summary["wall_clock_s"]["compile"], "run_s": run_s,
            "env_steps_per_s": summary.get("env_steps_per_s"),
            "machine": summary.get("machine"), "versions": summary.get("versions")}


def report() -> None:
    out = {name: curve(name) for name in RUNS}
    with open(RESULTS + ".json", "w") as f:
        json.dump(out, f, indent=1)
    lines = ["# Continuous control on the MJX tasks, 2-core CPU", "",
             "`python benchmarks/continuous_mjx.py report` (after `... run <name>` for each "
             "name; the commands are below). 3 seeds vmapped in one compiled program per "
             "run; evaluation = mean return of deterministic-action episodes inside the "
             "compiled loop; minutes = training wall-clock (compile excluded).", ""]
    for name, c in out.items():
        if c is None:
            lines += [f"## {name}: not run yet", ""]
            continue
        final = np.asarray(c["final_per_seed"])
        verdict = ("" if c["target"] is None else
                   f" (target >= {c['target']:.0f} at 300k steps: "
                   f"{'met' if final.mean() >= c['target'] else 'NOT met'})")
        lines += [f"## {name}: final {final.mean():.0f} +- {final.std():.0f}{verdict}", "",
                  f"`{c['command']}`", "",
                  f"compile {c['compile_s']:.0f} s, training {c['run_s'] / 60:.1f} min, "
                  f"{c['env_steps_per_s']:,.0f} env-steps/s over the 3 seeds; "
                  f"final per seed {', '.join(f'{x:.0f}' for x in final)}", "",
                  "| env steps / seed | minutes | eval return (mean +- std over seeds) |",
                  "|---:|---:|---:|"]
        lines += [f"| {s:,.0f} | {t:.1f} | {mu:.0f} +- {sd:.0f} |" for s, t, mu, sd in
                  zip(c["env_steps"], c["minutes"], c["eval_mean"], c["eval_std"])]
        lines.append("")
    first = next((c for c in out.values() if c), None)
    if first:
        lines += [f"Machine: {first['machine']}", "", f"Versions: {first['versions']}", ""]
    with open(RESULTS + ".md", "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        launch(sys.argv[2])
    else:
        report()
