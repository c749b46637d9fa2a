"""D4RL normalised scores and dataset-name resolution."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs_jax.offline import env_family, normalized_score, spec_for


@pytest.mark.parametrize(
    "name, ret, expected",
    [
        ("hopper-medium-v2", -20.272305, 0.0),
        ("hopper-medium-v2", 3234.3, 100.0),
        # 100 * (1617.0139 + 20.272305) / (3234.3 + 20.272305) = 50.3073
        ("hopper-medium-replay-v2", 1617.0139, 50.3073),
        ("halfcheetah-medium-v2", 12135.0, 100.0),
        # 100 * (5000 + 280.178953) / (12135 + 280.178953) = 42.5300
        ("halfcheetah-medium-v2", 5000.0, 42.5300),
        # 100 * (3000 - 1.629008) / (4592.3 - 1.629008) = 65.3144
        ("walker2d-medium-expert-v2", 3000.0, 65.3144),
        ("ant-medium-v2", -325.6, 0.0),
        ("antmaze-large-diverse-v0", 0.726, 72.6),
        ("D4RL/antmaze/large-play-v1", 1.0, 100.0),
        ("mujoco/walker2d/expert-v0", 4592.3, 100.0),
    ],
)
def test_normalized_score_values(name, ret, expected):
    assert normalized_score(name, ret) == pytest.approx(expected, abs=1e-4)


def test_normalized_score_arrays_and_jit():
    np.testing.assert_allclose(
        normalized_score("antmaze-umaze-v0", np.array([0.0, 0.5, 1.0])), [0, 50, 100]
    )
    traced = jax.jit(lambda r: normalized_score("hopper-medium-v2", r))(
        jnp.array([3234.3], jnp.float32)
    )
    assert traced.dtype == jnp.float32 and float(traced[0]) == pytest.approx(100.0, abs=1e-3)


def test_family_resolution():
    assert env_family("antmaze-umaze-diverse-v0") == "antmaze"  # not "ant"
    assert env_family("ant-medium-v2") == "ant"
    assert env_family("D4RL/antmaze/medium-play-v1") == "antmaze"
    assert env_family("mujoco/halfcheetah/simple-v0") == "halfcheetah"
    assert spec_for("hopper-medium-v2").obs_dim == 11 and spec_for("hopper").action_dim == 3
    assert (spec_for("halfcheetah").obs_dim, spec_for("walker2d").action_dim) == (17, 6)
    assert (
        spec_for("antmaze-large-play-v0").obs_dim,
        spec_for("antmaze-large-play-v0").action_dim,
    ) == (29, 8)
    assert spec_for("antmaze-umaze-v0").max_episode_steps == 700
    assert spec_for("antmaze-medium-play-v0").max_episode_steps == 1000
    for bad in ("pendulum", "antelope-v0", "hopperx"):
        with pytest.raises(ValueError, match="env_name: expected a name starting with one of"):
            env_family(bad)
