"""The PPO CLI's env stack: ``CachedAutoReset`` for MJX tasks, ``AutoReset`` elsewhere.

Constructing an MJX env object is cheap (MJCF load + ``put_model``); nothing here compiles
MJX physics: the wrapper choice is checked on the built objects, and the one stepped env is
a bandit.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.wrappers import (AutoReset, CachedAutoReset, RecordEpisodeStats, VecEnv, Wrapper,
                               is_mjx_env, vec_env)
from purerl.cli import ppo as ppo_cli


def _auto_reset_of(vec: VecEnv):
    assert isinstance(vec, VecEnv)
    auto = vec.env
    assert isinstance(auto.env, RecordEpisodeStats)  # stats inside the auto-reset
    return auto


def test_bandit_keeps_auto_reset():
    env, _ = envs_jax.make("bernoulli_bandit_trial")
    assert not is_mjx_env("bernoulli_bandit_trial", env)
    vec = vec_env("bernoulli_bandit_trial", env, num_envs=3)
    assert type(_auto_reset_of(vec)) is AutoReset and vec.num_envs == 3


@pytest.mark.parametrize("env_id", ["halfcheetah", "ant"])
def test_mjx_task_gets_cached_auto_reset(env_id):
    env, _ = envs_jax.make(env_id)  # builds the mjx.Model; compiles nothing
    assert is_mjx_env(env_id, env)
    vec = vec_env(env_id, env, num_envs=2)
    assert type(_auto_reset_of(vec)) is CachedAutoReset
    # An MjxEnv under another id (e.g. registered by a user), bare or wrapped, is found too.
    assert is_mjx_env("my-task", env)
    assert is_mjx_env("my-task", Wrapper(Wrapper(env)))
    bandit, _ = envs_jax.make("bernoulli_bandit")
    assert not is_mjx_env("my-task", Wrapper(bandit))


def test_cached_stack_restores_first_state_with_zeroed_stats():
    # The CachedAutoReset stack the CLI builds, on a cheap env: after an episode ends the
    # state is the cached initial one and the episode counters restart at 0.
    env, params = envs_jax.make("bernoulli_bandit_trial", num_episodes=1)
    stack = CachedAutoReset(RecordEpisodeStats(env))
    obs0, state = jax.jit(stack.reset)(jax.random.key(0), params)
    ts = jax.jit(stack.step)(jax.random.key(1), state, jnp.int32(0), params)
    assert bool(ts.terminated | ts.truncated)  # one-episode trial of one pull: done
    assert int(ts.info["episode_length"]) == 1
    np.testing.assert_array_equal(np.asarray(ts.obs), np.asarray(obs0))
    assert int(ts.state.env_state.episode_length) == 0
    for a, b in zip(jax.tree.leaves(ts.state.env_state), jax.tree.leaves(state.first_state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_build_gives_box_envs_a_gaussian_policy():
    """``purerl-ppo --env_id gymnax/Pendulum-v1`` builds a diagonal-Gaussian PPO (traced)."""
    parts = ppo_cli.build(ppo_cli.Args(env_id="gymnax/Pendulum-v1", num_envs=4, num_steps=8,
                                       num_minibatches=2, hidden_size=16))
    state = jax.eval_shape(parts.init, jax.random.PRNGKey(0))
    _, metrics = jax.eval_shape(lambda s: parts.run_updates(s, 1), state)
    assert metrics["pg_loss"].shape == (1,)
    with pytest.raises(ValueError, match=r"model_type: expected mlp for a Box action space"):
        ppo_cli.build(ppo_cli.Args(env_id="gymnax/Pendulum-v1", model_type="gru"))
