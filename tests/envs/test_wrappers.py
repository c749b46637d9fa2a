"""AutoReset, RecordEpisodeStats, VecEnv and GymnaxAdapter."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import envs_jax
from envs_jax import spaces
from envs_jax.bandits import BanditParams, BernoulliBandit
from envs_jax.core import Environment, EnvStep
from envs_jax.gymnax_adapter import GymnaxAdapter
from envs_jax.meta import TrialWrapper
from envs_jax.wrappers import AutoReset, CachedAutoReset, RecordEpisodeStats, VecEnv, Wrapper


@struct.dataclass
class CountState:
    t: jax.Array


@struct.dataclass
class CountParams:
    max_steps: jax.Array


class CountEnv(Environment):
    """Deterministic: reward = action, obs = [t]; action 0 terminates; time limit ``max_steps``."""

    def default_params(self):
        return CountParams(max_steps=jnp.int32(4))

    def reset(self, key, params):
        return jnp.zeros((1,), jnp.float32), CountState(t=jnp.int32(0))

    def step(self, key, state, action, params):
        t = state.t + 1
        obs = jnp.full((1,), t, jnp.float32)
        terminated = action == 0
        return EnvStep(
            obs=obs,
            state=CountState(t=t),
            reward=action.astype(jnp.float32),
            terminated=terminated,
            truncated=(t >= params.max_steps) & ~terminated,
            info={"final_obs": obs},
        )

    def observation_space(self, params):
        return spaces.Box(0.0, np.inf, (1,))

    def action_space(self, params):
        return spaces.Discrete(10)


# Episodes: [1, 2, 0] terminated (return 3, length 3); [5, 5, 5, 5] truncated by the
# time limit (20, 4); [2, 0] terminated (2, 2); [7] still running.
ACTIONS = jnp.array([1, 2, 0, 5, 5, 5, 5, 2, 0, 7], jnp.int32)
RETURNED = [False, False, True, False, False, False, True, False, True, False]
TERMINATED = [False, False, True, False, False, False, False, False, True, False]
TRUNCATED = [False, False, False, False, False, False, True, False, False, False]


def run_actions(env, actions, params):
    def env_step(state, action):
        ts = env.step(jax.random.PRNGKey(0), state, action, params)
        return ts.state, ts

    _, state = env.reset(jax.random.PRNGKey(0), params)
    return jax.lax.scan(env_step, state, actions)[1]


@pytest.mark.parametrize("order", ["autoreset_outside", "autoreset_inside"])
def test_record_episode_stats_hand_computed(order):
    base = CountEnv()
    env = (
        AutoReset(RecordEpisodeStats(base))
        if order == "autoreset_outside"
        else RecordEpisodeStats(AutoReset(base))
    )
    traj = jax.jit(run_actions, static_argnums=0)(env, ACTIONS, base.default_params())
    np.testing.assert_array_equal(traj.info["returned_episode"], RETURNED)
    ended = np.flatnonzero(RETURNED)
    np.testing.assert_array_equal(traj.info["episode_return"][ended], [3.0, 20.0, 2.0])
    np.testing.assert_array_equal(traj.info["episode_length"][ended], [3, 4, 2])
    # running totals between episode ends
    np.testing.assert_array_equal(traj.info["episode_return"], [1, 3, 3, 5, 10, 15, 20, 2, 2, 7])
    np.testing.assert_array_equal(traj.info["episode_length"], [1, 2, 3, 1, 2, 3, 4, 1, 2, 1])
    assert traj.info["episode_return"].dtype == jnp.float32
    assert traj.info["episode_length"].dtype == jnp.int32
    np.testing.assert_array_equal(traj.terminated, TERMINATED)
    np.testing.assert_array_equal(traj.truncated, TRUNCATED)


def test_autoreset_obs_and_final_obs():
    env = AutoReset(CountEnv())
    traj = jax.jit(run_actions, static_argnums=0)(env, ACTIONS, env.default_params())
    # final_obs is the true next observation [t]; obs is the reset obs [0] after an episode end.
    np.testing.assert_array_equal(traj.info["final_obs"][:, 0], [1, 2, 3, 1, 2, 3, 4, 1, 2, 1])
    np.testing.assert_array_equal(traj.obs[:, 0], [1, 2, 0, 1, 2, 3, 0, 1, 0, 1])
    np.testing.assert_array_equal(traj.state.t, [1, 2, 0, 1, 2, 3, 0, 1, 0, 1])
    np.testing.assert_array_equal(traj.reward, ACTIONS.astype(jnp.float32))


def test_cached_autoreset_matches_autoreset_on_a_deterministic_env():
    # CountEnv's reset is deterministic, so restoring the cached initial state must give
    # exactly AutoReset's trajectory (flags, rewards, final_obs, obs after the episode end).
    env, ref = CachedAutoReset(CountEnv()), AutoReset(CountEnv())
    params = env.default_params()
    traj = jax.jit(run_actions, static_argnums=0)(env, ACTIONS, params)
    want = jax.jit(run_actions, static_argnums=0)(ref, ACTIONS, params)
    for field in ("obs", "reward", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(traj, field), getattr(want, field))
    np.testing.assert_array_equal(traj.info["final_obs"], want.info["final_obs"])
    np.testing.assert_array_equal(traj.state.env_state.t, want.state.t)
    np.testing.assert_array_equal(traj.state.first_state.t, np.zeros(len(ACTIONS)))


def test_cached_autoreset_restores_each_envs_own_first_state():
    # Random initial states (bandit tasks via the trial wrapper): after an episode end each
    # of the N envs is back at ITS cached state, not a fresh draw and not another env's.
    base = TrialWrapper(BernoulliBandit(num_arms=3), num_episodes=2)
    env = VecEnv(CachedAutoReset(base), num_envs=4)
    params = env.default_params()
    obs0, state0 = env.reset(jax.random.PRNGKey(1), params)

    def two_steps(state):
        for i in range(2):  # one trial of 2 pulls: done after the second
            ts = env.step(jax.random.PRNGKey(10 + i), state, jnp.zeros(4, jnp.int32), params)
            state = ts.state
        return ts

    ts = jax.jit(two_steps)(state0)
    assert bool(ts.done.all())
    np.testing.assert_array_equal(ts.obs, obs0)
    for got, want in zip(jax.tree.leaves(ts.state.env_state), jax.tree.leaves(state0.env_state)):
        np.testing.assert_array_equal(got, want)
    task_probs = jax.tree.leaves(state0.first_state)
    assert any(np.unique(np.asarray(x), axis=0).shape[0] == 4 for x in task_probs
               if np.asarray(x).dtype.kind == "f" and np.asarray(x).ndim == 2)


def test_vecenv_shared_and_batched_params():
    bandit = BernoulliBandit(num_arms=2)
    # Deterministic tasks: each env pays on exactly one arm.
    batched = BanditParams(probs=jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    vec_batched = VecEnv(AutoReset(bandit), num_envs=3, params_batched=True)
    vec_shared = VecEnv(AutoReset(bandit), num_envs=3)

    @jax.jit
    def pull_arm0(key, batched, shared):
        _, s_b = vec_batched.reset(key, batched)
        _, s_s = vec_shared.reset(key, shared)
        action = jnp.zeros(3, jnp.int32)
        return vec_batched.step(key, s_b, action, batched), vec_shared.step(
            key, s_s, action, shared
        )

    ts_b, ts_s = pull_arm0(
        jax.random.PRNGKey(0), batched, BanditParams(probs=jnp.array([0.0, 1.0]))
    )
    np.testing.assert_array_equal(ts_b.reward, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(ts_s.reward, [0.0, 0.0, 0.0])
    assert ts_b.obs.shape == (3, 1) and ts_b.info["final_obs"].shape == (3, 1)
    assert ts_b.terminated.shape == (3,) and ts_b.state.t.shape == (3,)
    # default params: shared as is, batched broadcast to [N].
    assert vec_shared.default_params().probs.shape == (2,)
    assert vec_batched.default_params().probs.shape == (3, 2)
    assert vec_batched.observation_space(batched).shape == (1,)
    assert vec_batched.action_space(batched).n == 2


def test_vecenv_gives_each_env_its_own_key():
    env, params = envs_jax.make("random_mdp")
    vec = VecEnv(env, num_envs=8)

    @jax.jit
    def first_step(key):
        _, state = vec.reset(key, params)
        return vec.step(key, state, jnp.zeros(8, jnp.int32), params)

    ts = first_step(jax.random.PRNGKey(0))
    assert len(np.unique(np.asarray(ts.reward))) == 8  # same state/action, different noise


def test_wrapper_forwards_attributes():
    env = VecEnv(AutoReset(RecordEpisodeStats(TrialWrapper(BernoulliBandit(5), num_episodes=7))), 2)
    assert env.trial_length == 7 and env.num_actions == 5 and env.obs_dim == 8
    assert env.name == "Trial[BernoulliBandit]"
    with pytest.raises(AttributeError):
        _ = env.no_such_attribute
    assert isinstance(env, Wrapper) and isinstance(env, Environment)


def test_vecenv_rejects_bad_num_envs():
    with pytest.raises(ValueError, match="VecEnv: num_envs must be an integer >= 1, got 0"):
        VecEnv(CountEnv(), num_envs=0)


# --- GymnaxAdapter ----------------------------------------------------------------


@pytest.fixture(scope="module")
def cartpole():
    env, params = envs_jax.make("gymnax/CartPole-v1")
    _, state = env.reset(jax.random.PRNGKey(0), params)
    return env, params, state, jax.jit(env.step)


def test_cartpole_time_limit_is_truncation(cartpole):
    _, params, state, step = cartpole
    at_limit = state.replace(time=jnp.int32(params.max_steps_in_episode - 1))
    ts = step(jax.random.PRNGKey(1), at_limit, jnp.int32(1), params)
    assert bool(ts.truncated) and not bool(ts.terminated)
    assert int(ts.state.time) == params.max_steps_in_episode
    assert ts.reward.dtype == jnp.float32 and ts.terminated.dtype == jnp.bool_


def test_cartpole_fallen_pole_is_termination(cartpole):
    _, params, state, step = cartpole
    fallen = state.replace(theta=jnp.float32(0.5))
    ts = step(jax.random.PRNGKey(1), fallen, jnp.int32(1), params)
    assert bool(ts.terminated) and not bool(ts.truncated)
    # Both at once: a true terminal state wins (no bootstrapping from it).
    both = fallen.replace(time=jnp.int32(params.max_steps_in_episode - 1))
    ts = step(jax.random.PRNGKey(1), both, jnp.int32(1), params)
    assert bool(ts.terminated) and not bool(ts.truncated)
    # Neither: an ordinary step.
    ts = step(jax.random.PRNGKey(1), state, jnp.int32(1), params)
    assert not bool(ts.terminated) and not bool(ts.truncated)
    np.testing.assert_array_equal(ts.info["final_obs"], ts.obs)


def test_cartpole_state_has_strong_dtypes(cartpole):
    _, _, state, _ = cartpole
    assert state.time.dtype == jnp.int32 and not state.time.weak_type


class MixedDoneEnv:
    """A gymnax-style env whose ``step_env`` ``done`` mixes the time limit in (gymnax < 1.0)."""

    name = "MixedDone"

    @struct.dataclass
    class State:
        time: jax.Array
        fallen: jax.Array

    @struct.dataclass
    class Params:
        max_steps_in_episode: int = 3

    @property
    def default_params(self):
        return self.Params()

    def reset_env(self, key, params):
        return jnp.zeros(2), self.State(time=0, fallen=False)

    def step_env(self, key, state, action, params):
        state = self.State(time=state.time + 1, fallen=action == 1)
        done = self.is_terminated(state, params) | (state.time >= params.max_steps_in_episode)
        return jnp.zeros(2), state, 1.0, done, {}

    def is_terminated(self, state, params):
        return state.fallen

    def observation_space(self, params):
        from gymnax.environments import spaces as gymnax_spaces

        return gymnax_spaces.Box(-1.0, 1.0, (2,), jnp.float32)

    def action_space(self, params):
        from gymnax.environments import spaces as gymnax_spaces

        return gymnax_spaces.Discrete(2)


def test_adapter_splits_mixed_done():
    env = GymnaxAdapter(MixedDoneEnv())
    params = env.default_params()
    traj = jax.jit(run_actions, static_argnums=0)(
        AutoReset(env), jnp.array([0, 0, 0, 0, 1, 0]), params
    )
    # steps 1-3: time limit at step 3 -> truncated; steps 4-5: action 1 at step 5 -> terminated
    np.testing.assert_array_equal(traj.truncated, [False, False, True, False, False, False])
    np.testing.assert_array_equal(traj.terminated, [False, False, False, False, True, False])
    assert traj.reward.dtype == jnp.float32 and traj.obs.dtype == jnp.float32
    assert isinstance(env.action_space(params), spaces.Discrete)
    assert isinstance(env.observation_space(params), spaces.Box)
