"""Generalised Advantage Estimation with termination and truncation kept apart."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(
    reward: jax.Array,
    value: jax.Array,
    next_value: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    gamma: float | jax.Array,
    gae_lambda: float | jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """GAE(gamma, lambda) advantages and value targets, scanned backwards over time.

    Source: Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized
    Advantage Estimation", eq. 16, with the episode-boundary handling of Brax's
    ``compute_gae``: the TD error bootstraps unless the step *terminated*, and the
    lambda-recursion stops at any episode end (*terminated or truncated*).

        delta_t = r_t + gamma * (1 - terminated_t) * next_value_t - value_t
        A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}

    ``next_value_t`` must be V(s_{t+1}) of the *true* next state, i.e. the value of
    ``info["final_obs"]`` when the episode ended at t (so truncated episodes bootstrap).
    For RL^2 the "episode" is the whole trial: pass trial-level flags so the recursion
    runs across the episodes inside a trial and is cut at trial boundaries.

    Args:
        reward: ``[T, ...]`` float rewards r_t.
        value: ``[T, ...]`` V(s_t).
        next_value: ``[T, ...]`` V(s_{t+1}) (value of the final obs at episode ends).
        terminated: ``[T, ...]`` bool, s_{t+1} is terminal.
        done: ``[T, ...]`` bool, terminated or truncated at t.
        gamma: discount.
        gae_lambda: GAE lambda (the seed project's ``tau``).

    Returns:
        ``(advantages, targets)``, both ``[T, ...]`` float32; ``targets = advantages + value``.
    """
    not_term = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - done.astype(jnp.float32)
    deltas = reward + gamma * not_term * next_value - value

    def backward(adv_next, xs):
        delta, nd = xs
        adv = delta + gamma * gae_lambda * nd * adv_next
        return adv, adv

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(value[0]), (deltas, not_done), reverse=True
    )
    return advantages, advantages + value
