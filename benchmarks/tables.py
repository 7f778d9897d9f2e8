"""skvsc on scikit-learn's bundled tables against PCA and the raw features.

For breast cancer, wine, iris (LogisticRegression, accuracy) and diabetes
(Ridge, R2): 5-fold cross-validation (stratified for the classifiers,
shuffled with each seed), 3 seeds by default. Pipelines, each ending in the
same downstream model:

- ``vsc``: ``[VariationalSparseCoder(random_state=seed), model]``, the
  estimator's defaults (``--front`` puts a scaler in front of it, ``--post``
  one between the code and the model; ``--code mean`` gives the model the
  dense slab means, ``encode_mean``, instead of the sparse code, and
  ``--code reconstruction`` the inputs decoded from the sparse code,
  ``inverse_transform(transform(X))``, in the inputs' units: use it with
  ``--post standard``);
- ``pca``: ``[StandardScaler(), PCA(k), model]`` with ``k`` the mean number of
  active units per sample of the VSC fitted on the same fold (rounded, >= 1):
  "PCA with the same number of active components";
- ``raw``: ``[StandardScaler(), model]``.

Per table: the mean score (and its standard deviation over the 15 folds) of
each pipeline, the mean active units of the code, the number of code units,
the number of folds whose VSC score was NaN (a fit or transform that
raised), PCA's mean ``k`` and the mean of the per-fold differences VSC - PCA
(± its standard error). ``--units`` sizes the code per table (a rule of the
table's width ``d`` and ``alpha``, for screening). Nothing is written unless
``--json PATH`` is given.

Run it with the checkout to measure on ``PYTHONPATH`` (an earlier checkout
for "before")::

    OMP_NUM_THREADS=1 nice python benchmarks/tables.py
    OMP_NUM_THREADS=1 nice python benchmarks/tables.py --front minmax --seeds 0
    OMP_NUM_THREADS=1 nice python benchmarks/tables.py --json /tmp/after.json

``--tables synthetic`` runs eight synthetic tables that no default was
chosen on (:data:`SYNTHETIC`: scikit-learn's ``make_classification``,
``make_friedman1``, ``make_friedman2`` and ``make_regression``, fixed seeds),
to judge a default on data it was not tuned on::

    OMP_NUM_THREADS=1 nice python benchmarks/tables.py --tables synthetic
"""

import argparse
import json
import time
import warnings
from functools import partial

import numpy as np
from sklearn.base import clone
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_iris,
    load_wine,
    make_classification,
    make_friedman1,
    make_friedman2,
    make_regression,
)
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skvsc import VariationalSparseCoder
from skvsc._widths import resolve_alpha

TABLES = {
    "breast_cancer": (load_breast_cancer, "classification"),
    "wine": (load_wine, "classification"),
    "iris": (load_iris, "classification"),
    "diabetes": (load_diabetes, "regression"),
}


def _made(make, return_X_y=True, **options):
    """A loader of a synthetic table: ``make(**options)``'s ``(X, y)``."""
    return make(**options)


#: Tables no default was chosen on (the defaults were chosen on TABLES): clusters
#: on a hypercube's vertices with redundant and noise columns
#: (``make_classification``), two nonlinear regressions and two linear ones (one
#: of low rank). Name: (loader, task), as in TABLES.
_CLUSTERS = [  # name, rows, columns, informative, redundant, classes, labels flipped, seed
    ("classif20", 600, 20, 6, 4, 2, 0.01, 7),
    ("classif12", 400, 12, 5, 3, 3, 0.01, 8),
    ("classif30", 800, 30, 8, 6, 2, 0.05, 11),
    ("classif8", 500, 8, 4, 2, 4, 0.01, 12),
]
_REGRESSIONS = {  # name: make, its options
    "friedman1": (make_friedman1, dict(n_samples=500, n_features=10, noise=1.0, random_state=9)),
    "friedman2": (make_friedman2, dict(n_samples=500, noise=50.0, random_state=13)),
    "lowrank15": (
        make_regression,
        dict(
            n_samples=400,
            n_features=15,
            n_informative=10,
            effective_rank=5,
            noise=5.0,
            random_state=10,
        ),
    ),
    "regress25": (
        make_regression,
        dict(n_samples=500, n_features=25, n_informative=6, noise=20.0, random_state=14),
    ),
}
SYNTHETIC = {
    **{
        name: (
            partial(
                _made,
                make_classification,
                n_samples=rows,
                n_features=columns,
                n_informative=informative,
                n_redundant=redundant,
                n_classes=classes,
                flip_y=flipped,
                random_state=seed,
            ),
            "classification",
        )
        for name, rows, columns, informative, redundant, classes, flipped, seed in _CLUSTERS
    },
    **{
        name: (partial(_made, make, **options), "regression")
        for name, (make, options) in _REGRESSIONS.items()
    },
}
FRONTS = {"none": None, "minmax": MinMaxScaler, "standard": StandardScaler}


def downstream(task):
    if task == "classification":
        return LogisticRegression(max_iter=5000)
    return Ridge()


def folds(task, seed):
    if task == "classification":
        return StratifiedKFold(5, shuffle=True, random_state=seed)
    return KFold(5, shuffle=True, random_state=seed)


class DenseMeanCoder(VariationalSparseCoder):
    """The estimator with ``encode_mean`` (the dense slab means) as its
    ``transform``: how much of the gap is the sparsity of the code."""

    def transform(self, X):
        return self.encode_mean(X)


class ReconstructionCoder(VariationalSparseCoder):
    """The estimator with the inputs decoded from its sparse code as its
    ``transform``: whether the code keeps the inputs' information in a form a
    linear model cannot read, or loses it."""

    def transform(self, X):
        return self.inverse_transform(super().transform(X))


CODERS = {
    "sparse": VariationalSparseCoder,
    "mean": DenseMeanCoder,
    "reconstruction": ReconstructionCoder,
}


def run_fold(X, y, train, test, task, seed, front, vsc_params, post="none", code="sparse"):
    model = downstream(task)
    steps = [] if FRONTS[front] is None else [FRONTS[front]()]
    after = [] if FRONTS[post] is None else [FRONTS[post]()]
    vsc = CODERS[code](random_state=seed, n_threads=1, **vsc_params)
    row = {}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pipe = make_pipeline(*steps, vsc, *after, clone(model)).fit(X[train], y[train])
            row["vsc"] = float(pipe.score(X[test], y[test]))
        fitted = pipe[len(steps)]
        Z = pipe[: len(steps)].transform(X[train]) if steps else X[train]
        Z = VariationalSparseCoder.transform(fitted, Z)  # the sparse code's active units
        row["active"] = float((Z != 0).sum(axis=1).mean())
        row["units"] = int(fitted.module_.n_components)
        row["likelihood"] = fitted.likelihood_
        row["warnings"] = sorted({str(w.message)[:80] for w in caught})
    except ValueError as exc:  # what cross_val_score turns into NaN
        row.update(vsc=float("nan"), active=float("nan"), units=0, error=str(exc)[:200])
    row["seconds"] = time.perf_counter() - start
    k = int(max(1, round(row["active"]))) if np.isfinite(row["active"]) else 2
    k = min(k, X.shape[1])
    pca = make_pipeline(StandardScaler(), PCA(k), clone(model)).fit(X[train], y[train])
    row["pca"] = float(pca.score(X[test], y[test]))
    row["pca_k"] = k
    raw = make_pipeline(StandardScaler(), clone(model)).fit(X[train], y[train])
    row["raw"] = float(raw.score(X[test], y[test]))
    return row


def table_params(vsc_params, units, d, alpha=None):
    """``vsc_params`` with ``alpha`` and ``n_components`` from the ``--alpha`` and
    ``--units`` expressions (a benchmark's own command line, evaluated as given)."""
    names = {"d": d, "max": max, "min": min, "round": round}
    params = dict(vsc_params)
    if alpha is not None:
        params["alpha"] = float(eval(alpha, {"__builtins__": {}}, names))
    if units is not None:
        names["alpha"] = resolve_alpha(params.get("alpha", "auto"), d)
        n = eval(units, {"__builtins__": {}}, names)
        params["n_components"] = max(1, round(n))
    return params


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tables",
        default=",".join(TABLES),
        help="comma-separated names of TABLES or SYNTHETIC, or 'synthetic' for all of SYNTHETIC",
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--front", default="none", choices=sorted(FRONTS))
    parser.add_argument(
        "--post",
        default="none",
        choices=sorted(FRONTS),
        help="a scaler between the code and the downstream model (standard: each unit to "
        "unit variance, for the downstream model's regularisation)",
    )
    parser.add_argument(
        "--code",
        default="sparse",
        choices=sorted(CODERS),
        help="what the downstream model gets: the sparse code (transform), the dense "
        "slab means (encode_mean) or the inputs decoded from the sparse code",
    )
    parser.add_argument("--params", default="{}", help="VSC parameters as JSON")
    parser.add_argument(
        "--units",
        default=None,
        help="n_components per table as an expression in d (the table's features) and "
        "alpha (the resolved alpha), e.g. 'max(2, d / 4) / alpha'; rounded, >= 1",
    )
    parser.add_argument(
        "--alpha",
        default=None,
        help="alpha per table as an expression in d, e.g. 'min(0.5, d / 16)' (before --units)",
    )
    parser.add_argument("--json", default=None, help="write the per-fold rows here")
    args = parser.parse_args(argv)
    vsc_params = json.loads(args.params)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.tables == "synthetic":
        args.tables = ",".join(SYNTHETIC)
    rows = []
    for name in args.tables.split(","):
        loader, task = {**TABLES, **SYNTHETIC}[name]
        X, y = loader(return_X_y=True)
        params = table_params(vsc_params, args.units, X.shape[1], args.alpha)
        for seed in seeds:
            for i, (train, test) in enumerate(folds(task, seed).split(X, y)):
                row = run_fold(
                    X, y, train, test, task, seed, args.front, params, args.post, args.code
                )
                row.update(table=name, seed=seed, fold=i, n_features=X.shape[1])
                rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)
    print(
        f"front={args.front} post={args.post} code={args.code} params={args.params} "
        f"seeds={args.seeds}"
    )
    print(
        "| table | features | VSC | PCA (k = active) | raw | active units | units "
        "| NaN folds | s/fit | PCA k | VSC - PCA |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.tables.split(","):
        sub = [r for r in rows if r["table"] == name]

        def stat(key, sub=sub):
            values = np.array([r[key] for r in sub], dtype=float)
            good = values[np.isfinite(values)]
            if good.size == 0:
                return "nan"
            return f"{good.mean():.3f} ± {good.std():.3f}"

        n_nan = sum(not np.isfinite(r["vsc"]) for r in sub)
        active = np.nanmean([r["active"] for r in sub]) if n_nan < len(sub) else float("nan")
        units = sorted({r["units"] for r in sub})
        seconds = np.mean([r["seconds"] for r in sub])
        k = np.mean([r["pca_k"] for r in sub])
        diff = np.array([r["vsc"] - r["pca"] for r in sub], dtype=float)
        diff = diff[np.isfinite(diff)]
        gap = f"{diff.mean():+.3f} ± {diff.std() / np.sqrt(diff.size):.3f}" if diff.size else "nan"
        print(
            f"| {name} | {sub[0]['n_features']} | {stat('vsc')} | {stat('pca')} | {stat('raw')} "
            f"| {active:.1f} | {units} | {n_nan}/{len(sub)} | {seconds:.1f} | {k:.1f} | {gap} |"
        )


if __name__ == "__main__":
    main()
