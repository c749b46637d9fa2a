"""Minimal reproduction of an XLA:CPU deadlock (jax/jaxlib 0.10.2), for an upstream report.

Runs ``jax.jit(jax.vmap(net.init))`` over two keys for a small flax actor-critic (two tanh
torsos 4 -> 64 -> 64, orthogonal init, heads of 2 and 1) in a fresh subprocess, with and without ``--xla_cpu_enable_concurrency_optimized_scheduler=false``,
each under a time limit. Measured here (2-core CPU, jax 0.10.2): the default hangs forever
at 0% CPU (all threads parked on futexes, main thread in ``block_until_ready``); with the
flag it finishes in ~2-8 s. Widths 16/32/48 do not hang; a single 64-wide torso did not
hang either.

    python benchmarks/repro_xla_cpu_hang.py [--timeout 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

PROGRAM = """
import jax, jax.numpy as jnp, numpy as np, flax.linen as nn
def dense(n, scale):
    return nn.Dense(n, kernel_init=nn.initializers.orthogonal(scale),
                    bias_init=nn.initializers.zeros)
class ActorCritic(nn.Module):  # two tanh torsos of 64 x 64, policy and value heads
    @nn.compact
    def __call__(self, obs):
        x_pi, x_v = obs, obs
        for _ in range(2):
            x_pi = nn.tanh(dense(64, np.sqrt(2))(x_pi))
            x_v = nn.tanh(dense(64, np.sqrt(2))(x_v))
        return dense(2, 0.01)(x_pi), dense(1, 1.0)(x_v)
keys = jax.random.split(jax.random.PRNGKey(0), 2)
params = jax.jit(jax.vmap(lambda k: ActorCritic().init(k, jnp.zeros((1, 16, 4)))))(keys)
jax.block_until_ready(params)
print("finished", jax.__version__)
"""


def attempt(xla_flags: str, timeout: float) -> str:
    env = {**os.environ, "XLA_FLAGS": xla_flags, "JAX_PLATFORMS": "cpu",
           "PURERL_KEEP_XLA_FLAGS": "1"}
    try:
        out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, timeout=timeout,
                             capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return f"HUNG (no result after {timeout:.0f} s)"
    return out.stdout.strip() or f"exit {out.returncode}: {out.stderr.strip()[-300:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    for flags in ("", "--xla_cpu_enable_concurrency_optimized_scheduler=false"):
        print(f"XLA_FLAGS={flags!r:60s} -> {attempt(flags, args.timeout)}", flush=True)


if __name__ == "__main__":
    main()
