"""Goal reaching in open space with D4RL's AntMaze ant: the task AntMaze's data policy learns.

D4RL built its AntMaze datasets (Fu et al. 2020, appendix C;
``scripts/generation/generate_ant_maze_datasets.py``) by driving a goal-reaching ant policy
through the waypoints of a maze planner. That policy sees the ant's body state and a
relative goal direction rescaled to norm 10 ("normalize the norm of the relative goals to
in-distribution values"), never its own xy. This env trains such a policy with our SAC:

* Model: ``envs_jax.mjx.antmaze.build_ant_model(None)``, the AntMaze ant (D4RL's
  ``ant.xml``, motor torques ``30 * clip(a, -1, 1)``, control ``dt = 0.1`` s) with no walls.
* Observation ``[29]``: ``qpos[2:15]`` (13: torso height, orientation, joints),
  ``qvel[:14]`` (14) and ``GOAL_OBS_NORM * (goal - xy) / |goal - xy|`` (2), the policy
  input of D4RL's ``_goal_reaching_policy_fn`` (``obs[2:-2]`` + the rescaled direction).
* Goal: at reset, at distance ``U(goal_distance)`` (m) in a uniform direction from the
  start; when the ant comes within ``GOAL_RADIUS`` (0.5 m, AntMaze's) of it, a new one is
  drawn the same way around the ant's position (from the step key), so an episode chains
  goals as the maze planner chains waypoints.
* Reward: speed towards the goal ``(d_before - d_after) / dt`` (m/s) ``+ healthy_reward``
  while healthy ``- ctrl_cost |a|^2``: gym Ant's terms with "forward" meaning "towards
  the goal", but a tenth of gym's weights (0.1 and 0.05, not 1 and 0.5). This ant's motors
  are 30 N m, not gym's 150, so it walks at a fraction of a m/s: with gym's weights a SAC
  run (200k steps, 16 envs) learned to stand still, whose return (1 per step, about 1000
  per episode) beat walking's. Terminated when unhealthy (torso height outside ``[0.2, 1.0]`` m or a
  non-finite state, gym Ant's check); truncated after ``episode_length`` steps.
* Reset: ``qpos0 + U(-0.1, 0.1)``, ``qvel = 0.1 * N(0, 1)``, as AntMaze.

Under ``CachedAutoReset`` (the MJX training default) every episode of one env starts with
the same cached goal; the goals drawn on reaching one are fresh each time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.core import EnvStep
from envs_jax.mjx.antmaze import ANT_XML, FRAME_SKIP, GOAL_RADIUS, ant_reset_data, build_ant_model
from envs_jax.mjx.base import MjxEnv, MjxParams, TaskStep
from envs_jax.mjx.locomotion import DEFAULT_LS_ITERATIONS, DEFAULT_SOLVER_ITERATIONS, ant_is_healthy

GOAL_OBS_NORM = 10.0
"""Norm of the relative goal in the observation (D4RL's generation script rescales to 10)."""


def goal_direction(xy: jax.Array, goal: jax.Array) -> jax.Array:
    """``[..., 2]`` float32: ``GOAL_OBS_NORM * (goal - xy) / |goal - xy|`` (0 at the goal)."""
    delta = goal - xy
    norm = jnp.linalg.norm(delta, axis=-1, keepdims=True)
    return (GOAL_OBS_NORM * delta / jnp.maximum(norm, 1e-6)).astype(jnp.float32)


class AntGoal(MjxEnv):
    """Open-space goal reaching with the AntMaze ant (see the module docstring).

    Args:
        goal_distance: ``(low, high)`` m, distance of each new goal (default ``(1, 8)``:
            up to two maze cells, the reach of a planner's waypoint).
        episode_length: time limit in control steps (default 1000).
        healthy_reward: paid per healthy step (default 0.1; gym Ant: 1).
        ctrl_cost: weight of ``|a|^2`` (default 0.05; gym Ant: 0.5).
        solver_iterations: Newton iteration cap (default 4).
        ls_iterations: line-search cap (default 8).

    Raises:
        ValueError: for a bad goal distance range or bad limits.
    """

    def __init__(
        self,
        goal_distance: tuple[float, float] = (1.0, 8.0),
        episode_length: int = 1000,
        healthy_reward: float = 0.1,
        ctrl_cost: float = 0.05,
        solver_iterations: int = DEFAULT_SOLVER_ITERATIONS,
        ls_iterations: int = DEFAULT_LS_ITERATIONS,
    ):
        low, high = (float(x) for x in goal_distance)
        if not GOAL_RADIUS < low <= high:
            raise ValueError(f"goal_distance: expected {GOAL_RADIUS} < low <= high (m), got "
                             f"{tuple(goal_distance)!r}")
        mj_model = build_ant_model(None, solver_iterations, ls_iterations)
        super().__init__(mj_model, n_substeps=FRAME_SKIP, episode_length=episode_length,
                         source=ANT_XML)
        self.goal_distance = (low, high)
        self.healthy_reward = float(healthy_reward)
        self.ctrl_cost = float(ctrl_cost)
        self.init_qpos = np.array(mj_model.qpos0, np.float32)

    @property
    def name(self) -> str:
        return "ant-goal"

    def sample_goal(self, key: jax.Array, xy: jax.Array) -> jax.Array:
        """``[2]``: a goal at distance ``U(goal_distance)`` in a uniform direction from ``xy``."""
        key_angle, key_dist = jax.random.split(key)
        angle = jax.random.uniform(key_angle, (), maxval=2 * jnp.pi)
        dist = jax.random.uniform(key_dist, (), minval=self.goal_distance[0],
                                  maxval=self.goal_distance[1])
        return xy + dist * jnp.stack([jnp.cos(angle), jnp.sin(angle)])

    def reset_data(self, key, params, model):
        key_data, key_goal = jax.random.split(key)
        data = ant_reset_data(key_data, self.init_qpos, model, jnp.zeros((2,), jnp.float32))
        return data, {"goal": self.sample_goal(key_goal, data.qpos[:2])}

    def observation(self, data, extras, params) -> jax.Array:
        return jnp.concatenate([data.qpos[2:15], data.qvel[:14],
                                goal_direction(data.qpos[:2], extras["goal"])])

    def task_step(self, data_before, data, action, extras, params) -> TaskStep:
        goal = extras["goal"]
        dist_before = jnp.linalg.norm(goal - data_before.qpos[:2])
        dist = jnp.linalg.norm(goal - data.qpos[:2])
        speed = (dist_before - dist) / self.dt
        healthy = ant_is_healthy(data)
        reward = (speed + self.healthy_reward * healthy
                  - self.ctrl_cost * jnp.sum(jnp.square(action)))
        info = {"speed_to_goal": speed, "distance_to_goal": dist,
                "reached": dist <= GOAL_RADIUS}
        return TaskStep(reward, ~healthy, extras, info)

    def step(self, key: jax.Array, state, action: jax.Array, params: MjxParams) -> EnvStep:
        """``MjxEnv.step``, then a new goal (drawn from ``key``) where one was reached."""
        ts = super().step(key, state, action, params)
        data = ts.state.data
        goal = jnp.where(ts.info["reached"], self.sample_goal(key, data.qpos[:2]),
                         ts.state.extras["goal"])
        extras = {"goal": goal}
        obs = self.observation(data, extras, params).astype(self.obs_dtype)
        return ts._replace(obs=obs, state=ts.state.replace(obs=obs, extras=extras),
                           info={**ts.info, "final_obs": obs})
