"""SNAIL actor-critic: causal temporal convolutions + causal soft attention, with a context cache.

Source: Mishra et al. 2018, "A Simple Neural Attentive Meta-Learner" (arXiv 1707.03141),
sec. 3 and appendix B (building blocks: DenseBlock, TCBlock, AttentionBlock) and the RL
architecture of appendix C (bandits / MDPs: ``TC(T,32) -> TC(T,32) -> Attn(32,32)`` then a
fully connected head; a separate value net of the same shape with 16). Two defects of the
PyTorch seed project are NOT copied: the number of dense blocks is ``ceil(log2 T)`` (the
seed uses the natural log, so its receptive field is shorter than the trial), and the
attention softmax is over KEYS (the seed normalises over queries).

Same calling convention as ``purerl.common.networks``::

    hidden, logits, value = net.apply(params, hidden, obs [T, N, obs_dim], reset [T, N])

``reset[t]`` starts a new trial at ``t``: the context is emptied before ``obs[t]``.
Here ``hidden`` is a ``SnailCache`` (every leaf ``[N, ...]``, env axis first) holding what
the next step needs from the past, so acting one step at a time costs one step of compute,
not a pass over the whole context:

- each causal conv (kernel 2, dilation d) is ``W_now x_t + W_past x_{t-d}``; the cache
  keeps ``W_past x_s`` of the last ``d`` steps in a ring of ``d`` rows (the projection,
  not the input: the inputs of late blocks are hundreds wide, the projection is ``2F``);
  the rings of all dense blocks of a torso share one buffer ``[N, 2 (2^L - 1), 2F]``;
- the attention keeps the keys and values of the last ``context_length`` steps in a
  ring ``[N, C, key_size + value_size]``;
- ``clock`` ``[N]`` (steps consumed, modulo a common period of every ring) says which row
  holds which step; ``length`` ``[N]`` (steps of the current trial consumed, saturating at
  ``C``) says which rows belong to the current trial. A reset only sets ``length`` to 0:
  older rows become unreadable, which empties the context without touching the buffers.

A call over ``T`` steps is one parallel pass (convs over time as matmuls, attention as a
masked ``[T, C + T]`` score matrix against cache + new keys) and leaves the same cache as
``T`` one-step calls. Memory is bounded by ``context_length``: past it the attention sees a
sliding window of the last ``C`` steps, and the convs need no more than ``2^(L-1) < C``.

Cost per acting step, N=256 envs (``python -m purerl.common.snail``, ``measure_step_cost``):
2-core CPU shared with other jobs (load average 3.4-4.6), jax 0.10.2; range of two runs.
"Recompute" is what a cache-less SNAIL pays at trial position t: a pass over all t + 1
steps, shown at mid-trial and at the trial's end (its trial average lies between).

==========================  ============  =======================  =====================
setting                     cached step   recompute, mid-trial     recompute, trial end
==========================  ============  =======================  =====================
bandit n=500 k=5 (T=500)    59-102 ms     2.2-3.6 s                4.7-8.1 s
MDP n=100 (T=1000)          92-107 ms     5.5-7.0 s                14-20 s
==========================  ============  =======================  =====================

The cache holds 146k floats per env for T=500 and 292k for T=1000 (0.6 / 1.2 MB; 150 /
300 MB for 256 envs).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from purerl.common.networks import ValueActivation, value_activation


class NetCache(NamedTuple):
    """Context cache of one SNAIL torso (policy or value net); leaves ``[N, ...]`` float32.

    Attributes:
        taps: ``[N, 2 (2^L - 1), 2F]``: the rings of every dense block of both TC blocks,
            back to back (block i of TC block b, dilation ``d = 2^i``, owns the ``d`` rows
            from ``b (2^L - 1) + d - 1``); row ``s mod d`` of a ring holds ``W_past x_s``.
            One buffer, so a call gathers and scatters once (compile time and speed).
        attention: ``[N, C, key_size + value_size]`` ring of attention keys and values
            (row ``s mod C`` holds step ``s``).
    """

    taps: jax.Array
    attention: jax.Array


class SnailCache(NamedTuple):
    """The recurrent state of ``SNAILActorCritic`` (a pytree, env axis first).

    Attributes:
        clock: ``[N]`` int32, steps consumed so far modulo ``period`` (ring positions).
        length: ``[N]`` int32, steps of the current trial in the cache, saturating at C.
        policy: the policy torso's cache.
        value: the value torso's cache.
    """

    clock: jax.Array
    length: jax.Array
    policy: NetCache
    value: NetCache


class _Timing(NamedTuple):
    """Where each step of a call sits: shared by every block of both torsos."""

    clock0: jax.Array  # [N] int32, clock before the call's first step
    pos: jax.Array     # [T, N] int32, position of each step in its trial (0 = trial start)


def num_dense_blocks(context_length: int) -> int:
    """``ceil(log2 T)`` dense blocks per TC block (SNAIL appendix B), exactly, in integers.

    Dilations ``1, 2, ..., 2^(L-1)`` give a receptive field of ``2^L >= T`` steps.
    ``T = 1`` needs no memory: 0 blocks.

    Raises:
        ValueError: ``context_length`` is not a positive int.
    """
    if not isinstance(context_length, int) or context_length < 1:
        raise ValueError(f"context_length: expected a positive int, got {context_length!r}")
    return (context_length - 1).bit_length()


def _dilations(context_length: int) -> tuple[int, ...]:
    return tuple(2 ** i for i in range(num_dense_blocks(context_length)))


def _period(context_length: int) -> int:
    # A multiple of every ring size (C and the powers of two up to the largest dilation),
    # so ``clock mod size`` stays right when ``clock`` wraps at the period.
    dilations = _dilations(context_length)
    return math.lcm(context_length, dilations[-1] if dilations else 1)


def masked_attention(query, keys, values, mask):
    """Single-head scaled dot-product attention, softmax over KEYS.

    Source: SNAIL appendix B, AttentionBlock: ``probs = softmax(q k^T / sqrt(key_size))``
    normalised over the keys of each query (the PyTorch seed normalises over queries).

    Args:
        query: ``[..., Q, key_size]`` float32.
        keys: ``[..., K, key_size]`` float32.
        values: ``[..., K, value_size]`` float32.
        mask: ``[..., Q, K]`` bool, True where query q may read key k; every query needs at
            least one True (causal masks always allow the query's own step).

    Returns:
        ``(read [..., Q, value_size], weights [..., Q, K])``; ``weights`` sum to 1 over K.
    """
    scores = jnp.einsum("...qd,...kd->...qk", query, keys) / jnp.sqrt(query.shape[-1])
    weights = jax.nn.softmax(jnp.where(mask, scores, -jnp.inf), axis=-1)
    return jnp.einsum("...qk,...kv->...qv", weights, values), weights


def _ring_rows(clock0: jax.Array, rings: list[tuple[int, int, np.ndarray]]) -> jax.Array:
    """Buffer rows ``[N, M]`` int32 of the given steps in rings that share a buffer.

    Args:
        clock0: ``[N]`` int32, clock before the call's first step.
        rings: ``(offset, size, steps)`` per ring: the ring occupies rows
            ``offset .. offset + size - 1``; ``steps`` (static ints, relative to
            ``clock0``) are the steps wanted from it, in order. Step ``s`` sits in row
            ``offset + s mod size``.
    """
    offset = np.concatenate([np.full(len(st), off) for off, _, st in rings])
    size = np.concatenate([np.full(len(st), sz) for _, sz, st in rings])
    steps = np.concatenate([st for _, _, st in rings])
    return (offset + (clock0[:, None] + steps[None, :]) % size).astype(jnp.int32)


def _gather_rows(buffer: jax.Array, rows: jax.Array) -> jax.Array:
    """``buffer [N, R, F]``, ``rows [N, M]`` -> ``[M, N, F]`` (time-major)."""
    return jnp.swapaxes(buffer[jnp.arange(buffer.shape[0])[:, None], rows], 0, 1)


def _scatter_rows(buffer: jax.Array, rows: jax.Array, new: jax.Array) -> jax.Array:
    """Write ``new [M, N, F]`` into ``buffer [N, R, F]`` at ``rows [N, M]`` (distinct)."""
    return buffer.at[jnp.arange(buffer.shape[0])[:, None], rows].set(jnp.swapaxes(new, 0, 1))


def _conv_init(scale: float = 0.5) -> nn.initializers.Initializer:
    # Each tap has fan-in D; a kernel-2 conv has fan-in 2D. Half of LeCun's variance per
    # tap gives the conv's LeCun-normal init.
    return nn.initializers.variance_scaling(scale, "fan_in", "truncated_normal")


class DenseBlock(nn.Module):
    """Causal dilated conv (kernel 2) with gated activation, output concatenated to input.

    ``y_t = tanh(a_t) * sigmoid(b_t)`` with ``[a_t, b_t] = W_now x_t + W_past x_{t-d} + c``
    and ``x_{t-d} = 0`` before the trial start (causal zero padding); returns
    ``concat(x_t, y_t)``. Source: SNAIL appendix B, DenseBlock(R, D).

    Attributes:
        filters: D, the number of output channels.
        dilation: d, the lag of the second tap.
    """

    filters: int
    dilation: int

    @nn.compact
    def __call__(self, x: jax.Array, cached: jax.Array, timing: _Timing):
        """One pass over a call's steps.

        Args:
            x: ``[T, N, D_in]`` float32.
            cached: ``[min(d, T), N, 2F]``, ``W_past x_{t-d}`` for the call's first steps
                (from the cache; unreadable rows are masked here).
            timing: the call's clock and trial positions.

        Returns:
            ``(concat(x, y) [T, N, D_in + F], W_past x [T, N, 2F])``; the latter feeds the
            cache.
        """
        num_steps, d = x.shape[0], self.dilation
        # Both taps (W_now | W_past) in one matmul and one init; the bias belongs to the
        # present tap only (the past one is zero-padded before the trial start).
        taps = nn.Dense(4 * self.filters, use_bias=False, kernel_init=_conv_init(),
                        name="taps")(x)
        now, past = jnp.split(taps, 2, axis=-1)
        now = now + self.param("bias", nn.initializers.zeros, (2 * self.filters,))
        # W_past x_{t-d}: from the cache for t < d, from this call's steps after that.
        delayed = jnp.concatenate([cached, past[:num_steps - cached.shape[0]]], axis=0)
        # Steps before the trial start are zero padding (and stale rows of older trials).
        delayed = jnp.where((timing.pos >= d)[..., None], delayed, 0.0)
        gate_in, gate = jnp.split(now + delayed, 2, axis=-1)
        y = jnp.tanh(gate_in) * nn.sigmoid(gate)
        return jnp.concatenate([x, y], axis=-1), past


class TCBlock(nn.Module):
    """``ceil(log2 T)`` DenseBlocks with dilations 1, 2, 4, ... (SNAIL appendix B, TCBlock).

    Attributes:
        context_length: T, the steps the receptive field must cover.
        filters: output channels of each dense block.
    """

    context_length: int
    filters: int

    @nn.compact
    def __call__(self, x: jax.Array, cached: list[jax.Array], timing: _Timing):
        """Args: ``x [T, N, D_in]``; per dense block its ``cached`` rows (see
        ``DenseBlock``). Returns ``(x [T, N, D_in + L * filters], [W_past x] per block)``."""
        pasts = []
        for i, (dilation, rows) in enumerate(zip(_dilations(self.context_length), cached)):
            x, past = DenseBlock(self.filters, dilation, name=f"dense_{i}")(x, rows, timing)
            pasts.append(past)
        return x, pasts


class AttentionBlock(nn.Module):
    """Causal single-head soft attention, read concatenated to the input.

    Step ``t`` attends to the steps of its own trial up to and including ``t`` that lie in
    the last ``context_length`` steps. Source: SNAIL appendix B, AttentionBlock(K, V).

    Attributes:
        key_size: K, width of queries and keys.
        value_size: V, width of values (and of the read appended to the input).
        context_length: C, number of cached keys/values.
    """

    key_size: int
    value_size: int
    context_length: int

    @nn.compact
    def __call__(self, x: jax.Array, cache: jax.Array, timing: _Timing):
        """Args: ``x [T, N, D_in]``, ``cache [N, C, K + V]`` (keys | values). Returns
        ``(concat(x, read) [T, N, D_in + V], cache)``."""
        num_steps, c, k = x.shape[0], self.context_length, self.key_size
        # Query | key | value projections as one matmul (one init: compiles faster).
        qkv = nn.Dense(2 * k + self.value_size, name="qkv")(x)
        query, key_value = qkv[..., :k], qkv[..., k:]
        # Lag (in steps) between each query and each key; a key is readable when it lies
        # in the query's trial (lag <= pos) and in the window (lag < C).
        t = jnp.arange(num_steps)
        # Cache row j holds step clock0 - 1 - ((clock0 - 1 - j) mod C).
        lag_cache = (t[:, None, None] + 1 + (timing.clock0[None, :, None] - 1
                                             - jnp.arange(c)[None, None, :]) % c)  # [T,N,C]
        lag_new = jnp.broadcast_to((t[:, None] - t[None, :])[:, None, :],
                                   (num_steps, x.shape[1], num_steps))              # [T,N,T]
        lags = jnp.concatenate([lag_cache, lag_new], axis=-1)
        mask = (lags >= 0) & (lags <= timing.pos[..., None]) & (lags < c)         # [T,N,C+T]
        every = jnp.concatenate([cache, jnp.swapaxes(key_value, 0, 1)], axis=1)  # [N,C+T,K+V]
        read, weights = masked_attention(jnp.swapaxes(query, 0, 1), every[..., :k],
                                         every[..., k:], jnp.swapaxes(mask, 0, 1))
        self.sow("intermediates", "weights", weights)      # [N, T, C+T], tests/diagnostics
        m = min(c, num_steps)
        rows = _ring_rows(timing.clock0, [(0, c, np.arange(num_steps - m, num_steps))])
        cache = _scatter_rows(cache, rows, key_value[num_steps - m:])
        return jnp.concatenate([x, jnp.swapaxes(read, 0, 1)], axis=-1), cache


def _tap_rings(context_length: int) -> list[tuple[int, int]]:
    """``(offset, dilation)`` of each dense block's ring in ``NetCache.taps``, in order."""
    dilations = _dilations(context_length)
    per_block = sum(dilations)  # 2^L - 1
    return [(b * per_block + d - 1, d) for b in range(2) for d in dilations]


def initial_net_cache(context_length: int, width: int, num_envs: int) -> NetCache:
    """Zero ``NetCache`` ``[N, ...]`` float32 of a ``SnailTorso(context_length, width)``
    (its contents are unreadable until written: readability comes from ``length``)."""
    num_rows = 2 * sum(_dilations(context_length))
    return NetCache(jnp.zeros((num_envs, num_rows, 2 * width), jnp.float32),
                    jnp.zeros((num_envs, context_length, 2 * width), jnp.float32))


class SnailTorso(nn.Module):
    """``TC(C, width) -> TC(C, width) -> Attn(width, width)`` (SNAIL appendix C).

    Attributes:
        context_length: C, the trial length in steps.
        width: filters of the TC blocks and key/value size of the attention.
    """

    context_length: int
    width: int

    @nn.compact
    def __call__(self, x: jax.Array, cache: NetCache, timing: _Timing):
        """Args: ``x [T, N, D_in]``. Returns ``(features [T, N, D_in + (2L+1) width],
        cache)``."""
        num_steps, c = x.shape[0], self.context_length
        rings = _tap_rings(c)
        num_blocks = len(rings) // 2
        taps = cache.taps
        cached: list[jax.Array] = []
        if rings:
            # Everything the convs need from before the call, in one gather: block with
            # dilation d reads W_past x at steps t - d, t < min(d, T), i.e. ring rows of
            # steps clock0 + t (mod d).
            reads = [(off, d, np.arange(min(d, num_steps))) for off, d in rings]
            gathered = _gather_rows(taps, _ring_rows(timing.clock0, reads))
            cached = jnp.split(gathered, np.cumsum([len(st) for *_, st in reads])[:-1])
        x, pasts0 = TCBlock(c, self.width, name="tc_0")(x, cached[:num_blocks], timing)
        x, pasts1 = TCBlock(c, self.width, name="tc_1")(x, cached[num_blocks:], timing)
        if rings:
            # ... and one scatter: each ring gets the last min(d, T) steps of the call.
            writes = [(off, d, np.arange(num_steps - min(d, num_steps), num_steps))
                      for off, d in rings]
            new = jnp.concatenate([p[num_steps - len(st):]
                                   for p, (*_, st) in zip(pasts0 + pasts1, writes)], axis=0)
            taps = _scatter_rows(taps, _ring_rows(timing.clock0, writes), new)
        x, attention = AttentionBlock(self.width, self.width, c, name="attention")(
            x, cache.attention, timing)
        return x, NetCache(taps, attention)


class SNAILActorCritic(nn.Module):
    """SNAIL policy and value nets over a trial, with a step-by-step context cache.

    Source: Mishra et al. 2018 (arXiv 1707.03141), appendix C: separate policy
    (``TC(T,32) -> TC(T,32) -> Attn(32,32)`` -> logits) and value nets (the same with 16).
    Unlike the PyTorch seed: ``ceil(log2 T)`` dense blocks (not ``ln T``), softmax over
    keys (not queries).

    Attributes:
        num_actions: size A of the discrete action space.
        context_length: C, the trial length in steps (RL^2 ``trial_length``). The receptive
            field of each TC block covers C steps; the attention keeps the last C steps.
        policy_width: TC filters and attention sizes of the policy net (paper: 32).
        value_width: the same for the value net (paper: 16).
        non_linearity: value-head output activation (``networks.value_activation``).

    Raises:
        ValueError: at construction, for a non-positive size or an unknown
            ``non_linearity``.
    """

    num_actions: int
    context_length: int
    policy_width: int = 32
    value_width: int = 16
    non_linearity: ValueActivation = "none"

    def __post_init__(self):
        for name in ("num_actions", "context_length", "policy_width", "value_width"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        value_activation(self.non_linearity)  # raises on an unknown name
        super().__post_init__()

    @nn.compact
    def __call__(self, hidden: SnailCache, obs: jax.Array, reset: jax.Array):
        """One pass over ``T`` steps of ``N`` envs.

        Args:
            hidden: the cache before ``obs[0]`` (``initial_hidden(N)`` = empty context).
            obs: ``[T, N, obs_dim]`` float32.
            reset: ``[T, N]`` bool, a new trial starts at ``t`` (context emptied first).

        Returns:
            ``(hidden, logits [T, N, A], value [T, N])``; ``hidden`` is the cache after
            ``obs[T-1]``, identical to that of ``T`` one-step calls.
        """
        num_steps, c = obs.shape[0], self.context_length
        t = jnp.arange(num_steps)[:, None]
        last_reset = jax.lax.cummax(jnp.where(reset, t, -1), axis=0)             # [T, N]
        pos = jnp.where(last_reset >= 0, t - last_reset, hidden.length[None, :] + t)
        timing = _Timing(hidden.clock, pos.astype(jnp.int32))
        x_pi, cache_pi = SnailTorso(c, self.policy_width, name="policy")(obs, hidden.policy,
                                                                         timing)
        x_v, cache_v = SnailTorso(c, self.value_width, name="value")(obs, hidden.value, timing)
        # Orthogonal heads with small scales (policy 0.01, value 1.0): the PPO convention
        # of networks.py (Andrychowicz et al. 2021, C.2).
        logits = nn.Dense(self.num_actions, kernel_init=nn.initializers.orthogonal(0.01),
                          name="logits")(x_pi)
        value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0), name="value_head")(x_v)
        value = value_activation(self.non_linearity)(value[..., 0])
        hidden = SnailCache(
            clock=(hidden.clock + num_steps) % _period(c),
            length=jnp.minimum(pos[-1] + 1, c).astype(jnp.int32),
            policy=cache_pi, value=cache_v)
        return hidden, logits, value

    def initial_hidden(self, num_envs: int) -> SnailCache:
        """Empty context for ``N`` envs: a ``SnailCache`` of zeros, ``length = 0``."""
        c = self.context_length
        return SnailCache(
            clock=jnp.zeros((num_envs,), jnp.int32),
            length=jnp.zeros((num_envs,), jnp.int32),
            policy=initial_net_cache(c, self.policy_width, num_envs),
            value=initial_net_cache(c, self.value_width, num_envs))


def measure_step_cost(num_actions: int, obs_dim: int, context_length: int,
                      num_envs: int = 256, chunk: int = 32, repeats: int = 3,
                      scan_steps: int = 8) -> dict:
    """Seconds per acting step of N envs: cached step vs recomputing the whole context.

    The cached step is one ``apply`` on ``obs [1, N, obs_dim]`` (its cost does not depend
    on how full the cache is), timed inside a ``lax.scan`` of ``scan_steps`` steps as
    rollouts and evaluation run it (the cache is then updated in place; a lone jitted call
    would also copy the whole cache into a fresh output buffer). Without a cache, the step at trial position ``t`` has to run
    the net over all ``t + 1`` steps of the trial: timed here at the trial's middle
    (``t + 1 = C / 2``) and end (``t + 1 = C``), over the N envs in chunks of ``chunk``
    (``lax.map``: same work, bounded memory). Median of ``repeats`` calls after a warm-up
    (compile) call; params from ``init``, inputs random.

    Returns:
        dict of seconds: ``cached``, ``recompute_mid``, ``recompute_end``.
    """
    import time

    net = SNAILActorCritic(num_actions, context_length)
    key = jax.random.PRNGKey(0)
    params = jax.jit(net.init)(key, net.initial_hidden(1), jnp.zeros((1, 1, obs_dim)),
                               jnp.ones((1, 1), bool))
    hidden = net.initial_hidden(num_envs)._replace(
        length=jnp.full((num_envs,), context_length // 2, jnp.int32))
    obs = jax.random.normal(key, (context_length, num_envs, obs_dim))

    def recompute(params, obs):
        def last_logits(obs_chunk):  # [L, chunk, obs_dim] -> [chunk, A]
            reset = jnp.zeros(obs_chunk.shape[:2], bool).at[0].set(True)
            return net.apply(params, net.initial_hidden(chunk), obs_chunk, reset)[1][-1]
        chunks = obs.reshape(obs.shape[0], num_envs // chunk, chunk, obs_dim).swapaxes(0, 1)
        return jax.lax.map(last_logits, chunks)

    def timed(fn, *args):
        jax.block_until_ready(fn(*args))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    def cached_steps(params, hidden, obs):  # obs [scan_steps, N, obs_dim]
        def one_step(hidden, obs_t):
            hidden, logits, value = net.apply(params, hidden, obs_t[None],
                                              jnp.zeros((1, num_envs), bool))
            return hidden, (logits, value)
        return jax.lax.scan(one_step, hidden, obs)

    recompute = jax.jit(recompute)
    return {"cached": timed(jax.jit(cached_steps), params, hidden, obs[:scan_steps])
            / scan_steps,
            "recompute_mid": timed(recompute, params, obs[:context_length // 2]),
            "recompute_end": timed(recompute, params, obs)}


if __name__ == "__main__":
    # python -m purerl.common.snail: the cost table of the module docstring.
    import os
    for name, args in (("bandit n=500 k=5 (T=500)", (5, 8, 500)),
                       ("MDP n=100 (T=1000)", (5, 17, 1000))):
        cost = measure_step_cost(*args)
        print(f"{name}: N=256, cached step {cost['cached'] * 1e3:.1f} ms; recompute whole "
              f"context {cost['recompute_mid'] * 1e3:.0f} ms at mid-trial, "
              f"{cost['recompute_end'] * 1e3:.0f} ms at trial end  "
              f"({jax.default_backend()}, {os.cpu_count()} cores, jax {jax.__version__})",
              flush=True)
