"""Peer side of ``benchmarks/continuous_peers.py``: rejax PPO / SAC (gymnax 0.0.9
Pendulum-v1) and Brax's PPO / SAC trainers (our MJX halfcheetah through
``brax_adapter.BraxAdapter``), a worker process of ``bench_worker.serve``.

Runs in ``benchmarks/.venv-peers`` (rejax 0.1.3, gymnax 0.0.9, brax 0.14.2, purerl's jax),
started by the parent without purerl's XLA:CPU flag. The problem (hyperparameters, updates
per call) comes from ``continuous_peers.PROBLEMS`` (a file that imports no JAX).

* rejax: ``algo.train(train_state=ts)`` for one call's env steps, jitted and AOT-compiled
  once, each call continuing the previous state (its evaluation callback replaced by a
  constant: scored apart by ``score``);
* Brax: ``train()`` is a Python loop over jitted epochs. It runs in a thread;
  ``progress_fn`` (called after every epoch) parks it until the parent's next ``rep``.
  One epoch = one call's env steps; a ``rep`` reports Brax's own epoch time
  (``training/sps``), which leaves out its evaluation (PPO: ``run_evals=False``; SAC:
  always evaluates, ``num_eval_envs`` episodes, before ``progress_fn``).
  ``jax.device_put_replicated`` (used by Brax 0.14.2, removed in jax 0.10) gets a
  one-line shim here, not in any product code.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import queue
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # benchmarks/: continuous_peers.PROBLEMS
sys.path.insert(0, ROOT)  # envs_jax (the adapter, the evaluator)

from bench_worker import serve  # noqa: E402
from continuous_peers import PROBLEMS  # noqa: E402

# Brax 0.14.2 calls jax.device_put_replicated (gone in jax 0.10): one copy per device,
# placed by an identity pmap so the arrays are sharded exactly as Brax's pmapped epoch
# returns them (a plain stacked array made its second epoch compile again).
jax.device_put_replicated = lambda x, devices: jax.pmap(lambda t: t, devices=devices)(  # noqa: E731
    jax.tree.map(lambda a: jnp.stack([jnp.asarray(a)] * len(devices)), x))


def versions() -> dict:
    out = {}
    for p in ("rejax", "gymnax", "brax", "jax", "jaxlib", "flax", "optax", "mujoco",
              "mujoco-mjx"):
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


def gymnax_as_ours(env):
    """A gymnax 0.0.9 env (no auto-reset) on envs_jax's protocol, for its evaluator; the
    time limit arrives folded into ``done`` and is reported as termination."""
    from envs_jax.core import EnvStep

    class OurProtocol:
        def reset(self, key, params):
            return env.reset_env(key, params)

        def step(self, key, state, action, params):
            obs, state, reward, done, _ = env.step_env(key, state, action, params)
            done = jnp.asarray(done, bool)
            return EnvStep(obs, state, jnp.asarray(reward, jnp.float32).squeeze(), done,
                           jnp.zeros_like(done), {})

    return OurProtocol()


class PeerSide:
    def __init__(self):
        self.kind = None

    def info(self) -> dict:
        return {"versions": versions(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
                "device": str(jax.devices()[0].device_kind)}

    # ---- setup -------------------------------------------------------------------------

    def setup(self, problem: str, updates: int, blocks: int, eval_episodes: int) -> dict:
        self.problem, self.updates = PROBLEMS[problem], updates
        self.warmups = self.problem.get("warmup_calls", 1)
        self.blocks, self.eval_envs, self.started = blocks, eval_episodes, False
        self.kind = self.problem["peer"]
        return getattr(self, "_setup_" + self.kind.replace("-", "_"))(self.problem["hp"],
                                                                      updates)

    def _compile_rejax(self, algo, hparams: dict) -> dict:
        algo = algo.replace(eval_callback=lambda a, ts, rng: jnp.zeros(()))
        self.algo = algo
        self.state = jax.jit(algo.init_state)(jax.random.PRNGKey(0))
        t0 = time.perf_counter()
        self.train = jax.jit(lambda ts: algo.train(train_state=ts)[0]).lower(
            self.state).compile()
        return {"compile_s": time.perf_counter() - t0, "peer_hparams": hparams}

    def _setup_rejax_ppo(self, hp: dict, updates: int) -> dict:
        from rejax import get_algo

        steps = updates * hp["num_envs"] * hp["num_steps"]
        kw = dict(env="Pendulum-v1", num_envs=hp["num_envs"], num_steps=hp["num_steps"],
                  num_epochs=hp["update_epochs"], num_minibatches=hp["num_minibatches"],
                  learning_rate=hp["learning_rate"], gamma=hp["gamma"],
                  gae_lambda=hp["gae_lambda"], clip_eps=hp["clip_eps"],
                  vf_coef=hp["vf_coef"], ent_coef=hp["ent_coef"],
                  max_grad_norm=hp["max_grad_norm"], normalize_observations=False,
                  total_timesteps=steps, eval_freq=steps, skip_initial_evaluation=True,
                  agent_kwargs={"hidden_layer_sizes": tuple(hp["hidden_sizes"]),
                                "activation": hp["activation"]})
        return self._compile_rejax(get_algo("ppo").create(**kw), kw)

    def _setup_rejax_sac(self, hp: dict, updates: int) -> dict:
        from rejax import get_algo

        steps = updates * hp["num_envs"]
        kw = dict(env="Pendulum-v1", num_envs=hp["num_envs"],
                  num_epochs=hp["sgd_steps_per_call"], batch_size=hp["sgd_batch_size"],
                  buffer_size=hp["replay_buffer_size"], fill_buffer=steps,
                  learning_rate=hp["learning_rate"], gamma=hp["gamma"],
                  polyak=1.0 - hp["polyak_tau"], target_update_freq=1,
                  total_timesteps=steps, eval_freq=steps, skip_initial_evaluation=True,
                  hidden_layer_sizes=tuple(hp["hidden_sizes"]),
                  agent_kwargs={"activation": "relu"})
        out = self._compile_rejax(get_algo("sac").create(**kw), kw)
        t0 = time.perf_counter()
        self.rep()  # the replay warm-up (fill_buffer: policy actions, no SGD), untimed
        out["prefill_s"] = time.perf_counter() - t0
        return out

    def _start_brax(self, train_fn, kwargs: dict, wait_first: bool) -> None:
        """Run Brax's ``train`` in a thread, parked in ``progress_fn`` between calls."""
        self.go, self.done = threading.Semaphore(0), queue.Queue()

        def progress(step, metrics):
            self.done.put(("progress", int(step), {k: float(v) for k, v in metrics.items()
                                                  if np.ndim(v) == 0}))
            self.go.acquire()

        def run():
            try:
                self.result = train_fn(progress_fn=progress, **kwargs)
                self.done.put(("finished", 0, {}))
            except BaseException as err:  # noqa: BLE001
                self.done.put(("error", 0, {"error": f"{type(err).__name__}: {err}"}))

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if wait_first:  # SAC: its initial evaluation calls progress_fn(0) before prefill
            self._wait()
            self.started = True  # parked in progress_fn(0): the next rep releases it

    def _wait(self) -> dict:
        kind, step, metrics = self.done.get()
        if kind == "error":
            raise RuntimeError(metrics["error"])
        return {"step": step, **metrics}

    def _setup_brax_ppo(self, hp: dict, updates: int) -> dict:
        from brax.training.agents.ppo import networks as ppo_networks
        from brax.training.agents.ppo import train as brax_ppo
        from flax import linen

        from brax_adapter import BraxAdapter

        n, t, m = hp["num_envs"], hp["num_steps"], hp["num_minibatches"]
        epochs = self.warmups + 2 * self.blocks
        self.steps_per_epoch = updates * n * t
        net = functools.partial(
            ppo_networks.make_ppo_networks,
            policy_hidden_layer_sizes=tuple(hp["hidden_sizes"]),
            value_hidden_layer_sizes=tuple(hp["hidden_sizes"]),
            activation=getattr(linen, hp["activation"]), distribution_type="normal",
            noise_std_type="log", init_noise_std=1.0)
        kw = dict(num_timesteps=epochs * self.steps_per_epoch, num_evals=epochs + 1,
                  episode_length=1000, action_repeat=1, num_envs=n, unroll_length=t,
                  batch_size=n // m, num_minibatches=m,
                  num_updates_per_batch=hp["update_epochs"],
                  learning_rate=hp["learning_rate"], entropy_cost=hp["ent_coef"],
                  discounting=hp["gamma"], gae_lambda=hp["gae_lambda"],
                  clipping_epsilon=hp["clip_eps"], max_grad_norm=hp["max_grad_norm"],
                  vf_loss_coefficient=hp["vf_coef"], normalize_advantage=True,
                  bootstrap_on_timeout=False, normalize_observations=False,
                  reward_scaling=1.0, num_eval_envs=1, run_evals=False, seed=0)
        peer_hp = {**kw, "network_factory": "make_ppo_networks(policy/value "
                   f"{hp['hidden_sizes']}, {hp['activation']}, normal, log std, init 1)"}
        self.env = BraxAdapter("halfcheetah")
        self._start_brax(brax_ppo.train, {**kw, "environment": self.env,
                                          "network_factory": net}, wait_first=False)
        return {"peer_hparams": peer_hp}

    def _setup_brax_sac(self, hp: dict, updates: int) -> dict:
        from brax.training.agents.sac import networks as sac_networks
        from brax.training.agents.sac import train as brax_sac

        from brax_adapter import BraxAdapter

        n = hp["num_envs"]
        epochs = self.warmups + 2 * self.blocks
        self.steps_per_epoch = updates * n
        prefill = updates * n
        net = functools.partial(sac_networks.make_sac_networks,
                                hidden_layer_sizes=tuple(hp["hidden_sizes"]),
                                state_dependent_std=True)
        kw = dict(num_timesteps=prefill + epochs * self.steps_per_epoch,
                  num_evals=epochs + 1, episode_length=1000, action_repeat=1, num_envs=n,
                  learning_rate=hp["learning_rate"], discounting=hp["gamma"],
                  batch_size=hp["sgd_batch_size"], tau=hp["polyak_tau"],
                  min_replay_size=prefill, max_replay_size=hp["replay_buffer_size"],
                  grad_updates_per_step=hp["sgd_steps_per_call"],
                  normalize_observations=False, reward_scaling=1.0,
                  num_eval_envs=self.eval_envs, deterministic_eval=True, seed=0)
        peer_hp = {**kw, "network_factory": f"make_sac_networks({hp['hidden_sizes']}, relu, "
                   "tanh_normal, state_dependent_std)"}
        self.env = BraxAdapter("halfcheetah")
        self._start_brax(brax_sac.train, {**kw, "environment": self.env,
                                          "network_factory": net}, wait_first=True)
        return {"peer_hparams": peer_hp}

    # ---- calls -------------------------------------------------------------------------

    def rep(self):
        if self.kind.startswith("rejax"):
            self.state = self.train(self.state)
            jax.block_until_ready(self.state)
            return None
        if self.started:
            self.go.release()  # let Brax's loop run its next epoch
        self.started = True
        out = self._wait()
        # Brax's own timing of the epoch (its evaluation, if any, excluded).
        return {"wall_s": self.steps_per_epoch / out["training/sps"], "brax_step": out["step"]}

    def score(self, episodes: int) -> dict:
        from envs_jax.policy import evaluate_episodes, feed_forward

        steps = self.problem["eval_steps"]
        if self.kind.startswith("rejax"):
            algo, ts = self.algo, self.state
            low, high = algo.env.action_space(algo.env_params).low, \
                algo.env.action_space(algo.env_params).high
            if self.kind == "rejax-ppo":
                def mode(module, obs):
                    return jnp.clip(module._action_dist(obs).mode(), low, high)
            else:
                def mode(module, obs):
                    a = jnp.tanh(module._action_dist(obs).mode())
                    return module.action_loc + a * module.action_scale
            params = ts.actor_ts.params
            policy = feed_forward(lambda key, obs: algo.actor.apply(params, obs, method=mode))
            env, env_params = gymnax_as_ours(algo.env), algo.env_params
        else:
            self.go.release()  # the last progress_fn: let train() return
            kind, _, info = self.done.get()
            if kind != "finished":
                raise RuntimeError(info.get("error", kind))
            self.thread.join()
            make_policy, params, _ = self.result
            infer = make_policy(params, deterministic=True)
            policy = feed_forward(lambda key, obs: infer(obs, key)[0])
            import envs_jax

            env, env_params = envs_jax.make(self.env.env_id)  # its own 1000-step limit
        stats = jax.jit(lambda key: evaluate_episodes(env, env_params, policy, key, episodes,
                                                      steps))(jax.random.PRNGKey(1))
        returns = np.asarray(stats.returns)
        return {"final_return": float(returns.mean()), "return_std": float(returns.std()),
                "episodes": episodes}


if __name__ == "__main__":
    serve(PeerSide())
