"""D4RL HDF5 loading: qlearning_dataset semantics, the files' quirks, every bad-file error.

Files are written here with raw h5py in D4RL's real layout (gzip datasets, ``infos/`` and
``metadata/`` groups), not with our writer, so the reader is checked against the format.
"""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest

from envs_jax.offline import (
    DatasetError,
    DatasetSpec,
    Float64CastWarning,
    load_d4rl,
    qlearning_dataset,
    read_d4rl,
    spec_for,
    write_d4rl,
)
from envs_jax.offline.validate import UnfinishedEpisodeWarning

TOY = DatasetSpec("toy", obs_dim=2, action_dim=1, max_episode_steps=3)


def write_raw(path, data, metadata=None):
    """D4RL's layout: flat gzip datasets, nested infos/* and metadata/*."""
    with h5py.File(path, "w") as f:
        for key, value in data.items():
            value = np.asarray(value)
            f.create_dataset(key, data=value, compression="gzip" if value.ndim else None)
        for key, value in (metadata or {}).items():
            f.create_dataset(f"metadata/{key}", data=value)
    return str(path)


def toy_rows(n, terminals=(), timeouts=()):
    """obs[i] = [i, 10 + i], action[i] = i / 10, reward[i] = i: rows are identifiable."""
    t = np.zeros(n, bool)
    t[list(terminals)] = True
    out = np.zeros(n, bool)
    out[list(timeouts)] = True
    return {
        "observations": np.stack([np.arange(n), 10 + np.arange(n)], 1).astype(np.float32),
        "actions": (np.arange(n) / 10.0).astype(np.float32)[:, None] / n,
        "rewards": np.arange(n, dtype=np.float32),
        "terminals": t,
        "timeouts": out,
    }


def reference_qlearning(data, max_episode_steps, terminate_on_end=False):
    """Line-by-line transcription of d4rl.qlearning_dataset's loop (the behaviour we match)."""
    n = data["rewards"].shape[0]
    use_timeouts = "timeouts" in data
    episode_step, rows, finals = 0, [], []
    for i in range(n - 1):
        done_bool = bool(data["terminals"][i])
        final_timestep = (
            data["timeouts"][i] if use_timeouts else episode_step == max_episode_steps - 1
        )
        if (not terminate_on_end) and final_timestep:
            episode_step = 0
            continue
        if done_bool or final_timestep:
            episode_step = 0
        rows.append(i)
        finals.append(bool(final_timestep))
        episode_step += 1
    return np.array(rows, int), np.array(finals, bool)


# ---------------------------------------------------------------- qlearning_dataset semantics


def test_qlearning_hand_computed_with_timeouts():
    # rows 0..7; terminal at 2; timeouts at 5 and 7 (7 is the last row).
    data = toy_rows(8, terminals=[2], timeouts=[5, 7])
    q = qlearning_dataset(data, max_episode_steps=1000)
    # Row 5 (timeout) is dropped, row 7 (last) never becomes a transition.
    np.testing.assert_array_equal(q["observations"][:, 0], [0, 1, 2, 3, 4, 6])
    np.testing.assert_array_equal(q["next_observations"][:, 0], [1, 2, 3, 4, 5, 7])
    np.testing.assert_array_equal(q["rewards"], [0, 1, 2, 3, 4, 6])
    np.testing.assert_array_equal(q["terminals"], [0, 0, 1, 0, 0, 0])
    assert not q["timeouts"].any()
    assert q["observations"].dtype == np.float32 and q["terminals"].dtype == bool

    kept = qlearning_dataset(data, max_episode_steps=1000, terminate_on_end=True)
    np.testing.assert_array_equal(kept["observations"][:, 0], [0, 1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(kept["timeouts"], [0, 0, 0, 0, 0, 1, 0])
    # D4RL keeps the wrong successor of a kept timeout row: the next episode's first obs.
    assert kept["next_observations"][5, 0] == 6


def test_qlearning_hand_computed_without_timeouts_counter_quirk():
    # No timeouts key, time limit 3, terminal at row 1. D4RL's counter restarts at 1 (not 0)
    # after a kept terminal: rows 2, 3 read steps 1, 2 -> row 3 is a time-limit end (dropped),
    # row 4 restarts at 0 -> row 6 is the next end (and the last row).
    data = toy_rows(7, terminals=[1])
    del data["timeouts"]
    q = qlearning_dataset(data, max_episode_steps=3)
    np.testing.assert_array_equal(q["observations"][:, 0], [0, 1, 2, 4, 5])
    np.testing.assert_array_equal(q["next_observations"][:, 0], [1, 2, 3, 5, 6])
    np.testing.assert_array_equal(q["terminals"], [0, 1, 0, 0, 0])


@pytest.mark.parametrize("use_timeouts", [True, False])
@pytest.mark.parametrize("terminate_on_end", [False, True])
@pytest.mark.parametrize("max_steps", [1, 2, 5])
def test_qlearning_matches_d4rl_loop(use_timeouts, terminate_on_end, max_steps):
    rng = np.random.default_rng(max_steps + 7 * use_timeouts + 31 * terminate_on_end)
    n = 300
    data = toy_rows(n)
    data["terminals"] = rng.random(n) < 0.08
    data["timeouts"] = rng.random(n) < 0.05
    if not use_timeouts:
        del data["timeouts"]
    rows, finals = reference_qlearning(data, max_steps, terminate_on_end)
    q = qlearning_dataset(data, max_steps, terminate_on_end)
    np.testing.assert_array_equal(q["observations"][:, 0], rows)
    np.testing.assert_array_equal(q["next_observations"][:, 0], rows + 1)
    np.testing.assert_array_equal(q["terminals"], data["terminals"][rows])
    np.testing.assert_array_equal(q["timeouts"], finals)


# ---------------------------------------------------------------- loader and file quirks


def hopper_rows(n=40, seed=0, episode_len=10):
    rng = np.random.default_rng(seed)
    timeouts = np.zeros(n, bool)
    timeouts[episode_len - 1 :: episode_len] = True
    return {
        "observations": rng.normal(size=(n, 11)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32),
        "terminals": np.zeros(n, bool),
        "timeouts": timeouts,
    }


def test_load_real_layout_float32(tmp_path):
    data = hopper_rows()
    data["terminals"][14] = True
    data["next_observations"] = np.full((40, 11), 123.0, np.float32)  # stale: must be ignored
    data["infos/qpos"] = np.zeros((40, 6), np.float32)
    data["infos/qvel"] = np.zeros((40, 6), np.float32)
    path = write_raw(tmp_path / "hopper-medium-v2.hdf5", data, {"algorithm": "SAC", "iteration": 3})
    assert "infos/qpos" in read_d4rl(path) and "metadata/algorithm" in read_d4rl(path)
    assert set(read_d4rl(path, keys=("rewards", "infos/qvel", "absent"))) == {
        "rewards",
        "infos/qvel",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float32 file: no cast notice
        ds = load_d4rl(path, "hopper-medium-v2")
    rows, _ = reference_qlearning(data, 1000)
    assert ds.size == len(rows) == 40 - 4  # 4 timeout rows, the last of which is row 39
    np.testing.assert_array_equal(np.asarray(ds.observations), data["observations"][rows])
    np.testing.assert_array_equal(np.asarray(ds.next_observations), data["observations"][rows + 1])
    np.testing.assert_array_equal(np.asarray(ds.actions), data["actions"][rows])
    np.testing.assert_array_equal(np.asarray(ds.rewards), data["rewards"][rows])
    np.testing.assert_array_equal(np.asarray(ds.terminals), rows == 14)
    assert not np.asarray(ds.timeouts).any()
    for leaf, dtype in ((ds.observations, np.float32), (ds.terminals, bool), (ds.timeouts, bool)):
        assert leaf.dtype == dtype


def test_float64_cast_with_a_single_notice(tmp_path):
    data = hopper_rows()
    for key in ("observations", "actions", "rewards"):
        data[key] = data[key].astype(np.float64)
    path = write_raw(tmp_path / "hopper-medium-replay-v2.hdf5", data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_d4rl(path, "hopper-medium-replay-v2")
    notices = [w for w in caught if issubclass(w.category, Float64CastWarning)]
    assert len(notices) == 1, [str(w.message) for w in caught]
    assert "observations, actions, rewards" in str(notices[0].message)
    assert ds.observations.dtype == np.float32 and ds.rewards.dtype == np.float32
    np.testing.assert_allclose(np.asarray(ds.observations[0]), data["observations"][0], rtol=1e-6)


def test_rewards_and_terminals_stored_as_n_by_1_floats(tmp_path):
    data = hopper_rows()
    data["terminals"][5] = True
    data["rewards"] = data["rewards"][:, None]
    data["terminals"] = data["terminals"].astype(np.float32)[:, None]
    path = write_raw(tmp_path / "walkerish.hdf5", data)
    ds = load_d4rl(path, "hopper")
    rows, _ = reference_qlearning({**data, "rewards": data["rewards"][:, 0]}, 1000)
    assert ds.rewards.shape == (len(rows),)
    np.testing.assert_array_equal(np.asarray(ds.rewards), data["rewards"][rows, 0])
    np.testing.assert_array_equal(np.asarray(ds.terminals), rows == 5)


def test_no_timeouts_key_falls_back_to_episode_length(tmp_path):
    # halfcheetah v0 style: no timeouts, no terminals, episodes of exactly 1000 steps.
    rng = np.random.default_rng(1)
    n = 2000
    data = {
        "observations": rng.normal(size=(n, 17)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (n, 6)).astype(np.float32),
        "rewards": np.arange(n, dtype=np.float32),
        "terminals": np.zeros(n, np.float32),
    }
    ds = load_d4rl(
        write_raw(tmp_path / "halfcheetah-random-v0.hdf5", data), "halfcheetah-random-v0"
    )
    # Rows 999 (time limit) and 1999 (last) are dropped.
    assert ds.size == n - 2
    rewards = np.asarray(ds.rewards)
    assert 999 not in rewards and 1999 not in rewards and 1000 in rewards


def test_antmaze_reward_remap(tmp_path):
    rng = np.random.default_rng(2)
    n = 700
    rewards = (rng.random(n) < 0.3).astype(np.float32)
    data = {
        "observations": rng.normal(size=(n, 29)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (n, 8)).astype(np.float32),
        "rewards": rewards,
        "terminals": np.zeros(n, bool),
        "timeouts": np.eye(1, n, n - 1, dtype=bool)[0],
        "infos/goal": np.zeros((n, 2), np.float32),
    }
    path = write_raw(tmp_path / "antmaze-umaze-v0.hdf5", data)
    assert spec_for("antmaze-umaze-v0").max_episode_steps == 700
    remapped = np.asarray(load_d4rl(path, "antmaze-umaze-v0").rewards)
    np.testing.assert_array_equal(remapped, np.where(rewards[:-1] == 1, 2.0, -2.0))
    raw = np.asarray(load_d4rl(path, "antmaze-umaze-v0", remap_antmaze_rewards=False).rewards)
    np.testing.assert_array_equal(raw, rewards[:-1])


def test_writer_round_trip(tmp_path):
    data = hopper_rows()
    data["rewards"] = data["rewards"][:, None].astype(np.float64)
    write_d4rl(tmp_path / "w.hdf5", data, metadata={"algorithm": "test"})
    raw = read_d4rl(tmp_path / "w.hdf5")
    assert raw["rewards"].shape == (40, 1) and raw["rewards"].dtype == np.float64
    assert raw["metadata/algorithm"] == b"test"
    np.testing.assert_array_equal(raw["timeouts"], data["timeouts"])


# ---------------------------------------------------------------- bad files


def bad_file(tmp_path, mutate):
    data = hopper_rows()
    mutate(data)
    return write_raw(tmp_path / "bad.hdf5", data)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("actions"), r"bad\.hdf5: key 'actions': missing"),
        (lambda d: d.pop("terminals"), r"key 'terminals': missing"),
        (
            lambda d: d.update(actions=d["actions"][:-1]),
            r"key 'actions': length mismatch: 39 rows, expected 40",
        ),
        (
            lambda d: d.update(timeouts=d["timeouts"][:-2]),
            r"key 'timeouts': length mismatch: 38 rows, expected 40",
        ),
        (
            lambda d: d["observations"].__setitem__((3, 4), np.nan),
            r"key 'observations', index 3: non-finite value nan",
        ),
        (
            lambda d: d["rewards"].__setitem__(17, np.inf),
            r"key 'rewards', index 17: non-finite value inf",
        ),
        (
            lambda d: d.update(observations=np.zeros((40, 12), np.float32)),
            (
                r"key 'observations': wrong observation dimension for env 'hopper': "
                r"expected shape \(rows, 11\), got \(40, 12\)"
            ),
        ),
        (
            lambda d: d.update(actions=np.zeros((40, 6), np.float32)),
            r"key 'actions': wrong action dimension for env 'hopper'",
        ),
        (
            lambda d: d["actions"].__setitem__((4, 1), 1.5),
            r"key 'actions', index 4: action 1.5 outside the bounds \[-1.0, 1.0\]",
        ),
        (
            lambda d: d.update(terminals=np.full(40, 0.5, np.float32)),
            r"key 'terminals', index 0: expected 0 or 1",
        ),
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_bad_file_errors(tmp_path, mutate, message, strict):
    path = bad_file(tmp_path, mutate)
    with pytest.raises(DatasetError, match=message):
        load_d4rl(path, "hopper-medium-v2", strict=strict)


def test_dataset_error_is_value_error():
    assert issubclass(DatasetError, ValueError)


# ---------------------------------------------------------------- unfinished last episode


def unfinished_warnings(caught):
    return [w for w in caught if issubclass(w.category, UnfinishedEpisodeWarning)]


def load_recording(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_d4rl(*args, **kwargs)
    return ds, caught


def test_file_cut_mid_episode_hand_written_transitions(tmp_path):
    # Three episodes in 7 rows: rows 0-1 end in a terminal (row 1), rows 2-3 in a timeout
    # (row 3), rows 4-6 are cut: row 6, the last, has neither flag (D4RL's collection
    # scripts stop at num_data rows like this).
    data = {
        "observations": np.array(
            [
                [0.1, -1.0],
                [0.2, -0.9],
                [0.3, -0.8],
                [0.4, -0.7],
                [1.1, 2.0],
                [1.2, 2.1],
                [1.3, 2.2],
            ],
            np.float32,
        ),
        "actions": np.array([[0.5], [-0.5], [0.25], [-0.25], [0.75], [-0.75], [1.0]], np.float32),
        "rewards": np.array([1, 2, 3, 4, 5, 6, 7], np.float32),
        "terminals": np.array([0, 1, 0, 0, 0, 0, 0], bool),
        "timeouts": np.array([0, 0, 0, 1, 0, 0, 0], bool),
    }
    path = write_raw(tmp_path / "cut-mid-episode.hdf5", data)
    ds, caught = load_recording(path, TOY)
    # d4rl.qlearning_dataset: rows 0..5 with next = row + 1, minus the timeout row 3; the
    # last row 6 has no next row. Row 1's successor (row 2) belongs to the next episode,
    # but the terminal masks it.
    np.testing.assert_array_equal(
        np.asarray(ds.observations),
        np.array([[0.1, -1.0], [0.2, -0.9], [0.3, -0.8], [1.1, 2.0], [1.2, 2.1]], np.float32),
    )
    np.testing.assert_array_equal(
        np.asarray(ds.next_observations),
        np.array([[0.2, -0.9], [0.3, -0.8], [0.4, -0.7], [1.2, 2.1], [1.3, 2.2]], np.float32),
    )
    np.testing.assert_array_equal(
        np.asarray(ds.actions), np.array([[0.5], [-0.5], [0.25], [0.75], [-0.75]], np.float32)
    )
    np.testing.assert_array_equal(np.asarray(ds.rewards), np.array([1, 2, 3, 5, 6], np.float32))
    np.testing.assert_array_equal(np.asarray(ds.terminals), [False, True, False, False, False])
    np.testing.assert_array_equal(np.asarray(ds.timeouts), [False] * 5)
    notices = unfinished_warnings(caught)
    assert len(notices) == 1, [str(w.message) for w in caught]
    message = str(notices[0].message)
    assert "\n" not in message and message.startswith(f"{path}: last episode unfinished")
    assert "row 6" in message and "dropped 1 row" in message and "strict=True" in message

    # terminate_on_end keeps the timeout row 3 (with its wrong successor, row 4, as D4RL).
    kept, _ = load_recording(path, TOY, terminate_on_end=True)
    np.testing.assert_array_equal(
        np.asarray(kept.rewards), np.array([1, 2, 3, 4, 5, 6], np.float32)
    )
    np.testing.assert_array_equal(
        np.asarray(kept.next_observations)[3], np.array([1.1, 2.0], np.float32)
    )
    np.testing.assert_array_equal(np.asarray(kept.timeouts), [0, 0, 0, 1, 0, 0])

    with pytest.raises(
        DatasetError,
        match=r"cut-mid-episode\.hdf5: key 'timeouts', index 6: last episode has no end flag",
    ):
        load_d4rl(path, TOY, strict=True)


def test_unfinished_last_episode_default_is_d4rl(tmp_path):
    path = bad_file(tmp_path, lambda d: d["timeouts"].__setitem__(39, False))
    ds, caught = load_recording(path, "hopper-medium-v2")
    data = read_d4rl(path)
    rows, _ = reference_qlearning(data, 1000)
    assert ds.size == len(rows) == 39 - 3  # the last row plus the timeout rows 9, 19, 29
    np.testing.assert_array_equal(np.asarray(ds.observations), data["observations"][rows])
    np.testing.assert_array_equal(np.asarray(ds.next_observations), data["observations"][rows + 1])
    np.testing.assert_array_equal(np.asarray(ds.rewards), data["rewards"][rows])
    assert not np.asarray(ds.terminals).any() and not np.asarray(ds.timeouts).any()
    notices = unfinished_warnings(caught)
    assert len(notices) == 1 and str(notices[0].message).startswith(f"{path}: ")
    assert "row 39" in str(notices[0].message)
    # A finished file gives no such warning.
    _, caught = load_recording(bad_file(tmp_path, lambda d: None), "hopper-medium-v2")
    assert not unfinished_warnings(caught)


def test_unfinished_last_episode_strict_is_an_error(tmp_path):
    path = bad_file(tmp_path, lambda d: d["timeouts"].__setitem__(39, False))
    with pytest.raises(
        DatasetError,
        match=r"bad\.hdf5: key 'timeouts', index 39: last episode has no end flag: neither "
        r"terminals nor timeouts is set on the last row \(strict=True",
    ):
        load_d4rl(path, "hopper-medium-v2", strict=True)


def test_allow_unfinished_last_episode_is_a_deprecated_inverse_of_strict(tmp_path):
    path = bad_file(tmp_path, lambda d: d["timeouts"].__setitem__(39, False))
    with (
        pytest.warns(DeprecationWarning, match="allow_unfinished_last_episode is deprecated"),
        pytest.warns(UnfinishedEpisodeWarning, match="dropped 1 row"),
    ):
        ds = load_d4rl(path, "hopper", allow_unfinished_last_episode=True)
    assert ds.size == 39 - 3
    with pytest.warns(DeprecationWarning), pytest.raises(DatasetError, match="no end flag"):
        load_d4rl(path, "hopper", allow_unfinished_last_episode=False)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="contradicts"):
        load_d4rl(path, "hopper", strict=True, allow_unfinished_last_episode=True)


def test_no_timeouts_and_no_implied_end(tmp_path):
    def drop(d):
        d.pop("timeouts")

    path = bad_file(tmp_path, drop)  # 40 rows, time limit 1000: no end on the last row
    with pytest.raises(
        DatasetError,
        match=r"key 'terminals', index 39: last episode has no end flag.*no 'timeouts' key",
    ):
        load_d4rl(path, "hopper", strict=True)
    ds, caught = load_recording(path, "hopper")
    assert ds.size == 39  # one 40-row cut episode: every row but the last
    np.testing.assert_array_equal(np.asarray(ds.observations), read_d4rl(path)["observations"][:39])
    (notice,) = unfinished_warnings(caught)
    assert "no 'timeouts' key" in str(notice.message) and "dropped 1 row" in str(notice.message)


def test_truncated_hdf5(tmp_path):
    path = write_raw(tmp_path / "cut.hdf5", hopper_rows(n=400))
    with open(path, "rb") as f:
        blob = f.read()
    with open(path, "wb") as f:
        f.write(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match=r"cut\.hdf5.*truncated or corrupt"):
        load_d4rl(path, "hopper")


def test_corrupt_hdf5(tmp_path):
    path = tmp_path / "garbage.hdf5"
    path.write_bytes(b"\x89HDF\r\n" + bytes(range(256)) * 8)
    with pytest.raises(DatasetError, match=r"garbage\.hdf5.*truncated or corrupt"):
        load_d4rl(path, "hopper")


def test_corrupt_dataset_chunk(tmp_path):
    # Valid superblock and index, damaged compressed chunk: the read of that key fails.
    path = write_raw(tmp_path / "chunk.hdf5", hopper_rows(n=400))
    with h5py.File(path, "r") as f:
        offset = f["observations"].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * 64)
    with pytest.raises(DatasetError, match=r"chunk\.hdf5: key 'observations': unreadable"):
        load_d4rl(path, "hopper")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.hdf5"):
        load_d4rl(tmp_path / "nope.hdf5", "hopper")


def test_unknown_env_name(tmp_path):
    path = write_raw(tmp_path / "ok.hdf5", hopper_rows())
    with pytest.raises(ValueError, match="env_name: expected a name starting with one of"):
        load_d4rl(path, "pendulum-v1")
