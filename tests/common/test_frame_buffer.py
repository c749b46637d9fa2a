"""The frame buffer rebuilds exactly the stacks FrameStack gave, across episode ends and
ring wrap-around, storing one frame per transition."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.wrappers import AutoReset, FrameStack, VecEnv
from purerl.common.frame_buffer import make_frame_buffer
from flax import struct

from envs_jax import spaces
from envs_jax.core import Environment, EnvStep


@struct.dataclass
class _Count:
    t: jax.Array


class Counter(Environment):
    """t = t0, t0 + 1, ...; reward 10 t + action; truncated at t = 5; frames [1, 1, 2] = (t, 100 + t)
    (distinct per step and episode position, so a wrong frame shows)."""

    def default_params(self):
        return None

    def reset(self, key, params):           # starts at t0 in {0, 1, 2}: episodes of 3-5 steps
        t0 = jax.random.randint(key, (), 0, 3)
        return jnp.stack([t0, 100 + t0]).astype(jnp.uint8).reshape(1, 1, 2), _Count(t0)

    def step(self, key, state, action, params):
        t = state.t + 1
        obs = jnp.stack([t, 100 + t]).astype(jnp.uint8).reshape(1, 1, 2)
        return EnvStep(obs, _Count(t), (10 * t + action[0]).astype(jnp.float32),
                       jnp.zeros((), bool), t >= 5, {"final_obs": obs})

    def observation_space(self, params):
        return spaces.Box(0, 255, (1, 1, 2), jnp.uint8)


def test_stacks_match_frame_stack_over_episodes_and_wraparound():
    n, k = 2, 3
    env = VecEnv(AutoReset(FrameStack(Counter(), k)), n)      # episodes of 3-5 steps
    buf = make_frame_buffer(capacity=12, num_envs=n, frame_shape=(1, 1, 2), action_dim=1,
                            frame_stack=k, min_episode_length=3)
    assert buf.transitions_per_env == 6 and buf.frame_slots == 6 + 2 + 3 + 2
    obs, state = env.reset(jax.random.key(0), None)
    bstate = buf.start_episode(buf.init(), obs[..., -2:])
    add = jax.jit(buf.add)
    start = jax.jit(buf.start_episode)
    seen = []
    starts = set()
    for t in range(23):                                      # > 4 episodes, ring wraps
        action = jnp.full((n, 1), 0.01 * t)
        ts = env.step(jax.random.key(t), state, action, None)
        bstate = add(bstate, action, ts.reward, ts.terminated, ts.info["final_obs"][..., -2:])
        bstate = start(bstate, ts.obs[..., -2:], ts.done)
        seen.append((np.asarray(obs), np.asarray(action), np.asarray(ts.reward),
                     np.asarray(ts.info["final_obs"])))
        obs, state = ts.obs, ts.state
        starts.add(tuple(np.asarray(ts.done)))
    assert (True, False) in starts or (False, True) in starts  # envs out of phase
    # the last 6 transitions of each env are stored; sample many and look each one up
    batch = jax.jit(buf.sample, static_argnums=2)(bstate, jax.random.key(1), 256)
    recent = seen[-6:]
    hits = set()
    for i in range(256):
        a = float(batch.action[i, 0])
        t = next(j for j, s in enumerate(recent) if abs(s[1][0, 0] - a) < 1e-6)
        o, _, r, nxt = recent[t]
        env_i = [e for e in range(n) if np.array_equal(o[e], batch.obs[i])
                 and float(r[e]) == float(batch.reward[i])]
        assert env_i, "sampled obs is no stack that FrameStack produced"
        np.testing.assert_array_equal(batch.next_obs[i], nxt[env_i[0]])
        hits.add((t, env_i[0]))
    assert {t for t, _ in hits} == set(range(6)) and {e for _, e in hits} == {0, 1}                             # uniform over what is stored
    assert batch.obs.shape == (256, 1, 1, 6) and batch.obs.dtype == jnp.uint8


def test_bytes_per_seed_cheetah_sizes():
    buf = make_frame_buffer(capacity=100_000, num_envs=1, frame_shape=(84, 84, 3),
                            action_dim=6, frame_stack=3, min_episode_length=250)
    per_transition = buf.bytes_per_seed / 100_000
    assert 21_200 < per_transition < 21_300                  # vs 127,008 for 2 stacks
