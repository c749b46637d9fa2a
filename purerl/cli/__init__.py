"""Command-line front ends: seed-project flag names are parsed and translated here, once.

``ppo`` (``purerl-ppo``), ``rl2`` (``purerl-rl2``, ``purerl-evaluate``), ``offline``
(``purerl-offline``: CQL and the SNR actor-critic), with the gin-binding and absl-boolean
parsing of the offline seed in ``gin``. Algorithms (``purerl.algos``) never import this
package.
"""
