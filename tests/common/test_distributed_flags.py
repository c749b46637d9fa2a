"""The multi-host settings (``purerl.common.distributed``) are read and checked before
anything starts: flags, JAX's environment variable, SLURM; one-line errors naming the value.
(The 2-process runs themselves: tests/common/test_multihost.py.)"""

import pytest

from purerl.common import distributed as dist

SLURM = {"SLURM_JOB_ID": "77", "SLURM_STEP_NODELIST": "node[1-2]", "SLURM_NTASKS": "2",
         "SLURM_PROCID": "1", "SLURM_LOCALID": "0"}


def test_pop_flags_takes_both_spellings_and_leaves_the_rest():
    rest, raw = dist.pop_flags(["--num_seeds", "4", "--coordinator_address", "h:1",
                                "--num-processes=2", "--process_id", "1", "--out_file=x"])
    assert rest == ["--num_seeds", "4", "--out_file=x"]
    assert raw == {"coordinator_address": "h:1", "num_processes": "2", "process_id": "1"}
    with pytest.raises(ValueError, match="--process_id: expected a value, got none"):
        dist.pop_flags(["--process_id", "--num_seeds", "4"])


def test_one_process_is_nothing_to_start():
    assert dist.resolve({}, environ={}) is None
    assert dist.resolve({"num_processes": "1"}, environ=SLURM) is None   # forced
    assert dist.resolve({}, environ={**SLURM, "SLURM_NTASKS": "1"}) is None
    with pytest.raises(ValueError, match="--process_id: expected 0 with one process, got 1"):
        dist.resolve({"num_processes": "1", "process_id": "1"}, environ={})


def test_flags_env_and_slurm():
    spec = dist.resolve({"coordinator_address": "10.0.0.1:1234", "num_processes": "2",
                         "process_id": "1", "distributed_timeout": "20"}, environ={})
    assert spec == dist.Spec("10.0.0.1:1234", 2, 1, 20, "flags")
    spec = dist.resolve({"num_processes": "3", "process_id": "2"},
                        environ={"JAX_COORDINATOR_ADDRESS": "head:99"})
    assert (spec.coordinator_address, spec.source, spec.timeout_s) == ("head:99", "env", 300)
    spec = dist.resolve({}, environ=SLURM)           # JAX reads address, count, id itself
    assert spec == dist.Spec(None, 2, None, 300, "slurm")
    assert spec.host_port == "the SLURM job's first node"


@pytest.mark.parametrize("raw, message", [
    ({"num_processes": "2", "process_id": "0"},
     "--coordinator_address: expected with a multi-process run"),
    ({"coordinator_address": "h:1", "num_processes": "2"},
     "--process_id: expected with a multi-process run"),
    ({"coordinator_address": "h:1", "num_processes": "2", "process_id": "2"},
     "--process_id: expected 0..1 with --num_processes 2, got 2"),
    ({"coordinator_address": "h:1", "num_processes": "two", "process_id": "0"},
     "--num_processes: expected an integer, got 'two'"),
    ({"coordinator_address": "h:1", "num_processes": "0"},
     "--num_processes: expected an integer >= 1, got 0"),
    ({"coordinator_address": "h", "num_processes": "2", "process_id": "0"},
     r"--coordinator_address: expected HOST:PORT \(port 1..65535\), got 'h'"),
    ({"coordinator_address": "h:70000", "num_processes": "2", "process_id": "0"},
     "got 'h:70000'"),
    ({"coordinator_address": "h:1", "num_processes": "2", "process_id": "0",
      "distributed_timeout": "0"}, "--distributed_timeout: expected seconds > 0, got 0"),
])
def test_bad_settings_are_one_line_naming_the_value(raw, message):
    with pytest.raises(ValueError, match=message):
        dist.resolve(raw, environ={})


def test_bad_env_address_is_named_as_the_env_variable():
    with pytest.raises(ValueError, match="JAX_COORDINATOR_ADDRESS: expected HOST:PORT"):
        dist.resolve({"num_processes": "2", "process_id": "0"},
                     environ={"JAX_COORDINATOR_ADDRESS": "nohostport"})


def test_ipv6_address_is_accepted():
    assert dist.check_address("[::1]:8476") == "[::1]:8476"


def test_outside_a_job_nothing_counts_as_a_peer_failure():
    """(In a job, the markers are what gloo and the coordination service raise; the real
    case is exercised by test_multihost.py's kill.)"""
    err = ValueError("UNKNOWN: Gloo AllGather failed: Connection reset by peer")
    assert not dist.joined()
    assert not dist.peer_failed(err)


def test_single_process_helpers_are_the_plain_operations():
    import jax
    import numpy as np

    from purerl.common.experiment import run_sharding

    sharding = run_sharding(2)
    tree = {"a": np.arange(4.0).reshape(2, 2)}
    placed = dist.put(tree, sharding)
    assert isinstance(placed["a"], jax.Array) and placed["a"].sharding == sharding
    back = dist.to_host(placed)
    assert isinstance(back["a"], np.ndarray) and np.array_equal(back["a"], tree["a"])
    assert dist.is_writer() and dist.process_count() == 1
    assert dist.agree("run-20261207") == "run-20261207"
    dist.barrier("nothing-to-wait-for")               # returns at once with one process
