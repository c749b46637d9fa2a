"""Motion-imitation metrics in pure JAX: DTW pose error and SPARC smoothness.

The evaluation protocol of the NEAR repository (anishhdiwan/near, HEAD de07395,
``learning/amp_continuous.py: compute_performance_metrics`` and
``tasks/humanoid_amp.py: fetch_demo_dataset``; restated in ``specs/imitation.md``,
"Evaluation"), as jittable, vmappable functions of fixed-size arrays with explicit lengths:

* **pose features**: the 15 body positions minus the root position (world frame, no heading
  rotation), flattened to 45 numbers per frame (NEAR's ``to_relative_pose``);
* **DTW pose error**: tslearn's ``dtw`` (Sakoe & Chiba 1978: squared Euclidean local cost,
  steps (1,0), (0,1), (1,1), the square root of the accumulated cost) between a rollout's
  and a demo clip's pose features, divided by the number of bodies (15);
* **demo clips** sampled every ``dt`` (the 1/30 s control step) with NEAR's frame rule
  ``frame = floor(clip(t / len, 0, 1) (T - 1))`` for ``t`` in ``arange(0, len, dt)`` (no
  interpolation);
* **SPARC** (spectral arc length; Balasubramanian et al. 2012, "A robust and sensitive
  metric for quantifying movement smoothness", IEEE TBME 59(8); 2015, "On the analysis of
  movement smoothness", JNER 12:112), the reference implementation's parameters
  (siva82kb/SPARC ``scripts/smoothness.py: sparc``, copied by NEAR's ``ncsn_utils.sparc``):
  zero-padding to ``2^(ceil(log2 N) + padlevel)``, padlevel 4, cut-off ``fc`` 10 Hz,
  amplitude threshold 0.05. NEAR applies it to each axis of the finite-difference root
  velocity sampled at 30 Hz and averages over the three axes;
* root velocity, acceleration and jerk norms (finite differences, NEAR's
  ``get_series_derivative``), mean over the valid samples.

Shapes: ``T`` frames (static, padded), lengths traced; everything here is jnp except
``reference_motion``, which builds the demo side once on the host.

This module is pure motion math (no MuJoCo): it lives in ``envs_jax`` beside the motion
library so that environments, dataset writers and every agent in ``purerl`` share one
implementation (``purerl`` may import ``envs_jax``, never the reverse).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs_jax.mjx import motion_lib as ml

__all__ = ["MotionStats", "ReferenceMotion", "dtw", "finite_difference", "motion_stats",
           "pose_error", "pose_features", "reference_motion", "sparc"]

SPARC_PADLEVEL = 4
SPARC_FC = 10.0  # Hz
SPARC_AMP_TH = 0.05


# ----- DTW ---------------------------------------------------------------------------------
def dtw(x: jax.Array, y: jax.Array, x_len: jax.Array | int | None = None,
        y_len: jax.Array | int | None = None) -> jax.Array:
    """Dynamic time warping distance between two multivariate series (tslearn's ``dtw``).

    ``sqrt(min over warping paths of sum ||x_i - y_j||^2)``: the classic symmetric DTW of
    Sakoe & Chiba (1978) with steps (1,0), (0,1), (1,1), no window, squared Euclidean
    local cost and the square root of the total (``tslearn.metrics.dtw``, which NEAR's
    evaluation calls). The dynamic programme runs over the anti-diagonals ``i + j = k``
    in a ``lax.scan`` (``Tx + Ty - 1`` steps, each vectorised over the diagonal).

    Args:
        x: ``[Tx, D]`` float, padded; only the first ``x_len`` rows count.
        y: ``[Ty, D]`` float, padded; only the first ``y_len`` rows count.
        x_len: ``[]`` int in ``[1, Tx]`` (traced is fine); default ``Tx``.
        y_len: ``[]`` int in ``[1, Ty]``; default ``Ty``.

    Returns:
        ``[]`` float32 distance, in the units of ``x`` (m for body positions). Padding never
        changes it: cell ``(i, j)`` depends only on cells ``(i' <= i, j' <= j)``.

    Raises:
        ValueError: ``x``/``y`` not 2-D or with different feature sizes (static shapes).

    Jittable and vmappable (e.g. over episodes and demo clips).
    """
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"dtw: expected x [Tx, D] and y [Ty, D] with one D, got "
                         f"{list(x.shape)} and {list(y.shape)}")
    tx, ty = x.shape[0], y.shape[0]
    x_len = jnp.asarray(tx if x_len is None else x_len, jnp.int32)
    y_len = jnp.asarray(ty if y_len is None else y_len, jnp.int32)
    # Squared distances by the difference, not |x|^2 + |y|^2 - 2xy (no cancellation).
    cost = jnp.sum(jnp.square(x[:, None, :] - y[None, :, :]), axis=-1)  # [Tx, Ty]
    rows = jnp.arange(tx)
    inf = jnp.float32(jnp.inf)
    target_k = x_len + y_len - 2
    target_i = x_len - 1

    def shift(d):  # value at row i - 1 (inf for row 0)
        return jnp.concatenate([jnp.full((1,), inf), d[:-1]])

    def diagonal(carry, k):
        before, last, result = carry  # D on diagonals k - 2 and k - 1, indexed by row i
        cols = k - rows
        valid = (cols >= 0) & (cols < ty)
        local = cost[rows, jnp.clip(cols, 0, ty - 1)]
        best = jnp.minimum(jnp.minimum(shift(last), last), shift(before))
        best = jnp.where((rows == 0) & (cols == 0), 0.0, best)
        d = jnp.where(valid, local + best, inf)
        result = jnp.where(k == target_k, d[target_i], result)
        return (last, d, result), None

    init = (jnp.full((tx,), inf), jnp.full((tx,), inf), inf)
    (_, _, total), _ = jax.lax.scan(diagonal, init, jnp.arange(tx + ty - 1))
    return jnp.sqrt(total)


def pose_features(body_pos: jax.Array, root_index: int = 0) -> jax.Array:
    """``[..., B, 3]`` body positions (m) -> ``[..., 3 B]`` positions minus the root's.

    NEAR's ``to_relative_pose``: world-frame offsets from the root body (index 0, the
    pelvis, in the AMP skeleton), not rotated into the heading frame; the root's own
    (zero) entry is kept, so the 15-body humanoid gives 45 numbers per frame.
    """
    rel = body_pos - body_pos[..., root_index : root_index + 1, :]
    return rel.reshape(*rel.shape[:-2], -1)


def pose_error(agent_pose: jax.Array, agent_len: jax.Array, demo_pose: jax.Array,
               demo_len: jax.Array, num_bodies: int | None = None) -> jax.Array:
    """DTW pose error of one rollout against every demo clip: ``dtw / num_bodies``.

    NEAR divides tslearn's ``dtw`` of the 45-d pose features by the number of joints (45 /
    3 = 15) and then averages over clips; this returns the per-clip values so callers can
    take the mean (NEAR's number) or the min (the nearest clip of a multi-clip set).

    Args:
        agent_pose: ``[Ta, 3 B]`` pose features of the rollout (``pose_features``), padded.
        agent_len: ``[]`` int, valid frames of the rollout (>= 1).
        demo_pose: ``[C, Td, 3 B]`` pose features of C demo clips (``ReferenceMotion.pose``).
        demo_len: ``[C]`` int, valid frames per clip.
        num_bodies: B; default ``feature size / 3``.

    Returns:
        ``[C]`` float32 pose errors (m).
    """
    b = agent_pose.shape[-1] // 3 if num_bodies is None else num_bodies
    per_clip = jax.vmap(dtw, in_axes=(None, 0, None, 0))(agent_pose, demo_pose, agent_len,
                                                         demo_len)
    return per_clip / b


# ----- SPARC -------------------------------------------------------------------------------
def _ceil_log2(n: jax.Array) -> jax.Array:
    """``ceil(log2 n)`` of an int ``n >= 1`` exactly (bits of ``n - 1``)."""
    powers = jnp.left_shift(jnp.int32(1), jnp.arange(31, dtype=jnp.int32))
    return jnp.sum((n - 1) >= powers).astype(jnp.int32)


def sparc(signal: jax.Array, length: jax.Array | int | None, fs: float,
          padlevel: int = SPARC_PADLEVEL, fc: float = SPARC_FC,
          amp_th: float = SPARC_AMP_TH) -> jax.Array:
    """Spectral arc length of a 1-D movement profile (SPARC; 0 is smoothest, more negative
    is less smooth).

    The reference implementation (siva82kb/SPARC ``smoothness.sparc``; Balasubramanian et
    al. 2012, 2015), exactly, for a signal of any traced ``length <= T``:

    1. ``nfft = 2^(ceil(log2 N) + padlevel)`` for the ``N = length`` samples, zero-padded;
    2. ``M(f) = |FFT| / max |FFT|`` at ``f_k = k fs / nfft``;
    3. keep ``f <= fc``, then the bins from the first to the last with ``M >= amp_th``;
    4. ``SPARC = -sum sqrt((df / (f_last - f_first))^2 + dM^2)`` over consecutive bins.

    Inside jit the FFT has the static size ``2^(ceil(log2 T) + padlevel)``; the reference
    grid of a shorter signal is every ``stride``-th of its bins (both sizes are powers of
    two), so the result is the reference's, not an approximation of it.

    Args:
        signal: ``[T]`` float samples (e.g. one axis of a velocity, m/s), padded.
        length: ``[]`` int, valid samples ``N`` in ``[1, T]``; ``None``: ``T``.
        fs: sampling frequency (Hz), > 0 (30 for the humanoid's control step).
        padlevel: int >= 0, extra powers of two of zero padding (4).
        fc: cut-off frequency (Hz), > 0 (10).
        amp_th: amplitude threshold in (0, 1] of the normalised spectrum (0.05).

    Returns:
        ``[]`` float32. NaN where the reference is undefined: an all-zero signal (0 / 0
        normalisation) or no bin at or below ``fc`` reaching ``amp_th`` (the reference
        raises IndexError there). A single bin above the threshold gives -0.0 (an empty sum).

    Raises:
        ValueError: ``signal`` not 1-D, or ``fs``, ``padlevel``, ``fc``, ``amp_th`` out of
            range (checked before tracing).
    """
    signal = jnp.asarray(signal, jnp.float32)
    if signal.ndim != 1 or signal.shape[0] < 1:
        raise ValueError(f"sparc.signal: expected a [T >= 1] profile, got {list(signal.shape)}")
    if not fs > 0:
        raise ValueError(f"sparc.fs: expected a sampling frequency > 0 Hz, got {fs!r}")
    if isinstance(padlevel, bool) or not isinstance(padlevel, int) or padlevel < 0:
        raise ValueError(f"sparc.padlevel: expected an int >= 0, got {padlevel!r}")
    if not fc > 0:
        raise ValueError(f"sparc.fc: expected a cut-off frequency > 0 Hz, got {fc!r}")
    if not 0 < amp_th <= 1:
        raise ValueError(f"sparc.amp_th: expected a threshold in (0, 1], got {amp_th!r}")
    t = signal.shape[0]
    n = jnp.asarray(t if length is None else length, jnp.int32)
    nfft_max = 2 ** (math.ceil(math.log2(t)) + padlevel) if t > 1 else 2 ** padlevel
    spectrum = jnp.abs(jnp.fft.fft(jnp.where(jnp.arange(t) < n, signal, 0.0), nfft_max))
    nfft = jnp.left_shift(jnp.int32(1), _ceil_log2(jnp.maximum(n, 1)) + padlevel)
    stride = nfft_max // nfft
    on_grid = jnp.arange(nfft_max) % stride == 0
    peak = jnp.max(jnp.where(on_grid, spectrum, 0.0))
    # Bins m = 0..K-1 of the reference grid (K covers f <= fc on the finest grid).
    k = min(int(math.floor(fc * nfft_max / fs)) + 1, nfft_max)
    m = jnp.arange(k)
    df = fs / nfft.astype(jnp.float32)
    freq = m * df
    mag = spectrum[jnp.clip(m * stride, 0, nfft_max - 1)] / jnp.where(peak > 0, peak, 1.0)
    in_band = (freq <= fc) & (m * stride < nfft_max)
    above = in_band & (mag >= amp_th)
    first = jnp.argmax(above)
    last = k - 1 - jnp.argmax(above[::-1])
    span = (last - first).astype(jnp.float32) * df
    seg = (m[:-1] >= first) & (m[1:] <= last)
    step = df / jnp.where(span > 0, span, 1.0)
    arc = jnp.sqrt(jnp.square(step) + jnp.square(jnp.diff(mag)))
    value = -jnp.sum(jnp.where(seg, arc, 0.0))
    return jnp.where((peak > 0) & jnp.any(above), value, jnp.nan)


# ----- root statistics ----------------------------------------------------------------------
def finite_difference(series: jax.Array, length: jax.Array | int, dt: float
                      ) -> tuple[jax.Array, jax.Array]:
    """Forward differences ``(x[t+1] - x[t]) / dt`` of a padded series (NEAR's
    ``get_series_derivative``).

    Args:
        series: ``[T, d]`` samples, padded; the first ``length`` are valid.
        length: ``[]`` int, valid samples.
        dt: sample spacing (s), > 0.

    Returns:
        ``([T - 1, d] derivative, [] valid length = max(length - 1, 0))``.
    """
    deriv = (series[1:] - series[:-1]) / dt
    return deriv, jnp.maximum(jnp.asarray(length, jnp.int32) - 1, 0)


class MotionStats(NamedTuple):
    """Root-motion statistics of one trajectory (``motion_stats``); each ``[]`` float32.

    Attributes:
        sparc: SPARC of the root velocity, mean over the x, y, z axes (NaN if undefined).
        vel_norm: mean |root velocity| (m/s).
        acc_norm: mean |root acceleration| (m/s^2).
        jerk_norm: mean |root jerk| (m/s^3).
    """

    sparc: jax.Array
    vel_norm: jax.Array
    acc_norm: jax.Array
    jerk_norm: jax.Array


def motion_stats(root_pos: jax.Array, length: jax.Array | int, dt: float) -> MotionStats:
    """SPARC and derivative norms of a root trajectory, NEAR's protocol.

    Velocity, acceleration and jerk by repeated forward differences at ``dt``; SPARC of
    each velocity axis at ``fs = 1 / dt`` (``sparc``'s defaults), averaged over the axes;
    norms averaged over the valid samples (0 where none is left, as NEAR's
    ``get_series_derivative`` returns a zero row for a series shorter than 2).

    Args:
        root_pos: ``[T, 3]`` root positions (m), padded.
        length: ``[]`` int, valid frames.
        dt: frame spacing (s), > 0 (1/30 for the humanoid).

    Returns:
        ``MotionStats``.
    """
    vel, n_vel = finite_difference(root_pos, length, dt)
    acc, n_acc = finite_difference(vel, n_vel, dt)
    jerk, n_jerk = finite_difference(acc, n_acc, dt)

    def mean_norm(x, n):
        valid = jnp.arange(x.shape[0]) < n
        total = jnp.sum(jnp.where(valid, jnp.linalg.norm(x, axis=-1), 0.0))
        return total / jnp.maximum(n, 1).astype(jnp.float32)

    per_axis = jax.vmap(lambda v: sparc(v, n_vel, 1.0 / dt), in_axes=1)(vel)
    return MotionStats(jnp.mean(per_axis), mean_norm(vel, n_vel), mean_norm(acc, n_acc),
                       mean_norm(jerk, n_jerk))


# ----- the demo side --------------------------------------------------------------------------
@struct.dataclass
class ReferenceMotion:
    """Demo clips sampled at the control step, padded to one length (a pytree).

    Attributes:
        pose: ``[C, T, 45]`` float32 pose features (``pose_features``), m.
        root_pos: ``[C, T, 3]`` float32 root positions, m.
        length: ``[C]`` int32 valid frames per clip.
        dt: sample spacing (s), a static Python float (not traced: SPARC's sampling
            frequency shapes the computation).
    """

    pose: jax.Array
    root_pos: jax.Array
    length: jax.Array
    dt: float = struct.field(pytree_node=False)

    @property
    def num_clips(self) -> int:
        return int(self.length.shape[0])


def reference_frames(num_frames: int, fps: float, dt: float) -> np.ndarray:
    """Frame indices NEAR samples from one clip: ``floor(clip(t / len, 0, 1) (T - 1))`` for
    ``t`` in ``arange(0, len, dt)``, ``len = (T - 1) / fps`` (``fetch_demo_dataset``).

    Args:
        num_frames: T >= 2. fps: the clip's frame rate (Hz). dt: sample spacing (s), > 0.

    Returns:
        ``[ceil(len / dt)]`` int64 frame indices (at least one).
    """
    length = (num_frames - 1) / fps
    times = np.arange(0.0, length, dt)
    if times.size == 0:
        times = np.zeros(1)
    phase = np.clip(times / length, 0.0, 1.0)
    return (phase * (num_frames - 1)).astype(np.int64)


def reference_motion(lib: ml.MotionLib, dt: float) -> ReferenceMotion:
    """Every clip of ``lib`` sampled every ``dt`` seconds (NEAR's frame rule, see
    ``reference_frames``), as pose features and root positions; host-side, once.

    Args:
        lib: the ``MotionLib`` the agent imitates (global body positions from its forward
            kinematics).
        dt: the control step (s), > 0 (``env.dt`` = 1/30 for the humanoid).

    Returns:
        ``ReferenceMotion`` padded (by repeating each clip's last sample) to the longest clip.

    Raises:
        ValueError: ``dt <= 0``.
    """
    if not dt > 0:
        raise ValueError(f"reference_motion.dt: expected a control step > 0 s, got {dt!r}")
    body_pos = np.asarray(lib.body_pos, np.float32)
    starts, frames = np.asarray(lib.clip_start), np.asarray(lib.clip_frames)
    fps = np.asarray(lib.clip_fps, np.float64)
    clips = [body_pos[s + reference_frames(int(n), float(f), dt)]
             for s, n, f in zip(starts, frames, fps)]
    longest = max(c.shape[0] for c in clips)
    padded = np.stack([np.concatenate([c, np.repeat(c[-1:], longest - c.shape[0], 0)])
                       for c in clips])                                  # [C, T, 15, 3]
    return ReferenceMotion(
        pose=jnp.asarray(np.asarray(pose_features(padded), np.float32)),
        root_pos=jnp.asarray(padded[:, :, 0, :]),
        length=jnp.asarray([c.shape[0] for c in clips], jnp.int32),
        dt=float(dt),
    )
