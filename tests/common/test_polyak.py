"""Polyak averaging against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.common.polyak import polyak


def _params(a, b):
    return {"dense": {"kernel": jnp.array([[a, 2 * a]]), "bias": jnp.array([b])},
            "log_std": jnp.array(a + b)}


def test_hand_computed():
    # tau = 0.25: 0.75 * target + 0.25 * online.
    new = polyak(_params(4.0, -8.0), _params(0.0, 8.0), 0.25)
    np.testing.assert_allclose(new["dense"]["kernel"], [[3.0, 6.0]])
    np.testing.assert_allclose(new["dense"]["bias"], [-4.0])
    np.testing.assert_allclose(new["log_std"], 0.75 * -4.0 + 0.25 * 8.0)


def test_tau_one_copies_and_tau_zero_keeps():
    target, online = _params(1.5, 2.5), _params(-3.0, 7.0)
    for leaf_new, leaf_online in zip(jax.tree.leaves(polyak(target, online, 1.0)),
                                     jax.tree.leaves(online)):
        np.testing.assert_array_equal(leaf_new, leaf_online)
    for leaf_new, leaf_target in zip(jax.tree.leaves(polyak(target, online, 0.0)),
                                     jax.tree.leaves(target)):
        np.testing.assert_array_equal(leaf_new, leaf_target)


def test_repeated_updates_converge_geometrically():
    # After k updates with a fixed online value: target_k - online = (1 - tau)^k (t_0 - online).
    target, online, tau, k = jnp.array(10.0), jnp.array(2.0), 0.1, 25
    step = jax.jit(lambda t: polyak(t, online, tau))
    for _ in range(k):
        target = step(target)
    np.testing.assert_allclose(target, 2.0 + 0.9**k * 8.0, rtol=1e-5)


def test_traced_tau_under_jit_and_vmap_keeps_dtype():
    taus = jnp.array([0.0, 0.5, 1.0])
    target, online = _params(2.0, 0.0), _params(4.0, 2.0)
    out = jax.jit(jax.vmap(lambda tau: polyak(target, online, tau)))(taus)
    np.testing.assert_allclose(out["dense"]["bias"][:, 0], [0.0, 1.0, 2.0])
    half = polyak(jnp.zeros(2, jnp.bfloat16), jnp.ones(2, jnp.float32), 0.5)
    assert half.dtype == jnp.bfloat16


def test_rejects_bad_tau_and_mismatched_trees():
    with pytest.raises(ValueError, match=r"tau: expected a number in \[0, 1\], got 1.5"):
        polyak(_params(0.0, 0.0), _params(1.0, 1.0), 1.5)
    with pytest.raises(ValueError, match=r"online: expected the tree structure of target"):
        polyak({"a": jnp.zeros(2)}, {"b": jnp.zeros(2)}, 0.5)
