"""Our envs inside gymnax-style code: ``to_gymnax`` (auto-reset, gymnax's keys and wrappers)."""

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.wrappers.purerl import FlattenObservationWrapper, LogWrapper

import envs_jax
from envs_jax.gymnax_adapter import GymnaxAdapter, to_gymnax


def _mdp():
    return envs_jax.make("random_mdp", num_states=3, num_actions=2, horizon=4)


def test_gymnax_api_surface():
    env, params = _mdp()
    genv = to_gymnax(env, params)
    assert genv.default_params is params                       # a property, as in gymnax
    assert genv.num_actions == 2
    assert genv.observation_space(params).shape == env.observation_space(params).shape
    obs, state = genv.reset(jax.random.PRNGKey(0), params)
    out = genv.step(jax.random.PRNGKey(1), state, 0, params)
    assert len(out) == 6
    info = out[5]
    assert {"final_observation", "terminated", "truncated", "discount"} <= set(info)
    assert "final_obs" not in info


def test_gymnax_style_loop_auto_resets_and_matches_our_step():
    env, params = _mdp()
    genv = to_gymnax(env, params)
    key = jax.random.PRNGKey(3)
    obs, state = genv.reset(key, params)
    ours_obs, ours_state = env.reset(key, params)
    np.testing.assert_array_equal(obs, ours_obs)

    def body(carry, key_t):
        obs, state = carry
        action = jnp.int32(1)
        obs2, state2, reward, terminated, truncated, info = genv.step(key_t, state, action, params)
        # Our step with the key gymnax's step hands to step_env.
        ts = env.step(jax.random.split(key_t)[0], state.env_state, action, params)
        same = jnp.all(info["final_observation"] == ts.obs) & (reward == ts.reward)
        return (obs2, state2), (same, terminated | truncated, state2.time)

    _, (same, done, time) = jax.lax.scan(body, (obs, state), jax.random.split(key, 12))
    assert bool(same.all())
    # Horizon 4: the episode ends every 4 steps and the loop goes on in a fresh episode.
    np.testing.assert_array_equal(np.nonzero(np.asarray(done))[0], [3, 7, 11])
    np.testing.assert_array_equal(np.asarray(time)[:5], [1, 2, 3, 0, 1])


def test_gymnax_wrappers_and_the_round_trip():
    env, params = _mdp()
    wrapped = LogWrapper(FlattenObservationWrapper(to_gymnax(env, params)))
    obs, state = wrapped.reset(jax.random.PRNGKey(0), params)
    for i in range(5):
        obs, state, reward, terminated, truncated, info = wrapped.step(
            jax.random.PRNGKey(i), state, 0, params)
    assert obs.ndim == 1 and info["final_observation"].ndim == 1
    assert int(info["returned_episode"]) in (0, 1)
    # And back: GymnaxAdapter(to_gymnax(env)) steps like env.
    back = GymnaxAdapter(to_gymnax(env, params))
    key = jax.random.PRNGKey(5)
    (o1, s1), (o2, s2) = back.reset(key, params), env.reset(key, params)
    np.testing.assert_array_equal(o1, o2)
    t1, t2 = back.step(key, s1, 1, params), env.step(key, s2, 1, params)
    np.testing.assert_array_equal(t1.obs, t2.obs)
    assert float(t1.reward) == float(t2.reward)
    assert bool(t1.terminated) == bool(t2.terminated)
