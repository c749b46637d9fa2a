"""Minibatch shuffles against python-loop references: permutations, intact sequences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.common.minibatch import flat_minibatches, sequence_minibatches

T, N, OBS = 6, 8, 3


def _rollout():
    """A rollout whose every field is a function of the step id ``t * N + n``."""
    uid = jnp.arange(T * N, dtype=jnp.int32).reshape(T, N)
    return {"uid": uid, "obs": uid[..., None] * jnp.array([1.0, -1.0, 0.5]),
            "done": uid % 3 == 0}


@pytest.mark.parametrize("m", [1, 2, 4, 6, 48])
def test_flat_minibatches_permutation_and_python_loop_reference(m):
    key = jax.random.key(7)
    batch = _rollout()
    out = jax.jit(flat_minibatches, static_argnums=2)(key, batch, m)
    size = T * N // m
    assert out["uid"].shape == (m, size) and out["obs"].shape == (m, size, OBS)
    # Every step exactly once.
    assert sorted(np.asarray(out["uid"]).ravel().tolist()) == list(range(T * N))
    # Python loop over the documented permutation.
    perm = np.asarray(jax.random.permutation(key, T * N))
    obs = np.asarray(batch["obs"])
    ref = np.zeros((m, size, OBS), np.float32)
    for mb in range(m):
        for j in range(size):
            t, n = divmod(int(perm[mb * size + j]), N)
            ref[mb, j] = obs[t, n]
    np.testing.assert_array_equal(out["obs"], ref)
    np.testing.assert_array_equal(out["done"], np.asarray(out["uid"]) % 3 == 0)


@pytest.mark.parametrize("m", [1, 2, 4, 8])
def test_sequence_minibatches_keep_sequences_and_match_python_loop(m):
    key = jax.random.key(3)
    batch = _rollout()
    hidden = {"h": jnp.arange(N, dtype=jnp.float32)[:, None] * jnp.ones((1, 5)),
              "c": jnp.arange(N, dtype=jnp.int32)}
    out, hid = jax.jit(sequence_minibatches, static_argnums=2)(key, batch, m, hidden=hidden)
    k = N // m
    assert out["uid"].shape == (m, T, k) and out["obs"].shape == (m, T, k, OBS)
    assert hid["h"].shape == (m, k, 5) and hid["c"].shape == (m, k)
    uid, env_ids = np.asarray(out["uid"]), []
    for mb in range(m):
        for j in range(k):
            seq = uid[mb, :, j]
            env = int(seq[0])  # uid of step (0, n) is n
            np.testing.assert_array_equal(seq, np.arange(T) * N + env)  # time intact
            assert int(hid["c"][mb, j]) == env  # its own initial hidden state
            np.testing.assert_array_equal(hid["h"][mb, j], np.full(5, env, np.float32))
            env_ids.append(env)
    assert sorted(env_ids) == list(range(N))  # every env exactly once
    # Python loop over the documented permutation.
    perm = np.asarray(jax.random.permutation(key, N)).reshape(m, k)
    obs = np.asarray(batch["obs"])
    ref = np.zeros((m, T, k, OBS), np.float32)
    for mb in range(m):
        for t in range(T):
            for j in range(k):
                ref[mb, t, j] = obs[t, perm[mb, j]]
    np.testing.assert_array_equal(out["obs"], ref)


def test_sequence_minibatches_equal_the_ppo_epoch_loop():
    # purerl.algos.ppo: perm = permutation(key, N).reshape(M, -1); minibatch = take(x, perm[m], 1)
    key, m = jax.random.key(11), 4
    batch = _rollout()
    out, hid = sequence_minibatches(key, batch, m)
    assert hid is None
    perm = jax.random.permutation(key, N).reshape(m, -1)
    for mb in range(m):
        for name, x in batch.items():
            np.testing.assert_array_equal(out[name][mb], jnp.take(x, perm[mb], axis=1))


def test_sequence_minibatches_env_axis_first():
    key, m = jax.random.key(5), 2
    batch = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), _rollout())  # [N, T, ...]
    out, _ = sequence_minibatches(key, batch, m, env_axis=0)
    out_t, _ = sequence_minibatches(key, _rollout(), m, env_axis=1)
    assert out["obs"].shape == (m, N // m, T, OBS)
    np.testing.assert_array_equal(out["obs"], jnp.swapaxes(out_t["obs"], 1, 2))


def test_vmap_over_seeds():
    S, m = 3, 2
    keys = jax.random.split(jax.random.key(0), S)
    batch = jax.tree.map(lambda x: jnp.broadcast_to(x, (S, *x.shape)), _rollout())
    flat = jax.jit(jax.vmap(lambda k, b: flat_minibatches(k, b, m)))(keys, batch)
    seq, _ = jax.jit(jax.vmap(lambda k, b: sequence_minibatches(k, b, m)))(keys, batch)
    assert flat["obs"].shape == (S, m, T * N // m, OBS)
    assert seq["obs"].shape == (S, m, T, N // m, OBS)
    for s in range(S):
        assert sorted(np.asarray(flat["uid"][s]).ravel().tolist()) == list(range(T * N))
    assert not np.array_equal(flat["uid"][0], flat["uid"][1])  # each seed its own shuffle


def test_scan_over_minibatches_with_hidden_none():
    out = sequence_minibatches(jax.random.key(0), _rollout(), 4)
    total, _ = jax.lax.scan(lambda c, mb: (c + mb[0]["uid"].sum(), None), 0, out)
    assert int(total) == sum(range(T * N))


def test_sizes_that_do_not_divide_raise():
    batch = _rollout()
    with pytest.raises(ValueError, match=r"num_minibatches: expected a divisor of T \* N = "
                                         r"6 \* 8 = 48, got 5"):
        flat_minibatches(jax.random.key(0), batch, 5)
    with pytest.raises(ValueError, match=r"num_minibatches: expected a divisor of N = 8 envs, "
                                         r"got 3"):
        sequence_minibatches(jax.random.key(0), batch, 3)
    with pytest.raises(ValueError, match=r"num_minibatches: expected an integer >= 1, got 0"):
        sequence_minibatches(jax.random.key(0), batch, 0)


def test_inconsistent_leaves_raise():
    bad = dict(_rollout(), extra=jnp.zeros((T, N + 1)))
    with pytest.raises(ValueError, match=r"batch\['extra'\].shape: expected sizes \[6, 8\]"):
        flat_minibatches(jax.random.key(0), bad, 2)
    with pytest.raises(ValueError, match=r"hidden: expected N = 8 envs on axis 0"):
        sequence_minibatches(jax.random.key(0), _rollout(), 2, hidden=jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"batch\['done'\].shape: expected at least 4 axes"):
        sequence_minibatches(jax.random.key(0), _rollout(), 2, env_axis=3)
