"""The SNR actor-critic: a near-vanilla offline actor-critic with the SNR loss on top.

Source: the seed's ``jrl/agents/snr`` (Ghasemipour et al. 2022, MSG research code), exact
semantics in the project's ``specs/offline_rl.md``:

- critic: ``NTKCritic`` (3 x [Dense 256, relu] + Dense 1 in NTK parameterisation,
  ``W_std=1``, ``b_std=0.05``, params ~ N(0, 1)); loss ``0.5 * mean((Q(s, a) - y)^2)``;
  NO target network (``tau`` is accepted but unused, as in the original: the online critic
  before the step gives ``y``);
- actor: tanh-Gaussian, BC for ``num_bc_iters`` true steps, then ``alpha log pi - min Q``,
  adaptive entropy temperature;
- SNR loss (``purerl.losses.snr``) scaled by ``snr_alpha`` added to the actor
  (``snr_applied_to="policy"``) or critic loss, only after the BC phase unless
  ``use_snr_in_bc_iters``.

Entry points: ``SNRConfig`` (the seed's ``snr.config.SNRConfig``),
``SNRConfig.learner_config(per_step_batch_size)``; the CLI is ``purerl-offline --algorithm snr``
(``purerl.cli.offline``; the seed's gin names are mapped in ``purerl.cli.gin``).
"""

from __future__ import annotations

import dataclasses

from purerl.algos.offline_common import LearnerConfig
from purerl.config import require
from purerl.losses.snr import SNRKwargs


@dataclasses.dataclass(frozen=True)
class SNRConfig:
    """The seed's ``snr.config.SNRConfig``: names and defaults as there (spec).

    As in the seed, the default ``snr_kwargs`` (``SNRKwargs()``: ntk with the log-space
    matrix) is not a runnable combination: bind the ``snr.config.SNRKwargs`` fields as the
    README does (``learner_config`` says which option clashes).
    """

    policy_lr: float = 3e-5
    """Actor Adam step size."""
    q_lr: float = 3e-4
    """Critic Adam step size."""
    alpha_lr: float = 3e-4
    """Entropy-temperature Adam step size."""
    discount: float = 0.99
    """gamma."""
    num_bc_iters: int = 50_000
    """True SGD steps of behaviour cloning (no K scaling)."""
    actor_network_hidden_sizes: tuple[int, ...] = (256, 256, 256)
    """Actor MLP widths."""
    critic_network_hidden_sizes: tuple[int, ...] = (256, 256, 256)
    """NTK critic widths."""
    num_critics: int = 1
    """Critic ensemble size (the SNR loss is averaged over the critics)."""
    tau: float = 0.005
    """Accepted for compatibility and unused, as in the original (no target network)."""
    use_snr_in_bc_iters: bool = False
    """Also apply the SNR loss during the BC phase."""
    snr_applied_to: str = "policy"
    """Where the SNR loss goes: ``policy`` or ``critic``."""
    snr_alpha: float = 1.0
    """Weight of the SNR loss (README run: 10)."""
    snr_kwargs: SNRKwargs = dataclasses.field(default_factory=SNRKwargs)
    """SNR loss options (``snr.config.SNRKwargs`` bindings)."""
    eval_with_q_filter: bool = False
    """Also evaluate the Q-filter policies."""
    num_eval_samples: int = 10
    """Candidate actions per state of the Q-filter."""
    num_sgd_steps_per_step: int = 1
    """K SGD steps per compiled call; the run's batch_size must be K x per-step batch."""
    target_entropy: float | None = None
    """Entropy target of the temperature (None: -action_dim)."""

    def learner_config(self, per_step_batch_size: int) -> LearnerConfig:
        """Translate into the shared learner's options (validates every field).

        Raises:
            ValueError: a field out of range, or SNR options that do not combine.
        """
        require(isinstance(self.tau, (int, float)) and 0.0 < self.tau <= 1.0, "tau",
                "a number in (0, 1]", self.tau)
        return LearnerConfig(
            policy_lr=self.policy_lr, q_lr=self.q_lr, alpha_lr=self.alpha_lr,
            discount=self.discount, num_bc_iters=self.num_bc_iters,
            actor_hidden_sizes=tuple(self.actor_network_hidden_sizes),
            critic_hidden_sizes=tuple(self.critic_network_hidden_sizes),
            num_critics=self.num_critics, critic_type="ntk", q_loss_scale="half",
            cql_alpha=0.0, tau=None, snr_alpha=self.snr_alpha,
            snr_applied_to=self.snr_applied_to, use_snr_in_bc_iters=self.use_snr_in_bc_iters,
            snr_kwargs=self.snr_kwargs, num_sgd_steps_per_step=self.num_sgd_steps_per_step,
            per_step_batch_size=per_step_batch_size, target_entropy=self.target_entropy,
            eval_with_q_filter=self.eval_with_q_filter, num_eval_samples=self.num_eval_samples)
