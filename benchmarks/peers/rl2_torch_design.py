"""RL^2 (GRU) + PPO on Bernoulli bandits, written with the PyTorch seed project's DESIGN.

The seed project (``rl2_train.py`` of a PyTorch RL^2/SNAIL reproduction; its README's
flags are those of ``purerl.algos.rl2``) is not available offline, so this is OUR
re-implementation of its *design*, for the speed comparison of
``benchmarks/meta_rl_speed.py``:

- one PyTorch process learns; ``num_workers`` sampler processes (``torch.multiprocessing``,
  spawn) each hold a copy of the policy, receive its weights before every update, and
  step their envs one at a time in a Python loop (a batch-1 forward per env step), then
  send their trajectories back through a pipe;
- the envs are numpy Bernoulli-bandit trials: k arms with ``p ~ U[0, 1]^k`` drawn at the
  start of each trial, n pulls per trial, input ``[1 | one_hot(prev_action) | prev_reward
  | prev_done]`` (as ``envs_jax.meta.TrialWrapper`` over ``envs_jax.bandits``);
- the policy is LayerNorm(input) -> GRU(256) -> policy logits and value (sizes and
  initialisation of ``purerl.common.networks.GRUActorCritic``: with PyTorch's default GRU
  init the same PPO learned far slower here, training return 5.30 vs 6.16 per trial after
  30 updates, which would mix an init choice into the time-to-score; ``--gru_init torch``
  keeps PyTorch's default); PPO (Schulman et al. 2017, eq. 7 and 9)
  with GAE (gamma 0.99, lambda = ``tau`` 0.3) over whole trials, recurrent minibatches
  of whole trials (the GRU is unrolled over the trial from a zero state), advantage
  normalisation per minibatch, clipped value loss, global-norm gradient clipping, and
  learning rate and clip decayed linearly to 0 over the run (as the seed does).

Where the seed's code has known defects (``shared/specs/meta_rl.md``: GAE cut at every
pull, one step of recurrence on stored hidden states, value-loss sign error, last-sample
entropy) this follows purerl's corrected maths instead, so both sides solve the same
problem and only the execution design differs.

Runs in the torch venv (``benchmarks/.venv-d3rlpy``: torch 2.13 CPU, numpy)::

    benchmarks/.venv-d3rlpy/bin/python benchmarks/peers/rl2_torch_design.py \
        --num_workers 2 --num_updates 60

Prints one JSON object (the last stdout line): env-steps/s, PPO updates/s, wall-clock per
update split into sampling and optimisation, worker start-up time, and the mean training
return per trial of every update's rollout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.distributions import Categorical

# Defaults = purerl.algos.rl2.Config defaults (the main job); the driver passes them anyway.
DEFAULTS = {"num_actions": 5, "num_traj": 10, "hidden_size": 256, "batch_size": 5120,
            "mini_batch_size": 1280, "ppo_epochs": 4, "learning_rate": 1e-3,
            "clip_param": 0.2, "tau": 0.3, "gamma": 0.99, "vf_coef": 0.5, "ent_coef": 0.01,
            "max_grad_norm": 0.9, "num_updates": 60, "num_workers": 1, "seed": 0,
            "learner_threads": 1, "gru_init": "purerl"}


class BanditTrialEnv:
    """One Bernoulli-bandit trial env in numpy: n pulls on one task, then a new task.

    Source: Duan et al. 2016 (RL^2, arXiv 1611.02779), sec. 4.1 bandits; input layout of
    ``envs_jax.meta.TrialWrapper``. Observation ``[obs_dim]`` float32,
    ``obs_dim = 1 + k + 2``: ``[1 | one_hot(prev_action, k) | prev_reward | prev_done]``,
    zeros after the leading 1 at trial start. Every pull ends an inner episode (horizon
    1), so ``prev_done`` is 1 after the first pull.

    Args:
        num_arms: k.
        num_pulls: n, pulls per trial.
        rng: the env's numpy generator (task and reward draws).
    """

    def __init__(self, num_arms: int, num_pulls: int, rng: np.random.Generator):
        self.k, self.n, self.rng = num_arms, num_pulls, rng
        self.obs_dim = 1 + num_arms + 2

    def _obs(self, prev_action: int, prev_reward: float, prev_done: float) -> np.ndarray:
        obs = np.zeros(self.obs_dim, np.float32)
        obs[0] = 1.0
        if prev_action >= 0:
            obs[1 + prev_action] = 1.0
        obs[1 + self.k] = prev_reward
        obs[2 + self.k] = prev_done
        return obs

    def reset(self) -> np.ndarray:
        """New trial: draws ``p ~ U[0, 1]^k``; returns the first observation."""
        self.probs = self.rng.uniform(size=self.k)
        self.t = 0
        return self._obs(-1, 0.0, 0.0)

    def step(self, action: int) -> tuple[np.ndarray, float, bool]:
        """One pull: ``(obs, reward in {0, 1}, trial_done)``."""
        reward = float(self.rng.random() < self.probs[action])
        self.t += 1
        return self._obs(action, reward, 1.0), reward, self.t == self.n


class GRUPolicy(nn.Module):
    """LayerNorm -> GRU(H) -> (logits [.., k], value [..]); ``purerl``'s GRUActorCritic sizes.

    ``forward(obs [B, T, obs_dim], h [1, B, H])`` -> ``(logits [B, T, k], value [B, T],
    h [1, B, H])``. Heads use orthogonal init with gains 0.01 (policy) and 1 (value), as
    purerl. ``gru_init="purerl"`` initialises the GRU as flax's ``GRUCell`` (purerl's):
    truncated-normal LeCun input kernels, orthogonal recurrent kernels per gate, zero
    biases; ``"torch"`` keeps PyTorch's default ``U(-1/sqrt(H), 1/sqrt(H))``.

    Raises:
        ValueError: ``gru_init`` is neither "purerl" nor "torch".
    """

    def __init__(self, obs_dim: int, num_actions: int, hidden_size: int,
                 gru_init: str = "purerl"):
        super().__init__()
        self.norm = nn.LayerNorm(obs_dim)
        self.gru = nn.GRU(obs_dim, hidden_size, batch_first=True)
        self.pi = nn.Linear(hidden_size, num_actions)
        self.v = nn.Linear(hidden_size, 1)
        for layer, gain in ((self.pi, 0.01), (self.v, 1.0)):
            nn.init.orthogonal_(layer.weight, gain)
            nn.init.zeros_(layer.bias)
        if gru_init == "purerl":
            self._flax_gru_init(obs_dim, hidden_size)
        elif gru_init != "torch":
            raise ValueError(f"gru_init: expected 'purerl' or 'torch', got {gru_init!r}")
        self.hidden_size = hidden_size

    @torch.no_grad()
    def _flax_gru_init(self, obs_dim: int, hidden_size: int) -> None:
        # flax lecun_normal: truncated normal in [-2, 2] std units, rescaled so the
        # variance is 1/fan_in (0.8796... is the std of a standard normal cut at +-2).
        std = (1.0 / obs_dim) ** 0.5 / 0.87962566103423978
        nn.init.trunc_normal_(self.gru.weight_ih_l0, 0.0, std, -2 * std, 2 * std)
        for gate in range(3):  # r, z, n blocks: flax has one orthogonal kernel per gate
            nn.init.orthogonal_(self.gru.weight_hh_l0[gate * hidden_size:(gate + 1) * hidden_size])
        nn.init.zeros_(self.gru.bias_ih_l0)
        nn.init.zeros_(self.gru.bias_hh_l0)

    def forward(self, obs, h):
        features, h = self.gru(self.norm(obs), h)
        return self.pi(features), self.v(features)[..., 0], h


def sampler_worker(rank: int, hp: dict, conn) -> None:
    """Sampler process: per request, load the sent weights and collect whole trials.

    Protocol on ``conn``: receives ``(state_dict of numpy arrays, num_trials)`` or
    ``None`` (exit); sends a dict of numpy arrays ``obs [M, n, obs_dim]``, ``action``,
    ``log_prob``, ``value``, ``reward`` (each ``[M, n]``) and ``sample_s``.
    """
    torch.set_num_threads(1)  # one core per sampler, as one process per actor
    torch.manual_seed(hp["seed"] * 1000 + rank + 1)
    rng = np.random.default_rng([hp["seed"], rank])
    env = BanditTrialEnv(hp["num_actions"], hp["num_traj"], rng)
    policy = GRUPolicy(env.obs_dim, hp["num_actions"], hp["hidden_size"], hp["gru_init"])
    conn.send("ready")
    n = hp["num_traj"]
    while True:
        msg = conn.recv()
        if msg is None:
            break
        weights, num_trials = msg
        t0 = time.perf_counter()
        policy.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
        out = {"obs": np.zeros((num_trials, n, env.obs_dim), np.float32),
               "action": np.zeros((num_trials, n), np.int64),
               "log_prob": np.zeros((num_trials, n), np.float32),
               "value": np.zeros((num_trials, n), np.float32),
               "reward": np.zeros((num_trials, n), np.float32)}
        with torch.no_grad():
            for i in range(num_trials):
                obs = env.reset()
                h = torch.zeros(1, 1, policy.hidden_size)  # memory zeroed per trial
                for t in range(n):
                    logits, value, h = policy(torch.from_numpy(obs).view(1, 1, -1), h)
                    dist = Categorical(logits=logits.view(-1))
                    action = dist.sample()
                    out["obs"][i, t] = obs
                    out["action"][i, t] = action.item()
                    out["log_prob"][i, t] = dist.log_prob(action).item()
                    out["value"][i, t] = value.item()
                    obs, reward, _ = env.step(int(action.item()))
                    out["reward"][i, t] = reward
        out["sample_s"] = time.perf_counter() - t0
        conn.send(out)


def gae(reward: torch.Tensor, value: torch.Tensor, gamma: float, lam: float):
    """GAE over whole trials ``[M, n]``; the trial's last step is terminal (no bootstrap).

    Source: Schulman et al. 2016, "High-Dimensional Continuous Control Using GAE", eq. 16;
    not cut inside a trial (RL^2 optimises the return of the whole trial).

    Returns:
        ``(advantages, targets)``, each ``[M, n]`` float32.
    """
    adv = torch.zeros_like(reward)
    last = torch.zeros(reward.shape[0])
    for t in reversed(range(reward.shape[1])):
        next_value = value[:, t + 1] if t + 1 < reward.shape[1] else torch.zeros_like(last)
        delta = reward[:, t] + gamma * next_value - value[:, t]
        last = delta + gamma * lam * last
        adv[:, t] = last
    return adv, adv + value


def ppo_update(policy, optim, batch: dict, hp: dict, clip: float) -> dict:
    """``ppo_epochs`` epochs over minibatches of whole trials; returns mean losses."""
    obs = torch.from_numpy(batch["obs"])
    action = torch.from_numpy(batch["action"])
    old_log_prob = torch.from_numpy(batch["log_prob"])
    old_value = torch.from_numpy(batch["value"])
    adv, targets = gae(torch.from_numpy(batch["reward"]), old_value, hp["gamma"], hp["tau"])
    num_trials = obs.shape[0]
    num_mb = hp["batch_size"] // hp["mini_batch_size"]
    stats = {"pg_loss": 0.0, "vf_loss": 0.0, "entropy": 0.0}
    for _ in range(hp["ppo_epochs"]):
        for idx in torch.randperm(num_trials).view(num_mb, -1):
            h0 = torch.zeros(1, len(idx), policy.hidden_size)
            logits, value, _ = policy(obs[idx], h0)
            dist = Categorical(logits=logits)
            log_ratio = dist.log_prob(action[idx]) - old_log_prob[idx]
            ratio = log_ratio.exp()
            a = adv[idx]
            a = (a - a.mean()) / (a.std(unbiased=False) + 1e-8)
            pg_loss = -torch.min(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a).mean()
            v_old, target = old_value[idx], targets[idx]
            v_clip = v_old + (value - v_old).clamp(-clip, clip)
            vf_loss = 0.5 * torch.max((value - target) ** 2, (v_clip - target) ** 2).mean()
            entropy = dist.entropy().mean()
            loss = pg_loss + hp["vf_coef"] * vf_loss - hp["ent_coef"] * entropy
            optim.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), hp["max_grad_norm"])
            optim.step()
            for k, v in (("pg_loss", pg_loss), ("vf_loss", vf_loss), ("entropy", entropy)):
                stats[k] += v.item() / (hp["ppo_epochs"] * num_mb)
    return stats


def train(hp: dict) -> dict:
    """Start the samplers, run ``num_updates`` PPO updates, return the measurements."""
    num_trials = hp["batch_size"] // hp["num_traj"]
    if hp["batch_size"] % hp["num_traj"] or num_trials % hp["num_workers"]:
        raise ValueError(f"batch_size: expected a multiple of num_traj * num_workers = "
                         f"{hp['num_traj'] * hp['num_workers']}, got {hp['batch_size']}")
    if (hp["batch_size"] % hp["mini_batch_size"]
            or num_trials % (hp["batch_size"] // hp["mini_batch_size"])):
        raise ValueError(f"mini_batch_size: expected a divisor of batch_size that holds whole "
                         f"trials, got {hp['mini_batch_size']}")
    # One intra-op thread by default: on the shared 2-core machine two OpenMP threads
    # oversubscribed the cores (one PPO update took 31 s instead of 2 s at load 8).
    torch.set_num_threads(hp["learner_threads"])
    torch.manual_seed(hp["seed"])
    obs_dim = 1 + hp["num_actions"] + 2
    policy = GRUPolicy(obs_dim, hp["num_actions"], hp["hidden_size"], hp["gru_init"])
    optim = torch.optim.Adam(policy.parameters(), lr=hp["learning_rate"], eps=1e-5)

    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")
    conns, procs = [], []
    for rank in range(hp["num_workers"]):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=sampler_worker, args=(rank, hp, child), daemon=True)
        proc.start()
        conns.append(parent)
        procs.append(proc)
    for c in conns:
        assert c.recv() == "ready"
    startup_s = time.perf_counter() - t0

    per_worker = num_trials // hp["num_workers"]
    curve, sample_s, update_s, worker_sample_s, elapsed, losses = [], [], [], [], [], []
    t_start = time.perf_counter()
    try:
        for i in range(hp["num_updates"]):
            frac = 1.0 - i / hp["num_updates"]  # linear decay of lr and clip (the seed's)
            for group in optim.param_groups:
                group["lr"] = hp["learning_rate"] * frac
            t0 = time.perf_counter()
            weights = {k: v.detach().numpy().copy() for k, v in policy.state_dict().items()}
            for c in conns:
                c.send((weights, per_worker))
            parts = [c.recv() for c in conns]
            batch = {k: np.concatenate([p[k] for p in parts]) for k in
                     ("obs", "action", "log_prob", "value", "reward")}
            t1 = time.perf_counter()
            losses.append(ppo_update(policy, optim, batch, hp, hp["clip_param"] * frac))
            t2 = time.perf_counter()
            sample_s.append(t1 - t0)
            update_s.append(t2 - t1)
            worker_sample_s.append(max(p["sample_s"] for p in parts))
            elapsed.append(t2 - t_start)
            curve.append(float(batch["reward"].sum(axis=1).mean()))
    finally:
        for c in conns:
            c.send(None)
        for p in procs:
            p.join(timeout=10)
    total_s = time.perf_counter() - t_start
    n_updates = hp["num_updates"]
    return {
        "implementation": "torch (seed design)", "num_workers": hp["num_workers"],
        "num_updates": n_updates, "batch_size": hp["batch_size"],
        "env_steps_per_s": n_updates * hp["batch_size"] / total_s,
        "updates_per_s": n_updates / total_s,
        "sample_s_per_update": float(np.mean(sample_s)),
        "update_s_per_update": float(np.mean(update_s)),
        "worker_sample_s_per_update": float(np.mean(worker_sample_s)),
        "startup_s": startup_s, "total_s": total_s,
        "elapsed_s_after_update": elapsed, "return_per_update": curve,
        "losses_last_update": losses[-1],
        "torch": torch.__version__, "numpy": np.__version__,
        "torch_threads_learner": torch.get_num_threads(), "torch_threads_sampler": 1,
        "gru_init": hp["gru_init"],
        "platform": platform.platform(), "cpu_count": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in DEFAULTS.items():
        parser.add_argument(f"--{name}", type=type(value), default=value)
    parser.add_argument("--hparams", default="{}", help="JSON overriding the flags above")
    args = parser.parse_args()
    hp = {**vars(args), **json.loads(args.hparams)}
    hp.pop("hparams")
    for name in ("num_workers", "num_updates", "learner_threads", "batch_size",
                 "mini_batch_size", "ppo_epochs"):
        if hp[name] <= 0:
            raise ValueError(f"{name}: expected a positive integer, got {hp[name]}")
    print(json.dumps(train(hp)), flush=True)


if __name__ == "__main__":
    main()
