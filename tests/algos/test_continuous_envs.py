"""Continuous PPO builds and traces on every Box-action env we ship: the gymnax control
tasks through the adapter and every MJX task (behind ``CachedAutoReset``).

Each update is traced with ``jax.eval_shape`` (shapes, dtypes and the env's own checks run;
nothing is compiled). Tracing an MJX step still takes tens of seconds on the 2-core CPU, so
the fast tier traces one MJX task (halfcheetah) and the slow tier the others.
"""

import jax
import pytest

import envs_jax
from envs_jax.wrappers import CachedAutoReset
from purerl.cli import ppo as ppo_cli

FAST = ["gymnax/Pendulum-v1", "gymnax/MountainCarContinuous-v0", "halfcheetah"]
BOX_ENVS = FAST + [pytest.param(e, marks=pytest.mark.slow)
                   for e in envs_jax.MJX_ENV_IDS if e not in FAST]


@pytest.mark.parametrize("env_id", BOX_ENVS)
def test_ppo_traces_on_box_env(env_id):
    args = ppo_cli.Args(env_id=env_id, num_envs=2, num_steps=4, num_updates=2,
                        num_minibatches=2, update_epochs=1, hidden_sizes=(8,),
                        normalize_obs=True, normalize_value=True, lr_schedule="adaptive",
                        eval_every=1, eval_episodes=1, eval_max_steps=3)
    setup = ppo_cli.build_setup(args)
    state = jax.eval_shape(setup.parts.init, jax.random.PRNGKey(0))
    _, metrics = jax.eval_shape(lambda s: setup.parts.run_updates(s, 1), state)
    assert metrics["pg_loss"].shape == metrics["eval/return"].shape == (1,)
    assert "kl" in metrics and "bounds_loss" in metrics
    if env_id in envs_jax.MJX_ENV_IDS:   # the stack build_setup uses for MJX tasks
        assert isinstance(ppo_cli.vec_env(env_id, setup.env, 2).env, CachedAutoReset)
