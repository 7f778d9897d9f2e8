"""
What the units of a sparse code mean (MNIST)
============================================

**Needs the MNIST files.** They are read with
:func:`skvsc.datasets.load_mnist` from ``$SKVSC_DATA/mnist/`` or skvsc's data
home (see the user guide's data section); set ``download=True`` below to fetch them
instead. The documentation is built without running this script
when the files are absent; the script prints how long its fit took.

With a sparse code, each digit is described by a few active units, and a
single unit often controls a recognisable feature. We train
:class:`~skvsc.VariationalSparseCoder` on MNIST and look at

- reconstructions from the sparse code,
- the *atoms*: what each unit draws on its own,
- *latent traversals*: a digit's code with one active unit moved,
- which units each class uses,

with :mod:`skvsc.plotting` when it is available, else with plain matplotlib
and the public methods (``transform`` and ``inverse_transform``).
"""

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from skvsc import VariationalSparseCoder
from skvsc.datasets import load_mnist

# sphinx_gallery_thumbnail_number = 3

try:
    from skvsc import plotting
except ImportError:  # an skvsc without the plotting module
    plotting = None

# The test suite sets SKVSC_EXAMPLE_SMOKE=1 to run this script in seconds.
SMOKE = bool(os.environ.get("SKVSC_EXAMPLE_SMOKE"))

X, y = load_mnist(split="train", download=False)
X_test, y_test = load_mnist(split="test", download=False)
rng = np.random.default_rng(0)
subset = rng.permutation(len(X))[: 2_000 if SMOKE else 20_000]
X, y = X[subset], y[subset]
print(f"training on {len(X):,} images of {X.shape[1]} pixels in [0, 1]")

# %%
# Training
# --------
# 64 units with ``alpha=0.05``: a code may use about 5 % of the units, give or
# take a factor of two (the output compares the measured count with
# ``alpha * n_components``). The pixels are in [0, 1], so
# ``likelihood="auto"`` picks the Bernoulli likelihood, the paper's choice for
# MNIST. ``verbose=2`` prints a line per epoch.
vsc = VariationalSparseCoder(
    n_components=64,
    alpha=0.05,
    hidden_layer_sizes=(256,),
    max_iter=6 if SMOKE else 15,
    learning_rate_init=2e-3,
    random_state=0,
    verbose=2,
)
start = time.perf_counter()
vsc.fit(X)
print(f"fit: {time.perf_counter() - start:.0f} s for {vsc.n_iter_} epochs")

Z_test = vsc.transform(X_test)
active = Z_test != 0
print(f"likelihood: {vsc.likelihood_}")
print(f"test ELBO: {vsc.score(X_test):.1f} nats per image")
print(
    f"active units per test image: {active.sum(axis=1).mean():.2f} of {vsc.n_components} "
    f"(alpha * n_components = {vsc.alpha * vsc.n_components:.1f})"
)
print(f"units never active on the test set: {np.sum(~active.any(axis=0))}")

# %%
if plotting is not None:
    plotting.plot_training_curves(vsc)
else:
    fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
    ax.plot([h["epoch"] for h in vsc.history_], vsc.loss_curve_)
    ax.set(xlabel="epoch", ylabel="training -ELBO (nats)")
plt.show()

# %%
# The curves are the per-sample training -ELBO, its reconstruction and KL
# parts, and the mean number of active units per image. They report the plain
# ELBO also during the KL warm-up (the first part of training, ``kl_warmup``),
# when the training objective weighs the KL less. Whether the number of active
# units has settled, and whether the -ELBO still falls at the end (then more
# epochs would help), is read from the last epochs:
n = len(vsc.history_)
for h in (vsc.history_[0], vsc.history_[n // 2], vsc.history_[-1]):
    print(
        f"epoch {h['epoch']}: {h['active_units']:.2f} active units, training -ELBO {h['loss']:.1f}"
    )
late = [h["active_units"] for h in vsc.history_[-(n // 3 + 1) :]]
print(
    f"active units over the last {len(late)} epochs: {min(late):.2f} to {max(late):.2f} "
    f"({'still rising' if late[-1] > max(late[:-1]) else 'no longer rising'})"
)

# %%
# Reconstructions
# ---------------
# Each test digit (top) and the decoding of its sparse code (bottom): a handful
# of units are enough for a recognisable digit.
if plotting is not None:
    plotting.plot_reconstructions(vsc, X_test, n=10)
else:
    fig, axes = plt.subplots(2, 10, figsize=(10, 2.2))
    reconstructions = vsc.inverse_transform(Z_test[:10])
    for i in range(10):
        axes[0, i].imshow(X_test[i].reshape(28, 28), cmap="gray")
        axes[1, i].imshow(reconstructions[i].reshape(28, 28), cmap="gray")
        axes[1, i].set_title(f"{active[i].sum()} units", fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
plt.show()

# %%
# Atoms
# -----
# The decoding of a code with a single active unit (set to 2, every other unit
# zero): for a sparse code this is a valid code, and it shows what the unit
# contributes on its own. The most used units come first.
if plotting is not None:
    plotting.plot_atoms(vsc, max_units=24, n_cols=8)
else:
    most_used = np.argsort(active.mean(axis=0))[::-1][:24]
    codes = np.zeros((len(most_used), vsc.n_components))
    codes[np.arange(len(most_used)), most_used] = 2.0
    atoms = vsc.inverse_transform(codes)
    fig, axes = plt.subplots(3, 8, figsize=(8, 3.3))
    for ax, unit, atom in zip(axes.ravel(), most_used, atoms):
        ax.imshow(atom.reshape(28, 28), cmap="gray")
        ax.set_title(f"unit {unit}", fontsize=8)
        ax.set_axis_off()
plt.show()

# %%
# Latent traversals
# -----------------
# Take the code of one test digit (among the first 100, the one with the most
# active units) and move each of its active units over a range of values, the
# others fixed; the middle column is the reconstruction. Single units change
# recognisable features: the width of the stroke, the slant, the length of a bar.
digit = X_test[np.argmax(active[:100].sum(axis=1))]
if plotting is not None:
    plotting.plot_traversals(vsc, digit, max_units=5)
else:
    code = vsc.transform(digit[None, :])[0]
    units = np.flatnonzero(code)[:5]
    offsets = np.linspace(-3, 3, 7)
    fig, axes = plt.subplots(len(units), len(offsets), figsize=(7, len(units)), squeeze=False)
    for row, unit in enumerate(units):
        codes = np.tile(code, (len(offsets), 1))
        codes[:, unit] += offsets
        for ax, image in zip(axes[row], vsc.inverse_transform(codes)):
            ax.imshow(image.reshape(28, 28), cmap="gray")
            ax.set_axis_off()
        axes[row, 0].set_title(f"unit {unit}", fontsize=8, loc="left")
plt.show()

# %%
# Which units each class uses
# ---------------------------
# The mean activation of each unit (columns) over the test images of each digit
# (rows). Some units serve one or two digits, others are shared by many; the
# counts are printed below the figure.
if plotting is not None:
    plotting.plot_class_activation(vsc, X_test, y_test)
else:
    rates = np.array([active[y_test == c].mean(axis=0) for c in range(10)])
    used = np.flatnonzero(rates.max(axis=0) > 0)
    fig, ax = plt.subplots(figsize=(9, 3), layout="constrained")
    image = ax.imshow(rates[:, used], aspect="auto", cmap="viridis")
    ax.set(xlabel="unit (used ones)", ylabel="digit", yticks=range(10))
    fig.colorbar(image, ax=ax, label="fraction of images where active")
plt.show()

rates = np.array([active[y_test == c].mean(axis=0) for c in range(10)])
n_classes = (rates > 0.1).sum(axis=0)  # digits on whose images a unit is often active
used = n_classes > 0
print(
    f"of the {used.sum()} units active on over a tenth of some digit's images, "
    f"{np.sum(used & (n_classes <= 2))} are so for one or two digits, "
    f"{np.sum(n_classes == 10)} for all ten"
)
