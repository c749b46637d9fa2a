"""MJCF loading errors and the ``MjxEnv`` adapter, on a one-joint slider (fast compile)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mjx_contract import check_contract, compile_contract_fns

from envs_jax.mjx.base import MjxEnv, MjxParams, TaskStep, data_from_state, load_mjcf, put_model

# A unit-mass slider along x driven by a motor of gear 1; no gravity along x, no contacts.
SLIDER_XML = """
<mujoco>
  <option timestep="0.01"/>
  <worldbody>
    <body name="cart">
      <joint name="slide" type="slide" axis="1 0 0" damping="0"/>
      <geom type="box" size=".1 .1 .1" mass="1" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator><motor joint="slide" gear="1" ctrlrange="-1 1"/></actuator>
</mujoco>
"""


class Slider(MjxEnv):
    """Reward = x velocity; terminated when |x| > 1; obs = (x, v)."""

    def __init__(self, episode_length: int = 5):
        super().__init__(load_mjcf(SLIDER_XML), n_substeps=2, episode_length=episode_length)

    def reset_data(self, key, params, model):
        x0 = jax.random.uniform(key, (1,), minval=-0.1, maxval=0.1)
        return data_from_state(model, x0, jnp.zeros(1)), {"steps": jnp.zeros((), jnp.int32)}

    def observation(self, data, extras, params):
        return jnp.concatenate([data.qpos, data.qvel])

    def task_step(self, data_before, data, action, extras, params):
        reward = (data.qpos[0] - data_before.qpos[0]) / self.dt
        terminated = jnp.abs(data.qpos[0]) > 1.0
        return TaskStep(reward, terminated, {"steps": extras["steps"] + 1}, {"x": data.qpos[0]})


@pytest.fixture(scope="module")
def slider():
    env = Slider()
    return compile_contract_fns(env, env.default_params(), num_envs=2)


def test_missing_file_names_path(tmp_path):
    path = tmp_path / "nope.xml"
    with pytest.raises(ValueError, match="nope.xml"):
        load_mjcf(path)


def test_broken_xml_names_file_and_mujoco_message(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text("<mujoco><worldbody><geom type='tetrahedron'/></worldbody></mujoco>")
    with pytest.raises(ValueError) as err:
        load_mjcf(path)
    # our prefix + the path + MuJoCo's own words (the bad keyword and its element)
    msg = str(err.value)
    assert str(path) in msg and "invalid keyword" in msg and "tetrahedron" in msg


def test_broken_xml_string():
    with pytest.raises(ValueError, match=r"<MJCF string>.*XML parse error"):
        load_mjcf("<mujoco><worldbody><body></worldbody></mujoco>")


def test_mjx_incompatible_model_names_file(tmp_path):
    # MJX implements only the CG and Newton solvers: PGS loads in MuJoCo, fails in MJX.
    path = tmp_path / "pgs.xml"
    path.write_text(SLIDER_XML.replace('timestep="0.01"', 'timestep="0.01" solver="PGS"'))
    mj_model = load_mjcf(path)
    with pytest.raises(ValueError, match=r"pgs\.xml.*NotImplementedError.*PGS"):
        put_model(mj_model, path)


def test_dt_spaces_and_obs_size():
    env = Slider()
    params = env.default_params()
    assert env.dt == pytest.approx(0.02) and env.n_substeps == 2
    assert env.obs_size == 2
    assert env.observation_space(params).shape == (2,)
    act = env.action_space(params)
    np.testing.assert_array_equal(act.low, [-1.0]) and np.testing.assert_array_equal(
        act.high, [1.0]
    )


def test_bad_constructor_args():
    with pytest.raises(ValueError, match="n_substeps"):
        MjxEnv(load_mjcf(SLIDER_XML), n_substeps=0, episode_length=5)
    with pytest.raises(ValueError, match="episode_length"):
        MjxEnv(load_mjcf(SLIDER_XML), n_substeps=1, episode_length=0)


def test_contract(slider):
    check_contract(slider, num_steps=2)


def test_physics_reward_and_time_limit(slider):
    """Constant force F = 1 N on 1 kg from rest: v = a*t after each semi-implicit Euler step.

    MuJoCo's Euler integrator updates v first, then x with the new v, so after k substeps of
    h = 0.01 s: v_k = k*h, x_k = x_0 + h^2 * k(k+1)/2. The reward of the first control step
    (2 substeps) is (x_2 - x_0)/dt = h^2 * 3 / 0.02 = 0.015 m/s.
    """
    obs, state = slider.reset(jax.random.split(jax.random.key(1), 2))
    x0 = np.asarray(obs[:, 0])
    action = jnp.ones((2, 1))
    keys = jax.random.split(jax.random.key(2), 2)
    ts = slider.step(keys, state, action)
    np.testing.assert_allclose(np.asarray(ts.obs[:, 1]), 0.02, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ts.obs[:, 0]) - x0, 3e-4, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(ts.reward), 0.015, rtol=1e-4)
    assert not bool(jnp.any(ts.terminated | ts.truncated))
    np.testing.assert_array_equal(np.asarray(ts.state.extras["steps"]), [1, 1])

    # One step before the limit (5): the next step truncates, never terminates, and AutoReset
    # resets the counter while final_obs keeps the true last observation.
    late = ts.state.replace(time_step=jnp.full((2,), 4, jnp.int32))
    ts_end = slider.step(keys, late, action)
    np.testing.assert_array_equal(np.asarray(ts_end.truncated), [True, True])
    np.testing.assert_array_equal(np.asarray(ts_end.terminated), [False, False])
    np.testing.assert_array_equal(np.asarray(ts_end.state.time_step), [0, 0])
    assert np.all(np.asarray(ts_end.info["final_obs"][:, 1]) > 0.039)  # v after 4 substeps
    np.testing.assert_allclose(np.asarray(ts_end.obs[:, 1]), 0.0)  # fresh episode at rest

    # Past |x| > 1: terminated, and not truncated even at the time limit.
    far = late.replace(data=late.data.replace(qpos=jnp.full((2, 1), 1.5, jnp.float32)))
    ts_far = slider.step(keys, far, action)
    np.testing.assert_array_equal(np.asarray(ts_far.terminated), [True, True])
    np.testing.assert_array_equal(np.asarray(ts_far.truncated), [False, False])


def test_model_fields_in_params_change_physics():
    """Doubling the mass through params halves the acceleration: a vmapped batch of tasks."""
    env = Slider()
    model = env.mjx_model
    masses = jnp.stack([model.body_mass, model.body_mass * 2.0])
    params = MjxParams(model_fields={"body_mass": masses})

    def run(params, key):
        _, state = env.reset(key, params)
        state = state.replace(data=data_from_state(env.model(params), jnp.zeros(1), jnp.zeros(1)))
        return env.step(key, state, jnp.ones(1), params).obs[1]

    v = jax.jit(jax.vmap(run))(params, jax.random.split(jax.random.key(0), 2))
    np.testing.assert_allclose(np.asarray(v), [0.02, 0.01], rtol=1e-4)
