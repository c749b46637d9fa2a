"""Why is RL^2 below greedy on random MDPs? Reduced-size runs on the SAME code path.

Trains ``purerl.algos.rl2`` (``rl2.build`` -> ``ppo`` parts -> ``experiment.run_sweep``,
exactly what ``purerl-rl2`` runs) on a reduced random-MDP setting, and scores the agent,
greedy, PSRL, random and the value-iteration optimum on the SAME held-out tasks
(``purerl.common.evaluate.heldout_tasks``). A grid of traced PPO hyperparameters x seeds
runs in one compiled call (``--sweep name=v1,v2``); static choices (layer norm, value
normalisation, GRU width, rollout length) are ``--set field=value`` overrides of
``rl2.Config`` and need one run each.

Usage::

    python benchmarks/meta_rl_mdp_diagnosis.py --tag base
    python benchmarks/meta_rl_mdp_diagnosis.py --tag no-ln --set layer_norm=False
    python benchmarks/meta_rl_mdp_diagnosis.py --tag lam --sweep gae_lambda=0.3,0.95
    python benchmarks/meta_rl_mdp_diagnosis.py --write_md     # only re-render the table

Every run appends its rows (one per grid point) to
``benchmarks/results/meta_rl_mdp_diagnosis.json`` and re-renders
``benchmarks/results/meta_rl_mdp_diagnosis.md`` (the hand-written findings of
``meta_rl_mdp_diagnosis_findings.md`` are appended below the tables).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from purerl.algos import ppo, rl2
from purerl.baselines import mdps
from purerl.common import evaluate as ev
from purerl.common import sweep as sw
from purerl.common.experiment import run_sweep
from purerl.common.logging import machine_description, package_versions, write_json

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
JSON_PATH = os.path.join(RESULTS, "meta_rl_mdp_diagnosis.json")
MD_PATH = os.path.join(RESULTS, "meta_rl_mdp_diagnosis.md")

REDUCED = dict(task="mdp", num_states=5, num_actions=3, traj_len=5, num_traj=5,
               num_tasks=1000, num_envs=128, batch_size=128 * 25, mini_batch_size=32 * 25,
               num_updates=300, hidden_size=128, learning_rate=1e-3, ent_coef=0.01,
               reward_scale=0.1, clip_value=False, num_seeds=2)
"""The reduced setting: |S| = 5, |A| = 3, horizon 5, n = 5 episodes (trial = 25 steps);
the rollout is one whole trial (batch_size = num_envs * 25). The PPO settings are those of
the n=10 MDP run of ``meta_rl.md`` (reward_scale 0.1, no value clip, lr 1e-3, GRU 128)."""


def _parse_value(text: str, default):
    if isinstance(default, bool) or default is None and text in ("True", "False"):
        if text not in ("True", "False"):
            raise ValueError(f"--set: expected True or False, got {text!r}")
        return text == "True"
    if isinstance(default, int) and not isinstance(default, bool):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if default is None:
        return int(text) if text.lstrip("-").isdigit() else text
    return text


def make_config(sets: list[str]) -> rl2.Config:
    """``rl2.Config`` of the reduced setting with ``field=value`` overrides."""
    fields = {f.name: f for f in dataclasses.fields(rl2.Config)}
    values = dict(REDUCED)
    for item in sets:
        name, sep, text = item.partition("=")
        if not sep or name not in fields:
            raise ValueError(f"--set: expected FIELD=VALUE with FIELD in rl2.Config, got {item!r}")
        default = values.get(name, fields[name].default)
        values[name] = _parse_value(text, default)
    # keep a whole-trial rollout unless the rollout length is set explicitly
    if "batch_size" not in {s.partition("=")[0] for s in sets}:
        trial = values["num_traj"] * (values["traj_len"] or 10)
        values["batch_size"] = values["num_envs"] * trial
        if "mini_batch_size" not in {s.partition("=")[0] for s in sets}:
            values["mini_batch_size"] = values["batch_size"] // 4
    return rl2.Config(**values)


def setting_key(cfg: rl2.Config) -> str:
    return (f"S{cfg.num_states}-A{cfg.num_actions}-H{cfg.episode_length}-n{cfg.num_traj}"
            f"-tasks{cfg.num_tasks}")


def score_baselines(cfg: rl2.Config, num_eval_seeds: int = 3) -> dict:
    """Greedy, PSRL, random and optimum on the held-out tasks: mean over tasks per eval seed."""
    setup = rl2.build(cfg)
    trial_env = setup.trial_env
    tasks = ev.heldout_tasks(trial_env.env, cfg.num_tasks)
    s, a, h = cfg.num_states, cfg.num_actions, cfg.episode_length
    policies = {"random": mdps.random(a), "greedy": mdps.greedy(s, a, h),
                "psrl": mdps.psrl(s, a, h),
                "greedy_empirical": mdps.greedy(s, a, h, reward_estimate="empirical"),
                "oracle": mdps.value_iteration_oracle(tasks, h)}
    out = {}
    for name, policy in policies.items():
        t0 = time.perf_counter()
        fn = jax.jit(lambda key, p=policy: ev.evaluate_trials(trial_env, p, tasks, key))
        per_seed = [float(fn(jax.random.PRNGKey(ev.HELDOUT_TASK_SEED + 1 + i)).mean())
                    for i in range(num_eval_seeds)]
        per_ep = jax.jit(lambda key, p=policy: per_episode_returns(trial_env, p, tasks, key))(
            jax.random.PRNGKey(ev.HELDOUT_TASK_SEED + 1)).mean(axis=0)
        out[name] = {"mean": float(np.mean(per_seed)), "per_seed": per_seed,
                     "per_episode": np.asarray(per_ep).tolist(),
                     "wall_clock_s": time.perf_counter() - t0}
    out["optimum"] = {"mean": float(ev.optimal_returns(trial_env, tasks).mean())}
    return out


def per_episode_returns(trial_env, policy, tasks, key) -> jax.Array:
    """``[M, n]`` reward of each inner episode of ONE trial per task (as
    ``ev.evaluate_trials``, split by ``info["episode_idx"]``): does the policy improve
    from episode to episode of a trial, i.e. does it learn within the trial?"""
    params = trial_env.params_for_tasks(tasks)
    m = jax.tree.leaves(tasks)[0].shape[0]
    n = trial_env.num_episodes
    key_reset, key_run = jax.random.split(key)
    obs, state = jax.vmap(trial_env.reset)(jax.random.split(key_reset, m), params)

    def one_step(carry, key_t):
        obs, state, hidden, reset, per_ep = carry
        key_act, key_step = jax.random.split(key_t)
        hidden, action = policy.act(hidden, obs, reset, key_act)
        ts = jax.vmap(trial_env.step)(jax.random.split(key_step, m), state, action, params)
        per_ep = per_ep + jax.nn.one_hot(ts.info["episode_idx"], n) * ts.reward[:, None]
        return (ts.obs, ts.state, hidden, jnp.zeros_like(reset), per_ep), None

    carry = (obs, state, policy.initial_hidden(m), jnp.ones((m,), bool), jnp.zeros((m, n)))
    carry, _ = jax.lax.scan(one_step, carry, jax.random.split(key_run, trial_env.trial_length))
    return carry[-1]


def load_json() -> dict:
    import json
    if os.path.exists(JSON_PATH):
        with open(JSON_PATH) as f:
            return json.load(f)
    return {"baselines": {}, "rows": []}


def train_and_score(cfg: rl2.Config, sweep: dict, tag: str, eval_every: int,
                    command: str, save_params: str | None = None) -> list[dict]:
    setup = rl2.build(cfg)
    points = sw.grid_points(sweep)
    sw.check_points(cfg, points)
    hparams = None
    if sweep:
        hparams = sw.stack_hparams(ppo.hyperparams_from(cfg.ppo_config()), points)
    score_params, _ = rl2.make_evaluator(cfg, setup)
    curve = []  # (updates, [B] held-out score)
    t_eval = [0.0]

    def after_segment(done, state, metrics):
        t0 = time.perf_counter()
        scores = np.asarray(score_params(state.train_state.params)).mean(axis=1)
        t_eval[0] += time.perf_counter() - t0
        curve.append((done, scores.tolist()))
        print(f"  update {done:5d}  held-out score per run: "
              + " ".join(f"{x:7.2f}" for x in scores), flush=True)
        return False

    load0 = os.getloadavg()
    t0 = time.perf_counter()
    result = run_sweep(setup.parts.init, setup.parts.run_updates, cfg.seed, cfg.num_seeds,
                       cfg.num_updates, eval_every, hparams=hparams,
                       after_segment=after_segment)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    final = np.asarray(curve[-1][1])
    # The same params acting by arg-max (is the sampling noise what costs the score?)
    score_argmax, _ = rl2.make_evaluator(dataclasses.replace(cfg, eval_greedy=True), setup)
    final_argmax = np.asarray(score_argmax(result.state.train_state.params)).mean(axis=1)
    tasks = ev.heldout_tasks(setup.trial_env.env, cfg.num_tasks)
    per_ep = jax.jit(jax.vmap(lambda p: per_episode_returns(
        setup.trial_env, ev.network_policy(setup.net, p), tasks,
        jax.random.PRNGKey(ev.HELDOUT_TASK_SEED + 1)).mean(axis=0)))(
        result.state.train_state.params)
    per_ep = np.asarray(per_ep)                                    # [B, n]
    if save_params:
        import pickle
        with open(save_params, "wb") as f:
            pickle.dump(jax.tree.map(np.asarray, result.state.train_state.params), f)
    rows = []
    for g, point in enumerate(points):
        seeds = final[g * cfg.num_seeds:(g + 1) * cfg.num_seeds]
        rows.append({
            "tag": tag, "setting": setting_key(cfg), "point": point,
            "config": {k: v for k, v in dataclasses.asdict(cfg).items()},
            "score_per_seed": seeds.tolist(), "mean": float(seeds.mean()),
            "per_episode": per_ep[g * cfg.num_seeds:(g + 1) * cfg.num_seeds].mean(axis=0).tolist(),
            "argmax_mean": float(final_argmax[g * cfg.num_seeds:(g + 1) * cfg.num_seeds].mean()),
            "stderr": float(seeds.std(ddof=1) / np.sqrt(len(seeds))) if len(seeds) > 1 else None,
            "curve": [(u, float(np.mean(s[g * cfg.num_seeds:(g + 1) * cfg.num_seeds])))
                      for u, s in curve],
            "env_steps_per_seed": cfg.num_updates * cfg.batch_size,
            "wall_clock_s": {"compile": result.compile_s, "train_and_eval": result.run_s,
                             "eval": t_eval[0], "total": wall,
                             "runs_in_call": len(points) * cfg.num_seeds},
            "loadavg_start_end": [load0[0], load1[0]], "command": command,
            "machine": machine_description()["platform"],
        })
    return rows


def fmt_point(point: dict) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in point.items()) or "-"


def render(data: dict) -> str:
    lines = ["# RL^2 on random MDPs: why the agent was below greedy (diagnosis)", "",
             "Written by `python benchmarks/meta_rl_mdp_diagnosis.py` (rows) from measured "
             "runs; findings at the end. Score = total reward per trial, mean over the SAME "
             "held-out tasks for every method; agent rows: mean over independently trained "
             "seeds (+- stderr over seeds) of the sampled policy after the last update. "
             "Baselines: mean over 3 evaluation seeds. Machine: 2-core CPU shared with 3 "
             "other jobs (load average in each row), jax "
             f"{package_versions().get('jax', '?')}.", ""]
    for setting, base in data["baselines"].items():
        lines += [f"## Setting {setting}", "",
                  "| method | score | normalised by optimum | per inner episode |",
                  "|---|---|---|---|"]
        opt = base["optimum"]["mean"]
        for name in ("random", "greedy", "greedy_empirical", "psrl", "oracle", "optimum"):
            if name in base:
                per_ep = " ".join(f"{x:.2f}" for x in base[name].get("per_episode", []))
                lines.append(f"| {name} | {base[name]['mean']:.2f} | "
                             f"{base[name]['mean'] / opt:.3f} | {per_ep or '-'} |")
        lines += ["", "| tag | overrides | grid point | RL^2 score | +- | vs greedy | "
                  "normalised | arg-max actions | seeds | env steps/seed | "
                  "wall-clock (runs in call) | load avg |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in data["rows"]:
            if r["setting"] != setting:
                continue
            over = r.get("overrides") or "-"
            se = "-" if r["stderr"] is None else f"{r['stderr']:.2f}"
            w = r["wall_clock_s"]
            lines.append(
                f"| {r['tag']} | {over} | {fmt_point(r['point'])} | {r['mean']:.2f} | {se} | "
                f"{r['mean'] - base['greedy']['mean']:+.2f} | {r['mean'] / opt:.3f} | "
                f"{r.get('argmax_mean', float('nan')):.2f} | "
                f"{len(r['score_per_seed'])} | {r['env_steps_per_seed'] / 1e6:.2f}M | "
                f"{w['total']:.0f} s ({w['runs_in_call']}) | "
                f"{r['loadavg_start_end'][0]:.1f}-{r['loadavg_start_end'][1]:.1f} |")
        lines += ["", "Commands and held-out learning curves (update: mean score):", ""]
        for r in data["rows"]:
            if r["setting"] != setting:
                continue
            curve = " ".join(f"{u}:{s:.1f}" for u, s in r["curve"])
            per_ep = " ".join(f"{x:.2f}" for x in r.get("per_episode", []))
            lines.append(f"- `{r['tag']}` {fmt_point(r['point'])}: `{r['command']}`; "
                         f"curve {curve}; per inner episode {per_ep or '-'}")
        lines.append("")
    findings = os.path.join(RESULTS, "meta_rl_mdp_diagnosis_findings.md")
    if os.path.exists(findings):
        with open(findings) as f:
            lines += ["", f.read()]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tag", default="run")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a field of rl2.Config (static: one compile per run)")
    p.add_argument("--sweep", action="append", default=[], metavar="NAME=V1,V2",
                   help=f"traced hyperparameter grid, names in {list(ppo.SWEEPABLE)}")
    p.add_argument("--eval_every", type=int, default=50,
                   help="updates between held-out evaluations (a divisor of num_updates)")
    p.add_argument("--baselines_only", action="store_true")
    p.add_argument("--save_params", default=None, help="pickle the final params [B, ...] here")
    p.add_argument("--write_md", action="store_true", help="only re-render the md")
    args = p.parse_args(argv)
    data = load_json()
    if not args.write_md:
        cfg = make_config(args.set)
        key = setting_key(cfg)
        if "greedy_empirical" not in data["baselines"].get(key, {}):
            print(f"baselines for {key} ...", flush=True)
            data["baselines"][key] = score_baselines(cfg)
            write_json(JSON_PATH, data)
        b = data["baselines"][key]
        print("  " + "  ".join(f"{k} {v['mean']:.2f}" for k, v in b.items()), flush=True)
        if not args.baselines_only:
            sweep = sw.parse_sweep(args.sweep, ppo.SWEEPABLE, {"tau": "gae_lambda"})
            command = "python benchmarks/meta_rl_mdp_diagnosis.py " + shlex.join(argv)
            rows = train_and_score(cfg, sweep, args.tag, args.eval_every, command,
                                   args.save_params)
            for r in rows:
                r["overrides"] = " ".join(args.set)
                print(f"{r['tag']} {fmt_point(r['point'])}: {r['mean']:.2f} "
                      f"(greedy {b['greedy']['mean']:.2f}, psrl {b['psrl']['mean']:.2f}, "
                      f"optimum {b['optimum']['mean']:.2f}) in {r['wall_clock_s']['total']:.0f} s",
                      flush=True)
            data = load_json()   # another run may have written meanwhile
            data["baselines"].setdefault(key, b)
            data["rows"] += rows
            write_json(JSON_PATH, data)
    with open(MD_PATH, "w") as f:
        f.write(render(data))


if __name__ == "__main__":
    main(sys.argv[1:])
