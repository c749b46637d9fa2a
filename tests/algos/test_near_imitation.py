"""NEAR imitates a scripted Pendulum swing-up with ZERO task reward (fast tier).

Demonstration pairs come from ``envs_jax.experts.pendulum_swingup`` (mean return -141);
step 1 trains a small energy model on them (ncsnv2 levels 2 -> 0.05, L = 8, 1600
iterations); step 2 is PPO on ``0 * r_task + 1 * tanh((e - m) / 10)`` with ncsnv2-adaptive
annealing (``sigma_level = -1``). The agent's state distribution over
(cos theta, sin theta, theta' / 8) must come closer to the expert's than the untrained
policy's: the squared kernel MMD (Gaussian kernel, bandwidth 0.5, Gretton et al. 2012,
the biased V-statistic) of greedy-policy rollouts against expert rollouts must fall below
HALF of the untrained policy's. The env return (never seen by the agent) is reported and
must beat the untrained policy's by 300.

Measured on the 2-core CPU shared with other jobs (94 s wall, 42 s CPU for the test):
energy model 31 s and PPO 29 s (compiles included); MMD^2 0.845 (untrained) -> 0.007
(trained), return -1242 -> -229 (expert -120), the noise level annealed 0 -> 5.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

import envs_jax
from envs_jax.experts import pendulum_swingup
from envs_jax.policy import feed_forward, init_carry, rollout
from envs_jax.wrappers import vec_env
from purerl.algos import near, ppo
from purerl.algos import near_energy as ne
from purerl.common.evaluate import network_policy
from purerl.common.networks import GaussianActorCritic

ENV = "gymnax/Pendulum-v1"
ENERGY = ne.EnergyConfig(in_dim=6, encoder_hidden_layers=(64,), latent_space_dim=64,
                         decoder_hidden_layers=(64,), sigma_begin=2.0, sigma_end=0.05,
                         num_levels=8, batch_size=128, buffer_size=2048, num_rounds=100,
                         learning_rate=1e-3, ema_rate=0.99)
PPO = ppo.PPOConfig(num_envs=32, num_steps=64, num_updates=60, num_minibatches=16,
                    update_epochs=10, learning_rate=1e-3, gamma=0.95, ent_coef=0.0,
                    clip_value=False, normalize_obs=True, normalize_value=True)


def features(obs):
    """(cos, sin, theta' / 8): each component in [-1, 1]."""
    return jnp.concatenate([obs[..., :2], obs[..., 2:] / 8.0], axis=-1).reshape(-1, 3)


def mmd2(x, y, bandwidth=0.5):
    """Biased squared MMD with k(a, b) = exp(-|a - b|^2 / (2 h^2))."""
    k = lambda a, b: jnp.exp(-jnp.sum((a[:, None] - b[None]) ** 2, -1)  # noqa: E731
                             / (2 * bandwidth ** 2)).mean()
    return k(x, x) + k(y, y) - 2 * k(x, y)


def test_near_brings_pendulum_states_to_the_expert_with_zero_task_reward():
    t0 = time.perf_counter()
    demos = ne.expert_demo_pairs(ENV, pendulum_swingup, jax.random.PRNGKey(1), 16, 400)
    parts = ne.make_energy_train_parts(ENERGY, ne.array_sampler(demos))
    energy_state, energy_metrics = jax.jit(
        lambda k: parts.run_updates(parts.init(k), ENERGY.num_rounds))(jax.random.PRNGKey(0))
    loss = np.asarray(energy_metrics["dsm_loss"])
    assert loss[-10:].mean() < 0.5 * loss[:3].mean()
    model = ne.EnergyModel(ENERGY, ne.FrozenEnergy(energy_state.ema_params,
                                                   energy_state.norm_stats,
                                                   jnp.asarray(ENERGY.sigmas)))
    t_energy = time.perf_counter() - t0

    env, env_params = envs_jax.make(ENV)
    net = GaussianActorCritic(1, (64, 64))
    hooks = near.make_hooks(near.NEARConfig(task_reward_w=0.0, energy_reward_w=1.0,
                                            sigma_level=-1), model, 3,
                            (PPO.num_steps, PPO.num_envs))
    train = ppo.make_train_parts(PPO, vec_env(ENV, env, PPO.num_envs), env_params, net,
                                 **hooks)
    start = train.init(jax.random.PRNGKey(0))
    final, metrics = jax.jit(lambda s: train.run_updates(s, PPO.num_updates))(start)
    t_ppo = time.perf_counter() - t0 - t_energy

    vec = vec_env(ENV, env, 16)
    make_dist = ppo.action_distribution(env.action_space(env_params))

    @jax.jit
    def states(params, obs_stats):
        policy = network_policy(net, params, True, make_dist, obs_stats)
        carry = init_carry(vec, env_params, policy, jax.random.PRNGKey(7), 16)
        _, traj = rollout(vec, env_params, policy, carry, jax.random.PRNGKey(8), 200)
        return features(traj.obs), traj.reward.sum(0).mean()

    expert = feed_forward(lambda k, obs: pendulum_swingup(obs))
    carry = init_carry(vec, env_params, expert, jax.random.PRNGKey(9), 16)
    expert_traj = rollout(vec, env_params, expert, carry, jax.random.PRNGKey(10), 200)[1]
    expert_x = features(expert_traj.obs)
    before_x, before_ret = states(start.train_state.params, start.obs_stats)
    after_x, after_ret = states(final.train_state.params, final.obs_stats)
    before, after = float(mmd2(before_x, expert_x)), float(mmd2(after_x, expert_x))
    levels = np.asarray(metrics["extra/near_level"])
    print(f"\nNEAR Pendulum: energy {t_energy:.0f} s, PPO {t_ppo:.0f} s; MMD^2 to the expert "
          f"{before:.3f} (untrained) -> {after:.3f} (trained); return {float(before_ret):.0f}"
          f" -> {float(after_ret):.0f} (expert {float(expert_traj.reward.sum(0).mean()):.0f});"
          f" sigma level {levels[0]:.0f} -> {levels[-1]:.0f}")
    assert after < 0.5 * before, (before, after)
    assert float(after_ret) > float(before_ret) + 300.0, (before_ret, after_ret)
    assert levels[-1] > levels[0]                     # the adaptive rule annealed
    assert np.isfinite(np.asarray(metrics["extra/near_style_reward"])).all()
