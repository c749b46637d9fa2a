"""Classical meta-RL baselines (RL^2 Tables 1 and 2) in the ``evaluate.Policy`` interface.

* ``bandits``: random, greedy, epsilon-greedy, UCB1, Thompson sampling, Gittins index.
* ``gittins``: Gittins index tables of Beta-Bernoulli arms, computed by calibration.
* ``mdps``: random, greedy, epsilon-greedy, PSRL, the task-aware value-iteration optimum.

Each policy sees only the trial observation of ``envs_jax.meta.TrialWrapper`` and keeps its
statistics in ``hidden``, so ``purerl.common.evaluate.evaluate_trials`` scores it on the same
held-out tasks as the agents.
"""

from purerl.baselines import bandits, gittins, mdps

__all__ = ["bandits", "gittins", "mdps"]
