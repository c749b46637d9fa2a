"""Peer side of ``benchmarks/ppo_throughput.py``: rejax's PPO (and an attempt at Brax's).

Runs in the peers' own virtual environment (``benchmarks/.venv-peers``: rejax 0.1.3,
gymnax 0.0.9, brax 0.14.2, the same jax as purerl) and prints one JSON object per line.
The meta-RL bandit is purerl's own ``bernoulli_bandit_trial`` env, wrapped in gymnax 0.0.9's
``Environment`` API (five-value ``step`` with auto-reset), so both libraries step the very
same dynamics. Called by ``ppo_throughput.py``; not meant to be run by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bandit_as_gymnax(num_arms: int, num_episodes: int):
    """purerl's Bernoulli-bandit trial env behind gymnax 0.0.9's Environment API."""
    sys.path.insert(0, ROOT)
    import envs_jax
    from gymnax.environments import environment, spaces

    inner, inner_params = envs_jax.make("bernoulli_bandit_trial", num_arms=num_arms,
                                        num_episodes=num_episodes)
    obs_dim = inner.observation_space(inner_params).shape[0]

    @struct.dataclass
    class Params:
        inner: object
        max_steps_in_episode: int = struct.field(pytree_node=False, default=num_episodes)

    class Bandit(environment.Environment):
        @property
        def default_params(self):
            return Params(inner_params)

        def step_env(self, key, state, action, params):
            ts = inner.step(key, state, action, params.inner)
            return ts.obs, ts.state, ts.reward, ts.terminated | ts.truncated, {}

        def reset_env(self, key, params):
            return inner.reset(key, params.inner)

        def observation_space(self, params):
            return spaces.Box(-jnp.inf, jnp.inf, (obs_dim,), jnp.float32)

        def action_space(self, params):
            return spaces.Discrete(num_arms)

        @property
        def name(self):
            return "purerl/bernoulli_bandit_trial"

    env = Bandit()
    return env, env.default_params


def rejax_ppo(env_name: str, hp: dict):
    from rejax import PPO

    if env_name == "CartPole-v1":
        env_kw = {"env": "CartPole-v1"}
    else:
        env, params = bandit_as_gymnax(hp["num_arms"], hp["num_episodes"])
        env_kw = {"env": env, "env_params": params}
    algo = PPO.create(
        **env_kw, num_envs=hp["num_envs"], num_steps=hp["num_steps"],
        num_epochs=hp["update_epochs"], num_minibatches=hp["num_minibatches"],
        total_timesteps=hp["total_timesteps"], eval_freq=hp["total_timesteps"],
        skip_initial_evaluation=True, learning_rate=hp["learning_rate"],
        gamma=hp["gamma"], gae_lambda=hp["gae_lambda"], clip_eps=hp["clip_eps"],
        vf_coef=hp["vf_coef"], ent_coef=hp["ent_coef"], max_grad_norm=hp["max_grad_norm"],
        normalize_observations=False,
        agent_kwargs={"hidden_layer_sizes": tuple(hp["hidden_sizes"]), "activation": "tanh"})
    # Score the final policy outside the timed program: the timed one only trains.
    algo_timed = algo.replace(eval_callback=lambda a, ts, rng: jnp.zeros(()))
    return algo, algo_timed


def run_rejax(env_name: str, hp: dict, num_seeds: int, reps: int) -> dict:
    from rejax.evaluate import evaluate

    algo, timed = rejax_ppo(env_name, hp)
    keys = jax.random.split(jax.random.PRNGKey(0), num_seeds)
    t0 = time.perf_counter()
    train = jax.jit(jax.vmap(timed.train)).lower(keys).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        ts, _ = train(keys)
        jax.block_until_ready(ts)
        times.append(time.perf_counter() - t0)
    # Final return: rejax's own evaluation (128 episodes) of each seed's final policy.
    max_steps = algo.env_params.max_steps_in_episode

    def score(ts_one, key):
        _, returns = evaluate(algo.make_act(ts_one), key, algo.env, algo.env_params, 128,
                              max_steps)
        return returns.mean()

    final = jax.vmap(score)(ts, jax.random.split(jax.random.PRNGKey(1), num_seeds))
    steps = num_seeds * hp["total_timesteps"]
    return {"library": "rejax", "env": env_name, "num_seeds": num_seeds,
            "steps_per_s": steps / statistics.median(times),
            "steps_per_s_runs": [steps / t for t in times],
            "wall_clock_s_runs": times, "compile_s": compile_s,
            "final_return": float(np.mean(np.asarray(final))),
            "final_return_definition": "rejax evaluate(): mean return of 128 episodes of "
                                       "the final policy, mean over seeds",
            "device": str(jax.devices()[0].device_kind)}


def try_brax() -> dict:
    """Run Brax's PPO trainer for a few steps on brax's 'fast' test env; record the error."""
    try:
        from brax import envs
        from brax.training.agents.ppo import train as brax_ppo

        brax_ppo.train(environment=envs.get_environment("fast"), num_timesteps=2048,
                       episode_length=100, num_envs=16, batch_size=16, unroll_length=16,
                       num_minibatches=4, num_updates_per_batch=4, num_evals=1)
        return {"library": "brax", "status": "ran"}
    except Exception as err:  # noqa: BLE001  (we report whatever stops it)
        frames = [f for f in traceback.extract_tb(err.__traceback__) if "/brax/" in f.filename]
        where = frames[-1] if frames else traceback.extract_tb(err.__traceback__)[-1]
        return {"library": "brax", "status": "failed",
                "error": f"{type(err).__name__}: {err}"[:300],
                "where": f"{where.filename.split('site-packages/')[-1]}:{where.lineno}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hparams", required=True, help="JSON of the shared hyperparameters")
    parser.add_argument("--envs", default="CartPole-v1,bandit")
    parser.add_argument("--seeds", default="1,8,64")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    hp = json.loads(args.hparams)
    print(json.dumps(try_brax()), flush=True)
    for env_name in args.envs.split(","):
        for num_seeds in map(int, args.seeds.split(",")):
            print(json.dumps(run_rejax(env_name, hp, num_seeds, args.reps)), flush=True)


if __name__ == "__main__":
    main()
