"""Checkpoints of states with zero-size arrays (MJX's ``mjx.Data.act`` when a model has no
actuator state), which orbax refuses to write as they are."""

import jax
import jax.numpy as jnp
import numpy as np

from purerl.common.checkpoint import Checkpointer


def test_zero_size_leaves_round_trip(tmp_path):
    state = {"act": jnp.zeros((3, 0), jnp.float32), "qpos": jnp.arange(6.0).reshape(3, 2),
             "step": jnp.int32(7), "none": jnp.zeros((0,), jnp.int32)}
    ckpt = Checkpointer(str(tmp_path / "ckpt"))
    ckpt.save(5, state, {"loss": np.ones((3, 5), np.float32)})
    abstract = jax.eval_shape(lambda: state)
    step, restored, history = ckpt.restore_latest_intact(abstract)
    ckpt.close()
    assert step == 5 and history["loss"].shape == (3, 5)
    for name in state:
        assert restored[name].shape == state[name].shape, name
        assert restored[name].dtype == state[name].dtype, name
        np.testing.assert_array_equal(np.asarray(restored[name]), np.asarray(state[name]))
