"""Synthetic datasets from an env of our protocol, in the D4RL and Minari layouts."""

from __future__ import annotations

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs_jax.offline import load_d4rl, load_minari, read_minari, spec_from_env
from envs_jax.offline import synthetic as S

HORIZON, NUM_STEPS = 5, 60


@pytest.fixture(scope="module")
def env_and_rows():
    env = S.LinearTargetEnv(obs_dim=3, action_dim=2, horizon=HORIZON, terminate_prob=0.15, seed=1)
    params = env.default_params()
    rows = S.rollout(
        env, params, S.uniform_policy(env.action_space(params)), jax.random.key(0), NUM_STEPS
    )
    return env, params, rows


def test_linear_target_env_optimum(env_and_rows):
    env, params, _ = env_and_rows
    obs = jnp.array([0.5, -0.2, 0.9])
    best = env.optimal_action(params, obs)
    np.testing.assert_allclose(
        best, np.tanh(np.asarray(params.weights) @ np.asarray(obs)), rtol=1e-6
    )
    assert float(env.reward(params, obs, best)) == pytest.approx(1.0)
    # 1 - mean((a - a*)^2) with a = a* + [0.2, -0.4]: 1 - (0.04 + 0.16) / 2 = 0.9
    assert float(env.reward(params, obs, best + jnp.array([0.2, -0.4]))) == pytest.approx(
        0.9, abs=1e-6
    )


def test_rollout_flags_and_rows(env_and_rows):
    env, params, rows = env_and_rows
    assert rows["observations"].shape == (NUM_STEPS, 3) and rows["actions"].shape == (NUM_STEPS, 2)
    term, tout = rows["terminals"], rows["timeouts"]
    assert term.any() and tout.any() and not (term & tout).any()
    # Episode lengths: a timeout exactly at the horizon, a terminal at or before it.
    ends = np.flatnonzero(term | tout)
    lengths = np.diff(np.concatenate([[-1], ends]))
    assert np.all(lengths[tout[ends]] == HORIZON) and np.all(lengths <= HORIZON)
    # Rewards follow the env's formula on the recorded (obs, action).
    np.testing.assert_allclose(
        rows["rewards"], env.reward(params, rows["observations"], rows["actions"]), rtol=1e-5
    )
    # Within an episode, the next row's observation is this row's next_observation.
    cont = np.flatnonzero(~(term | tout))[:-1]
    cont = cont[cont < NUM_STEPS - 1]
    np.testing.assert_array_equal(rows["observations"][cont + 1], rows["next_observations"][cont])


def test_d4rl_layout_round_trip(env_and_rows, tmp_path):
    env, params, rows = env_and_rows
    data = S.to_d4rl(rows)
    from envs_jax.offline import write_d4rl

    write_d4rl(tmp_path / "target.hdf5", data)
    with h5py.File(tmp_path / "target.hdf5") as f:
        assert set(f) == {
            "observations",
            "actions",
            "rewards",
            "terminals",
            "timeouts",
            "next_observations",
        }
        assert f["timeouts"].dtype == bool and f["observations"].dtype == np.float32
    spec = spec_from_env(env, params, "target", max_episode_steps=HORIZON)
    ds = load_d4rl(tmp_path / "target.hdf5", spec)
    keep = ~data["timeouts"][:-1]
    assert ds.size == keep.sum()
    np.testing.assert_array_equal(np.asarray(ds.terminals), rows["terminals"][:-1][keep])


def test_minari_layout_keeps_truncated_steps(env_and_rows, tmp_path):
    env, params, rows = env_and_rows
    episodes = S.write_minari_from_env(
        tmp_path / "target",
        env,
        params,
        S.uniform_policy(env.action_space(params)),
        jax.random.key(0),
        NUM_STEPS,
        "purerl/target-random-v0",
    )
    assert sum(len(e["rewards"]) for e in episodes) == NUM_STEPS
    assert all(len(e["observations"]) == len(e["rewards"]) + 1 for e in episodes)
    meta, read = read_minari(tmp_path / "target")
    assert meta["total_steps"] == NUM_STEPS and len(read) == len(episodes)
    ds = load_minari(tmp_path / "target")
    assert ds.size == NUM_STEPS
    np.testing.assert_array_equal(np.asarray(ds.next_observations), rows["next_observations"])
    np.testing.assert_array_equal(np.asarray(ds.terminals), rows["terminals"])
    # The unfinished last episode is marked truncated.
    expected_timeouts = rows["timeouts"].copy()
    expected_timeouts[-1] |= not rows["terminals"][-1]
    np.testing.assert_array_equal(np.asarray(ds.timeouts), expected_timeouts)


def test_known_optimum_dataset():
    ds, env, params = S.known_optimum_dataset(
        jax.random.key(5), num_transitions=512, obs_dim=2, action_dim=1
    )
    assert ds.size == 512 and bool(ds.terminals.all()) and not bool(ds.timeouts.any())
    actions = np.asarray(ds.actions)
    assert (
        actions.min() >= -1 and actions.max() <= 1 and actions.std() > 0.5
    )  # uniform, not the optimum
    np.testing.assert_allclose(
        ds.rewards, env.reward(params, ds.observations, ds.actions), rtol=1e-5
    )
    # The optimum is strictly better than every logged action unless it was logged.
    best = env.reward(params, ds.observations, env.optimal_action(params, ds.observations))
    assert np.allclose(best, 1.0) and float(jnp.max(ds.rewards)) <= 1.0


def test_spec_from_env_rejects_discrete():
    from envs_jax.bandits import BernoulliBandit

    env = BernoulliBandit()
    with pytest.raises(ValueError, match="action_space: expected a 1-D Box"):
        spec_from_env(env, env.default_params())


def test_shaped_random_d4rl_loads_as_the_named_task(tmp_path):
    from envs_jax.offline import spec_for, write_d4rl

    data = S.shaped_random_d4rl(spec_for("hopper-medium-v2"), num_rows=2500)
    write_d4rl(tmp_path / "hopper-medium-v2.hdf5", data)
    ds = load_d4rl(tmp_path / "hopper-medium-v2.hdf5", "hopper-medium-v2")
    assert (ds.obs_dim, ds.action_dim) == (11, 3)
    assert ds.size == 2500 - 3  # timeouts at rows 999, 1999 and the last row 2499
