"""PPO on gymnax envs beyond the flat-vector ones: 2-D boards (bsuite) and MinAtar images.

Every update is traced with ``jax.eval_shape`` (shapes and gymnax's own action checks run,
nothing is compiled), so the whole list stays cheap; one board and one image env also train
a compiled update for real.
"""

import jax
import numpy as np
import pytest

import envs_jax
from envs_jax.wrappers import FlattenObservation, vec_env
from purerl.algos import ppo
from purerl.common.networks import ConvActorCritic, MLPActorCritic

BOARDS = ["gymnax/Catch-bsuite", "gymnax/DeepSea-bsuite", "gymnax/SimpleBandit-bsuite",
          "gymnax/MemoryChain-bsuite", "gymnax/UmbrellaChain-bsuite"]
IMAGES = ["gymnax/Breakout-MinAtar", "gymnax/Asterix-MinAtar", "gymnax/Freeway-MinAtar",
          "gymnax/SpaceInvaders-MinAtar", "gymnax/Seaquest-MinAtar"]
CFG = ppo.PPOConfig(num_envs=4, num_steps=8, num_updates=2, num_minibatches=2,
                    update_epochs=1)


def _parts(env_id):
    env, params = envs_jax.make(env_id)
    actions = env.action_space(params).n
    if env_id in IMAGES:
        net = ConvActorCritic(actions)
    else:
        env = FlattenObservation(env)
        net = MLPActorCritic(actions, (16, 16))
    return ppo.make_train_parts(CFG, vec_env(env_id, env, CFG.num_envs), params, net)


@pytest.mark.parametrize("env_id", BOARDS + IMAGES)
def test_ppo_traces_on_gymnax_env(env_id):
    parts = _parts(env_id)
    state = jax.eval_shape(parts.init, jax.random.PRNGKey(0))
    _, metrics = jax.eval_shape(lambda s: parts.run_updates(s, 1), state)
    assert metrics["pg_loss"].shape == (1,)


@pytest.mark.parametrize("env_id", ["gymnax/Catch-bsuite", "gymnax/Breakout-MinAtar"])
def test_ppo_runs_on_gymnax_env(env_id):
    parts = _parts(env_id)
    _, metrics = jax.jit(lambda k: parts.run_updates(parts.init(k), 2))(jax.random.PRNGKey(0))
    assert all(np.isfinite(np.asarray(v)).all() for v in metrics.values())


def test_flatten_observation_space():
    env, params = envs_jax.make("gymnax/Catch-bsuite")
    flat = FlattenObservation(env)
    space = flat.observation_space(params)
    assert space.shape == (50,) and space.dtype == np.float32
    obs, state = flat.reset(jax.random.PRNGKey(0), params)
    assert obs.shape == (50,) and obs.dtype == np.float32
    ts = flat.step(jax.random.PRNGKey(1), state, 0, params)
    assert ts.obs.shape == ts.info["final_obs"].shape == (50,)
