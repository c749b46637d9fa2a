"""The flashbax replay buffer under jit and vmap over seeds, against a python FIFO reference."""

import collections
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.common import buffers


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    uid: jax.Array  # unique id of each added item, to check what is stored and sampled


def _example(obs_dim=3, action_dim=2):
    return Transition(obs=jnp.zeros(obs_dim), action=jnp.zeros(action_dim),
                      reward=jnp.zeros(()), terminated=jnp.zeros((), bool),
                      uid=jnp.zeros((), jnp.int32))


def _batch(uid):
    """Items whose every field is a function of ``uid [B]``, so samples can be checked."""
    u = uid.astype(jnp.float32)
    return Transition(obs=u[:, None] * jnp.ones(3), action=-u[:, None] * jnp.ones(2),
                      reward=0.5 * u, terminated=uid % 2 == 0, uid=uid)


CAPACITY, MIN_SIZE, SAMPLE, B, STEPS, S = 10, 5, 4, 3, 7, 3


def _run(key, seed_idx, buffer):
    """Fill one seed's buffer with STEPS batches of B items (past capacity), then sample."""
    state = buffer.init(_example())

    def step(state, i):
        can_before = buffer.can_sample(state)
        uid = seed_idx * 1000 + i * B + jnp.arange(B, dtype=jnp.int32)
        return buffer.add(state, _batch(uid)), can_before

    state, can_sample = jax.lax.scan(step, state, jnp.arange(STEPS))
    samples = jax.vmap(lambda k: buffer.sample(state, k).experience)(jax.random.split(key, 64))
    return state, can_sample, buffer.can_sample(state), samples


@pytest.fixture(scope="module")
def filled():
    buffer = buffers.make_replay_buffer(CAPACITY, MIN_SIZE, SAMPLE, _example())
    keys = jax.random.split(jax.random.key(0), S)
    out = jax.jit(jax.vmap(lambda k, s: _run(k, s, buffer)))(keys, jnp.arange(S))
    return jax.device_get(out)


def _fifo_reference(seed_idx):
    """Python reference: the last CAPACITY ids, oldest first."""
    fifo = collections.deque(maxlen=CAPACITY)
    for i in range(STEPS):
        fifo.extend(seed_idx * 1000 + i * B + np.arange(B))
    return list(fifo)


def test_fifo_overwrite_keeps_the_newest_capacity_items(filled):
    state, _, _, _ = filled
    uid = state.experience.uid  # [S, 1, CAPACITY]
    assert uid.shape == (S, 1, CAPACITY)
    assert np.all(state.is_full)
    for s in range(S):
        # Physical order starts at the write position once the buffer has wrapped around.
        oldest_first = np.roll(uid[s, 0], -int(state.current_index[s]))
        assert oldest_first.tolist() == _fifo_reference(s)
        overwritten = s * 1000 + np.arange(STEPS * B - CAPACITY)
        assert not np.isin(overwritten, uid[s]).any()


def test_samples_have_the_right_shapes_and_only_added_items(filled):
    _, _, _, samples = filled
    assert samples.obs.shape == (S, 64, SAMPLE, 3)
    assert samples.action.shape == (S, 64, SAMPLE, 2)
    assert samples.reward.shape == samples.uid.shape == (S, 64, SAMPLE)
    assert samples.terminated.dtype == np.bool_ and samples.uid.dtype == np.int32
    for s in range(S):
        uid = samples.uid[s].ravel()
        stored = _fifo_reference(s)
        assert set(uid.tolist()) <= set(stored)  # nothing overwritten, nothing of other seeds
        assert len(set(uid.tolist())) == CAPACITY  # 256 uniform draws reach every stored item
        # Every field of a sampled item belongs to the same added item.
        np.testing.assert_array_equal(samples.obs[s], np.repeat(samples.uid[s][..., None], 3, -1))
        np.testing.assert_array_equal(samples.reward[s], 0.5 * samples.uid[s])
        np.testing.assert_array_equal(samples.terminated[s], samples.uid[s] % 2 == 0)


def test_can_sample_only_from_min_size(filled):
    _, can_sample_before_add, can_sample_end, _ = filled
    # Items before each add: 0, 3, 6, 9, ...; MIN_SIZE = 5.
    expected = np.arange(STEPS) * B >= MIN_SIZE
    assert expected.tolist() == [False, False, True, True, True, True, True]
    np.testing.assert_array_equal(can_sample_before_add, np.broadcast_to(expected, (S, STEPS)))
    assert np.all(can_sample_end)


def test_single_item_adds_and_memory_of_the_state():
    example = _example()
    buffer = buffers.make_replay_buffer(4, 1, 2, example, add_batches=False)

    @jax.jit
    def fill(state):
        def step(state, i):
            item = jax.tree.map(lambda x: x[0], _batch(i[None]))
            return buffer.add(state, item), None
        return jax.lax.scan(step, state, jnp.arange(6, dtype=jnp.int32))[0]

    state = fill(buffer.init(example))
    assert sorted(np.asarray(state.experience.uid[0]).tolist()) == [2, 3, 4, 5]
    stored = sum(x.nbytes for x in jax.tree.leaves(state.experience))
    assert stored == buffers.buffer_bytes(4, example)


def test_item_bytes_of_a_sac_transition():
    item = {"obs": jax.ShapeDtypeStruct((17,), jnp.float32),
            "next_obs": jax.ShapeDtypeStruct((17,), jnp.float32),
            "action": jax.ShapeDtypeStruct((6,), jnp.float32),
            "reward": jax.ShapeDtypeStruct((), jnp.float32),
            "terminated": jax.ShapeDtypeStruct((), jnp.bool_)}
    assert buffers.item_bytes(item) == 165
    assert buffers.buffer_bytes(1_000_000, item) == 165_000_000


@pytest.mark.parametrize("kwargs, match", [
    ({"capacity": 0}, r"capacity: expected an integer >= 1, got 0"),
    ({"min_size": 0}, r"min_size: expected an integer in \[1, capacity=10\], got 0"),
    ({"min_size": 11}, r"min_size: expected an integer in \[1, capacity=10\], got 11"),
    ({"sample_batch_size": 11}, r"sample_batch_size: expected an integer in \[1, capacity"),
    ({"example_item": {"a": jnp.zeros(2), "b": 0.0}},
     r"example_item\['b'\]: expected an array \(with a fixed dtype\), got 'float'"),
])
def test_make_replay_buffer_rejects_bad_sizes(kwargs, match):
    args = {"capacity": 10, "min_size": 5, "sample_batch_size": 4,
            "example_item": _example()} | kwargs
    with pytest.raises(ValueError, match=match):
        buffers.make_replay_buffer(**args)


def test_add_rejects_batches_that_do_not_match_the_example():
    buffer = buffers.make_replay_buffer(CAPACITY, MIN_SIZE, SAMPLE, _example())
    state = buffer.init(_example())
    good = _batch(jnp.arange(B, dtype=jnp.int32))
    with pytest.raises(ValueError, match=r"batch: expected at most capacity=10 items per add"):
        buffer.add(state, _batch(jnp.arange(11, dtype=jnp.int32)))
    with pytest.raises(ValueError, match=r"batch.uid.dtype: expected int32, got"):
        buffer.add(state, good._replace(uid=good.uid.astype(jnp.float32)))
    with pytest.raises(ValueError, match=r"batch.obs.shape: expected \[B, \*\[3\]\]"):
        buffer.add(state, good._replace(obs=jnp.zeros((B, 4))))
    with pytest.raises(ValueError, match=r"batch: expected one batch size B for every leaf"):
        buffer.add(state, good._replace(reward=jnp.zeros(B + 1)))
    with pytest.raises(ValueError, match=r"batch: expected the structure of example_item"):
        buffer.add(state, tuple(good))
