"""purerl: pure-JAX RL. An environment, an agent and a seed sweep in one ``jax.jit``."""

from envs_jax import _xla

_xla.apply()  # before any JAX computation (envs_jax applies it too): see its docstring

__version__ = "0.1.0"
