"""Brax and MuJoCo Playground environments under the ``envs_jax`` protocol, and ours in brax's.

In: ``BraxAdapter(brax_env)`` puts any ``brax.envs.Env`` -- and any MuJoCo Playground
``MjxEnv``, which has the same ``reset(rng) -> State`` / ``step(state, action) -> State``
shape -- on our protocol. Registered ids (``envs_jax.make``): ``"brax/<name>"`` for brax's
suite (``BRAX_ENV_IDS``; any name added with ``brax.envs.register_environment`` works too)
and ``"playground/<Name>"`` for Playground's DM Control suite (``PLAYGROUND_ENV_IDS``).

Out: ``to_brax(env)`` is one of ours as a ``brax.envs.Env``, so that brax's own trainers
(``brax.training.agents.ppo.train``, ``.sac.train``) train on it; pass
``wrap_env_fn=wrap_for_brax_training`` and call ``install_brax_trainer_shim()`` once first.

The episode flags of the adapter in
-------------------------------------

A brax ``State`` carries one float ``done``; brax adds the time limit in
``brax.envs.wrappers.training.EpisodeWrapper``, which folds it into ``done`` and keeps
``info["truncation"] = (steps >= episode_length) * (1 - done_of_the_env)``. Playground's
``MjxEnv`` has no time limit at all (``config.episode_length`` is read by its training
wrapper, which is brax's ``EpisodeWrapper``). So the adapter:

* expects the UNWRAPPED env (no ``VmapWrapper`` / ``AutoResetWrapper``: batching and
  auto-reset are ours, ``envs_jax.wrappers``; refused by name otherwise);
* ``terminated = done != 0`` of the env's own step (a fall, a NaN: a true terminal state);
* applies the time limit itself, with its own step counter:
  ``truncated = (time >= episode_length) & ~terminated``. The same values as
  ``EpisodeWrapper`` (a termination on the last step stays a termination), but explicit;
* if the env passed in is already inside one ``EpisodeWrapper`` (and nothing else), reads
  its flags back instead: ``truncated = info["truncation"] != 0``,
  ``terminated = done & ~truncated``, and ``episode_length`` is the wrapper's.

``info["final_obs"]`` is the observation of the transition (the adapter never auto-resets;
``envs_jax.wrappers.CachedAutoReset``, which ``vec_env`` picks for these envs, restores a
cached first state on ``done`` as brax's ``AutoResetWrapper`` does).

Observations: arrays are cast to float32. A dict observation (Playground's locomotion
``{"state", "privileged_state"}``, vision ``{"pixels/view_0"}``) is refused with the keys
named unless ``obs_key`` picks one entry. Actions: ``Box(-1, 1, (action_size,))``, the range
brax's and Playground's tanh policies produce; the adapter clips to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs_jax import spaces
from envs_jax.core import Environment, EnvStep

# brax 0.14.2's suite (brax/envs/__init__.py ``_envs``); written out so that ``import envs_jax``
# never imports brax (seconds). Any other name brax knows at ``make`` time works as well.
BRAX_ENV_NAMES: tuple[str, ...] = (
    "ant", "fast", "halfcheetah", "hopper", "humanoid", "humanoidstandup",
    "inverted_pendulum", "inverted_double_pendulum", "pusher", "reacher", "swimmer",
    "walker2d",
)
# Playground 0.2.0's DM Control suite (``mujoco_playground.dm_control_suite.ALL_ENVS``): the
# suite whose models ship inside the package, so it loads offline. Playground's locomotion
# and manipulation suites clone mujoco_menagerie from GitHub on first load (fails offline).
PLAYGROUND_ENV_NAMES: tuple[str, ...] = (
    "AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance",
    "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun",
    "FingerSpin", "FingerTurnEasy", "FingerTurnHard", "FishSwim", "HopperHop", "HopperStand",
    "HumanoidStand", "HumanoidWalk", "HumanoidRun", "PendulumSwingup", "PointMass",
    "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun", "WalkerStand", "WalkerWalk",
)
BRAX_PREFIX = "brax/"
PLAYGROUND_PREFIX = "playground/"
BRAX_ENV_IDS: tuple[str, ...] = tuple(BRAX_PREFIX + n for n in BRAX_ENV_NAMES)
PLAYGROUND_ENV_IDS: tuple[str, ...] = tuple(PLAYGROUND_PREFIX + n for n in PLAYGROUND_ENV_NAMES)

# brax / Playground wrappers that batch or auto-reset: the adapter refuses them.
_REFUSED_WRAPPERS = ("VmapWrapper", "AutoResetWrapper", "BraxAutoResetWrapper",
                     "DomainRandomizationVmapWrapper", "BraxDomainRandomizationVmapWrapper",
                     "EvalWrapper")


def _strong(x: Any) -> jax.Array:
    """As a JAX array with a concrete (non-weak) dtype, so scan carries keep their types."""
    x = jnp.asarray(x)
    return x.astype(x.dtype)


@struct.dataclass
class BraxAdapterState:
    """State of ``BraxAdapter``.

    Attributes:
        brax_state: the env's own ``State`` (brax ``envs.State`` or Playground
            ``mjx_env.State``: physics data, obs, reward, done, metrics, info).
        time: ``[]`` int32, steps taken in this episode (the adapter's time limit).
    """

    brax_state: Any
    time: jax.Array


@struct.dataclass
class BraxParams:
    """``BraxAdapter``'s params: none (a brax env keeps its model on the object)."""


def _wrapper_chain(env: Any) -> list[Any]:
    chain = [env]
    while hasattr(chain[-1], "env") and chain[-1].env is not chain[-1]:
        chain.append(chain[-1].env)
    return chain


class BraxAdapter(Environment):
    """A ``brax.envs.Env`` or Playground ``MjxEnv`` as an ``envs_jax`` environment.

    See the module docstring for the flags. ``reset(key, params)`` calls the env's
    ``reset(key)``; ``step`` ignores its key (brax envs keep their randomness in
    ``state.info["rng"]``). Observations ``[obs_dim]`` float32, actions
    ``[action_size]`` float32 clipped to ``[-1, 1]``, reward ``[]`` float32.

    Args:
        brax_env: the unwrapped env (or one inside a single brax ``EpisodeWrapper``).
        episode_length: time limit in env steps (``None``: none); must be ``None`` or equal
            to the wrapper's when ``brax_env`` is an ``EpisodeWrapper``.
        obs_key: for dict observations, the entry to use (e.g. ``"state"``).
        name: the env's name in messages (default: its class name).

    Raises:
        TypeError: ``brax_env`` has no ``reset`` / ``step``.
        ValueError: a batching / auto-reset wrapper, a bad ``episode_length``, dict
            observations without a valid ``obs_key`` (the keys are listed), or an
            ``obs_key`` for array observations.
    """

    costly_reset = True
    """``envs_jax.wrappers.vec_env`` auto-resets these with ``CachedAutoReset`` (a physics
    reset builds fresh MJX data at every step otherwise), as brax's own ``AutoResetWrapper``."""

    def __init__(self, brax_env: Any, episode_length: int | None = 1000,
                 obs_key: str | None = None, name: str | None = None):
        if not (callable(getattr(brax_env, "reset", None))
                and callable(getattr(brax_env, "step", None))):
            raise TypeError(f"BraxAdapter: expected a brax Env or Playground MjxEnv with "
                            f"reset(rng) and step(state, action), got {brax_env!r}")
        self.brax_env = brax_env
        self._name = name or type(getattr(brax_env, "unwrapped", brax_env)).__name__
        chain = _wrapper_chain(brax_env)
        for layer in chain:
            if type(layer).__name__ in _REFUSED_WRAPPERS:
                raise ValueError(
                    f"BraxAdapter: {self._name} is wrapped in {type(layer).__name__}; pass the "
                    f"unwrapped env (env.unwrapped): batching and auto-reset are envs_jax's "
                    f"(VecEnv, CachedAutoReset)")
        episode_wrappers = [w for w in chain if type(w).__name__ == "EpisodeWrapper"]
        self._reads_truncation = bool(episode_wrappers)
        if episode_wrappers:
            wrapper_length = int(episode_wrappers[0].episode_length)
            if episode_length is not None and int(episode_length) != wrapper_length:
                raise ValueError(
                    f"BraxAdapter: episode_length={episode_length} but {self._name} is inside "
                    f"an EpisodeWrapper of episode_length={wrapper_length}; pass None")
            episode_length = wrapper_length
        if episode_length is not None:
            if isinstance(episode_length, bool) or int(episode_length) != episode_length \
                    or episode_length < 1:
                raise ValueError(f"BraxAdapter: episode_length must be an int >= 1 or None, "
                                 f"got {episode_length!r}")
            episode_length = int(episode_length)
        self.episode_length = episode_length
        self.obs_key = obs_key
        # One abstract reset (traced, not compiled): the observation structure, checked
        # here so a dict observation is refused before anything compiles.
        abstract = jax.eval_shape(brax_env.reset, jax.random.PRNGKey(0))
        self._obs_shape = self._pick_obs(abstract.obs).shape
        self._action_size = int(brax_env.action_size)

    def __getattr__(self, name: str) -> Any:
        if name == "brax_env":
            raise AttributeError(name)
        return getattr(self.brax_env, name)

    @property
    def name(self) -> str:
        return self._name

    def _pick_obs(self, obs: Any) -> Any:
        if isinstance(obs, Mapping):
            keys = sorted(obs)
            if self.obs_key is None:
                raise ValueError(
                    f"BraxAdapter: {self._name} returns dict observations with keys {keys}; "
                    f"pass obs_key=<one of them> (make(..., obs_key='state'))")
            if self.obs_key not in obs:
                raise ValueError(f"BraxAdapter: obs_key={self.obs_key!r} is not among "
                                 f"{self._name}'s observation keys {keys}")
            return obs[self.obs_key]
        if self.obs_key is not None:
            raise ValueError(f"BraxAdapter: obs_key={self.obs_key!r} given but {self._name}'s "
                             f"observations are an array, not a dict")
        return obs

    def _obs(self, obs: Any) -> jax.Array:
        return jnp.asarray(self._pick_obs(obs), jnp.float32)

    def default_params(self) -> BraxParams:
        return BraxParams()

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, BraxAdapterState]:
        del params
        brax_state = jax.tree.map(_strong, self.brax_env.reset(key))
        return self._obs(brax_state.obs), BraxAdapterState(brax_state, jnp.zeros((), jnp.int32))

    def step(self, key: jax.Array, state: BraxAdapterState, action: jax.Array,
             params: Any) -> EnvStep:
        del key, params
        action = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
        # tree.map rebuilds the dict containers: brax/Playground steps update
        # state.info / state.metrics in place, which must not reach the caller's state.
        before = jax.tree.map(lambda x: x, state.brax_state)
        after = jax.tree.map(_strong, self.brax_env.step(before, action))
        time = state.time + 1
        done = jnp.asarray(after.done) != 0
        if self._reads_truncation:
            truncated = jnp.asarray(after.info["truncation"]) != 0
            terminated = done & ~truncated
        else:
            terminated = done
            if self.episode_length is None:
                truncated = jnp.zeros((), bool)
            else:
                truncated = (time >= self.episode_length) & ~terminated
        obs = self._obs(after.obs)
        return EnvStep(
            obs=obs,
            state=BraxAdapterState(after, time),
            reward=jnp.asarray(after.reward, jnp.float32),
            terminated=terminated,
            truncated=truncated,
            info={"final_obs": obs},
        )

    def observation_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-np.inf, np.inf, tuple(self._obs_shape), jnp.float32)

    def action_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self._action_size,), jnp.float32)


# --- the registry's factories ------------------------------------------------------------


def make_brax(name: str, episode_length: int | None = 1000, obs_key: str | None = None,
              **kwargs) -> BraxAdapter:
    """``BraxAdapter(brax.envs.get_environment(name, **kwargs), episode_length)``.

    ``episode_length`` defaults to 1000, ``brax.envs.create``'s. ``kwargs`` go to the brax
    env (e.g. ``backend="generalized"``; brax's default backend is ``"mjx"``).

    Raises:
        ValueError: a name brax does not know (the known ones are listed).
    """
    import brax.envs  # here: brax costs seconds to import

    known = sorted(brax.envs._envs)  # brax has no public listing; _envs is its registry
    if name not in known:
        raise ValueError(f"make: unknown brax env {name!r}; brax knows: {', '.join(known)}")
    return BraxAdapter(brax.envs.get_environment(name, **kwargs), episode_length, obs_key,
                       name=BRAX_PREFIX + name)


def make_playground(name: str, episode_length: int | None = None, obs_key: str | None = None,
                    impl: str = "jax", config_overrides: dict | None = None) -> BraxAdapter:
    """``BraxAdapter(mujoco_playground.registry.load(name, ...))``.

    Args:
        name: a Playground env name (the DM Control suite loads offline).
        episode_length: time limit; default the env config's ``episode_length`` (1000 for
            the DM Control suite).
        obs_key: for dict observations (locomotion ``"state"``, vision ``"pixels/view_0"``).
        impl: the MJX implementation, ``"jax"`` (default: pure JAX, runs anywhere under
            jit/vmap) or ``"warp"`` (Playground's own default, for NVIDIA GPUs).
        config_overrides: more Playground config overrides (e.g. ``{"ctrl_dt": 0.02}``).

    Raises:
        ValueError: Playground is not installed, the name is unknown (the DM Control names
            are listed), the env needs a download that failed (offline), or its config has
            ``action_repeat != 1`` (not applied by this adapter).
    """
    try:
        from mujoco_playground import registry
    except ImportError as err:
        raise ValueError(f"make: playground/{name} needs MuJoCo Playground: pip install "
                         f"'purerl[playground]' (pip name 'playground'); {err}") from err
    if name not in registry.ALL_ENVS:
        raise ValueError(f"make: unknown Playground env {name!r}; the DM Control suite "
                         f"(offline): {', '.join(PLAYGROUND_ENV_NAMES)}")
    overrides = {"impl": impl, **(config_overrides or {})}
    try:
        brax_env = registry.load(name, config_overrides=overrides)
    except Exception as err:  # Playground's menagerie download raises CalledProcessError
        raise ValueError(f"make: Playground could not load {name!r} ({type(err).__name__}: "
                         f"{err}); the locomotion and manipulation suites clone "
                         f"mujoco_menagerie from GitHub on first load, which needs network "
                         f"access; the DM Control suite loads offline") from err
    config = brax_env._config  # Playground keeps the (overridden) config here
    if int(config.get("action_repeat", 1)) != 1:
        raise ValueError(f"make: playground/{name} has action_repeat="
                         f"{config.action_repeat}; BraxAdapter applies none: pass "
                         f"config_overrides={{'action_repeat': 1}} or a larger ctrl_dt")
    if episode_length is None:
        episode_length = int(config.get("episode_length", 1000))
    return BraxAdapter(brax_env, episode_length, obs_key, name=PLAYGROUND_PREFIX + name)


# --- ours as a brax Env -----------------------------------------------------------------


def install_brax_trainer_shim() -> None:
    """Gives jax the ``jax.device_put_replicated`` that brax 0.14.2's trainers call.

    jax 0.10 removed it; brax's PPO/SAC/APG ``train`` use it once, to copy the initial
    training state to ``local_devices`` (a leading device axis for ``jax.pmap``). The shim
    stacks each leaf ``len(devices)`` times and shards that axis over the devices, which is
    what the removed function returned. Idempotent; does nothing where jax still has it.
    The ONE place this shim lives (tests, benchmarks and users call it).
    """
    if hasattr(jax, "device_put_replicated"):
        return

    def device_put_replicated(x: Any, devices: list) -> Any:
        mesh = jax.sharding.Mesh(np.asarray(devices), ("d",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("d"))
        return jax.tree.map(
            lambda a: jax.device_put(jnp.stack([jnp.asarray(a)] * len(devices)), sharding), x)

    jax.device_put_replicated = device_put_replicated


def to_brax(env: Environment, params: Any = None) -> Any:
    """Our base ``env`` (no auto-reset) as a ``brax.envs.Env``.

    * ``reset(rng)`` / ``step(state, action)`` return a brax ``State`` whose
      ``pipeline_state`` is our env state; our step keys come from ``state.info["rng"]``.
    * ``done = terminated | truncated``, ``info["truncation"] = truncated`` and
      ``info["steps"]`` (steps in the episode; brax's ``AutoResetWrapper`` zeroes it after
      ``done``), ``info["episode_done"]`` and ``info["episode_metrics"]`` (``sum_reward``,
      ``length``), float32: what brax's ``EpisodeWrapper`` hands its trainers and evaluator,
      so their losses bootstrap on our time limits. Train with ``wrap_env_fn=wrap_for_brax_training`` (brax's default
      ``EpisodeWrapper`` would recompute ``truncation`` from its own counter and call our
      time limit a termination).
    * observations flattened to ``[obs_dim]`` float32.
    * actions: brax's policies output ``[action_size]`` in ``[-1, 1]``. A ``Discrete(n)``
      space is exposed as ``action_size = n`` and the action taken is the ``argmax``; a
      1-D ``Box`` with finite bounds is rescaled from ``[-1, 1]`` to ``[low, high]``.

    Args:
        env: an ``envs_jax`` environment.
        params: its params (default ``env.default_params()``), fixed for every episode.

    Raises:
        TypeError: an action space other than ``Discrete`` or a 1-D ``Box``.
    """
    from brax.envs import base as brax_base

    params = env.default_params() if params is None else params
    act_space, obs_space = env.action_space(params), env.observation_space(params)
    if isinstance(act_space, spaces.Discrete):
        action_size = int(act_space.n)

        def to_action(a: jax.Array) -> jax.Array:
            return jnp.argmax(a, axis=-1).astype(act_space.dtype)
    elif isinstance(act_space, spaces.Box) and len(act_space.shape) == 1:
        action_size = int(act_space.shape[0])
        low, high = np.asarray(act_space.low, np.float32), np.asarray(act_space.high, np.float32)
        bounded = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))

        def to_action(a: jax.Array) -> jax.Array:
            a = jnp.asarray(a, jnp.float32)
            if bounded:
                a = low + (jnp.clip(a, -1.0, 1.0) + 1.0) * 0.5 * (high - low)
            return a.astype(act_space.dtype)
    else:
        raise TypeError(f"to_brax: expected a Discrete or 1-D Box action space, got "
                        f"{act_space!r}")
    obs_size = int(np.prod(obs_space.shape))

    def flat(obs: jax.Array) -> jax.Array:
        return jnp.reshape(obs, (obs_size,)).astype(jnp.float32)

    class ToBrax(brax_base.Env):
        """``envs_jax`` env ``{name}`` as a brax ``Env`` (see ``to_brax``)."""

        def __init__(self):
            self.env, self.params = env, params

        def reset(self, rng: jax.Array) -> Any:
            key_reset, key_next = jax.random.split(rng)
            obs, state = env.reset(key_reset, params)
            zero = jnp.zeros((), jnp.float32)
            return brax_base.State(pipeline_state=state, obs=flat(obs), reward=zero,
                                   done=zero, metrics={},
                                   info={"rng": key_next, "truncation": zero, "steps": zero,
                                         "episode_done": zero,
                                         "episode_metrics": {"sum_reward": zero,
                                                             "length": zero}})

        def step(self, state: Any, action: jax.Array) -> Any:
            key, key_next = jax.random.split(state.info["rng"])
            ts = env.step(key, state.pipeline_state, to_action(action), params)
            reward = ts.reward.astype(jnp.float32)
            done = (ts.terminated | ts.truncated).astype(jnp.float32)
            # EpisodeWrapper's bookkeeping, which brax's PPO reads into its rollouts.
            keep = 1.0 - state.info["episode_done"]
            sums = state.info["episode_metrics"]
            info = {**state.info, "rng": key_next,
                    "truncation": ts.truncated.astype(jnp.float32),
                    "steps": state.info["steps"] + 1.0, "episode_done": done,
                    "episode_metrics": {"sum_reward": sums["sum_reward"] * keep + reward,
                                        "length": sums["length"] * keep + 1.0}}
            return state.replace(pipeline_state=ts.state, obs=flat(ts.obs), reward=reward,
                                 done=done, info=info)

        @property
        def observation_size(self) -> int:
            return obs_size

        @property
        def action_size(self) -> int:
            return action_size

        @property
        def backend(self) -> str:
            return "envs_jax"

    return ToBrax()


def wrap_for_brax_training(env: Any, episode_length: int | None = None, action_repeat: int = 1,
                           randomization_fn: Any = None) -> Any:
    """brax's training wrap for a ``to_brax`` env: ``AutoResetWrapper(VmapWrapper(env))``.

    The ``wrap_env_fn`` of ``brax.training.agents.{ppo,sac}.train``. brax's default
    (``brax.envs.training.wrap``) puts an ``EpisodeWrapper`` in between, which our env does
    not need (it has its own time limit and reports ``info["truncation"]``) and which would
    turn our truncations into terminations. ``episode_length`` (brax passes its own) is
    unused here; give brax's ``train`` our env's limit so its evaluator runs whole episodes.

    Raises:
        ValueError: ``action_repeat != 1`` or a ``randomization_fn`` (not supported).
    """
    from brax.envs.wrappers import training as brax_training

    del episode_length
    if action_repeat != 1 or randomization_fn is not None:
        raise ValueError(f"wrap_for_brax_training: action_repeat must be 1 and "
                         f"randomization_fn None, got {action_repeat!r}, {randomization_fn!r}")
    return brax_training.AutoResetWrapper(brax_training.VmapWrapper(env))
