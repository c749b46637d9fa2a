import os
import tempfile
import warnings

# Tests must not see a GPU even where one exists: results are compared exactly.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One persistent compilation cache for the whole test session, inherited by the
# subprocesses the CLI tests start: identical programs (same config, new closures) are
# compiled once instead of once per run. Set through the environment so that it reaches
# child processes too.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="purerl-jax-cache-"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
warnings.filterwarnings("ignore", category=DeprecationWarning)
