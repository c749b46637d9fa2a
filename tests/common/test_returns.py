"""GAE against a plain python-loop reference, with termination and truncation."""

import jax.numpy as jnp
import numpy as np
import pytest

from purerl.common.returns import gae


def gae_reference(reward, value, next_value, terminated, truncated, gamma, lam):
    """Textbook GAE for one env, written as a python loop over time."""
    T = len(reward)
    adv = np.zeros(T)
    running = 0.0
    for t in reversed(range(T)):
        bootstrap = 0.0 if terminated[t] else gamma * next_value[t]
        delta = reward[t] + bootstrap - value[t]
        if terminated[t] or truncated[t]:
            running = 0.0  # the next step belongs to another episode
        running = delta + gamma * lam * running
        adv[t] = running
    return adv, adv + value


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.95, 1.0])
def test_gae_matches_python_loop_with_truncation(lam):
    rng = np.random.default_rng(0)
    T, N, gamma = 37, 5, 0.97
    reward = rng.normal(size=(T, N)).astype(np.float32)
    value = rng.normal(size=(T, N)).astype(np.float32)
    next_value = rng.normal(size=(T, N)).astype(np.float32)
    terminated = rng.random((T, N)) < 0.1
    truncated = (rng.random((T, N)) < 0.1) & ~terminated
    adv, targets = gae(jnp.asarray(reward), jnp.asarray(value), jnp.asarray(next_value),
                       jnp.asarray(terminated), jnp.asarray(terminated | truncated), gamma, lam)
    for n in range(N):
        ref_adv, ref_targets = gae_reference(reward[:, n], value[:, n], next_value[:, n],
                                             terminated[:, n], truncated[:, n], gamma, lam)
        np.testing.assert_allclose(adv[:, n], ref_adv, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(targets[:, n], ref_targets, rtol=1e-5, atol=1e-5)


def test_gae_hand_computed():
    # Two steps, gamma=0.5, lambda=1: r=(1, 2), V=(0, 0).
    # Truncated at t=1 with V(final_obs)=4: A_1 = 2 + 0.5*4 = 4; A_0 = 1 + 0.5*0 + 0.5*A_1 = 3.
    # Terminated at t=1 instead: A_1 = 2; A_0 = 1 + 0.5*2 = 2.
    r = jnp.array([1.0, 2.0])
    v = jnp.zeros(2)
    nv = jnp.array([0.0, 4.0])
    f, t = jnp.array([False, False]), jnp.array([False, True])
    adv, _ = gae(r, v, nv, f, t, 0.5, 1.0)
    np.testing.assert_allclose(adv, [3.0, 4.0])
    adv, _ = gae(r, v, nv, t, t, 0.5, 1.0)
    np.testing.assert_allclose(adv, [2.0, 2.0])


def test_gae_cuts_at_episode_end():
    # Reward only after a boundary must not leak into the earlier episode.
    r = jnp.array([0.0, 0.0, 10.0])
    z = jnp.zeros(3)
    done = jnp.array([False, True, False])
    adv, _ = gae(r, z, z, done, done, 0.99, 1.0)
    np.testing.assert_allclose(adv[:2], [0.0, 0.0])
    assert float(adv[2]) == pytest.approx(10.0)
