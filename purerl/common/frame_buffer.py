"""A uint8 replay buffer for stacked image observations that stores every frame once.

A pixel transition ``(obs, action, reward, next_obs, terminated)`` with ``k``-frame stacks
holds ``2 k`` frames, but consecutive transitions of an episode share ``k - 1`` of their
frames and ``next_obs`` of one is ``obs`` of the next (shifted). SAC+AE's buffer stores both
stacks (``2 x 9 x 84 x 84`` bytes = 127 kB a transition, 127 GB at capacity 1e6: the
seed's known defect 7). This buffer keeps, per env, one ring of single frames and one ring
of transitions pointing into it, and rebuilds both stacks when sampling:

* frames ``[N, F, H, W, C]`` uint8: the newest frame of every observation an env produced,
  in order: ``start_episode`` writes the first observation's, each ``add`` the newest frame
  of the transition's ``next_obs`` (the true final observation at an episode end). Frame
  ``i`` of the ring has the unwrapped number ``i + F * wraps`` (int32 counters: < 2^31
  frames per env).
* transitions ``[N, T]``: action, reward, terminated, ``obs_frame`` (number of the newest
  frame of ``obs``) and ``start_frame`` (number of its episode's first frame).

``obs`` is frames ``max(p - k + 1 + j, s)``, ``j = 0..k-1`` (p = obs_frame, s = start_frame):
the stack repeats the episode's first frame before it, exactly as ``envs_jax.wrappers
.FrameStack`` does on reset; ``next_obs`` is frames ``max(p - k + 2 + j, s)``, its newest
frame ``p + 1`` being the one written with the transition. Stacks come out channels last,
oldest frame first: ``[B, H, W, k * C]`` (FrameStack's layout).

Sizes: ``T = ceil(capacity / N)`` transitions per env. An episode of L >= ``min_episode_length``
steps writes L + 1 frames, so the frames that the T stored transitions need fit in
``F = T + ceil(T / L) + k + 2`` slots (one spare: ``start_episode`` with ``where`` false
writes into the next free slot and keeps nothing). Memory per transition is about
``H W C (1 + 1/L) + 4 A + 13`` bytes: for 84x84 RGB, k = 3, L = 250 (cheetah-run, R = 4),
A = 6 it is 21,277 bytes (6x less than one 9 x 84 x 84 stack, 6x less than the seed's 2
stacks): capacity 1e5 takes 2.13 GB per seed, 1e6 21.3 GB per seed; N vmapped seeds take N
times that (``buffer_bytes``). Episodes shorter than ``min_episode_length`` would write
frames faster than sized for and overwrite frames of the oldest transitions: pass the
shortest episode length the env can produce (DMC tasks never terminate: their length).

Why not flashbax: its item/flat buffers store whole items (both stacks), and its trajectory
buffer samples fixed-length windows of a time axis without the episode-start clamping and
the two-frame writes at episode ends that make the reset stack and the final observation
exact; indexing single frames needs the pointers above, which is this file.

Uniform sampling with replacement over the stored transitions of all N envs (each env
holds the same number). Everything is jittable and vmaps over seeds; ``sample`` before any
``add`` returns zero transitions (gate learning on the count, as SAC+AE's init steps do).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from purerl.config import require

__all__ = ["FrameBuffer", "FrameBufferState", "PixelBatch", "make_frame_buffer"]


class FrameBufferState(NamedTuple):
    """Buffer contents (add a leading seed axis under ``vmap``); see the module docstring.

    Attributes:
        frames: ``[N, F, H, W, C]`` uint8. action: ``[N, T, A]`` float32.
        reward: ``[N, T]`` float32. terminated: ``[N, T]`` bool.
        obs_frame, start_frame: ``[N, T]`` int32 frame numbers of each transition's obs.
        next_frame: ``[N]`` int32, number of the next frame to write.
        current_frame, current_start: ``[N]`` int32, newest frame / episode start of the
            observation the env is at (the next transition's ``obs``).
        count: ``[]`` int32, transitions added per env (unbounded; stored: ``min(count, T)``).
    """

    frames: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    obs_frame: jax.Array
    start_frame: jax.Array
    next_frame: jax.Array
    current_frame: jax.Array
    current_start: jax.Array
    count: jax.Array


class PixelBatch(NamedTuple):
    """Sampled transitions: ``obs``/``next_obs`` ``[B, H, W, k * C]`` uint8, ``action
    [B, A]`` float32, ``reward [B]`` float32, ``terminated [B]`` bool."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminated: jax.Array


class FrameBuffer(NamedTuple):
    """The buffer's pure functions and sizes.

    * ``init() -> state`` (empty);
    * ``start_episode(state, first_frame [N, H, W, C], where=None [N] bool) -> state``: the
      (newest frame of the) first observation of a new episode, for the envs ``where``
      says (default all); call it after ``init`` and after every episode end;
    * ``add(state, action [N, A], reward [N], terminated [N], next_frame [N, H, W, C]) ->
      state``: one transition per env from the current observation; ``next_frame`` is the
      newest frame of the TRUE next observation (``info["final_obs"]`` at an episode end);
    * ``sample(state, key, batch_size) -> PixelBatch``;
    * ``transitions_per_env`` T, ``frame_slots`` F, ``bytes_per_seed`` (device bytes of one
      state: what each vmapped seed costs).
    """

    init: Any
    start_episode: Any
    add: Any
    sample: Any
    transitions_per_env: int
    frame_slots: int
    bytes_per_seed: int


def make_frame_buffer(capacity: int, num_envs: int, frame_shape: tuple[int, ...],
                      action_dim: int, frame_stack: int,
                      min_episode_length: int) -> FrameBuffer:
    """Build the buffer's pure functions (see the module docstring).

    Args:
        capacity: transitions stored over all envs (rounded up to a multiple of N).
        num_envs: N envs adding one transition each per ``add``.
        frame_shape: ``(H, W, C)`` of ONE frame (the stack has ``k * C`` channels).
        action_dim: A.
        frame_stack: k.
        min_episode_length: the shortest episode (in agent steps) the env can produce.

    Raises:
        ValueError: a size that is not a positive integer.
    """
    for name, value in (("capacity", capacity), ("num_envs", num_envs),
                        ("action_dim", action_dim), ("frame_stack", frame_stack),
                        ("min_episode_length", min_episode_length)):
        require(isinstance(value, (int, np.integer)) and value >= 1, name,
                "an integer >= 1", value)
    require(len(frame_shape) == 3, "frame_shape", "(H, W, C)", frame_shape)
    k, n = int(frame_stack), int(num_envs)
    t_cap = -(-int(capacity) // n)
    f_cap = t_cap + math.ceil(t_cap / min_episode_length) + k + 2
    frame_bytes = int(np.prod(frame_shape))
    per_seed = n * (f_cap * frame_bytes + t_cap * (4 * action_dim + 4 + 1 + 8)) + 12 * n + 4

    def init() -> FrameBufferState:
        zeros_t, zeros_n = jnp.zeros((n, t_cap), jnp.int32), jnp.zeros((n,), jnp.int32)
        return FrameBufferState(jnp.zeros((n, f_cap, *frame_shape), jnp.uint8),
                                jnp.zeros((n, t_cap, action_dim), jnp.float32),
                                jnp.zeros((n, t_cap), jnp.float32), jnp.zeros((n, t_cap), bool),
                                zeros_t, zeros_t, zeros_n, zeros_n, zeros_n,
                                jnp.zeros((), jnp.int32))

    def start_episode(s: FrameBufferState, first_frame: jax.Array,
                      where: jax.Array | None = None) -> FrameBufferState:
        begin = jnp.ones((n,), bool) if where is None else where.astype(bool)
        frames = s.frames.at[jnp.arange(n), s.next_frame % f_cap].set(first_frame)
        return s._replace(frames=frames, next_frame=s.next_frame + begin,
                          current_frame=jnp.where(begin, s.next_frame, s.current_frame),
                          current_start=jnp.where(begin, s.next_frame, s.current_start))

    def add(s: FrameBufferState, action, reward, terminated, next_frame) -> FrameBufferState:
        slot = s.count % t_cap
        return FrameBufferState(
            frames=s.frames.at[jnp.arange(n), s.next_frame % f_cap].set(next_frame),
            action=s.action.at[:, slot].set(action.astype(jnp.float32)),
            reward=s.reward.at[:, slot].set(reward.astype(jnp.float32)),
            terminated=s.terminated.at[:, slot].set(terminated.astype(bool)),
            obs_frame=s.obs_frame.at[:, slot].set(s.current_frame),
            start_frame=s.start_frame.at[:, slot].set(s.current_start),
            next_frame=s.next_frame + 1, current_frame=s.next_frame,
            current_start=s.current_start, count=s.count + 1)

    def stack(frames, env, newest, start):              # env, newest, start: [B]
        numbers = jnp.maximum(newest[:, None] - k + 1 + jnp.arange(k), start[:, None])
        picked = frames[env[:, None], numbers % f_cap]    # [B, k, H, W, C]
        picked = jnp.moveaxis(picked, 1, -2)              # [B, H, W, k, C]
        return picked.reshape(*picked.shape[:3], k * frame_shape[2])

    def sample(s: FrameBufferState, key: jax.Array, batch_size: int) -> PixelBatch:
        key_env, key_slot = jax.random.split(key)
        env = jax.random.randint(key_env, (batch_size,), 0, n)
        stored = jnp.maximum(jnp.minimum(s.count, t_cap), 1)
        slot = jax.random.randint(key_slot, (batch_size,), 0, stored)
        p, start = s.obs_frame[env, slot], s.start_frame[env, slot]
        return PixelBatch(stack(s.frames, env, p, start), s.action[env, slot],
                          s.reward[env, slot], stack(s.frames, env, p + 1, start),
                          s.terminated[env, slot])

    return FrameBuffer(init, start_episode, add, sample, t_cap, f_cap, per_seed)
