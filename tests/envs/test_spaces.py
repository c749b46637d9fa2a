"""Discrete and Box spaces.

Samples come from a loop over a jitted unbatched ``sample``: vmapped random draws compile
several times slower on XLA:CPU (vmap is covered by the contract tests).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs_jax.spaces import Box, Discrete


def test_discrete_sample_and_contains():
    space = Discrete(3)
    assert space.shape == () and space.dtype == jnp.int32 and space.n == 3
    sample = jax.jit(space.sample)
    samples = np.stack(
        [sample(key) for key in np.asarray(jax.random.split(jax.random.PRNGKey(0), 100))]
    )
    assert samples.dtype == np.int32 and set(np.unique(samples)) == {0, 1, 2}
    # integer Box: uniform over [low, high] inclusive
    ints = jax.jit(Box(-1, 1, (300,), jnp.int32).sample)(jax.random.PRNGKey(2))
    assert ints.dtype == jnp.int32 and set(np.unique(ints)) == {-1, 0, 1}
    assert bool(space.contains(2)) and bool(space.contains(jnp.int32(0)))
    assert not bool(space.contains(3)) and not bool(space.contains(-1))
    assert not bool(space.contains(1.5)) and not bool(space.contains(jnp.zeros(2, jnp.int32)))
    assert bool(jax.jit(space.contains)(jnp.int32(1)))


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_discrete_rejects_bad_n(bad):
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        Discrete(bad)


def test_box_sample_within_bounds():
    big = float(np.finfo(np.float32).max)
    # bounded, unbounded, half-bounded both ways, and +-float32 max (CartPole's velocities)
    space = Box([0.0, -np.inf, 1.0, -np.inf, -big], [2.0, np.inf, np.inf, -1.0, big], (5,))
    sample = jax.jit(space.sample)
    x = np.stack([sample(key) for key in np.asarray(jax.random.split(jax.random.PRNGKey(1), 300))])
    assert x.shape == (300, 5) and x.dtype == np.float32
    assert np.all(np.isfinite(x))
    assert all(bool(space.contains(row)) for row in x[:20])
    assert x[:, 0].min() >= 0.0 and x[:, 0].max() <= 2.0 and x[:, 0].std() > 0.3
    assert x[:, 2].min() >= 1.0 and x[:, 3].max() <= -1.0


def test_box_contains_checks_shape_and_bounds():
    space = Box(-1.0, 1.0, (2,))
    assert space.low.shape == (2,) and space.dtype == jnp.float32
    assert bool(space.contains(jnp.array([0.5, -1.0])))
    assert not bool(space.contains(jnp.array([0.5, 1.5])))
    assert not bool(space.contains(jnp.array([0.5])))
    assert not bool(space.contains(jnp.array([jnp.nan, 0.0])))
    assert space == Box(-1.0, 1.0, (2,)) and space != Box(-1.0, 2.0, (2,))


def test_box_rejects_bad_bounds():
    with pytest.raises(ValueError, match="low <= high"):
        Box(1.0, 0.0, (1,))
    with pytest.raises(ValueError, match="broadcast"):
        Box(np.zeros(3), 1.0, (2,))
