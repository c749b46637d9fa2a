"""Scripted experts reach their documented return."""

import jax
import numpy as np

import envs_jax
from envs_jax.experts import PENDULUM_SWINGUP_RETURN, pendulum_swingup
from envs_jax.policy import evaluate_episodes, feed_forward


def test_pendulum_swingup_return():
    env, params = envs_jax.make("gymnax/Pendulum-v1")
    policy = feed_forward(lambda key, obs: pendulum_swingup(obs))
    stats = jax.jit(lambda k: evaluate_episodes(env, params, policy, k, 200, 200))(
        jax.random.PRNGKey(0))
    assert abs(float(stats.returns.mean()) - PENDULUM_SWINGUP_RETURN) < 10.0
    # every episode swings up: the worst start costs at most ~370 (a uniform policy ~1200)
    assert float(stats.returns.min()) > -400.0
    torque = pendulum_swingup(np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.1]], np.float32))
    assert torque.shape == (2, 1) and abs(float(torque[0, 0])) < 1e-6   # at rest on top
    assert float(torque[1, 0]) == 2.0                     # hanging, moving: full push along
