"""A device-resident offline dataset of transitions and uniform minibatch sampling in jit.

``OfflineDataset`` is a ``flax.struct`` pytree of ``[N, ...]`` arrays, so it can be closed
over or passed into a jitted train step; ``sample`` draws indices with ``jax.random`` and
gathers rows on device, with no host round trip per batch.

Terminal and timeout flags are kept apart (STYLE.md rule 4): ``terminals`` zero the
bootstrap (discount mask ``1 - terminal``), ``timeouts`` only mark a cut episode whose
``next_observations`` row is still a true next state (Minari keeps these; D4RL's
``qlearning_dataset`` drops them).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@struct.dataclass
class OfflineDataset:
    """Transitions ``(s, a, r, s', terminal, timeout)``, one per row.

    Attributes:
        observations: ``[N, obs_dim]`` float32, ``s``.
        actions: ``[N, action_dim]`` float32, ``a``.
        rewards: ``[N]`` float32, ``r`` (already remapped for AntMaze if requested).
        next_observations: ``[N, obs_dim]`` float32, ``s'``.
        terminals: ``[N]`` bool, ``s'`` is terminal: no bootstrap.
        timeouts: ``[N]`` bool, the episode was cut by a time limit at this transition;
            ``s'`` is still a true next state, so bootstrap from it.

    A batch returned by ``sample`` is an ``OfflineDataset`` with ``B`` rows (or
    ``[K, B]`` leading axes from ``sample_steps``).
    """

    observations: jax.Array
    actions: jax.Array
    rewards: jax.Array
    next_observations: jax.Array
    terminals: jax.Array
    timeouts: jax.Array

    @property
    def size(self) -> int:
        """Number of transitions ``N`` (static: the leading dimension)."""
        return self.rewards.shape[0]

    @property
    def dones(self) -> jax.Array:
        """``terminals | timeouts``: the episode ended at this transition."""
        return self.terminals | self.timeouts

    @property
    def obs_dim(self) -> int:
        return self.observations.shape[-1]

    @property
    def action_dim(self) -> int:
        return self.actions.shape[-1]


def from_numpy(
    observations: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    next_observations: np.ndarray,
    terminals: np.ndarray,
    timeouts: np.ndarray | None = None,
    device: jax.Device | None = None,
) -> OfflineDataset:
    """Moves host arrays onto ``device`` (default device) as an ``OfflineDataset``.

    Args:
        observations: ``[N, obs_dim]``, cast to float32.
        actions: ``[N, action_dim]``, cast to float32.
        rewards: ``[N]`` or ``[N, 1]``, cast to float32.
        next_observations: ``[N, obs_dim]``, cast to float32.
        terminals: ``[N]`` or ``[N, 1]``, bool or 0/1 floats.
        timeouts: ``[N]`` like ``terminals``; all False if None.
        device: target device (this process's first, ``jax.local_devices()[0]``, if None;
            in a multi-process job ``jax.devices()[0]`` is process 0's, which no other
            process can address).

    Raises:
        ValueError: if the arrays disagree on ``N`` or have the wrong rank, or N is 0.
    """
    obs = np.asarray(observations, np.float32)
    n = obs.shape[0] if obs.ndim else 0
    if timeouts is None:
        timeouts = np.zeros(n, bool)
    fields = {
        "observations": (obs, 2),
        "actions": (np.asarray(actions, np.float32), 2),
        "rewards": (np.asarray(rewards, np.float32).reshape(-1), 1),
        "next_observations": (np.asarray(next_observations, np.float32), 2),
        "terminals": (np.asarray(terminals).reshape(-1).astype(bool), 1),
        "timeouts": (np.asarray(timeouts).reshape(-1).astype(bool), 1),
    }
    if n == 0:
        raise ValueError(f"observations: expected at least one row, got shape {obs.shape}")
    for name, (array, ndim) in fields.items():
        if array.ndim != ndim or array.shape[0] != n:
            raise ValueError(
                f"{name}: expected {ndim}-D with {n} rows (the length of observations), "
                f"got shape {array.shape}"
            )
    if fields["next_observations"][0].shape != obs.shape:
        raise ValueError(
            f"next_observations: expected shape {obs.shape} (as observations), "
            f"got {fields['next_observations'][0].shape}"
        )
    device = device or jax.local_devices()[0]
    return OfflineDataset(**{k: jax.device_put(v, device) for k, (v, _) in fields.items()})


def sample(key: jax.Array, dataset: OfflineDataset, batch_size: int) -> OfflineDataset:
    """Uniform minibatch of ``batch_size`` transitions, with replacement; jittable.

    Indices are ``jax.random.randint(key, [B], 0, N)``, so each row has probability
    ``1/N`` per draw (as acme/JAX-CORL's uniform offline samplers). Same key, same batch.

    Args:
        key: PRNG key.
        dataset: ``OfflineDataset`` with ``N`` rows.
        batch_size: ``B`` (static under jit).

    Returns:
        ``OfflineDataset`` with ``[B, ...]`` leaves.
    """
    idx = jax.random.randint(key, (batch_size,), 0, dataset.size)
    return jax.tree.map(lambda x: jnp.take(x, idx, axis=0), dataset)


def sample_steps(
    key: jax.Array, dataset: OfflineDataset, num_steps: int, batch_size: int
) -> OfflineDataset:
    """``num_steps`` independent uniform minibatches stacked for a ``lax.scan``.

    The seeds' ``batch_size`` is the total batch of one call of ``num_sgd_steps_per_step``
    SGD steps: pass ``batch_size = K x per-step batch`` and ``num_steps = K``.

    Args:
        key: PRNG key.
        dataset: ``OfflineDataset`` with ``N`` rows.
        num_steps: ``K`` (static).
        batch_size: total ``K x B`` (static), divisible by ``num_steps``.

    Returns:
        ``OfflineDataset`` with ``[K, B, ...]`` leaves.

    Raises:
        ValueError: if ``batch_size`` is not a positive multiple of ``num_steps``.
    """
    if num_steps < 1 or batch_size < 1 or batch_size % num_steps:
        raise ValueError(
            f"batch_size: expected a positive multiple of num_steps={num_steps}, got {batch_size}"
        )
    batch = sample(key, dataset, batch_size)
    per_step = batch_size // num_steps
    return jax.tree.map(lambda x: x.reshape(num_steps, per_step, *x.shape[1:]), batch)
