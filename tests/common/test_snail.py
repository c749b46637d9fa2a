"""SNAIL: against a direct implementation of the paper, causality, receptive field, attention
over keys, trial resets, and the context cache (one T-step call == T one-step calls)."""

import functools
import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.common import snail
from purerl.common.checkpoint import Checkpointer
from purerl.common.snail import SNAILActorCritic, masked_attention

C = 7          # context length: 3 dense blocks per TC block (dilations 1, 2, 4)
N, T, D = 3, 12, 5   # T > C: the attention window and the ring wrap-around are exercised


def _net(**kw):
    return SNAILActorCritic(num_actions=3, context_length=C, policy_width=4, value_width=3,
                            **kw)


def _random_params(shapes, seed):
    """Params of the given structure, N(0, 1/fan_in), drawn in numpy (nothing to compile)."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda s: jnp.asarray(rng.normal(size=s.shape) / np.sqrt(s.shape[0]), jnp.float32),
        shapes)


class Setup(NamedTuple):
    apply: Callable          # jitted net.apply (compiles once per shape: T in {1, 6, 12})
    params: dict
    obs: jax.Array           # [T, N, D]
    reset: jax.Array         # [T, N]
    initial_hidden: Callable


@pytest.fixture(scope="module")
def setup():
    # Compiles dominate on CPU: every test reuses this jitted apply with few shapes.
    net = _net()
    obs = jax.random.normal(jax.random.PRNGKey(0), (T, N, D))
    # env 0: new trial at 7; env 1: one trial of 12 > C steps; env 2: new trial at 4.
    reset = jnp.zeros((T, N), bool).at[0].set(True).at[7, 0].set(True).at[4, 2].set(True)
    # Random params of the right structure without compiling net.init (its PRNG-heavy
    # initialisers take longer to compile than the net itself on CPU).
    shapes = jax.eval_shape(net.init, jax.random.PRNGKey(1), net.initial_hidden(N), obs, reset)
    params = _random_params(shapes, seed=1)
    return Setup(jax.jit(net.apply), params, obs, reset, net.initial_hidden)


# ---------------------------------------------------------------- reference (the paper)
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _dense(p, x):
    return x @ np.asarray(p["kernel"], np.float64) + np.asarray(p.get("bias", 0.0), np.float64)


def _ref_torso(p, x):
    """SNAIL appendix B on ONE trial ``x [L, D]``, float64, no cache: TC, TC, attention."""
    for b in range(2):
        for i in range(snail.num_dense_blocks(C)):
            d, q = 2 ** i, p[f"tc_{b}"][f"dense_{i}"]
            w_now, w_past = np.split(np.asarray(q["taps"]["kernel"], np.float64), 2, axis=-1)
            shifted = np.concatenate([np.zeros((d, x.shape[1])), x])[:len(x)]  # x_{t-d}, 0-pad
            pre = x @ w_now + shifted @ w_past + np.asarray(q["bias"], np.float64)
            a, g = np.split(pre, 2, axis=-1)
            x = np.concatenate([x, np.tanh(a) * _sigmoid(g)], axis=-1)
    att = p["attention"]
    query, key, value = np.split(_dense(att["qkv"], x), 3, axis=-1)  # key = value size
    reads = []
    for t in range(len(x)):
        lo = max(0, t - C + 1)  # own trial, last C steps, up to and including t
        scores = key[lo:t + 1] @ query[t] / math.sqrt(query.shape[-1])
        w = np.exp(scores - scores.max())
        reads.append((w / w.sum()) @ value[lo:t + 1])
    return np.concatenate([x, np.stack(reads)], axis=-1)


def _reference(params, obs, reset):
    """Logits ``[T, N, A]`` and values ``[T, N]``: each trial processed from scratch."""
    p = params["params"]
    obs, reset = np.asarray(obs, np.float64), np.asarray(reset)
    logits, values = np.zeros(obs.shape[:2] + (3,)), np.zeros(obs.shape[:2])
    for n in range(obs.shape[1]):
        starts = sorted({0} | set(np.flatnonzero(reset[:, n]).tolist())) + [obs.shape[0]]
        for a, b in itertools.pairwise(starts):
            logits[a:b, n] = _dense(p["logits"], _ref_torso(p["policy"], obs[a:b, n]))
            values[a:b, n] = _dense(p["value_head"], _ref_torso(p["value"], obs[a:b, n]))[:, 0]
    return logits, values


def test_num_dense_blocks_is_ceil_log2():
    for t in (1, 2, 3, 4, 5, 10, 100, 500, 512, 513, 1000):
        assert snail.num_dense_blocks(t) == math.ceil(math.log2(t)), t
    # The seed's natural log gives 7 blocks for a 500-pull trial: receptive field 128 < 500.
    assert math.ceil(math.log(500)) == 7 and snail.num_dense_blocks(500) == 9
    with pytest.raises(ValueError, match="context_length: expected a positive int, got 0"):
        snail.num_dense_blocks(0)


def test_sequence_call_matches_paper_reference(setup):
    apply, params, obs, reset, initial_hidden = setup
    _, logits, value = apply(params, initial_hidden(N), obs, reset)
    ref_logits, ref_value = _reference(params, obs, reset)
    np.testing.assert_allclose(logits, ref_logits, atol=1e-5)
    np.testing.assert_allclose(value, ref_value, atol=1e-5)


def _run_chunks(apply, params, hidden, obs, reset, size):
    outs = []
    for t in range(0, obs.shape[0], size):
        hidden, logits, value = apply(params, hidden, obs[t:t + size], reset[t:t + size])
        outs.append((logits, value))
    return hidden, jnp.concatenate([o[0] for o in outs]), jnp.concatenate([o[1] for o in outs])


def test_steps_equal_sequence_from_any_cache(setup):
    """From a mid-trial cache: one call == single steps == two chunks (resets inside)."""
    apply, params, obs, reset, initial_hidden = setup
    # A cache 6 steps into a trial (and 6 steps of clock: rings not aligned to 0).
    prefix = jax.random.normal(jax.random.PRNGKey(3), (6, N, D))
    prefix_reset = jnp.zeros((6, N), bool).at[0].set(True)
    hidden0, _, _ = apply(params, initial_hidden(N), prefix, prefix_reset)
    reset_mid = reset.at[0].set(False)  # continue the prefix's trial
    h_seq, logits_seq, value_seq = apply(params, hidden0, obs, reset_mid)
    for size in (1, 6):
        h, logits, value = _run_chunks(apply, params, hidden0, obs, reset_mid, size)
        np.testing.assert_allclose(logits, logits_seq, atol=1e-5)
        np.testing.assert_allclose(value, value_seq, atol=1e-5)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), h, h_seq)
    # And both equal the reference run over prefix + sequence.
    full_obs = jnp.concatenate([prefix, obs])
    full_reset = jnp.concatenate([prefix_reset, reset_mid])
    ref_logits, ref_value = _reference(params, full_obs, full_reset)
    np.testing.assert_allclose(logits_seq, ref_logits[6:], atol=1e-5)
    np.testing.assert_allclose(value_seq, ref_value[6:], atol=1e-5)


def test_causal_masking_and_trial_isolation(setup):
    """d logits[t, n] / d obs[s, m] is exactly 0 unless s <= t in the same trial of n = m."""
    apply, params, obs, reset, initial_hidden = setup
    f = lambda o: apply(params, initial_hidden(N), o, reset)[1]
    jac = np.abs(np.asarray(jax.jit(jax.jacrev(f))(obs))).sum(axis=(2, 5))  # [T, N, T, N]
    trial = np.cumsum(np.asarray(reset), axis=0)                            # [T, N]
    for t in range(T):
        for n in range(N):
            for s in range(T):
                readable = s <= t and trial[s, n] == trial[t, n]
                if readable:
                    assert jac[t, n, s, n] > 1e-7, (t, n, s)
                else:
                    assert jac[t, n, s, n] == 0.0, (t, n, s)
            others = [m for m in range(N) if m != n]
            assert np.all(jac[t, n, :, others] == 0.0)


def test_reset_empties_any_cache(setup):
    """After a reset, outputs do not depend on the cache contents or the earlier inputs."""
    apply, params, obs, reset, initial_hidden = setup
    reset6 = reset.at[6].set(True)
    _, logits_a, value_a = apply(params, initial_hidden(N), obs, reset6)
    rng = np.random.default_rng(6)
    junk = jax.tree.map(lambda x: rng.normal(size=x.shape).astype(np.float32),
                        initial_hidden(N))
    junk = junk._replace(clock=jnp.array([3, 9, 0], jnp.int32),
                         length=jnp.full((N,), C, jnp.int32))
    obs_b = np.asarray(obs).copy()
    obs_b[:6] = rng.normal(size=(6, N, D))
    _, logits_b, value_b = apply(params, junk, obs_b, reset6)
    np.testing.assert_allclose(logits_a[6:], logits_b[6:], atol=1e-5)
    np.testing.assert_allclose(value_a[6:], value_b[6:], atol=1e-5)
    # Without the reset at 0 the junk cache is read: memory exists.
    _, logits_c, _ = apply(params, junk, obs, reset6.at[0].set(False))
    assert not np.allclose(logits_a[:6], logits_c[:6], atol=1e-4)


def _tc_new_features_jacobian(context_length, steps):
    """|d y_{T-1} / d x_0| of one TC block alone (y = the block's new features)."""
    width = 2
    block = snail.TCBlock(context_length, width)
    timing = snail._Timing(jnp.zeros((1,), jnp.int32), jnp.arange(steps)[:, None])
    cached = [jnp.zeros((min(d, steps), 1, 2 * width)) for d in snail._dilations(context_length)]
    x = jax.random.normal(jax.random.PRNGKey(8), (steps, 1, 3))

    params = _random_params(jax.eval_shape(block.init, jax.random.PRNGKey(9), x, cached,
                                           timing), seed=9)
    f = lambda x_: block.apply(params, x_, cached, timing)[0][-1, 0, 3:]
    return np.abs(np.asarray(jax.jit(jax.jacrev(f))(x))[:, 0, 0, :]).sum()


def test_tc_block_receptive_field_covers_the_trial():
    # T = 17 needs ceil(log2 17) = 5 blocks (receptive field 32): step 16 sees step 0.
    assert _tc_new_features_jacobian(17, 17) > 1e-6
    # One block fewer (receptive field 16) does not reach back 16 steps; the seed's
    # ceil(ln 17) = 3 blocks would reach only 8.
    assert snail.num_dense_blocks(16) == 4
    assert _tc_new_features_jacobian(16, 17) == 0.0


def test_masked_attention_hand_case():
    """Two steps, key_size 2: scores are 0 and ln 3, so the second query weighs 1/4, 3/4."""
    r = math.sqrt(2) * math.log(3)
    query = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    keys = jnp.array([[0.0, 0.0], [r, r]])
    values = jnp.array([[1.0], [5.0]])
    causal = jnp.array([[True, False], [True, True]])
    read, weights = masked_attention(query, keys, values, causal)
    np.testing.assert_allclose(weights, [[1.0, 0.0], [0.25, 0.75]], atol=1e-6)
    np.testing.assert_allclose(read, [[1.0], [4.0]], atol=1e-5)
    # Normalised over keys (rows); a softmax over queries (the seed's) would make the
    # columns sum to 1 instead: here column 0 sums to 1.25.
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-6)
    assert abs(float(weights[:, 0].sum()) - 1.25) < 1e-6


def test_module_attention_weights_sum_to_one_over_readable_keys(setup):
    _, params, obs, reset, initial_hidden = setup
    apply = jax.jit(functools.partial(_net().apply, mutable=["intermediates"]))
    _, state = apply(params, initial_hidden(N), obs, reset)
    for torso in ("policy", "value"):
        (weights,) = state["intermediates"][torso]["attention"]["weights"]  # [N, T, C + T]
        weights = np.asarray(weights)
        assert weights.shape == (N, T, C + T)
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-6)
        assert np.all(weights[:, :, :C] == 0.0)        # empty initial cache: unreadable
        new = weights[:, :, C:]
        assert np.all(np.triu(new, k=1) == 0.0)        # no future keys
        assert np.all(new[0, 7:, :7] == 0.0)           # env 0: no keys of the first trial
        assert np.all(new[1, 11, :5] == 0.0) and np.all(new[1, 11, 5:] > 0)  # window of C


def test_minibatch_slice_of_the_cache(setup):
    """The PPO loop slices the cache with tree.map(h[idx]): rows behave as their envs."""
    apply, params, obs, reset, initial_hidden = setup
    hidden, _, _ = apply(params, initial_hidden(N), obs[:6], reset[:6])
    _, logits_all, _ = apply(params, hidden, obs[6:], reset[6:])
    idx = jnp.array([2, 0, 1])
    sub = jax.tree.map(lambda h: h[idx], hidden)
    _, logits_sub, _ = apply(params, sub, obs[6:, idx], reset[6:, idx])
    np.testing.assert_allclose(logits_sub, logits_all[:, idx], atol=1e-6)


def test_cache_survives_a_checkpoint(setup, tmp_path):
    apply, params, obs, reset, initial_hidden = setup
    hidden, _, _ = apply(params, initial_hidden(N), obs, reset)
    ckpt = Checkpointer(str(tmp_path / "ckpt"))
    ckpt.save(1, {"hidden": hidden}, {"x": np.zeros(1)})
    restored, _ = ckpt.restore(1, {"hidden": jax.eval_shape(lambda: initial_hidden(N))})
    ckpt.close()
    assert isinstance(restored["hidden"], snail.SnailCache)
    jax.tree.map(np.testing.assert_array_equal, restored["hidden"], hidden)


@pytest.mark.parametrize("kw, message", [
    ({"context_length": 0}, "context_length: expected a positive int, got 0"),
    ({"policy_width": -1}, "policy_width: expected a positive int, got -1"),
    ({"non_linearity": "softplus"}, "non_linearity"),
])
def test_bad_settings_are_rejected(kw, message):
    args = {"num_actions": 3, "context_length": C, **kw}
    with pytest.raises(ValueError, match=message):
        SNAILActorCritic(**args)
