"""D4RL AntMaze on MJX: the D4RL locomotion ant in a maze of wall boxes, sparse goal reward.

Source: D4RL (Fu et al. 2020), ``d4rl/locomotion/{ant.py, maze_env.py, goal_reaching_env.py}``
(d4rl 1.1), as registered for ``antmaze-{umaze,medium,large}-*-v2`` (``eval=True``,
``reward_type="sparse"``, ``maze_size_scaling=4``):

* Model: D4RL's ``locomotion/assets/ant.xml`` (``assets/d4rl/ant.xml``: timestep 0.02 s,
  RK4, torso at 0.75 m), frame_skip 5 (control ``dt = 0.1`` s). D4RL wraps the env in
  ``NormalizedBoxEnv``, mapping actions in ``[-1, 1]`` to motor torques ``+-30``; here that
  scaling is folded into the model (motor ``gear = 30``, ``ctrlrange = [-1, 1]``: the same
  torque ``30 * clip(a, -1, 1)``), so the action space is ``[-1, 1]^8``.
* Maze: every ``1`` cell ``(row i, col j)`` of the map is a box geom ``block_i_j`` of
  half-size ``(2, 2, 1)`` (``0.5 * 4``, ``0.5 * 4``, ``maze_height / 2 * 4`` with
  ``maze_height = 0.5``) centred at ``(4 j - x0, 4 i - y0, 1)``, where ``(x0, y0) = (4 c_R,
  4 r_R)`` is the start cell ``R``: the ant starts at the origin.
* Observation ``[29]``: ``qpos[:15]`` (xy included) and ``qvel[:14]``; the goal is NOT
  observed (``eval=True``).
* Reward: ``1.0`` when ``|xy - goal| <= 0.5`` after the step, else ``0`` (D4RL's sparse
  reward; the offline loader's ``4 * (r - 0.5)`` remap is not the env's). The episode
  terminates at the goal (``eval=True``); the ant's own health check is NOT used. Time
  limits: umaze 700, medium/large 1000 steps, as ``truncated``.
* Reset: ``qpos0 + U(-0.1, 0.1)``, ``qvel = 0.1 * N(0, 1)`` at ``params.start`` (the ``R`` cell,
  the origin, by default).
* Goal: ``params.goal`` ``[2]``. ``default_params`` puts it at the ``G`` cell's position;
  ``sample_goal`` draws D4RL's noisy evaluation goal (``G`` cell + ``U(0, 1)`` +
  ``U(0, 0.5)`` per axis, clamped at 0), as antmaze-v2 does at every reset. ``reset``
  itself keeps ``params.goal``: for a goal per episode, as antmaze-v2 evaluates, wrap the
  env in ``envs_jax.meta.TaskPerEpisode`` (each reset key then draws ``sample_task``).

Maps are D4RL's ``U_MAZE_TEST``, ``BIG_MAZE_TEST`` and ``HARDEST_MAZE_TEST`` (checked
against d4rl 1.1). NB: ``specs/offline_rl.md`` writes the goal rows of medium and large
shifted by one cell (``1000100G`` and ``1001000100G1``), which would put medium's goal in
the border wall; D4RL's rows are ``100010G1`` and ``100100010G01``.

Collisions: the ant's geoms collide with the floor and the walls only (D4RL's model already
has ``conaffinity=0`` on the ant, so no self-collision). Pruned here: walls that share no
face with a free cell can never be touched, so their geoms get ``contype = conaffinity = 0``
(still there, for layout and rendering). MJX evaluates every candidate pair, so a
broad phase (MJX's ``max_geom_pairs`` numeric) keeps the ``MAX_WALL_PAIRS`` ant-wall pairs
with the nearest bounding spheres per geom-type group: an ant (span ~2 m) in 4 m corridors
touches at most ~3 walls. (D4RL's unused ``init_qpos`` custom numeric is removed: MJX reads
custom numerics by id, not address, and would have read ``max_geom_pairs`` from it.)

Solver: Newton capped at 4 iterations / 8 line-search steps (see ``locomotion``).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import mjx

from envs_jax.mjx.base import ASSETS_DIR, MjxEnv, TaskStep, data_from_state
from envs_jax.mjx.locomotion import DEFAULT_LS_ITERATIONS, DEFAULT_SOLVER_ITERATIONS

ANT_XML = os.path.join(ASSETS_DIR, "d4rl", "ant.xml")

MAZES: dict[str, tuple[str, ...]] = {
    "umaze": ("11111", "1R001", "11101", "1G001", "11111"),
    "medium": (
        "11111111",
        "1R011001",
        "10010001",
        "11000111",
        "10010001",
        "10100101",
        "100010G1",
        "11111111",
    ),
    "large": (
        "111111111111",
        "1R0001000001",
        "101101010101",
        "100000010001",
        "101111011101",
        "100101000001",
        "110101010111",
        "100100010G01",
        "111111111111",
    ),
}
EPISODE_LENGTHS = {"umaze": 700, "medium": 1000, "large": 1000}

CELL_SIZE = 4.0  # maze_size_scaling
WALL_HALF_HEIGHT = 1.0  # maze_height / 2 * maze_size_scaling, maze_height = 0.5
GOAL_RADIUS = 0.5
FRAME_SKIP = 5
TORQUE_SCALE = 30.0
MAX_WALL_PAIRS = 48


def cell_xy(maze: str, row: int, col: int) -> tuple[float, float]:
    """World xy (m) of a cell's centre: ``(4 col - x0, 4 row - y0)``, start cell at the origin."""
    r0, c0 = find_cell(maze, "R")
    return (col - c0) * CELL_SIZE, (row - r0) * CELL_SIZE


def find_cell(maze: str, char: str) -> tuple[int, int]:
    """``(row, col)`` of the single ``char`` cell (``"R"`` or ``"G"``) of ``MAZES[maze]``."""
    for i, row in enumerate(MAZES[maze]):
        if char in row:
            return i, row.index(char)
    raise ValueError(f"maze {maze!r}: no {char!r} cell")


def wall_cells(maze: str) -> list[tuple[int, int]]:
    """``(row, col)`` of every ``1`` cell, row-major."""
    return [(i, j) for i, row in enumerate(MAZES[maze]) for j, c in enumerate(row) if c == "1"]


def _touchable(maze: str, i: int, j: int) -> bool:
    """Whether a free cell shares a face with the wall (else the ant can never touch it).

    A wall whose free neighbours are only diagonal is shielded: its one reachable corner is
    also the corner of the two walls between it and the free cell, which the ant meets first.
    """
    grid = MAZES[maze]
    for ii, jj in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
        if 0 <= ii < len(grid) and 0 <= jj < len(grid[0]) and grid[ii][jj] != "1":
            return True
    return False


def build_ant_model(
    maze: str | None,
    solver_iterations: int = DEFAULT_SOLVER_ITERATIONS,
    ls_iterations: int = DEFAULT_LS_ITERATIONS,
) -> mujoco.MjModel:
    """D4RL's ant model, with the maze's wall boxes (see the module docstring) or, for
    ``maze=None``, in open space (``envs_jax.mjx.ant_goal``'s goal-reaching task).

    Raises:
        ValueError: for an unknown maze, or if MuJoCo cannot load/compile the model (the
            message names ``assets/d4rl/ant.xml`` and MuJoCo's message).
    """
    if maze is not None and maze not in MAZES:
        raise ValueError(f"maze: expected one of {sorted(MAZES)}, got {maze!r}")
    try:
        spec = mujoco.MjSpec.from_file(ANT_XML)
    except ValueError as err:
        raise ValueError(f"build_ant_model: MuJoCo could not load {ANT_XML!r}: {err}") from err
    for i, j in wall_cells(maze) if maze is not None else ():
        x, y = cell_xy(maze, i, j)
        collide = int(_touchable(maze, i, j))
        spec.worldbody.add_geom(
            name=f"block_{i}_{j}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            pos=[x, y, WALL_HALF_HEIGHT],
            size=[CELL_SIZE / 2, CELL_SIZE / 2, WALL_HALF_HEIGHT],
            contype=collide,
            conaffinity=collide,
            rgba=[0.7, 0.5, 0.3, 1.0],
        )
    for actuator in spec.actuators:  # NormalizedBoxEnv's [-1, 1] -> +-30 N m, folded in
        actuator.gear[0] = TORQUE_SCALE
        actuator.ctrlrange = [-1.0, 1.0]
    spec.option.iterations = solver_iterations
    spec.option.ls_iterations = ls_iterations
    # MJX (3.x, collision_driver._numeric) reads a custom numeric as numeric_data[id], not
    # numeric_data[numeric_adr[id]]: behind D4RL's 15-value "init_qpos" numeric it would read
    # 0 (init_qpos[1]) and keep no pairs. That numeric is unused (gym's MujocoEnv takes its
    # init_qpos from qpos0), so drop it and make max_geom_pairs numeric 0.
    spec.delete(spec.numeric("init_qpos"))
    if maze is not None:
        spec.add_numeric(name="max_geom_pairs", data=[MAX_WALL_PAIRS])
    try:
        return spec.compile()
    except ValueError as err:
        raise ValueError(
            f"build_ant_model: MuJoCo could not compile {ANT_XML!r} + maze: {err}"
        ) from err


def free_cells(maze: str) -> list[tuple[int, int]]:
    """``(row, col)`` of every cell that is not a wall (``0``, ``R``, ``G``), row-major."""
    return [(i, j) for i, row in enumerate(MAZES[maze]) for j, c in enumerate(row) if c != "1"]


def xy_to_cell(maze: str, xy: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(row, col)`` int32 ``[...]`` of the cell holding world point ``xy [..., 2]`` (m):
    the nearest cell centre, clipped to the grid (D4RL's ``_xy_to_rowcol``)."""
    r0, c0 = find_cell(maze, "R")
    rows, cols = len(MAZES[maze]), len(MAZES[maze][0])
    col = jnp.clip(jnp.round(xy[..., 0] / CELL_SIZE).astype(jnp.int32) + c0, 0, cols - 1)
    row = jnp.clip(jnp.round(xy[..., 1] / CELL_SIZE).astype(jnp.int32) + r0, 0, rows - 1)
    return row, col


def noisy_cell_goal(key: jax.Array, cell: jax.Array) -> jax.Array:
    """D4RL's ``goal_sampler`` noise on a cell centre ``cell [2]`` (m): ``+ U(0, 1) +
    U(0, 0.5)`` per axis (``0.25 * 4 * U(0, 1)``, then ``0.25 * 4 * U(0, 0.5)``), clamped at 0."""
    key_a, key_b = jax.random.split(key)
    noise = jax.random.uniform(key_a, (2,), maxval=0.25 * CELL_SIZE)
    noise = noise + jax.random.uniform(key_b, (2,), maxval=0.5) * 0.25 * CELL_SIZE
    return jnp.maximum(cell + noise, 0.0)


def ant_reset_data(key: jax.Array, init_qpos: np.ndarray, model: mjx.Model,
                   start: jax.Array) -> mjx.Data:
    """D4RL's ant reset: ``qpos0 + U(-0.1, 0.1)`` with ``start [2]`` (m) added to the xy,
    ``qvel = 0.1 * N(0, 1)``; no forward pass (the observations read qpos/qvel only)."""
    key_pos, key_vel = jax.random.split(key)
    qpos = jnp.asarray(init_qpos) + jax.random.uniform(key_pos, init_qpos.shape,
                                                       minval=-0.1, maxval=0.1)
    qpos = qpos.at[:2].add(start)
    qvel = 0.1 * jax.random.normal(key_vel, (model.nv,))
    return data_from_state(model, qpos, qvel, forward=False)


@struct.dataclass
class AntMazeParams:
    """Per-task parameters.

    Attributes:
        goal: ``[2]`` float32, goal xy (m); the reward is 1 within ``0.5`` m of it.
        model_fields: ``{mjx.Model field: array}`` swapped into the model (empty default).
        start: ``[2]`` float32, xy (m) the ant is reset at (default the ``R`` cell, the
            origin; D4RL's ``non_zero_reset`` datasets start in any free cell).
    """

    goal: jax.Array
    model_fields: dict
    start: jax.Array = struct.field(default_factory=lambda: jnp.zeros((2,), jnp.float32))


class AntMaze(MjxEnv):
    """D4RL AntMaze (see the module docstring).

    Args:
        maze: ``"umaze"``, ``"medium"`` or ``"large"``.
        episode_length: time limit (default: umaze 700, medium/large 1000).
        terminate_at_goal: end the episode at the goal (D4RL's ``eval=True``; default).
        solver_iterations: Newton iteration cap (default 4).
        ls_iterations: line-search cap (default 8).

    Raises:
        ValueError: for an unknown maze or bad limits.
    """

    def __init__(
        self,
        maze: str = "umaze",
        episode_length: int | None = None,
        terminate_at_goal: bool = True,
        solver_iterations: int = DEFAULT_SOLVER_ITERATIONS,
        ls_iterations: int = DEFAULT_LS_ITERATIONS,
    ):
        mj_model = build_ant_model(maze, solver_iterations, ls_iterations)
        if episode_length is None:
            episode_length = EPISODE_LENGTHS[maze]
        super().__init__(
            mj_model, n_substeps=FRAME_SKIP, episode_length=episode_length, source=ANT_XML
        )
        self.maze = maze
        self.terminate_at_goal = bool(terminate_at_goal)
        self.init_qpos = np.array(mj_model.qpos0, np.float32)
        self.goal_cell = find_cell(maze, "G")

    @property
    def name(self) -> str:
        return f"antmaze-{self.maze}"

    def default_params(self) -> AntMazeParams:
        goal = jnp.asarray(cell_xy(self.maze, *self.goal_cell), jnp.float32)
        return AntMazeParams(goal=goal, model_fields={})

    def sample_goal(self, key: jax.Array) -> jax.Array:
        """D4RL's evaluation goal ``[2]``: ``noisy_cell_goal`` of the ``G`` cell."""
        return noisy_cell_goal(key, jnp.asarray(cell_xy(self.maze, *self.goal_cell), jnp.float32))

    def sample_task(self, key: jax.Array) -> AntMazeParams:
        """Params with a D4RL-noisy goal (``sample_goal``); ``TaskPerEpisode`` calls it at reset."""
        return self.default_params().replace(goal=self.sample_goal(key))

    def reset_data(self, key, params, model) -> tuple[mjx.Data, dict]:
        return ant_reset_data(key, self.init_qpos, model, params.start), {}

    def observation(self, data, extras, params) -> jax.Array:
        return jnp.concatenate([data.qpos[:15], data.qvel[:14]])

    def at_goal(self, data: mjx.Data, params: AntMazeParams) -> jax.Array:
        """``[]`` bool, ``|xy - goal| <= 0.5``."""
        return jnp.linalg.norm(data.qpos[:2] - params.goal) <= GOAL_RADIUS

    def task_step(self, data_before, data, action, extras, params) -> TaskStep:
        success = self.at_goal(data, params)
        terminated = success & self.terminate_at_goal
        info = {
            "success": success,
            "distance_to_goal": jnp.linalg.norm(data.qpos[:2] - params.goal),
        }
        return TaskStep(success.astype(jnp.float32), terminated, extras, info)
