"""What both sides of ``benchmarks/ppo_throughput.py`` share: the worker loop and the scorer.

Each library runs in its own long-lived process (purerl in purerl's virtual environment, with
purerl's XLA:CPU flag; rejax in ``benchmarks/.venv-peers``, without it), so both programs stay
compiled and resident while the parent interleaves timed calls. The parent writes one JSON
command per line on the worker's stdin and reads one JSON reply per line from its stdout:

* ``{"cmd": "info"}`` -> versions, ``XLA_FLAGS`` as the process saw it, device;
* ``{"cmd": "setup", "env": ..., "num_seeds": S, "updates": U, "hparams": {...}}`` ->
  build and compile ``U`` PPO updates for ``S`` vmapped seeds (``compile_s``);
* ``{"cmd": "rep"}`` -> one call of the compiled program, continuing the training state of
  the previous call (``wall_s``; ``cpu_s``: CPU seconds of this process, all threads); a
  ``rep`` that returns a dict overrides or adds to these (e.g. Brax's own epoch timing);
* ``{"cmd": "score"}`` -> ``final_return``: each seed's current policy scored by
  ``envs_jax.policy.evaluate_episodes`` (``EVAL_EPISODES`` episodes, sampled actions),
  mean over seeds. Both sides use that one evaluator on the same dynamics (CartPole-v1 of
  gymnax 1.0.1 and 0.0.9 differ only in how the time limit is reported; the bandit is
  purerl's own env on both sides), so the two returns mean the same thing;
* ``{"cmd": "quit"}``.

Anything a library prints goes to stderr: stdout carries only the replies.
This file imports nothing from purerl: the rejax side imports it too.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any

EVAL_EPISODES = 128
"""Episodes per seed when a side scores its final policies (rejax's own ``evaluate`` uses
128 too), with ``envs_jax.policy.evaluate_episodes`` on both sides."""


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
                own = side.rep()
                reply = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0}
                # A side whose library times its own calls (Brax's trainers time each
                # training epoch apart from their evaluation) returns that time here.
                reply.update(own or {})
            else:
                reply = getattr(side, cmd)(**msg)
        except Exception:  # noqa: BLE001  (the parent reports it)
            reply = {"error": traceback.format_exc()[-3000:]}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
