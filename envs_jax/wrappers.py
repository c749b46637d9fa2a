"""Environment wrappers: auto-reset, episode statistics, vectorisation.

Intended stacking (outermost first; `CachedAutoReset` in place of `AutoReset` for envs
whose reset is expensive, such as the MJX tasks)::

    env = VecEnv(AutoReset(RecordEpisodeStats(base_env)), num_envs)

``RecordEpisodeStats`` sees the un-reset transition and zeroes its counters on ``done``;
``AutoReset`` then swaps the whole state for a fresh reset state (whose counters are
zero too). ``AutoReset(RecordEpisodeStats(env))`` and ``RecordEpisodeStats(AutoReset(env))``
give identical results (tested); ``VecEnv`` goes outermost.
"""

from __future__ import annotations

import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs_jax import spaces
from envs_jax._checks import check_int
from envs_jax.core import Environment, EnvStep


def tree_select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """``jnp.where(pred, a, b)`` leaf by leaf; keeps the pytree structure and dtypes.

    Args:
        pred: ``[]`` bool (scalar: a whole-pytree choice).
        on_true: pytree.
        on_false: pytree with the same structure, shapes and dtypes as ``on_true``.
    """
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class Wrapper(Environment):
    """Base wrapper: forwards every method, and any unknown attribute, to ``env``."""

    def __init__(self, env: Environment):
        self.env = env

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found normally. Guard "env" so that a
        # half-constructed wrapper (e.g. during unpickling) does not recurse forever.
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    @property
    def name(self) -> str:
        return self.env.name

    def default_params(self) -> Any:
        return self.env.default_params()

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        return self.env.reset(key, params)

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> EnvStep:
        return self.env.step(key, state, action, params)

    def observation_space(self, params: Any) -> spaces.Space:
        return self.env.observation_space(params)

    def action_space(self, params: Any) -> spaces.Space:
        return self.env.action_space(params)


class AutoReset(Wrapper):
    """Resets the inner env inside ``step`` when an episode ends.

    On ``done = terminated | truncated`` the returned ``obs`` and ``state`` are those of
    a fresh ``reset`` (key split from the step key); ``terminated``, ``truncated``,
    ``reward`` and ``info["final_obs"]`` (the true last observation) describe the
    finished transition. The reset is computed every step and selected with
    ``jnp.where``, so the state pytree keeps its structure and dtypes (scan-safe).
    """

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> EnvStep:
        key_step, key_reset = jax.random.split(key)
        ts = self.env.step(key_step, state, action, params)
        obs_reset, state_reset = self.env.reset(key_reset, params)
        done = ts.terminated | ts.truncated
        # ts.info["final_obs"] already holds the true last observation: keep it as is.
        return ts._replace(
            obs=tree_select(done, obs_reset, ts.obs),
            state=tree_select(done, state_reset, ts.state),
        )



DMC_ACTION_REPEAT: dict[str, int] = {
    "finger_spin": 2, "walker_walk": 2, "cartpole_swingup": 8, "cheetah_run": 4,
    "reacher_easy": 4, "ball_in_cup_catch": 4,
}
"""Action repeat per DMC task (``domain_task``) of the pixel-RL benchmarks: PlaNet's choice,
used by SAC+AE (Yarats et al. 2019) and reproduced in CURL's Table 3."""


class ActionRepeat(Wrapper):
    """Applies each action ``repeat`` times; one step of this env is ``repeat`` inner steps.

    Rewards of the inner steps are summed; the loop stops early at the first inner step
    with ``terminated | truncated`` (later inner steps are computed, as ``lax.scan`` must,
    but discarded: state, obs, flags and info stay those of the step that ended the
    episode). ``obs`` / ``info["final_obs"]`` are the last inner step's, so an inner env
    that renders pays for ``repeat`` images: render outside this wrapper where that
    matters (``envs_jax.mjx.pixels``). ``info["env_steps"]`` ``[]`` int32 counts the inner
    steps taken. Semantics of dmc2gym's ``DMCWrapper.step`` (``frame_skip``).

    The state is the inner env's state (no wrapper state). ``episode_length`` (when the
    inner env has one) is ``ceil(inner / repeat)`` agent steps, dmc2gym's
    ``max_episode_steps = (1000 + R - 1) // R``; ``dt`` is ``repeat`` x the inner one.

    Args:
        env: the inner env (no auto-reset inside).
        repeat: R >= 1 (``DMC_ACTION_REPEAT`` for the DMC benchmarks).

    Raises:
        ValueError: ``repeat`` is not an integer >= 1.
    """

    def __init__(self, env: Environment, repeat: int):
        super().__init__(env)
        self.repeat = check_int("ActionRepeat", "repeat", repeat, minimum=1)

    @property
    def episode_length(self) -> int:
        return -(-int(self.env.episode_length) // self.repeat)

    @property
    def dt(self) -> float:
        return float(self.env.dt) * self.repeat

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> EnvStep:
        keys = jax.random.split(key, self.repeat)
        ts = self.env.step(keys[0], state, action, params)
        ts = ts._replace(reward=ts.reward.astype(jnp.float32),
                         info={**ts.info, "env_steps": jnp.ones((), jnp.int32)})

        def env_step(ts: EnvStep, key_i: jax.Array):
            new = self.env.step(key_i, ts.state, action, params)
            ended = ts.terminated | ts.truncated
            new = new._replace(reward=ts.reward + new.reward.astype(jnp.float32),
                               info={**new.info, "env_steps": ts.info["env_steps"] + 1})
            return tree_select(ended, ts, new), None

        if self.repeat > 1:
            ts, _ = jax.lax.scan(env_step, ts, keys[1:])
        return ts


@struct.dataclass
class FrameStackState:
    """State of ``FrameStack``: ``env_state`` (inner) and ``stacked`` ``[H, W, k * C]``, the
    observation being returned (the k newest frames, oldest first)."""

    env_state: Any
    stacked: jax.Array


class FrameStack(Wrapper):
    """Stacks the ``k`` newest image observations along the channel axis.

    Channel layout: inner frames ``[H, W, C]`` (channels last, as ``envs_jax.mjx.render``
    and flax convolutions use) give ``[H, W, k * C]`` with frame ``i`` (0 = oldest) at
    channels ``[i * C, (i + 1) * C)``: for RGB, ``[..., 0:3]`` is the oldest frame and
    ``[..., 3k-3:3k]`` the newest. This is dmc2gym/SAC+AE's ``FrameStack`` (channel-first
    ``[k * C, H, W]`` there) with the channel axis moved last. On reset the first frame is
    repeated ``k`` times. ``info["final_obs"]`` is the stack ending in the inner
    ``final_obs``; the inner env must not auto-reset (put auto-reset outside).

    Args:
        env: inner env with ``[H, W, C]`` observations.
        k: frames per observation, >= 1 (SAC+AE: 3).

    Raises:
        ValueError: ``k`` is not an integer >= 1.
    """

    def __init__(self, env: Environment, k: int = 3):
        super().__init__(env)
        self.k = check_int("FrameStack", "k", k, minimum=1)

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, FrameStackState]:
        obs, env_state = self.env.reset(key, params)
        stacked = jnp.concatenate([obs] * self.k, axis=-1)
        return stacked, FrameStackState(env_state, stacked)

    def _push(self, stacked: jax.Array, frame: jax.Array) -> jax.Array:
        return jnp.concatenate([stacked[..., frame.shape[-1]:], frame], axis=-1)

    def step(self, key: jax.Array, state: FrameStackState, action: jax.Array,
             params: Any) -> EnvStep:
        ts = self.env.step(key, state.env_state, action, params)
        stacked = self._push(state.stacked, ts.obs)
        info = {**ts.info, "final_obs": self._push(state.stacked, ts.info["final_obs"])}
        return ts._replace(obs=stacked, state=FrameStackState(ts.state, stacked), info=info)

    def observation_space(self, params: Any) -> spaces.Box:
        """``Box`` of ``[H, W, k * C]`` (inner bounds tiled).

        Raises:
            TypeError: the inner space is not a ``Box``.
        """
        space = self.env.observation_space(params)
        if not isinstance(space, spaces.Box):
            raise TypeError(f"FrameStack: expected a Box observation space, got {space!r}")
        low = np.broadcast_to(np.asarray(space.low), space.shape)
        high = np.broadcast_to(np.asarray(space.high), space.shape)
        shape = (*space.shape[:-1], space.shape[-1] * self.k)
        return spaces.Box(np.concatenate([low] * self.k, -1), np.concatenate([high] * self.k, -1),
                          shape, space.dtype)


class FlattenObservation(Wrapper):
    """Observations ``[*obs_shape]`` (a board, an image) as float32 vectors ``[prod(obs_shape)]``.

    For feed-forward torsos on gymnax's 2-D boards (Catch-bsuite ``[10, 5]`` int32, DeepSea
    ``[8, 8]``) and MinAtar's ``[10, 10, C]`` images. ``info["final_obs"]`` is flattened
    the same way. Requires a ``Box`` observation space.
    """

    def _flat(self, obs: jax.Array) -> jax.Array:
        return jnp.reshape(obs, (-1,)).astype(jnp.float32)

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        obs, state = self.env.reset(key, params)
        return self._flat(obs), state

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> EnvStep:
        ts = self.env.step(key, state, action, params)
        info = {**ts.info, "final_obs": self._flat(ts.info["final_obs"])}
        return ts._replace(obs=self._flat(ts.obs), info=info)

    def observation_space(self, params: Any) -> spaces.Box:
        """The flattened ``Box`` (float32 bounds, element-wise as the inner space's).

        Raises:
            TypeError: the inner observation space is not a ``Box``.
        """
        space = self.env.observation_space(params)
        if not isinstance(space, spaces.Box):
            raise TypeError(f"FlattenObservation: expected a Box observation space, got "
                            f"{space!r}")
        return spaces.Box(np.reshape(space.low, -1), np.reshape(space.high, -1),
                          (int(np.prod(space.shape)),), np.float32)

@struct.dataclass
class CachedResetState:
    """State of ``CachedAutoReset``.

    Attributes:
        env_state: the inner env's current state.
        first_obs: the observation of this env's cached initial state.
        first_state: this env's cached initial state (restored on every episode end).
    """

    env_state: Any
    first_obs: jax.Array
    first_state: Any


class CachedAutoReset(Wrapper):
    """Auto-reset that restores a cached initial state instead of calling ``reset`` per step.

    ``AutoReset`` computes a full ``reset`` at EVERY step (then selects it with
    ``jnp.where``), which is free for tabular envs but not for physics: an MJX reset runs
    a forward pass, and DMC's cheetah-run settles for 200 physics steps. This wrapper calls
    the inner ``reset`` once, in its own ``reset``, keeps that initial state, and on
    ``done`` swaps the cached copy back in: the step costs one inner step plus a select.
    This is the scheme of Brax's ``AutoResetWrapper``.

    Trade-off: every episode of one env starts from the SAME initial state; diversity of
    initial states comes from the batch (each of the ``N`` vectorised envs has its own,
    drawn from its own key) and from calling ``reset`` again, e.g. between training
    segments. Use ``AutoReset`` where each episode must draw a fresh initial state.
    Flags, reward and ``info["final_obs"]`` describe the finished transition, as in
    ``AutoReset``.
    """

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, CachedResetState]:
        obs, state = self.env.reset(key, params)
        return obs, CachedResetState(env_state=state, first_obs=obs, first_state=state)

    def step(self, key: jax.Array, state: CachedResetState, action: jax.Array,
             params: Any) -> EnvStep:
        ts = self.env.step(key, state.env_state, action, params)
        done = ts.terminated | ts.truncated
        return ts._replace(
            obs=tree_select(done, state.first_obs, ts.obs),
            state=state.replace(env_state=tree_select(done, state.first_state, ts.state)),
        )


@struct.dataclass
class EpisodeStatsState:
    """State of ``RecordEpisodeStats``.

    Attributes:
        env_state: the inner env's state.
        episode_return: ``[]`` float32, undiscounted return so far in this episode.
        episode_length: ``[]`` int32, steps so far in this episode.
    """

    env_state: Any
    episode_return: jax.Array
    episode_length: jax.Array


class RecordEpisodeStats(Wrapper):
    """Tracks the undiscounted return and length of each episode.

    Adds to ``info``: ``"returned_episode"`` ``[]`` bool (an episode ended at this step),
    ``"episode_return"`` ``[]`` float32 and ``"episode_length"`` ``[]`` int32 (that
    episode's totals, including this step; meaningful only where ``returned_episode``).
    The counters restart at 0 after ``done``, so it works inside or outside ``AutoReset``.
    For logging sums and counts: ``sum(where(returned_episode, episode_return, 0))`` and
    ``sum(returned_episode)``.
    """

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, EpisodeStatsState]:
        obs, env_state = self.env.reset(key, params)
        zero_f, zero_i = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        return obs, EpisodeStatsState(env_state, zero_f, zero_i)

    def step(
        self, key: jax.Array, state: EpisodeStatsState, action: jax.Array, params: Any
    ) -> EnvStep:
        ts = self.env.step(key, state.env_state, action, params)
        done = ts.terminated | ts.truncated
        ret = state.episode_return + ts.reward.astype(jnp.float32)
        length = state.episode_length + 1
        new_state = EpisodeStatsState(
            env_state=ts.state,
            episode_return=jnp.where(done, 0.0, ret).astype(jnp.float32),
            episode_length=jnp.where(done, 0, length).astype(jnp.int32),
        )
        info = {
            **ts.info,
            "returned_episode": done,
            "episode_return": ret,
            "episode_length": length,
        }
        return ts._replace(state=new_state, info=info)


class VecEnv(Wrapper):
    """Runs ``num_envs`` copies of ``env`` with ``jax.vmap``.

    ``reset`` and ``step`` split ``key`` into ``num_envs`` keys; every output gains a
    leading ``[N]`` axis; ``state`` and ``action`` carry it too. ``params`` are shared by
    all copies by default; with ``params_batched=True`` every leaf has a leading ``[N]``
    axis (a batch of tasks), and ``default_params()`` returns the inner default broadcast
    to ``[N]``. ``observation_space`` / ``action_space`` describe ONE copy.

    Args:
        env: the environment to vectorise (usually ``AutoReset(...)``).
        num_envs: ``N``, at least 1.
        params_batched: whether ``params`` carry a leading ``[N]`` axis.

    Raises:
        ValueError: if ``num_envs < 1``.
    """

    def __init__(self, env: Environment, num_envs: int, params_batched: bool = False):
        super().__init__(env)
        self.num_envs = check_int("VecEnv", "num_envs", num_envs, minimum=1)
        self.params_batched = bool(params_batched)
        self._params_axis = 0 if self.params_batched else None

    def default_params(self) -> Any:
        params = self.env.default_params()
        if self.params_batched:
            params = jax.tree.map(
                lambda x: jnp.broadcast_to(x, (self.num_envs, *jnp.shape(x))), params
            )
        return params

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset, in_axes=(0, self._params_axis))(keys, params)

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> EnvStep:
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.step, in_axes=(0, 0, 0, self._params_axis))(
            keys, state, action, params
        )

    def _one(self, params: Any) -> Any:
        return jax.tree.map(lambda x: x[0], params) if self.params_batched else params

    def observation_space(self, params: Any) -> spaces.Space:
        return self.env.observation_space(self._one(params))

    def action_space(self, params: Any) -> spaces.Space:
        return self.env.action_space(self._one(params))


def is_mjx_env(env_id: str, env: Environment) -> bool:
    """Whether ``env`` is an MJX physics task: a registered MJX id, or an
    ``envs_jax.mjx.base.MjxEnv`` (also inside ``Wrapper``s).

    Never imports MuJoCo: if ``envs_jax.mjx.base`` was not imported yet, no ``MjxEnv`` exists.
    """
    from envs_jax import MJX_ENV_IDS  # late: envs_jax/__init__ imports this module

    if env_id in MJX_ENV_IDS:
        return True
    mjx_base = sys.modules.get("envs_jax.mjx.base")
    if mjx_base is None:
        return False
    while isinstance(env, Wrapper):
        if isinstance(env, mjx_base.MjxEnv):
            return True
        env = env.env
    return isinstance(env, mjx_base.MjxEnv)


def vec_env(env_id: str, env: Environment, num_envs: int) -> VecEnv:
    """``VecEnv(<auto-reset>(RecordEpisodeStats(env)), num_envs)`` for training.

    The auto-reset is ``CachedAutoReset`` for MJX tasks (``is_mjx_env``): ``AutoReset`` runs
    a full reset at every step (an MJX reset builds a fresh ``mjx.Data``, often runs a
    forward pass, and DMC cheetah-run settles for 200 physics steps), while
    ``CachedAutoReset`` restores each env's initial state drawn at ``reset`` (every episode
    of one env starts from the same state; the ``num_envs`` envs differ). So do envs that
    set ``costly_reset = True`` (``envs_jax.brax_adapter.BraxAdapter``: brax / Playground
    physics, whose own ``AutoResetWrapper`` caches the first state the same way). Cheap
    envs (gymnax, bandits, tabular) keep ``AutoReset``: a fresh initial state per episode.

    Args:
        env_id: the ``envs_jax.make`` id ``env`` was built from.
        env: the base environment.
        num_envs: ``N``, the vectorised batch, >= 1.

    Raises:
        ValueError: if ``num_envs < 1`` (from ``VecEnv``).
    """
    costly = is_mjx_env(env_id, env) or getattr(env, "costly_reset", False)
    auto_reset = CachedAutoReset if costly else AutoReset
    return VecEnv(auto_reset(RecordEpisodeStats(env)), num_envs)
