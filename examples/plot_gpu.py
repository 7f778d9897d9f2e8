"""
Training on a GPU
=================

The ``device`` parameter says where a model is trained and applied:
``"auto"`` (the default) uses the first CUDA GPU when PyTorch sees one and the
CPU otherwise, ``"cuda"`` (or ``"cuda:1"``, ...) insists on a GPU, ``"cpu"``
on the CPU. Inputs and outputs are NumPy arrays either way, so the rest of a
pipeline does not change.

This script runs anywhere: without a GPU it trains on the CPU, says so, and
shows figures recorded on a GPU instead of measuring them.
"""

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits

from skvsc import VariationalSparseCoder

X, _ = load_digits(return_X_y=True)
X = np.tile(X, (5, 1))  # 8,985 samples, to give the GPU some work

# The test suite sets SKVSC_EXAMPLE_SMOKE=1 to run this script in seconds.
SMOKE = bool(os.environ.get("SKVSC_EXAMPLE_SMOKE"))
params = dict(
    n_components=64,
    alpha=0.1,
    likelihood="gaussian",
    hidden_layer_sizes=(256,),
    max_iter=1 if SMOKE else 5,
    learning_rate_init=3e-3,
    random_state=0,
)

has_gpu = torch.cuda.is_available()
if has_gpu:
    print(f"CUDA is available: {torch.cuda.get_device_name(0)}")
else:
    print("No CUDA GPU is available here: device='auto' trains on the CPU.")

# %%
# ``device="auto"``
# -----------------
# The device is resolved when ``fit`` runs, on the machine that runs it (for
# example a Dask worker), and stored in ``device_``.
vsc = VariationalSparseCoder(device="auto", **params).fit(X)
print(f"device_ = {vsc.device_!r}")
Z = vsc.transform(X[:5])
print(f"transform returns a {type(Z).__name__} of {Z.dtype}, on the host")

# %%
# ``device="cuda"``
# -----------------
# Asking for a GPU where there is none is a ``ValueError`` that says so, raised
# before any training; with a GPU, the model trains there.
if has_gpu:
    VariationalSparseCoder(device="cuda", **params).fit(X)
    print("trained on the GPU with device='cuda'")
else:
    print("skipped here: device='cuda' would raise a ValueError on this machine")

# %%
# CPU against GPU
# ---------------
# A GPU pays off for large data and wide networks; for small models the CPU is
# close, since every batch is a few small matrix products and a GPU step is
# bound by launching its kernels. The same model on each device this machine
# has:
devices = ["cpu", "cuda"] if has_gpu else ["cpu"]
seconds = {}
for device in devices:
    model = VariationalSparseCoder(device=device, **params)
    start = time.perf_counter()
    model.fit(X)
    seconds[device] = (time.perf_counter() - start) / model.n_iter_
    print(f"{device}: {seconds[device]:.2f} s per epoch, final -ELBO {model.loss_curve_[-1]:.1f}")

# %%
# The default fit on the 60,000 MNIST images, as recorded by the benchmarks on
# a 2-core CPU with one thread and on an NVIDIA H200 (the performance page of
# the documentation gives the commands and commits). Where this machine has no
# GPU, these recorded figures stand in for a measurement.
n_mnist = 60_000
recorded = {"2-core CPU, one thread": 184.6, "NVIDIA H200": 42.9}  # seconds, 18 epochs
for machine, fit_s in recorded.items():
    print(f"recorded, default fit of {n_mnist:,} MNIST images on {machine}: {fit_s:.0f} s")

fig, (ax_here, ax_recorded) = plt.subplots(1, 2, figsize=(9, 2.6), layout="constrained")
ax_here.barh(list(seconds), list(seconds.values()), color="tab:blue")
ax_here.set(xlabel="seconds per epoch (8,985 digits)")
ax_here.set_title("this machine" + ("" if has_gpu else " (no GPU)"))
ax_recorded.barh(list(recorded), list(recorded.values()), color=["tab:blue", "tab:green"])
ax_recorded.set(xlabel=f"seconds (default fit, {n_mnist:,} MNIST images)")
ax_recorded.set_title("recorded by the benchmarks")
plt.show()

# %%
# Moving models between machines
# ------------------------------
# Pickled models (and :func:`skvsc.save` files) hold CPU tensors. A model
# fitted on a GPU and loaded where CUDA is not available is placed on the CPU,
# with a warning, and keeps working; ``device_`` then reads ``"cpu"``. Otherwise
# a model stays on the device it was fitted on, also when training continues
# (``warm_start=True``, ``partial_fit``); to train on another device, fit again
# with that ``device``.
