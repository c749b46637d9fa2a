"""Observation and action spaces.

Plain Python objects: bounds are numpy arrays or Python numbers fixed at construction,
never traced values, so a space can be built outside ``jax.jit`` and used inside it.
``sample`` and ``contains`` are jittable and return JAX arrays.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class Space:
    """Base class of all spaces.

    Attributes:
        shape: shape of one element, e.g. ``()`` or ``(obs_dim,)``.
        dtype: numpy dtype of one element.
    """

    shape: tuple[int, ...]
    dtype: np.dtype

    def sample(self, key: jax.Array) -> jax.Array:
        """Draws one element ``[*shape]`` of ``dtype``."""
        raise NotImplementedError

    def contains(self, x: Any) -> jax.Array:
        """Returns a ``[]`` bool array: whether ``x`` is an element of the space."""
        raise NotImplementedError


class Discrete(Space):
    """The integers ``{0, ..., n - 1}``.

    Args:
        n: number of elements, at least 1.
        dtype: integer dtype of the elements (default int32).

    Raises:
        ValueError: if ``n < 1`` or ``dtype`` is not an integer dtype.
    """

    def __init__(self, n: int, dtype: Any = jnp.int32):
        if int(n) != n or n < 1:
            raise ValueError(f"Discrete: n must be an integer >= 1, got {n!r}")
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.integer):
            raise ValueError(f"Discrete: dtype must be an integer dtype, got {dtype}")
        self.n = int(n)
        self.shape: tuple[int, ...] = ()
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"Discrete({self.n})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Discrete) and (self.n, self.dtype) == (other.n, other.dtype)

    def __hash__(self) -> int:
        return hash(("Discrete", self.n, self.dtype))

    def sample(self, key: jax.Array) -> jax.Array:
        """Uniform element, ``[]`` of ``dtype``."""
        return jax.random.randint(key, (), 0, self.n, dtype=self.dtype)

    def contains(self, x: Any) -> jax.Array:
        """True iff ``x`` is a scalar integer value in ``[0, n)`` (shape checked statically)."""
        x = jnp.asarray(x)
        if x.shape != ():
            return jnp.array(False)
        return (x >= 0) & (x < self.n) & (x == jnp.round(x))


class Box(Space):
    """The box ``[low, high]`` of arrays of a fixed shape (bounds may be infinite).

    Args:
        low: lower bound, a number or an array broadcastable to ``shape``.
        high: upper bound, a number or an array broadcastable to ``shape``.
        shape: shape of one element.
        dtype: dtype of the elements (default float32).

    Raises:
        ValueError: if the bounds do not broadcast to ``shape`` or ``low > high`` somewhere.
    """

    def __init__(self, low: Any, high: Any, shape: tuple[int, ...], dtype: Any = jnp.float32):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        try:
            # float64 here so that +-inf and float32 max survive for integer boxes too.
            self.low = np.broadcast_to(np.asarray(low, dtype=np.float64), self.shape)
            self.high = np.broadcast_to(np.asarray(high, dtype=np.float64), self.shape)
        except ValueError as err:
            raise ValueError(f"Box: low/high must broadcast to shape {self.shape}") from err
        if np.any(self.low > self.high):
            raise ValueError(f"Box: expected low <= high, got low={self.low}, high={self.high}")

    def __repr__(self) -> str:
        low, high = _format_bound(self.low), _format_bound(self.high)
        return f"Box(low={low}, high={high}, shape={self.shape}, dtype={self.dtype})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Box)
            and (self.shape, self.dtype) == (other.shape, other.dtype)
            and np.array_equal(self.low, other.low)
            and np.array_equal(self.high, other.high)
        )

    def __hash__(self) -> int:
        return hash(("Box", self.shape, self.dtype))

    def sample(self, key: jax.Array) -> jax.Array:
        """Draws one element ``[*shape]``.

        Like gymnasium's ``Box.sample``: uniform where both bounds are finite, shifted
        exponential where one is, standard normal where neither is. Integer boxes sample
        uniformly in ``[low, high]`` (finite bounds required).
        """
        if np.issubdtype(self.dtype, np.integer):
            low, high = self.low.astype(self.dtype), self.high.astype(self.dtype)
            return jax.random.randint(key, self.shape, low, high + 1, dtype=self.dtype)
        key_u, key_e, key_n = jax.random.split(key, 3)
        lo_fin, hi_fin = np.isfinite(self.low), np.isfinite(self.high)
        # Replace infinite bounds by 0 so no inf * 0 NaN leaks into the unused branches.
        low = jnp.asarray(np.where(lo_fin, self.low, 0.0), jnp.float32)
        high = jnp.asarray(np.where(hi_fin, self.high, 0.0), jnp.float32)
        u = jax.random.uniform(key_u, self.shape)
        # low*(1-u) + high*u never forms high - low, which overflows for +-float32 max.
        uniform = low * (1.0 - u) + high * u
        if np.all(lo_fin & hi_fin):  # static: the common case needs one draw only
            return uniform.astype(self.dtype)
        expo = jax.random.exponential(key_e, self.shape)
        normal = jax.random.normal(key_n, self.shape)
        x = jnp.where(
            lo_fin & hi_fin,
            uniform,
            jnp.where(lo_fin, low + expo, jnp.where(hi_fin, high - expo, normal)),
        )
        return x.astype(self.dtype)

    def contains(self, x: Any) -> jax.Array:
        """True iff ``x`` has shape ``shape`` and lies in ``[low, high]`` (NaN is outside)."""
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.array(False)
        x = x.astype(jnp.float32)
        # Compare in float32: bounds are stored as float64 but x64 is usually disabled.
        low = jnp.asarray(self.low, jnp.float32)
        high = jnp.asarray(self.high, jnp.float32)
        return jnp.all((x >= low) & (x <= high))


def _format_bound(bound: np.ndarray) -> str:
    """A uniform bound as one number, otherwise a short array."""
    if bound.size and np.all(bound == bound.flat[0]):
        return repr(float(bound.flat[0]))
    return np.array2string(bound, threshold=6, precision=4)
