"""Synthetic offline datasets from any environment of our protocol, in D4RL and Minari layouts.

Nothing can be downloaded here, so datasets are generated: ``rollout`` runs a policy in an
``envs_jax`` environment inside one ``jax.jit``-ed ``lax.scan``; ``to_d4rl`` /
``to_minari_episodes`` lay the rows out as the real formats do, and ``write_d4rl_from_env``
/ ``write_minari_from_env`` write the files. ``LinearTargetEnv`` is a small continuous
control task whose optimal action is known in closed form, for learning tests (CQL must
recover ``a*(s)`` from uniformly random actions).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs_jax import spaces
from envs_jax._checks import check_int
from envs_jax.core import Environment, EnvStep
from envs_jax.offline.d4rl import write_d4rl
from envs_jax.offline.dataset import OfflineDataset, from_numpy
from envs_jax.offline.minari import write_minari
from envs_jax.offline.specs import DatasetSpec
from envs_jax.policy import Policy, as_policy
from envs_jax.wrappers import tree_select

PolicyFn = Callable[[jax.Array, jax.Array], jax.Array]
"""``policy(key, obs [obs_dim]) -> action [action_dim]``, jittable (wrapped into the
``envs_jax.policy.Policy`` protocol by ``as_policy``)."""


@struct.dataclass
class TargetParams:
    """Task of ``LinearTargetEnv``.

    Attributes:
        weights: ``[action_dim, obs_dim]`` float32; optimal action ``tanh(weights @ s)``.
        terminate_prob: ``[]`` float32, probability that a step is terminal.
    """

    weights: jax.Array
    terminate_prob: jax.Array


@struct.dataclass
class TargetState:
    obs: jax.Array  # [obs_dim] float32
    t: jax.Array  # [] int32, steps taken in this episode


class LinearTargetEnv(Environment[TargetState, TargetParams]):
    """Continuous contextual task with a known optimum.

    ``s ~ U[-1, 1]^obs_dim`` independently at every step (actions do not move the state),
    ``r(s, a) = 1 - mean((a - a*(s))^2)`` with ``a*(s) = tanh(W s)`` in ``(-1, 1)``, so the
    greedy action ``a*(s)`` is optimal for every discount. A step is terminal with
    probability ``terminate_prob``; otherwise the episode is truncated after ``horizon``
    steps. Actions live in ``[-1, 1]^action_dim``.

    Args:
        obs_dim: observation length.
        action_dim: action length.
        horizon: time limit in steps.
        terminate_prob: default ``params.terminate_prob``.
        seed: seed of the default ``W ~ N(0, 1 / obs_dim)``.
    """

    def __init__(
        self,
        obs_dim: int = 3,
        action_dim: int = 2,
        horizon: int = 10,
        terminate_prob: float = 0.0,
        seed: int = 0,
    ):
        self.obs_dim = check_int("LinearTargetEnv", "obs_dim", obs_dim, 1)
        self.action_dim = check_int("LinearTargetEnv", "action_dim", action_dim, 1)
        self.horizon = check_int("LinearTargetEnv", "horizon", horizon, 1)
        if not 0.0 <= terminate_prob <= 1.0:
            raise ValueError(
                f"LinearTargetEnv: terminate_prob must be in [0, 1], got {terminate_prob!r}"
            )
        self.terminate_prob = float(terminate_prob)
        self.seed = int(seed)

    def default_params(self) -> TargetParams:
        rng = np.random.default_rng(self.seed)
        weights = rng.normal(0.0, 1.0 / np.sqrt(self.obs_dim), (self.action_dim, self.obs_dim))
        return TargetParams(jnp.asarray(weights, jnp.float32), jnp.float32(self.terminate_prob))

    def optimal_action(self, params: TargetParams, obs: jax.Array) -> jax.Array:
        """``a*(s) = tanh(W s)``, ``[..., obs_dim] -> [..., action_dim]``."""
        return jnp.tanh(obs @ params.weights.T)

    def reward(self, params: TargetParams, obs: jax.Array, action: jax.Array) -> jax.Array:
        """``1 - mean((a - a*(s))^2)`` over the action axis."""
        return 1.0 - jnp.mean((action - self.optimal_action(params, obs)) ** 2, axis=-1)

    def _sample_obs(self, key: jax.Array) -> jax.Array:
        return jax.random.uniform(key, (self.obs_dim,), minval=-1.0, maxval=1.0)

    def reset(self, key: jax.Array, params: TargetParams) -> tuple[jax.Array, TargetState]:
        obs = self._sample_obs(key)
        return obs, TargetState(obs, jnp.int32(0))

    def step(
        self, key: jax.Array, state: TargetState, action: jax.Array, params: TargetParams
    ) -> EnvStep:
        key_obs, key_term = jax.random.split(key)
        reward = self.reward(params, state.obs, action).astype(jnp.float32)
        obs = self._sample_obs(key_obs)
        t = state.t + 1
        terminated = jax.random.uniform(key_term) < params.terminate_prob
        truncated = (t >= self.horizon) & ~terminated
        return EnvStep(obs, TargetState(obs, t), reward, terminated, truncated, {"final_obs": obs})

    def observation_space(self, params: TargetParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.obs_dim,))

    def action_space(self, params: TargetParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.action_dim,))


def uniform_policy(action_space: spaces.Box) -> PolicyFn:
    """Uniform random actions in a bounded ``Box`` (D4RL's "random" datasets)."""
    return lambda key, obs: action_space.sample(key)


def rollout(
    env: Environment,
    params,
    policy: Policy | PolicyFn,
    key: jax.Array,
    num_steps: int,
    max_episode_steps: int | None = None,
) -> dict[str, np.ndarray]:
    """Runs ``policy`` for ``num_steps`` consecutive steps, resetting after each episode.

    Args:
        env: any environment of our protocol (base env, no auto-reset) with Box spaces.
        params: its params.
        policy: an ``envs_jax.policy.Policy`` (run on one env; its memory is reset at
            every episode start), or ``policy(key, obs) -> action``.
        key: PRNG key.
        num_steps: ``N``, rows to record (static).
        max_episode_steps: extra time limit on top of the env's own (None: the env's only).

    Returns:
        Host arrays in step order: ``observations [N, obs_dim]``, ``actions [N, act_dim]``,
        ``rewards [N]`` float32, ``terminals [N]`` bool, ``timeouts [N]`` bool (env
        truncation or ``max_episode_steps``, never both flags), ``next_observations
        [N, obs_dim]`` (the true ``info["final_obs"]``). Row ``i + 1`` starts a new episode
        after a terminal or timeout; the last episode may be unfinished.
    """
    limit = max_episode_steps or np.iinfo(np.int32).max
    pol = as_policy(policy)

    def env_step(carry, key_t):
        obs, state, t, hidden = carry
        key_act, key_step, key_reset = jax.random.split(key_t, 3)
        hidden, action = pol.act(hidden, obs[None], (t == 0)[None], key_act)
        action = action[0]
        ts = env.step(key_step, state, action, params)
        t = t + 1
        timeout = (ts.truncated | (t >= limit)) & ~ts.terminated
        done = ts.terminated | timeout
        reset_obs, reset_state = env.reset(key_reset, params)
        carry = (
            jnp.where(done, reset_obs, ts.obs),
            tree_select(done, reset_state, ts.state),
            jnp.where(done, 0, t),
            hidden,
        )
        row = {
            "observations": obs,
            "actions": action,
            "rewards": ts.reward.astype(jnp.float32),
            "terminals": ts.terminated,
            "timeouts": timeout,
            "next_observations": ts.info["final_obs"],
        }
        return carry, row

    @jax.jit
    def run(key):
        key_reset, key_steps = jax.random.split(key)
        obs, state = env.reset(key_reset, params)
        _, rows = jax.lax.scan(
            env_step, (obs, state, jnp.int32(0), pol.initial_hidden(1)),
            jax.random.split(key_steps, num_steps)
        )
        return rows

    return {k: np.asarray(v) for k, v in run(key).items()}


def to_d4rl(
    rows: dict[str, np.ndarray], *, include_next_observations: bool = True, flag_last: bool = True
) -> dict[str, np.ndarray]:
    """Rollout rows as a D4RL file's arrays (``observations`` ... ``timeouts``).

    Args:
        rows: output of ``rollout``.
        include_next_observations: also write ``next_observations`` (D4RL v2 files have it).
        flag_last: set ``timeouts`` on the last row if the data ends mid-episode, so the file
            passes the "last episode has an end flag" check.
    """
    out = {k: np.array(v) for k, v in rows.items()}
    if flag_last and not (out["terminals"][-1] or out["timeouts"][-1]):
        out["timeouts"][-1] = True
    if not include_next_observations:
        out.pop("next_observations")
    return out


def to_minari_episodes(rows: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Rollout rows split into Minari episodes with ``T + 1`` observations each.

    An unfinished last episode is marked truncated on its last step.
    """
    done = rows["terminals"] | rows["timeouts"]
    ends = list(np.flatnonzero(done))
    n = done.shape[0]
    if not ends or ends[-1] != n - 1:
        ends.append(n - 1)
    episodes, start = [], 0
    for end in ends:
        sl = slice(start, end + 1)
        truncs = rows["timeouts"][sl].copy()
        if not (rows["terminals"][end] or truncs[-1]):
            truncs[-1] = True
        episodes.append(
            {
                "observations": np.concatenate(
                    [rows["observations"][sl], rows["next_observations"][end : end + 1]]
                ),
                "actions": rows["actions"][sl],
                "rewards": rows["rewards"][sl],
                "terminations": rows["terminals"][sl],
                "truncations": truncs,
            }
        )
        start = end + 1
    return episodes


def write_d4rl_from_env(
    path: str | os.PathLike,
    env: Environment,
    params,
    policy: Policy | PolicyFn,
    key: jax.Array,
    num_steps: int,
    max_episode_steps: int | None = None,
    **to_d4rl_kwargs,
) -> dict[str, np.ndarray]:
    """``rollout`` -> ``to_d4rl`` -> ``write_d4rl``; returns the arrays written."""
    data = to_d4rl(
        rollout(env, params, policy, key, num_steps, max_episode_steps), **to_d4rl_kwargs
    )
    write_d4rl(path, data, metadata={"algorithm": "purerl.synthetic"})
    return data


def write_minari_from_env(
    dataset_dir: str | os.PathLike,
    env: Environment,
    params,
    policy: Policy | PolicyFn,
    key: jax.Array,
    num_steps: int,
    dataset_id: str,
    max_episode_steps: int | None = None,
) -> list[dict[str, np.ndarray]]:
    """``rollout`` -> ``to_minari_episodes`` -> ``write_minari``; returns the episodes."""
    episodes = to_minari_episodes(rollout(env, params, policy, key, num_steps, max_episode_steps))
    write_minari(
        dataset_dir,
        episodes,
        env.observation_space(params),
        env.action_space(params),
        dataset_id,
        extra_metadata={"algorithm_name": "purerl.synthetic"},
    )
    return episodes


def known_optimum_dataset(
    key: jax.Array,
    num_transitions: int = 1024,
    obs_dim: int = 2,
    action_dim: int = 1,
    seed: int = 0,
) -> tuple[OfflineDataset, LinearTargetEnv, TargetParams]:
    """One-step episodes of ``LinearTargetEnv`` with uniformly random actions.

    Every transition is terminal, so ``Q(s, a) = r(s, a)`` and the optimal policy is
    ``env.optimal_action(params, s)``: an offline learner must recover it from data that
    never shows it preferentially.

    Returns:
        ``(dataset, env, params)``; ``dataset`` has ``num_transitions`` rows.
    """
    env = LinearTargetEnv(obs_dim, action_dim, horizon=1, terminate_prob=1.0, seed=seed)
    params = env.default_params()
    policy = uniform_policy(env.action_space(params))

    # Episodes are one step long and independent: a vmap over episodes, cheaper to
    # compile than rollout's scan, gives the same rows.
    def one_episode(key_ep):
        key_reset, key_act, key_step = jax.random.split(key_ep, 3)
        obs, state = env.reset(key_reset, params)
        action = policy(key_act, obs)
        ts = env.step(key_step, state, action, params)
        return {
            "observations": obs,
            "actions": action,
            "rewards": ts.reward,
            "next_observations": ts.info["final_obs"],
            "terminals": ts.terminated,
            "timeouts": ts.truncated,
        }

    rows = jax.jit(jax.vmap(one_episode))(jax.random.split(key, num_transitions))
    return from_numpy(**{k: np.asarray(v) for k, v in rows.items()}), env, params


def shaped_random_d4rl(
    spec: DatasetSpec, num_rows: int, episode_len: int | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """D4RL arrays with a real task's shapes and random contents, for speed benchmarks.

    Until the MJX D4RL tasks exist, a benchmark on "hopper-medium-v2" needs data of the
    right sizes only: ``observations ~ N(0, 1)`` ``[N, spec.obs_dim]``, ``actions`` uniform
    in the spec's box, ``rewards ~ N(0, 1)``, no terminals, a timeout every
    ``episode_len`` rows (default ``spec.max_episode_steps``) and on the last row. Built
    with numpy (1M hopper rows in about a second). Not for learning: there is no dynamics.

    Args:
        spec: e.g. ``spec_for("hopper-medium-v2")``.
        num_rows: ``N``.
        episode_len: rows per episode.
        seed: numpy seed.

    Returns:
        ``observations``, ``actions``, ``rewards``, ``terminals``, ``timeouts`` for
        ``write_d4rl``.
    """
    episode_len = episode_len or spec.max_episode_steps
    rng = np.random.default_rng(seed)
    timeouts = np.zeros(num_rows, bool)
    timeouts[episode_len - 1 :: episode_len] = True
    timeouts[-1] = True
    return {
        "observations": rng.standard_normal((num_rows, spec.obs_dim), np.float32),
        "actions": rng.uniform(
            spec.action_low, spec.action_high, (num_rows, spec.action_dim)
        ).astype(np.float32),
        "rewards": rng.standard_normal(num_rows, np.float32),
        "terminals": np.zeros(num_rows, bool),
        "timeouts": timeouts,
    }
