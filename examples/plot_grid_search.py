"""
Choosing ``alpha`` and ``n_components`` with a grid search
===========================================================

:class:`~sklearn.model_selection.GridSearchCV` treats
:class:`~skvsc.VariationalSparseCoder` like any other estimator. We search over
``alpha`` (the prior probability that a unit is active: smaller is sparser) and
``n_components`` (the number of latent units) twice:

1. **with labels**: VSC in a pipeline in front of a classifier, scored by
   cross-validated accuracy;
2. **without labels**: VSC alone, scored by its
   :meth:`~skvsc.VariationalSparseCoder.score`, the mean ELBO of the held-out
   fold (a lower bound on the log-likelihood, in nats per sample).
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from skvsc import VariationalSparseCoder

X, y = load_digits(return_X_y=True)

# The test suite sets SKVSC_EXAMPLE_SMOKE=1 to run this script in seconds.
SMOKE = bool(os.environ.get("SKVSC_EXAMPLE_SMOKE"))

# A small network and a higher learning rate: 1,200 training samples per fold.
vsc = VariationalSparseCoder(
    likelihood="gaussian",
    hidden_layer_sizes=(64,),
    max_iter=2 if SMOKE else 30,
    learning_rate_init=3e-3,
    random_state=0,
)
alphas = [0.05, 0.5]
sizes = [16, 64]

# %%
# With labels: the best code for a classifier
# -------------------------------------------
# Parameters of a pipeline step are addressed as ``<step>__<parameter>``.
# ``n_jobs=2`` fits two models at a time in separate processes; joblib gives
# each process its share of the CPU threads.
pipe = Pipeline([("vsc", vsc), ("svc", SVC())])
supervised = GridSearchCV(
    pipe, {"vsc__alpha": alphas, "vsc__n_components": sizes}, cv=3, n_jobs=2
).fit(X, y)
print("best parameters:", supervised.best_params_)
print(f"cross-validated accuracy: {supervised.best_score_:.3f}")

best_vsc = supervised.best_estimator_.named_steps["vsc"]
Z = best_vsc.transform(X)
print(f"active units per sample of the refitted best code: {np.mean(np.sum(Z != 0, 1)):.1f}")

# %%
# Without labels: the best model of the data
# ------------------------------------------
# Without a scorer, ``GridSearchCV`` calls the estimator's ``score`` on the
# held-out fold: the ELBO, higher is better.
unsupervised = GridSearchCV(vsc, {"alpha": alphas, "n_components": sizes}, cv=3, n_jobs=2)
unsupervised.fit(X)
print("best parameters:", unsupervised.best_params_)
print(f"held-out ELBO: {unsupervised.best_score_:.1f} nats per sample")


# %%
# The two criteria side by side
# -----------------------------
def grid(search, prefix=""):
    """Mean test score as an (alpha, n_components) table."""
    scores = np.empty((len(alphas), len(sizes)))
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        i = alphas.index(params[prefix + "alpha"])
        j = sizes.index(params[prefix + "n_components"])
        scores[i, j] = score
    return scores


fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
panels = [
    (grid(supervised, "vsc__"), "SVC accuracy (with labels)", "{:.3f}"),
    (grid(unsupervised), "held-out ELBO, nats (no labels)", "{:.1f}"),
]
for ax, (scores, title, fmt) in zip(axes, panels):
    ax.imshow(scores, cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(scores):
        ax.text(j, i, fmt.format(value), ha="center", va="center", color="w")
    ax.set_xticks(range(len(sizes)), sizes)
    ax.set_yticks(range(len(alphas)), alphas)
    ax.set(xlabel="n_components", ylabel="alpha", title=title)
plt.show()

# %%
# The ELBO measures how well the model explains the data, not how sparse the
# code is or how useful it is to a classifier, so the two searches need not
# agree; here is what each picked:


def position(value, grid):
    return (
        "the smallest" if value == min(grid) else "the largest" if value == max(grid) else "inside"
    )


for name, search, key in [("accuracy", supervised, "vsc__alpha"), ("ELBO", unsupervised, "alpha")]:
    chosen = search.best_params_[key]
    print(f"{name} picks alpha={chosen}, {position(chosen, alphas)} of the grid {alphas}")

# %%
# The ELBO is not a fair judge of ``alpha`` or ``n_components``: with
# deterministic spikes every sample pays a fee per unit that grows with both,
# whatever the data, so it favours small, sparse models even at a fixed
# ``alpha``. ``score(X, n_draws=...)``, an importance-sampled estimate of
# ``log p(x)``, removes the fee and compares the models as densities; neither
# says which code a classifier can use (see the model selection page of the
# documentation). Choose the sparsity you need, and ``n_components``, with
# labels when the code feeds a downstream task.
#
# A short training run favours the denser codes of the grid for a classifier:
# a small ``alpha`` needs more epochs before its few active units become
# informative (the pipeline example trains longer). In a grid search, give
# every candidate the training it needs, or put ``max_iter`` in the grid.
accuracy = grid(supervised, "vsc__")
n_train = len(X) - len(X) // 3
print(
    f"mean cross-validated accuracy after {vsc.max_iter} epochs on about {n_train:,} digits "
    f"per fold: {accuracy[0].mean():.3f} at alpha={alphas[0]}, "
    f"{accuracy[-1].mean():.3f} at alpha={alphas[-1]}"
)
