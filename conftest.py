"""Root pytest configuration, loaded before any test module imports scipy."""

import os
from importlib.util import find_spec

# scikit-learn's check_array_api_input only runs with scipy's array-API mode on; without it
# the check is skipped, and we want every estimator check to run.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# The doctests of skvsc.onnx run the exported graphs: they need the optional clients.
collect_ignore = []
if not all(find_spec(name) for name in ("onnx", "onnxruntime", "skl2onnx")):
    collect_ignore.append("skvsc/onnx.py")

# tqdm's monitor thread can deadlock at interpreter exit with old tqdm (4.60.0, the declared
# minimum, hung the test process after its last test); the tests need no monitor thread.
if find_spec("tqdm"):
    import tqdm

    tqdm.tqdm.monitor_interval = 0
