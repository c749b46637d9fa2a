"""brax / MuJoCo Playground envs under our protocol (``envs_jax.brax_adapter``), and ours in brax.

* The flag logic on a hand-written brax ``Env`` (no physics, compiles in well under a
  second): our time limit, a termination on the last step, brax's ``EpisodeWrapper`` read
  back, refused wrappers, dict observations, brax's in-place ``info`` updates.
* The protocol contract (``test_contract``'s checks, one shared compile per env, plus the
  time limit through ``CachedAutoReset``) on brax's ``fast`` (no physics) and Playground's
  ``CartpoleBalance`` (MJX physics; skipped with the reason when Playground is not
  installed); brax's ``ant`` in the slow tier (a minute of MJX compile on CI's CPU).
* ``to_brax``: brax's own PPO trains on our bandit (a few hundred updates' worth of steps).
"""

from __future__ import annotations

import functools
import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.brax_adapter import (BraxAdapter, install_brax_trainer_shim, to_brax,
                                   wrap_for_brax_training)
from envs_jax.wrappers import CachedAutoReset, vec_env
# The protocol checks of every registered env, run here on the brax / Playground ids below
# (pytest resolves their fixture ``r`` to this module's).
from tests.envs.test_contract import (test_autoreset_scan_keeps_state_pytree,  # noqa: F401
                                      test_reset_obs_matches_space, test_spaces_contain_trajectory,
                                      test_step_keeps_state_pytree, test_step_types,
                                      test_vmap_adds_batch_axis)

brax_envs = pytest.importorskip("brax.envs")
HAS_PLAYGROUND = importlib.util.find_spec("mujoco_playground") is not None
NO_PLAYGROUND = "MuJoCo Playground is not installed (pip install 'purerl[playground]')"

EPISODE_LENGTH = 5  # short, so that the rollout below crosses two time limits
NUM_STEPS = 12
BATCH = 4


@functools.cache
def rollout(env_id: str) -> dict:
    """What ``test_contract``'s checks read (see ``tests/envs/conftest.rollout``), from ONE
    compiled program holding one reset and one step: a vmapped reset of ``BATCH`` envs,
    then a scan of ``NUM_STEPS`` vmapped ``CachedAutoReset`` steps with random actions
    (what ``vec_env`` runs for these envs). MJX compiles cost tens of seconds here, so the
    unbatched checks read env 0 of the batch instead of compiling an unbatched copy."""
    env, params = envs_jax.make(env_id, episode_length=EPISODE_LENGTH)
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    auto = CachedAutoReset(env)
    key = jax.random.PRNGKey(0)
    obs, state = jax.eval_shape(jax.jit(env.reset), key, params)
    action = jax.eval_shape(act_space.sample, key)
    ts = jax.eval_shape(jax.jit(env.step), key, state, action, params)

    def run(key):
        keys = jax.random.split(key, BATCH)
        v_obs, v_state = jax.vmap(auto.reset, in_axes=(0, None))(keys, params)

        def body(state, key):
            keys = jax.random.split(key, BATCH)
            action = jax.vmap(act_space.sample)(keys)
            ts = jax.vmap(auto.step, in_axes=(0, 0, 0, None))(keys, state, action, params)
            checks = (jax.vmap(act_space.contains)(action), jax.vmap(obs_space.contains)(ts.obs),
                      jax.vmap(obs_space.contains)(ts.info["final_obs"]))
            return ts.state, (ts._replace(state=ts.state.env_state), checks)

        final, (traj, checks) = jax.lax.scan(body, v_state, jax.random.split(key, NUM_STEPS))
        return v_obs, v_state, final, traj, checks

    v_obs, v_state, final, traj, checks = jax.jit(run)(key)
    first = lambda tree: jax.tree.map(lambda x: x[0], tree)  # noqa: E731
    at = lambda tree, i: jax.tree.map(lambda x: x[:, i], tree)  # noqa: E731  [T, N] -> [T]
    return {
        "env": env, "params": params, "obs_space": obs_space, "act_space": act_space,
        "obs": obs, "state": state, "action": action, "ts": ts,
        "v_obs": v_obs, "v_ts": first(traj), "reset_contains": jax.vmap(obs_space.contains)(v_obs),
        "first_obs": v_obs, "batched_traj": traj,
        "traj": at(traj, 0), "scan_state": first(final.env_state),
        "checks": tuple(c[:, 0] for c in checks),
    }


CONTRACT_IDS = [
    "brax/fast",
    pytest.param("playground/CartpoleBalance",
                 marks=pytest.mark.skipif(not HAS_PLAYGROUND, reason=NO_PLAYGROUND)),
    pytest.param("brax/ant", marks=pytest.mark.slow),  # MJX ant: a minute of compile here
]


@pytest.fixture(params=CONTRACT_IDS)
def r(request) -> dict:
    return rollout(request.param)


def test_time_limit_and_cached_auto_reset(r):
    """Truncated at steps 5 and 10 (never terminated there by these envs' physics in so few
    steps); ``final_obs`` is the true last observation, ``obs`` the cached first one."""
    traj = r["batched_traj"]
    truncated, terminated = np.asarray(traj.truncated), np.asarray(traj.terminated)
    assert not terminated.any()
    expected = np.zeros((NUM_STEPS, BATCH), bool)
    expected[EPISODE_LENGTH - 1] = expected[2 * EPISODE_LENGTH - 1] = True
    np.testing.assert_array_equal(truncated, expected)
    for t in (EPISODE_LENGTH - 1, 2 * EPISODE_LENGTH - 1):
        np.testing.assert_array_equal(traj.obs[t], r["first_obs"])
        # (brax's fast env stays at 0 when all 5 random actions are <= 0: some env moved)
        assert np.any(traj.info["final_obs"][t] != traj.obs[t])
    np.testing.assert_array_equal(traj.state.time[EPISODE_LENGTH - 1], 0)
    np.testing.assert_array_equal(traj.state.time[EPISODE_LENGTH], 1)


# --- a brax Env written out: the flags against hand-computed values ----------------------


class Counter(brax_envs.Env):
    """obs ``[t]`` (or ``{"state": [t], "extra": [2]}``), reward 1, ``done`` when
    ``action[0] > 0.5``. Updates ``state.info`` in place, as brax's envs do."""

    def __init__(self, dict_obs: bool = False):
        self.dict_obs = dict_obs

    def _obs(self, t):
        obs = jnp.reshape(t, (1,)).astype(jnp.float32)
        return {"state": obs, "extra": jnp.zeros(2)} if self.dict_obs else obs

    def reset(self, rng):
        t = jnp.zeros(())
        return brax_envs.State(pipeline_state=t, obs=self._obs(t), reward=jnp.zeros(()),
                               done=jnp.zeros(()), metrics={}, info={"calls": jnp.zeros(())})

    def step(self, state, action):
        t = state.pipeline_state + 1.0
        state.info["calls"] = state.info["calls"] + 1.0  # in place, like brax's envs
        done = (action[0] > 0.5).astype(jnp.float32)
        return state.replace(pipeline_state=t, obs=self._obs(t), reward=jnp.ones(()),
                             done=done)

    @property
    def observation_size(self):
        return 1

    @property
    def action_size(self):
        return 1

    @property
    def backend(self):
        return "none"


def _flags(env, actions):
    """(terminated, truncated, obs[0]) of each step from one reset, unjitted."""
    params = env.default_params()
    _, state = env.reset(jax.random.PRNGKey(0), params)
    out = []
    for a in actions:
        ts = env.step(jax.random.PRNGKey(1), state, jnp.array([a]), params)
        out.append((bool(ts.terminated), bool(ts.truncated), float(ts.info["final_obs"][0])))
        state = ts.state
    return out


def test_own_time_limit_truncates_and_termination_wins():
    env = BraxAdapter(Counter(), episode_length=3)
    assert _flags(env, [0, 0, 0]) == [(False, False, 1.0), (False, False, 2.0), (False, True, 3.0)]
    # A terminal state reached on the last step is a termination, as brax's EpisodeWrapper
    # reports it (truncation = limit * (1 - done)).
    assert _flags(env, [0, 0, 1]) == [(False, False, 1.0), (False, False, 2.0), (True, False, 3.0)]
    assert _flags(env, [1]) == [(True, False, 1.0)]
    assert _flags(BraxAdapter(Counter(), episode_length=None), [0] * 5)[-1] == (False, False, 5.0)


def test_episode_wrapper_flags_are_read_back():
    wrapped = brax_envs.training.EpisodeWrapper(Counter(), episode_length=3, action_repeat=1)
    env = BraxAdapter(wrapped, episode_length=None)
    assert env.episode_length == 3
    assert _flags(env, [0, 0, 0]) == [(False, False, 1.0), (False, False, 2.0), (False, True, 3.0)]
    assert _flags(env, [0, 0, 1])[-1] == (True, False, 3.0)
    with pytest.raises(ValueError, match="episode_length=5 .* EpisodeWrapper of episode_length=3"):
        BraxAdapter(wrapped, episode_length=5)


@pytest.mark.parametrize("wrapper", ["VmapWrapper", "AutoResetWrapper"])
def test_batching_and_auto_reset_wrappers_refused_by_name(wrapper):
    inner = Counter() if wrapper == "VmapWrapper" else brax_envs.training.EpisodeWrapper(
        Counter(), 3, 1)
    with pytest.raises(ValueError, match=f"wrapped in {wrapper}; pass the unwrapped env"):
        BraxAdapter(getattr(brax_envs.training, wrapper)(inner))


def test_dict_observations_refused_or_selected():
    with pytest.raises(ValueError, match=r"dict observations with keys \['extra', 'state'\]"):
        BraxAdapter(Counter(dict_obs=True))
    with pytest.raises(ValueError, match="obs_key='pixels' is not among"):
        BraxAdapter(Counter(dict_obs=True), obs_key="pixels")
    with pytest.raises(ValueError, match="observations are an array"):
        BraxAdapter(Counter(), obs_key="state")
    env = BraxAdapter(Counter(dict_obs=True), episode_length=2, obs_key="state")
    assert env.observation_space().shape == (1,)
    assert _flags(env, [0, 0]) == [(False, False, 1.0), (False, True, 2.0)]


def test_bad_episode_length_and_non_env():
    with pytest.raises(ValueError, match="episode_length must be an int >= 1 or None, got 0"):
        BraxAdapter(Counter(), episode_length=0)
    with pytest.raises(TypeError, match="expected a brax Env"):
        BraxAdapter(object())


def test_step_leaves_the_callers_state_untouched():
    env = BraxAdapter(Counter(), episode_length=3)
    _, state = env.reset(jax.random.PRNGKey(0), env.default_params())
    ts = env.step(jax.random.PRNGKey(0), state, jnp.zeros(1), env.default_params())
    assert float(state.brax_state.info["calls"]) == 0.0
    assert float(ts.state.brax_state.info["calls"]) == 1.0


def test_vec_env_caches_the_first_state_and_keeps_final_obs():
    env = BraxAdapter(Counter(), episode_length=2)
    venv = vec_env("", env, 3)
    assert isinstance(venv.env, CachedAutoReset)
    params = venv.default_params()

    @jax.jit
    def run(key):
        _, state = venv.reset(key, params)
        ts1 = venv.step(key, state, jnp.zeros((3, 1)), params)
        ts2 = venv.step(key, ts1.state, jnp.zeros((3, 1)), params)
        return ts1, ts2

    ts1, ts2 = run(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(ts1.obs[:, 0], [1.0] * 3)
    np.testing.assert_array_equal(ts2.truncated, [True] * 3)
    np.testing.assert_array_equal(ts2.info["final_obs"][:, 0], [2.0] * 3)  # the true last obs
    np.testing.assert_array_equal(ts2.obs[:, 0], [0.0] * 3)                # the cached first
    np.testing.assert_array_equal(ts2.info["episode_return"], [2.0] * 3)


# --- the registry --------------------------------------------------------------------------


def test_registry_names_and_errors():
    assert {"brax/ant", "brax/inverted_pendulum"} <= set(envs_jax.BRAX_ENV_IDS)
    assert {"playground/CartpoleBalance", "playground/CheetahRun"} <= set(
        envs_jax.PLAYGROUND_ENV_IDS)
    # the written-out lists match brax's registry (drift shows up here)
    assert {i.removeprefix("brax/") for i in envs_jax.BRAX_ENV_IDS} <= set(brax_envs._envs)
    with pytest.raises(ValueError, match="unknown brax env 'nope'; brax knows: ant, fast"):
        envs_jax.make("brax/nope")
    env, params = envs_jax.make("brax/fast", episode_length=7)
    assert env.episode_length == 7 and env.name == "brax/fast"
    assert env.action_space(params).shape == (1,) and env.observation_space(params).shape == (2,)
    # brax's own dict observations: refused with the keys named, or one entry picked
    with pytest.raises(ValueError, match=r"brax/fast returns dict observations with keys "
                                         r"\['pixels/view_0', 'pixels/view_1', 'state'\]"):
        envs_jax.make("brax/fast", obs_mode="dict_pixels_state")
    env, params = envs_jax.make("brax/fast", obs_mode="dict_pixels_state", obs_key="pixels/view_0")
    assert env.observation_space(params).shape == (4, 4, 3)


@pytest.mark.skipif(not HAS_PLAYGROUND, reason=NO_PLAYGROUND)
def test_playground_registry():
    from mujoco_playground import dm_control_suite

    assert set(envs_jax.PLAYGROUND_ENV_IDS) == {
        "playground/" + n for n in dm_control_suite.ALL_ENVS}
    with pytest.raises(ValueError, match="unknown Playground env 'Nope'; the DM Control suite"):
        envs_jax.make("playground/Nope")


# --- ours in brax's trainers -----------------------------------------------------------------


def test_to_brax_flags_and_actions():
    env, params = envs_jax.make("random_mdp", num_states=3, num_actions=2, horizon=2)
    benv = to_brax(env, params)
    assert benv.observation_size == 3 and benv.action_size == 2
    state = benv.reset(jax.random.PRNGKey(0))
    s1 = benv.step(state, jnp.array([0.0, 1.0]))  # argmax -> action 1
    s2 = benv.step(s1, jnp.array([1.0, 0.0]))
    assert (float(s1.done), float(s1.info["truncation"])) == (0.0, 0.0)
    assert (float(s2.done), float(s2.info["truncation"])) == (1.0, 1.0)  # the horizon
    assert float(s2.info["steps"]) == 2.0
    assert float(s2.info["episode_metrics"]["length"]) == 2.0
    with pytest.raises(ValueError, match="action_repeat must be 1"):
        wrap_for_brax_training(benv, 10, action_repeat=2)


def test_brax_ppo_trains_on_our_bandit():
    """brax's PPO (with the jax 0.10 shim) learns our 5-armed bandit's best arm (p=0.81;
    the uniform policy earns 0.36 per pull)."""
    install_brax_trainer_shim()
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo

    env, params = envs_jax.make("bernoulli_bandit")
    best = int(np.argmax(params.probs))
    make_policy, policy_params, metrics = ppo.train(
        to_brax(env, params), num_timesteps=8192, episode_length=1,
        wrap_env_fn=wrap_for_brax_training, num_envs=64, unroll_length=4, batch_size=64,
        num_minibatches=4, num_updates_per_batch=2, num_evals=1, num_eval_envs=64,
        learning_rate=3e-3, entropy_cost=1e-3, normalize_observations=False, seed=0,
        network_factory=functools.partial(ppo_networks.make_ppo_networks,
                                          policy_hidden_layer_sizes=(16,),
                                          value_hidden_layer_sizes=(16,)))
    policy = make_policy(policy_params, deterministic=True)
    action, _ = policy(jnp.ones((8, 1)), jax.random.PRNGKey(0))
    np.testing.assert_array_equal(np.argmax(np.asarray(action), axis=-1), [best] * 8)
    assert metrics["eval/episode_reward"] > 0.65
