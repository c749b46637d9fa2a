"""Actor-critic networks, feed-forward and recurrent, for discrete and continuous actions.

Every network here has ONE calling convention, so the PPO loop is written once::

    hidden, policy_out, value = net.apply(params, hidden, obs, reset)

with ``obs [T, N, obs_dim]``, ``reset [T, N]`` bool (zero the recurrent state *before*
consuming ``obs[t]``: true at the first step of an episode / RL^2 trial),
``hidden [N, H]`` the state before ``obs[0]`` and ``value [T, N]``. ``policy_out`` is what
``purerl.common.distributions`` turns into the action distribution: ``logits [T, N, A]``
for a discrete action space, the pair ``(mean [T, N, A], log_std [T, N, A])`` for a
continuous one (``GaussianActorCritic``).

Each class says whether it has memory (``recurrent``). Feed-forward nets
(``recurrent = False``) also take ``hidden=None, reset=None`` and observations with any
leading axes, ``obs [..., obs_dim] -> (None, policy_out [..., ...], value [...])``: PPO
calls them that way on flat minibatches ``[B, obs_dim]``, with no time axis and no dummy
state. ``initial_hidden(N)`` of a feed-forward net is a dummy ``[N, 1]`` that it ignores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from purerl.common.distributions import LogStd

ValueActivation = Literal["none", "tanh", "relu", "sigmoid"]

_VALUE_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "none": lambda x: x,
    "tanh": jnp.tanh,
    "relu": nn.relu,
    "sigmoid": nn.sigmoid,
}


def value_activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The value head's output non-linearity (the seed's ``--non_linearity``).

    Raises:
        ValueError: ``name`` is not one of none, tanh, relu, sigmoid.
    """
    if name not in _VALUE_ACTIVATIONS:
        raise ValueError(
            f"non_linearity: expected one of {sorted(_VALUE_ACTIVATIONS)}, got {name!r}"
        )
    return _VALUE_ACTIVATIONS[name]


def _dense(features: int, scale: float) -> nn.Dense:
    # Orthogonal init with small output scales (policy 0.01, value 1.0) is the PPO
    # convention (Andrychowicz et al. 2021, "What matters in on-policy RL", C.2).
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(scale),
                    bias_init=nn.initializers.zeros)


class Heads(nn.Module):
    """Policy-logit and value heads on a shared feature vector ``[..., F]``."""

    num_actions: int
    non_linearity: ValueActivation = "none"

    @nn.compact
    def __call__(self, features: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits = _dense(self.num_actions, 0.01)(features)
        value = _dense(1, 1.0)(features)[..., 0]
        return logits, value_activation(self.non_linearity)(value)


class MLPActorCritic(nn.Module):
    """Feed-forward actor-critic with separate torsos (tanh MLPs, as PureJaxRL/CleanRL PPO).

    Attributes:
        num_actions: size A of the discrete action space.
        hidden_sizes: widths of the hidden layers of each torso.
        non_linearity: value-head output activation.
    """

    num_actions: int
    hidden_sizes: Sequence[int] = (64, 64)
    non_linearity: ValueActivation = "none"
    recurrent: ClassVar[bool] = False

    @nn.compact
    def __call__(self, hidden, obs, reset):
        del reset  # no memory to reset
        x_pi, x_v = obs, obs
        for width in self.hidden_sizes:
            x_pi = nn.tanh(_dense(width, np.sqrt(2))(x_pi))
            x_v = nn.tanh(_dense(width, np.sqrt(2))(x_v))
        logits = _dense(self.num_actions, 0.01)(x_pi)
        value = _dense(1, 1.0)(x_v)[..., 0]
        return hidden, logits, value_activation(self.non_linearity)(value)

    @staticmethod
    def initial_hidden(num_envs: int) -> jax.Array:
        """Dummy recurrent state ``[N, 1]`` float32 (keeps one calling convention)."""
        return jnp.zeros((num_envs, 1), jnp.float32)


class _ResettingGRU(nn.Module):
    """One GRU step that first zeroes the carry where ``reset`` is true."""

    hidden_size: int

    @nn.compact
    def __call__(self, carry, inputs):
        x, reset = inputs
        carry = jnp.where(reset[:, None], jnp.zeros_like(carry), carry)
        carry, y = nn.GRUCell(features=self.hidden_size)(carry, x)
        return carry, y


class GRUActorCritic(nn.Module):
    """RL^2 agent: GRU over the trial, then policy and value heads.

    Source: Duan et al. 2016 (RL^2, arXiv 1611.02779), sec. 2.3: a GRU whose state is kept
    across the episodes of a trial and zeroed at trial start. Unlike the PyTorch seed
    (one step of recurrence on stored hidden states), training back-propagates through the
    whole rollout sequence.

    Attributes:
        num_actions: size A of the discrete action space.
        hidden_size: GRU width H (paper: 256).
        layer_norm: layer norm on the GRU input (allowed by the spec; helps with the raw
            reward input of MDPs).
        non_linearity: value-head output activation.
    """

    num_actions: int
    hidden_size: int = 256
    layer_norm: bool = True
    non_linearity: ValueActivation = "none"
    recurrent: ClassVar[bool] = True

    @nn.compact
    def __call__(self, hidden, obs, reset):
        x = nn.LayerNorm()(obs) if self.layer_norm else obs
        scan = nn.scan(_ResettingGRU, variable_broadcast="params",
                       split_rngs={"params": False}, in_axes=0, out_axes=0)
        hidden, features = scan(hidden_size=self.hidden_size)(hidden, (x, reset))
        logits, value = Heads(self.num_actions, self.non_linearity)(features)
        return hidden, logits, value

    def initial_hidden(self, num_envs: int) -> jax.Array:
        """Zero recurrent state ``[N, H]`` float32."""
        return jnp.zeros((num_envs, self.hidden_size), jnp.float32)


class ConvActorCritic(nn.Module):
    """Feed-forward actor-critic on image observations ``[..., H, W, C]`` (MinAtar).

    Source: Young & Tian 2019, "MinAtar" (sec. 4): one 3x3 convolution with 16 filters,
    stride 1, ReLU, then a fully connected ReLU layer of 128 units, shared by the policy
    and value heads here.

    Attributes:
        num_actions: size A of the discrete action space.
        features: convolution filters.
        hidden_size: width of the fully connected layer.
    """

    num_actions: int
    features: int = 16
    hidden_size: int = 128
    recurrent: ClassVar[bool] = False

    @nn.compact
    def __call__(self, hidden, obs, reset):
        del reset  # no memory to reset
        lead = obs.shape[:-3]                                          # [T, N] or [B]
        x = obs.reshape(-1, *obs.shape[-3:]).astype(jnp.float32)       # [T*N, H, W, C]
        x = nn.relu(nn.Conv(self.features, (3, 3), padding="VALID")(x))
        x = x.reshape(*lead, -1)
        x = nn.relu(_dense(self.hidden_size, np.sqrt(2))(x))
        logits, value = Heads(self.num_actions)(x)
        return hidden, logits, value

    @staticmethod
    def initial_hidden(num_envs: int) -> jax.Array:
        """Dummy recurrent state ``[N, 1]`` float32 (keeps one calling convention)."""
        return jnp.zeros((num_envs, 1), jnp.float32)


_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": nn.tanh, "relu": nn.relu, "elu": nn.elu}


class GaussianActorCritic(nn.Module):
    """Feed-forward actor-critic for a continuous action space ``Box((A,))``.

    Separate actor and critic MLPs, each ending in a linear head: the actor gives the mean
    of a diagonal Gaussian, the critic the value. The standard deviation is, by
    ``log_std``:

    * ``"param"`` (default): a learned vector ``[A]`` shared by all states, initialised to
      ``log_std_init`` (CleanRL ``ppo_continuous_action.py``; Andrychowicz et al. 2021,
      "What matters in on-policy RL", C.3: state-independent std, initial std ~1 or less);
    * ``"head"``: a second linear head of the actor (state-dependent std);
    * ``"fixed"``: the constant ``log_std_init`` (rl_games' ``fixed_sigma``, e.g. -2.9 in
      the AMP humanoid configs).

    The mean is unbounded: PPO samples the Gaussian and hands the env the sample as it is
    (an env clips to its box: gymnax Pendulum clips the torque to +-2 in ``step``).

    Attributes:
        action_dim: A.
        hidden_sizes: widths of the hidden layers of each MLP.
        activation: ``tanh`` (default), ``relu`` or ``elu``.
        log_std: ``param``, ``head`` or ``fixed`` (see above).
        log_std_init: initial (or fixed) log standard deviation.
        non_linearity: value-head output activation.

    Returns (``__call__``): ``(hidden, (mean [..., A], log_std [..., A]), value [...])``.
    """

    action_dim: int
    hidden_sizes: Sequence[int] = (64, 64)
    activation: Literal["tanh", "relu", "elu"] = "tanh"
    log_std: Literal["param", "head", "fixed"] = "param"
    log_std_init: float = 0.0
    non_linearity: ValueActivation = "none"
    recurrent: ClassVar[bool] = False

    @nn.compact
    def __call__(self, hidden, obs, reset):
        del reset  # no memory to reset
        act = _ACTIVATIONS[self.activation]
        x_pi, x_v = obs, obs
        for width in self.hidden_sizes:
            x_pi = act(_dense(width, np.sqrt(2))(x_pi))
            x_v = act(_dense(width, np.sqrt(2))(x_v))
        mean = _dense(self.action_dim, 0.01)(x_pi)
        if self.log_std == "param":
            log_std = jnp.broadcast_to(LogStd(self.action_dim, self.log_std_init)(), mean.shape)
        elif self.log_std == "head":
            log_std = nn.Dense(self.action_dim, kernel_init=nn.initializers.orthogonal(0.01),
                               bias_init=nn.initializers.constant(self.log_std_init))(x_pi)
        else:
            log_std = jnp.full(mean.shape, self.log_std_init, mean.dtype)
        value = _dense(1, 1.0)(x_v)[..., 0]
        return hidden, (mean, log_std), value_activation(self.non_linearity)(value)

    def __post_init__(self):
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation: expected one of {sorted(_ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if self.log_std not in ("param", "head", "fixed"):
            raise ValueError(f"log_std: expected 'param', 'head' or 'fixed', got "
                             f"{self.log_std!r}")
        super().__post_init__()

    @staticmethod
    def initial_hidden(num_envs: int) -> jax.Array:
        """Dummy recurrent state ``[N, 1]`` float32 (keeps one calling convention)."""
        return jnp.zeros((num_envs, 1), jnp.float32)
