import os
import warnings

# Tests must not see a GPU even where one exists: results are compared exactly.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
warnings.filterwarnings("ignore", category=DeprecationWarning)
