"""
Sparse codes as features: VSC, PCA and an RBM in front of an SVM
================================================================

Each model turns the 64 pixels of the 8x8 digits into a 64-unit code, and a
support vector classifier (SVC) learns the digit from the code. We compare the
test accuracy, the fraction of exact zeros in the code (its sparsity) and the
time to fit, for:

- :class:`~skvsc.VariationalSparseCoder` (VSC): a non-linear, sparse code;
- :class:`~sklearn.decomposition.PCA`: a linear, dense code;
- :class:`~sklearn.neural_network.BernoulliRBM`: non-linear, binary-valued
  probabilities, dense;
- the raw pixels, as a reference.
"""

# %%
# Data
# ----
# Pixel values range over 0..16. We scale them to [0, 1] (the RBM needs it;
# VSC standardises the data itself with the Gaussian likelihood).
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import SVC

from skvsc import VariationalSparseCoder

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

# The test suite sets SKVSC_EXAMPLE_SMOKE=1 to run this script in seconds.
SMOKE = bool(os.environ.get("SKVSC_EXAMPLE_SMOKE"))

# %%
# The models
# ----------
# VSC with 64 units and ``alpha=0.1``: ``alpha`` is the fraction of the units
# a code may use, so about a tenth of them, give or take a factor of two (the
# output below prints the measured count). The digits are grey levels (0 to 16),
# for which the Gaussian likelihood gives a much more informative code than the
# Bernoulli one (see the user guide). A small data set needs a higher learning
# rate than the default to train in 100 epochs.
vsc = VariationalSparseCoder(
    n_components=64,
    alpha=0.1,
    likelihood="gaussian",
    hidden_layer_sizes=(128,),
    max_iter=3 if SMOKE else 100,
    learning_rate_init=3e-3,
    random_state=0,
)
encoders = {
    "VSC": vsc,
    "PCA": PCA(n_components=64, random_state=0),
    "BernoulliRBM": BernoulliRBM(
        n_components=64, learning_rate=0.06, n_iter=3 if SMOKE else 20, random_state=0
    ),
    "raw pixels": FunctionTransformer(),
}

# %%
# Fit, encode, classify
# ---------------------
results = {}
for name, encoder in encoders.items():
    start = time.perf_counter()
    encoder.fit(X_train)
    fit_time = time.perf_counter() - start
    Z_train, Z_test = encoder.transform(X_train), encoder.transform(X_test)
    accuracy = SVC().fit(Z_train, y_train).score(Z_test, y_test)
    results[name] = {
        "accuracy": accuracy,
        "zeros": float(np.mean(Z_test == 0)),
        "active": float(np.mean(np.sum(Z_test != 0, axis=1))),
        "fit_time": fit_time,
    }

print(f"{'code':<14}{'accuracy':>10}{'zeros':>8}{'non-zeros/sample':>18}{'fit (s)':>9}")
for name, r in results.items():
    print(
        f"{name:<14}{r['accuracy']:>10.3f}{r['zeros']:>8.1%}"
        f"{r['active']:>18.1f}{r['fit_time']:>9.1f}"
    )

# %%
# The sparse code keeps a few units per digit where PCA and the RBM keep all
# 64, and it gives up some accuracy for it (the SVC on the pixels, which keep
# everything, sets the ceiling). The numbers, from the table above:
r = results
print(
    f"VSC: {r['VSC']['active']:.1f} non-zeros per digit "
    f"({r['VSC']['active'] / vsc.n_components:.0%} of its units, alpha={vsc.alpha}); "
    f"PCA {r['PCA']['active']:.0f}, RBM {r['BernoulliRBM']['active']:.0f}"
)
ranking = sorted(r, key=lambda name: -r[name]["accuracy"])
print("SVC accuracy, best first:", " > ".join(ranking))

# %%
# What VSC offers here is the compact, readable code, not a higher accuracy on
# an easy data set. (In a real pipeline, ``make_pipeline(vsc, SVC())`` does the
# same in one object; see the grid-search example.)
#
# :meth:`~skvsc.VariationalSparseCoder.encode_mean` returns the dense slab
# means instead: they include the means of the inactive units, which the prior
# leaves unconstrained and which leak encoder features. Comparisons of VSC must
# say which of the two they use:
mu_accuracy = SVC().fit(vsc.encode_mean(X_train), y_train).score(vsc.encode_mean(X_test), y_test)
print(
    f"SVC on the dense slab means of VSC: {mu_accuracy:.3f} "
    f"(on its sparse code: {results['VSC']['accuracy']:.3f})"
)

# %%
# What a sparse code looks like
# -----------------------------
# The codes of the first 40 test digits, sorted by label: each row has a few
# non-zero entries (white is zero), and digits of the same class share units.
order = np.argsort(y_test[:40], kind="stable")
Z = vsc.transform(X_test[:40])[order]
used = np.flatnonzero(np.any(Z != 0, axis=0))

fig, (ax_code, ax_bar) = plt.subplots(
    1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]}, layout="constrained"
)
limit = np.percentile(np.abs(Z[Z != 0]), 95) if np.any(Z) else 1.0
image = ax_code.imshow(Z[:, used], cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
ax_code.set_yticks(range(len(order)), y_test[:40][order], fontsize=6)
ax_code.set_xticks(range(len(used)), used, fontsize=6, rotation=90)
ax_code.set(xlabel="latent unit (units used by these digits)", ylabel="test digit (label)")
ax_code.set_title("VSC codes")
fig.colorbar(image, ax=ax_code, shrink=0.8)

names = list(results)
ax_bar.barh(names, [results[n]["accuracy"] for n in names], color="tab:blue")
for i, n in enumerate(names):
    label = f"{results[n]['accuracy']:.3f}, {results[n]['active']:.1f} non-zeros per digit"
    ax_bar.text(0.02, i, label, va="center", color="white")
ax_bar.set(xlim=(0, 1), xlabel="SVC test accuracy")
ax_bar.invert_yaxis()
plt.show()
