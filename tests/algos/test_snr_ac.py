"""SNR actor-critic: NTK critic without target network, the SNR term gated by the BC phase
and applied to the policy or the critic, the seed README's bindings, and a CLI smoke run on
a D4RL-named dataset whose env does not exist yet (trains without evaluation)."""

import json
import os

import jax
import numpy as np
import pytest

from envs_jax.offline import sample_steps, spec_for, write_d4rl
from envs_jax.offline.synthetic import known_optimum_dataset, shaped_random_d4rl
from purerl.algos import snr_ac
from purerl.algos.snr_ac import make_learner
from purerl.cli import gin, offline
from purerl.losses.ntk_mlp import NTKCritic
from purerl.losses.snr import SNRKwargs

README_SNR_GIN = [
    "snr.config.SNRConfig.num_sgd_steps_per_step=200",
    "snr.config.SNRConfig.num_bc_iters=50000",
    "snr.config.SNRConfig.actor_network_hidden_sizes=(256, 256, 256)",
    "snr.config.SNRConfig.critic_network_hidden_sizes=(256, 256, 256)",
    "snr.config.SNRConfig.num_critics=1",
    "snr.config.SNRConfig.use_snr_in_bc_iters=False",
    'snr.config.SNRConfig.snr_applied_to="policy"',
    "snr.config.SNRConfig.snr_alpha=10",
    'snr.config.SNRKwargs.snr_mode="params_kernel"',
    'snr.config.SNRKwargs.snr_loss_type="svd_kamyar_v1"',
    "snr.config.SNRKwargs.snr_num_centroids=2048",
    "snr.config.SNRKwargs.snr_kmeans_iters=1",
    "snr.config.SNRKwargs.use_log_space_matrix=False",
    "snr.config.SNRKwargs.snr_matrix_tau=0.01",
    "snr.config.SNRConfig.snr_kwargs=@snr.config.SNRKwargs()",
]
README_KWARGS = SNRKwargs(snr_mode="params_kernel", snr_loss_type="svd_kamyar_v1",
                          snr_num_centroids=2048, snr_kmeans_iters=1,
                          use_log_space_matrix=False, snr_matrix_tau=0.01)


def tiny_cfg(snr_alpha: float, applied_to: str = "policy") -> snr_ac.Config:
    agent = gin.SNRConfig(actor_network_hidden_sizes=(8,), critic_network_hidden_sizes=(8,),
                             num_bc_iters=1, snr_alpha=snr_alpha, snr_applied_to=applied_to,
                             snr_kwargs=README_KWARGS, policy_lr=1e-2, q_lr=1e-2)
    return agent.learner_config(sgd_batch_size=6)


def leaves_close(a, b):
    return all(np.allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


_RUNS = {}


def two_steps(applied_to: str):
    """Two SGD steps (BC, then RL) of the SNR agent with snr_alpha=10 on ``applied_to``, from
    the same initial params, keys and batches for every variant (memoised: one compile each).

    Returns ``(learner, [state0, state1, state2], [metrics0, metrics1])``.
    """
    if applied_to not in _RUNS:
        dataset, _, _ = known_optimum_dataset(jax.random.PRNGKey(0), 64, obs_dim=2,
                                              action_dim=1)
        batches = sample_steps(jax.random.PRNGKey(1), dataset, 2, 12)
        learner = make_learner(tiny_cfg(10.0, applied_to), 2, 1)
        state = jax.jit(learner.init)(jax.random.PRNGKey(2))
        step = jax.jit(learner.sgd_step)
        states, metrics = [state], []
        for i in range(2):
            state, m = step(state, jax.tree.map(lambda x, i=i: x[i], batches))
            states.append(state)
            metrics.append(m)
        _RUNS[applied_to] = (learner, states, metrics)
    return _RUNS[applied_to]


def test_snr_agent_uses_an_ntk_critic_without_target():
    learner, states, metrics = two_steps("policy")
    assert isinstance(learner.critic_apply_one.__self__, NTKCritic)
    assert states[0].target_critic_params is None
    head = states[0].critic.params["params"]["head"]
    assert head["kernel"].shape == (1, 8, 1)                # [C=1, h, 1]
    # critic loss = 0.5 * mean squared TD error (no conservative term).
    for m in metrics:
        np.testing.assert_allclose(float(m["total_critic_loss"]), float(m["critic_loss"]),
                                   rtol=1e-6)
        assert "cql_term" not in m


def test_snr_term_on_the_policy_is_gated_by_the_bc_phase():
    _, _, (m0, m1) = two_steps("policy")
    # Step 0 is in the BC phase: the SNR term is not added (use_snr_in_bc_iters=False).
    assert float(m0["in_bc"]) == 1.0 and float(m0["snr_loss"]) > 0.0
    np.testing.assert_allclose(float(m0["actor_loss"]), float(m0["bc_loss"]), rtol=1e-6)
    # Step 1: active and above its threshold (top singular value > 1); svd_kamyar_v1's
    # loss is that singular value, added to the RL actor loss with weight snr_alpha = 10.
    sigma = float(m1["snr_top_singular_value"])
    assert float(m1["in_bc"]) == 0.0 and sigma > 1.0
    np.testing.assert_allclose(float(m1["snr_loss"]), sigma, rtol=1e-5)
    np.testing.assert_allclose(float(m1["actor_loss"]),
                               float(m1["rl_actor_loss"]) + 10.0 * sigma, rtol=1e-5)
    np.testing.assert_allclose(float(m1["total_critic_loss"]), float(m1["critic_loss"]),
                               rtol=1e-6)


@pytest.mark.slow
def test_snr_term_changes_the_update_of_the_network_it_is_applied_to():
    _, pol, _ = two_steps("policy")
    _, cri, cri_m = two_steps("critic")
    # Step 0 (BC): SNR gated off, both runs update identically.
    assert leaves_close(pol[1].actor.params, cri[1].actor.params)
    assert leaves_close(pol[1].critic.params, cri[1].critic.params)
    # Step 1 on the critic: critic loss = q_loss + 10 * SNR; actor loss has no SNR term.
    assert float(cri_m[1]["snr_top_singular_value"]) > 1.0
    np.testing.assert_allclose(float(cri_m[1]["total_critic_loss"]),
                               float(cri_m[1]["critic_loss"])
                               + 10.0 * float(cri_m[1]["snr_loss"]), rtol=1e-5)
    np.testing.assert_allclose(float(cri_m[1]["actor_loss"]), float(cri_m[1]["rl_actor_loss"]))
    # Each run is the other's SNR-free reference for the network SNR does not touch: the
    # policy run's actor differs from the critic run's (SNR-free) actor, and vice versa.
    assert not leaves_close(pol[2].actor.params, cri[2].actor.params)
    assert not leaves_close(pol[2].critic.params, cri[2].critic.params)


def test_readme_snr_bindings_parse_onto_our_config():
    argv = ["--num_steps", "11000", "--batch_size", "51200", "--algorithm", "snr",
            "--root_dir", "/tmp/test_snr", "--task_name", "antmaze-large-diverse-v0"]
    args = offline.parse_args(argv + [f"--gin_bindings={b}" for b in README_SNR_GIN])
    agent, cfg = offline.resolve_agent(args)
    assert isinstance(agent, gin.SNRConfig) and isinstance(cfg, snr_ac.Config)
    assert agent.snr_kwargs == README_KWARGS
    assert (agent.snr_alpha, agent.num_critics, agent.snr_applied_to) == (10.0, 1, "policy")
    # 0.5 * mean squared TD error, no target network, no conservative term.
    assert (cfg.td_loss_scale, cfg.polyak_tau) == (0.5, None)
    assert not hasattr(cfg, "cql_alpha")
    assert cfg.sgd_steps_per_call == 200 and cfg.sgd_batch_size == 256
    # The seed's SNRKwargs() defaults (ntk + log-space matrix) do not combine: clear error.
    with pytest.raises(ValueError, match="use_log_space_matrix: expected False"):
        offline.resolve_agent(offline.parse_args(["--algorithm", "snr", "--batch_size", "64"]))
    with pytest.raises(ValueError, match="--algorithm is 'snr'"):
        offline.resolve_agent(offline.parse_args(
            ["--algorithm", "snr", "--gin_bindings=cql.config.CQLConfig.cql_alpha=1.0"]))


@pytest.mark.parametrize("task_name, env_cls, obs_dim", [
    ("hopper-medium-v2", "Hopper", 11),
    ("antmaze-large-diverse-v0", "AntMaze", 29),
    ("D4RL/antmaze/umaze-v1", "AntMaze", 29),
])
def test_d4rl_task_resolves_to_its_mjx_env(task_name, env_cls, obs_dim):
    # Building the env loads the MJCF but compiles nothing.
    args = offline.parse_args(["--task_name", task_name, "--batch_size", "64"])
    env, params, reason = offline.resolve_env(args)
    assert type(env).__name__ == env_cls and reason == ""
    assert env.observation_space(params).shape == (obs_dim,)
    if env_cls == "AntMaze":
        assert env.maze == task_name.split("antmaze")[1].strip("-/").split("-")[0]


def test_d4rl_task_without_env_is_known_before_training(monkeypatch):
    monkeypatch.setattr(offline.envs_jax, "registered_envs", lambda: [])
    args = offline.parse_args(["--task_name", "hopper-medium-v2", "--batch_size", "64"])
    env, params, reason = offline.resolve_env(args)
    assert env is None and params is None
    assert "hopper-medium-v2" in reason and "training WITHOUT evaluation" in reason
    assert offline.make_eval_spec(args, env, params, None) is None


@pytest.mark.slow
def test_cli_without_env_trains_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(offline.envs_jax, "registered_envs", lambda: [])
    spec = spec_for("hopper-medium-v2")
    path = str(tmp_path / "hopper-medium-v2.hdf5")
    write_d4rl(path, shaped_random_d4rl(spec, 200, episode_len=50))
    root = str(tmp_path / "run")
    argv = ["--num_steps", "2", "--eval_every_steps", "1", "--episodes_per_eval", "3",
            "--batch_size", "8", "--root_dir", root, "--seed", "1", "--algorithm", "snr",
            "--task_class", "d4rl", "--task_name", "hopper-medium-v2",
            "--dataset_path", path,
            *[f"--gin_bindings={b}" for b in README_SNR_GIN
              if "hidden_sizes" not in b and "num_sgd_steps" not in b
              and "num_bc_iters" not in b],
            "--gin_bindings=snr.config.SNRConfig.num_sgd_steps_per_step=2",
            "--gin_bindings=snr.config.SNRConfig.num_bc_iters=0",
            "--gin_bindings=snr.config.SNRConfig.actor_network_hidden_sizes=(8,)",
            "--gin_bindings=snr.config.SNRConfig.critic_network_hidden_sizes=(8,)"]
    summary = offline.main(argv, default_algorithm="snr")
    out = capsys.readouterr().out
    assert "training WITHOUT evaluation" in out
    assert summary["evaluation"] is None and summary["sgd_steps_per_seed"] == 4
    with open(os.path.join(root, "summary.json")) as f:
        saved = json.load(f)
    assert np.isfinite(saved["final_train_metrics"]["snr_loss"])
    assert saved["final_train_metrics"]["in_bc"] == 0.0
    assert os.path.isdir(os.path.join(root, "params"))
