"""Minari storage: T + 1 observations per episode, metadata variants, every bad-file error.

Files are written with raw h5py + json in Minari's layout (``data/main_data.hdf5`` with
``episode_<i>`` groups, ``data/metadata.json``), independently of our writer.
"""

from __future__ import annotations

import json
import warnings

import h5py
import numpy as np
import pytest

from envs_jax import spaces
from envs_jax.offline import (
    DatasetError,
    DatasetSpec,
    Float64CastWarning,
    load_minari,
    read_minari,
    write_minari,
)
from envs_jax.offline.minari import serialize_box
from envs_jax.offline.validate import UnfinishedEpisodeWarning

OBS_DIM, ACT_DIM = 3, 2
SPEC = DatasetSpec("toy", obs_dim=OBS_DIM, action_dim=ACT_DIM)


def make_episode(t, start, terminated=True, rng=None):
    """obs[k] = [start + k, ...]: next-observation pairing can be read off column 0."""
    rng = rng or np.random.default_rng(start)
    obs = np.stack([start + np.arange(t + 1), *rng.normal(size=(OBS_DIM - 1, t + 1))], 1).astype(
        np.float32
    )
    terms, truncs = np.zeros(t, bool), np.zeros(t, bool)
    (terms if terminated else truncs)[-1] = True
    return {
        "observations": obs,
        "actions": rng.uniform(-1, 1, (t, ACT_DIM)).astype(np.float32),
        "rewards": (start + np.arange(t)).astype(np.float32),
        "terminations": terms,
        "truncations": truncs,
    }


def write_raw(dataset_dir, episodes, metadata_json=True, dataset_id="toy/test-v0", **meta):
    data = dataset_dir / "data"
    data.mkdir(parents=True)
    metadata = {
        "dataset_id": dataset_id,
        "total_episodes": len(episodes),
        "total_steps": int(sum(len(e["rewards"]) for e in episodes)),
        "data_format": "hdf5",
        "observation_space": serialize_box(spaces.Box(-np.inf, np.inf, (OBS_DIM,))),
        "action_space": serialize_box(spaces.Box(-1.0, 1.0, (ACT_DIM,))),
        **meta,
    }
    with h5py.File(data / "main_data.hdf5", "w") as f:
        for i, ep in enumerate(episodes):
            g = f.create_group(f"episode_{i}")
            g.attrs["id"], g.attrs["total_steps"] = i, len(ep["rewards"])
            for key, value in ep.items():
                if isinstance(value, dict):  # Dict observation space
                    sub = g.create_group(key)
                    for k, v in value.items():
                        sub.create_dataset(k, data=v)
                else:
                    g.create_dataset(
                        key, data=value, chunks=True, maxshape=(None, *np.shape(value)[1:])
                    )
            g.create_group("infos").create_dataset(
                "success", data=np.zeros(len(ep["rewards"]) + 1, bool)
            )
        if not metadata_json:
            f.attrs.update({k: v for k, v in metadata.items() if k != "data_format"})
    if metadata_json:
        (data / "metadata.json").write_text(json.dumps(metadata))
    return dataset_dir


def test_t_plus_one_observations_become_transitions(tmp_path):
    episodes = [
        make_episode(4, 0, terminated=True),
        make_episode(3, 100, terminated=False),
        make_episode(5, 200, terminated=True),
    ]
    path = write_raw(tmp_path / "toy", episodes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_minari(path)  # spec from the metadata spaces
    assert ds.size == 12  # every step kept, truncated ones included
    obs0, next0 = np.asarray(ds.observations)[:, 0], np.asarray(ds.next_observations)[:, 0]
    np.testing.assert_array_equal(obs0, [0, 1, 2, 3, 100, 101, 102, 200, 201, 202, 203, 204])
    np.testing.assert_array_equal(next0, obs0 + 1)  # the T+1-th observation closes each episode
    np.testing.assert_array_equal(
        np.asarray(ds.terminals), np.eye(1, 12, 3)[0] + np.eye(1, 12, 11)[0]
    )
    np.testing.assert_array_equal(np.asarray(ds.timeouts), np.eye(1, 12, 6)[0])
    np.testing.assert_array_equal(np.asarray(ds.rewards), obs0)
    # Also accepted: the data dir, or main_data.hdf5 itself.
    assert (
        load_minari(path / "data", SPEC).size
        == load_minari(path / "data" / "main_data.hdf5", SPEC).size
        == 12
    )


def test_episodes_are_read_in_numeric_order(tmp_path):
    # h5py lists episode_10 before episode_2; the loader must not.
    episodes = [make_episode(2, 10 * i) for i in range(12)]
    ds = load_minari(write_raw(tmp_path / "toy", episodes), SPEC)
    np.testing.assert_array_equal(np.asarray(ds.observations)[::2, 0], 10 * np.arange(12))


def test_infos_are_read_on_request(tmp_path):
    path = write_raw(tmp_path / "toy", [make_episode(3, 0)])
    assert read_minari(path)[1][0]["infos"]["success"].shape == (4,)  # T + 1 rows
    assert read_minari(path, with_infos=False)[1][0]["infos"] == {}


def test_legacy_metadata_in_hdf5_attributes(tmp_path):
    path = write_raw(tmp_path / "toy", [make_episode(3, 0)], metadata_json=False)
    assert read_minari(path)[0]["total_episodes"] == 1
    assert load_minari(path).size == 3


def test_dict_observations_use_the_observation_member(tmp_path):
    ep = make_episode(3, 0)
    obs = ep["observations"]
    ep["observations"] = {
        "observation": obs,
        "achieved_goal": obs[:, :2],
        "desired_goal": obs[:, :2],
    }
    ds = load_minari(write_raw(tmp_path / "toy", [ep], dataset_id="toy/maze-v0"), SPEC)
    np.testing.assert_array_equal(np.asarray(ds.observations), obs[:-1])


def test_antmaze_rewards_remapped_by_dataset_id(tmp_path):
    spec = DatasetSpec("antmaze", OBS_DIM, ACT_DIM)
    ep = make_episode(3, 0)
    ep["rewards"] = np.array([0, 0, 1], np.float32)
    path = write_raw(tmp_path / "am", [ep], dataset_id="D4RL/antmaze/umaze-v1")
    np.testing.assert_array_equal(np.asarray(load_minari(path, spec).rewards), [-2, -2, 2])
    np.testing.assert_array_equal(
        np.asarray(load_minari(path, spec, remap_antmaze_rewards=False).rewards), [0, 0, 1]
    )


def test_float64_cast_with_a_single_notice(tmp_path):
    episodes = [make_episode(3, 10 * i) for i in range(4)]
    for ep in episodes:
        ep["observations"] = ep["observations"].astype(np.float64)
        ep["rewards"] = ep["rewards"].astype(np.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_minari(write_raw(tmp_path / "toy", episodes), SPEC)
    assert sum(issubclass(w.category, Float64CastWarning) for w in caught) == 1
    assert ds.observations.dtype == np.float32 and ds.rewards.dtype == np.float32


def test_writer_round_trip(tmp_path):
    episodes = [make_episode(4, 0), make_episode(2, 50, terminated=False)]
    data_dir = write_minari(
        tmp_path / "w",
        episodes,
        spaces.Box(-np.inf, np.inf, (OBS_DIM,)),
        spaces.Box(-1.0, 1.0, (ACT_DIM,)),
        "toy/w-v0",
    )
    meta = json.loads((data_dir / "metadata.json").read_text())
    assert (meta["total_episodes"], meta["total_steps"], meta["data_format"]) == (2, 6, "hdf5")
    assert json.loads(meta["action_space"]) == {
        "type": "Box",
        "dtype": "float32",
        "shape": [ACT_DIM],
        "low": [-1.0, -1.0],
        "high": [1.0, 1.0],
    }
    with h5py.File(data_dir / "main_data.hdf5") as f:
        assert f["episode_1"].attrs["total_steps"] == 2 and f["episode_1/observations"].shape == (
            3,
            OBS_DIM,
        )
    _, read = read_minari(tmp_path / "w")
    np.testing.assert_array_equal(read[0]["observations"], episodes[0]["observations"])
    with pytest.raises(FileExistsError):
        write_minari(
            tmp_path / "w",
            episodes,
            spaces.Box(-1, 1, (OBS_DIM,)),
            spaces.Box(-1, 1, (ACT_DIM,)),
            "x",
        )


def _drop(key):
    return lambda ep: ep.pop(key)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (_drop("truncations"), r"key 'episode_2/truncations': missing"),
        (
            lambda ep: ep.update(observations=ep["observations"][:-1]),  # T rows, not T + 1
            r"key 'episode_2/observations': length mismatch: 4 rows, expected 5 \(T \+ 1",
        ),
        (
            lambda ep: ep.update(actions=ep["actions"][:-1]),
            r"key 'episode_2/actions': length mismatch: 3 rows, expected 4",
        ),
        (
            lambda ep: ep["rewards"].__setitem__(2, np.nan),
            r"key 'episode_2/rewards', index 2: non-finite value nan",
        ),
        (
            lambda ep: ep["observations"].__setitem__((1, 2), -np.inf),
            r"key 'episode_2/observations', index 1: non-finite value -inf",
        ),
        (
            lambda ep: ep.update(actions=np.zeros((4, 5), np.float32)),
            r"key 'episode_2/actions': wrong action dimension for env 'toy'",
        ),
        (
            lambda ep: ep["actions"].__setitem__((3, 0), -1.2),
            r"key 'episode_2/actions', index 3: action -1.2\d* outside the bounds",
        ),
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_bad_episode_errors(tmp_path, mutate, message, strict):
    episodes = [make_episode(4, 10 * i) for i in range(3)]
    mutate(episodes[-1])
    path = write_raw(tmp_path / "toy", episodes)
    with pytest.raises(DatasetError, match=message):
        load_minari(path, SPEC, strict=strict)


def test_episode_without_end_flag(tmp_path):
    # Episodes 0 and 2 (of 3) end with neither flag. Every step still has its next
    # observation, so the default keeps all 12 steps, unflagged, with one warning.
    episodes = [make_episode(4, 10 * i) for i in range(3)]
    for i in (0, 2):
        episodes[i]["terminations"][3] = False
    path = write_raw(tmp_path / "toy", episodes)
    with pytest.raises(
        DatasetError,
        match=r"key 'episode_0/terminations', index 3: episode has no end flag.*strict=True",
    ):
        load_minari(path, SPEC, strict=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_minari(path, SPEC)
    notices = [w for w in caught if issubclass(w.category, UnfinishedEpisodeWarning)]
    assert len(notices) == 1, [str(w.message) for w in caught]
    message = str(notices[0].message)
    assert "main_data.hdf5: 2 episode(s)" in message and "episode_0, episode_2" in message
    assert "0 steps dropped" in message
    assert ds.size == 12
    obs0 = np.asarray(ds.observations)[:, 0]
    np.testing.assert_array_equal(obs0, [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23])
    np.testing.assert_array_equal(np.asarray(ds.next_observations)[:, 0], obs0 + 1)
    np.testing.assert_array_equal(np.asarray(ds.terminals), np.eye(1, 12, 7)[0])
    assert not np.asarray(ds.timeouts).any()


def test_wrong_observation_dimension_for_named_env(tmp_path):
    path = write_raw(tmp_path / "toy", [make_episode(3, 0)])
    with pytest.raises(
        DatasetError,
        match=r"key 'episode_0/observations': wrong observation dimension for env 'hopper'",
    ):
        load_minari(path, "mujoco/hopper/medium-v0")


def test_metadata_count_mismatch(tmp_path):
    path = write_raw(tmp_path / "toy", [make_episode(3, 0)], total_episodes=2)
    with pytest.raises(
        DatasetError, match=r"key 'total_episodes': length mismatch: metadata says 2, file holds 1"
    ):
        load_minari(path, SPEC)


def test_truncated_main_file(tmp_path):
    path = write_raw(tmp_path / "toy", [make_episode(50, 100 * i) for i in range(10)])
    main = path / "data" / "main_data.hdf5"
    blob = main.read_bytes()
    main.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match=r"main_data\.hdf5.*truncated or corrupt"):
        load_minari(path, SPEC)


def test_missing_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="main_data.hdf5"):
        load_minari(tmp_path / "nothing")
