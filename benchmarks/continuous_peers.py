"""Continuous control, side by side: purerl PPO / SAC against rejax (Pendulum-v1) and Brax
(MJX halfcheetah), both resident, timed calls interleaved A B B A.

Problems (``PROBLEMS``; hyperparameters shared by both sides, differences in
``DIFFERENCES``):

* ``pendulum-ppo``: purerl PPO (``purerl.cli.ppo``, Gaussian actor-critic) vs rejax PPO
  (``rejax.get_algo("ppo")``) on gymnax ``Pendulum-v1``;
* ``pendulum-sac``: purerl online SAC (``purerl.algos.sac_online``) vs rejax SAC;
* ``halfcheetah-ppo``: purerl PPO vs Brax's ``brax.training.agents.ppo.train`` on OUR MJX
  ``envs_jax.make("halfcheetah")``, which Brax steps through
  ``benchmarks/peers/brax_adapter.py`` (truncation by Brax's own EpisodeWrapper /
  AutoResetWrapper, as its trainers apply them);
* ``halfcheetah-sac``: purerl SAC vs ``brax.training.agents.sac.train``.

How it is measured (the machinery of ``benchmarks/ppo_throughput.py``: its ``Worker``,
``ask_all``, ``/proc/stat`` accounting and A B B A blocks):

* per problem, two long-lived worker processes: purerl in purerl's venv with purerl's
  XLA:CPU flag (SAC from the ``sac`` branch's tree until it is merged: ``--sac_root``);
  the peer in ``benchmarks/.venv-peers`` (``benchmarks/peers/continuous_peers_worker.py``)
  without that flag, as its users run it;
* both compile at once (each timing its own compile); then one untimed warm-up call (two
  on the MJX rows: Brax's pmapped epoch compiles again in its second epoch), then
  ``--blocks`` blocks of timed calls A B B A / B A A B, every call continuing the training
  state of the previous one. A call is ``updates`` updates: purerl's and rejax's compiled
  ``train`` programs; for Brax, whose ``train()`` is a Python loop over jitted epochs, one
  call is one training epoch of the same env steps: the worker runs ``train`` in a thread
  and holds it in ``progress_fn`` between calls, and the call's time is Brax's own
  epoch timing (``training/sps``; its evaluation after each epoch is outside it, but
  finishes before the call returns, so it never overlaps the other side's call). Brax's
  compile happens inside its first epoch: its compile column is (first epoch) - (median
  timed epoch);
* SAC: the replay warm-up (``learning_starts`` = Brax's ``min_replay_size`` = rejax's
  ``fill_buffer`` = one call's env steps, uniform random actions, no SGD) runs untimed
  before the warm-up call on both sides;
* equal env steps: both sides train exactly the same number of env steps; then each scores
  its final policy with deterministic actions (Gaussian mean / tanh(mean)) over
  ``--eval_episodes`` full episodes (200 steps on Pendulum, 1000 on halfcheetah) of the
  same dynamics (purerl and rejax: ``envs_jax.policy.evaluate_episodes``; Brax: its own
  evaluator, run on the same adapted env, deterministic);
* the ratio is the median over blocks of (purerl steps/s) / (peer steps/s) in the block.

    python benchmarks/continuous_peers.py --quick          # ~15-20 min on 2 loaded cores
    python benchmarks/continuous_peers.py                  # full: longer runs, 3 blocks
        [--problems pendulum-ppo,pendulum-sac,halfcheetah-ppo,halfcheetah-sac]

Writes ``benchmarks/results/continuous_peers.{md,json}`` (the .md ends with the
hand-written notes of ``benchmarks/results/continuous_peers_notes.md`` if present).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ppo_throughput as pt  # noqa: E402  (the shared harness; imports no JAX)

ROOT, PEERS = pt.ROOT, pt.PEERS
SAC_ROOT_DEFAULT = "/work/wt-sac"
"""Where purerl's online SAC lives until branch ``sac`` is merged (used only if this tree
has no ``purerl/algos/sac_online.py``)."""

PPO_PENDULUM = {"num_envs": 16, "num_steps": 128, "update_epochs": 4, "num_minibatches": 4,
                "learning_rate": 1e-3, "gamma": 0.95, "gae_lambda": 0.95, "clip_eps": 0.2,
                "vf_coef": 0.5, "ent_coef": 0.0, "max_grad_norm": 0.5,
                "hidden_sizes": [64, 64], "activation": "tanh"}
PPO_CHEETAH = {**PPO_PENDULUM, "num_steps": 32, "learning_rate": 3e-4, "gamma": 0.99,
               "ent_coef": 0.0}
SAC_PENDULUM = {"num_envs": 1, "sgd_steps_per_call": 1, "sgd_batch_size": 256,
                "learning_rate": 3e-4, "gamma": 0.99, "polyak_tau": 0.005,
                "replay_buffer_size": 100_000, "hidden_sizes": [64, 64],
                "target_entropy_per_dim": -1.0}
SAC_CHEETAH = {**SAC_PENDULUM, "num_envs": 16, "sgd_steps_per_call": 4,
               "hidden_sizes": [256, 256], "target_entropy_per_dim": -0.5}
PROBLEMS = {
    # name: env (purerl id), algorithm, peer worker kind, hyperparameters,
    # updates per call {quick, full}, episode steps of the evaluation
    "pendulum-ppo": {"env": "gymnax/Pendulum-v1", "algo": "ppo", "peer": "rejax-ppo",
                     "hp": PPO_PENDULUM, "updates": {"quick": 10, "full": 25},
                     "eval_steps": 200},
    "pendulum-sac": {"env": "gymnax/Pendulum-v1", "algo": "sac", "peer": "rejax-sac",
                     "hp": SAC_PENDULUM, "updates": {"quick": 1000, "full": 2000},
                     "eval_steps": 200},
    "halfcheetah-ppo": {"env": "halfcheetah", "algo": "ppo", "peer": "brax-ppo",
                        "hp": PPO_CHEETAH, "updates": {"quick": 4, "full": 16},
                        "eval_steps": 1000, "warmup_calls": 2},
    "halfcheetah-sac": {"env": "halfcheetah", "algo": "sac", "peer": "brax-sac",
                        "hp": SAC_CHEETAH, "updates": {"quick": 32, "full": 128},
                        "eval_steps": 1000, "warmup_calls": 2},
}
DIFFERENCES = {
    "all": [
        "XLA:CPU flag: purerl's worker runs with "
        "`--xla_cpu_enable_concurrency_optimized_scheduler=false` (purerl sets it on import), "
        "the peers without it, as each library's users run it",
    ],
    "pendulum-ppo": [
        "policy: both a state-independent learned log-std Gaussian, no squashing; actions "
        "clipped by the env (gymnax Pendulum clips to [-2, 2])",
        "gradient clip: purerl global norm 0.5; rejax `optax.clip` per element 0.5 (rejax's "
        "`max_grad_norm`)",
        "optimiser: purerl one Adam (eps 1e-5) over actor + critic; rejax one Adam per network",
        "time limit (200 steps): purerl bootstraps from V(final obs); rejax treats it as a "
        "terminal state",
        "Pendulum: gymnax 1.0.1 behind purerl's adapter vs gymnax 0.0.9 (same dynamics)",
        "initialisation: purerl orthogonal; rejax flax defaults",
    ],
    "pendulum-sac": [
        "networks: both 64x64 relu actor and twin critics (rejax's default size; 256x256 "
        "runs at ~20 SGD steps/s on this loaded 2-core host, on both sides)",
        "one learning rate (3e-4) for actor, critics and temperature on both sides",
        "target entropy: both -A (= -1)",
        "replay warm-up: purerl uniform random actions; rejax acts with its initial policy "
        "(`fill_buffer`), and starts SGD once global_step > fill_buffer (one update later)",
        "time limit: purerl stores `terminated` only (bootstraps time-outs); rejax stores "
        "`done` (time limit = terminal)",
        "actor: both tanh-Gaussian with a state-dependent scale (purerl softplus + 1e-3; "
        "rejax exp of a log-std clipped to [-10, 2]); gradients unclipped on both sides",
    ],
    "halfcheetah-ppo": [
        "policy: purerl Gaussian (state-independent log-std) on the raw action, env clips "
        "nothing (MJX ctrlrange clamps); Brax tanh-squashed Gaussian with a softplus std head",
        "networks: both 64x64 tanh actor and critic (Brax's `make_ppo_networks` with those "
        "sizes; Brax's default would be 4x32 swish policy, 5x256 swish value)",
        "minibatches: purerl flat (N*T steps shuffled); Brax by unroll (batch_size = N/M "
        "env sequences of length T per minibatch)",
        "advantages: purerl GAE once per update with the rollout's values; Brax recomputes "
        "values and GAE inside every minibatch's loss with the current params",
        "value loss: purerl clipped (PPO2), coefficient 0.5; Brax unclipped, "
        "`vf_loss_coefficient` 0.5",
        "truncation: purerl bootstraps time-outs from V(final obs) (one extra critic pass "
        "over the T x N final observations); Brax masks the truncated step out of GAE with "
        "its `truncation` flag (`bootstrap_on_timeout=True` would need the env to set "
        "`info['time_out']`, which Brax's EpisodeWrapper does not)",
        "auto-reset: both restore each env's initial state drawn at reset (purerl "
        "CachedAutoReset; Brax AutoResetWrapper)",
    ],
    "halfcheetah-sac": [
        "networks: both 256x256 relu actor and twin critics",
        "target entropy: both -0.5 * A (Brax's fixed rule; purerl's `target_entropy` set to it)",
        "truncation: purerl bootstraps time-outs from Q(final obs); Brax masks truncated "
        "transitions out of the critic loss",
        "one learning rate (3e-4) for actor, critics and temperature on both sides",
        "replay warm-up: purerl uniform random actions for `learning_starts`; Brax's "
        "prefill acts with its (initial) policy",
    ],
}


# ---------------------------------------------------------------------------------------
# purerl side (worker process: ``continuous_peers.py --worker``)
# ---------------------------------------------------------------------------------------

class PurerlSide:
    def __init__(self):
        import purerl  # noqa: F401  (purerl's XLA:CPU flags, as for purerl's users)

        self.compiled = self.state = self.problem = None

    def info(self) -> dict:
        import jax

        import purerl
        from purerl.common import logging as lg

        return {"versions": lg.package_versions(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
                "device": str(jax.devices()[0].device_kind),
                "purerl_path": os.path.dirname(os.path.dirname(purerl.__file__))}

    def setup(self, problem: str, updates: int, blocks: int, eval_episodes: int) -> dict:
        import jax

        self.problem, self.updates = PROBLEMS[problem], updates
        build = self._build_ppo if self.problem["algo"] == "ppo" else self._build_sac
        init, run = build(self.problem["hp"], updates)
        self.state = jax.jit(init)(jax.random.PRNGKey(0))
        t0 = time.perf_counter()
        self.compiled = jax.jit(run).lower(self.state).compile()
        compile_s = time.perf_counter() - t0
        reply = {"compile_s": compile_s}
        if self.problem["algo"] == "sac":  # the replay warm-up: one call, untimed
            t0 = time.perf_counter()
            self.rep()
            reply["prefill_s"] = time.perf_counter() - t0
        return reply

    def _build_ppo(self, hp: dict, updates: int):
        from purerl.cli import ppo as ppo_cli

        keys = ("num_envs", "num_steps", "update_epochs", "num_minibatches", "learning_rate",
                "gamma", "gae_lambda", "clip_eps", "vf_coef", "ent_coef", "max_grad_norm",
                "activation")
        self.args = ppo_cli.Args(env_id=self.problem["env"], num_updates=updates,
                                 log_every=0, lr_schedule="constant",
                                 hidden_sizes=tuple(hp["hidden_sizes"]),
                                 **{k: hp[k] for k in keys})
        self.setup_ = ppo_cli.build_setup(self.args)
        parts = self.setup_.parts
        return (lambda key: parts.init(key, 0)), (lambda s: parts.run_updates(s, updates))

    def _build_sac(self, hp: dict, updates: int):
        import envs_jax
        from purerl.algos import sac_online

        env, env_params = envs_jax.make(self.problem["env"])
        action_dim = env.action_space(env_params).shape[0]
        lr = hp["learning_rate"]
        self.cfg = sac_online.Config(
            policy_lr=lr, q_lr=lr, alpha_lr=lr, discount=hp["gamma"],
            actor_hidden_sizes=tuple(hp["hidden_sizes"]),
            critic_hidden_sizes=tuple(hp["hidden_sizes"]), polyak_tau=hp["polyak_tau"],
            target_entropy=hp["target_entropy_per_dim"] * action_dim,
            sgd_steps_per_call=hp["sgd_steps_per_call"], sgd_batch_size=hp["sgd_batch_size"],
            num_envs=hp["num_envs"], num_updates=updates,
            learning_starts=updates * hp["num_envs"],
            replay_buffer_size=hp["replay_buffer_size"])
        self.env, self.env_params = env, env_params
        self.parts = parts = sac_online.make_train_parts(self.cfg, env, env_params,
                                                         self.problem["env"])
        return (lambda key: parts.init(key, 0)), (lambda s: parts.run_updates(s, updates))

    def rep(self) -> None:
        import jax

        self.state, metrics = self.compiled(self.state)
        jax.block_until_ready((self.state, metrics))

    def score(self, episodes: int) -> dict:
        import jax
        import numpy as np

        from envs_jax.policy import evaluate_episodes, feed_forward

        steps = self.problem["eval_steps"]
        if self.problem["algo"] == "ppo":
            from purerl.algos import ppo
            from purerl.common.evaluate import network_policy

            s = self.setup_
            make_dist = ppo.action_distribution(s.env.action_space(s.env_params))
            policy = network_policy(s.net, self.state.train_state.params, True, make_dist,
                                    self.state.obs_stats)
            env, env_params = s.env, s.env_params
        else:
            state, act = self.state, self.parts.act
            policy = feed_forward(lambda key, obs: act(state, obs))
            env, env_params = self.env, self.env_params
        stats = jax.jit(lambda key: evaluate_episodes(env, env_params, policy, key, episodes,
                                                      steps))(jax.random.PRNGKey(1))
        returns = np.asarray(stats.returns)
        return {"final_return": float(returns.mean()), "return_std": float(returns.std()),
                "episodes": episodes}


# ---------------------------------------------------------------------------------------
# parent: never imports JAX
# ---------------------------------------------------------------------------------------

def steps_per_call(problem: dict, updates: int) -> int:
    hp = problem["hp"]
    per_update = hp["num_envs"] * (hp["num_steps"] if problem["algo"] == "ppo" else 1)
    return updates * per_update


def start_pair(problem: dict, sac_root: str, log) -> dict[str, pt.Worker]:
    workers = {}
    for side in ("purerl", problem["peer"]):
        env = os.environ.copy()
        flags = [f for f in env.get("XLA_FLAGS", "").split() if f not in pt.OUR_XLA_FLAGS]
        if side == "purerl":
            flags += list(pt.OUR_XLA_FLAGS)
        env["XLA_FLAGS"] = " ".join(flags)
        env["PURERL_KEEP_XLA_FLAGS"] = "1"
        if side == "purerl":
            code = ROOT
            if problem["algo"] == "sac" and not os.path.exists(
                    os.path.join(ROOT, "purerl", "algos", "sac_online.py")):
                code = sac_root
            env["PYTHONPATH"] = code
            cmd = [sys.executable, os.path.abspath(__file__), "--worker"]
        else:
            env["PYTHONPATH"] = ROOT  # envs_jax (the adapter); the peers import no purerl
            cmd = [pt.ensure_peer_venv(), os.path.join(PEERS, "continuous_peers_worker.py")]
        workers[side] = pt.Worker(side, cmd, env, log)
    return workers


def measure(name: str, problem: dict, updates: int, blocks: int, episodes: int,
            sac_root: str, log) -> dict:
    workers = start_pair(problem, sac_root, log)
    first, second = workers
    steps = steps_per_call(problem, updates)
    row = {"problem": name, "env": problem["env"], "algo": problem["algo"],
           "hparams": problem["hp"], "updates_per_call": updates, "steps_per_call": steps,
           "sides": {}}
    try:
        infos = pt.ask_all(workers, "info")
        setups = pt.ask_all(workers, "setup", problem=name, updates=updates, blocks=blocks,
                             eval_episodes=episodes)
        for n in workers:
            row["sides"][n] = {**infos[n], **setups[n], "reps": []}
            print(f"  {name} {n}: setup {json.dumps(setups[n])[:200]}", flush=True)
        warmups = problem.get("warmup_calls", 1)
        row["warmup_calls"] = warmups
        for n, w in workers.items():
            # warm-up: first-call costs stay out (Brax: its compiles; on jax 0.10 its
            # pmapped epoch compiles twice, in epochs 1 and 2, hence 2 warm-up calls)
            walls = [w.ask("rep")["wall_s"] for _ in range(warmups)]
            row["sides"][n]["warmup_wall_s"] = walls
        block_ratios = pt.interleaved_blocks(workers, first, second, steps, blocks, row, name)
        row["block_ratios"] = block_ratios
        row["ratio"] = statistics.median(block_ratios)
        row["total_env_steps"] = steps * (warmups + 2 * blocks + (problem["algo"] == "sac"))
        for n, reply in pt.ask_all(workers, "score", episodes=episodes).items():
            side = row["sides"][n]
            side.update(reply)
            rates = [r["steps_per_s"] for r in side["reps"]]
            side["steps_per_s_median"] = statistics.median(rates)
            side["steps_per_s_range"] = [min(rates), max(rates)]
            side["others_cores_median"] = statistics.median(r["others_cores"]
                                                            for r in side["reps"])
            side["steps_per_cpu_s"] = (sum(r["steps"] for r in side["reps"])
                                       / sum(r["cpu_s"] for r in side["reps"]))
            if "compile_s" not in side:  # Brax: compiled inside its first epoch
                side["compile_s"] = max(0.0, sum(side["warmup_wall_s"]) - len(
                    side["warmup_wall_s"]) * statistics.median(r["wall_s"]
                                                               for r in side["reps"]))
                side["compile_estimated"] = True
    except Exception as err:  # noqa: BLE001  (a failed problem is a row saying why)
        row["error"] = f"{type(err).__name__}: {err}"[:2000]
        print(f"  {name} FAILED: {row['error'][:1000]}", flush=True)
    finally:
        for w in workers.values():
            w.close()
    return row


def write_results(rows: list[dict], meta: dict, out_base: str) -> None:
    with open(out_base + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    lines = [
        "# Continuous control: purerl PPO / SAC vs rejax and Brax (interleaved, resident)", "",
        f"Command: `{meta['command']}`  ", f"Date: {meta['date']}  ",
    ]
    earlier = meta.get("merged_from")
    while earlier:  # --merge: the other rows come from these runs
        lines.append(f"Other rows from: `{earlier['command']}` ({earlier['date']}, load "
                     f"{[round(x, 2) for x in earlier['load_start']]} .. "
                     f"{[round(x, 2) for x in earlier.get('load_end', [])]})  ")
        earlier = earlier.get("merged_from")
    lines += [
        f"Machine: {meta['machine']}  ",
        (f"Load average (1, 5, 15 min) at start: {[round(x, 2) for x in meta['load_start']]}, "
         f"at end: {[round(x, 2) for x in meta['load_end']]}; whole run "
         f"{meta['wall_clock_s'] / 60:.1f} min  "),
    ]
    seen = set()
    for r in rows:
        for n, s in r["sides"].items():
            key = (n.split("-")[0], s.get("purerl_path"))
            if "versions" in s and key not in seen:
                seen.add(key)
                where = f" (code: `{s['purerl_path']}`)" if s.get("purerl_path") else ""
                lines.append(f"{n} worker{where}: XLA_FLAGS=`{s['xla_flags']}`, "
                             f"{json.dumps(s['versions'])}  ")
    lines += ["", "Method: see the docstring of `benchmarks/continuous_peers.py` (both sides "
              "compiled and resident, one untimed warm-up call (two on the MJX rows), then blocks "
              "A B B A / B A A B; every call continues the previous training state; equal env "
              "steps on both sides). A full `--quick` run takes ~20 min on this host (MJX "
              "compiles of 1-3 min each).",
              "", ("| problem | env steps/call | purerl steps/s median (min..max) | peer | "
                   "peer steps/s median (min..max) | ratio purerl/peer: median of blocks "
                   "(blocks) | ratio of steps per CPU-s | compile s purerl / peer | "
                   "return at equal steps purerl / peer (steps) |"),
              "|---|---|---|---|---|---|---|---|---|"]
    span = lambda s: (f"{s['steps_per_s_median']:,.0f} ({s['steps_per_s_range'][0]:,.0f}.."  # noqa: E731
                      f"{s['steps_per_s_range'][1]:,.0f})")
    for r in rows:
        names = list(r["sides"])
        if "error" in r or len(names) < 2 or "ratio" not in r:
            lines.append(f"| {r['problem']} | {r['steps_per_call']:,} | failed | "
                         f"{names[-1] if names else '?'} | | | | | `{r.get('error', '')[:300]}` |")
            continue
        a, b = r["sides"][names[0]], r["sides"][names[1]]
        est = "~" if b.get("compile_estimated") else ""
        lines.append(
            f"| {r['problem']} | {r['steps_per_call']:,} | {span(a)} | {names[1]} | {span(b)} "
            f"| **{r['ratio']:.2f}x** ({', '.join(f'{x:.2f}' for x in r['block_ratios'])}) | "
            f"{a['steps_per_cpu_s'] / b['steps_per_cpu_s']:.2f}x | "
            f"{a['compile_s']:.1f} / {est}{b['compile_s']:.1f} | "
            f"{a['final_return']:.1f} / {b['final_return']:.1f} ({r['total_env_steps']:,}) |")
    goal = [r for r in rows if "ratio" in r]
    met = [r["problem"] for r in goal if r["ratio"] >= 1.2]
    lines += ["", (f"Goal (purerl >= 1.2x the fastest peer's env-steps/s at equal return): met "
                   f"on {len(met)} of {len(goal)} problems" + (f" ({', '.join(met)})" if met
                                                               else "") + "; returns: see the "
                   "last column (same env steps, deterministic policy, "
                   f"{meta['eval_episodes']} episodes). There is one peer per problem, so it "
                   "is the fastest one."), "",
              ("Compile: purerl AOT-compiles its train program; `~` marks Brax, whose pmapped "
               "epoch compiles inside its warm-up epochs (on jax 0.10 twice: in epoch 1 and "
               "again in epoch 2, so the MJX rows have 2 warm-up calls on both sides): "
               "(warm-up epochs) - (as many median timed epochs). Steps per CPU-s: each worker's CPU time, all threads (for Brax it "
               "includes its between-epoch evaluation)."), "",
              "## Hyperparameters (both sides) and every difference", ""]
    for r in rows:
        lines.append(f"**{r['problem']}** ({r['env']}, {r['updates_per_call']} updates/call): "
                     f"`{json.dumps(r['hparams'])}`")
        peer = next((s for n, s in r["sides"].items() if n != "purerl"), {})
        if peer.get("peer_hparams"):
            lines.append(f"  peer's own arguments: `{json.dumps(peer['peer_hparams'])}`")
        lines.append("")
        lines += [f"- {d}" for d in DIFFERENCES.get(r["problem"], [])]
        lines.append("")
    lines += ["All problems:", ""] + [f"- {d}" for d in DIFFERENCES["all"]]
    notes = os.path.join(os.path.dirname(out_base), "continuous_peers_notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            lines += ["", f.read().strip()]
    with open(out_base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true",
                        help="short calls, 2 blocks (default: full, 3 blocks)")
    parser.add_argument("--blocks", type=int, default=None)
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--eval_episodes", type=int, default=8)
    parser.add_argument("--sac_root", default=SAC_ROOT_DEFAULT,
                        help="tree holding purerl.algos.sac_online if this one has none")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "continuous_peers"))
    parser.add_argument("--merge", action="store_true",
                        help="keep the other problems' rows of an earlier run's .json")
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, PEERS)
        from bench_worker import serve

        serve(PurerlSide())
        return
    mode = "quick" if args.quick else "full"
    blocks = args.blocks or (2 if args.quick else 3)
    meta = {"command": "python benchmarks/continuous_peers.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M"), "load_start": os.getloadavg(),
            "machine": f"{os.uname().sysname} {os.uname().release}, {os.cpu_count()} CPUs, "
                       f"{pt.cpu_model()}", "mode": mode, "blocks": blocks,
            "eval_episodes": args.eval_episodes}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    log_path = os.path.join(tempfile.gettempdir(), "continuous_peers.workers.log")
    t0 = time.perf_counter()
    rows, kept = [], []
    if args.merge and os.path.exists(args.out + ".json"):
        with open(args.out + ".json") as f:
            earlier = json.load(f)
        kept = [r for r in earlier["rows"] if r["problem"] not in args.problems.split(",")]
        meta["merged_from"] = earlier["meta"]
    with open(log_path, "w") as log:
        for name in args.problems.split(","):
            if name not in PROBLEMS:
                parser.error(f"--problems: {name!r} is not one of {list(PROBLEMS)}")
            problem = PROBLEMS[name]
            print(f"{name}: {problem['updates'][mode]} updates/call, {blocks} blocks "
                  f"(worker log {log_path})", flush=True)
            rows.append(measure(name, problem, problem["updates"][mode], blocks,
                                args.eval_episodes, args.sac_root, log))
            meta["load_end"] = os.getloadavg()
            meta["wall_clock_s"] = time.perf_counter() - t0
            order = {n: i for i, n in enumerate(PROBLEMS)}
            write_results(sorted(kept + rows, key=lambda r: order[r["problem"]]), meta,
                          args.out)  # after every problem: partial results survive
    with open(args.out + ".md") as f:
        print(f.read())


if __name__ == "__main__":
    main()
