"""A sweep over 2 processes on 127.0.0.1 (JAX's distributed runtime, gloo collectives on CPU,
one CPU device each) gives exactly the single-process results, survives a kill, and a peer
that never comes up ends the job with one line.

Every process is the real command line (``python -m purerl.cli.ppo`` / ``purerl.cli.offline``
with ``--coordinator_address 127.0.0.1:PORT --num_processes 2 --process_id I``), so the
path under test is the user's: ``run_cli`` joins the job, ``run_sweep`` shards the run axis
over the 2 global devices, process 0 writes the run directory, orbax writes the checkpoints
from both. Ports are picked free (bind port 0), every process runs under a hard deadline and
is killed when a test ends, whatever happened.

"Single-process" is one process with 2 CPU devices: the same SPMD program with the same
per-device shapes, which is what makes a bitwise comparison meaningful. One device vmaps
both runs in one batch of 2, whose XLA:CPU code differs in float rounding (measured here:
max abs param difference 6e-8; tests/algos/test_ppo_sweep.py checks that case to 2e-5).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from jax.sharding import SingleDeviceSharding

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEADLINE_S = 240
"""Hard bound on any one job (all its processes); a test fails, never hangs, past it."""
JOIN_TIMEOUT_S = 30
"""``--distributed_timeout`` of the jobs: joining, heartbeats and the exit barrier."""

PPO = ["--num_envs=4", "--num_steps=8", "--num_updates=12", "--num_minibatches=2",
       "--update_epochs=1", "--hidden_size=8", "--checkpoint_every=3", "--log_every=3",
       "--num_seeds=2"]
"""2 seeds (one per process) x 12 updates in 4 checkpointed segments."""
CQL_GIN = ["--gin_bindings=cql.config.CQLConfig.num_sgd_steps_per_step=2",
           "--gin_bindings=cql.config.CQLConfig.actor_network_hidden_sizes=(8,)",
           "--gin_bindings=cql.config.CQLConfig.critic_network_hidden_sizes=(8,)",
           "--gin_bindings=cql.config.CQLConfig.num_bc_iters=4"]
ENV_KWARGS = '{"obs_dim": 2, "action_dim": 1, "horizon": 3}'


# ------------------------------------------------------------------------------ helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(devices: int) -> dict:
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    return {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1",
            "XLA_FLAGS": " ".join([*flags, f"--xla_force_host_platform_device_count={devices}"])}


class Job:
    """Processes started together, each logging to a file; all are killed on ``close``."""

    def __init__(self, logs_dir):
        self.logs_dir, self.procs, self.logs = str(logs_dir), [], []

    def start(self, name: str, module: str, argv: list[str], devices: int = 1):
        log = os.path.join(self.logs_dir, f"{name}.log")
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", module, *argv], cwd=REPO,
                                    env=child_env(devices), stdout=out,
                                    stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def start_hosts(self, name: str, module: str, argv: list[str], n: int = 2,
                    port: int | None = None) -> list:
        """``n`` processes of one job on 127.0.0.1:``port`` (a free one by default)."""
        port = port or free_port()
        return [self.start(f"{name}-p{i}", module, [
            *argv, "--coordinator_address", f"127.0.0.1:{port}", "--num_processes", str(n),
            "--process_id", str(i), "--distributed_timeout", str(JOIN_TIMEOUT_S)])
            for i in range(n)]

    def tail(self, proc, chars: int = 3000) -> str:
        with open(self.logs[self.procs.index(proc)]) as f:
            return f.read()[-chars:]

    def wait(self, procs=None, deadline_s: float = DEADLINE_S) -> list[int]:
        """Return codes of ``procs`` (default all), each killed past the deadline."""
        end = time.monotonic() + deadline_s
        codes = []
        for proc in procs or self.procs:
            try:
                codes.append(proc.wait(timeout=max(end - time.monotonic(), 0.1)))
            except subprocess.TimeoutExpired:
                self.close()
                pytest.fail(f"process still running after {deadline_s} s:\n{self.tail(proc)}")
        return codes

    def wait_ok(self, procs=None):
        for proc, code in zip(procs or self.procs, self.wait(procs)):
            assert code == 0, self.tail(proc)

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


@pytest.fixture
def job(tmp_path):
    j = Job(tmp_path)
    try:
        yield j
    finally:
        j.close()


@pytest.fixture(scope="module")
def module_job(tmp_path_factory):
    j = Job(tmp_path_factory.mktemp("logs"))
    try:
        yield j
    finally:
        j.close()


def saved_leaves(path: str) -> list[np.ndarray]:
    """The arrays of an orbax save (params), restored onto this process's one device
    (a multi-process save names devices this process does not have)."""
    path = os.path.abspath(path)
    checkpointer = ocp.StandardCheckpointer()
    meta = checkpointer.metadata(path)
    meta = getattr(meta, "item_metadata", meta)
    device = SingleDeviceSharding(jax.devices()[0])
    target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                          meta)
    return [np.asarray(x) for x in jax.tree.leaves(checkpointer.restore(path, target))]


def assert_bitwise(a: list, b: list):
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert x.shape == y.shape and x.dtype == y.dtype
        assert np.array_equal(x, y), float(np.abs(x - y).max())


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


# ----------------------------------------------------------------------------------- PPO


@pytest.fixture(scope="module")
def ppo_job(module_job, tmp_path_factory):
    """The same PPO seed sweep as one process (2 devices) and, started beside it, as a
    2-process job whose process 1 is SIGKILLed once the first checkpoint (update 3 of 12)
    and its CSV rows are on disk; once process 0 has stopped by itself, both are started again with
    ``--resume``. Returns what the tests look at."""
    runs = str(tmp_path_factory.mktemp("runs"))
    common = [*PPO, f"--runs_dir={runs}"]
    one = module_job.start("ppo-one", "purerl.cli.ppo", [*common, "--out_file=one"], devices=2)
    p0, p1 = module_job.start_hosts("ppo-killed", "purerl.cli.ppo",
                                    [*common, "--out_file=two"])
    run = os.path.join(runs, "two")
    # The CSV is written after the checkpoint of update 3 is complete (both processes past
    # orbax's save barriers), so the kill lands in segment 2: the survivor's next
    # all-gather of metrics fails at once.
    csv = os.path.join(run, "metrics_seed0.csv")
    end = time.monotonic() + DEADLINE_S
    while not os.path.exists(csv) and p1.poll() is None and time.monotonic() < end:
        time.sleep(0.01)
    assert p1.poll() is None, f"process 1 ended before the kill:\n{module_job.tail(p1)}"
    p1.send_signal(signal.SIGKILL)
    t_kill = time.monotonic()
    code, = module_job.wait([p0], deadline_s=JOIN_TIMEOUT_S + 30)
    survivor = {"code": code, "log": module_job.tail(p0),
                "stopped_after_s": time.monotonic() - t_kill,
                "steps": sorted(int(s) for s in os.listdir(os.path.join(run, "checkpoints"))
                                if s.isdigit()),
                "summary_written": os.path.exists(os.path.join(run, "summary.json"))}
    # Restart both (a new job, a new port) with --resume: every flag from config.json.
    module_job.wait_ok(module_job.start_hosts("ppo-resumed", "purerl.cli.ppo",
                                              ["--resume", run]))
    module_job.wait_ok([one])
    return {"one": os.path.join(runs, "one"), "two": run, "survivor": survivor}


def test_ppo_kill_of_one_process_stops_the_other_with_one_line(ppo_job):
    survivor, run = ppo_job["survivor"], ppo_job["two"]
    log = survivor["log"]
    assert survivor["code"] == 2, log
    ours = [line for line in log.splitlines() if line.startswith("purerl-ppo: error:")]
    assert len(ours) == 1 and "Traceback" not in log, log
    assert ours[0].startswith("purerl-ppo: error: another process of the job stopped"), log
    assert ours[0].endswith(f"--resume {run} on every host (with the same multi-host "
                            "flags)"), log
    # At once when the kill lands in a collective (gloo's connection closes); at the latest
    # after JAX's heartbeat timeout (min(--distributed_timeout, 100) s) when the survivor
    # waits in a checkpoint barrier (JAX then logs its own lines too).
    assert survivor["stopped_after_s"] < JOIN_TIMEOUT_S + 20
    assert survivor["steps"] and survivor["steps"][-1] < 12, survivor["steps"]
    assert not survivor["summary_written"]


def test_ppo_sweep_on_two_processes_killed_and_resumed_equals_one_process(ppo_job):
    two, one = ppo_job["two"], ppo_job["one"]
    summary = read_json(os.path.join(two, "summary.json"))
    assert summary["resumed_from_update"] == ppo_job["survivor"]["steps"][-1]
    assert summary["updates_done"] == 12 and summary["processes"] == 2
    assert "processes" not in read_json(os.path.join(one, "summary.json"))
    assert_bitwise(saved_leaves(os.path.join(two, "params")),
                   saved_leaves(os.path.join(one, "params")))
    with np.load(os.path.join(two, "metrics.npz")) as a, \
            np.load(os.path.join(one, "metrics.npz")) as b:
        assert sorted(a) == sorted(b)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    for label in ("seed0", "seed1"):                # process 0 wrote every run's CSV
        with open(os.path.join(two, f"metrics_{label}.csv")) as f, \
                open(os.path.join(one, f"metrics_{label}.csv")) as g:
            assert f.read() == g.read()
    # orbax's multi-host layout: each process wrote its shards of the run axis
    assert sorted(os.listdir(os.path.join(two, "checkpoints"))) == ["12", "9"]
    state = os.path.join(two, "checkpoints", "12", "state")
    assert {"ocdbt.process_0", "ocdbt.process_1"} <= set(os.listdir(state))


# ----------------------------------------------------------------------------------- CQL


@pytest.fixture(scope="module")
def cql_runs(module_job, tmp_path_factory):
    """The same offline CQL seed sweep (synthetic D4RL file) on 2 processes and on one."""
    from envs_jax.offline.synthetic import (LinearTargetEnv, uniform_policy,
                                            write_d4rl_from_env)

    root = tmp_path_factory.mktemp("cql")
    env = LinearTargetEnv(obs_dim=2, action_dim=1, horizon=3)
    params = env.default_params()
    data = str(root / "linear_target.hdf5")
    write_d4rl_from_env(data, env, params, uniform_policy(env.action_space(params)),
                        jax.random.PRNGKey(0), 300)
    argv = ["--num_steps=4", "--eval_every_steps=2", "--episodes_per_eval=5",
            "--batch_size=16", "--seed=3", "--num_seeds=2", "--algorithm=cql",
            "--task_class=synthetic", "--task_name=linear_target", f"--dataset_path={data}",
            f"--env_kwargs={ENV_KWARGS}", *CQL_GIN]
    two = module_job.start_hosts("cql-two", "purerl.cli.offline",
                                 [*argv, f"--root_dir={root / 'two'}"])
    one = module_job.start("cql-one", "purerl.cli.offline",
                           [*argv, f"--root_dir={root / 'one'}"], devices=2)
    module_job.wait_ok([*two, one])
    return str(root)


def test_offline_cql_sweep_on_two_processes_equals_one(cql_runs):
    two, one = os.path.join(cql_runs, "two"), os.path.join(cql_runs, "one")
    assert_bitwise(saved_leaves(os.path.join(two, "params")),
                   saved_leaves(os.path.join(one, "params")))
    a, b = read_json(os.path.join(two, "summary.json")), read_json(
        os.path.join(one, "summary.json"))
    assert a["evaluation"] == b["evaluation"] and a["evaluation"]
    assert a["processes"] == 2
    for label in ("seed0", "seed1"):
        with open(os.path.join(two, f"metrics_{label}.csv")) as f, \
                open(os.path.join(one, f"metrics_{label}.csv")) as g:
            assert f.read() == g.read()


# ------------------------------------------------------------------- a peer never comes up


def test_a_peer_that_never_comes_up_gives_one_line_within_the_timeout(job):
    """Process 0 alone (its coordinator waits for process 1) and process 1 alone (no
    coordinator listens): each ends within the timeout with one line naming HOST:PORT."""
    timeout = 4
    ports = free_port(), free_port()
    procs = [job.start(f"alone-p{i}", "purerl.cli.ppo", [
        *PPO, f"--runs_dir={job.logs_dir}/runs", f"--out_file=alone{i}",
        f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", f"--process_id={i}",
        f"--distributed_timeout={timeout}"]) for i, port in enumerate(ports)]
    t0 = time.monotonic()
    codes = job.wait(procs, deadline_s=timeout + 60)
    assert time.monotonic() - t0 < timeout + 45          # startup (imports) + the timeout
    for i, (proc, code, port) in enumerate(zip(procs, codes, ports)):
        log = job.tail(proc)
        lines = [line for line in log.splitlines() if line.strip()]
        assert code == 2, log
        assert lines == [f"purerl-ppo: error: not every process joined the JAX coordinator "
                         f"at 127.0.0.1:{port} within {timeout} s (this is process {i} of 2); "
                         "start the same command on every host with its own --process_id, "
                         "check that HOST:PORT is reachable, or raise --distributed_timeout"
                         ], log
    assert not os.path.exists(os.path.join(job.logs_dir, "runs"))   # nothing written
