"""Multi-armed bandit task distributions."""

from envs_jax.bandits.bernoulli import BanditParams, BanditState, BernoulliBandit

__all__ = ["BanditParams", "BanditState", "BernoulliBandit"]
