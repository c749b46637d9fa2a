"""Offline datasets collected on the device: N vmapped envs in one compiled ``lax.scan``.

``collect(env, env_params, policy, key, num_transitions, num_envs)`` runs a
``envs_jax.policy.Policy`` in ``num_envs`` auto-resetting copies of an env of our protocol
with ``envs_jax.policy.rollout`` inside ONE ``jax.jit``-ed function (called once per chunk
of ``chunk_steps`` steps, the same compiled program every time; no Python step loop) and
returns the rows in D4RL's layout (Fu et al. 2020; ``d4rl/offline_env.py`` and the
collection scripts ``scripts/generation/mujoco/collect_data.py``):

* ``observations [M, obs_dim]``, ``actions [M, act_dim]`` (in the env's action box),
  ``rewards [M]`` float32, ``terminals [M]`` bool (the env's ``terminated``),
  ``timeouts [M]`` bool (the env's ``truncated``: the time limit, 1000 steps for the
  locomotion tasks), ``next_observations [M, obs_dim]`` (the true next observation,
  ``info["final_obs"]``, also after a timeout);
* ``infos/qpos [M, nq]`` and ``infos/qvel [M, nv]`` (float32) of the physics state the
  row's observation was taken in, when the env state carries an ``mjx.Data`` (the MJX
  tasks), as D4RL's ``infos/qpos`` / ``infos/qvel`` (``env.sim.data`` before the step);
* ``infos/action_log_probs [M]`` float32: ``log pi(a|s)`` of the behaviour action as
  sampled, when the policy reports it (``with_log_probs``, ``uniform_policy``), as
  D4RL's files of SAC policies do.

Rows are consecutive steps of one env, env after env (env-major): rows of env ``i`` are its
``T = ceil(M / N)`` steps in order (the last env's stream is cut at ``M``). Within a
stream a new episode starts on the row after a terminal or timeout, as in D4RL. Where a
stream ends mid-episode, its last row gets ``timeouts = True`` (D4RL's own scripts leave
such a row unflagged at the end of a file): the next row belongs to another env, so
``d4rl.qlearning_dataset`` must drop it like any time-limit row, and it does.

Differences from D4RL's collection (C MuJoCo, one env, a Python loop): many envs side by
side, so episodes are interleaved in time but stored env-major; every episode starts from
a fresh ``reset`` (``AutoReset``, not the MJX training's ``CachedAutoReset``), as D4RL's
``env.reset()``.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax import spaces
from envs_jax.core import EnvStep
from envs_jax.offline.d4rl import write_d4rl
from envs_jax.offline.minari import write_minari
from envs_jax.policy import Policy, init_carry, rollout
from envs_jax.wrappers import AutoReset, VecEnv, Wrapper

LOG_PROB_KEY = "action_log_probs"
"""``Policy`` extras key (and ``infos/`` key) of the behaviour action's log-density."""


def _physics(state: Any) -> Any:
    """The ``mjx.Data`` (anything with ``qpos`` and ``qvel``) of an env state, or None;
    looks through wrapper states (``.env_state``)."""
    while state is not None:
        data = getattr(state, "data", None)
        if data is not None and hasattr(data, "qpos") and hasattr(data, "qvel"):
            return data
        state = getattr(state, "env_state", None)
    return None


class RecordPhysicsState(Wrapper):
    """Adds the physics state to ``info``: ``qpos`` / ``qvel`` ``[nq]`` / ``[nv]`` float32
    BEFORE the step (the state of the observation acted on, D4RL's ``infos/qpos``) and
    ``next_qpos`` / ``next_qvel`` after it (the state of ``info["final_obs"]``). Adds
    nothing for an env whose state has no ``mjx.Data``. Wrap the base env, inside the
    auto-reset."""

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> EnvStep:
        ts = self.env.step(key, state, action, params)
        before, after = _physics(state), _physics(ts.state)
        if before is None or after is None:
            return ts
        info = {**ts.info,
                "qpos": before.qpos.astype(jnp.float32), "qvel": before.qvel.astype(jnp.float32),
                "next_qpos": after.qpos.astype(jnp.float32),
                "next_qvel": after.qvel.astype(jnp.float32)}
        return ts._replace(info=info)


def _no_hidden(n: int) -> jax.Array:
    return jnp.zeros((n, 1), jnp.float32)


def with_log_probs(fn: Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]
                   ) -> Policy:
    """A memoryless ``Policy`` from ``fn(key, obs [N, obs_dim]) -> (action [N, A],
    log_prob [N])`` that reports ``log_prob`` as the extra ``"action_log_probs"``
    (``collect`` writes it to ``infos/action_log_probs``)."""

    def act(hidden, obs, reset, key):
        action, log_prob = fn(key, obs)
        return hidden, action, {LOG_PROB_KEY: log_prob.astype(jnp.float32)}

    return Policy(_no_hidden, act)


def uniform_policy(action_space: spaces.Box) -> Policy:
    """Uniform actions in a bounded ``Box`` (D4RL's "random" datasets), with their
    log-density ``-sum_i log(high_i - low_i)`` (``-A log 2`` for ``[-1, 1]^A``).

    Raises:
        ValueError: the space is not a bounded ``Box``.
    """
    low, high = np.asarray(action_space.low, np.float32), np.asarray(action_space.high,
                                                                     np.float32)
    if not isinstance(action_space, spaces.Box) or not np.isfinite([low, high]).all():
        raise ValueError(f"action space: expected a bounded Box, got {action_space!r}")
    log_density = -float(np.sum(np.log(high - low)))

    def fn(key, obs):
        action = jax.random.uniform(key, (obs.shape[0], *low.shape), minval=low, maxval=high)
        return action, jnp.full((obs.shape[0],), log_density, jnp.float32)

    return with_log_probs(fn)


def stream_ends(terminals: np.ndarray, timeouts: np.ndarray, starts: np.ndarray
                ) -> np.ndarray:
    """``timeouts`` with the last row of every stream flagged when it ends mid-episode.

    Args:
        terminals: ``[M]`` bool.
        timeouts: ``[M]`` bool.
        starts: ``[K]`` int, the first row of each of the K streams (ascending, ``0``
            first); a stream runs to the next start (the last to ``M``).

    Returns:
        ``[M]`` bool, a copy of ``timeouts`` with the ends of unfinished streams set.
    """
    out = np.array(timeouts, bool)
    lasts = np.append(np.asarray(starts[1:], np.int64) - 1, terminals.shape[0] - 1)
    lasts = lasts[lasts >= 0]
    out[lasts] |= ~np.asarray(terminals, bool)[lasts]
    return out


def collect(env, env_params: Any, policy: Policy, key: jax.Array, num_transitions: int,
            num_envs: int, chunk_steps: int = 1000, progress: Callable[[int, int], None]
            | None = None) -> dict[str, np.ndarray]:
    """Collect ``num_transitions`` rows of ``policy`` in D4RL's layout (module docstring).

    Deterministic: the same arguments give bitwise the same arrays on the same machine
    (chunk ``c`` uses ``fold_in(key, c)``; every chunk runs the same compiled program,
    the tail is trimmed on the host).

    Args:
        env: a BASE env of our protocol (no auto-reset), 1-D observations.
        env_params: its params.
        policy: the behaviour ``Policy``; an ``"action_log_probs"`` extra ``[N]`` is kept.
        key: PRNG key.
        num_transitions: M, rows to return (>= 1).
        num_envs: N, envs stepped side by side (vmapped; <= M).
        chunk_steps: steps of the N envs per compiled call (bounds device memory: a
            call holds ``N x chunk_steps`` rows).
        progress: called ``(rows collected, M)`` after each chunk.

    Returns:
        ``observations``, ``actions``, ``rewards``, ``terminals``, ``timeouts``,
        ``next_observations`` and, when available, ``infos/qpos``, ``infos/qvel``,
        ``infos/next_qpos``, ``infos/next_qvel``, ``infos/action_log_probs``; host numpy
        arrays with M rows.

    Raises:
        ValueError: ``num_transitions``, ``num_envs`` or ``chunk_steps`` out of range.
    """
    for name, value, low in (("num_transitions", num_transitions, 1),
                             ("num_envs", num_envs, 1), ("chunk_steps", chunk_steps, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
    if num_envs > num_transitions:
        raise ValueError(f"num_envs: expected at most num_transitions={num_transitions}, "
                         f"got {num_envs}")
    steps = -(-num_transitions // num_envs)                 # T per env
    chunk_steps = min(chunk_steps, steps)
    num_chunks = -(-steps // chunk_steps)
    venv = VecEnv(AutoReset(RecordPhysicsState(env)), num_envs)

    def rows(tr) -> dict[str, jax.Array]:
        out = {"observations": tr.obs.astype(jnp.float32), "actions": tr.action,
               "rewards": tr.reward.astype(jnp.float32), "terminals": tr.terminated,
               "timeouts": tr.truncated & ~tr.terminated,
               "next_observations": tr.next_obs.astype(jnp.float32)}
        out.update({f"infos/{k}": tr.info[k] for k in ("qpos", "qvel", "next_qpos",
                                                        "next_qvel") if k in tr.info})
        if LOG_PROB_KEY in tr.extras:
            out[f"infos/{LOG_PROB_KEY}"] = tr.extras[LOG_PROB_KEY]
        return out

    @jax.jit
    def run_chunk(carry, key_chunk):
        carry, tr = rollout(venv, env_params, policy, carry, key_chunk, chunk_steps)
        return carry, rows(tr)

    key_reset, key_steps = jax.random.split(key)
    carry = init_carry(venv, env_params, policy, key_reset, num_envs)
    parts: list[dict[str, np.ndarray]] = []
    for c in range(num_chunks):
        carry, chunk = run_chunk(carry, jax.random.fold_in(key_steps, c))
        parts.append(jax.device_get(chunk))                              # [t, N, ...]
        if progress is not None:
            progress(min((c + 1) * chunk_steps * num_envs, num_transitions), num_transitions)
    data = {}
    for name in parts[0]:
        stacked = np.concatenate([p[name] for p in parts])[:steps]       # [T, N, ...]
        data[name] = np.swapaxes(stacked, 0, 1).reshape(steps * num_envs, *stacked.shape[2:])
        data[name] = data[name][:num_transitions]
    starts = np.arange(0, num_transitions, steps)
    data["timeouts"] = stream_ends(data["terminals"], data["timeouts"], starts)
    return data


def episode_returns(data: Mapping[str, np.ndarray], time_limit: int | None = None
                    ) -> np.ndarray:
    """Undiscounted returns ``[E]`` float64 of the finished episodes of D4RL rows.

    An episode is finished when it ends in a terminal, or in a timeout after exactly
    ``time_limit`` steps (any timeout if ``time_limit`` is None). Episodes cut short (a
    stream end flagged by ``stream_ends``, rows after the last end flag) are left out.

    Args:
        data: ``rewards``, ``terminals``, ``timeouts`` ``[M]``.
        time_limit: the env's time limit in steps.
    """
    terminals = np.asarray(data["terminals"], bool)
    ends = np.flatnonzero(terminals | np.asarray(data["timeouts"], bool))
    if ends.size == 0:
        return np.zeros((0,), np.float64)
    sums = np.cumsum(np.asarray(data["rewards"], np.float64))[ends]
    returns = np.diff(np.concatenate([[0.0], sums]))
    lengths = np.diff(np.concatenate([[-1], ends]))
    keep = terminals[ends] | (True if time_limit is None else lengths == time_limit)
    return returns[keep]


def data_hash(data: Mapping[str, np.ndarray]) -> str:
    """sha256 (hex) of the data arrays: for each key in sorted order its name, dtype,
    shape and bytes (C order). Metadata is not hashed, so the same rows hash the same
    whatever command or date wrote them."""
    digest = hashlib.sha256()
    for name in sorted(data):
        array = np.ascontiguousarray(data[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def concatenate(*datasets: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Row-wise concatenation of D4RL arrays (D4RL's medium-expert = medium + expert);
    keys missing from one dataset are dropped.

    Raises:
        ValueError: a dataset whose last row has no end flag (its last episode would run
            into the next dataset's first).
    """
    for i, d in enumerate(datasets[:-1]):
        if not (d["terminals"][-1] or d["timeouts"][-1]):
            raise ValueError(f"datasets[{i}]: expected an end flag on the last row before "
                             "concatenating, got none")
    keys = [k for k in datasets[0] if all(k in d for d in datasets)]
    return {k: np.concatenate([np.asarray(d[k]) for d in datasets]) for k in keys}


def d4rl_arrays(data: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What a D4RL file stores: every key but the ``infos/next_*`` helpers (used only for
    Minari's ``T + 1``-long infos)."""
    return {k: v for k, v in data.items() if not k.startswith("infos/next_")}


def minari_episodes(data: Mapping[str, np.ndarray], seed: int | None = None
                    ) -> list[dict[str, Any]]:
    """D4RL rows as Minari episodes: ``observations [T + 1]`` (the episode's rows and the
    last row's ``next_observations``), ``actions``, ``rewards``, ``terminations``,
    ``truncations`` ``[T]``, and ``infos`` ``{"qpos", "qvel": [T + 1, ...]}`` where the
    rows carry them (Minari's infos describe each observation, so the step-aligned
    ``action_log_probs`` stays in the D4RL file only). Every episode ends in a terminal
    or timeout flag; rows after the last flag form one more episode, marked truncated.

    Args:
        data: rows as ``collect`` returns them.
        seed: stored as each episode's ``seed`` attribute if given.
    """
    terminals = np.asarray(data["terminals"], bool)
    timeouts = np.asarray(data["timeouts"], bool)
    n = terminals.shape[0]
    ends = np.flatnonzero(terminals | timeouts)
    if ends.size == 0 or ends[-1] != n - 1:
        ends = np.append(ends, n - 1)
    episodes, start = [], 0
    for end in ends:
        sl = slice(start, end + 1)
        truncations = timeouts[sl].copy()
        truncations[-1] |= not terminals[end]
        infos = {k: np.concatenate([data[f"infos/{k}"][sl], data[f"infos/next_{k}"][end:end + 1]])
                 for k in ("qpos", "qvel", "goal") if f"infos/next_{k}" in data}
        episodes.append({
            "observations": np.concatenate([data["observations"][sl],
                                            data["next_observations"][end:end + 1]]),
            "actions": data["actions"][sl], "rewards": data["rewards"][sl],
            "terminations": terminals[sl], "truncations": truncations, "infos": infos,
            "seed": seed})
        start = end + 1
    return episodes


def write_dataset(data: Mapping[str, np.ndarray], env, env_params: Any, *,
                  d4rl_path: str | os.PathLike | None = None,
                  minari_dir: str | os.PathLike | None = None, dataset_id: str = "",
                  metadata: Mapping[str, Any] | None = None, seed: int | None = None,
                  time_limit: int | None = None) -> dict[str, Any]:
    """Write rows in the D4RL layout, the Minari layout, or both, with one metadata set.

    The metadata gets ``data_sha256`` (``data_hash`` of the D4RL arrays),
    ``num_transitions``, ``num_episodes`` and ``policy_return`` (mean return of the
    finished episodes in the data, ``episode_returns(data, time_limit)``; NaN if none),
    ``policy_return_std`` and ``written_at`` (UTC, ISO 8601), on top of ``metadata`` (e.g. the generating command, seed, package versions). D4RL stores it as
    scalar datasets ``metadata/<key>`` (non-scalar values as JSON strings), Minari in its
    ``metadata.json``.

    Args:
        data: rows as ``collect`` returns them.
        env: the env (its spaces go into Minari's metadata).
        env_params: its params.
        d4rl_path: the ``.hdf5`` file to write (None: no D4RL file).
        minari_dir: the Minari dataset dir (None: none); must not hold a dataset yet.
        dataset_id: Minari's ``dataset_id`` (e.g. ``"purerl/hopper/medium-v0"``).
        metadata: extra metadata; values are str, numbers, bools or JSON-able.
        seed: stored on each Minari episode.
        time_limit: the env's time limit (episodes cut before it are not scored).

    Returns:
        The full metadata written.

    Raises:
        FileExistsError: ``minari_dir`` holds a dataset.
    """
    import json

    arrays = d4rl_arrays(data)
    returns = episode_returns(data, time_limit)
    meta = {**(metadata or {}),
            "data_sha256": data_hash(arrays),
            "num_transitions": int(arrays["rewards"].shape[0]),
            "num_episodes": int(returns.size),
            "policy_return": float(returns.mean()) if returns.size else float("nan"),
            "policy_return_std": float(returns.std()) if returns.size else float("nan"),
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    scalars = {k: v if isinstance(v, (str, int, float, bool, np.generic)) else json.dumps(v)
               for k, v in meta.items()}
    if d4rl_path is not None:
        write_d4rl(d4rl_path, arrays, metadata=scalars)
    if minari_dir is not None:
        write_minari(minari_dir, minari_episodes(data, seed), env.observation_space(env_params),
                     env.action_space(env_params), dataset_id, extra_metadata=meta)
    return meta


__all__ = ["LOG_PROB_KEY", "RecordPhysicsState", "collect", "concatenate",
           "d4rl_arrays", "data_hash", "episode_returns", "minari_episodes", "stream_ends",
           "uniform_policy", "with_log_probs", "write_dataset"]
