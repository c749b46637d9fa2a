"""AMP on the MJX humanoid's walk clip at CPU scale: pose error, SPARC and return.

Runs the shipped ``amp_humanoid_walk`` config through ``purerl-ppo`` (one seed; the
evaluation blocks score the deterministic policy against every demo clip inside the
compiled loop, ``purerl.common.imitation_eval``), scores two baselines with the same
evaluator, and writes ``benchmarks/results/imitation.md`` + ``.json``::

    python benchmarks/imitation_humanoid.py run amp_walk      # training (CPU: ~1 h)
    python benchmarks/imitation_humanoid.py baselines         # random + untrained policy
    python benchmarks/imitation_humanoid.py report            # table from the run's CSV
    python benchmarks/imitation_humanoid.py video amp_walk    # policy beside the clip (GIF)

The run's CSV is written after every segment, so a run still going (or stopped) reports
what it has.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys


HERE = os.path.dirname(os.path.abspath(__file__))
RUNS_DIR = os.path.join(HERE, "runs")
RESULTS = os.path.join(HERE, "results", "imitation")
EVAL = ["--eval_every", "20", "--eval_episodes", "8"]
RUNS = {
    "amp_walk": ["purerl-ppo", "--config", "amp_humanoid_walk", "--num_updates", "400",
                 "--checkpoint_every", "20", "--log_every", "5", "--video", *EVAL],
}
"""name -> command (64 actors x 16 steps per update: 1024 env steps)."""
METRICS = ("eval/pose_error", "eval/pose_error_nearest", "eval/sparc", "eval/return",
           "eval/length")


def run_dir(name: str) -> str:
    return os.path.join(RUNS_DIR, f"{name}_cpu")


def launch(name: str) -> None:
    args = RUNS[name] + ["--runs_dir", RUNS_DIR, "--out_file", f"{name}_cpu"]
    exe = os.path.join(os.path.dirname(sys.executable), args[0])
    with open(run_dir(name) + ".log", "w") as log:
        subprocess.run([exe, *args[1:]], stdout=log, stderr=subprocess.STDOUT, check=True)


def baselines() -> dict:
    """Pose error etc. of a uniform-random policy and of the untrained (initial) policy's
    mean action, with the evaluator and settings of the runs' evaluation blocks."""
    import jax

    from envs_jax.policy import feed_forward
    from purerl.algos import ppo
    from purerl.cli import ppo as ppo_cli
    from purerl.common import evaluate as ev
    from purerl.common import imitation_eval as ie

    args, _ = ppo_cli.parse(RUNS["amp_walk"][1:])
    setup = ppo_cli.build_setup(args)
    env, params = setup.env, setup.env_params
    reference = ie.make_reference(env, params)
    space = env.action_space(params)
    key = jax.random.PRNGKey(0x5EED)

    def score(policy):
        out = jax.jit(lambda k: ie.evaluate_imitation(env, params, policy, k, reference,
                                                      args.eval_episodes).summary())(key)
        return {k: float(v) for k, v in out.items()}

    random = feed_forward(lambda k, obs: jax.random.uniform(
        k, (obs.shape[0], *space.shape), minval=space.low, maxval=space.high))
    state = setup.parts.init(jax.random.PRNGKey(args.seed), 0)
    make_dist = ppo.action_distribution(space)
    untrained = ev.network_policy(setup.net, state.train_state.params, True, make_dist,
                                  state.obs_stats)
    out = {"random": score(random), "untrained": score(untrained),
           "demo": ie.demo_summary(reference)}
    with open(RESULTS + "_baselines.json", "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))
    return out


def video(name: str) -> str:
    """``<run>/videos/beside_reference.gif`` of the run's newest checkpoint (a run stopped
    before its end has no final video), copied to ``results/media/``."""
    import shutil

    import jax

    from purerl.algos import ppo
    from purerl.cli import common
    from purerl.cli import ppo as ppo_cli
    from purerl.common import evaluate as ev
    from purerl.common import sweep as sw
    from purerl.common.experiment import run_inputs
    from purerl.common.run_dir import RunDir
    from purerl.common.video import write_reference_video

    rd = RunDir.load(run_dir(name))
    args = ppo_cli.load_args(rd)
    setup = ppo_cli.build_setup(args)
    hparams = sw.stack_hparams(ppo.hyperparams_from(args.ppo_config()),
                               sw.grid_points(args.grid()))
    abstract = jax.eval_shape(jax.vmap(setup.parts.init),
                              *run_inputs(args.seed, args.num_seeds, hparams))
    updates, state = common.restore_latest_state(rd, abstract, "no checkpoint")
    first = jax.tree.map(lambda x: x[0], state)
    make_dist = ppo.action_distribution(setup.env.action_space(setup.env_params))
    policy = ev.network_policy(setup.net, first.train_state.params, True, make_dist,
                               first.obs_stats)
    path = write_reference_video(rd.path, setup.env, setup.env_params, policy,
                                 jax.random.PRNGKey(ev.HELDOUT_TASK_SEED))
    media = os.path.join(HERE, "results", "media", f"imitation_{name}_update{updates}.gif")
    shutil.copyfile(path, media)
    print(f"video of update {updates}: {media}")
    return media


def curve(name: str) -> dict | None:
    path = os.path.join(run_dir(name), "metrics_seed0.csv")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r.get("eval/pose_error") not in ("", "nan", None)]
    summary_path = os.path.join(run_dir(name), "summary.json")
    summary = json.load(open(summary_path)) if os.path.exists(summary_path) else {}
    return {"command": " ".join(RUNS[name]), "finished": bool(summary),
            "env_steps": [float(r["env_steps"]) for r in rows],
            "update": [int(r["update"]) for r in rows],
            **{m: [float(r[m]) for r in rows] for m in METRICS if rows and m in rows[0]},
            "wall_clock_s": summary.get("wall_clock_s"), "machine": summary.get("machine"),
            "versions": summary.get("versions")}


def plot(name: str, base: dict | None) -> str | None:
    """``results/media/imitation_<name>.png``: pose error (with the baselines), SPARC (with
    the demo clips'), training and style return, from the run's CSV."""
    import numpy as np

    from purerl.common.imitation_eval import IMITATION_PANELS, plot_imitation_curves

    path = os.path.join(run_dir(name), "metrics_seed0.csv")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rows = list(csv.DictReader(f))
    value = lambda x: float(x) if x not in ("", None) else np.nan       # noqa: E731
    metrics = {k: np.array([[value(r[k]) for r in rows]]) for k in rows[0] if k != "update"}
    metrics["episode_return"] = metrics.pop("episode_return_mean")
    out = os.path.join(HERE, "results", "media", f"imitation_{name}.png")
    plot_imitation_curves(
        out, metrics, f"AMP on the MJX humanoid ({name}, CPU)",
        baselines=None if base is None else {k: base[k]["eval/pose_error"]
                                             for k in ("random", "untrained")},
        demo=None if base is None else base["demo"],
        panels={k: v for k, v in IMITATION_PANELS.items() if k != "eval/style_return"})
    return out


def report() -> None:
    base_path = RESULTS + "_baselines.json"
    base = json.load(open(base_path)) if os.path.exists(base_path) else None
    pngs = [p for p in (plot(name, base) for name in RUNS) if p]
    out = {"baselines": base, "runs": {name: curve(name) for name in RUNS}}
    with open(RESULTS + ".json", "w") as f:
        json.dump(out, f, indent=1)
    lines = ["# Imitation on the MJX humanoid (walk clip), 2-core CPU", "",
             "`python benchmarks/imitation_humanoid.py report` after `run amp_walk` and "
             "`baselines`. Pose error: NEAR's DTW pose error of the 15 body positions (m, "
             "mean over clips then episodes; lower is better); SPARC of the root velocity "
             "(closer to 0 is smoother); both from 8 deterministic-policy episodes inside "
             "the compiled loop (`purerl.common.imitation_eval`).", ""]
    if base:
        lines += ["| policy | pose error | nearest-clip pose error | SPARC | return | length |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name in ("random", "untrained"):
            b = base[name]
            lines.append(f"| {name} | {b['eval/pose_error']:.3f} | "
                         f"{b['eval/pose_error_nearest']:.3f} | {b['eval/sparc']:.2f} | "
                         f"{b['eval/return']:.1f} | {b['eval/length']:.0f} |")
        lines += ["", f"Demo clips: SPARC {base['demo'].get('demo/sparc', float('nan')):.2f}.",
                  ""]
    for name, c in out["runs"].items():
        if not c or not c["env_steps"]:
            lines += [f"## {name}: no evaluation yet", ""]
            continue
        state = "finished" if c["finished"] else "not finished when reported"
        lines += [f"## {name} ({state})", "", f"`{c['command']}`", ""]
        if c["wall_clock_s"]:
            lines += [f"compile {c['wall_clock_s']['compile']:.0f} s, training "
                      f"{c['wall_clock_s']['run'] / 60:.1f} min.", ""]
        lines += ["| update | env steps | pose error | nearest-clip | SPARC | return | length |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for i, u in enumerate(c["update"]):
            lines.append(f"| {u} | {c['env_steps'][i]:,.0f} | {c['eval/pose_error'][i]:.3f} | "
                         f"{c['eval/pose_error_nearest'][i]:.3f} | {c['eval/sparc'][i]:.2f} | "
                         f"{c['eval/return'][i]:.1f} | {c['eval/length'][i]:.0f} |")
        lines.append("")
    lines += [
        "Reading the numbers: DTW sums the per-frame distances along the warping path "
        "(tslearn's `dtw`, as NEAR's evaluation calls it), so an episode that lasts longer "
        "accumulates more error: pose errors compare fairly only at similar episode "
        "lengths. With zero task reward the AMP policy learns to stay up longer (length "
        "17 -> 40+ steps; the clip never falls) and its SPARC moves towards the demo's, "
        "while its pose error stays near the untrained policy's: at this CPU budget it "
        "does not walk. IsaacGymEnvs trains it with 4096 envs on a GPU for tens of "
        "millions of steps.", ""]
    lines += [f"Curves: `{os.path.relpath(p, os.path.dirname(RESULTS))}`" for p in pngs] + [""]
    first = next((c for c in out["runs"].values() if c and c.get("machine")), None)
    if first:
        lines += [f"Machine: {first['machine']}", "", f"Versions: {first['versions']}", ""]
    lines += [f"Load average at report time: {os.getloadavg()}", ""]
    with open(RESULTS + ".md", "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    {"run": lambda: launch(sys.argv[2]), "baselines": baselines,
     "video": lambda: video(sys.argv[2]), "report": report}.get(sys.argv[1] if len(sys.argv) > 1 else "report", report)()
