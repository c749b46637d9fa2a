"""One sweep over several processes (hosts), on JAX's own multi-process runtime.

``run_sweep`` shards its run axis over ``jax.devices()``; after ``jax.distributed.initialize``
that list holds the devices of EVERY process, so the same code becomes one SPMD program over
a global ``Mesh``. This module holds the few host-side pieces that differ between one and
several processes, each a thin call into JAX (nothing home-made travels between processes):

- ``resolve`` / ``initialize``: the ``--coordinator_address``, ``--num_processes``,
  ``--process_id`` settings (or JAX's ``JAX_COORDINATOR_ADDRESS`` and its SLURM
  auto-detection), checked before anything compiles, then ``jax.distributed.initialize``
  with its timeouts (on CPU the collectives are gloo's).
- ``put``: a host value every process computed identically -> a global ``jax.Array``, each
  process feeding only its share (``jax.make_array_from_process_local_data``).
- ``to_host``: a global array -> numpy on every process (``process_allgather``, an XLA
  all-gather), so every process takes the same decisions (NaN check, early stop).
- ``is_writer``: process 0 alone writes the run directory's files; checkpoints and params go
  through orbax's multi-host path, which every process calls.
- ``peer_failed`` / ``hard_exit``: a process that stops on an error ends at once, skipping
  JAX's exit barrier (which waits for processes that are blocked in a collective with it),
  and a collective that failed because a peer died is told apart from this process's own
  errors, so that the CLIs print one line for it (``purerl.cli.common.run_cli``).

With one process every function is the single-process operation (``jax.device_put``,
``np.asarray``, ``True``), so single-process runs are unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import numpy as np

from purerl.common.argv import scan_flags

FLAGS = ("coordinator_address", "num_processes", "process_id", "distributed_timeout")
"""The command-line settings ``pop_flags`` takes (``--name VALUE`` or ``--name=VALUE``)."""
DEFAULT_TIMEOUT_S = 300
"""``jax.distributed.initialize``'s own default wait for every process to join."""
HEARTBEAT_MAX_S = 100
"""JAX's default: a process silent this long counts as dead (the others stop)."""
EXIT_NO_PEER = 2

HELP = f"""\
multi-host sweeps (JAX's distributed runtime; give the same flags on every host):
  --coordinator_address HOST:PORT  process 0's address, reachable from every host
                                   (default: $JAX_COORDINATOR_ADDRESS, or SLURM's)
  --num_processes N                processes in the job (default 1; SLURM: $SLURM_NTASKS)
  --process_id I                   this process, 0..N-1 (SLURM: $SLURM_PROCID)
  --distributed_timeout S          seconds to wait for every process to join and at the
                                   exit barrier, and after which a silent process counts
                                   as dead (default {DEFAULT_TIMEOUT_S}; heartbeats at most
                                   {HEARTBEAT_MAX_S})
"""


@dataclasses.dataclass(frozen=True)
class Spec:
    """A validated multi-process setting (``resolve``).

    Attributes:
        coordinator_address: ``HOST:PORT`` of process 0 (None: JAX's SLURM detection).
        num_processes: processes in the job (None: from SLURM).
        process_id: this process (None: from SLURM).
        timeout_s: seconds to wait for every process to join (and heartbeat bound).
        source: where the setting came from, for messages ("flags", "env", "slurm").
    """

    coordinator_address: str | None
    num_processes: int | None
    process_id: int | None
    timeout_s: int = DEFAULT_TIMEOUT_S
    source: str = "flags"

    @property
    def host_port(self) -> str:
        return self.coordinator_address or "the SLURM job's first node"


def pop_flags(argv: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Take the ``FLAGS`` out of ``argv``: ``(rest, {name: raw value})`` (scanned by
    ``purerl.common.argv.scan_flags``; a bare flag takes the next token unless it starts
    with ``--``).

    Raises:
        ValueError: a flag without a value.
    """
    rest, found = [], {}
    for item in scan_flags(argv, FLAGS, lambda name, nxt: not nxt.startswith("--")):
        if item.name is None:
            rest.extend(item.tokens)
            continue
        if item.value is None:
            raise ValueError(f"--{item.name}: expected a value, got none")
        found[item.name] = item.value
    return rest, found


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"--{name}: expected an integer, got {raw!r}") from None


def check_address(address: str, what: str = "--coordinator_address") -> str:
    """``address`` if it is ``HOST:PORT`` with a port in 1..65535.

    Raises:
        ValueError: naming the address and what was expected.
    """
    host, sep, port = address.rpartition(":")
    ok = bool(sep and host.strip("[]") and port.isdigit() and 0 < int(port) < 65536)
    if not ok:
        raise ValueError(f"{what}: expected HOST:PORT (port 1..65535), got {address!r}")
    return address


def _slurm_tasks(environ: Mapping[str, str]) -> int | None:
    """SLURM's task count when this is a SLURM job step JAX can read (None otherwise)."""
    needed = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
              "SLURM_LOCALID")             # what jax._src.clusters.SlurmCluster reads
    if not all(k in environ for k in needed):
        return None
    try:
        return int(environ["SLURM_NTASKS"])
    except ValueError:
        return None


def resolve(raw: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Spec | None:
    """The multi-process setting of a command line, or None for one process.

    Several processes when ``--num_processes`` > 1, ``--coordinator_address`` or
    ``$JAX_COORDINATOR_ADDRESS`` is given, or inside a SLURM job step of more than one task
    (``srun``; JAX reads the address, count and id from SLURM). ``--num_processes 1``
    forces one process.

    Raises:
        ValueError: a bad value (one line naming it and what was expected), e.g. a
            ``--process_id`` outside ``0..N-1`` or a missing ``--process_id`` outside SLURM.
    """
    environ = os.environ if environ is None else environ
    timeout = _int("distributed_timeout", raw.get("distributed_timeout",
                                                  str(DEFAULT_TIMEOUT_S)))
    if timeout <= 0:
        raise ValueError(f"--distributed_timeout: expected seconds > 0, got {timeout}")
    num = _int("num_processes", raw["num_processes"]) if "num_processes" in raw else None
    pid = _int("process_id", raw["process_id"]) if "process_id" in raw else None
    address = raw.get("coordinator_address")
    source = "flags"
    if address is None and environ.get("JAX_COORDINATOR_ADDRESS"):
        address, source = environ["JAX_COORDINATOR_ADDRESS"], "env"
    if num is not None and num < 1:
        raise ValueError(f"--num_processes: expected an integer >= 1, got {num}")
    slurm = _slurm_tasks(environ)
    if num == 1 or (num is None and address is None and pid is None
                    and (slurm is None or slurm <= 1)):
        if pid not in (None, 0):
            raise ValueError(f"--process_id: expected 0 with one process, got {pid}")
        return None                                       # one process: nothing to start
    if address is not None:
        check_address(address, "--coordinator_address" if source == "flags"
                      else "JAX_COORDINATOR_ADDRESS")
    if slurm is None or slurm <= 1:
        missing = [f"--{n}" for n, v in (("coordinator_address", address),
                                         ("num_processes", num), ("process_id", pid))
                   if v is None]
        if missing:
            raise ValueError(f"{', '.join(missing)}: expected with a multi-process run "
                             "(every host: the same --coordinator_address and "
                             "--num_processes, its own --process_id), got none")
    else:
        source = "slurm" if address is None else source
        num = slurm if num is None else num
    if pid is not None and num is not None and not 0 <= pid < num:
        raise ValueError(f"--process_id: expected 0..{num - 1} with --num_processes {num}, "
                         f"got {pid}")
    return Spec(address, num, pid, timeout, source)


def initialize(spec: Spec, prog: str = "purerl") -> None:
    """Join the job: ``jax.distributed.initialize`` with ``spec``'s timeouts.

    Call before any JAX computation. On CPU the cross-process collectives are gloo's
    (``jax_cpu_collectives_implementation``). JAX aborts the process with a multi-line
    fatal log when a peer does not join in time; a watchdog prints one line first
    (``<prog>: error: ...``, naming the coordinator's host and port) and exits with
    status 2.
    """
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    me = "" if spec.process_id is None else f" (this is process {spec.process_id} of " \
        f"{spec.num_processes})"

    def give_up():
        print(f"{prog}: error: not every process joined the JAX coordinator at "
              f"{spec.host_port} within {spec.timeout_s} s{me}; start the same command on "
              "every host with its own --process_id, check that HOST:PORT is reachable, or "
              "raise --distributed_timeout", file=sys.stderr, flush=True)
        os._exit(EXIT_NO_PEER)

    watchdog = threading.Timer(spec.timeout_s, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        # JAX's own deadline a little later than the watchdog's, as a backstop.
        # The shutdown barrier (at exit, every process waits for all) gets the same bound:
        # JAX's default of 300 s would hold a finished process that long for a dead one.
        jax.distributed.initialize(spec.coordinator_address, spec.num_processes,
                                   spec.process_id, initialization_timeout=spec.timeout_s + 10,
                                   heartbeat_timeout_seconds=min(spec.timeout_s,
                                                                 HEARTBEAT_MAX_S),
                                   shutdown_timeout_seconds=spec.timeout_s)
    finally:
        watchdog.cancel()


PEER_FAILURE_MARKERS = ("gloo", "connection reset", "connection refused", "broken pipe",
                        "heartbeat", "unavailable:", "deadline_exceeded", "barrier",
                        "coordination service", "socket closed")
"""Lower-case pieces of the messages of a collective or barrier that failed because
another process died or cannot be reached (gloo's transport, JAX's coordination service)."""


def joined() -> bool:
    """Whether this process joined a multi-process job (``initialize`` ran)."""
    if "jax" not in sys.modules:
        return False
    from jax._src import distributed as jax_distributed

    return jax_distributed.global_state.client is not None


def peer_failed(err: BaseException) -> bool:
    """Whether ``err`` is a collective or barrier that failed because ANOTHER process of
    the job died or became unreachable, as opposed to this process's own problem.

    JAX raises these with several types (a gloo all-gather inside a jitted call surfaces
    as ``ValueError``, a barrier as ``JaxRuntimeError``), so the test is the message of
    ``err`` or of an exception it was raised from: gloo's transport or JAX's coordination
    service (``PEER_FAILURE_MARKERS``). Always False outside a multi-process job.
    """
    if not joined():
        return False
    seen = 0
    while err is not None and seen < 8:
        text = str(err).lower()
        if any(marker in text for marker in PEER_FAILURE_MARKERS):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def hard_exit(code: int) -> NoReturn:
    """End this process now with ``code``, skipping JAX's shutdown barrier.

    A process of a multi-process job that stops on an error must not wait there: the
    others, blocked in a collective with it, never arrive (they fail at once when its
    connections close, and end the same way).
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# ------------------------------------------------------------------ inside a program


def process_count() -> int:
    import jax

    return jax.process_count()


def is_writer() -> bool:
    """Whether this process writes the run directory's files (process 0; True alone)."""
    import jax

    return jax.process_index() == 0


def put(tree: Any, sharding: Any) -> Any:
    """Place a host pytree that every process holds identically as global arrays.

    One process: ``jax.device_put(tree, sharding)``. Several: each process feeds its
    addressable rows of every leaf (``jax.make_array_from_process_local_data``); leaves that
    already are global arrays keep their values (resharded to ``sharding`` if needed).

    Args:
        tree: pytree of arrays with the GLOBAL shapes (e.g. ``[B, ...]``).
        sharding: one ``jax.sharding.Sharding`` for every leaf.
    """
    import jax

    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:     # already global
            if x.sharding.is_equivalent_to(sharding, x.ndim):
                return x
            return jax.device_put(x, sharding)
        x = np.asarray(x)
        index = sharding.addressable_devices_indices_map(x.shape)
        local = tuple(_span([idx[d] if d < len(idx) else slice(None) for idx in
                             index.values()], x.shape[d]) for d in range(x.ndim))
        return jax.make_array_from_process_local_data(sharding, x[local], x.shape)
    return jax.tree.map(one, tree)


def _span(slices: list[slice], size: int) -> slice:
    """The slice covering every slice in ``slices`` of an axis of ``size`` (contiguous)."""
    starts = [s.indices(size)[0] for s in slices]
    stops = [s.indices(size)[1] for s in slices]
    return slice(min(starts), max(stops))


def to_host(tree: Any) -> Any:
    """A pytree of (global) arrays as numpy, whole, on every process.

    One process: ``np.asarray`` of each leaf. Several: ``process_allgather`` (an XLA
    all-gather over the global mesh; every process must call it, in the same order).
    """
    import jax

    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree)
    from jax.experimental import multihost_utils

    return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


def barrier(name: str) -> None:
    """Wait until every process reaches ``barrier(name)`` (nothing with one process)."""
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def agree(text: str, max_bytes: int = 4096) -> str:
    """Process 0's ``text`` on every process (e.g. a run name made from the clock).

    Raises:
        ValueError: ``text`` longer than ``max_bytes`` in UTF-8.
    """
    import jax

    if jax.process_count() == 1:
        return text
    from jax.experimental import multihost_utils

    data = text.encode()
    if len(data) > max_bytes:
        raise ValueError(f"agree: expected at most {max_bytes} bytes, got {len(data)}")
    buf = np.zeros(max_bytes + 4, np.uint8)
    buf[:4] = np.frombuffer(np.uint32(len(data)).tobytes(), np.uint8)
    buf[4:4 + len(data)] = np.frombuffer(data, np.uint8)
    out = np.asarray(multihost_utils.broadcast_one_to_all(buf))
    size = int(np.frombuffer(out[:4].tobytes(), np.uint32)[0])
    return out[4:4 + size].tobytes().decode()
