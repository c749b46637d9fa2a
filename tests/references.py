"""Plain-numpy reference implementations shared by several test files."""

import numpy as np


def np_dtw(a: np.ndarray, b: np.ndarray) -> float:
    """Dynamic time warping distance as tslearn.metrics.dtw computes it, as a plain double
    loop: squared Euclidean local cost over flattened frames, square root of the total."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    acc = np.full((len(a) + 1, len(b) + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(len(a)):
        for j in range(len(b)):
            acc[i + 1, j + 1] = np.sum((a[i] - b[j]) ** 2) + min(acc[i, j + 1], acc[i + 1, j],
                                                                 acc[i, j])
    return float(np.sqrt(acc[-1, -1]))
