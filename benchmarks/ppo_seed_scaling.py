"""Why 64 vmapped PPO seeds cost ~50-75x one seed on a 2-core CPU: a FLOP budget.

Issue 6 asks for 64 vmapped seeds at <= 16x one seed's wall-clock. This script measures
what bounds that ratio on the machine it runs on:

1. the analytic FLOPs per env step of the benchmark's PPO problem (64x64 tanh actor and
   critic, 4 epochs; a backward pass costs ~2 forward passes), so measured env-steps/s
   become achieved GFLOP/s;
2. the throughput of the shape that dominates PPO's update, a seed-batched
   ``[S, 512, 64] x [S, 64, 64]`` matmul + tanh (512 = one minibatch), for S = 1, 8, 64;
3. the best possible 64-seed / 1-seed cost ratio if ALL work ran at (2)'s rates:
   ``64 * t(S=64 per seed) / t(S=1)``.

Vmapping seeds cannot merge their matmuls into one larger GEMM (each seed has its own
weights), so the per-seed matmul cost saturates once XLA's batched-matmul kernel is busy;
what vmapping buys is amortised per-op overhead, which is small once a minibatch has 512
rows. Usage::

    python benchmarks/ppo_seed_scaling.py [--out benchmarks/results/ppo_seed_scaling.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import purerl  # noqa: F401  (XLA:CPU workaround flags before JAX starts)

import jax
import jax.numpy as jnp

OBS, HIDDEN, ACTIONS = 4, 64, 2  # CartPole, the benchmark's nets
EPOCHS, MINIBATCH = 4, 512  # 16 envs x 128 steps / 4 minibatches


def mlp_flops(sizes: list[int]) -> int:
    """Multiply-adds x 2 of one forward pass of a dense MLP for one input row."""
    return sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:]))


def flops_per_env_step() -> dict:
    """Analytic FLOPs per environment step of the benchmark's PPO (matmuls only)."""
    fwd = mlp_flops([OBS, HIDDEN, HIDDEN, ACTIONS]) + mlp_flops([OBS, HIDDEN, HIDDEN, 1])
    # Acting: one forward of actor and critic. Update: EPOCHS x (forward + backward ~ 2x).
    return {"act": fwd, "update": EPOCHS * 3 * fwd, "total": fwd + EPOCHS * 3 * fwd}


def time_call(fn, *args, seconds: float = 1.5) -> float:
    """Median-free simple timing: mean seconds per call over ~``seconds`` of repeats."""
    jax.block_until_ready(fn(*args))
    start, reps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        jax.block_until_ready(fn(*args))
        reps += 1
    return (time.perf_counter() - start) / reps


def batched_matmul_rates(seeds: tuple[int, ...]) -> dict[int, float]:
    """Seconds per seed of one ``[512, 64] x [64, 64]`` matmul + tanh, seed-batched."""
    layer = jax.jit(jax.vmap(lambda x, w: jnp.tanh(x @ w)))
    out = {}
    for s in seeds:
        x = jnp.ones((s, MINIBATCH, HIDDEN))
        w = jnp.ones((s, HIDDEN, HIDDEN))
        out[s] = time_call(layer, x, w) / s
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                      "ppo_seed_scaling.md"))
    args = parser.parse_args()
    flops = flops_per_env_step()
    rates = batched_matmul_rates((1, 8, 64))
    layer_flops = 2 * MINIBATCH * HIDDEN * HIDDEN
    lines = [
        "# PPO seed scaling on this CPU: the FLOP budget",
        "",
        "Command: `python benchmarks/ppo_seed_scaling.py`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, jax {jax.__version__}, "
        f"load average before: {os.getloadavg()[0]:.2f}",
        "",
        f"Analytic matmul FLOPs per env step (64x64 tanh actor+critic, {EPOCHS} epochs): "
        f"acting {flops['act']:,}, update {flops['update']:,}, total {flops['total']:,}. "
        "At 100k env-steps/s (purerl, 1 seed, CartPole) that is "
        f"{flops['total'] * 1e5 / 1e9:.0f} GFLOP/s of matmul work.",
        "",
        "| seeds S | one [S,512,64]x[S,64,64] matmul+tanh: us per seed | GFLOP/s |",
        "|---|---|---|",
    ]
    for s, t in rates.items():
        lines.append(f"| {s} | {t * 1e6:.1f} | {layer_flops / t / 1e9:.1f} |")
    best = 64 * rates[64] / rates[1]
    lines += [
        "",
        f"Best possible 64-seed / 1-seed wall-clock if every op scaled like this matmul: "
        f"**{best:.0f}x** (issue 6 target: <= 16x). Each seed has its own weights, so "
        "vmapping gives a batched matmul, not a bigger GEMM: per-seed cost stops falling "
        "once the kernel saturates the two cores.",
    ]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
