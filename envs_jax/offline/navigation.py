"""AntMaze datasets as D4RL collected them: a goal-reaching ant driven through a maze planner.

D4RL (Fu et al. 2020, appendix C; ``scripts/generation/generate_ant_maze_datasets.py`` and
``d4rl/locomotion/maze_env.py``) wrote ``antmaze-*-diverse`` by running a goal-reaching ant
policy (trained in open space) through the maze:

* a planner (``_get_best_next_rowcol``: breadth-first search over the maze's free cells,
  4-neighbour moves) gives the next cell on a shortest path from the ant's cell to the
  goal's; the policy is steered at that cell's centre plus ``U(0, 1)`` m per axis, drawn
  again every step (``_rowcol_to_xy(..., add_random_noise=True)``), or at the goal itself
  once the next cell is the goal's;
* the goal-reaching policy sees ``obs[2:-2]`` (the ant without its xy) and the relative
  waypoint rescaled to norm 10; its action gets ``N(0, 0.2^2)`` noise, clipped to
  ``[-1, 1]`` (``--noisy``);
* the ant starts in a uniformly drawn free cell (``non_zero_reset``, "diverse") and the
  goal is a free cell drawn uniformly plus ``U(0, 1) + U(0, 0.5)`` m per axis, clamped at 0
  (``goal_sampler``); reaching it (within 0.5 m) draws a new goal, and every 1000 steps the
  episode is cut (``timeouts``), the ant reset and a new goal drawn;
* each row stores ``s[:-2]`` (the 29-d AntMaze observation), the sparse reward of the goal
  in force (1 within 0.5 m after the step), ``infos/goal`` and the physics state.

Here: ``MazeNavigation`` is that env (its observation appends the goal, as D4RL's
generation env did), ``navigation_policy`` the planner + goal policy + noise as one
``envs_jax.policy.Policy``, and ``split_goal`` turns ``collect``'s rows into D4RL's
(observations without the goal, ``infos/goal``). No row is ``terminals``: the ant never
terminates in D4RL's generation env (``eval=False``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs_jax import spaces
from envs_jax.core import EnvStep
from envs_jax.mjx.ant_goal import goal_direction
from envs_jax.mjx.antmaze import (
    CELL_SIZE,
    GOAL_RADIUS,
    MAZES,
    AntMaze,
    cell_xy,
    free_cells,
    noisy_cell_goal,
    xy_to_cell,
)
from envs_jax.policy import Policy, feed_forward
from envs_jax.wrappers import Wrapper

EPISODE_STEPS = 1000
"""D4RL's generation script cuts every episode at 1000 steps, whatever the maze."""
ACTION_NOISE = 0.2
"""Std of the Gaussian noise on the goal policy's action (D4RL's ``--noisy``)."""
GOAL_DIM = 2


def next_cell_table(maze: str) -> np.ndarray:
    """The planner: ``[K, K]`` int32, ``K = rows x cols``; entry ``[t, c]`` is the cell
    (``row * cols + col``) to head for from cell ``c`` on a shortest 4-neighbour path to
    cell ``t`` through free cells; ``t`` itself when ``c == t``, when ``t`` is the next
    cell, or when ``c`` or ``t`` is a wall or unreachable (head straight for the goal).

    Ties between equally short paths go to the first neighbour in the order up, down,
    left, right (row - 1, row + 1, col - 1, col + 1).

    Raises:
        ValueError: for an unknown maze.
    """
    if maze not in MAZES:
        raise ValueError(f"maze: expected one of {sorted(MAZES)}, got {maze!r}")
    grid = MAZES[maze]
    rows, cols = len(grid), len(grid[0])
    free = {(i, j) for i, j in free_cells(maze)}
    moves = ((-1, 0), (1, 0), (0, -1), (0, 1))
    table = np.tile(np.arange(rows * cols, dtype=np.int32)[:, None], (1, rows * cols))
    for target in free:
        dist = {target: 0}
        queue = deque([target])
        while queue:                                    # BFS from the target
            i, j = queue.popleft()
            for di, dj in moves:
                n = (i + di, j + dj)
                if n in free and n not in dist:
                    dist[n] = dist[(i, j)] + 1
                    queue.append(n)
        t = target[0] * cols + target[1]
        for (i, j), d in dist.items():
            if d <= 1:
                continue                                # at the goal's cell or next to it
            step = next((i + di, j + dj) for di, dj in moves
                        if dist.get((i + di, j + dj)) == d - 1)
            table[t, i * cols + j] = step[0] * cols + step[1]
    return table


@struct.dataclass
class NavigationState:
    """State of ``MazeNavigation``.

    Attributes:
        env_state: the AntMaze state (its ``data`` is the physics, read by ``collect``).
        goal: ``[2]`` float32, the goal in force (m).
    """

    env_state: Any
    goal: jax.Array


class MazeNavigation(Wrapper):
    """AntMaze as D4RL's generation script ran it (module docstring).

    Observation ``[31]``: AntMaze's ``[29]`` then the goal xy ``[2]``. Reward 1.0 when the
    ant ends the step within 0.5 m of the goal (then a new goal is drawn), else 0; never
    terminated; truncated after ``env.episode_length`` steps (AntMaze's time limit: build
    it with ``episode_length=EPISODE_STEPS`` and ``terminate_at_goal=False``).
    ``info["goal"]`` is the goal the step's reward refers to.

    Args:
        env: an ``AntMaze`` (base env, no auto-reset).
        multi_start: start each episode in a uniformly drawn free cell ("diverse",
            D4RL's ``non_zero_reset``); ``False``: at the ``R`` cell.

    Raises:
        ValueError: ``env`` is not an ``AntMaze`` or ends episodes at the goal.
    """

    def __init__(self, env: AntMaze, multi_start: bool = True):
        if not isinstance(env, AntMaze):
            raise ValueError(f"MazeNavigation: expected an AntMaze env, got {env!r}")  # noqa: TRY004
        if env.terminate_at_goal:
            raise ValueError("MazeNavigation: expected AntMaze(terminate_at_goal=False) (goals "
                             "are redrawn when reached), got terminate_at_goal=True")
        super().__init__(env)
        self.multi_start = bool(multi_start)
        self.cells = np.array([cell_xy(env.maze, i, j) for i, j in free_cells(env.maze)],
                              np.float32)                                    # [F, 2]

    def sample_goal(self, key: jax.Array) -> jax.Array:
        """``[2]``: a uniformly drawn free cell's centre with D4RL's goal noise."""
        key_cell, key_noise = jax.random.split(key)
        cell = jnp.asarray(self.cells)[jax.random.randint(key_cell, (), 0, len(self.cells))]
        return noisy_cell_goal(key_noise, cell)

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, NavigationState]:
        key_start, key_goal, key_env = jax.random.split(key, 3)
        start = jnp.asarray(self.cells)[jax.random.randint(key_start, (), 0, len(self.cells))]
        start = jnp.where(self.multi_start, start, jnp.zeros((2,), jnp.float32))
        obs, state = self.env.reset(key_env, params.replace(start=start))
        goal = self.sample_goal(key_goal)
        return jnp.concatenate([obs, goal]), NavigationState(state, goal)

    def step(self, key: jax.Array, state: NavigationState, action: jax.Array,
             params: Any) -> EnvStep:
        key_env, key_goal = jax.random.split(key)
        ts = self.env.step(key_env, state.env_state, action, params)
        reached = jnp.linalg.norm(ts.state.data.qpos[:2] - state.goal) <= GOAL_RADIUS
        goal = jnp.where(reached, self.sample_goal(key_goal), state.goal)
        info = {"goal": state.goal, "success": reached,
                "final_obs": jnp.concatenate([ts.info["final_obs"], goal])}
        return EnvStep(jnp.concatenate([ts.obs, goal]), NavigationState(ts.state, goal),
                       reached.astype(jnp.float32), ts.terminated, ts.truncated, info)

    def observation_space(self, params: Any) -> spaces.Space:
        inner = self.env.observation_space(params)
        return spaces.Box(-np.inf, np.inf, (inner.shape[0] + GOAL_DIM,), jnp.float32)


def navigation_policy(goal_action: Callable[[jax.Array, jax.Array], jax.Array], maze: str,
                      action_noise: float = ACTION_NOISE) -> Policy:
    """D4RL's data-collection controller as a memoryless ``Policy`` on ``MazeNavigation``
    observations ``[N, 31]`` (module docstring): planner waypoint -> goal policy -> noise.

    Args:
        goal_action: ``(key, goal_obs [N, 29]) -> action [N, 8]`` in ``[-1, 1]``, the
            goal-reaching policy on ``envs_jax.mjx.ant_goal.AntGoal`` observations.
        maze: the maze name (``envs_jax.mjx.antmaze.MAZES``).
        action_noise: std of the Gaussian action noise (D4RL: 0.2), >= 0.

    Raises:
        ValueError: unknown maze or negative noise.
    """
    if not action_noise >= 0:
        raise ValueError(f"action_noise: expected a number >= 0, got {action_noise!r}")
    table = jnp.asarray(next_cell_table(maze))
    cols = len(MAZES[maze][0])
    centres = jnp.asarray([cell_xy(maze, k // cols, k % cols)
                           for k in range(len(MAZES[maze]) * cols)], jnp.float32)   # [K, 2]

    def cell_index(xy):
        row, col = xy_to_cell(maze, xy)
        return row * cols + col

    def act(key, obs):
        xy, goal = obs[:, :2], obs[:, -GOAL_DIM:]
        target = cell_index(goal)
        nxt = table[target, cell_index(xy)]
        key_wp, key_act, key_noise = jax.random.split(key, 3)
        jitter = jax.random.uniform(key_wp, xy.shape, maxval=0.25 * CELL_SIZE)
        waypoint = jnp.where((nxt == target)[:, None], goal, centres[nxt] + jitter)
        goal_obs = jnp.concatenate([obs[:, 2:-GOAL_DIM], goal_direction(xy, waypoint)], -1)
        action = goal_action(key_act, goal_obs)
        action = action + action_noise * jax.random.normal(key_noise, action.shape)
        return jnp.clip(action, -1.0, 1.0)

    return feed_forward(act)


def split_goal(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``collect`` rows of ``MazeNavigation`` as D4RL's AntMaze rows: ``observations`` /
    ``next_observations`` without the goal columns; the goal of each row (the one its
    reward refers to) as ``infos/goal [M, 2]``, and the goal in force at its next
    observation as ``infos/next_goal`` (for the Minari layout's per-observation infos;
    the D4RL file leaves ``infos/next_*`` out)."""
    out = dict(data)
    out["infos/goal"] = np.asarray(data["observations"][:, -GOAL_DIM:], np.float32)
    out["infos/next_goal"] = np.asarray(data["next_observations"][:, -GOAL_DIM:], np.float32)
    for name in ("observations", "next_observations"):
        out[name] = np.ascontiguousarray(data[name][:, :-GOAL_DIM])
    return out


__all__ = ["ACTION_NOISE", "EPISODE_STEPS", "MazeNavigation", "NavigationState",
           "navigation_policy", "next_cell_table", "split_goal"]
