"""Task distributions as environments: trials for meta-RL, and a fresh task per episode.

* ``TrialWrapper``: several episodes of one task form one meta-episode. Source: Duan et al.
  2016, "RL^2: Fast Reinforcement Learning via Slow Reinforcement Learning" (arXiv
  1611.02779), section 3: a trial is ``n`` episodes on one task drawn from the task
  distribution; the agent sees the observation, the previous action, the previous reward
  and a termination flag, and its memory persists across the episodes of a trial.
* ``TaskPerEpisode``: every ``reset`` draws a new task, kept in the state for that episode
  (D4RL's antmaze-v2 evaluation draws a noisy goal per episode).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs_jax import spaces
from envs_jax._checks import check_int
from envs_jax.core import Environment, EnvStep, MetaEnvironment
from envs_jax.wrappers import Wrapper, tree_select


@struct.dataclass
class TrialParams:
    """Parameters of a trial.

    Attributes:
        task: an inner ``EnvParams``; used when ``resample_task`` is False.
        resample_task: ``[]`` bool; True draws a fresh task with ``sample_task`` at every
            ``reset`` (training), False keeps ``task`` (held-out evaluation tasks).
    """

    task: Any
    resample_task: jax.Array


@struct.dataclass
class TrialState:
    """State of a trial.

    Attributes:
        env_state: the inner env's state.
        task: the trial's task (inner ``EnvParams``), fixed for the whole trial.
        episode_idx: ``[]`` int32, index of the current inner episode, in
            ``[0, num_episodes]`` (``num_episodes`` once the trial has ended).
        t: ``[]`` int32, steps taken in this trial.
        prev_action: ``[]`` int32, last action; -1 at trial start (its one-hot is zeros).
        prev_reward: ``[]`` float32, last reward; 0 at trial start.
        prev_done: ``[]`` bool, the inner episode ended at the last step; False at trial start.
    """

    env_state: Any
    task: Any
    episode_idx: jax.Array
    t: jax.Array
    prev_action: jax.Array
    prev_reward: jax.Array
    prev_done: jax.Array


class TrialWrapper(Environment[TrialState, TrialParams]):
    """Turns a ``MetaEnvironment`` into an ``Environment`` whose episode is a trial.

    One wrapper episode = ``num_episodes`` inner episodes on ONE task. Inside a trial an
    ended inner episode is reset with the same task (never resampled); after the last one
    the step returns ``terminated=True`` (``truncated`` is always False), so advantage
    estimation cuts at trial boundaries only. Wrap in ``AutoReset`` to start the next trial
    (which draws a new task when ``params.resample_task``).

    Observation ``[obs_dim]`` float32, ``obs_dim = inner_obs_size + num_actions + 2``::

        [ inner_obs (flattened) | one_hot(prev_action, num_actions) | prev_reward | prev_done ]

    At trial start the last three parts are zeros. ``info`` holds ``"final_obs"``,
    ``"inner_done"`` ``[]`` bool (an inner episode ended at this step) and
    ``"episode_idx"`` ``[]`` int32 (the inner episode this step belonged to).

    Args:
        env: the task distribution; its action space must be ``Discrete``.
        num_episodes: inner episodes per trial, at least 1.

    Raises:
        ValueError: if ``num_episodes < 1``.
        TypeError: if the env's action space is not ``Discrete`` (the previous action is
            fed back one-hot).
    """

    def __init__(self, env: MetaEnvironment, num_episodes: int):
        self.env = env
        self.num_episodes = check_int("TrialWrapper", "num_episodes", num_episodes, minimum=1)
        default_task = env.default_params()
        action_space = env.action_space(default_task)
        if not isinstance(action_space, spaces.Discrete):
            raise TypeError(
                f"TrialWrapper: env action space must be Discrete, got {action_space!r}"
            )
        self.num_actions = action_space.n
        inner_space = env.observation_space(default_task)
        self._inner_obs_size = int(np.prod(inner_space.shape))

    @property
    def name(self) -> str:
        return f"Trial[{self.env.name}]"

    @property
    def obs_dim(self) -> int:
        """``inner_obs_size + num_actions + 2``."""
        return self._inner_obs_size + self.num_actions + 2

    @property
    def trial_length(self) -> int:
        """Steps in a trial, ``num_episodes * env.episode_length``.

        Raises:
            ValueError: if the inner env has no fixed ``episode_length``.
        """
        episode_length = getattr(self.env, "episode_length", None)
        if episode_length is None:
            raise ValueError(f"TrialWrapper: {self.env.name} has no fixed episode_length")
        return self.num_episodes * episode_length

    @property
    def episode_length(self) -> int:
        """The wrapper's episode is a trial: same as ``trial_length``."""
        return self.trial_length

    def default_params(self) -> TrialParams:
        """Fresh tasks every trial, with the inner default task as the unused fallback."""
        return TrialParams(task=self.env.default_params(), resample_task=jnp.array(True))

    @staticmethod
    def params_for_tasks(tasks: Any) -> TrialParams:
        """Batched ``TrialParams`` that keep each given task (``resample_task=False``).

        Args:
            tasks: a batch of inner ``EnvParams``, every leaf with leading axis ``[B]``.

        Returns:
            ``TrialParams`` with ``task=tasks`` and ``resample_task`` ``[B]`` bool False;
            vmap over it (``VecEnv(..., params_batched=True)``) to evaluate on those tasks.
        """
        batch_size = jax.tree.leaves(tasks)[0].shape[0]
        return TrialParams(task=tasks, resample_task=jnp.zeros((batch_size,), bool))

    def sample_tasks(self, key: jax.Array, num_tasks: int) -> Any:
        """``num_tasks`` tasks from the inner distribution, leaves with leading ``[num_tasks]``."""
        return jax.vmap(self.env.sample_task)(jax.random.split(key, num_tasks))

    def optimal_return(self, task: Any) -> jax.Array:
        """``[]`` float32: the inner env's task-aware optimum over ``num_episodes`` episodes."""
        return self.env.optimal_return(task, self.num_episodes)

    def _obs(
        self,
        inner_obs: jax.Array,
        prev_action: jax.Array,
        prev_reward: jax.Array,
        prev_done: jax.Array,
    ):
        return jnp.concatenate(
            [
                jnp.ravel(inner_obs).astype(jnp.float32),
                # one_hot(-1) is all zeros: "no previous action" at trial start.
                jax.nn.one_hot(prev_action, self.num_actions, dtype=jnp.float32),
                jnp.reshape(prev_reward, (1,)).astype(jnp.float32),
                jnp.reshape(prev_done, (1,)).astype(jnp.float32),
            ]
        )

    def reset(self, key: jax.Array, params: TrialParams) -> tuple[jax.Array, TrialState]:
        key_task, key_reset = jax.random.split(key)
        task = tree_select(params.resample_task, self.env.sample_task(key_task), params.task)
        inner_obs, env_state = self.env.reset(key_reset, task)
        state = TrialState(
            env_state=env_state,
            task=task,
            episode_idx=jnp.zeros((), jnp.int32),
            t=jnp.zeros((), jnp.int32),
            prev_action=jnp.full((), -1, jnp.int32),
            prev_reward=jnp.zeros((), jnp.float32),
            prev_done=jnp.zeros((), bool),
        )
        return self._obs(inner_obs, state.prev_action, state.prev_reward, state.prev_done), state

    def step(
        self, key: jax.Array, state: TrialState, action: jax.Array, params: TrialParams
    ) -> EnvStep:
        del params  # the task was fixed at reset and lives in the state
        key_step, key_reset = jax.random.split(key)
        ts = self.env.step(key_step, state.env_state, action, state.task)
        inner_done = ts.terminated | ts.truncated
        trial_done = inner_done & (state.episode_idx == self.num_episodes - 1)
        # Next inner episode of the SAME task; skipped after the last one so the final
        # observation of the trial is the true one.
        obs_reset, env_state_reset = self.env.reset(key_reset, state.task)
        next_episode = inner_done & ~trial_done
        inner_obs = tree_select(next_episode, obs_reset, ts.obs)
        env_state = tree_select(next_episode, env_state_reset, ts.state)

        action = jnp.asarray(action, jnp.int32)
        reward = ts.reward.astype(jnp.float32)
        obs = self._obs(inner_obs, action, reward, inner_done)
        new_state = TrialState(
            env_state=env_state,
            task=state.task,
            episode_idx=state.episode_idx + inner_done.astype(jnp.int32),
            t=state.t + 1,
            prev_action=action,
            prev_reward=reward,
            prev_done=inner_done,
        )
        info = {"final_obs": obs, "inner_done": inner_done, "episode_idx": state.episode_idx}
        return EnvStep(obs, new_state, reward, trial_done, jnp.zeros((), bool), info)

    def observation_space(self, params: TrialParams | None = None) -> spaces.Box:
        inner = self.env.observation_space(self.env.default_params())
        if isinstance(inner, spaces.Box):
            low, high = inner.low.ravel(), inner.high.ravel()
        else:  # Discrete inner observation: one float in [0, n - 1]
            low, high = np.zeros(1), np.full(1, inner.n - 1)
        a = self.num_actions
        low = np.concatenate([low, np.zeros(a), [-np.inf], [0.0]])
        high = np.concatenate([high, np.ones(a), [np.inf], [1.0]])
        return spaces.Box(low, high, (self.obs_dim,), jnp.float32)

    def action_space(self, params: TrialParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)


@struct.dataclass
class TaskEpisodeState:
    """State of ``TaskPerEpisode``.

    Attributes:
        env_state: the inner env's state.
        task: the inner ``EnvParams`` of this episode, drawn at ``reset``.
    """

    env_state: Any
    task: Any


class TaskPerEpisode(Wrapper):
    """Draws a fresh task at every ``reset``; the episode runs on it whatever ``params`` say.

    For evaluation protocols that draw a task per episode, such as D4RL's antmaze-v2 (a
    noisy goal at every reset: ``AntMaze.sample_task``; the unwrapped ``AntMaze.reset``
    keeps ``params.goal``). A generic evaluator that only calls ``reset(key, params)`` and
    ``step(key, state, action, params)`` with ONE ``params`` for all episodes then gets a
    new task per episode, drawn from the reset key::

        env = TaskPerEpisode(AntMaze("umaze"))
        params = env.default_params()      # TrialParams(resample_task=True)
        obs, state = env.reset(key, params)  # state.task.goal: this episode's goal
        ts = env.step(key_step, state, action, params)

    ``reset(key, params)`` splits ``key`` into ``(key_task, key_reset)``, takes ``task =
    sample_task(key_task, params.task)`` if ``params.resample_task`` else ``params.task``,
    and resets the inner env with ``key_reset`` on ``task``. ``step`` ignores ``params``
    and steps the inner env on ``state.task``. Observations, rewards, flags and ``info``
    are the inner env's (the task is not added to the observation: antmaze-v2 does not
    observe its goal).

    Stacking: ``AutoReset(TaskPerEpisode(env))`` draws a new task for every episode
    (``AutoReset`` calls this ``reset``); ``CachedAutoReset(TaskPerEpisode(env))`` would
    restore the cached state, task included, so every episode of one env repeats its task.

    Params are ``TrialParams`` (``task``, ``resample_task``): ``default_params()`` resamples
    with the inner default as the unused fallback; ``params_for_tasks(tasks)`` runs fixed
    tasks instead (held-out goals, reproducible tests).

    Args:
        env: the inner environment (base env, no auto-reset).
        sample_task: ``(key, task) -> task``, the draw at reset, given ``params.task`` (to
            keep what the draw does not change, e.g. ``params.task.replace(goal=...)``);
            default ``env.sample_task(key)``, which ignores ``params.task``. It must return
            the structure, shapes and dtypes of ``params.task``.

    Raises:
        TypeError: if ``sample_task`` is None and ``env`` has no ``sample_task`` method.
    """

    def __init__(
        self, env: Environment, sample_task: Callable[[jax.Array, Any], Any] | None = None
    ):
        super().__init__(env)
        if sample_task is None:
            if not callable(getattr(env, "sample_task", None)):
                raise TypeError(
                    f"TaskPerEpisode: {env.name} has no sample_task(key) method; pass "
                    "sample_task=(key, task) -> task"
                )
            sample_task = lambda key, task: env.sample_task(key)
        self._sample_task = sample_task

    @property
    def name(self) -> str:
        return f"TaskPerEpisode[{self.env.name}]"

    def default_params(self) -> TrialParams:
        """A fresh task every episode (``resample_task=True``), inner default as fallback."""
        return TrialParams(task=self.env.default_params(), resample_task=jnp.array(True))

    params_for_tasks = staticmethod(TrialWrapper.params_for_tasks)

    def episode_task(self, key: jax.Array, params: TrialParams) -> Any:
        """The task ``reset(key, params)`` runs on (inner ``EnvParams``).

        Cheap to call on its own (no inner reset): evaluators and tests can read the goals
        a batch of reset keys will draw.
        """
        key_task, _ = jax.random.split(key)
        return tree_select(
            params.resample_task, self._sample_task(key_task, params.task), params.task
        )

    def reset(self, key: jax.Array, params: TrialParams) -> tuple[jax.Array, TaskEpisodeState]:
        _, key_reset = jax.random.split(key)
        task = self.episode_task(key, params)
        obs, env_state = self.env.reset(key_reset, task)
        return obs, TaskEpisodeState(env_state=env_state, task=task)

    def step(
        self, key: jax.Array, state: TaskEpisodeState, action: jax.Array, params: TrialParams
    ) -> EnvStep:
        del params  # the episode's task was drawn at reset and lives in the state
        ts = self.env.step(key, state.env_state, action, state.task)
        return ts._replace(state=state.replace(env_state=ts.state))

    def observation_space(self, params: TrialParams | None = None) -> spaces.Space:
        return self.env.observation_space(self._task(params))

    def action_space(self, params: TrialParams | None = None) -> spaces.Space:
        return self.env.action_space(self._task(params))

    def _task(self, params: TrialParams | None) -> Any:
        return self.env.default_params() if params is None else params.task
