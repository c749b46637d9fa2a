"""The Policy protocol and the one episode evaluator, on an env with hand-computable returns."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs_jax import spaces
from envs_jax.core import Environment, EnvStep
from envs_jax.policy import Policy, as_policy, evaluate_episodes, feed_forward


@struct.dataclass
class CountParams:
    end: jax.Array          # [] int32: the episode terminates after `end` steps


class CountEnv(Environment):
    """obs = [t]; reward = the action (a float); terminates after `params.end` steps."""

    def default_params(self):
        return CountParams(jnp.int32(3))

    def reset(self, key, params):
        return jnp.zeros((1,), jnp.float32), jnp.int32(0)

    def step(self, key, state, action, params):
        t = state + 1
        obs = jnp.full((1,), t, jnp.float32)
        return EnvStep(obs, t, jnp.asarray(action, jnp.float32).reshape(()), t >= params.end,
                       jnp.bool_(False), {"final_obs": obs})

    def observation_space(self, params):
        return spaces.Box(0.0, 100.0, (1,))

    def action_space(self, params):
        return spaces.Box(-10.0, 10.0, ())


def test_returns_stop_at_the_episode_end():
    env = CountEnv()
    policy = feed_forward(lambda key, obs: jnp.full(obs.shape[:1], 2.0))
    out = jax.jit(lambda k: evaluate_episodes(env, env.default_params(), policy, k, 4, 10)
                  )(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(out.returns, [6.0] * 4)        # 3 steps x reward 2
    np.testing.assert_array_equal(out.lengths, [3] * 4)


def test_one_task_per_episode_and_max_steps():
    env = CountEnv()
    params = CountParams(jnp.array([1, 2, 5, 9], jnp.int32))     # [E]
    policy = as_policy(lambda key, obs: obs[0] + 1.0)             # reward t + 1 at step t
    out = evaluate_episodes(env, params, policy, jax.random.PRNGKey(1), 4, 6,
                            params_batched=True)
    # Episode lengths min(end, 6); return 1 + 2 + ... + length.
    np.testing.assert_array_equal(out.lengths, [1, 2, 5, 6])
    np.testing.assert_array_equal(out.returns, [1.0, 3.0, 15.0, 21.0])


def test_recurrent_policy_sees_reset_on_the_first_step_only():
    env = CountEnv()

    def act(hidden, obs, reset, key):
        hidden = jnp.where(reset, 0.0, hidden + 1.0)               # steps since reset
        return hidden, hidden
    policy = Policy(lambda n: jnp.zeros((n,)), act)
    out = evaluate_episodes(env, CountParams(jnp.int32(4)), policy, jax.random.PRNGKey(2), 2, 8)
    np.testing.assert_array_equal(out.returns, [0.0 + 1 + 2 + 3] * 2)
