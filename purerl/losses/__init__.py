"""Losses shared by several agents (each tested once, in ``tests/losses``).

- ``snr``: the SNR spectral-norm regulariser (``snr_loss``, ``SNRKwargs``, ``init_state``).
- ``kernels``: closed-form infinite-width NNGP/NTK of ReLU MLPs.
- ``ntk_mlp``: the NTK-parameterised critic (``NTKDense``, ``NTKCritic``).
- ``spectral``: power iteration, Gelfand's spectral radius, differentiable eigenvalues.
- ``kmeans``: online k-means (state of ``svd_kamyar_v1_with_kmeans``).
"""

from purerl.losses.kernels import KernelPair, ReluMLPKernel
from purerl.losses.ntk_mlp import NTKCritic, NTKDense
from purerl.losses.snr import (
    LOSS_TYPES,
    SNR_MODES,
    SNRBatch,
    SNRKwargs,
    SNRMetrics,
    SNRState,
    feature_dim,
    init_state,
    last_layer_features,
    snr_loss,
)

__all__ = [
    "LOSS_TYPES", "SNR_MODES", "KernelPair", "NTKCritic", "NTKDense", "ReluMLPKernel",
    "SNRBatch", "SNRKwargs", "SNRMetrics", "SNRState", "feature_dim", "init_state",
    "last_layer_features", "snr_loss",
]
