"""The floor under the MJX rows of ``continuous_peers.py``: env steps/s of halfcheetah alone.

``jax.jit`` of a ``lax.scan`` of ``T`` steps of ``vec_env("halfcheetah", env, N)`` (our
CachedAutoReset + RecordEpisodeStats, the stack purerl trains on) with fixed random
actions and no network: what an agent that spent nothing on acting or learning would
reach with N envs. Run in purerl's venv::

    PYTHONPATH=. python benchmarks/peers/mjx_env_floor.py [--num_envs 16] [--steps 32]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax

import envs_jax
from envs_jax.wrappers import vec_env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    env, params = envs_jax.make("halfcheetah")
    venv = vec_env("halfcheetah", env, args.num_envs)
    act_dim = env.action_space(params).shape[0]
    obs, state = jax.jit(venv.reset)(jax.random.PRNGKey(0), params)

    def run(state, key):
        def body(s, k):
            a = jax.random.uniform(k, (args.num_envs, act_dim), minval=-1.0, maxval=1.0)
            ts = venv.step(k, s, a, params)
            return ts.state, ts.reward.sum()
        state, r = jax.lax.scan(body, state, jax.random.split(key, args.steps))
        return state, r.sum()

    t0 = time.perf_counter()
    run_c = jax.jit(run).lower(state, jax.random.PRNGKey(1)).compile()
    compile_s = time.perf_counter() - t0
    state, _ = jax.block_until_ready(run_c(state, jax.random.PRNGKey(2)))  # warm-up
    rates = []
    for i in range(args.reps):
        t0 = time.perf_counter()
        state, _ = jax.block_until_ready(run_c(state, jax.random.PRNGKey(3 + i)))
        rates.append(args.num_envs * args.steps / (time.perf_counter() - t0))
    print(json.dumps({"num_envs": args.num_envs, "steps": args.steps, "compile_s": compile_s,
                      "env_steps_per_s": sorted(rates), "load1": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
