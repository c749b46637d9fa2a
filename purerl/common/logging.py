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
import sys
import time
import warnings
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
                        reference: dict[str, float] | None = None, smooth: int = 10,
                        groups: dict[str, list[int]] | None = None,
                        ylabel: str = "return per trial (training tasks)") -> None:
    """Save a PNG of return per episode vs env steps: mean over runs +- one std.

    Args:
        path: output PNG path.
        metrics: dict of ``[B, U]`` arrays (see ``episode_return_curve``).
        title: figure title.
        reference: horizontal lines to draw, e.g. ``{"random": 5.0, "optimum": 8.3}``.
        smooth: moving-average window in updates.
        groups: one curve per entry, ``label -> run indices`` (e.g. one per grid point);
            default: one curve over all runs.
        ylabel: the y axis label.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = episode_return_curve(metrics)
    if smooth > 1 and curve.shape[1] >= smooth:
        kernel = np.ones(smooth) / smooth
        curve = np.stack([np.convolve(_fill_nan(c), kernel, "valid") for c in curve])
    steps = np.asarray(metrics["env_steps"])[0, -curve.shape[1]:]
    if groups is None:
        groups = {f"purerl (mean of {curve.shape[0]} seeds)": list(range(curve.shape[0]))}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, runs) in enumerate(groups.items()):
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # updates where no episode ended
            mean, std = np.nanmean(curve[runs], 0), np.nanstd(curve[runs], 0)
        ax.plot(steps, mean, color=f"C{i}", label=label)
        ax.fill_between(steps, mean - std, mean + std, color=f"C{i}", alpha=0.25)
    for j, (name, value) in enumerate((reference or {}).items()):
        ax.axhline(value, ls="--", color=f"C{len(groups) + j}", label=f"{name} ({value:.2f})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"{ylabel}; band: +- 1 std over seeds")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_metric_panels(path: str, metrics: dict, panels: dict[str, str], title: str,
                       references: dict[str, dict[str, float]] | None = None) -> list[str]:
    """Save a PNG with one panel per metric vs env steps: mean over seeds +- one std.

    Made for metrics logged at some updates only (evaluation columns are NaN between
    evaluations, ``experiment.NAN_BY_DESIGN``): each panel plots the updates where any
    seed has a finite value, with the mean and std over the finite seeds.

    Args:
        path: output PNG path.
        metrics: dict of ``[S, U]`` arrays with ``env_steps``; the key ``"episode_return"``
            means ``episode_return_curve(metrics)`` (needs ``episode_return_sum`` /
            ``episode_count``).
        panels: ``metric key -> y label``, in panel order; keys absent from ``metrics`` are
            skipped (and returned).
        title: figure title.
        references: ``metric key -> {label: value}`` horizontal lines per panel (e.g. the
            random policy's pose error, the demo's SPARC).

    Returns:
        The panel keys that were skipped because ``metrics`` lacks them.

    Raises:
        ValueError: no panel can be drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def curve(key):
        if key == "episode_return":
            ok = "episode_return_sum" in metrics and "episode_count" in metrics
            return episode_return_curve(metrics) if ok else None
        return np.asarray(metrics[key], np.float64) if key in metrics else None

    drawn = {k: c for k in panels if (c := curve(k)) is not None}
    skipped = [k for k in panels if k not in drawn]
    if not drawn:
        raise ValueError(f"plot_metric_panels: expected at least one of {list(panels)} in "
                         f"metrics, got keys {sorted(metrics)}")
    steps = np.asarray(metrics["env_steps"])[0]
    fig, axes = plt.subplots(len(drawn), 1, figsize=(7, 2.8 * len(drawn)), sharex=True,
                             squeeze=False)
    for ax, (key, c) in zip(axes[:, 0], drawn.items()):
        cols = np.isfinite(c).any(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, std = np.nanmean(c[:, cols], 0), np.nanstd(c[:, cols], 0)
        x = steps[-c.shape[1]:][cols]
        ax.plot(x, mean, color="C0", marker="o" if cols.sum() < 30 else None, ms=3,
                label=f"purerl (mean of {c.shape[0]} seeds)")
        ax.fill_between(x, mean - std, mean + std, color="C0", alpha=0.25)
        for j, (name, value) in enumerate((references or {}).get(key, {}).items()):
            ax.axhline(value, ls="--", color=f"C{j + 1}", label=f"{name} ({value:.3g})")
        ax.set_ylabel(panels[key])
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1, 0].set_xlabel("environment steps (band: +- 1 std over seeds)")
    axes[0, 0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return skipped


def _fill_nan(c: np.ndarray) -> np.ndarray:
    """NaN (no episode ended) -> the curve's mean, for smoothing (all NaN: unchanged)."""
    finite = np.isfinite(c)
    return np.where(finite, c, c[finite].mean()) if finite.any() else c


def format_duration(seconds: float) -> str:
    """``75.2 -> "1:15"``, ``3725 -> "1:02:05"``."""
    seconds = round(max(seconds, 0.0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_return(total: float, count: float) -> str:
    """Mean return of the episodes that ended, or ``n/a`` when none did (never 0.000)."""
    return f"{total / count:.3f}" if count > 0 else "n/a"


class Progress:
    """Progress lines of a training run, printed on the host between compiled segments.

    A visible compile phase (``compiling`` then ``compiled``, with its duration), then one
    line per segment: updates done, mean return of the episodes that ended in the
    segment (``n/a`` if none), entropy, the newest deterministic evaluation (``eval/return``)
    when the segment has one, env-steps/s over all runs, elapsed and ETA.

    Args:
        total_updates: updates per run in the whole run.
        steps_per_update: env steps one update takes summed over every run of the sweep.
        stream: where to print (default ``sys.stdout``).
    """

    def __init__(self, total_updates: int, steps_per_update: int, stream: Any = None):
        self.total_updates = total_updates
        self.steps_per_update = steps_per_update
        self.stream = stream
        self._t_compile = time.perf_counter()
        self._t_train: float | None = None
        self._first_done: int | None = None

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def compiling(self, what: str = "the training program") -> None:
        """Announce the compile phase (nothing else prints until it ends)."""
        self._t_compile = time.perf_counter()
        self._print(f"  compiling {what} ...")

    def compiled(self, seconds: float | None = None) -> None:
        """End of the compile phase, with its duration; training time starts now."""
        if seconds is None:
            seconds = time.perf_counter() - self._t_compile
        self._t_train = time.perf_counter()
        self._print(f"  compiled in {seconds:.1f} s; training")

    def segment(self, done: int, segment_metrics: dict) -> str:
        """Print (and return) the line for a segment ending at update ``done``."""
        now = time.perf_counter()
        seg = {k: np.asarray(v) for k, v in segment_metrics.items()}
        length = next(iter(seg.values())).shape[-1]
        if self._t_train is None:
            self._t_train = now
        if self._first_done is None:
            self._first_done = done - length          # updates restored from a checkpoint
        elapsed = now - self._t_train
        ran = done - self._first_done
        rate = ran * self.steps_per_update / elapsed if elapsed > 0 else float("nan")
        eta = (self.total_updates - done) * elapsed / ran if ran else float("nan")
        ret = format_return(float(seg["episode_return_sum"].sum()),
                            float(seg["episode_count"].sum()))
        parts = [f"  update {done:>{len(str(self.total_updates))}d}/{self.total_updates}",
                 f"return {ret}"]
        if "entropy" in seg:
            parts.append(f"entropy {float(seg['entropy'][..., -1].mean()):.3f}")
        evaluated = np.isfinite(seg.get("eval/return", np.full((1, 1), np.nan))).all(0)
        if evaluated.any():  # the segment's newest evaluation, mean over runs
            newest = seg["eval/return"][:, evaluated][:, -1]
            parts.append(f"eval {float(newest.mean()):.1f}")
        parts += [f"{rate:,.0f} env-steps/s", f"elapsed {format_duration(elapsed)}",
                  f"ETA {format_duration(eta) if np.isfinite(eta) else 'n/a'}"]
        line = "  ".join(parts)
        stream = self.stream or sys.stdout
        if getattr(stream, "isatty", lambda: False)():
            # A terminal gets a bar beside the line; logs and pipes get the plain line.
            from rich.console import Console
            from rich.progress_bar import ProgressBar

            console = Console(file=stream, highlight=False, soft_wrap=True)
            console.print(ProgressBar(total=self.total_updates, completed=done, width=24),
                          end=" ")
            console.print(" " + line.strip(), markup=False)
        else:
            self._print(line)
        return line


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
