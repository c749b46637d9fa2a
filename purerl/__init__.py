"""purerl: pure-JAX RL. An environment, an agent and a seed sweep in one ``jax.jit``."""

from purerl import _xla_workarounds

_xla_workarounds.apply()  # before any JAX computation: see the module's docstring

__version__ = "0.1.0"
