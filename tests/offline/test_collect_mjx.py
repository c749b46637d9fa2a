"""``envs_jax.offline.collect`` on the MJX hopper: D4RL's ``infos/qpos`` / ``infos/qvel``
are the physics state of each row's observation, terminations follow the hopper's health
rule, and the Minari layout carries ``T + 1`` physics states per episode. Slow tier: one
MJX rollout compile takes minutes on a loaded 2-core CPU."""

import jax
import numpy as np
import pytest

import envs_jax
from envs_jax.offline import collect as C
from envs_jax.offline import read_minari

pytestmark = pytest.mark.slow
ROWS, ENVS = 300, 2


@pytest.fixture(scope="module")
def hopper_rows():
    env, params = envs_jax.make("hopper")
    data = C.collect(env, params, C.uniform_policy(env.action_space(params)),
                     jax.random.PRNGKey(0), ROWS, ENVS, chunk_steps=ROWS // ENVS)
    return env, params, data


def test_qpos_qvel_are_the_state_of_each_observation(hopper_rows):
    """Hopper observes ``qpos[1:]`` and ``clip(qvel, -10, 10)`` (gym Hopper-v3)."""
    _, _, d = hopper_rows
    qpos, qvel = d["infos/qpos"], d["infos/qvel"]
    assert qpos.shape == (ROWS, 6) and qvel.shape == (ROWS, 6)
    np.testing.assert_array_equal(d["observations"][:, :5], qpos[:, 1:])
    np.testing.assert_array_equal(d["observations"][:, 5:], np.clip(qvel, -10, 10))
    np.testing.assert_array_equal(d["next_observations"][:, :5], d["infos/next_qpos"][:, 1:])
    np.testing.assert_allclose(d["infos/action_log_probs"], -3 * np.log(2.0))


def test_terminals_follow_the_health_rule_and_episodes_restart(hopper_rows):
    env, _, d = hopper_rows
    assert d["terminals"].sum() >= 4                  # random hopper falls in ~20-50 steps
    z, angle = d["infos/next_qpos"][:, 1], d["infos/next_qpos"][:, 2]
    unhealthy = (z <= 0.7) | (np.abs(angle) >= 0.2)
    healthy_state = np.abs(np.concatenate([d["infos/next_qpos"], d["infos/next_qvel"]],
                                          axis=1)[:, 2:]) < 100
    np.testing.assert_array_equal(d["terminals"], unhealthy | ~healthy_state.all(axis=1))
    starts = np.flatnonzero(d["terminals"][:-1]) + 1          # a fresh reset: qpos0 + noise
    assert np.abs(d["infos/qpos"][starts] - env.init_qpos).max() <= 5e-3 + 1e-6
    inside = ~(d["terminals"] | d["timeouts"])[:-1]
    np.testing.assert_array_equal(d["infos/next_qpos"][:-1][inside], d["infos/qpos"][1:][inside])


def test_minari_layout_has_a_physics_state_per_observation(hopper_rows, tmp_path):
    env, params, d = hopper_rows
    C.write_dataset(d, env, params, minari_dir=tmp_path / "m", dataset_id="purerl/hopper/x")
    _, episodes = read_minari(tmp_path / "m")
    assert sum(len(ep["rewards"]) for ep in episodes) == ROWS
    for ep in episodes:
        assert ep["infos"]["qpos"].shape == (len(ep["rewards"]) + 1, 6)
        np.testing.assert_array_equal(ep["observations"][:, :5], ep["infos"]["qpos"][:, 1:])
