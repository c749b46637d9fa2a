"""The SAC policies shipped in ``purerl/policies/`` (``purerl-datagen --policy NAME``).

Fast: every shipped directory loads, its provenance agrees with its name and config, its
params fit the actor its config builds, and medium / expert pairs come from one run with
the medium return near a third of the expert's. Slow: a short collection with each
shipped policy earns a return near the one its provenance records.
"""

import os

import jax
import numpy as np
import pytest

from purerl.cli import sac as sac_cli
from purerl.cli import sac_policies as P
from purerl.cli import datagen

SHIPPED = sorted(d for d in os.listdir(P.PACKAGE_POLICIES)
                 if os.path.exists(os.path.join(P.PACKAGE_POLICIES, d, "params.npz")))


def test_policies_are_shipped():
    assert {"halfcheetah_medium", "halfcheetah_expert"} <= set(SHIPPED), SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policy_matches_its_name_config_and_actor(name):
    policy = P.load(name)
    env_id, role = name.rsplit("_", 1)
    prov = policy.provenance
    assert prov["role"] == role and prov["env_id"] == env_id == policy.config["env_id"]
    assert prov["training_command"].startswith("purerl-sac ")
    assert np.isfinite(prov["eval_return"]) and np.isfinite(prov["expert_return"])
    args = sac_cli.args_from_config(policy.config)
    setup = sac_cli.build_setup(args)
    obs = np.zeros(setup.env.observation_space(setup.env_params).shape, np.float32)
    expected = jax.eval_shape(setup.parts.learner.actor.init, jax.random.PRNGKey(0), obs)
    shapes = lambda tree: jax.tree.map(lambda x: tuple(np.shape(x)), tree)  # noqa: E731
    assert shapes(policy.actor) == shapes(expected)


@pytest.mark.parametrize("env_id", sorted({n.rsplit("_", 1)[0] for n in SHIPPED
                                           if n.endswith("_medium")}))
def test_medium_and_expert_come_from_one_run(env_id):
    medium, expert = P.load(f"{env_id}_medium"), P.load(f"{env_id}_expert")
    assert medium.provenance["source_run"] == expert.provenance["source_run"]
    assert medium.provenance["expert_return"] == expert.provenance["eval_return"]
    assert medium.provenance["update"] < expert.provenance["update"]
    # D4RL's medium: about a third of the expert (the nearest evaluated snapshot).
    ratio = medium.provenance["eval_return"] / expert.provenance["eval_return"]
    assert 0.15 < ratio < 0.5, ratio


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policy_earns_its_recorded_return(name, tmp_path):
    """10 sampled-action episodes of 1000 steps (one compile of the MJX task, ~1-2 min on
    2 cores) earn between half and 1.1x the recorded deterministic evaluation: sampling the
    tanh-Gaussian, as D4RL's datasets do, costs return (halfcheetah_medium: 718 sampled
    over 200 episodes vs 1078 deterministic)."""
    meta = datagen.main([f"--policy={name}", "--dataset", name.rsplit("_", 1)[1],
                         "--num_transitions=10000", "--num_envs=10", "--format=d4rl",
                         f"--out_dir={tmp_path}"])
    recorded = P.load(name).provenance["eval_return"]
    assert meta["num_episodes"] == 10
    assert 0.5 * recorded < meta["policy_return"] < 1.1 * recorded, (meta, recorded)
