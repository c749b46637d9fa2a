"""Pure-JAX environments for purerl, and a registry: ``env, params = make(env_id)``.

Registered ids (defaults in brackets):

* ``"bernoulli_bandit"`` (``num_arms=5``): ``BernoulliBandit``.
* ``"random_mdp"`` (``num_states=10, num_actions=5, horizon=10``): ``RandomMDP``.
* ``"bernoulli_bandit_trial"`` (``num_arms=5, num_episodes=10``): ``TrialWrapper``.
* ``"random_mdp_trial"`` (``num_episodes=10`` + the MDP kwargs): ``TrialWrapper``.
* ``"gymnax/CartPole-v1"``, ``"gymnax/Acrobot-v1"``, ``"gymnax/MountainCar-v0"``:
  ``GymnaxAdapter``; ``make`` also accepts ``"gymnax/<ID>"`` for any id gymnax knows.
* MJX physics tasks (``MJX_ENV_IDS``; ``envs_jax.mjx``, imported on first ``make`` because
  MuJoCo costs seconds to import): ``"hopper"``, ``"halfcheetah"``, ``"walker2d"``,
  ``"ant"``, ``"ant-goal"`` (open-space goal reaching, AntMaze's data policy),
  ``"antmaze-umaze"``, ``"antmaze-medium"``, ``"antmaze-large"``,
  ``"cheetah-run"``, ``"amp-humanoid"``.
* brax and MuJoCo Playground envs (``envs_jax.brax_adapter.BraxAdapter``; brax / Playground
  imported on first ``make``): ``"brax/<name>"`` (``BRAX_ENV_IDS``: ``"brax/ant"``,
  ``"brax/inverted_pendulum"``...; any name in brax's registry) and ``"playground/<Name>"``
  (``PLAYGROUND_ENV_IDS``, the DM Control suite: ``"playground/CartpoleBalance"``,
  ``"playground/CheetahRun"``...; needs the ``playground`` extra).

``make`` returns the base environment: it does NOT auto-reset. Typical training stack:
``VecEnv(AutoReset(RecordEpisodeStats(env)), num_envs)``.
"""

from __future__ import annotations

from envs_jax import _xla

_xla.apply()  # XLA:CPU workaround flags, before JAX starts its backend (see _xla.py)

import functools
from collections.abc import Callable

from envs_jax.bandits import BernoulliBandit
from envs_jax.brax_adapter import (BRAX_ENV_IDS, BRAX_PREFIX, PLAYGROUND_ENV_IDS,
                                   PLAYGROUND_PREFIX)
from envs_jax.core import Environment, EnvStep, MetaEnvironment
from envs_jax.meta import TrialWrapper
from envs_jax.tabular import RandomMDP

__all__ = [
    "BRAX_ENV_IDS",
    "MJX_ENV_IDS",
    "PLAYGROUND_ENV_IDS",
    "EnvStep",
    "Environment",
    "MetaEnvironment",
    "make",
    "register",
    "registered_envs",
]

GYMNAX_PREFIX = "gymnax/"

_REGISTRY: dict[str, Callable[..., Environment]] = {}


def register(env_id: str, factory: Callable[..., Environment]) -> None:
    """Registers ``factory(**kwargs) -> Environment`` under ``env_id``.

    Raises:
        TypeError: if ``env_id`` is not a str or ``factory`` is not callable.
        ValueError: if ``env_id`` is empty or already registered.
    """
    if not isinstance(env_id, str):
        raise TypeError(f"register: env_id must be a str, got {env_id!r}")
    if not env_id:
        raise ValueError("register: env_id must not be empty")
    if not callable(factory):
        raise TypeError(f"register: factory for {env_id!r} must be callable, got {factory!r}")
    if env_id in _REGISTRY:
        raise ValueError(f"register: {env_id!r} is already registered")
    _REGISTRY[env_id] = factory


def registered_envs() -> list[str]:
    """All registered ids, sorted."""
    return sorted(_REGISTRY)


def _make_gymnax(gymnax_id: str, **kwargs) -> Environment:
    # Imported here: gymnax (and gymnasium behind it) costs seconds to import.
    import gymnax

    from envs_jax.gymnax_adapter import GymnaxAdapter

    if gymnax_id not in gymnax.registered_envs:
        raise ValueError(
            f"make: unknown gymnax id {gymnax_id!r}; gymnax knows: {', '.join(gymnax.registered_envs)}"
        )
    gymnax_env, _ = gymnax.make(gymnax_id, **kwargs)
    return GymnaxAdapter(gymnax_env)


def make(env_id: str, **kwargs) -> tuple[Environment, object]:
    """Builds a registered environment.

    Args:
        env_id: a registered id, or ``"gymnax/<ID>"`` for any gymnax id, ``"brax/<name>"``
            for any env in brax's registry, ``"playground/<Name>"`` for any Playground env.
        **kwargs: passed to the factory (e.g. ``num_arms=10``).

    Returns:
        ``(env, env.default_params())``.

    Raises:
        ValueError: for an unknown id (the message lists the registered ids).
    """
    if env_id in _REGISTRY:
        env = _REGISTRY[env_id](**kwargs)
    elif isinstance(env_id, str) and env_id.startswith(GYMNAX_PREFIX):
        env = _make_gymnax(env_id[len(GYMNAX_PREFIX) :], **kwargs)
    elif isinstance(env_id, str) and env_id.startswith(BRAX_PREFIX):
        from envs_jax.brax_adapter import make_brax

        env = make_brax(env_id[len(BRAX_PREFIX) :], **kwargs)
    elif isinstance(env_id, str) and env_id.startswith(PLAYGROUND_PREFIX):
        from envs_jax.brax_adapter import make_playground

        env = make_playground(env_id[len(PLAYGROUND_PREFIX) :], **kwargs)
    else:
        raise ValueError(
            f"make: unknown env id {env_id!r}; registered: {', '.join(registered_envs())} "
            f"(and '{GYMNAX_PREFIX}<ID>' for any gymnax id, '{BRAX_PREFIX}<name>' for any "
            f"brax env, '{PLAYGROUND_PREFIX}<Name>' for any Playground env)"
        )
    return env, env.default_params()


def _trial_of(env_factory: Callable[..., MetaEnvironment]) -> Callable[..., Environment]:
    def factory(num_episodes: int = 10, **kwargs) -> Environment:
        return TrialWrapper(env_factory(**kwargs), num_episodes)

    return factory


register("bernoulli_bandit", BernoulliBandit)
register("random_mdp", RandomMDP)
register("bernoulli_bandit_trial", _trial_of(BernoulliBandit))
register("random_mdp_trial", _trial_of(RandomMDP))
for _gymnax_id in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0"):
    register(GYMNAX_PREFIX + _gymnax_id, functools.partial(_make_gymnax, _gymnax_id))


# MJX tasks: "module:Class" plus fixed kwargs, imported on first use.
_MJX_FACTORIES: dict[str, tuple[str, dict]] = {
    "hopper": ("envs_jax.mjx.locomotion:Hopper", {}),
    "halfcheetah": ("envs_jax.mjx.locomotion:HalfCheetah", {}),
    "walker2d": ("envs_jax.mjx.locomotion:Walker2d", {}),
    "ant": ("envs_jax.mjx.locomotion:Ant", {}),
    "ant-goal": ("envs_jax.mjx.ant_goal:AntGoal", {}),
    "antmaze-umaze": ("envs_jax.mjx.antmaze:AntMaze", {"maze": "umaze"}),
    "antmaze-medium": ("envs_jax.mjx.antmaze:AntMaze", {"maze": "medium"}),
    "antmaze-large": ("envs_jax.mjx.antmaze:AntMaze", {"maze": "large"}),
    "cheetah-run": ("envs_jax.mjx.cheetah_run:CheetahRun", {}),
    "amp-humanoid": ("envs_jax.mjx.humanoid:AMPHumanoid", {}),
}
MJX_ENV_IDS: tuple[str, ...] = tuple(_MJX_FACTORIES)


def _lazy(target: str, fixed: dict) -> Callable[..., Environment]:
    def factory(**kwargs) -> Environment:
        import importlib

        module_name, class_name = target.split(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        return cls(**{**fixed, **kwargs})

    return factory


for _env_id, (_target, _fixed) in _MJX_FACTORIES.items():
    register(_env_id, _lazy(_target, _fixed))


def _brax_factory(kind: str, name: str) -> Callable[..., Environment]:
    def factory(**kwargs) -> Environment:
        from envs_jax import brax_adapter

        return getattr(brax_adapter, f"make_{kind}")(name, **kwargs)

    return factory


for _env_id in BRAX_ENV_IDS:
    register(_env_id, _brax_factory("brax", _env_id[len(BRAX_PREFIX):]))
for _env_id in PLAYGROUND_ENV_IDS:
    register(_env_id, _brax_factory("playground", _env_id[len(PLAYGROUND_PREFIX):]))
