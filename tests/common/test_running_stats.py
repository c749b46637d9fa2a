"""Running mean/variance against numpy over the concatenated stream, and rl_games semantics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.common import running_stats as rs


def _stream(seed, sizes, shape):
    rng = np.random.default_rng(seed)
    loc = rng.normal(scale=3.0, size=shape)
    scale = np.exp(rng.normal(size=shape))
    return [(loc + scale * rng.normal(size=(b, *shape))).astype(np.float32) for b in sizes]


def test_matches_numpy_over_concatenation_of_uneven_batches():
    sizes = [1, 7, 64, 3, 250, 2, 1000, 17, 5, 128, 1, 33] * 3
    batches = _stream(0, sizes, (4,))
    update = jax.jit(rs.update)
    stats = rs.init((4,))
    for b in batches:
        stats = update(stats, jnp.asarray(b))
    data = np.concatenate(batches).astype(np.float64)
    assert float(stats.count) == data.shape[0]
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.var, data.var(0), rtol=1e-5, atol=1e-5)


def test_several_sample_axes_and_scalar_samples():
    rng = np.random.default_rng(1)
    obs = [rng.normal(2.0, 0.5, size=(t, 6, 2, 3)).astype(np.float32) for t in (5, 9, 4)]
    stats = rs.init((2, 3))
    for o in obs:
        stats = rs.update(stats, jnp.asarray(o))  # [T, N, 2, 3]: T and N are sample axes
    data = np.concatenate([o.reshape(-1, 2, 3) for o in obs]).astype(np.float64)
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.var, data.var(0), rtol=1e-5, atol=1e-5)
    values = rng.normal(-4.0, 3.0, size=(3, 50)).astype(np.float32)
    vstats = rs.init(())
    for v in values:
        vstats = rs.update(vstats, jnp.asarray(v))
    np.testing.assert_allclose(vstats.mean, values.mean(), rtol=1e-5)
    np.testing.assert_allclose(vstats.var, values.var(), rtol=1e-5)


def test_vmap_over_seeds_inside_scan():
    S, K, B, dim = 3, 20, 16, 2
    data = np.stack([np.stack(_stream(s, [B] * K, (dim,))) for s in range(S)])  # [S, K, B, dim]

    def per_seed(batches):
        stats, _ = jax.lax.scan(lambda st, b: (rs.update(st, b), None), rs.init((dim,)),
                                batches)
        return stats

    stats = jax.jit(jax.vmap(per_seed))(jnp.asarray(data))
    assert stats.mean.shape == (S, dim) and stats.count.shape == (S,)
    flat = data.reshape(S, K * B, dim).astype(np.float64)
    np.testing.assert_allclose(stats.mean, flat.mean(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.var, flat.var(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.count, K * B)


def test_prior_count_one_reproduces_rl_games_merge_loop():
    batches = _stream(2, [3, 10, 1, 40], (3,))
    # rl_games RunningMeanStd: mean 0, var 1, count 1, then its moment merge per batch.
    mean, var, count = np.zeros(3), np.ones(3), 1.0
    for b in batches:
        b = b.astype(np.float64)
        bm, bv, bc = b.mean(0), b.var(0), b.shape[0]
        tot = count + bc
        delta = bm - mean
        mean = mean + delta * bc / tot
        var = (var * count + bv * bc + delta**2 * count * bc / tot) / tot
        count = tot
    stats = rs.init((3,), count=1.0)
    for b in batches:
        stats = rs.update(stats, jnp.asarray(b))
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats.var, var, rtol=1e-5, atol=1e-6)


def test_normalize_formula_and_clip():
    stats = rs.RunningStats(mean=jnp.array([1.0, -2.0]), var=jnp.array([4.0, 0.25]),
                            count=jnp.array(10.0))
    x = jnp.array([[3.0, -2.5], [100.0, -100.0], [1.0, -2.0]])
    ref = (np.asarray(x) - [1.0, -2.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5)
    np.testing.assert_allclose(rs.normalize(stats, x, clip=None), ref, rtol=1e-6)
    out = rs.normalize(stats, x)  # default clip 5
    np.testing.assert_allclose(out, np.clip(ref, -5.0, 5.0), rtol=1e-6)
    np.testing.assert_array_equal(out[1], [5.0, -5.0])
    np.testing.assert_allclose(rs.normalize(stats, x, clip=0.5), np.clip(ref, -0.5, 0.5))


def test_denormalize_inverts_normalize_inside_clip():
    stats = rs.RunningStats(mean=jnp.array(3.0), var=jnp.array(9.0), count=jnp.array(5.0))
    v = jnp.array([-9.0, 0.0, 3.0, 12.0, 17.9])  # all within 5 std of the mean
    np.testing.assert_allclose(rs.denormalize(stats, rs.normalize(stats, v)), v,
                               rtol=1e-5, atol=1e-5)
    # The input is clipped first (rl_games denorm): 7 -> 5 -> 3 + 5 * sqrt(9 + 1e-5).
    np.testing.assert_allclose(rs.denormalize(stats, jnp.array(7.0)),
                               3.0 + 5.0 * np.sqrt(9.0 + 1e-5), rtol=1e-6)
    np.testing.assert_allclose(rs.denormalize(stats, jnp.array(7.0), clip=None),
                               3.0 + 7.0 * np.sqrt(9.0 + 1e-5), rtol=1e-6)


def test_fresh_statistics_leave_values_nearly_unchanged():
    stats = rs.init((2,))
    x = jnp.array([0.5, -3.0])
    np.testing.assert_allclose(rs.normalize(stats, x), x / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert isinstance(jax.tree.leaves(stats)[0], jax.Array)  # a pytree of arrays


def test_rejects_batches_of_the_wrong_shape_and_negative_prior():
    with pytest.raises(ValueError, match=r"batch.shape: expected \[B, ...\] \+ \[3\]"):
        rs.update(rs.init((3,)), jnp.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"batch.shape"):
        rs.update(rs.init((3,)), jnp.zeros((3,)))  # no sample axis
    with pytest.raises(ValueError, match=r"batch.shape: expected at least one sample"):
        rs.update(rs.init((3,)), jnp.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"count: expected a number >= 0, got -1"):
        rs.init((3,), count=-1)
