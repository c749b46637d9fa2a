"""Run artefacts: per-seed CSV and TensorBoard logs, a learning-curve PNG, summary.json.

Metrics arrive from the compiled train function as stacked arrays ``[S, U]`` (S seeds,
U updates) of sums and counts; everything here is host-side numpy after training.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import os
import platform
from typing import Any

import numpy as np

PACKAGES = ("purerl", "jax", "jaxlib", "flax", "optax", "chex", "gymnax", "distrax",
            "orbax-checkpoint", "tyro", "tensorboardX", "matplotlib", "numpy")


def episode_return_curve(metrics: dict) -> np.ndarray:
    """Mean return per finished episode, per update: ``[S, U]`` (NaN where none ended)."""
    count = np.asarray(metrics["episode_count"])
    total = np.asarray(metrics["episode_return_sum"])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def write_csv_and_tensorboard(run_dir: str, metrics: dict) -> list[str]:
    """Write ``metrics_seed<i>.csv`` and ``tb/seed_<i>/`` event files for every seed.

    Args:
        run_dir: the run directory.
        metrics: dict of ``[S, U]`` arrays; must contain ``episode_return_sum``,
            ``episode_count`` and ``env_steps``.

    Returns:
        The CSV paths written.
    """
    from tensorboardX import SummaryWriter

    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    returns = episode_return_curve(metrics)
    num_seeds, num_updates = returns.shape
    names = sorted(k for k in metrics if k not in ("episode_return_sum", "episode_count"))
    paths = []
    for s in range(num_seeds):
        path = os.path.join(run_dir, f"metrics_seed{s}.csv")
        writer = SummaryWriter(os.path.join(run_dir, "tb", f"seed_{s}"))
        with open(path, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["update", "episode_return_mean", *names])
            for u in range(num_updates):
                row = [metrics[k][s, u] for k in names]
                out.writerow([u + 1, returns[s, u], *row])
                step = int(metrics["env_steps"][s, u])
                if np.isfinite(returns[s, u]):
                    writer.add_scalar("charts/episode_return", returns[s, u], step)
                for k, v in zip(names, row):
                    writer.add_scalar(f"train/{k}", v, step)
        writer.close()
        paths.append(path)
    return paths


def plot_learning_curve(path: str, metrics: dict, title: str,
                        reference: dict[str, float] | None = None, smooth: int = 10) -> None:
    """Save a PNG of return per episode vs env steps: mean over seeds +- one std.

    Args:
        path: output PNG path.
        metrics: dict of ``[S, U]`` arrays (see ``episode_return_curve``).
        title: figure title.
        reference: horizontal lines to draw, e.g. ``{"random": 5.0, "optimum": 8.3}``.
        smooth: moving-average window in updates.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = episode_return_curve(metrics)
    if smooth > 1 and curve.shape[1] >= smooth:
        kernel = np.ones(smooth) / smooth
        curve = np.stack([np.convolve(np.nan_to_num(c, nan=np.nanmean(c)), kernel, "valid")
                          for c in curve])
    steps = np.asarray(metrics["env_steps"])[0, -curve.shape[1]:]
    mean, std = curve.mean(0), curve.std(0)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(steps, mean, label=f"purerl (mean of {curve.shape[0]} seeds)")
    ax.fill_between(steps, mean - std, mean + std, alpha=0.3, label="+- 1 std over seeds")
    for i, (name, value) in enumerate((reference or {}).items()):
        ax.axhline(value, ls="--", color=f"C{i + 1}", label=f"{name} ({value:.2f})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return per trial (training tasks)")
    ax.set_title(title)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine_description() -> dict[str, Any]:
    """Hardware the run used: platform, CPU count, JAX backend and devices."""
    import jax

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
    }


def write_json(path: str, obj: Any) -> None:
    """Write JSON atomically (temp file + rename), converting numpy scalars/arrays."""

    def default(x):
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
        raise TypeError(f"not JSON serialisable: {type(x).__name__}")

    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=default)
    os.replace(tmp, path)
