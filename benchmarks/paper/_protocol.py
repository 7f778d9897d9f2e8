"""The protocol shared by the paper benchmarks: data, splits, metrics, tables.

Only the public estimator API is used. Data come from ``--data-dir``, else the
``SKVSC_DATA`` environment variable, else skvsc's data home (see
``skvsc.datasets.get_data_home``); the dataset ``digits`` (scikit-learn's digits
scaled to 28 x 28, no download) serves smoke runs.
"""

import argparse
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import load_split

from skvsc.datasets import get_data_home

#: Seed of the fixed random subset of labelled training images.
LABEL_SEED = 0
N_LABELS = 5000


def data_dir(arg):
    return get_data_home(arg)  # --data-dir, else $SKVSC_DATA, else skvsc's cache


def add_common_args(parser):
    parser.add_argument("--data-dir", default=None, help="folder with mnist/ and fashion-mnist/")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (n_threads)")
    parser.add_argument("--out", default=None, help="append one JSON line per result here")
    parser.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="use only the first N images of each split "
        "(smoke tests; results are then not comparable)",
    )
    return parser


def load(dataset, directory, split, n=None):
    """Images in [0, 1] and labels of a split (the first ``n`` with ``n``)."""
    return load_split(dataset, directory, split, n)


def label_subset(n_train, n_labels=N_LABELS, seed=LABEL_SEED):
    """Fixed random subset of training indices that keep their labels."""
    rng = np.random.RandomState(seed)
    return np.sort(rng.choice(n_train, min(n_labels, n_train), replace=False))


def logreg_accuracy(Z_train, y_train, Z_test, y_test):
    """Test accuracy of LogisticRegression on codes (fixed settings)."""
    clf = LogisticRegression(max_iter=1000)
    clf.fit(Z_train, y_train)
    return float(clf.score(Z_test, y_test))


#: The grid of :func:`tuned_logreg_accuracy`: LogisticRegression's ``C``, and whether each
#: unit is first scaled by its largest absolute value on the labelled codes.
TUNED_C = (0.01, 0.03, 0.1, 0.3, 1, 3)


def tuned_logreg_accuracy(Z_train, y_train, Z_test, y_test):
    """Test accuracy of LogisticRegression with ``C`` and a per-unit max-abs scaling
    chosen by 5-fold cross-validation on the labelled codes only (the test codes
    are not seen), and the choice: ``(accuracy, {"C", "scaled", "cv_accuracy"})``.

    The fixed settings of :func:`logreg_accuracy` suit codes of some scales better
    than others (docs/images_screens.md, "The classifier's settings").
    """
    pipe = Pipeline([("scale", "passthrough"), ("clf", LogisticRegression(max_iter=2000))])
    grid = {"scale": ["passthrough", MaxAbsScaler()], "clf__C": list(TUNED_C)}
    search = GridSearchCV(pipe, grid, cv=5).fit(Z_train, y_train)
    choice = {
        "C": search.best_params_["clf__C"],
        "scaled": search.best_params_["scale"] != "passthrough",
        "cv_accuracy": float(search.best_score_),
    }
    return float(search.score(Z_test, y_test)), choice


def sparsity_stats(Z_train, Z_test):
    """Dead units (never non-zero on the training set), non-zero fraction and
    active units per sample on the test set."""
    alive = np.asarray((Z_train != 0).any(axis=0))
    active = np.asarray((Z_test != 0).sum(axis=1), dtype=float)
    return {
        "dead": int((~alive).sum()),
        "alive": int(alive.sum()),
        "nonzero": float(active.mean() / Z_test.shape[1]),
        "active_per_sample": float(active.mean()),
        "empty_codes": float((active == 0).mean()),
    }


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def emit(row, out=None):
    """Print a result row as JSON and append it to ``out``."""
    line = json.dumps(row, default=float)
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def read_rows(path):
    """The rows of a file written by :func:`emit`."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def print_table(rows, columns, title=None):
    """Markdown table of the given columns of a list of dicts."""
    if title:
        print(f"\n### {title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col, "")
            if isinstance(value, float):
                value = f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
            cells.append(str(value))
        print("| " + " | ".join(cells) + " |")
    print(flush=True)


def parser(description):
    return add_common_args(argparse.ArgumentParser(description=description))


# -- fitting with a cache of fitted estimators ---------------------------------
def model_params(kind, n_components, alpha, epochs, seed, threads, extra=None):
    """Constructor arguments of a benchmark model; everything else is default."""
    params = dict(n_components=n_components, random_state=seed, n_threads=threads)
    if epochs is not None:  # None: the estimator's default max_iter
        params["max_iter"] = epochs
    if kind == "vsc":
        params["alpha"] = alpha
    params.update(extra or {})
    return params


#: The options whose ``"auto"`` changed for images when they got the tied gate and
#: the subsidy-only rate controller (docs/results.md, "Reviving the tied gate's
#: units"): a cached VSC fit that left one of them unset was fitted with the old
#: defaults, so the cache keys of such fits say which defaults they use.
AUTO_SINCE_TIED = ("gate", "rate_control")


def with_defaults_tag(key, kind):
    """``key`` of a cached fit, tagged when ``kind`` is a VSC whose parameters leave
    an option of :data:`AUTO_SINCE_TIED` to ``"auto"`` (the keys of other fits, and
    of VSC fits that set them, are unchanged).

    A VSC fit that trains the short code (``fit_n_nonzero_coefs``) and leaves its
    weight unset gets the weight's default in its key: that default changed (0.25,
    then 1.0), and keys written before held no weight, so no fit of a former weight
    is reused as one of today's.
    """
    if "vsc" not in kind:
        return key
    if any(key.get(name, "auto") == "auto" for name in AUTO_SINCE_TIED):
        key = {**key, "defaults": "tied"}
    if key.get("fit_n_nonzero_coefs") is not None and "fit_n_nonzero_weight" not in key:
        from skvsc import VariationalSparseCoder

        weight = VariationalSparseCoder().get_params()["fit_n_nonzero_weight"]
        key = {**key, "fit_n_nonzero_weight": weight}
    return key


def fit_cached(kind, dataset, X, params, cache=None, out=None):
    """Fit ``VAETransformer`` (kind "vae") or ``VariationalSparseCoder`` ("vsc")
    on ``X``; reuse a pickled fit from ``cache`` when the same one was made.

    Returns ``(model, fit_seconds)``; the fit time of a cached model is the one
    measured when it was fitted.
    """
    from skvsc import VAETransformer, VariationalSparseCoder

    cls = VAETransformer if kind == "vae" else VariationalSparseCoder
    key = with_defaults_tag({k: v for k, v in sorted(params.items()) if k != "n_threads"}, kind)
    name = f"{dataset}{X.shape[0]}-{kind}-" + "-".join(f"{k}={v}" for k, v in key.items()) + ".pkl"
    path = Path(cache) / name.replace(" ", "") if cache else None
    if path is not None and path.exists():
        with open(path, "rb") as f:
            model, seconds = pickle.load(f)
        model.set_params(n_threads=params.get("n_threads"))
        return model, seconds
    model = cls(**params)
    with Timer() as t:
        model.fit(X)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump((model, t.seconds), f)
    return model, t.seconds


#: Training images that fit the representation in a validation run (the rest evaluate).
N_VALIDATION_FIT = 50000


def splits(dataset, directory, validation, n_train=None):
    """(X_fit, y_fit, X_eval, y_eval): the training and test sets, or the
    validation split of the training set (fit on 0..49,999, evaluate on the
    rest)."""
    X, y = load(dataset, directory, "train", n_train)
    if validation:
        cut = N_VALIDATION_FIT if n_train is None else (4 * len(X)) // 5
        return X[:cut], y[:cut], X[cut:], y[cut:]
    X_test, y_test = load(dataset, directory, "test", n_train)
    return X, y, X_test, y_test


def cached(cache, key, fit):
    """``fit()`` -> model, timed; reuse a pickle named after ``key`` in ``cache``.

    Returns ``(model, fit_seconds, from_cache)``; the fit time of a cached model
    is the one measured when it was fitted.
    """
    path = None
    key = with_defaults_tag(key, key["method"])
    if cache:
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        path = Path(cache).expanduser() / f"sparse-{key['method']}-{key['dataset']}-{digest}.pkl"
        if path.exists():
            with open(path, "rb") as f:
                model, seconds = pickle.load(f)
            return model, seconds, True
    with Timer() as t:
        model = fit()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump((model, t.seconds), f)
    return model, t.seconds, False
