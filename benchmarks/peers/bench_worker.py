"""What both sides of ``benchmarks/ppo_throughput.py`` share: the worker loop and the scorer.

Each library runs in its own long-lived process (purerl in purerl's virtual environment, with
purerl's XLA:CPU flag; rejax in ``benchmarks/.venv-peers``, without it), so both programs stay
compiled and resident while the parent interleaves timed calls. The parent writes one JSON
command per line on the worker's stdin and reads one JSON reply per line from its stdout:

* ``{"cmd": "info"}`` -> versions, ``XLA_FLAGS`` as the process saw it, device;
* ``{"cmd": "setup", "env": ..., "num_seeds": S, "updates": U, "hparams": {...}}`` ->
  build and compile ``U`` PPO updates for ``S`` vmapped seeds (``compile_s``);
* ``{"cmd": "rep"}`` -> one call of the compiled program, continuing the training state of
  the previous call (``wall_s``; ``cpu_s``: CPU seconds of this process, all threads);
* ``{"cmd": "score"}`` -> ``final_return`` of the current policies (see ``mean_return``);
* ``{"cmd": "quit"}``.

Anything a library prints goes to stderr: stdout carries only the replies.
This file must import nothing from purerl (the rejax side imports it too).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

EVAL_EPISODES = 128
"""Episodes per seed in ``mean_return`` (rejax's own ``evaluate`` default)."""


def mean_return(act: Callable, reset: Callable, step: Callable, key, max_steps: int):
    """Mean undiscounted return of ``EVAL_EPISODES`` episodes of one policy, sampled actions.

    Both sides score their final policies with this function, on the same env dynamics
    (CartPole-v1 of gymnax 1.0.1 and 0.0.9 differ only in how the time limit is reported;
    the bandit is purerl's own env on both sides), so the two returns mean the same thing.
    An episode ends at its first ``done`` (termination or the time limit) or after
    ``max_steps`` steps, whichever comes first.

    Args:
        act: ``act(obs [E, obs_dim], key) -> action [E]``, sampling from the policy.
        reset: ``reset(key) -> (obs, state)`` of ONE env without auto-reset.
        step: ``step(key, state, action) -> (obs, state, reward, done)`` of one env.
        key: PRNG key.
        max_steps: step budget per episode (>= the env's time limit).

    Returns:
        float32 scalar: mean over the ``EVAL_EPISODES`` episodes.
    """
    import jax
    import jax.numpy as jnp

    key_reset, key_run = jax.random.split(key)
    obs, state = jax.vmap(reset)(jax.random.split(key_reset, EVAL_EPISODES))

    def body(carry, key_t):
        obs, state, total, alive = carry
        key_act, key_step = jax.random.split(key_t)
        action = act(obs, key_act)
        obs, state, reward, done = jax.vmap(step)(
            jax.random.split(key_step, EVAL_EPISODES), state, action)
        total = total + jnp.where(alive, reward, 0.0)
        return (obs, state, total, alive & ~done), None

    init = (obs, state, jnp.zeros(EVAL_EPISODES), jnp.ones(EVAL_EPISODES, bool))
    (_, _, total, _), _ = jax.lax.scan(body, init, jax.random.split(key_run, max_steps))
    return total.mean()


def serve(side: Any) -> None:
    """Answer the parent's commands until ``quit``; ``side`` has ``info``, ``setup``,
    ``rep`` and ``score`` methods returning JSON-able dicts."""
    replies = sys.stdout
    sys.stdout = sys.stderr  # library prints must not corrupt the reply channel
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg.pop("cmd")
        if cmd == "quit":
            break
        try:
            if cmd == "rep":
                cpu0, t0 = time.process_time(), time.perf_counter()
                side.rep()
                reply = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0}
            else:
                reply = getattr(side, cmd)(**msg)
        except Exception:  # noqa: BLE001  (the parent reports it)
            reply = {"error": traceback.format_exc()[-3000:]}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
