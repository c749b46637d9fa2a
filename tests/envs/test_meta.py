"""Task distributions (bandit, random MDP), value iteration and the trial wrapper."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from envs_jax import spaces
from envs_jax.bandits import BanditParams, BernoulliBandit
from envs_jax.core import EnvStep, MetaEnvironment
from envs_jax.meta import TaskPerEpisode, TrialParams, TrialWrapper
from envs_jax.tabular import MDPParams, RandomMDP, value_iteration
from envs_jax.wrappers import AutoReset, VecEnv


def sample_tasks(env, key: jax.Array, num: int):
    """``num`` tasks stacked as numpy ``[num, ...]`` leaves.

    A jitted UNBATCHED ``sample_task`` called in a loop: under vmap every draw becomes a
    2-D random draw, which XLA:CPU compiles several times slower (vmap is covered by the
    contract tests).
    """
    sample = jax.jit(env.sample_task)
    tasks = [sample(k) for k in np.asarray(jax.random.split(key, num))]
    return jax.tree.map(lambda *leaves: np.stack(leaves), *tasks)


# --- Bernoulli bandit -------------------------------------------------------------


def test_bandit_rewards_match_probs():
    env = BernoulliBandit(num_arms=4)
    probs = jnp.array([0.05, 0.3, 0.5, 0.9], jnp.float32)
    params = BanditParams(probs=probs)
    num_pulls = 4000

    @jax.jit
    def pull_all_arms(key):
        _, state = env.reset(key, params)
        keys = jax.random.split(key, (env.num_arms, num_pulls))
        arms = jnp.arange(env.num_arms)
        pull = lambda k, a: env.step(k, state, a, params)
        return jax.vmap(jax.vmap(pull, in_axes=(0, None)), in_axes=(0, 0))(keys, arms)

    ts = pull_all_arms(jax.random.PRNGKey(0))
    assert ts.reward.shape == (4, num_pulls) and ts.reward.dtype == jnp.float32
    assert set(np.unique(ts.reward)) <= {0.0, 1.0}
    mean = np.asarray(ts.reward.mean(axis=1))
    std_err = np.sqrt(np.asarray(probs) * (1 - np.asarray(probs)) / num_pulls)
    np.testing.assert_array_less(np.abs(mean - np.asarray(probs)), 4 * std_err + 1e-3)
    # Horizon 1: every pull ends the episode by termination; the observation is constant.
    assert np.all(ts.terminated) and not np.any(ts.truncated)
    np.testing.assert_array_equal(ts.obs, np.ones((4, num_pulls, 1), np.float32))


def test_bandit_tasks_and_optimum():
    env = BernoulliBandit(num_arms=5)
    tasks = sample_tasks(env, jax.random.PRNGKey(1), 4000)
    probs = np.asarray(tasks.probs)
    assert probs.shape == (4000, 5) and probs.dtype == np.float32
    assert probs.min() >= 0.0 and probs.max() <= 1.0
    assert abs(probs.mean() - 0.5) < 0.01  # Uniform[0, 1]: mean 1/2, std 0.289 / sqrt(20000)
    optimum = np.asarray(
        jax.jit(jax.vmap(env.optimal_return, in_axes=(0, None)), static_argnums=1)(tasks, 10)
    )
    np.testing.assert_allclose(optimum, 10 * probs.max(axis=1), rtol=1e-6)
    # E[max of k uniforms] = k / (k + 1): RL^2 Table 1's ceiling for n=10, k=5 is 8.33.
    assert abs(optimum.mean() - 10 * 5 / 6) < 0.05
    default = env.default_params().probs  # fixed: the same task every call
    np.testing.assert_array_equal(default, env.default_params().probs)
    assert default.shape == (5,) and default.dtype == jnp.float32


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, "5"])
def test_bandit_rejects_bad_num_arms(bad):
    with pytest.raises(ValueError, match=r"num_arms must be an integer >= 2, got"):
        BernoulliBandit(num_arms=bad)


# --- random MDP -------------------------------------------------------------------


def test_mdp_task_distribution():
    env = RandomMDP()
    tasks = sample_tasks(env, jax.random.PRNGKey(2), 2000)
    p = np.asarray(tasks.transition)
    assert p.shape == (2000, 10, 5, 10) and p.dtype == np.float32
    assert p.min() >= 0.0
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-5)
    # Flat Dirichlet(1) over S=10: each entry has mean 1/S, variance (S-1)/(S^2 (S+1)).
    s = 10
    assert abs(p.mean() - 1 / s) < 1e-3
    assert abs(p.var() - (s - 1) / (s**2 * (s + 1))) < 3e-4
    # ... and its marginal is Beta(1, S-1): P(p < x) = 1 - (1 - x)^(S-1).
    assert abs((p < 0.05).mean() - (1 - 0.95**9)) < 0.01
    r = np.asarray(tasks.reward_mean)
    assert r.shape == (2000, 10, 5) and r.dtype == np.float32
    assert abs(r.mean() - 1.0) < 0.02 and abs(r.std() - 1.0) < 0.02


def test_mdp_reward_noise_and_transitions():
    env = RandomMDP()
    params = env.default_params()
    n = 20000

    @jax.jit
    def many_first_steps(key):
        _, state = env.reset(key, params)
        step = lambda k: env.step(k, state, jnp.int32(3), params)
        return jax.vmap(step)(jax.random.split(key, n))

    ts = many_first_steps(jax.random.PRNGKey(3))
    noise = np.asarray(ts.reward) - float(params.reward_mean[0, 3])
    assert abs(noise.mean()) < 4 / np.sqrt(n)
    assert abs(noise.std() - 1.0) < 0.03
    next_state = np.asarray(ts.state.s)
    freq = np.bincount(next_state, minlength=10) / n
    expected = np.asarray(params.transition[0, 3])
    np.testing.assert_array_less(
        np.abs(freq - expected), 4 * np.sqrt(expected * (1 - expected) / n) + 1e-3
    )
    np.testing.assert_array_equal(ts.obs, np.eye(10, dtype=np.float32)[next_state])


def test_mdp_never_moves_to_zero_probability_states():
    env = RandomMDP(num_states=4, num_actions=2, horizon=5)
    transition = jnp.zeros((4, 2, 4)).at[0, 0].set(jnp.array([0.0, 0.5, 0.0, 0.5]))
    transition = transition.at[0, 1, 3].set(1.0)  # the last state: exercises the clamp
    params = MDPParams(transition=transition, reward_mean=jnp.zeros((4, 2)))

    @jax.jit
    def next_states(key):
        _, state = env.reset(key, params)
        step = lambda k, a: env.step(k, state, a, params).state.s
        keys = jax.random.split(key, 2000)
        return jax.vmap(step, in_axes=(0, None))(keys, 0), jax.vmap(step, in_axes=(0, None))(
            keys, 1
        )

    via_a0, via_a1 = next_states(jax.random.PRNGKey(11))
    assert set(np.unique(via_a0)) == {1, 3} and abs(np.mean(via_a0 == 1) - 0.5) < 0.05
    assert set(np.unique(via_a1)) == {3}


@pytest.mark.parametrize("field", ["num_states", "num_actions", "horizon"])
def test_mdp_rejects_bad_args(field):
    with pytest.raises(ValueError, match=f"RandomMDP: {field} must be an integer >= 1, got 0"):
        RandomMDP(**{field: 0})


# --- value iteration --------------------------------------------------------------


def test_value_iteration_hand_computed():
    # s0 -a0-> s0 (r=1); s0 -a1-> s0 or s1 with 1/2 each (r=0.5); s1 absorbing, r(s1,.) = 3, 2.
    task = MDPParams(
        transition=jnp.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.0, 1.0]]]),
        reward_mean=jnp.array([[1.0, 0.5], [3.0, 2.0]]),
    )
    v, q = value_iteration(task, horizon=2)
    # Last step: Q = r, V = [1, 3]. First step: Q[s0] = [1 + 1, 0.5 + (1 + 3) / 2] = [2, 2.5].
    np.testing.assert_allclose(q[1], [[1.0, 0.5], [3.0, 2.0]])
    np.testing.assert_allclose(q[0], [[2.0, 2.5], [6.0, 5.0]])
    np.testing.assert_allclose(v, [[2.5, 6.0], [1.0, 3.0], [0.0, 0.0]])
    assert v.shape == (3, 2) and q.shape == (2, 2, 2) and v.dtype == jnp.float32
    env = RandomMDP(num_states=2, num_actions=2, horizon=2)
    np.testing.assert_allclose(env.optimal_return(task, 5), 12.5)


def _numpy_backward_induction(p: np.ndarray, r: np.ndarray, horizon: int):
    s_count, a_count = r.shape
    v = np.zeros((horizon + 1, s_count))
    q = np.zeros((horizon, s_count, a_count))
    for t in reversed(range(horizon)):
        for s in range(s_count):
            for a in range(a_count):
                q[t, s, a] = r[s, a] + sum(p[s, a, s2] * v[t + 1, s2] for s2 in range(s_count))
            v[t, s] = q[t, s].max()
    return v, q


def _brute_force_values(p: np.ndarray, r: np.ndarray, horizon: int) -> np.ndarray:
    """Best expected return from each start state over ALL deterministic time-dependent policies."""
    s_count, a_count = r.shape
    best = np.full(s_count, -np.inf)
    for flat in itertools.product(range(a_count), repeat=horizon * s_count):
        policy = np.array(flat).reshape(horizon, s_count)
        dist = np.eye(s_count)  # [start, s]
        value = np.zeros(s_count)
        for t in range(horizon):
            value += dist @ r[np.arange(s_count), policy[t]]
            dist = dist @ p[np.arange(s_count), policy[t]]
        best = np.maximum(best, value)
    return best


def test_value_iteration_matches_numpy_references():
    env = RandomMDP(num_states=3, num_actions=2, horizon=3)

    tasks = sample_tasks(env, jax.random.PRNGKey(5), 4)
    v, q = jax.jit(jax.vmap(functools.partial(value_iteration, horizon=3)))(tasks)
    optimum = jax.jit(jax.vmap(lambda task: env.optimal_return(task, 2)))(tasks)
    for i in range(4):
        p_i = np.asarray(tasks.transition[i], np.float64)
        r_i = np.asarray(tasks.reward_mean[i], np.float64)
        v_ref, q_ref = _numpy_backward_induction(p_i, r_i, 3)
        np.testing.assert_allclose(v[i], v_ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(q[i], q_ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(v[i, 0], _brute_force_values(p_i, r_i, 3), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(optimum[i], 2 * v_ref[0, 0], rtol=1e-5)


# --- trial wrapper ----------------------------------------------------------------


# The default registry trials, from the shared AutoReset rollout (conftest.rollout):
# "bernoulli_bandit_trial" (5 arms, 10 pulls per trial) and "random_mdp_trial"
# (10 episodes x horizon 10 = 100 steps per trial); 200 random-action steps each.


def test_trial_length_and_termination_bandit(env_rollout):
    r = env_rollout("bernoulli_bandit_trial")
    traj, num_steps = r["traj"], r["traj"].reward.shape[0]
    assert r["env"].trial_length == 10
    np.testing.assert_array_equal(np.flatnonzero(traj.terminated), np.arange(9, num_steps, 10))
    assert not np.any(traj.truncated)
    assert np.all(traj.info["inner_done"])  # every pull is an inner episode
    np.testing.assert_array_equal(traj.info["episode_idx"], np.arange(num_steps) % 10)


def test_trial_keeps_task_within_and_resamples_across_trials(env_rollout):
    before = env_rollout("bernoulli_bandit_trial")["before"]
    probs = np.asarray(before.task.probs).reshape(-1, 10, 5)  # [trial, step, arm]
    for trial_probs in probs:
        np.testing.assert_array_equal(
            trial_probs, np.broadcast_to(trial_probs[0], trial_probs.shape)
        )
    first = probs[:, 0]
    assert len(np.unique(first, axis=0)) == len(first)  # a fresh task every trial


def test_trial_obs_layout_bandit(env_rollout):
    r = env_rollout("bernoulli_bandit_trial")
    traj, actions, k = r["traj"], np.asarray(r["actions"]), 5
    assert r["env"].obs_dim == 1 + k + 2 and r["obs_space"].shape == (1 + k + 2,)
    # [inner obs (1) | one_hot(prev action) (k) | prev reward | prev done]; zeros at trial start.
    start = np.array([1.0] + [0.0] * (k + 2), np.float32)
    np.testing.assert_array_equal(r["obs0"], start)
    obs, final_obs = np.asarray(traj.obs), np.asarray(traj.info["final_obs"])
    for t in range(obs.shape[0]):
        if t % 10 == 9:  # AutoReset started the next trial: prev-fields are zero again
            np.testing.assert_array_equal(obs[t], start)
            row = final_obs[t]
        else:
            row = obs[t]
            np.testing.assert_array_equal(final_obs[t], obs[t])
        assert row[0] == 1.0
        np.testing.assert_array_equal(row[1 : 1 + k], np.eye(k)[actions[t]])
        assert row[1 + k] == traj.reward[t] and row[1 + k] in (0.0, 1.0)
        assert row[2 + k] == 1.0  # the (one-pull) inner episode ended


def test_trial_mdp_episodes_and_termination(env_rollout):
    r = env_rollout("random_mdp_trial")
    traj, before, actions = r["traj"], r["before"], np.asarray(r["actions"])
    s_count, a_count = 10, 5
    assert r["env"].trial_length == 100 and r["env"].obs_dim == s_count + a_count + 2
    np.testing.assert_array_equal(np.flatnonzero(traj.terminated), [99, 199])
    assert not np.any(traj.truncated)
    np.testing.assert_array_equal(np.flatnonzero(traj.info["inner_done"]), np.arange(9, 200, 10))
    np.testing.assert_array_equal(
        traj.info["episode_idx"], np.tile(np.repeat(np.arange(10), 10), 2)
    )
    np.testing.assert_array_equal(before.t, np.arange(200) % 100)
    np.testing.assert_array_equal(before.env_state.t, np.arange(200) % 10)
    obs = np.asarray(traj.obs)
    # [one-hot state (10) | one_hot(prev action) (5) | prev reward | prev done]
    for t in range(200):
        if t % 100 == 99:
            continue
        np.testing.assert_array_equal(
            obs[t, s_count : s_count + a_count], np.eye(a_count)[actions[t]]
        )
        assert obs[t, -2] == traj.reward[t]
        if t % 10 == 9:  # an inner episode ended: restart in state 0, done flag set
            np.testing.assert_array_equal(obs[t, :s_count], np.eye(s_count)[0])
            assert obs[t, -1] == 1.0
        else:
            assert obs[t, -1] == 0.0 and obs[t, :s_count].sum() == 1.0
    # At a trial end AutoReset shows the next trial's first obs; final_obs keeps the last one.
    for t in (99, 199):
        np.testing.assert_array_equal(obs[t], np.eye(s_count + a_count + 2)[0])
        final = np.asarray(traj.info["final_obs"][t])
        assert final[:s_count].sum() == 1.0
        np.testing.assert_array_equal(final[s_count:-2], np.eye(a_count)[actions[t]])
        assert final[-2] == traj.reward[t] and final[-1] == 1.0
    # The task is fixed within a trial and fresh in the next.
    transition = np.asarray(before.task.transition)
    np.testing.assert_array_equal(
        transition[:100], np.broadcast_to(transition[0], transition[:100].shape)
    )
    np.testing.assert_array_equal(
        transition[100:], np.broadcast_to(transition[100], transition[100:].shape)
    )
    assert not np.allclose(transition[0], transition[100])


def test_mdp_truncates_at_horizon(env_rollout):
    r = env_rollout("random_mdp")
    traj, before = r["traj"], r["before"]
    np.testing.assert_array_equal(r["obs0"], np.eye(10)[0])  # every episode starts in state 0
    assert not np.any(traj.terminated)
    np.testing.assert_array_equal(np.flatnonzero(traj.truncated), np.arange(9, 200, 10))
    np.testing.assert_array_equal(before.t, np.arange(200) % 10)
    # AutoReset restarted each episode in state 0.
    np.testing.assert_array_equal(
        np.asarray(traj.obs)[9::10], np.broadcast_to(np.eye(10)[0], (20, 10))
    )


def test_resample_false_keeps_given_tasks():
    trial = TrialWrapper(BernoulliBandit(num_arms=2), num_episodes=4)
    # Deterministic held-out tasks: arm 0 always pays in task 0, never in task 1.
    tasks = BanditParams(probs=jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    params = TrialWrapper.params_for_tasks(tasks)
    assert params.resample_task.shape == (3,) and params.resample_task.dtype == jnp.bool_
    env = VecEnv(AutoReset(trial), num_envs=3, params_batched=True)

    @jax.jit
    def run(key):
        _, state = env.reset(key, params)

        def env_step(state, key):
            ts = env.step(key, state, jnp.zeros(3, jnp.int32), params)
            return ts.state, (ts.reward, state.task.probs)

        return jax.lax.scan(env_step, state, jax.random.split(key, 12))[1]  # 3 trials

    reward, probs = run(jax.random.PRNGKey(10))
    np.testing.assert_array_equal(probs, np.broadcast_to(tasks.probs, (12, 3, 2)))
    np.testing.assert_array_equal(reward, np.broadcast_to([1.0, 0.0, 1.0], (12, 3)))
    # Optimal returns of the held-out tasks: num_episodes * max(probs).
    np.testing.assert_allclose(jax.vmap(trial.optimal_return)(tasks), [4.0, 4.0, 4.0])


def test_reset_selects_task_by_flag():
    trial = TrialWrapper(BernoulliBandit(num_arms=3), num_episodes=2)
    given = BanditParams(probs=jnp.array([0.25, 0.5, 0.75]))
    reset = jax.jit(trial.reset)
    _, kept = reset(jax.random.PRNGKey(0), TrialParams(task=given, resample_task=jnp.array(False)))
    np.testing.assert_array_equal(kept.task.probs, given.probs)
    _, fresh_a = reset(
        jax.random.PRNGKey(0), TrialParams(task=given, resample_task=jnp.array(True))
    )
    _, fresh_b = reset(
        jax.random.PRNGKey(1), TrialParams(task=given, resample_task=jnp.array(True))
    )
    assert not np.allclose(fresh_a.task.probs, given.probs)
    assert not np.allclose(fresh_a.task.probs, fresh_b.task.probs)


def test_trial_wrapper_validation():
    with pytest.raises(ValueError, match="num_episodes must be an integer >= 1, got 0"):
        TrialWrapper(BernoulliBandit(), num_episodes=0)

    class ContinuousBandit(BernoulliBandit):
        def action_space(self, params=None):
            return spaces.Box(-1.0, 1.0, (1,))

    with pytest.raises(TypeError, match="must be Discrete"):
        TrialWrapper(ContinuousBandit(), num_episodes=2)


# --- a fresh task per episode -----------------------------------------------------


@struct.dataclass
class GoalParams:
    goal: jax.Array  # [] float32


class GoalEcho(MetaEnvironment):
    """Reward = the goal of the params a step ran on, so tasks can be read off rewards.

    Episodes last 3 steps (truncated); goals are drawn from U(0, 1), the default is -1.
    """

    def default_params(self):
        return GoalParams(goal=jnp.float32(-1.0))

    def sample_task(self, key):
        return GoalParams(goal=jax.random.uniform(key))

    def reset(self, key, params):
        return jnp.zeros(1), jnp.zeros((), jnp.int32)

    def step(self, key, state, action, params):
        t = state + 1
        obs = jnp.full(1, t, jnp.float32)
        info = {"final_obs": obs}
        return EnvStep(obs, t, params.goal, jnp.zeros((), bool), t >= 3, info)

    def observation_space(self, params):
        return spaces.Box(0.0, 3.0, (1,))

    def action_space(self, params):
        return spaces.Discrete(2)


def test_task_per_episode_draws_from_the_reset_key():
    env = TaskPerEpisode(GoalEcho())
    params = env.default_params()
    assert env.name == "TaskPerEpisode[GoalEcho]" and bool(params.resample_task)
    key = jax.random.PRNGKey(3)
    obs, state = env.reset(key, params)
    expected = GoalEcho().sample_task(jax.random.split(key)[0]).goal
    assert float(state.task.goal) == float(expected) == float(env.episode_task(key, params).goal)
    np.testing.assert_array_equal(obs, np.zeros(1))
    # step runs on the episode's task, whatever params it is given.
    other = TrialParams(task=GoalParams(goal=jnp.float32(7.0)), resample_task=jnp.array(False))
    ts = env.step(key, state, 0, other)
    assert float(ts.reward) == float(expected) and float(ts.state.task.goal) == float(expected)
    assert int(ts.state.env_state) == 1 and "final_obs" in ts.info
    # Fixed tasks: params_for_tasks (batched) or resample_task=False keep the given task.
    _, kept = env.reset(key, other)
    assert float(kept.task.goal) == 7.0
    fixed = env.params_for_tasks(GoalParams(goal=jnp.array([0.25, 0.5], jnp.float32)))
    _, states = jax.vmap(env.reset)(jax.random.split(key, 2), fixed)
    np.testing.assert_array_equal(states.task.goal, [0.25, 0.5])
    assert env.observation_space(params).shape == (1,) and env.action_space(None).n == 2


def test_task_per_episode_new_task_each_episode_for_a_generic_evaluator():
    env = TaskPerEpisode(GoalEcho())
    params = env.default_params()
    auto = AutoReset(env)

    @jax.jit
    def run(key):
        key_eval, key_auto = jax.random.split(key)

        # The offline evaluator's pattern: vmapped episodes, one reset each, shared params.
        def episode(key_ep):
            key_reset, key_step = jax.random.split(key_ep)
            _, state = env.reset(key_reset, params)
            return env.step(key_step, state, 0, params).reward

        eval_rewards = jax.vmap(episode)(jax.random.split(key_eval, 16))

        # AutoReset on top: 4 episodes of 3 steps in one unbatched scan.
        def env_step(state, key_t):
            ts = auto.step(key_t, state, 0, params)
            return ts.state, (ts.reward, ts.truncated)

        _, first = auto.reset(key_auto, params)
        _, (rewards, truncated) = jax.lax.scan(env_step, first, jax.random.split(key_auto, 12))
        return eval_rewards, rewards, truncated

    eval_rewards, rewards, truncated = (np.asarray(x) for x in run(jax.random.PRNGKey(0)))
    assert np.unique(eval_rewards).size == 16 and np.all((eval_rewards >= 0) & (eval_rewards < 1))
    np.testing.assert_array_equal(truncated, np.tile([False, False, True], 4))
    per_episode = rewards.reshape(4, 3)
    np.testing.assert_array_equal(per_episode, per_episode[:, :1].repeat(3, axis=1))
    assert np.unique(per_episode[:, 0]).size == 4  # a new goal for every episode


def test_task_per_episode_custom_draw_and_validation():
    # A custom draw sees params.task: here it shifts the given goal instead of replacing it.
    env = TaskPerEpisode(
        GoalEcho(), sample_task=lambda key, task: task.replace(goal=task.goal + 10.0)
    )
    _, state = env.reset(jax.random.PRNGKey(0), env.default_params())
    assert float(state.task.goal) == 9.0

    class NoTasks(GoalEcho):
        sample_task = None

    with pytest.raises(TypeError, match="NoTasks has no sample_task"):
        TaskPerEpisode(NoTasks())
