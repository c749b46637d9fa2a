"""D4RL AntMaze on MJX: wall layout vs the maps, goal/success, sizes; one compiled contract (umaze).

Layout and success checks build the model and run the task hooks eagerly (no compile).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mjx_contract import check_contract, compile_contract_fns
from mujoco import mjx

import envs_jax
from envs_jax.meta import TaskPerEpisode

# D4RL's maps (d4rl 1.1, maze_env.py: U_MAZE_TEST, BIG_MAZE_TEST, HARDEST_MAZE_TEST), written
# out here independently of the module: 1 wall, 0 free, R start, G goal.
MAPS = {
    "umaze": ["11111", "1R001", "11101", "1G001", "11111"],
    "medium": [
        "11111111",
        "1R011001",
        "10010001",
        "11000111",
        "10010001",
        "10100101",
        "100010G1",
        "11111111",
    ],
    "large": [
        "111111111111",
        "1R0001000001",
        "101101010101",
        "100000010001",
        "101111011101",
        "100101000001",
        "110101010111",
        "100100010G01",
        "111111111111",
    ],
}
# Hand-counted walls and the goal xy = 4 * (goal cell - start cell), start cell (1, 1).
WALL_COUNTS = {
    "umaze": 18,
    "medium": 38,
    "large": 62,
}  # row by row: 5+2+4+2+5, ..., 12+3+7+3+9+4+8+4+12
GOALS = {"umaze": (0.0, 8.0), "medium": (20.0, 20.0), "large": (32.0, 24.0)}
LIMITS = {"umaze": 700, "medium": 1000, "large": 1000}


@functools.cache
def env_of(maze):
    return envs_jax.make(f"antmaze-{maze}")


@pytest.mark.parametrize("maze", list(MAPS))
def test_wall_layout_matches_map(maze):
    env, params = env_of(maze)
    m = env.mj_model
    walls = [g for g in range(m.ngeom) if m.geom(g).name.startswith("block_")]
    assert len(walls) == WALL_COUNTS[maze] == sum(row.count("1") for row in MAPS[maze])
    expected = {
        (4.0 * (j - 1), 4.0 * (i - 1))
        for i, row in enumerate(MAPS[maze])
        for j, c in enumerate(row)
        if c == "1"
    }
    got = set()
    for g in walls:
        assert m.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX
        np.testing.assert_allclose(m.geom_size[g], [2.0, 2.0, 1.0])
        assert m.geom_bodyid[g] == 0  # static, part of the world
        x, y, z = m.geom_pos[g]
        assert z == pytest.approx(1.0)
        got.add((round(float(x), 6), round(float(y), 6)))
        i, j = (int(s) for s in m.geom(g).name.split("_")[1:])
        assert (x, y) == pytest.approx((4.0 * (j - 1), 4.0 * (i - 1)))
    assert got == expected
    # Free cells, start and goal, are not inside any wall.
    assert (0.0, 0.0) not in got and GOALS[maze] not in got
    np.testing.assert_allclose(np.asarray(params.goal), GOALS[maze])
    assert env.episode_length == LIMITS[maze]


def test_pruned_collisions_umaze():
    """Ant geoms collide with floor and (touchable) walls only; no self-collision."""
    env, _ = env_of("umaze")
    m = env.mj_model
    ant = [g for g in range(m.ngeom) if m.geom_bodyid[g] != 0]
    assert all(m.geom_conaffinity[g] == 0 for g in ant)  # ant never collides with itself
    # the corner blocks (0,0), (0,4), (4,0), (4,4) share no face with a free cell: collision off
    for name in ("block_0_0", "block_0_4", "block_4_0", "block_4_4"):
        g = m.geom(name).id
        assert m.geom_contype[g] == 0 and m.geom_conaffinity[g] == 0
    for name in ("block_0_1", "block_2_2", "block_3_4"):  # faces on free cells: collide
        g = m.geom(name).id
        assert m.geom_contype[g] == 1 and m.geom_conaffinity[g] == 1
    # block_2_0 is enclosed by walls (1,0), (3,0), (2,1) too: 18 - 4 corners - 1 = 13 collide
    g = m.geom("block_2_0").id
    assert m.geom_contype[g] == 0
    assert (
        sum(m.geom_contype[g] for g in range(m.ngeom) if m.geom(g).name.startswith("block_")) == 13
    )


def test_sizes_and_actions():
    env, params = env_of("umaze")
    assert env.obs_size == 29
    act = env.action_space(params)
    assert act.shape == (8,)
    np.testing.assert_array_equal(act.low, -1.0) and np.testing.assert_array_equal(act.high, 1.0)
    np.testing.assert_allclose(env.mj_model.actuator_gear[:, 0], 30.0)  # +-30 N m as D4RL
    assert env.dt == pytest.approx(0.1)


def test_bad_maze():
    with pytest.raises(ValueError, match="maze"):
        envs_jax.make("antmaze-umaze", maze="huge")


def _step_at(env, params, xy):
    data = mjx.make_data(env.mjx_model)
    qpos = np.array(env.mj_model.qpos0, np.float32)
    qpos[:2] = xy
    data = data.replace(qpos=jnp.asarray(qpos))
    return env.task_step(data, data, jnp.zeros(8), {}, params)


@pytest.mark.parametrize("maze", list(MAPS))
def test_success_detection(maze):
    env, params = env_of(maze)
    gx, gy = GOALS[maze]
    for xy, success in [
        ((gx, gy), True),
        ((gx + 0.49, gy), True),
        ((gx + 0.3, gy - 0.39), True),  # |d| = 0.492
        ((gx + 0.51, gy), False),
        ((gx + 0.36, gy + 0.36), False),  # |d| = 0.509
        ((0.0, 0.0), False),
    ]:
        task = _step_at(env, params, xy)
        assert float(task.reward) == float(success), (xy, task.reward)
        assert bool(task.terminated) == success and bool(task.info["success"]) == success
    # The goal lives in params: moving it moves success.
    moved = params.replace(goal=jnp.array([0.0, 0.0], jnp.float32))
    assert float(_step_at(env, moved, (0.2, 0.2)).reward) == 1.0
    # Without terminate_at_goal the reward stays, the episode goes on.
    env_on, _ = envs_jax.make(f"antmaze-{maze}", terminate_at_goal=False)
    task = _step_at(env_on, params, (gx, gy))
    assert float(task.reward) == 1.0 and not bool(task.terminated)


def test_sample_goal_follows_d4rl_noise():
    env, _ = env_of("medium")
    goals = np.asarray(jax.vmap(env.sample_goal)(jax.random.split(jax.random.key(0), 4000)))
    offset = goals - np.array(GOALS["medium"])
    assert offset.min() >= 0.0 and offset.max() <= 1.5  # U(0, 1) + U(0, 0.5)
    np.testing.assert_allclose(offset.mean(axis=0), 0.75, atol=0.03)


def test_task_per_episode_gives_each_reset_a_d4rl_goal():
    """antmaze-v2 evaluation draws a goal per episode: ``AntMaze.reset`` alone keeps
    ``params.goal``; ``TaskPerEpisode`` draws it from the reset key. Eager resets and task
    hooks only (no physics step is compiled)."""
    env, params = env_of("umaze")
    key = jax.random.PRNGKey(0)
    _, plain = env.reset(key, params)
    assert plain.extras == {}  # nothing per-episode about the goal without the wrapper
    wrapped = TaskPerEpisode(env)
    eval_params = wrapped.default_params()
    goals = []
    for k in jax.random.split(key, 3):
        obs, state = wrapped.reset(k, eval_params)
        goal = np.asarray(state.task.goal)
        np.testing.assert_array_equal(goal, env.sample_goal(jax.random.split(k)[0]))
        offset = goal - np.array(GOALS["umaze"])
        assert obs.shape == (29,) and np.all((offset >= 0.0) & (offset <= 1.5))
        # Success is judged against the episode's own goal.
        assert float(_step_at(env, state.task, goal).reward) == 1.0
        assert float(_step_at(env, state.task, goal + np.array([0.6, 0.0])).reward) == 0.0
        goals.append(goal)
    assert len({tuple(g) for g in goals}) == 3
    # The goals a batch of evaluation reset keys will draw, without any reset.
    batch = jax.vmap(wrapped.episode_task, in_axes=(0, None))(
        jax.random.split(key, 100), eval_params
    )
    assert (
        batch.goal.shape == (100, 2) and np.unique(np.asarray(batch.goal), axis=0).shape[0] == 100
    )
    # Fixed goals (held-out evaluation) through params_for_tasks.
    fixed = wrapped.params_for_tasks(jax.tree.map(lambda x: x[None], params))
    task = wrapped.episode_task(key, jax.tree.map(lambda x: x[0], fixed))
    np.testing.assert_array_equal(task.goal, params.goal)


@pytest.fixture(scope="module")
def umaze():
    env, params = env_of("umaze")
    return compile_contract_fns(env, params, num_envs=2)


@pytest.mark.slow
def test_contract_umaze(umaze):
    steps = check_contract(umaze, num_steps=2)
    obs = np.asarray(steps[-1].obs)
    assert np.all(np.abs(obs[:, :2]) < 0.5)  # still near the start cell at the origin
    assert not np.any(np.asarray(steps[-1].reward))  # the goal is 8 m away


def test_broad_phase_keeps_every_wall_contact():
    """MJX's ``max_geom_pairs`` broad phase keeps the pairs with the nearest bounding spheres:
    check, on C MuJoCo rollouts that push the ant into walls, that every ant-wall contact
    MuJoCo finds ranks inside the kept ``MAX_WALL_PAIRS`` (measured worst rank: 9 of 48).
    """
    from envs_jax.mjx.antmaze import MAX_WALL_PAIRS

    env, _ = env_of("umaze")
    m = env.mj_model
    d = mujoco.MjData(m)
    walls = [g for g in range(m.ngeom) if m.geom(g).name.startswith("block_") and m.geom_contype[g]]
    capsules = [g for g in range(m.ngeom) if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE]
    candidates = [(g, w) for g in capsules for w in walls]  # MJX's box-capsule group
    rng = np.random.default_rng(0)
    steps_with_contact, worst = 0, 0
    for start in [(-1.3, -1.3), (1.5, 0.0)]:  # next to a corner, next to a wall
        mujoco.mj_resetData(m, d)
        d.qpos[:2] = start
        for _ in range(80):
            d.ctrl[:] = rng.uniform(-1, 1, m.nu)
            mujoco.mj_step(m, d, nstep=5)
            touching = {
                (c.geom1, c.geom2) if c.geom1 in capsules else (c.geom2, c.geom1)
                for c in d.contact[: d.ncon]
                if {c.geom1, c.geom2} & set(walls) and {c.geom1, c.geom2} & set(capsules)
            }
            if not touching:
                continue
            steps_with_contact += 1
            dist = [
                np.linalg.norm(d.geom_xpos[w] - d.geom_xpos[g])
                - m.geom_rbound[g]
                - m.geom_rbound[w]
                for g, w in candidates
            ]
            rank = {candidates[i]: r for r, i in enumerate(np.argsort(dist))}
            worst = max(worst, *(rank[p] for p in touching))
    assert steps_with_contact > 20  # the rollouts really hit walls
    assert worst < MAX_WALL_PAIRS, worst
