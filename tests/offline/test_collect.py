"""``envs_jax.offline.collect``: rows of N vmapped envs in D4RL's layout, checked on gymnax
Pendulum-v1 (200-step time limit, never terminates) driven by the scripted swing-up expert
and by uniform actions; both layouts written and read back by our loaders and by h5py by
hand. The collection programs are small (a few seconds to compile each) and identical
calls hit the session's persistent compilation cache."""

import hashlib
import json

import h5py
import jax
import numpy as np
import pytest

import envs_jax
from envs_jax.experts import pendulum_swingup
from envs_jax.offline import collect as C
from envs_jax.offline import load_d4rl, load_minari, read_d4rl, read_minari, spec_from_env
from envs_jax.policy import feed_forward

ROWS, ENVS, CHUNK, LIMIT = 1000, 3, 100, 200          # 3 streams: 334, 334, 332 rows


@pytest.fixture(scope="module")
def pendulum():
    return envs_jax.make("gymnax/Pendulum-v1")


@pytest.fixture(scope="module")
def expert_rows(pendulum):
    env, params = pendulum
    policy = feed_forward(lambda key, obs: pendulum_swingup(obs))
    return C.collect(env, params, policy, jax.random.PRNGKey(0), ROWS, ENVS, CHUNK)


@pytest.fixture(scope="module")
def random_rows(pendulum):
    env, params = pendulum
    return C.collect(env, params, C.uniform_policy(env.action_space(params)),
                     jax.random.PRNGKey(1), ROWS, ENVS, CHUNK)


def test_shapes_and_dtypes(expert_rows, random_rows):
    for data in (expert_rows, random_rows):
        assert data["observations"].shape == data["next_observations"].shape == (ROWS, 3)
        assert data["actions"].shape == (ROWS, 1) and data["rewards"].shape == (ROWS,)
        assert data["terminals"].dtype == data["timeouts"].dtype == np.bool_
        assert data["rewards"].dtype == data["observations"].dtype == np.float32
        assert not any(k.startswith("infos/q") for k in data)       # no physics state
    assert "infos/action_log_probs" not in expert_rows              # the policy gave none
    # uniform in [-2, 2] N m: density 1/4
    np.testing.assert_allclose(random_rows["infos/action_log_probs"], -np.log(4.0), rtol=1e-6)
    assert np.abs(random_rows["actions"]).max() <= 2.0


def test_next_observation_is_the_next_row_within_episodes(expert_rows):
    d = expert_rows
    inside = ~(d["terminals"] | d["timeouts"])[:-1]
    assert inside.sum() > 900
    np.testing.assert_array_equal(d["next_observations"][:-1][inside],
                                  d["observations"][1:][inside])


def test_timeouts_at_the_time_limit_and_at_stream_cuts(expert_rows):
    d = expert_rows
    steps = -(-ROWS // ENVS)
    stream_lasts = {steps - 1, 2 * steps - 1, ROWS - 1}
    ends = np.flatnonzero(d["timeouts"])
    assert not d["terminals"].any()                                 # Pendulum never ends
    # every stream restarts the episode clock; a timeout is the 200th step or a stream cut
    starts = np.arange(0, ROWS, steps)
    expected = sorted({s + k for s in starts for k in range(LIMIT - 1, steps, LIMIT)
                       if s + k < min(s + steps, ROWS)} | stream_lasts)
    assert ends.tolist() == expected
    returns = C.episode_returns(d, LIMIT)
    assert returns.size == 3 and np.all(returns > -300)     # the expert scores about -141
    assert C.episode_returns(d).size == len(expected)       # without a limit: cuts count


def test_rewards_match_the_pendulum_formula(random_rows):
    """gymnax Pendulum-v1: r = -(theta^2 + 0.1 theta_dot^2 + 0.001 u^2) of the state the
    row's observation (cos theta, sin theta, theta_dot) shows, u clipped to [-2, 2]."""
    obs, u = random_rows["observations"], np.clip(random_rows["actions"][:, 0], -2, 2)
    theta = np.arctan2(obs[:, 1], obs[:, 0])
    expected = -(theta ** 2 + 0.1 * obs[:, 2] ** 2 + 0.001 * u ** 2)
    np.testing.assert_allclose(random_rows["rewards"], expected, rtol=1e-4, atol=1e-4)


def test_same_key_same_hash_other_key_differs(pendulum, random_rows):
    env, params = pendulum
    again = C.collect(env, params, C.uniform_policy(env.action_space(params)),
                      jax.random.PRNGKey(1), ROWS, ENVS, CHUNK)
    other = C.collect(env, params, C.uniform_policy(env.action_space(params)),
                      jax.random.PRNGKey(2), ROWS, ENVS, CHUNK)
    assert C.data_hash(again) == C.data_hash(random_rows)
    assert C.data_hash(other) != C.data_hash(random_rows)


def test_stream_ends_and_episode_returns_by_hand():
    terminals = np.array([0, 1, 0, 0, 0, 0], bool)
    timeouts = np.array([0, 0, 0, 0, 0, 0], bool)
    flagged = C.stream_ends(terminals, timeouts, np.array([0, 2]))
    assert flagged.tolist() == [0, 0, 0, 0, 0, 1]     # stream 0 ended by its terminal
    data = {"rewards": np.arange(6.0), "terminals": terminals, "timeouts": flagged}
    assert C.episode_returns(data, time_limit=4).tolist() == [1.0, 14.0]
    assert C.episode_returns(data, time_limit=3).tolist() == [1.0]  # the cut is not scored


def test_bad_sizes_are_one_line_value_errors(pendulum):
    env, params = pendulum
    policy = C.uniform_policy(env.action_space(params))
    with pytest.raises(ValueError, match="num_envs: expected at most num_transitions=4, got 5"):
        C.collect(env, params, policy, jax.random.PRNGKey(0), 4, 5)
    with pytest.raises(ValueError, match="chunk_steps: expected an int >= 1, got 0"):
        C.collect(env, params, policy, jax.random.PRNGKey(0), 4, 2, chunk_steps=0)
    unflagged = {k: np.zeros(2, bool) for k in ("terminals", "timeouts")}
    with pytest.raises(ValueError, match=r"datasets\[0\]: expected an end flag"):
        C.concatenate(unflagged, unflagged)


@pytest.fixture(scope="module")
def written(tmp_path_factory, pendulum, random_rows):
    env, params = pendulum
    root = tmp_path_factory.mktemp("datasets")
    meta = C.write_dataset(random_rows, env, params, d4rl_path=root / "p.hdf5",
                           minari_dir=root / "p", dataset_id="purerl/pendulum/random-v0",
                           metadata={"command": "test", "seed": 1, "policy": {"role": "x"}},
                           seed=1, time_limit=LIMIT)
    return root, meta


def test_d4rl_round_trip_and_an_independent_h5py_reader(written, random_rows):
    root, meta = written
    stored = read_d4rl(root / "p.hdf5")
    for key, value in random_rows.items():
        np.testing.assert_array_equal(stored[key], value, err_msg=key)
    # by hand with h5py: D4RL's flat keys, the metadata group, and the documented hash
    with h5py.File(root / "p.hdf5", "r") as f:
        assert set(f) == {"observations", "actions", "rewards", "terminals", "timeouts",
                          "next_observations", "infos", "metadata"}
        assert set(f["infos"]) == {"action_log_probs"}
        digest = hashlib.sha256()
        for name in sorted(["observations", "actions", "rewards", "terminals", "timeouts",
                            "next_observations", "infos/action_log_probs"]):
            array = f[name][()]
            digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
            digest.update(array.tobytes())
        assert f["metadata/data_sha256"][()].decode() == digest.hexdigest()
        assert json.loads(f["metadata/policy"][()]) == {"role": "x"}
        assert f["metadata/num_episodes"][()] == meta["num_episodes"] == 3
        assert f["metadata/policy_return"][()] == pytest.approx(
            C.episode_returns(random_rows, LIMIT).mean())


def test_minari_round_trip_and_same_transitions_as_d4rl(written, random_rows, pendulum):
    root, meta = written
    env, params = pendulum
    metadata, episodes = read_minari(root / "p")
    assert metadata["data_sha256"] == meta["data_sha256"]
    assert metadata["total_steps"] == ROWS and len(episodes) == metadata["total_episodes"]
    rows = {k: np.concatenate([ep[src] for ep in episodes]) for k, src in (
        ("actions", "actions"), ("rewards", "rewards"), ("terminals", "terminations"))}
    rows["observations"] = np.concatenate([ep["observations"][:-1] for ep in episodes])
    rows["next_observations"] = np.concatenate([ep["observations"][1:] for ep in episodes])
    for key, value in rows.items():
        np.testing.assert_array_equal(value, random_rows[key], err_msg=key)
    spec = spec_from_env(env, params, max_episode_steps=LIMIT)
    d4rl, minari = load_d4rl(root / "p.hdf5", spec), load_minari(root / "p", spec)
    # D4RL's qlearning_dataset drops the timeout rows (no next row); Minari keeps them
    keep = ~np.asarray(minari.timeouts)
    assert d4rl.size == keep.sum() == ROWS - np.asarray(random_rows["timeouts"]).sum()
    for field in ("observations", "actions", "rewards", "next_observations", "terminals"):
        np.testing.assert_array_equal(np.asarray(getattr(d4rl, field)),
                                      np.asarray(getattr(minari, field))[keep], err_msg=field)


def test_minari_own_reader_reads_the_minari_layout(written, random_rows):
    """Farama's ``minari.MinariDataset`` (the ``test`` extra) reads what we wrote."""
    minari = pytest.importorskip("minari")
    root, _ = written
    dataset = minari.MinariDataset(str(root / "p" / "data"))
    ends = int((random_rows["terminals"] | random_rows["timeouts"]).sum())   # cuts included
    assert dataset.total_steps == ROWS and dataset.total_episodes == ends == 6
    episodes = list(dataset.iterate_episodes())
    for key, field in (("actions", "actions"), ("rewards", "rewards"),
                       ("terminals", "terminations")):
        np.testing.assert_array_equal(np.concatenate([getattr(ep, field) for ep in episodes]),
                                      random_rows[key], err_msg=key)
    np.testing.assert_array_equal(
        np.concatenate([ep.observations[:-1] for ep in episodes]), random_rows["observations"])
