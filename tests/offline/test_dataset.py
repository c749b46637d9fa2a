"""OfflineDataset: device arrays, uniform minibatch sampling inside jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs_jax.offline import OfflineDataset, from_numpy, sample, sample_steps

N, OBS_DIM, ACT_DIM = 10, 3, 2
B = 100_000  # one batch size for every test here: one compile of sample, shared


@pytest.fixture(scope="module")
def dataset() -> OfflineDataset:
    # Row i is identifiable: reward i, observations i, next_observations i + 0.5.
    rows = np.arange(N, dtype=np.float32)
    return from_numpy(
        observations=np.repeat(rows[:, None], OBS_DIM, 1),
        actions=np.repeat(rows[:, None] / N, ACT_DIM, 1),
        rewards=rows[:, None],  # (N, 1) is accepted
        next_observations=np.repeat(rows[:, None] + 0.5, OBS_DIM, 1),
        terminals=rows % 4 == 3,
        timeouts=rows == 9,
    )


@pytest.fixture(scope="module")
def sample_jit():
    return jax.jit(sample, static_argnums=2)


def test_fields(dataset):
    assert dataset.size == N and dataset.obs_dim == OBS_DIM and dataset.action_dim == ACT_DIM
    assert dataset.rewards.shape == (N,) and dataset.terminals.dtype == jnp.bool_
    np.testing.assert_array_equal(np.asarray(dataset.dones), [0, 0, 0, 1, 0, 0, 0, 1, 0, 1])


def test_sample_in_jit_shapes_and_row_consistency(dataset, sample_jit):
    batch = sample_jit(jax.random.key(0), dataset, B)
    assert batch.observations.shape == (B, OBS_DIM) and batch.actions.shape == (B, ACT_DIM)
    assert batch.rewards.shape == batch.terminals.shape == batch.timeouts.shape == (B,)
    assert batch.observations.dtype == jnp.float32 and batch.terminals.dtype == jnp.bool_
    idx = np.asarray(batch.rewards).astype(int)  # every field comes from the same row
    np.testing.assert_array_equal(np.asarray(batch.observations)[:, 0], idx)
    np.testing.assert_array_equal(np.asarray(batch.next_observations)[:, 0], idx + 0.5)
    np.testing.assert_array_equal(np.asarray(batch.terminals), idx % 4 == 3)
    np.testing.assert_array_equal(np.asarray(batch.timeouts), idx == 9)


def test_sample_deterministic_per_key(dataset, sample_jit):
    a = sample_jit(jax.random.key(1), dataset, B)
    b = sample_jit(jax.random.key(1), dataset, B)
    c = sample_jit(jax.random.key(2), dataset, B)
    np.testing.assert_array_equal(np.asarray(a.rewards), np.asarray(b.rewards))
    assert not np.array_equal(np.asarray(a.rewards), np.asarray(c.rewards))


def test_sample_is_uniform(dataset, sample_jit):
    draws = B
    counts = np.bincount(
        np.asarray(sample_jit(jax.random.key(3), dataset, draws).rewards).astype(int), minlength=N
    )
    expected = draws / N
    # Binomial std sqrt(draws p (1-p)) = 95 per row: 5% (= 500) is over 5 sigma.
    assert np.all(np.abs(counts - expected) < 0.05 * expected), counts
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 27.9  # chi-square, 9 dof, p = 0.001


def test_sample_steps_for_a_k_step_scan(dataset):
    batches = jax.jit(sample_steps, static_argnums=(2, 3))(jax.random.key(4), dataset, 4, 32)
    assert batches.observations.shape == (4, 8, OBS_DIM) and batches.rewards.shape == (4, 8)

    def step(total, batch):  # consumed by a scan, one minibatch per SGD step
        return total + batch.rewards.sum(), batch.rewards.shape[0]

    total, sizes = jax.lax.scan(step, 0.0, batches)
    assert float(total) == pytest.approx(float(batches.rewards.sum())) and list(sizes) == [8] * 4
    with pytest.raises(ValueError, match="batch_size: expected a positive multiple of num_steps=3"):
        sample_steps(jax.random.key(0), dataset, 3, 32)


def test_no_recompile_for_a_new_key(dataset):
    traces = []

    @jax.jit
    def f(key, ds):
        traces.append(1)
        return sample(key, ds, 16).rewards.sum()

    f(jax.random.key(0), dataset)
    f(jax.random.key(1), dataset)
    assert len(traces) == 1


def test_from_numpy_rejects_mismatched_rows():
    with pytest.raises(ValueError, match=r"actions: expected 2-D with 4 rows .*got shape \(3, 1\)"):
        from_numpy(np.zeros((4, 2)), np.zeros((3, 1)), np.zeros(4), np.zeros((4, 2)), np.zeros(4))
    with pytest.raises(ValueError, match=r"next_observations: expected shape \(4, 2\)"):
        from_numpy(np.zeros((4, 2)), np.zeros((4, 1)), np.zeros(4), np.zeros((4, 3)), np.zeros(4))
