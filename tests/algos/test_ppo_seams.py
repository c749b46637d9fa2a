"""PPO opened: flat / sequence minibatches, the normalisers, and the three seams
(reward_fn, extra_loss, aux state), each on a tiny CartPole config."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.wrappers import AutoReset, RecordEpisodeStats, VecEnv
from purerl.algos import ppo
from purerl.common.networks import GRUActorCritic, MLPActorCritic

# 8 envs x 16 steps; 1 epoch of 1 minibatch, so one update has exactly one minibatch.
TINY = ppo.PPOConfig(num_envs=8, num_steps=16, num_updates=3, num_minibatches=1,
                     update_epochs=1, learning_rate=1e-3)


def _env(cfg):
    env, params = envs_jax.make("gymnax/CartPole-v1")
    return VecEnv(AutoReset(RecordEpisodeStats(env)), cfg.num_envs), params


def _run(cfg, net=None, num_updates=None, **hooks):
    vec, params = _env(cfg)
    parts = ppo.make_train_parts(cfg, vec, params, net or MLPActorCritic(2, (16, 16)), **hooks)
    n = num_updates or cfg.num_updates
    return jax.jit(lambda k: parts.run_updates(parts.init(k), n))(jax.random.PRNGKey(0))


def _with_aux(cfg, **hooks):
    """``run(aux) -> (state, metrics)``: ONE compiled program whose aux state (a traced
    value the hooks read, e.g. a weight) is set by the caller (compiles cost ~10 s each)."""
    vec, params = _env(cfg)
    parts = ppo.make_train_parts(cfg, vec, params, MLPActorCritic(2, (16, 16)),
                                 aux_init=lambda key: jnp.zeros(()), **hooks)
    run = jax.jit(lambda k, aux: parts.run_updates(parts.init(k)._replace(aux=aux),
                                                   cfg.num_updates))
    return lambda aux: run(jax.random.PRNGKey(0), jnp.float32(aux))


def _leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(state.train_state.params)]


class Recorder:
    """An ``extra_loss`` of zero that hands each minibatch (and aux state) to the host."""

    def __init__(self):
        self.calls, self.indices = [], []

    def __call__(self, params, mb: ppo.Minibatch, aux_state):
        jax.debug.callback(lambda *a: self.calls.append(jax.tree.map(np.asarray, a)),
                           mb.transition, mb.targets, mb.advantages, aux_state)
        jax.debug.callback(lambda i: self.indices.append(int(i)), mb.index)
        return jnp.zeros(()), {}


def test_reward_fn_constant_shifts_targets_by_hand_computed_gae():
    """A reward term of +c shifts the first update's value targets by the GAE of c alone
    (GAE is linear in the reward and the rollout does not depend on it):
    d_t = c + gamma * lambda * (1 - done_t) * d_{t+1}, d_T = 0, per env."""
    c = 0.5
    cfg = dataclasses.replace(TINY, minibatch="sequence", num_updates=1)
    rec = Recorder()
    run = _with_aux(cfg, extra_loss=rec, reward_fn=lambda r, traj: traj.reward + r.aux)
    _, m0 = run(0.0)                                         # aux = the reward term
    _, m1 = run(c)
    (tr0, targets0, _, _), (tr1, targets1, _, _) = rec.calls
    np.testing.assert_array_equal(tr0.obs, tr1.obs)          # the same rollout
    done = tr1.done                                          # [T, N]
    expected = np.zeros_like(targets0)
    run = np.zeros(done.shape[1])
    for t in reversed(range(done.shape[0])):
        run = c + cfg.gamma * cfg.gae_lambda * (1.0 - done[t]) * run
        expected[t] = run
    np.testing.assert_allclose(targets1 - targets0, expected, rtol=1e-5, atol=1e-5)
    # The env's reward stays what is stored and logged.
    np.testing.assert_array_equal(tr0.reward, tr1.reward)
    np.testing.assert_array_equal(m0["episode_return_sum"], m1["episode_return_sum"])


def test_extra_loss_with_zero_weight_leaves_params_bitwise_unchanged():
    base, _ = _run(TINY)

    def l2(params, mb, weight):  # the aux state is the weight
        sq = sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(params))
        return weight * sq, {"l2": sq}

    run = _with_aux(TINY, extra_loss=l2)
    zero, metrics = run(0.0)
    for a, b in zip(_leaves(base), _leaves(zero)):
        np.testing.assert_array_equal(a, b)
    assert metrics["extra/l2"].shape == (TINY.num_updates,)
    assert np.all(metrics["extra/l2"] > 0)
    # A real weight goes through the same optimiser step and changes the params.
    pulled, _ = run(1.0)
    assert max(np.abs(a - b).max() for a, b in zip(_leaves(base), _leaves(pulled))) > 1e-4


def test_aux_state_updated_once_per_update_and_seen_by_the_other_seams():
    seen = Recorder()

    def aux_init(key):
        return {"count": jnp.zeros((), jnp.int32), "key": key}

    def aux_update(r, traj):
        assert traj.obs.shape[:2] == (TINY.num_steps, TINY.num_envs)
        return {**r.aux, "count": r.aux["count"] + 1}

    def reward_fn(r, traj):  # sees the aux state after this update's aux_update
        return traj.reward + r.aux["count"].astype(jnp.float32)

    state, _ = _run(TINY, aux_init=aux_init, aux_update=aux_update, reward_fn=reward_fn,
                    extra_loss=seen)
    assert int(state.aux["count"]) == TINY.num_updates
    assert [int(call[3]["count"]) for call in seen.calls] == [1, 2, 3]
    # Under vmap each seed carries its own aux state.
    vec, params = _env(TINY)
    parts = ppo.make_train_parts(TINY, vec, params, MLPActorCritic(2, (16, 16)),
                                 aux_init=aux_init, aux_update=aux_update)
    states, _ = jax.jit(jax.vmap(lambda k: parts.run_updates(parts.init(k), 2)))(
        jax.random.split(jax.random.PRNGKey(1), 3))
    np.testing.assert_array_equal(states.aux["count"], [2, 2, 2])
    assert not np.array_equal(states.aux["key"][0], states.aux["key"][1])
    with pytest.raises(ValueError, match="aux_init: expected a function"):
        ppo.make_train_parts(TINY, vec, params, MLPActorCritic(2, (16, 16)),
                             aux_update=aux_update)


class ShapeProbe(MLPActorCritic):
    """MLPActorCritic that records (hidden is None, obs shape) of every traced call."""

    def __call__(self, hidden, obs, reset):
        PROBED.append((hidden is None, obs.shape))
        return super().__call__(hidden, obs, reset)


PROBED: list = []


def test_feed_forward_minibatches_are_flat_recurrent_ones_whole_sequences():
    cfg = dataclasses.replace(TINY, num_minibatches=4, num_updates=1)
    PROBED.clear()
    _run(cfg, net=ShapeProbe(2, (16, 16)))
    batch = cfg.num_envs * cfg.num_steps // cfg.num_minibatches
    # Acting [N, obs], the bootstrap [T * N, obs], the loss [B, obs]: no time axis and no
    # state; only the shape check and init see [1, N, obs] with a dummy state.
    stateless = {shape for no_state, shape in PROBED if no_state}
    assert stateless == {(cfg.num_envs, 4), (cfg.num_envs * cfg.num_steps, 4), (batch, 4)}
    assert all(shape[0] == 1 for no_state, shape in PROBED if not no_state)
    # Recurrent: rejected as flat; auto gives [T, N / M] sequences (through the GRU).
    vec, params = _env(cfg)
    with pytest.raises(ValueError, match="minibatch: expected 'sequence' or 'auto' for the "
                                         "recurrent GRUActorCritic"):
        ppo.make_train_parts(dataclasses.replace(cfg, minibatch="flat"), vec, params,
                             GRUActorCritic(2, 8))
    rec = Recorder()
    _run(dataclasses.replace(cfg, num_minibatches=2), net=GRUActorCritic(2, 8), extra_loss=rec)
    assert rec.calls[0][0].obs.shape == (cfg.num_steps, cfg.num_envs // 2, 4)
    assert rec.indices == [0, 1]        # Minibatch.index: the position in its epoch
    # flat only needs num_minibatches to divide N * T
    ppo.PPOConfig(num_envs=6, num_steps=4, num_minibatches=8, minibatch="flat")
    with pytest.raises(ValueError, match=r"num_minibatches: expected a divisor of num_envs "
                                         r"\* num_steps = 24"):
        ppo.PPOConfig(num_envs=6, num_steps=4, num_minibatches=5, minibatch="flat")


def test_normalisers_match_numpy_statistics_and_keep_the_first_ratio_at_one():
    cfg = dataclasses.replace(TINY, minibatch="sequence", num_updates=1, normalize_obs=True,
                              normalize_value=True)
    rec = Recorder()
    state, metrics = _run(cfg, extra_loss=rec)
    (tr, targets, _, _), = rec.calls
    obs = tr.obs.reshape(-1, 4)                    # raw observations of the one rollout
    np.testing.assert_allclose(state.obs_stats.mean, obs.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.obs_stats.var, obs.var(0), rtol=1e-4, atol=1e-6)
    assert float(state.obs_stats.count) == obs.shape[0]
    np.testing.assert_allclose(state.value_stats.mean, targets.mean(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.value_stats.var, targets.var(), rtol=1e-4, atol=1e-6)
    # Rollout and loss used the same (frozen) observation statistics: before the single
    # gradient step the new policy IS the old one.
    assert abs(float(metrics["approx_kl"][0])) < 1e-6 and float(metrics["clip_frac"][0]) == 0.0
    # Off by default: no statistics in the state (traced only, nothing compiled).
    vec, params = _env(TINY)
    parts = ppo.make_train_parts(TINY, vec, params, MLPActorCritic(2, (16, 16)))
    plain = jax.eval_shape(parts.init, jax.random.PRNGKey(0))
    assert plain.obs_stats is None and plain.value_stats is None and plain.aux is None


def test_evaluate_fn_replaces_the_evaluation_block():
    """``evaluate_fn`` gets the runner state after the block's last update and the
    deterministic policy; its scalars are logged there (NaN elsewhere) instead of the
    default episodes'."""
    env, params = envs_jax.make("gymnax/CartPole-v1")
    seen = []

    def evaluate_fn(r, policy, key):
        hidden = policy.initial_hidden(2)
        obs = jnp.zeros((2, 4))
        _, action = policy.act(hidden, obs, jnp.ones(2, bool), key)
        _, again = policy.act(hidden, obs, jnp.ones(2, bool), jax.random.fold_in(key, 1))
        jax.debug.callback(lambda a, b: seen.append((np.asarray(a), np.asarray(b))),
                           action, again)
        return {"eval/updates_seen": r.update_idx.astype(jnp.float32)}

    cfg = dataclasses.replace(TINY, num_updates=4, eval_every=2)
    _, metrics = _run(cfg, eval_env=env, evaluate_fn=evaluate_fn)
    assert "eval/return" not in metrics
    np.testing.assert_array_equal(np.asarray(metrics["eval/updates_seen"]),
                                  [np.nan, 2.0, np.nan, 4.0])
    assert len(seen) == 2 and all((a == b).all() for a, b in seen)   # deterministic policy
