"""AntMaze data collection (``envs_jax.offline.navigation``): the planner against hand-traced
paths and BFS distances, the controller's waypoints and noise, the goal split; one compiled
collection on the umaze in the slow tier."""

from __future__ import annotations

from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.mjx.antmaze import MAZES, cell_xy, free_cells
from envs_jax.offline import collect as C
from envs_jax.offline import navigation as nav


def _idx(maze, row, col):
    return row * len(MAZES[maze][0]) + col


def test_umaze_planner_by_hand():
    """umaze's only corridor: R (1,1) -> (1,2) -> (1,3) -> (2,3) -> (3,3) -> (3,2) -> G (3,1)."""
    t = nav.next_cell_table("umaze")
    i = lambda r, c: _idx("umaze", r, c)  # noqa: E731
    path = [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1)]
    for here, nxt in zip(path[:-2], path[1:-1]):
        assert t[i(3, 1), i(*here)] == i(*nxt)
    assert t[i(3, 1), i(3, 2)] == i(3, 1)       # next to the goal's cell: head for the goal
    assert t[i(3, 1), i(3, 1)] == i(3, 1)       # in it
    for here, nxt in zip(path[::-1][:-2], path[::-1][1:-1]):
        assert t[i(1, 1), i(*here)] == i(*nxt)  # and back
    assert t[i(3, 1), i(0, 0)] == i(3, 1)       # from a wall: straight for the goal


@pytest.mark.parametrize("maze", list(MAZES))
def test_following_the_planner_takes_the_bfs_distance(maze):
    table = nav.next_cell_table(maze)
    cols = len(MAZES[maze][0])
    free = set(free_cells(maze))
    rng = np.random.default_rng(0)
    targets = [tuple(x) for x in rng.permutation(sorted(free))[:4]]
    for target in targets:
        dist, queue = {target: 0}, deque([target])
        while queue:
            r, c = queue.popleft()
            for n in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if n in free and n not in dist:
                    dist[n] = dist[(r, c)] + 1
                    queue.append(n)
        assert set(dist) == free                       # D4RL's mazes are connected
        t = target[0] * cols + target[1]
        for start in free:
            k, steps = start[0] * cols + start[1], 0
            while k != t:
                nxt = int(table[t, k])
                r, c = divmod(nxt, cols)
                assert (r, c) in free
                assert abs(r - k // cols) + abs(c - k % cols) == 1   # a 4-neighbour move
                k, steps = nxt, steps + 1
            assert steps == dist[start]


def _direction_policy(action_noise=0.0):
    """A goal policy whose first two action entries are the unit waypoint direction."""
    def goal_action(key, goal_obs):
        assert goal_obs.shape[1] == 29
        return jnp.concatenate([goal_obs[:, -2:] / 10.0, jnp.zeros((goal_obs.shape[0], 6))], -1)
    return nav.navigation_policy(goal_action, "umaze", action_noise)


def test_controller_heads_for_the_next_cell_then_the_goal():
    goal = jnp.array([0.5, 8.5])                       # in G (3, 1), at (0, 8)
    obs = jnp.zeros((3, 31)).at[:, -2:].set(goal)
    obs = obs.at[1, :2].set(jnp.array([0.0, 7.8]))     # in the goal's cell
    obs = obs.at[2, :2].set(jnp.array([4.0, 8.0]))     # in (3, 2), next to it
    policy = _direction_policy()
    _, action = policy.act(policy.initial_hidden(3), obs, jnp.zeros(3, bool),
                           jax.random.key(0))
    # from R the next cell is (1, 2), centre (4, 0) + U(0, 1)^2: heading +x, a little +y
    assert float(action[0, 0]) > 0.96 and 0.0 <= float(action[0, 1]) < 0.25
    np.testing.assert_allclose(action[1, :2], np.array([0.5, 0.7]) / np.hypot(0.5, 0.7),
                               rtol=1e-5)
    np.testing.assert_allclose(action[2, :2], np.array([-3.5, 0.5]) / np.hypot(3.5, 0.5),
                               rtol=1e-5)
    assert np.all(np.asarray(action[:, 2:]) == 0.0)


def test_action_noise_and_clip():
    policy = _direction_policy(action_noise=0.2)
    obs = jnp.zeros((4000, 31)).at[:, -2:].set(jnp.array([0.5, 8.5]))
    _, action = policy.act(policy.initial_hidden(4000), obs, jnp.zeros(4000, bool),
                           jax.random.key(1))
    noise = np.asarray(action[:, 2:])                  # the goal policy gave 0 there
    np.testing.assert_allclose(noise.std(), 0.2, rtol=0.03)
    assert np.asarray(action).max() <= 1.0 and np.asarray(action).min() >= -1.0
    with pytest.raises(ValueError, match="action_noise"):
        nav.navigation_policy(lambda k, o: o, "umaze", -0.1)


def test_split_goal_moves_the_goal_columns_to_infos_and_minari_keeps_them():
    obs = np.arange(3 * 31, dtype=np.float32).reshape(3, 31)
    nxt = obs + 100
    out = nav.split_goal({"observations": obs, "next_observations": nxt,
                          "actions": np.zeros((3, 8), np.float32),
                          "rewards": np.zeros(3, np.float32),
                          "terminals": np.zeros(3, bool),
                          "timeouts": np.array([False, False, True])})
    np.testing.assert_array_equal(out["observations"], obs[:, :29])
    np.testing.assert_array_equal(out["next_observations"], nxt[:, :29])
    np.testing.assert_array_equal(out["infos/goal"], obs[:, 29:])
    np.testing.assert_array_equal(out["infos/next_goal"], nxt[:, 29:])
    assert "infos/goal" in C.d4rl_arrays(out) and "infos/next_goal" not in C.d4rl_arrays(out)
    (episode,) = C.minari_episodes(out)                 # goals per observation, T + 1
    np.testing.assert_array_equal(episode["infos"]["goal"],
                                  np.concatenate([obs[:, 29:], nxt[2:, 29:]]))


def test_navigation_needs_an_antmaze_that_goes_on_at_the_goal():
    env, _ = envs_jax.make("antmaze-umaze")
    with pytest.raises(ValueError, match="terminate_at_goal=False"):
        nav.MazeNavigation(env)
    hopper, _ = envs_jax.make("hopper")
    with pytest.raises(ValueError, match="AntMaze"):
        nav.MazeNavigation(hopper)


@pytest.mark.slow
def test_collects_d4rl_antmaze_rows_on_the_umaze():
    base, params = envs_jax.make("antmaze-umaze", episode_length=10, terminate_at_goal=False)
    env = nav.MazeNavigation(base)
    rows = C.collect(env, params, _direction_policy(0.2), jax.random.key(0), 40, 2,
                     chunk_steps=20)
    data = nav.split_goal(rows)
    assert data["observations"].shape == data["next_observations"].shape == (40, 29)
    assert data["infos/goal"].shape == (40, 2) and data["infos/qpos"].shape == (40, 15)
    np.testing.assert_array_equal(data["observations"][:, :2], data["infos/qpos"][:, :2])
    assert not data["terminals"].any()
    np.testing.assert_array_equal(np.flatnonzero(data["timeouts"]), [9, 19, 29, 39])
    centres = np.array([cell_xy("umaze", i, j) for i, j in free_cells("umaze")])
    for first in (0, 10, 20, 30):                       # each episode: a free start cell
        start = data["infos/qpos"][first, :2]
        assert np.abs(centres - start).max(axis=1).min() <= 0.1 + 1e-6
        offset = data["infos/goal"][first] - centres   # goal = a free cell + U(0, 1.5)^2
        assert ((offset >= -1e-6) & (offset <= 1.5)).all(axis=1).any()
    # within an episode the goal changes only on a reward
    same_episode = ~data["timeouts"][:-1]
    changed = np.any(data["infos/goal"][1:] != data["infos/goal"][:-1], axis=1)
    assert not (changed & same_episode & (data["rewards"][:-1] == 0)).any()
