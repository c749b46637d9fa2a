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
    "tanh": nn.tanh, "relu": nn.relu, "elu": nn.elu, "selu": nn.selu, "sigmoid": nn.sigmoid,
    "swish": nn.swish, "gelu": nn.gelu, "softplus": nn.softplus, "none": lambda x: x}
"""Hidden-layer and head activations by name (rl_games' ``activations_factory`` names;
``none`` is the identity)."""

INITIALIZERS = ("orthogonal", "torch_default", "xavier_uniform", "xavier_normal",
                "kaiming_normal", "variance_scaling", "const", "zeros", "random_uniform")
"""Weight initialisers by name (biases always start at 0, as rl_games zeroes them)."""


def initializer(name: str, scale: float | None, default_scale: float) -> Callable:
    """A flax kernel initialiser by name; ``scale`` is its one parameter.

    ``orthogonal``: gain ``scale`` (default ``default_scale``, our PPO scheme: sqrt(2)
    hidden, 0.01 mean head, 1 value head); ``torch_default``: PyTorch's ``nn.Linear``
    default, U(+-1/sqrt(fan_in)) (rl_games ``default``); ``xavier_uniform`` /
    ``xavier_normal``: Glorot with gain ``scale`` (default 1); ``kaiming_normal``:
    N(0, 2 / fan_in) (torch's default arguments); ``variance_scaling``: N(0, scale / fan_in)
    (default 2, rl_games' ``variance_scaling_initializer``); ``const``: every weight
    ``scale`` (default 0); ``zeros``; ``random_uniform``: U(-scale, scale) (default 1).

    Raises:
        ValueError: an unknown ``name``.
    """
    init = nn.initializers
    if name == "orthogonal":
        return init.orthogonal(default_scale if scale is None else scale)
    if name == "torch_default":
        return init.variance_scaling(1.0 / 3.0, "fan_in", "uniform")
    if name in ("xavier_uniform", "xavier_normal"):
        gain = 1.0 if scale is None else scale
        return init.variance_scaling(gain ** 2, "fan_avg", name.split("_")[1])
    if name == "kaiming_normal":
        return init.variance_scaling(2.0, "fan_in", "normal")
    if name == "variance_scaling":
        return init.variance_scaling(2.0 if scale is None else scale, "fan_in", "normal")
    if name == "const":
        return init.constant(0.0 if scale is None else scale)
    if name == "zeros":
        return init.zeros
    if name == "random_uniform":
        bound = 1.0 if scale is None else scale
        return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
            key, shape, dtype, -bound, bound)
    raise ValueError(f"initializer: expected one of {', '.join(INITIALIZERS)}, got {name!r}")


class GaussianActorCritic(nn.Module):
    """Feed-forward actor-critic for a continuous action space ``Box((A,))``.

    Actor and critic MLPs (separate, or one shared torso with ``separate=False``), each
    ending in a linear head: the actor gives the mean of a diagonal Gaussian (through
    ``mu_activation``), the critic the value. The standard deviation is, by ``log_std``:

    * ``"param"`` (default): a learned vector ``[A]`` shared by all states, initialised to
      ``log_std_init`` (CleanRL ``ppo_continuous_action.py``; Andrychowicz et al. 2021,
      "What matters in on-policy RL", C.3: state-independent std, initial std ~1 or less;
      rl_games' ``fixed_sigma: True``, which is learned despite its name);
    * ``"head"``: a second linear head of the actor (state-dependent std; rl_games'
      ``fixed_sigma: False``), kernel orthogonal(0.01), bias ``log_std_init``;
    * ``"fixed"``: the constant ``log_std_init`` (IsaacGymEnvs AMP's ``learn_sigma:
      False``, e.g. -2.9 in the AMP humanoid configs).

    ``sigma_activation`` acts on that raw sigma output. It is a log std by default
    (rl_games model ``continuous_a2c_logstd``); with ``sigma_output="std"`` it is the std
    itself (model ``continuous_a2c``; use a positive activation such as softplus) and the
    net returns its log.

    The mean is not clipped: PPO samples the Gaussian and hands the env the sample as it
    is (an env clips to its box: gymnax Pendulum clips the torque to +-2 in ``step``).

    Attributes:
        action_dim: A.
        hidden_sizes: widths of the hidden layers of each MLP (rl_games ``mlp.units``).
        activation: hidden activation, a name of ``_ACTIVATIONS`` (default ``tanh``).
        log_std: ``param``, ``head`` or ``fixed`` (see above).
        log_std_init: initial (or fixed) log standard deviation (raw sigma value).
        non_linearity: value-head output activation.
        separate: separate actor and critic torsos (rl_games ``network.separate``).
        initializer, initializer_scale: hidden-layer and value-head kernel initialiser
            (``initializer``); ``orthogonal`` without a scale is our PPO scheme.
        mu_activation, sigma_activation: activations of the mean and sigma outputs.
        mu_init, mu_init_scale: kernel initialiser of the mean head.
        sigma_output: ``log_std`` or ``std``, what the sigma output means.

    Returns (``__call__``): ``(hidden, (mean [..., A], log_std [..., A]), value [...])``.

    Raises:
        ValueError: an unknown activation, initialiser, ``log_std`` or ``sigma_output``.
    """

    action_dim: int
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    log_std: Literal["param", "head", "fixed"] = "param"
    log_std_init: float = 0.0
    non_linearity: ValueActivation = "none"
    separate: bool = True
    initializer: str = "orthogonal"
    initializer_scale: float | None = None
    mu_activation: str = "none"
    sigma_activation: str = "none"
    mu_init: str = "orthogonal"
    mu_init_scale: float | None = None
    sigma_output: Literal["log_std", "std"] = "log_std"
    recurrent: ClassVar[bool] = False

    def _layer(self, features: int, default_scale: float, kind: str | None = None,
               scale: float | None = None) -> nn.Dense:
        kernel = initializer(kind or self.initializer,
                             self.initializer_scale if kind is None else scale, default_scale)
        return nn.Dense(features, kernel_init=kernel, bias_init=nn.initializers.zeros)

    @nn.compact
    def __call__(self, hidden, obs, reset):
        del reset  # no memory to reset
        act = _ACTIVATIONS[self.activation]
        x_pi, x_v = obs, obs
        for width in self.hidden_sizes:
            x_pi = act(self._layer(width, np.sqrt(2))(x_pi))
            if self.separate:
                x_v = act(self._layer(width, np.sqrt(2))(x_v))
        if not self.separate:
            x_v = x_pi
        mean = self._layer(self.action_dim, 0.01, self.mu_init, self.mu_init_scale)(x_pi)
        mean = _ACTIVATIONS[self.mu_activation](mean)
        if self.log_std == "param":
            sigma = jnp.broadcast_to(LogStd(self.action_dim, self.log_std_init)(), mean.shape)
        elif self.log_std == "head":
            sigma = nn.Dense(self.action_dim, kernel_init=nn.initializers.orthogonal(0.01),
                             bias_init=nn.initializers.constant(self.log_std_init))(x_pi)
        else:
            sigma = jnp.full(mean.shape, self.log_std_init, mean.dtype)
        sigma = _ACTIVATIONS[self.sigma_activation](sigma)
        log_std = jnp.log(sigma) if self.sigma_output == "std" else sigma
        value = self._layer(1, 1.0)(x_v)[..., 0]
        return hidden, (mean, log_std), value_activation(self.non_linearity)(value)

    def __post_init__(self):
        for field in ("activation", "mu_activation", "sigma_activation"):
            if getattr(self, field) not in _ACTIVATIONS:
                raise ValueError(f"{field}: expected one of {', '.join(_ACTIVATIONS)}, "
                                 f"got {getattr(self, field)!r}")
        for field in ("initializer", "mu_init"):
            if getattr(self, field) not in INITIALIZERS:
                raise ValueError(f"{field}: expected one of {', '.join(INITIALIZERS)}, "
                                 f"got {getattr(self, field)!r}")
        if self.log_std not in ("param", "head", "fixed"):
            raise ValueError(f"log_std: expected 'param', 'head' or 'fixed', got "
                             f"{self.log_std!r}")
        if self.sigma_output not in ("log_std", "std"):
            raise ValueError(f"sigma_output: expected 'log_std' or 'std', got "
                             f"{self.sigma_output!r}")
        super().__post_init__()

    @staticmethod
    def initial_hidden(num_envs: int) -> jax.Array:
        """Dummy recurrent state ``[N, 1]`` float32 (keeps one calling convention)."""
        return jnp.zeros((num_envs, 1), jnp.float32)


# ------------------------------------------------------------------ pixel encoder / decoder
# SAC+AE's (Yarats et al. 2019, arXiv 1910.01741; pytorch_sac_ae ``encoder.py``,
# ``decoder.py``, ``utils.weight_init``), images channels last ``[..., H, W, C]``.


def delta_orthogonal(scale: float = float(np.sqrt(2.0))) -> Callable:
    """Conv kernel init ``[kh, kw, in, out]``: zero except the centre tap, an orthogonal
    ``[in, out]`` matrix of gain ``scale`` (ReLU gain sqrt 2; pytorch_sac_ae ``weight_init``,
    after Xiao et al. 2018's delta-orthogonal init)."""

    def init(key, shape, dtype=jnp.float32):
        kh, kw, c_in, c_out = shape
        centre = nn.initializers.orthogonal(scale)(key, (c_in, c_out), dtype)
        return jnp.zeros(shape, dtype).at[kh // 2, kw // 2].set(centre)

    return init


def conv_output_side(image_size: int, num_layers: int) -> int:
    """Side of the conv trunk's output: 3x3 VALID convs, the first of stride 2
    (84 -> 41 -> 39 -> 37 -> 35 for 4 layers)."""
    return (image_size - 3) // 2 + 1 - 2 * (num_layers - 1)


class PixelConvs(nn.Module):
    """The shared conv trunk: ``obs [..., H, W, C]`` uint8 -> ``obs / 255`` -> ``num_layers``
    3x3 VALID convs of ``num_filters`` (stride 2, then 1) with ReLU -> ``[..., h, h, F]``."""

    num_layers: int = 4
    num_filters: int = 32

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        lead = obs.shape[:-3]
        x = obs.reshape(-1, *obs.shape[-3:]).astype(jnp.float32) / 255.0
        for i in range(self.num_layers):
            x = nn.relu(nn.Conv(self.num_filters, (3, 3), strides=2 if i == 0 else 1,
                                padding="VALID", kernel_init=delta_orthogonal(),
                                bias_init=nn.initializers.zeros)(x))
        return x.reshape(*lead, *x.shape[1:])


class EncoderHead(nn.Module):
    """``conv features [..., h, w, F]`` -> flatten -> Linear(feature_dim, orthogonal) ->
    LayerNorm (affine) -> tanh: ``[..., feature_dim]`` in (-1, 1)."""

    feature_dim: int = 50

    @nn.compact
    def __call__(self, conv: jax.Array) -> jax.Array:
        x = conv.reshape(*conv.shape[:-3], -1)
        x = nn.Dense(self.feature_dim, kernel_init=nn.initializers.orthogonal(),
                     bias_init=nn.initializers.zeros)(x)
        return jnp.tanh(nn.LayerNorm(epsilon=1e-5)(x))


class PixelDecoder(nn.Module):
    """``h [..., feature_dim]`` -> image ``[..., S, S, channels]`` (no output activation).

    Linear to ``F * h * h`` (h = ``conv_output_side``), ReLU, ``num_layers - 1`` 3x3
    stride-1 transposed convs with ReLU (h + 2 each), then a 3x3 stride-2 transposed conv to
    ``channels`` whose output padding (PyTorch's ``output_padding``: 1 for even S, 0 for odd)
    lands exactly on S (35 -> 37 -> 39 -> 41 -> 84 for 84x84, 4 layers).
    """

    image_size: int = 84
    channels: int = 9
    num_layers: int = 4
    num_filters: int = 32

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        side = conv_output_side(self.image_size, self.num_layers)
        lead = h.shape[:-1]
        x = nn.relu(nn.Dense(self.num_filters * side * side,
                             kernel_init=nn.initializers.orthogonal(),
                             bias_init=nn.initializers.zeros)(h.reshape(-1, h.shape[-1])))
        x = x.reshape(-1, side, side, self.num_filters)
        for _ in range(self.num_layers - 1):
            x = nn.relu(nn.ConvTranspose(self.num_filters, (3, 3), padding="VALID",
                                         kernel_init=delta_orthogonal(),
                                         bias_init=nn.initializers.zeros)(x))
        first = x.shape[1]                         # side after the first conv, e.g. 41
        # lax.conv_transpose pads the 2x-dilated input: (k - 1, k - 1 + output_padding).
        out_pad = self.image_size - (2 * (first - 1) + 3)
        x = nn.ConvTranspose(self.channels, (3, 3), strides=(2, 2),
                             padding=((2, 2 + out_pad), (2, 2 + out_pad)),
                             kernel_init=delta_orthogonal(),
                             bias_init=nn.initializers.zeros)(x)
        return x.reshape(*lead, *x.shape[1:])
