"""Tabular MDP task distributions."""

from envs_jax.tabular.random_mdp import MDPParams, MDPState, RandomMDP, value_iteration

__all__ = ["MDPParams", "MDPState", "RandomMDP", "value_iteration"]
