"""XLA:CPU flags that envs_jax (and so purerl) sets before JAX starts its backend.

It lives in ``envs_jax``, the bottom layer, so that both packages apply it without
``envs_jax`` importing ``purerl``.

``--xla_cpu_enable_concurrency_optimized_scheduler=false``: with jax/jaxlib 0.10.2 the
XLA:CPU concurrency-optimized scheduler deadlocks some programs: every thread parks on a
futex and the main thread waits for a result forever at 0% CPU. It is deterministic for
a given program, e.g. ``jax.jit(jax.vmap(MLPActorCritic(2, (64, 64)).init))`` over two
keys (hidden 16, 32 and 48 run; see ``benchmarks/repro_xla_cpu_hang.py``), and it is what
made earlier RL^2 runs hang "intermittently". ``--xla_cpu_multi_thread_eigen=false`` and
disabling async dispatch do NOT avoid it; this flag does. It only changes the order in
which XLA:CPU schedules independent ops, never the numbers computed.

Set ``PURERL_KEEP_XLA_FLAGS=1`` to leave ``XLA_FLAGS`` untouched. The flags only take
effect if they are set before the first JAX computation (importing ``purerl`` or
``envs_jax`` first does that).
"""

from __future__ import annotations

import os

CPU_FLAGS = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",)


def apply() -> None:
    """Append ``CPU_FLAGS`` to ``XLA_FLAGS`` unless the user set those flags already."""
    if os.environ.get("PURERL_KEEP_XLA_FLAGS"):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    for flag in CPU_FLAGS:
        name = flag.split("=")[0]
        if name not in flags:
            flags = f"{flags} {flag}".strip()
    os.environ["XLA_FLAGS"] = flags
