"""CQL (conservative Q-learning), the MSG research code's variant, on the shared learner.

Source: Kumar et al. 2020, "Conservative Q-Learning for Offline RL" (CQL(H), eq. 4) as
implemented by the seed (``jrl/agents/cql``, used in Ghasemipour et al. 2022, MSG); exact
semantics in the project's ``specs/offline_rl.md``:

- critic loss ``C * mean_{i,b}(Q_i(s, a) - y)^2 + cql_alpha * cql_term`` with
  ``cql_term = mean(logsumexp_2N([Q(s, a_pi) - log pi, Q(s, a_unif) + A log 2]) - Q(s, a))``
  (``purerl.algos.offline_common.conservative_term``), Polyak targets with ``tau``;
- BC for ``num_bc_iters`` true SGD steps, then ``alpha log pi - min_i Q_i``;
- optional SNR term (``snr_alpha > 0``) on the actor (or the critic).

The seed notes it reproduces CQL on D4RL gym but not on AntMaze.

Entry points: ``CQLConfig`` (the seed's ``cql.config.CQLConfig`` fields and defaults),
``CQLConfig.learner_config(per_step_batch_size)``; the CLI is ``purerl-offline --algorithm cql``
(``purerl.cli.offline``; the seed's gin names are mapped in ``purerl.cli.gin``).
"""

from __future__ import annotations

import dataclasses

from purerl.algos.offline_common import LearnerConfig
from purerl.config import require
from purerl.losses.snr import SNRKwargs


@dataclasses.dataclass(frozen=True)
class CQLConfig:
    """The seed's ``cql.config.CQLConfig``: names and defaults as there (spec).

    Checked on construction (through ``learner_config``); gin bindings set these fields.
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
    """True SGD steps of behaviour cloning before the actor maximises Q (no K scaling)."""
    cql_alpha: float = 5.0
    """Weight of the conservative term (README antmaze run: 0.05)."""
    num_importance_acts: int = 10
    """N policy actions and N uniform actions per state in the conservative term."""
    actor_network_hidden_sizes: tuple[int, ...] = (256, 256)
    """Actor MLP widths."""
    critic_network_hidden_sizes: tuple[int, ...] = (256, 256, 256)
    """Critic MLP widths."""
    num_critics: int = 2
    """Critic ensemble size (min over critics)."""
    tau: float = 0.005
    """Polyak rate of the target critics."""
    eval_with_q_filter: bool = False
    """Also evaluate the Q-filter policies (with and without uniform candidates)."""
    num_eval_samples: int = 10
    """Candidate actions per state of the Q-filter."""
    snr_alpha: float = 0.0
    """Weight of the optional SNR loss (0: off)."""
    snr_applied_to: str = "policy"
    """Where the SNR loss goes: ``policy`` or ``critic``."""
    use_snr_in_bc_iters: bool = False
    """Also apply the SNR loss during the BC phase."""
    snr_kwargs: SNRKwargs = dataclasses.field(default_factory=SNRKwargs)
    """SNR loss options (``snr.config.SNRKwargs`` bindings)."""
    num_sgd_steps_per_step: int = 1
    """K SGD steps per compiled call; the run's batch_size must be K x per-step batch."""
    target_entropy: float | None = None
    """Entropy target of the temperature (None: -action_dim)."""

    def learner_config(self, per_step_batch_size: int) -> LearnerConfig:
        """Translate into the shared learner's options (validates every field).

        Raises:
            ValueError: a field out of range (names it, the expected and the value).
        """
        require(isinstance(self.tau, (int, float)) and 0.0 < self.tau <= 1.0, "tau",
                "a number in (0, 1]", self.tau)
        return LearnerConfig(
            policy_lr=self.policy_lr, q_lr=self.q_lr, alpha_lr=self.alpha_lr,
            discount=self.discount, num_bc_iters=self.num_bc_iters,
            actor_hidden_sizes=tuple(self.actor_network_hidden_sizes),
            critic_hidden_sizes=tuple(self.critic_network_hidden_sizes),
            num_critics=self.num_critics, critic_type="mlp", q_loss_scale="num_critics",
            cql_alpha=self.cql_alpha, num_importance_acts=self.num_importance_acts,
            tau=self.tau, snr_alpha=self.snr_alpha, snr_applied_to=self.snr_applied_to,
            use_snr_in_bc_iters=self.use_snr_in_bc_iters, snr_kwargs=self.snr_kwargs,
            num_sgd_steps_per_step=self.num_sgd_steps_per_step,
            per_step_batch_size=per_step_batch_size, target_entropy=self.target_entropy,
            eval_with_q_filter=self.eval_with_q_filter, num_eval_samples=self.num_eval_samples)
