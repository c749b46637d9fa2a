"""Score the classical baselines of RL^2 Tables 1 and 2 on the agents' held-out tasks.

Usage::

    python benchmarks/meta_rl_baselines.py                      # every setting
    python benchmarks/meta_rl_baselines.py --task bandit --n 10 --k 5

For every setting (bandits: n in {10, 100, 500} x k in {5, 10, 50}; MDPs: n in
{10, 25, 50, 75, 100}) and baseline: hyperparameters (eps, UCB1's c, Gittins' discount) are
chosen by a grid search, as the RL^2 paper did ("a separate grid search for each of the
experimental settings"), but on TUNING tasks drawn with a different key than the held-out
ones; the chosen value is then scored on the 1000 held-out tasks of
``purerl.common.evaluate.heldout_tasks`` with ``num_seeds`` evaluation keys. Reported: mean
over seeds of the mean trial return, its standard error over seeds, and the standard error
over tasks (which is what separates our task sample from the paper's).

Writes ``benchmarks/results/meta_rl_baselines.json`` (a list of rows with keys task, n, k,
method, mean, stderr, num_seeds, paper, wall_clock_s, plus stderr_tasks, hyperparameters,
normalised) and ``benchmarks/results/meta_rl_baselines.md``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import tyro

import envs_jax
from purerl.baselines import bandits, mdps
from purerl.baselines.gittins import gittins_index_table
from purerl.common import evaluate as ev
from purerl.common.logging import machine_description, package_versions, write_json

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
TUNING_TASK_SEED = ev.HELDOUT_TASK_SEED + 1
"""Key of the tuning tasks (never the held-out key)."""

BANDIT_SETTINGS = [(n, k) for n in (10, 100, 500) for k in (5, 10, 50)]
MDP_SETTINGS = [10, 25, 50, 75, 100]

# RL^2 paper (Duan et al. 2016), Table 1 (bandits, keyed (n, k)) and Table 2 (MDPs, keyed n).
PAPER_BANDIT = {
    "random": {(10, 5): 5.0, (10, 10): 5.0, (10, 50): 5.1, (100, 5): 49.9, (100, 10): 49.9,
               (100, 50): 49.8, (500, 5): 249.8, (500, 10): 249.0, (500, 50): 249.6},
    "gittins": {(10, 5): 6.6, (10, 10): 6.6, (10, 50): 6.5, (100, 5): 78.3, (100, 10): 82.8,
                (100, 50): 85.2, (500, 5): 405.8, (500, 10): 437.8, (500, 50): 463.7},
    "thompson": {(10, 5): 5.7, (10, 10): 5.5, (10, 50): 5.2, (100, 5): 74.7, (100, 10): 76.7,
                 (100, 50): 64.5, (500, 5): 402.0, (500, 10): 429.5, (500, 50): 427.2},
    "ucb1": {(10, 5): 6.7, (10, 10): 6.7, (10, 50): 6.6, (100, 5): 78.0, (100, 10): 82.4,
             (100, 50): 84.3, (500, 5): 405.8, (500, 10): 437.1, (500, 50): 457.6},
    "eps_greedy": {(10, 5): 6.6, (10, 10): 6.6, (10, 50): 6.5, (100, 5): 75.4,
                   (100, 10): 77.4, (100, 50): 78.3, (500, 5): 388.2, (500, 10): 408.0,
                   (500, 50): 413.6},
    "greedy": {(10, 5): 6.6, (10, 10): 6.6, (10, 50): 6.5, (100, 5): 74.8, (100, 10): 77.1,
               (100, 50): 78.0, (500, 5): 380.6, (500, 10): 395.0, (500, 50): 402.8},
}
PAPER_MDP = {
    "random": {10: 100.1, 25: 250.2, 50: 499.7, 75: 749.9, 100: 999.4},
    "psrl": {10: 138.1, 25: 408.8, 50: 904.4, 75: 1417.1, 100: 1939.5},
    "eps_greedy": {10: 132.8, 25: 377.3, 50: 823.3, 75: 1293.9, 100: 1778.2},
    "greedy": {10: 134.8, 25: 368.8, 50: 769.3, 75: 1172.9, 100: 1578.5},
}
# The paper's Greedy / eps-greedy columns, beside our empirical-mean reading of them.
PAPER_MDP["greedy_empirical"] = PAPER_MDP["greedy"]
PAPER_MDP["eps_greedy_empirical"] = PAPER_MDP["eps_greedy"]
# SNAIL paper (Mishra et al. 2018), Table 4: MDP scores / value-iteration optimum.
PAPER_SNAIL_NORMALISED = {
    "random": {10: 0.482, 25: 0.482, 50: 0.481, 75: 0.482, 100: 0.481},
    "psrl": {10: 0.665, 25: 0.788, 50: 0.871, 75: 0.910, 100: 0.934},
}

EXPLANATIONS = {
    "bandit random": (
        "not a policy difference: a random arm scores n * mean(p) in expectation, and the "
        "mean p of our fixed 1000 held-out tasks is a little above 0.5 (a property of the "
        "task draw, within ~2 standard errors over tasks of the paper's value)."),
    "bandit thompson (n=10)": (
        "same definition (Beta(1, 1) posterior sampling); the gap (~0.2) is about 3 standard "
        "errors of the difference of two 1000-task samples plus the paper's rounding to 0.1; "
        "at n=100 and 500 our TS is within 1% of the paper."),
    "bandit greedy / eps-greedy": (
        "the paper defines them as we do (best empirical mean after one pseudo-success and "
        "one pseudo-failure per arm; eps by a grid search per setting), yet ours score 1-4% "
        "higher (above 3% at n=10, k=50 and n in {100, 500}, k=10; at n=10 the paper's "
        "rounding to 0.1 is itself ~1.5%). The paper does not say how ties are broken or whether its grid included "
        "eps as small as ours (0.005-0.05); greedy's score also has the largest spread "
        "between evaluation seeds (see +- seeds). We report, not tune away, the gap."),
    "mdp greedy / eps-greedy": (
        "definitions differ where the paper is silent, and the measured rows say how. The "
        "paper: 'actions optimal against the MAP estimate according to the current "
        "posterior, updated once per episode'. It does not say what an untried (s, a) is "
        "worth. `greedy` / `eps_greedy` use the task prior there (mean reward 1, uniform "
        "next state), which keeps untried actions as attractive as an average one and makes "
        "greedy explore: 11-19% above the paper's Greedy and even above its PSRL at small "
        "n. `greedy_empirical` / `eps_greedy_empirical` use the sample mean of the observed "
        "rewards, 0 for an untried pair (an estimate initialised at zero), and land within "
        "1% of the paper's Greedy and eps-greedy columns at every n (eps-greedy at n=10: "
        "+2.4%): that is how we read the paper's baselines. The RL^2 agent is compared with both."),
    "mdp optimum / SNAIL Table 4 normalisation": (
        "our random policy scores ~0.46 of our value-iteration optimum, SNAIL reports 0.482 "
        "for random, so SNAIL's normaliser is ~4% below ours (207.7 vs 218.5 at n=10 from "
        "the RL^2 random score). Our optimum is the exact expected return of the task-aware "
        "finite-horizon (10-step, undiscounted) optimum; SNAIL does not state how it "
        "computed its optimum (discounting or a sampled estimate would lower it), so "
        "normalised scores are ~4% below SNAIL's for the same raw score (our PSRL matches "
        "the RL^2 paper's raw PSRL within 3% at every n, yet sits 4-8% below SNAIL's "
        "normalised PSRL)."),
}
"""Why rows differ from the paper by more than 3% (keyed by task/method), written into the md."""

EPSILON_GRID = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
UCB_C_GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
GITTINS_DISCOUNT_GRID = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995)
GITTINS_NUM_LAMBDAS = 501  # interpolated crossing: agrees with 2001 points to ~1e-6


@dataclasses.dataclass(frozen=True)
class Args:
    """Which settings to score and how."""

    task: Literal["all", "bandit", "mdp"] = "all"
    """Bandits (RL^2 Table 1), MDPs (Table 2) or both."""
    n: int | None = None
    """Only this number of episodes per trial (default: every n of the table)."""
    k: int | None = None
    """Only this number of arms (bandits; default: 5, 10 and 50)."""
    num_seeds: int = 3
    """Evaluation keys per baseline (mean +- standard error over them)."""
    num_tasks: int = 1000
    """Held-out tasks (the agents' evaluation set: ``heldout_tasks``, fixed key)."""
    out_prefix: str = os.path.join(RESULTS_DIR, "meta_rl_baselines")
    """Output path without extension (.json and .md are written)."""
    markdown_only: bool = False
    """Only rewrite the .md from an existing .json (e.g. after editing the explanations)."""


Scorer = Callable[[object, object, jax.Array], jax.Array]
"""``score(hyper, tasks, key) -> [M]`` total reward per trial (jitted once per method)."""


def _scorer(trial_env, make_policy: Callable[[object], ev.Policy]) -> Scorer:
    # Hyperparameters and tasks are arguments, not constants: one compile serves the grid
    # search on tuning tasks and every evaluation seed on the held-out tasks.
    return jax.jit(lambda hyper, tasks, key: ev.evaluate_trials(
        trial_env, make_policy(hyper), tasks, key))


def _run_method(score: Scorer, grid: list, labels: list, tune_tasks, tasks,
                num_seeds: int) -> dict:
    """Grid search on the tuning tasks (one key), then ``num_seeds`` keys on held-out tasks."""
    start = time.perf_counter()
    best = 0
    if len(grid) > 1:
        tune_scores = [float(score(h, tune_tasks, jax.random.PRNGKey(10_000)).mean())
                       for h in grid]
        best = int(np.argmax(tune_scores))
    per_seed = np.stack([np.asarray(score(grid[best], tasks, jax.random.PRNGKey(seed)))
                         for seed in range(num_seeds)])  # [S, M]
    seed_means = per_seed.mean(axis=1)
    return {
        "mean": float(seed_means.mean()),
        "stderr": float(seed_means.std(ddof=1) / np.sqrt(num_seeds)) if num_seeds > 1 else 0.0,
        "stderr_tasks": float(per_seed.mean(axis=0).std(ddof=1) / np.sqrt(per_seed.shape[1])),
        "hyperparameters": labels[best],
        "wall_clock_s": time.perf_counter() - start,
    }


_GITTINS_TABLES: dict[float, np.ndarray] = {}


def _gittins_table(discount: float) -> np.ndarray:
    """Index table covering every n of Table 1 (at most 499 pulls before the last one)."""
    if discount not in _GITTINS_TABLES:
        _GITTINS_TABLES[discount] = gittins_index_table(
            discount, max(n for n, _ in BANDIT_SETTINGS) - 1, num_lambdas=GITTINS_NUM_LAMBDAS)
    return _GITTINS_TABLES[discount]


def bandit_rows(n: int, k: int, args: Args) -> list[dict]:
    env, _ = envs_jax.make("bernoulli_bandit_trial", num_arms=k, num_episodes=n)
    tasks = ev.heldout_tasks(env.env, args.num_tasks)
    tune_tasks = ev.heldout_tasks(env.env, args.num_tasks, seed=TUNING_TASK_SEED)
    f32 = jnp.float32
    methods = {
        "random": (lambda h: bandits.random(k), [None], [{}]),
        "greedy": (lambda h: bandits.greedy(k), [None], [{"prior": [1, 1]}]),
        "eps_greedy": (lambda h: bandits.epsilon_greedy(k, h), [f32(e) for e in EPSILON_GRID],
                       [{"epsilon": e, "prior": [1, 1]} for e in EPSILON_GRID]),
        "ucb1": (lambda h: bandits.ucb1(k, h, prior=(1.0, 1.0)), [f32(c) for c in UCB_C_GRID],
                 [{"c": c, "prior": [1, 1]} for c in UCB_C_GRID]),
        "ucb1_classic": (lambda h: bandits.ucb1(k), [None], [{"c": 1.0, "prior": [0, 0]}]),
        "thompson": (lambda h: bandits.thompson_sampling(k), [None], [{"prior": [1, 1]}]),
        "gittins": (lambda h: bandits.gittins(k, h),
                    [jnp.asarray(_gittins_table(g)[:n, :n]) for g in GITTINS_DISCOUNT_GRID],
                    [{"discount": g} for g in GITTINS_DISCOUNT_GRID]),
    }
    rows = []
    optimum = float(ev.optimal_returns(env, tasks).mean())
    for name, (make_policy, grid, labels) in methods.items():
        result = _run_method(_scorer(env, make_policy), grid, labels, tune_tasks, tasks,
                             args.num_seeds)
        rows.append(dict(task="bandit", n=n, k=k, method=name, num_seeds=args.num_seeds,
                         paper=PAPER_BANDIT.get(name, {}).get((n, k)),
                         normalised=result["mean"] / optimum, **result))
        _print_row(rows[-1])
    rows.append({"task": "bandit", "n": n, "k": k, "method": "optimum", "mean": optimum, "stderr": 0.0,
                     "stderr_tasks": float(np.std(ev.optimal_returns(env, tasks), ddof=1)
                                        / np.sqrt(args.num_tasks)),
                     "num_seeds": 1, "paper": None, "hyperparameters": {}, "wall_clock_s": 0.0,
                     "normalised": 1.0})
    _print_row(rows[-1])
    return rows


def mdp_rows(n: int, args: Args) -> list[dict]:
    env, _ = envs_jax.make("random_mdp_trial", num_episodes=n)
    base = env.env
    tasks = ev.heldout_tasks(base, args.num_tasks)
    tune_tasks = ev.heldout_tasks(base, args.num_tasks, seed=TUNING_TASK_SEED)
    sizes = {"num_states": base.num_states, "num_actions": base.num_actions,
                 "horizon": base.horizon}
    methods = {
        "random": (lambda h: mdps.random(base.num_actions), [None], [{}]),
        "greedy": (lambda h: mdps.greedy(**sizes), [None], [{}]),
        "eps_greedy": (lambda h: mdps.epsilon_greedy(h, **sizes),
                       [jnp.float32(e) for e in EPSILON_GRID],
                       [{"epsilon": e} for e in EPSILON_GRID]),
        "psrl": (lambda h: mdps.psrl(**sizes), [None], [{}]),
        # The paper's Greedy read as an estimate initialised at zero (mdps module doc).
        "greedy_empirical": (lambda h: mdps.greedy(**sizes, reward_estimate="empirical"),
                             [None], [{"reward_estimate": "empirical"}]),
        "eps_greedy_empirical": (
            lambda h: mdps.epsilon_greedy(h, **sizes, reward_estimate="empirical"),
            [jnp.float32(e) for e in EPSILON_GRID],
            [{"epsilon": e, "reward_estimate": "empirical"} for e in EPSILON_GRID]),
    }
    optimal = ev.optimal_returns(env, tasks)
    optimum = float(optimal.mean())
    rows = []
    for name, (make_policy, grid, labels) in methods.items():
        result = _run_method(_scorer(env, make_policy), grid, labels, tune_tasks, tasks,
                             args.num_seeds)
        rows.append(dict(task="mdp", n=n, k=None, method=name, num_seeds=args.num_seeds,
                         paper=PAPER_MDP.get(name, {}).get(n),
                         normalised=result["mean"] / optimum, **result))
        _print_row(rows[-1])
    rows.append({"task": "mdp", "n": n, "k": None, "method": "optimum", "mean": optimum, "stderr": 0.0,
                     "stderr_tasks": float(np.std(optimal, ddof=1) / np.sqrt(args.num_tasks)),
                     "num_seeds": 1, "paper": None, "hyperparameters": {"value_iteration": True},
                     "wall_clock_s": 0.0, "normalised": 1.0})
    _print_row(rows[-1])
    return rows


def _print_row(r: dict) -> None:
    paper = "-" if r["paper"] is None else f"{r['paper']:.1f}"
    print(f"{r['task']:6s} n={r['n']:<3d} k={r['k']!s:4s} {r['method']:13s} "
          f"{r['mean']:9.2f} +- {r['stderr']:.2f} (tasks +- {r['stderr_tasks']:.2f}) "
          f"paper {paper:>7s} {r['hyperparameters']} {r['wall_clock_s']:.1f}s", flush=True)


def _fmt_hyper(h: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in h.items()) or "-"


def _diff(r: dict) -> str:
    if r["paper"] is None:
        return "-"
    return f"{100.0 * (r['mean'] - r['paper']) / r['paper']:+.1f}%"


def write_markdown(path: str, rows: list[dict], command: str, total_s: float) -> None:
    lines = [
        "# Classical meta-RL baselines on the held-out tasks (RL^2 Tables 1-2, SNAIL Table 4)",
        "",
        "Commands (each row keeps the one that scored it): " + ", ".join(
            f"`{c}`" for c in dict.fromkeys(r.get("command", command) for r in rows)),
        "",
        f"Last command: `{command}`",
        "",
        (f"Its total wall-clock: {total_s / 60:.1f} min (compiles included). Machine: "
        f"`{machine_description()}`."),
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in package_versions().items()) + ".",
        "",
        ("Every number: total reward per trial, mean over the 1000 held-out tasks of "
        "`purerl.common.evaluate.heldout_tasks` (key `HELDOUT_TASK_SEED`, the agents' "
        "evaluation set), then mean over evaluation seeds. `+- seeds`: standard error over "
        "the seeds (evaluation noise on these fixed tasks). `+- tasks`: standard error over "
        "the 1000 tasks, the yardstick for comparing with the paper, whose 1000 tasks were "
        "different draws. Hyperparameters: grid search on 1000 separate tuning tasks (key "
        "`HELDOUT_TASK_SEED + 1`), as the RL^2 paper tuned each method per setting. "
        "`optimum`: the task-aware optimum, n * max p (bandits) or n * V*(s0) by "
        "value iteration (MDPs), analytic on the same tasks."),
        "",
        "## Bandits (RL^2 Table 1)",
        "",
        ("| n | k | method | ours | +- seeds | +- tasks | RL^2 paper | diff | "
        "hyperparameters | wall-clock (s) |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["task"] == "bandit":
            paper = "-" if r["paper"] is None else f"{r['paper']:.1f}"
            lines.append(
                f"| {r['n']} | {r['k']} | {r['method']} | {r['mean']:.2f} | "
                f"{r['stderr']:.2f} | {r['stderr_tasks']:.2f} | {paper} | {_diff(r)} | "
                f"{_fmt_hyper(r['hyperparameters'])} | {r['wall_clock_s']:.1f} |")
    lines += [
        "",
        "## Tabular MDPs (RL^2 Table 2; normalised as SNAIL Table 4)",
        "",
        ("| n | method | ours | +- seeds | +- tasks | RL^2 paper | diff | ours / VI optimum "
        "| SNAIL Table 4 | hyperparameters | wall-clock (s) |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["task"] == "mdp":
            paper = "-" if r["paper"] is None else f"{r['paper']:.1f}"
            snail = PAPER_SNAIL_NORMALISED.get(r["method"], {}).get(r["n"])
            snail = "-" if snail is None else f"{snail:.3f}"
            lines.append(
                f"| {r['n']} | {r['method']} | {r['mean']:.2f} | {r['stderr']:.2f} | "
                f"{r['stderr_tasks']:.2f} | {paper} | {_diff(r)} | {r['normalised']:.3f} | "
                f"{snail} | {_fmt_hyper(r['hyperparameters'])} | {r['wall_clock_s']:.1f} |")
    lines += ["", "## Where we differ from the paper by more than 3%", ""]
    for r in rows:
        if r["paper"] is not None and abs(r["mean"] - r["paper"]) > 0.03 * r["paper"]:
            setting = (f"n={r['n']}, k={r['k']}" if r["task"] == "bandit" else f"n={r['n']}")
            lines.append(f"- {r['task']} {setting}, {r['method']}: ours {r['mean']:.2f}, "
                         f"paper {r['paper']:.1f} ({_diff(r)}; +- tasks {r['stderr_tasks']:.2f})")
    lines += ["", "Why:", ""] + [f"- **{key}**: {text}" for key, text in EXPLANATIONS.items()]
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def _merge_with_existing(path: str, rows: list[dict]) -> list[dict]:
    """Rows of settings not scored in this run are kept from ``path`` (a run restricted with
    ``--task`` / ``--n`` / ``--k`` must not drop the other settings' rows)."""
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        old = json.load(f)
    done = {(r["task"], r["n"], r["k"]) for r in rows}
    return [r for r in old if (r["task"], r["n"], r["k"]) not in done] + rows


def main(args: Args) -> None:
    command = "python benchmarks/meta_rl_baselines.py " + " ".join(sys.argv[1:])
    if args.markdown_only:
        with open(args.out_prefix + ".json") as f:
            rows = json.load(f)
        # Keep the command and total wall-clock of the run that produced the JSON.
        with open(args.out_prefix + ".md") as f:
            old = f.read()
        run_command = re.search(r"^Last command: `(.*)`$", old, re.MULTILINE).group(1)
        total_min = float(re.search(r"^Its total wall-clock: ([0-9.]+) min", old,
                                    re.MULTILINE).group(1))
        write_markdown(args.out_prefix + ".md", rows, run_command, 60.0 * total_min)
        return
    start = time.perf_counter()
    rows = []
    if args.task in ("all", "bandit"):
        for n, k in BANDIT_SETTINGS:
            if (args.n is None or args.n == n) and (args.k is None or args.k == k):
                rows += bandit_rows(n, k, args)
    if args.task in ("all", "mdp"):
        for n in MDP_SETTINGS:
            if args.n is None or args.n == n:
                rows += mdp_rows(n, args)
    total = time.perf_counter() - start
    os.makedirs(os.path.dirname(args.out_prefix) or ".", exist_ok=True)
    for r in rows:
        r["command"] = command.strip()
    rows = _merge_with_existing(args.out_prefix + ".json", rows)
    write_json(args.out_prefix + ".json", rows)
    write_markdown(args.out_prefix + ".md", rows, command.strip(), total)
    print(f"wrote {args.out_prefix}.json/.md in {total / 60:.1f} min")


if __name__ == "__main__":
    main(tyro.cli(Args))
