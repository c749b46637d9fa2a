"""cheetah-run on MJX: protocol, DMC reward, time limit, reset and parity with C MuJoCo.

MJX compiles take a minute or more on the 2-core CPU and XLA compiles every copy of
``mjx.step`` in a program separately, so the default tier compiles ONE program with one
copy: a vmapped reset without the 200 settling steps (``settle_steps=0``) and a vmapped base
step, shared by every test that needs it (the parity run steps it 20 times). Measured on
the shared 2-core CPU (load ~7) that compile took 163 s, over the default tier's budget,
so the tests using it are ``slow``, as are the DMC reset (settling included) and the full
``AutoReset`` contract. The default tier keeps the uncompiled checks; the pixel renderer's
default-tier tests are in ``test_mjx_render.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import envs_jax
from envs_jax.mjx.cheetah_run import CHEETAH_XML, CheetahRun, run_reward
from mjx_contract import check_contract, compile_contract_fns

N = 2  # envs per batch
PARITY_STEPS = 20


@pytest.fixture(scope="module")
def compiled():
    env, params = envs_jax.make("cheetah-run", settle_steps=0)

    def reset_and_step(keys, state, action):
        reset = jax.vmap(lambda k: env.reset(k, params))(keys)
        ts = jax.vmap(lambda k, s, a: env.step(k, s, a, params))(keys, state, action)
        return reset, ts

    fn = jax.jit(reset_and_step)
    keys = jax.random.split(jax.random.key(0), N)
    template = jax.eval_shape(jax.vmap(lambda k: env.reset(k, params)), keys)[1]
    zeros_state = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template)
    (obs, state), _ = fn(keys, zeros_state, jnp.zeros((N, env.action_size)))
    return {"env": env, "params": params, "fn": fn, "keys": keys, "obs": obs, "state": state}


def _step(c, state, action, seed=1):
    keys = jax.random.split(jax.random.key(seed), N)
    return c["fn"](keys, state, jnp.asarray(action, jnp.float32))[1]


def test_sizes_and_spaces():
    env, params = envs_jax.make("cheetah-run")
    assert env.obs_size == 17  # qpos[1:] (8) + qvel (9), DMC's position + velocity
    assert env.action_size == 6
    assert env.dt == pytest.approx(0.01) and env.n_substeps == 1
    assert env.episode_length == 1000
    act = env.action_space(params)
    np.testing.assert_array_equal(act.low, -np.ones(6))
    np.testing.assert_array_equal(act.high, np.ones(6))


@pytest.mark.slow
def test_contract(compiled):
    c = compiled
    env, params, obs, state = c["env"], c["params"], c["obs"], c["state"]
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    assert obs.shape == (N, 17) and obs.dtype == jnp.float32
    assert bool(jnp.all(jax.vmap(obs_space.contains)(obs)))
    assert not np.allclose(obs[0], obs[1])  # reset noise differs per key
    # reset is a pure function of the key
    (obs_again, _), _ = c["fn"](c["keys"], state, jnp.zeros((N, 6)))
    np.testing.assert_array_equal(obs, obs_again)
    np.testing.assert_array_equal(obs, state.obs)

    action = jax.vmap(act_space.sample)(jax.random.split(jax.random.key(3), N))
    ts = _step(c, state, action)
    assert jax.tree.structure(ts.state) == jax.tree.structure(state)
    for before, after in zip(jax.tree.leaves(state), jax.tree.leaves(ts.state)):
        assert before.shape == after.shape and before.dtype == after.dtype
    assert ts.obs.shape == (N, 17) and ts.obs.dtype == jnp.float32
    assert ts.reward.shape == (N,) and ts.reward.dtype == jnp.float32
    assert ts.terminated.dtype == jnp.bool_ and ts.truncated.dtype == jnp.bool_
    assert not ts.terminated.any() and not ts.truncated.any()
    np.testing.assert_array_equal(ts.info["final_obs"], ts.obs)
    assert ts.info["speed"].shape == (N,)
    np.testing.assert_array_equal(ts.state.time_step, [1, 1])
    # AutoReset swaps in a reset state with jnp.where: same structure/dtypes as a step's
    assert jax.tree.structure(ts.state) == jax.tree.structure(state)


def test_reward_is_dmc_linear_tolerance():
    # tolerance(x, bounds=(10, inf), margin=10, value_at_margin=0, sigmoid="linear"):
    # 1 inside the bounds, 1 - (10 - x)/10 within one margin below, 0 further away.
    speed = jnp.array([-3.0, 0.0, 2.5, 7.0, 9.99, 10.0, 25.0])
    expected = np.array([0.0, 0.0, 0.25, 0.7, 0.999, 1.0, 1.0], np.float32)
    np.testing.assert_allclose(run_reward(speed), expected, atol=1e-6)


@pytest.mark.slow
def test_time_limit_truncates_never_terminates(compiled):
    c = compiled
    state = c["state"].replace(time_step=jnp.array([999, 5], jnp.int32))
    ts = _step(c, state, jnp.zeros((N, 6)))
    np.testing.assert_array_equal(ts.truncated, [True, False])
    np.testing.assert_array_equal(ts.terminated, [False, False])  # DMC never terminates
    np.testing.assert_array_equal(ts.state.time_step, [1000, 6])
    np.testing.assert_array_equal(ts.info["final_obs"], ts.obs)  # base env: no auto-reset


def dmc_model() -> mujoco.MjModel:
    """DMC's full model in C MuJoCo (self-collision on; the env prunes it by default)."""
    return mujoco.MjModel.from_xml_path(CHEETAH_XML)


def test_default_prunes_only_self_collision():
    m, full = CheetahRun().mj_model, dmc_model()
    floor = m.geom_bodyid == 0
    np.testing.assert_array_equal(m.geom_contype, full.geom_contype)
    np.testing.assert_array_equal(m.geom_conaffinity[floor], full.geom_conaffinity[floor])
    assert np.all(m.geom_conaffinity[~floor] == 0)
    # every body geom still meets the floor: (type_body & affinity_floor) != 0
    assert np.all(m.geom_contype[~floor] & m.geom_conaffinity[floor][0])


@pytest.mark.slow
def test_reset_matches_dmc_initialisation_in_c_mujoco():
    """Limited joints ~ U(range) from the key, then 200 zero-control C MuJoCo steps."""
    env, params = envs_jax.make("cheetah-run")
    keys = jax.random.split(jax.random.key(0), N)
    _, state = jax.jit(jax.vmap(lambda k: env.reset(k, params)))(keys)
    m = dmc_model()
    limited = np.flatnonzero(m.jnt_limited)
    low, high = m.jnt_range[limited].T.astype(np.float32)
    for i, key in enumerate(keys):
        angles = np.asarray(jax.random.uniform(key, low.shape, minval=low, maxval=high))
        assert np.all((angles >= low) & (angles <= high))
        d = mujoco.MjData(m)
        d.qpos[limited] = angles
        mujoco.mj_step(m, d, nstep=200)
        mujoco.mj_forward(m, d)
        np.testing.assert_allclose(state.data.qpos[i], d.qpos, atol=2e-4)
        np.testing.assert_allclose(state.data.qvel[i], d.qvel, atol=2e-3)
    np.testing.assert_array_equal(state.data.time, [0.0, 0.0])
    np.testing.assert_array_equal(state.time_step, [0, 0])


@pytest.mark.slow
def test_parity_with_c_mujoco_over_20_steps(compiled):
    """Same start state and actions: MJX (float32, no self-collision) vs DMC's full model in
    C MuJoCo (float64) stay within 1e-4 in qpos, 1e-3 in qvel, 1e-4 in reward (measured:
    ~3e-7, ~2e-5, ~3e-6)."""
    c = compiled
    m = dmc_model()
    d = mujoco.MjData(m)
    d.qpos[:] = np.asarray(c["state"].data.qpos[0], np.float64)
    d.qvel[:] = np.asarray(c["state"].data.qvel[0], np.float64)
    rng = np.random.default_rng(0)
    state = c["state"]
    errors = []
    for _ in range(PARITY_STEPS):
        action = rng.uniform(-1.0, 1.0, (N, 6)).astype(np.float32)
        ts = _step(c, state, action)
        state = ts.state
        d.ctrl[:] = action[0]
        mujoco.mj_step(m, d)
        mujoco.mj_forward(m, d)  # DMC reads the sensor of the new state (mj_step1)
        speed = d.sensordata[0]  # torso_subtreelinvel x
        reward = min(max(speed / 10.0, 0.0), 1.0)
        errors.append(
            (
                np.abs(np.asarray(state.data.qpos[0]) - d.qpos).max(),
                np.abs(np.asarray(state.data.qvel[0]) - d.qvel).max(),
                abs(float(ts.reward[0]) - reward),
            )
        )
        obs = np.concatenate([d.qpos[1:], d.qvel])
        np.testing.assert_allclose(ts.obs[0], obs, atol=1e-3)
    qpos_err, qvel_err, reward_err = np.max(errors, axis=0)
    assert qpos_err < 1e-4 and qvel_err < 1e-3 and reward_err < 1e-4, errors


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="obs_mode"):
        CheetahRun(obs_mode="rgb")
    with pytest.raises(ValueError, match="settle_steps"):
        CheetahRun(settle_steps=-1)
    with pytest.raises(ValueError, match="camera"):
        CheetahRun(obs_mode="pixels", camera="front")
    with pytest.raises(ValueError, match="width"):
        CheetahRun(obs_mode="pixels", image_size=0)


@pytest.mark.slow
def test_reset_without_settling_is_the_sampled_pose(compiled):
    """settle_steps=0: qpos = qpos0 with the limited joints ~ U(range) drawn from the key."""
    m, state = compiled["env"].mj_model, compiled["state"]
    limited = np.flatnonzero(m.jnt_limited)
    low, high = m.jnt_range[limited].T.astype(np.float32)
    for i, key in enumerate(compiled["keys"]):
        angles = np.asarray(jax.random.uniform(key, low.shape, minval=low, maxval=high))
        expected = m.qpos0.copy()
        expected[limited] = angles
        np.testing.assert_allclose(state.data.qpos[i], expected, atol=1e-6)
        np.testing.assert_array_equal(state.data.qvel[i], np.zeros(m.nv))


@pytest.mark.slow
def test_autoreset_contract_default_env():
    """Engineer A's shared contract check on the default (DMC) env under AutoReset."""
    env, params = envs_jax.make("cheetah-run")
    check_contract(compile_contract_fns(env, params, num_envs=2), num_steps=2)
