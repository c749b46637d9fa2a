"""Networks: shapes, and that the GRU state really resets at trial starts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.common.networks import GRUActorCritic, MLPActorCritic, value_activation


def test_gru_reset_zeroes_memory():
    net = GRUActorCritic(num_actions=3, hidden_size=16)
    key = jax.random.PRNGKey(0)
    obs = jax.random.normal(key, (6, 2, 4))
    reset = jnp.zeros((6, 2), bool).at[0].set(True)
    params = net.init(key, net.initial_hidden(2), obs, reset)
    # A reset at t=3 makes outputs from t=3 on independent of what came before.
    reset3 = reset.at[3].set(True)
    _, logits_a, value_a = net.apply(params, net.initial_hidden(2), obs, reset3)
    obs_b = obs.at[:3].set(jax.random.normal(jax.random.PRNGKey(1), (3, 2, 4)))
    _, logits_b, value_b = net.apply(params, jnp.ones((2, 16)), obs_b, reset3)
    np.testing.assert_allclose(logits_a[3:], logits_b[3:], atol=1e-6)
    np.testing.assert_allclose(value_a[3:], value_b[3:], atol=1e-6)
    # Without the reset, the past does matter (memory exists).
    _, logits_c, _ = net.apply(params, net.initial_hidden(2), obs_b, reset)
    _, logits_d, _ = net.apply(params, net.initial_hidden(2), obs, reset)
    assert not np.allclose(logits_c[3:], logits_d[3:])


def test_stepwise_equals_sequence():
    """Acting one step at a time gives the same outputs as one call over the sequence."""
    net = GRUActorCritic(num_actions=3, hidden_size=8)
    obs = jax.random.normal(jax.random.PRNGKey(2), (5, 3, 4))
    reset = jnp.zeros((5, 3), bool).at[0].set(True).at[2, 1].set(True)
    params = net.init(jax.random.PRNGKey(0), net.initial_hidden(3), obs, reset)
    h_seq, logits_seq, _ = net.apply(params, net.initial_hidden(3), obs, reset)
    h = net.initial_hidden(3)
    for t in range(5):
        h, logits_t, _ = net.apply(params, h, obs[t:t + 1], reset[t:t + 1])
        np.testing.assert_allclose(logits_t[0], logits_seq[t], atol=1e-5)
    np.testing.assert_allclose(h, h_seq, atol=1e-5)


def test_mlp_shapes_and_value_activation():
    net = MLPActorCritic(num_actions=4, non_linearity="sigmoid")
    obs = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 5)) * 100
    params = net.init(jax.random.PRNGKey(0), net.initial_hidden(3), obs, jnp.zeros((2, 3), bool))
    h, logits, value = net.apply(params, net.initial_hidden(3), obs, jnp.zeros((2, 3), bool))
    assert h.shape == (3, 1) and logits.shape == (2, 3, 4) and value.shape == (2, 3)
    assert bool(jnp.all((value >= 0) & (value <= 1)))


def test_unknown_value_activation_is_rejected():
    with pytest.raises(ValueError, match="non_linearity.*softplus"):
        value_activation("softplus")
