"""Root pytest configuration, loaded before any test module imports scipy."""

import os

# scikit-learn's check_array_api_input only runs with scipy's array-API mode on; without it
# the check is skipped, and we want every estimator check to run.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
