"""purerl: pure-JAX RL. An environment, an agent and a seed sweep in one ``jax.jit``."""

__version__ = "0.1.0"
