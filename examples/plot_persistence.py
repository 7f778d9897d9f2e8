"""
Saving and loading fitted models
================================

A fitted :class:`~skvsc.VariationalSparseCoder`, alone or inside a pipeline,
is saved and loaded like any scikit-learn model, with :mod:`joblib` (or
:mod:`pickle`). The loaded model gives exactly the same codes and predictions.

Pickle files can run code when they are loaded: only load files you trust.
Where available, :func:`skvsc.save` and :func:`skvsc.load` write a format that
loading never unpickles.
"""

# %%
import os
import shutil
import tempfile
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

import skvsc
from skvsc import VariationalSparseCoder

X, y = load_digits(return_X_y=True)

# The test suite sets SKVSC_EXAMPLE_SMOKE=1 to run this script in seconds.
SMOKE = bool(os.environ.get("SKVSC_EXAMPLE_SMOKE"))

vsc = VariationalSparseCoder(
    n_components=32,
    alpha=0.1,
    likelihood="gaussian",
    hidden_layer_sizes=(64,),
    max_iter=2 if SMOKE else 30,
    learning_rate_init=3e-3,
    random_state=0,
)
pipe = make_pipeline(vsc, SVC()).fit(X, y)
directory = Path(tempfile.mkdtemp())

# %%
# joblib: any model, any pipeline
# -------------------------------
# The torch weights are stored as CPU tensors, so a model fitted on a GPU loads
# on a machine without one (on the CPU, with a warning).
path = directory / "pipeline.joblib"
joblib.dump(pipe, path)
print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")

loaded = joblib.load(path)
assert np.array_equal(loaded.predict(X), pipe.predict(X))
assert np.array_equal(loaded[0].transform(X), vsc.transform(X))
print("same predictions and codes after loading")

# The codes of the first 30 digits from the fitted model and from the loaded
# one: the same units, the same values.
fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained", sharey=True)
for ax, model, title in [(axes[0], vsc, "fitted"), (axes[1], loaded[0], "loaded from disk")]:
    codes = model.transform(X[:30])
    limit = np.abs(codes).max()
    ax.imshow(codes, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set(title=f"codes, {title}", xlabel="latent unit")
axes[0].set_ylabel("digit")
plt.show()

# %%
# A loaded model is a complete estimator: it can be scored, sampled or
# trained further (``warm_start=True`` or ``partial_fit``), and its fitted
# attributes (``loss_curve_``, ``history_``, ...) are kept.
loaded_vsc = loaded[0]
print(f"ELBO of the first 200 digits: {loaded_vsc.score(X[:200]):.1f} nats per sample")
print(f"epochs trained: {loaded_vsc.n_iter_}; last training -ELBO {loaded_vsc.loss_curve_[-1]:.1f}")

# %%
# Safe files: ``skvsc.save`` and ``skvsc.load``
# ---------------------------------------------
# A single estimator can also be saved as tensors plus JSON, with a checksum.
# Loading such a file never runs code from it, so it is the format to exchange
# models with others. Pipelines and searches still need joblib.
if hasattr(skvsc, "save"):
    safe_path = directory / "vsc.skvsc"
    skvsc.save(vsc, safe_path)
    restored = skvsc.load(safe_path)
    assert np.array_equal(restored.transform(X), vsc.transform(X))
    print(f"{safe_path.name}: {safe_path.stat().st_size / 1024:.0f} KiB, same codes after loading")
else:
    print("skvsc.save is not available in this version of skvsc; use joblib.")

# %%
# Good practice
# -------------
# - Load models with the same versions of skvsc, scikit-learn and PyTorch that
#   saved them; record the versions next to the file.
# - Never load a pickle or joblib file from an untrusted source.
# - Keep the training script: refitting with the same ``random_state`` on the
#   CPU reproduces the model.
print(f"skvsc {skvsc.__version__}")
shutil.rmtree(directory)
