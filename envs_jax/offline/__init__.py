"""Offline RL datasets: D4RL HDF5 and Minari on disk -> a device-resident ``OfflineDataset``.

* ``load_d4rl(path, "hopper-medium-v2")``: D4RL file, validated, ``qlearning_dataset``
  semantics, AntMaze reward remap.
* ``load_minari(path)``: Minari dataset (``T + 1`` observations per episode).
* ``sample(key, dataset, batch_size)``: uniform minibatch inside ``jax.jit``.
* ``normalized_score(env_name, episode_return)``: D4RL normalised score (percent).
* ``synthetic``: generate datasets in both layouts from any env of our protocol.
"""

from envs_jax.offline.d4rl import (
    antmaze_reward_remap,
    load_d4rl,
    qlearning_dataset,
    read_d4rl,
    validate_d4rl,
    write_d4rl,
)
from envs_jax.offline.dataset import OfflineDataset, from_numpy, sample, sample_steps
from envs_jax.offline.minari import load_minari, read_minari, write_minari
from envs_jax.offline.scores import REFERENCE_SCORES, normalized_score, reference_scores
from envs_jax.offline.specs import D4RL_SPECS, DatasetSpec, env_family, spec_for, spec_from_env
from envs_jax.offline.validate import DatasetError, Float64CastWarning

__all__ = [
    "D4RL_SPECS",
    "REFERENCE_SCORES",
    "DatasetError",
    "DatasetSpec",
    "Float64CastWarning",
    "OfflineDataset",
    "antmaze_reward_remap",
    "env_family",
    "from_numpy",
    "load_d4rl",
    "load_minari",
    "normalized_score",
    "qlearning_dataset",
    "read_d4rl",
    "read_minari",
    "reference_scores",
    "sample",
    "sample_steps",
    "spec_for",
    "spec_from_env",
    "validate_d4rl",
    "write_d4rl",
    "write_minari",
]
