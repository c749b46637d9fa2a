"""AMP imitates a scripted expert on gymnax Pendulum-v1 with ZERO task reward.

Demos: 64 episodes (12,800 pairs) of ``envs_jax.experts.pendulum_swingup`` (mean return
about -141). AMP sees only the style reward (``task_reward_w = 0``). The test compares the
states the policy visits with the expert's on the same 64 random starts x 200 steps, by
the squared kernel MMD (Gaussian kernel, bandwidth 0.5, on (cos, sin, thetadot / 4)):
0 for identical distributions, about 0.73 for the untrained policy. The env's return is
reported as a side effect of imitating, never optimised.

Measured (2-core CPU shared with 3 other jobs, 4 seeds of this config vmapped, 50 updates
x 10 epochs): MMD^2 0.004-0.011 with the mean action (untrained 0.73), returns -212 to
-250 (expert -147 on these starts, untrained -1218); one seed here takes about 20 s to
train after a 30-50 s compile.
"""

import jax
import jax.numpy as jnp
import numpy as np

import envs_jax
from envs_jax.experts import pendulum_swingup
from envs_jax.policy import feed_forward, init_carry, rollout
from envs_jax.wrappers import AutoReset, RecordEpisodeStats, VecEnv
from purerl.algos import amp, ppo
from purerl.common.evaluate import network_policy
from purerl.common.networks import GaussianActorCritic

PPO = ppo.PPOConfig(num_envs=32, num_steps=64, num_updates=50, num_minibatches=8,
                    update_epochs=10, learning_rate=1e-3, gamma=0.95, gae_lambda=0.95,
                    ent_coef=0.0, clip_value=False, normalize_obs=True, normalize_value=True,
                    max_grad_norm=0.5)
AMP = amp.AMPConfig(amp_obs_demo_buffer_size=8192, amp_replay_buffer_size=16384,
                    amp_batch_size=512, amp_minibatch_size=256, disc_units=(64, 64),
                    disc_coef=1.0, disc_grad_penalty=1.0, task_reward_w=0.0,
                    disc_reward_w=1.0)
EPISODES, STEPS = 64, 200


def visited_states(env, params, policy, key):
    """``(obs [E * T, 3], mean return)`` of ``policy`` over E episodes of T steps."""
    vec = VecEnv(AutoReset(RecordEpisodeStats(env)), EPISODES)
    key_reset, key_run = jax.random.split(key)
    carry = init_carry(vec, params, policy, key_reset, EPISODES)
    _, tr = rollout(vec, params, policy, carry, key_run, STEPS)
    return tr.obs.reshape(-1, 3), tr.reward.sum(0).mean()


def mmd2(x, y, bandwidth=0.5):
    """Biased squared MMD with a Gaussian kernel on (cos, sin, thetadot / 4), every 4th state."""
    def feats(o):
        return jnp.stack([o[::4, 0], o[::4, 1], o[::4, 2] / 4.0], -1)

    x, y = feats(x), feats(y)

    def k(a, b):
        return jnp.exp(-jnp.sum((a[:, None] - b[None]) ** 2, -1) / (2 * bandwidth ** 2)).mean()

    return k(x, x) + k(y, y) - 2 * k(x, y)


def test_amp_brings_the_state_distribution_to_the_experts():
    env, params = envs_jax.make("gymnax/Pendulum-v1")
    vec = VecEnv(AutoReset(RecordEpisodeStats(env)), PPO.num_envs)
    net = amp.make_net(AMP, GaussianActorCritic(1, (64, 64)), 6)
    make_dist = ppo.action_distribution(env.action_space(params))

    @jax.jit
    def run(key):
        key_demo, key_train, key_eval, key_init = jax.random.split(key, 4)
        pairs = amp.rollout_pairs(env, params, pendulum_swingup, key_demo, 64, 200)
        train = amp.make_train(PPO, AMP, vec, params, net, amp.demo_from_array(pairs))
        state = train(key_train).runner_state
        expert, expert_return = visited_states(
            env, params, feed_forward(lambda k, o: pendulum_swingup(o)), key_eval)

        def score(net_params, obs_stats):
            policy = network_policy(net, net_params, True, make_dist, obs_stats)
            obs, ret = visited_states(env, params, policy, key_eval)
            return mmd2(obs, expert), ret

        untrained = net.init(key_init, net.initial_hidden(1), jnp.zeros((1, 1, 3)),
                             jnp.ones((1, 1), bool))
        return (score(untrained, None), score(state.train_state.params, state.obs_stats),
                expert_return)

    (d0, r0), (d1, r1), r_expert = jax.tree.map(float, run(jax.random.PRNGKey(0)))
    print(f"MMD^2 untrained {d0:.4f} -> trained {d1:.4f}; return untrained {r0:.0f} -> "
          f"trained {r1:.0f} (expert {r_expert:.0f})")
    assert d0 > 0.5, d0                      # the untrained policy hangs and spins
    assert d1 < 0.1 * d0, (d1, d0)           # measured 0.004-0.011 over 4 seeds
    # Side effect of imitating (the task reward had weight 0): it swings up and holds.
    assert r1 > -500.0, r1                   # measured -212 to -250; untrained ~ -1200
    assert np.isfinite([d1, r1]).all()
