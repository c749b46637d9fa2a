"""rejax side of ``benchmarks/ppo_throughput.py``: a worker process (see ``bench_worker.py``).

Runs in the peers' own virtual environment (``benchmarks/.venv-peers``: rejax 0.1.3, gymnax
0.0.9, brax 0.14.2, the same jax as purerl), as rejax's users run it: the parent starts it
with ``XLA_FLAGS`` stripped of purerl's XLA:CPU workaround flag (unless asked for the
``rejax-flag`` side) and with ``PURERL_KEEP_XLA_FLAGS=1``, so importing ``envs_jax`` for the
bandit adds nothing either.
The meta-RL bandit is purerl's own ``bernoulli_bandit_trial`` env behind gymnax 0.0.9's
``Environment`` API (five-value ``step`` with auto-reset), so both libraries step the very
same dynamics. Started by ``ppo_throughput.py``; not meant to be run by hand.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import time
import traceback

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench_worker import EVAL_EPISODES, serve


def bandit_as_gymnax(num_arms: int, num_episodes: int):
    """purerl's Bernoulli-bandit trial env behind gymnax 0.0.9's Environment API."""
    sys.path.insert(0, ROOT)
    from gymnax.environments import environment, spaces

    import envs_jax

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


def make_rejax_ppo(env_name: str, hp: dict, updates: int):
    """rejax PPO for ``updates`` updates per ``train`` call, with its own defaults elsewhere
    (per-element gradient clip, two Adams, time-limit = termination)."""
    from rejax import PPO

    if env_name == "CartPole-v1":
        env_kw = {"env": "CartPole-v1"}
    else:
        env, params = bandit_as_gymnax(hp["num_arms"], hp["num_episodes"])
        env_kw = {"env": env, "env_params": params}
    steps = updates * hp["num_envs"] * hp["num_steps"]
    algo = PPO.create(
        **env_kw, num_envs=hp["num_envs"], num_steps=hp["num_steps"],
        num_epochs=hp["update_epochs"], num_minibatches=hp["num_minibatches"],
        total_timesteps=steps, eval_freq=steps, skip_initial_evaluation=True,
        learning_rate=hp["learning_rate"], gamma=hp["gamma"], gae_lambda=hp["gae_lambda"],
        clip_eps=hp["clip_eps"], vf_coef=hp["vf_coef"], ent_coef=hp["ent_coef"],
        max_grad_norm=hp["max_grad_norm"], normalize_observations=False,
        agent_kwargs={"hidden_layer_sizes": tuple(hp["hidden_sizes"]), "activation": "tanh"})
    # The timed program only trains: no evaluation inside it (scored apart by ``score``).
    return algo.replace(eval_callback=lambda a, ts, rng: jnp.zeros(()))


class RejaxSide:
    def __init__(self):
        self.algo = self.train = self.state = None

    def info(self) -> dict:
        versions = {}
        for p in ("rejax", "gymnax", "brax", "jax", "jaxlib", "flax", "optax", "distrax"):
            try:
                versions[p] = importlib.metadata.version(p)
            except importlib.metadata.PackageNotFoundError:
                versions[p] = None
        return {"versions": versions, "xla_flags": os.environ.get("XLA_FLAGS", ""),
                "device": str(jax.devices()[0].device_kind), "brax": try_brax()}

    def setup(self, env: str, num_seeds: int, updates: int, hparams: dict) -> dict:
        self.algo = make_rejax_ppo(env, hparams, updates)
        keys = jax.random.split(jax.random.PRNGKey(0), num_seeds)
        self.state = jax.jit(jax.vmap(self.algo.init_state))(keys)
        t0 = time.perf_counter()
        train = jax.vmap(lambda ts: self.algo.train(train_state=ts)[0])
        self.train = jax.jit(train).lower(self.state).compile()
        return {"compile_s": time.perf_counter() - t0}

    def rep(self) -> None:
        self.state = self.train(self.state)
        jax.block_until_ready(self.state)

    def score(self) -> dict:
        sys.path.insert(0, ROOT)
        from envs_jax.core import EnvStep
        from envs_jax.policy import evaluate_episodes, per_observation

        algo, env = self.algo, self.algo.env

        class OurProtocol:
            """rejax's (gymnax 0.0.9) env without auto-reset, on envs_jax's protocol; the
            time limit arrives folded into ``done`` and is reported as termination."""

            def reset(self, key, params):
                return env.reset_env(key, params)

            def step(self, key, state, action, params):
                obs, state, reward, done, _ = env.step_env(key, state, action, params)
                done = jnp.asarray(done, bool)
                return EnvStep(obs, state, jnp.asarray(reward, jnp.float32).squeeze(), done,
                               jnp.zeros_like(done), {})

        def one_seed(ts, key):
            act = algo.make_act(ts)
            policy = per_observation(lambda k, obs: act(obs, k))
            stats = evaluate_episodes(OurProtocol(), algo.env_params, policy, key,
                                      EVAL_EPISODES, int(algo.env_params.max_steps_in_episode))
            return stats.returns.mean()

        num_seeds = jax.tree.leaves(self.state)[0].shape[0]
        keys = jax.random.split(jax.random.PRNGKey(1), num_seeds)
        per_seed = np.asarray(jax.jit(jax.vmap(one_seed))(self.state, keys))
        return {"final_return": float(per_seed.mean()), "per_seed": per_seed.tolist()}


def try_brax() -> dict:
    """Run Brax's PPO trainer for a few steps on brax's 'fast' test env; record the error."""
    try:
        from brax import envs
        from brax.training.agents.ppo import train as brax_ppo

        brax_ppo.train(environment=envs.get_environment("fast"), num_timesteps=2048,
                       episode_length=100, num_envs=16, batch_size=16, unroll_length=16,
                       num_minibatches=4, num_updates_per_batch=4, num_evals=1)
        return {"status": "ran"}
    except Exception as err:  # noqa: BLE001  (we report whatever stops it)
        frames = [f for f in traceback.extract_tb(err.__traceback__) if "/brax/" in f.filename]
        where = frames[-1] if frames else traceback.extract_tb(err.__traceback__)[-1]
        return {"status": "failed", "error": f"{type(err).__name__}: {err}"[:300],
                "where": f"{where.filename.split('site-packages/')[-1]}:{where.lineno}"}


if __name__ == "__main__":
    serve(RejaxSide())
