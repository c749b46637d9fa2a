"""MuJoCo Playground's CartpoleBalance: our adapter vs Playground's wrapper, our agents vs brax's.

Two measurements on Playground 0.2's DM Control ``CartpoleBalance`` (MJX, ``impl="jax"``,
1000-step episodes, ``ctrl_dt`` 0.01 s):

1. ``envsteps``: env-steps/s of the same batch of envs stepped with uniform random actions
   in ``[-1, 1]``, ``--steps`` steps per call inside one ``jax.lax.scan``, both compiled in
   this process, one untimed warm-up call each, then ``--blocks`` blocks of timed calls in
   the order A B B A (then B A A B, ...):

   * A = ours: ``envs_jax.make("playground/CartpoleBalance")`` under
     ``envs_jax.wrappers.vec_env`` (``VecEnv(CachedAutoReset(RecordEpisodeStats(.)))``:
     explicit terminated / truncated flags, ``final_obs``, episode statistics);
   * B = Playground's: ``mujoco_playground.wrapper.wrap_for_brax_training`` around the
     same env (``BraxAutoResetWrapper(EpisodeWrapper(VmapWrapper(.)))``, what brax's
     trainers step).

   The ratio is the median over blocks of (ours / theirs) steps/s within a block.

2. ``ppo`` / ``sac``: our agent (``purerl.algos.ppo`` / ``purerl.algos.sac_online`` through
   ``purerl.common.experiment.run_sweep``) against brax's (``brax.training.agents.ppo
   .train`` / ``.sac.train`` on the Playground env with Playground's wrapper, with
   ``envs_jax.brax_adapter.install_brax_trainer_shim()``) at EQUAL env steps and the
   hyperparameters in ``PPO`` / ``SAC`` (what still differs: ``DIFFERENCES``). Each run is
   its own subprocess (a fresh compile), in the order ours, brax, brax, ours for
   ``--train_reps 2``. Reported per run: the final evaluation return (the deterministic
   policy over ``EVAL_EPISODES`` full 1000-step episodes: ours ``eval/return``, brax's
   ``eval/episode_reward`` with ``deterministic_eval=True``), the wall-clock of the whole
   ``train`` call (compile included) and the steady steps/s (compile excluded: ours
   ``run_sweep``'s ``run_s``, which excludes the compile of its one segment program but
   includes the evaluations; brax's: the median ``training/sps`` of its last 3 of 5
   training epochs, which excludes its evaluations and the compiles of its first two
   epochs: brax's pmapped epoch compiles in epoch 1 and again in epoch 2, as
   ``benchmarks/continuous_peers.py`` found).  brax evaluates 6 times (before training and
   after each epoch), ours twice (mid-run and at the end); both report the final one.

    python benchmarks/brax_playground.py [--parts envsteps,ppo,sac] [--batch 256]
        [--steps 1000] [--blocks 4] [--train_reps 2] [--sides ours,brax]

(``--sides brax`` reruns one side only, keeping the other side's stored runs.)

Writes ``benchmarks/results/brax_playground.{json,md}`` after every measurement, so a run
that is stopped keeps what it has. Needs the ``purerl[playground]`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results", "brax_playground")
ENV_NAME = "CartpoleBalance"
ENV_ID = "playground/" + ENV_NAME
EPISODE_LENGTH = 1000
EVAL_EPISODES = 16
BRAX_EVALS = 6
"""brax's ``num_evals``: 5 training epochs; the steps divide exactly on both problems."""

PPO = {"num_envs": 64, "unroll_length": 32, "num_minibatches": 8, "update_epochs": 4,
       "num_updates": 100, "learning_rate": 1e-3, "gamma": 0.99, "gae_lambda": 0.95,
       "clip_eps": 0.2, "ent_coef": 0.0, "vf_coef": 0.5, "max_grad_norm": 0.5,
       "normalize_obs": True, "hidden_sizes": [64, 64], "activation": "tanh"}
"""PPO on both sides: 100 updates of 64 envs x 32 steps (204,800 env steps), 4 epochs x 8
minibatches of 256 transitions, constant Adam 1e-3, no entropy bonus, global-norm clip 0.5,
observation normalisation, separate 64x64 tanh actor and critic, evaluation after 50 and 100
updates. brax: ``batch_size = num_envs / num_minibatches`` unrolls per minibatch, so one
training step is one 32-step unroll of every env, as ours; 5 epochs of 20 training steps."""
SAC = {"num_envs": 16, "num_updates": 6000, "learning_starts": 2000, "sgd_steps": 8,
       "batch_size": 128, "learning_rate": 1e-3, "gamma": 0.99, "tau": 0.005,
       "replay_buffer_size": 100_000, "normalize_obs": True, "hidden_sizes": [64, 64]}
"""SAC on both sides: 16 envs x 6000 updates (96,000 env steps, the first 2000 with uniform
random actions and no SGD: brax's ``min_replay_size`` prefill), 8 SGD steps of batch 128
per update (one SGD step per 2 env steps), Adam 1e-3 for actor, critics and temperature,
gamma 0.99, Polyak 0.005, 64x64 relu networks, observation normalisation, evaluation at the
middle and the end (brax: 5 epochs of 1175 actor steps after its 125-step prefill)."""
DIFFERENCES = {
    "all": [
        "env: the same Playground env object type and config (impl 'jax'); ours steps it "
        "through envs_jax.brax_adapter (time limit by the adapter, explicit flags) under "
        "vec_env's CachedAutoReset; brax's through Playground's wrap_for_brax_training "
        "(EpisodeWrapper + BraxAutoResetWrapper, also a cached first state)",
        "XLA:CPU: one process per run; both import purerl (its XLA:CPU flag "
        "--xla_cpu_enable_concurrency_optimized_scheduler=false is set for both)",
        "brax's trainers pmap over the one CPU device (install_brax_trainer_shim); ours "
        "vmap one seed inside run_sweep",
    ],
    "ppo": [
        "policy: ours a Gaussian with a learned state-independent log-std, actions clipped "
        "by the adapter; brax a tanh-squashed Gaussian with a learned state-independent "
        "std (make_ppo_networks' default, scalar noise, initial std 1)",
        "value loss: neither clips it; ours bootstraps time-limit truncations from "
        "V(final_obs), brax with bootstrap_on_timeout=True (the same idea)",
        "both: constant learning rate, advantages normalised per minibatch (brax computes "
        "GAE inside its loss, per minibatch, with the value of the current params)",
        "initialisation: ours orthogonal; brax lecun_uniform",
    ],
    "sac": [
        "truncation: ours stores final_obs and bootstraps; brax drops truncated "
        "transitions from the critic loss",
        "temperature: both start at alpha = 1 and learn it toward -A target entropy",
        "prefill: brax's min_replay_size steps run in a separate loop before training; ours "
        "are the first updates of the same compiled loop (no SGD)",
    ],
}


# --- worker side (imports JAX) ----------------------------------------------------------------


def _playground_env():
    from mujoco_playground import registry

    return registry.load(ENV_NAME, config_overrides={"impl": "jax"})


def envsteps(args) -> dict:
    """Part 1 (in this process): ours vs Playground's wrapper, A B B A blocks."""
    import jax
    from mujoco_playground import wrapper as pg_wrapper

    import envs_jax
    from envs_jax.wrappers import vec_env

    n, t = args.batch, args.steps
    env, params = envs_jax.make(ENV_ID)
    ours = vec_env(ENV_ID, env, n)
    theirs = pg_wrapper.wrap_for_brax_training(_playground_env(), episode_length=EPISODE_LENGTH)
    action_size = env.action_space(params).shape[0]

    def actions(key):
        return jax.random.uniform(key, (t, n, action_size), minval=-1.0, maxval=1.0)

    @jax.jit
    def ours_init(key):
        return ours.reset(key, params)[1]

    @jax.jit
    def ours_run(state, key):
        def body(s, xs):
            k, a = xs
            ts = ours.step(k, s, a, params)
            return ts.state, ts.reward.sum()
        state, rewards = jax.lax.scan(body, state, (jax.random.split(key, t), actions(key)))
        return state, rewards.sum()

    @jax.jit
    def theirs_init(key):
        return theirs.reset(jax.random.split(key, n))

    @jax.jit
    def theirs_run(state, key):
        def body(s, a):
            s = theirs.step(s, a)
            return s, s.reward.sum()
        state, rewards = jax.lax.scan(body, state, actions(key))
        return state, rewards.sum()

    sides = {"ours": (ours_init, ours_run), "playground": (theirs_init, theirs_run)}
    states, compile_s = {}, {}
    for name, (init, run) in sides.items():
        start = time.perf_counter()
        state = jax.block_until_ready(init(jax.random.PRNGKey(0)))
        state, _ = jax.block_until_ready(run(state, jax.random.PRNGKey(1)))  # compile
        compile_s[name] = time.perf_counter() - start
        state, _ = jax.block_until_ready(run(state, jax.random.PRNGKey(2)))  # warm-up
        states[name] = state
    blocks = []
    for b in range(args.blocks):
        order = ["ours", "playground", "playground", "ours"]
        if b % 2:
            order = order[::-1]
        times = {"ours": 0.0, "playground": 0.0}
        calls = []
        for i, name in enumerate(order):
            key = jax.random.PRNGKey(100 + 4 * b + i)
            load = os.getloadavg()[0]
            start = time.perf_counter()
            states[name], _ = jax.block_until_ready(sides[name][1](states[name], key))
            dt = time.perf_counter() - start
            times[name] += dt
            calls.append({"side": name, "s": dt, "steps_per_s": n * t / dt, "load1": load})
        sps = {k: 2 * n * t / v for k, v in times.items()}
        blocks.append({"order": order, "calls": calls, "steps_per_s": sps,
                       "ratio": sps["ours"] / sps["playground"]})
        print(f"  envsteps block {b}: ours {sps['ours']:,.0f}/s, playground "
              f"{sps['playground']:,.0f}/s, ratio {blocks[-1]['ratio']:.2f}", flush=True)
    return {"batch": n, "steps_per_call": t, "compile_s": compile_s, "blocks": blocks,
            "median_steps_per_s": {k: statistics.median(b["steps_per_s"][k] for b in blocks)
                                   for k in sides},
            "median_ratio": statistics.median(b["ratio"] for b in blocks)}


def train_ours(algo: str, seed: int) -> dict:
    """Our PPO / SAC on the task through run_sweep; final eval return, times."""
    import numpy as np

    import envs_jax
    from envs_jax.wrappers import vec_env
    from purerl.algos import ppo, sac_online
    from purerl.common.experiment import run_sweep
    from purerl.common.networks import GaussianActorCritic

    env, params = envs_jax.make(ENV_ID)
    if algo == "ppo":
        h = PPO
        cfg = ppo.PPOConfig(
            num_envs=h["num_envs"], num_steps=h["unroll_length"], num_updates=h["num_updates"],
            num_minibatches=h["num_minibatches"], update_epochs=h["update_epochs"],
            learning_rate=h["learning_rate"], lr_schedule="constant", gamma=h["gamma"],
            gae_lambda=h["gae_lambda"], clip_eps=h["clip_eps"], clip_value=False,
            ent_coef=h["ent_coef"], vf_coef=h["vf_coef"], max_grad_norm=h["max_grad_norm"],
            normalize_obs=h["normalize_obs"], eval_every=h["num_updates"] // 2,
            eval_episodes=EVAL_EPISODES, eval_max_steps=EPISODE_LENGTH)
        net = GaussianActorCritic(env.action_space(params).shape[0],
                                  tuple(h["hidden_sizes"]), activation=h["activation"])
        parts = ppo.make_train_parts(cfg, vec_env(ENV_ID, env, cfg.num_envs), params, net,
                                     eval_env=env)
        steps = cfg.num_updates * cfg.num_envs * cfg.num_steps
    else:
        h = SAC
        cfg = sac_online.Config(
            num_envs=h["num_envs"], num_updates=h["num_updates"],
            learning_starts=h["learning_starts"], sgd_steps_per_call=h["sgd_steps"],
            sgd_batch_size=h["batch_size"], policy_lr=h["learning_rate"],
            q_lr=h["learning_rate"], alpha_lr=h["learning_rate"], discount=h["gamma"],
            polyak_tau=h["tau"], replay_buffer_size=h["replay_buffer_size"],
            normalize_obs=h["normalize_obs"], actor_hidden_sizes=tuple(h["hidden_sizes"]),
            critic_hidden_sizes=tuple(h["hidden_sizes"]), eval_every=h["num_updates"] // 2,
            num_eval_episodes=EVAL_EPISODES, eval_max_steps=EPISODE_LENGTH)
        parts = sac_online.make_train_parts(cfg, env, params, ENV_ID)
        steps = cfg.num_updates * cfg.num_envs
    start = time.perf_counter()
    # one segment: one compiled program for the whole run
    result = run_sweep(parts.init, parts.run_updates, seed=seed, num_seeds=1,
                       num_updates=cfg.num_updates, segment_updates=cfg.num_updates)
    wall = time.perf_counter() - start
    ev = result.metrics["eval/return"][0]
    ev = ev[np.isfinite(ev)]
    return {"env_steps": steps, "eval_returns": ev.tolist(), "final_return": float(ev[-1]),
            "wall_s": wall, "compile_s": result.compile_s, "run_s": result.run_s,
            "steady_steps_per_s": steps / result.run_s}


def train_brax(algo: str, seed: int) -> dict:
    """brax's PPO / SAC on the Playground env with Playground's wrapper; same quantities."""
    import functools

    from flax import linen
    from mujoco_playground import wrapper as pg_wrapper

    from envs_jax.brax_adapter import install_brax_trainer_shim

    install_brax_trainer_shim()
    env = _playground_env()
    evals, sps = [], []

    def progress(step, metrics):
        if "eval/episode_reward" in metrics:
            evals.append(float(metrics["eval/episode_reward"]))
        if "training/sps" in metrics:
            sps.append(float(metrics["training/sps"]))

    start = time.perf_counter()
    if algo == "ppo":
        from brax.training.agents.ppo import networks as ppo_networks
        from brax.training.agents.ppo import train as ppo

        h = PPO
        steps = h["num_updates"] * h["num_envs"] * h["unroll_length"]
        ppo.train(
            env, num_timesteps=steps, num_evals=BRAX_EVALS, episode_length=EPISODE_LENGTH,
            wrap_env_fn=pg_wrapper.wrap_for_brax_training, num_envs=h["num_envs"],
            unroll_length=h["unroll_length"],
            batch_size=h["num_envs"] // h["num_minibatches"],
            num_minibatches=h["num_minibatches"], num_updates_per_batch=h["update_epochs"],
            learning_rate=h["learning_rate"], entropy_cost=h["ent_coef"],
            discounting=h["gamma"], gae_lambda=h["gae_lambda"],
            clipping_epsilon=h["clip_eps"], vf_loss_coefficient=h["vf_coef"],
            max_grad_norm=h["max_grad_norm"], normalize_observations=h["normalize_obs"],
            bootstrap_on_timeout=True, num_eval_envs=EVAL_EPISODES, deterministic_eval=True,
            seed=seed, progress_fn=progress,
            network_factory=functools.partial(
                ppo_networks.make_ppo_networks,
                policy_hidden_layer_sizes=tuple(h["hidden_sizes"]),
                value_hidden_layer_sizes=tuple(h["hidden_sizes"]), activation=linen.tanh))
    else:
        from brax.training.agents.sac import networks as sac_networks
        from brax.training.agents.sac import train as sac

        h = SAC
        steps = h["num_updates"] * h["num_envs"]
        sac.train(
            env, num_timesteps=steps, num_evals=BRAX_EVALS, episode_length=EPISODE_LENGTH,
            wrap_env_fn=pg_wrapper.wrap_for_brax_training, num_envs=h["num_envs"],
            batch_size=h["batch_size"], grad_updates_per_step=h["sgd_steps"],
            min_replay_size=h["learning_starts"], max_replay_size=h["replay_buffer_size"],
            learning_rate=h["learning_rate"], discounting=h["gamma"], tau=h["tau"],
            normalize_observations=h["normalize_obs"], num_eval_envs=EVAL_EPISODES,
            deterministic_eval=True, seed=seed, progress_fn=progress,
            network_factory=functools.partial(sac_networks.make_sac_networks,
                                              hidden_layer_sizes=tuple(h["hidden_sizes"])))
    wall = time.perf_counter() - start
    return {"env_steps": steps, "eval_returns": evals[1:], "final_return": evals[-1],
            "wall_s": wall, "epoch_steps_per_s": sps,
            "steady_steps_per_s": statistics.median(sps[2:])}


def worker(side: str, algo: str, seed: int) -> None:
    sys.path.insert(0, ROOT)
    import envs_jax  # noqa: F401  (sets purerl's XLA:CPU flag before JAX starts)
    import purerl  # noqa: F401

    out = train_ours(algo, seed) if side == "ours" else train_brax(algo, seed)
    print("RESULT " + json.dumps(out), flush=True)


# --- parent side -------------------------------------------------------------------------------


def _meta() -> dict:
    sys.path.insert(0, ROOT)
    from purerl.common.logging import machine_description, package_versions

    versions = package_versions()
    for name in ("brax", "playground", "mujoco", "mujoco-mjx"):
        try:
            import importlib.metadata

            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"machine": machine_description(), "versions": versions}


def write(results: dict, own: tuple[str, ...] = ()) -> None:
    """Store ``results``: the parts this invocation measures (``own``) replace those on disk,
    the others are read back first (so invocations measuring different parts can overlap)."""
    if os.path.exists(RESULTS + ".json"):
        with open(RESULTS + ".json") as f:
            disk = json.load(f)
        results.update({k: disk[k] for k in ("envsteps", "ppo", "sac")
                        if k in disk and k not in own})
    with open(RESULTS + ".json", "w") as f:
        json.dump(results, f, indent=1)
    lines = ["# MuJoCo Playground CartpoleBalance: our adapter and agents vs Playground's / "
             "brax's", "", f"`{results['command']}`", "",
             f"Machine: {results['meta']['machine']}", "",
             f"Versions: {results['meta']['versions']}", "",
             f"Load average at start: {results['load_start']}; at the last write: "
             f"{os.getloadavg()} (the 2 cores are shared with other jobs: absolute numbers "
             f"move with the load; the A B B A ratios less so)", ""]
    e = results.get("envsteps")
    if e:
        lines += ["## Env steps/s (random actions, compiled, warm)", "",
                  f"{e['batch']} envs x {e['steps_per_call']} steps per call (one "
                  f"`lax.scan`), {len(e['blocks'])} blocks A B B A / B A A B; compile "
                  f"ours {e['compile_s']['ours']:.1f} s, Playground "
                  f"{e['compile_s']['playground']:.1f} s.", "",
                  "| block | ours steps/s | Playground wrapper steps/s | ours / Playground |",
                  "|---:|---:|---:|---:|"]
        lines += [f"| {i} | {b['steps_per_s']['ours']:,.0f} | "
                  f"{b['steps_per_s']['playground']:,.0f} | {b['ratio']:.2f} |"
                  for i, b in enumerate(e["blocks"])]
        m = e["median_steps_per_s"]
        lines += [f"| median | {m['ours']:,.0f} | {m['playground']:,.0f} | "
                  f"{e['median_ratio']:.2f} |", ""]
    for algo, hp in (("ppo", PPO), ("sac", SAC)):
        runs = results.get(algo)
        if not runs:
            continue
        lines += [f"## {algo.upper()}: ours vs brax's trainer, equal env steps", "",
                  f"Hyperparameters (both sides): `{json.dumps(hp)}`", "",
                  "Steady env-steps/s: ours = training env steps / `run_sweep`'s execution "
                  "time, which also holds our in-loop evaluations (2 x "
                  f"{EVAL_EPISODES} episodes x {EPISODE_LENGTH} steps, vmapped, inside the "
                  "compiled program: it counts against ours); brax = the median of its "
                  "last 3 epochs' `training/sps` (its evaluations and its two compiling "
                  "epochs excluded). Eval returns: ours after the middle and the last "
                  "update; brax's after each of its 5 epochs.", "",
                  "| rep | side | env steps | eval returns (mid, final) | wall s (incl. "
                  "compile) | steady env-steps/s |", "|---:|---|---:|---|---:|---:|"]
        for r in runs:
            if "error" in r:
                lines.append(f"| {r['rep']} | {r['side']} | - | failed: {r['error']} | - | - |")
                continue
            lines.append(f"| {r['rep']} | {r['side']} | {r['env_steps']:,} | "
                         f"{', '.join(f'{x:.0f}' for x in r['eval_returns'])} | "
                         f"{r['wall_s']:.0f} | {r['steady_steps_per_s']:,.0f} |")
        ok = [r for r in runs if "error" not in r]
        for side in ("ours", "brax"):
            mine = [r for r in ok if r["side"] == side]
            if mine:
                lines.append(f"| mean | {side} | | final "
                             f"{statistics.mean(r['final_return'] for r in mine):.0f} | "
                             f"{statistics.mean(r['wall_s'] for r in mine):.0f} | "
                             f"{statistics.mean(r['steady_steps_per_s'] for r in mine):,.0f} |")
        lines += ["", "Differences that remain: " + "; ".join(DIFFERENCES["all"]
                                                               + DIFFERENCES[algo]) + ".", ""]
    lines += ["Random policy (uniform actions in [-1, 1]) on this task: return 367 (16 "
              "episodes of 1000 steps, 272 to 424); the maximum is 1000.", ""]
    with open(RESULTS + ".md", "w") as f:
        f.write("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="envsteps,ppo,sac",
                        help="comma-separated: envsteps, ppo, sac")
    parser.add_argument("--batch", type=int, default=256, help="envs stepped per call")
    parser.add_argument("--steps", type=int, default=1000, help="steps per timed call")
    parser.add_argument("--blocks", type=int, default=4, help="A B B A blocks (env steps)")
    parser.add_argument("--train_reps", type=int, default=2,
                        help="training runs per side: 1 (ours, brax) or 2 (ours brax brax ours)")
    parser.add_argument("--sides", default="ours,brax",
                        help="training sides to run now (the others' stored runs are kept)")
    parser.add_argument("--worker", nargs=3, metavar=("SIDE", "ALGO", "SEED"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--first_rep", type=int, default=0,
                        help="run only reps >= this (the stored earlier reps are kept)")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite the .md from the stored .json")
    args = parser.parse_args()
    if args.report:
        with open(RESULTS + ".json") as f:
            write(json.load(f), ("envsteps", "ppo", "sac"))
        return
    if args.worker:
        side, algo, seed = args.worker
        worker(side, algo, int(seed))
        return
    parts = args.parts.split(",")
    results = {"command": "python benchmarks/brax_playground.py " + " ".join(sys.argv[1:]),
               "meta": _meta(), "load_start": os.getloadavg()}
    if os.path.exists(RESULTS + ".json"):  # keep the parts not rerun now
        with open(RESULTS + ".json") as f:
            old = json.load(f)
        results.update({k: old[k] for k in ("envsteps", "ppo", "sac")
                        if k in old and (k not in parts or k != "envsteps")})
        results["command"] = "; ".join(dict.fromkeys(
            old.get("command", "").split("; ") + [results["command"]]))
    own = tuple(parts)
    write(results, own)
    if "envsteps" in parts:
        import purerl  # noqa: F401  (its XLA:CPU flag, before JAX starts)

        results["envsteps"] = envsteps(args)
        write(results, own)
    order = ["ours", "brax", "brax", "ours"][: 2 * args.train_reps] if args.train_reps > 1 \
        else ["ours", "brax"]
    for algo in ("ppo", "sac"):
        if algo not in parts:
            continue
        sides = args.sides.split(",")
        results[algo] = [r for r in results.get(algo, []) if r["side"] not in sides
                         or r["rep"] < args.first_rep]
        for i, side in enumerate(order):
            rep = i // 2  # ours 0, brax 0, brax 1, ours 1; rep r trains with seed r
            if side not in sides or rep < args.first_rep:
                continue
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", side, algo, str(rep)]
            env = {**os.environ, "PYTHONPATH": ROOT}
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not line:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
                entry = {"error": f"exit {proc.returncode}: {tail[0][:200]}"}
            else:
                entry = json.loads(line[0][len("RESULT "):])
            entry.update({"side": side, "rep": rep, "load1": os.getloadavg()[0]})
            results[algo].append(entry)
            print(f"  {algo} {side} rep {rep}: {entry}", flush=True)
            write(results, own)


if __name__ == "__main__":
    main()
