"""Missing values on scikit-learn's bundled tables: masked fit against mean imputation.

For breast cancer, wine, iris (LogisticRegression, accuracy) and diabetes
(Ridge, R2): a fraction of the entries of X is removed at random (NaN; drawn
once per table, seed and fraction), then 5-fold cross-validation (stratified
for the classifiers, shuffled with each seed), 3 seeds by default. Two
pipelines, each with the same VSC parameters and the same downstream model:

- ``masked``: ``[VariationalSparseCoder(random_state=seed), model]`` on the
  data with NaN (the missing entries are left out of the likelihood and the
  encoder sees the mask);
- ``mean``: ``[SimpleImputer(strategy="mean"), VariationalSparseCoder(...),
  model]``.

Per table and fraction: the mean score of each pipeline (and its standard
deviation over the folds) and the mean of the per-fold differences (with its
standard error).
Nothing is written unless ``--json PATH`` is given::

    OMP_NUM_THREADS=1 nice python benchmarks/tables_missing.py
    OMP_NUM_THREADS=1 nice python benchmarks/tables_missing.py --json /tmp/missing.json
    python benchmarks/tables_missing.py --summarize /tmp/missing.json  # of a partial run
"""

import argparse
import json
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline

from skvsc import VariationalSparseCoder

try:  # run as a script from the repository root or as a module
    from tables import TABLES, downstream, folds
except ImportError:  # pragma: no cover
    from benchmarks.tables import TABLES, downstream, folds


def remove_entries(X, fraction, seed):
    """``X`` with ``fraction`` of its entries set to NaN, at random."""
    rng = np.random.default_rng([seed, round(1000 * fraction)])
    X = X.astype(float).copy()
    X[rng.random(X.shape) < fraction] = np.nan
    return X


def run_fold(X, y, train, test, task, seed, vsc_params):
    row = {}
    for name, front in (("masked", []), ("mean", [SimpleImputer(strategy="mean")])):
        vsc = VariationalSparseCoder(random_state=seed, n_threads=1, **vsc_params)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe = make_pipeline(*front, vsc, clone(downstream(task))).fit(X[train], y[train])
            row[name] = float(pipe.score(X[test], y[test]))
        row[f"{name}_seconds"] = time.perf_counter() - start
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--fractions", default="0.2,0.1,0.3")
    parser.add_argument("--params", default="{}", help="VSC parameters as JSON")
    parser.add_argument("--json", default=None, help="write the per-fold rows here")
    parser.add_argument("--summarize", default=None, help="print the table of a --json file")
    args = parser.parse_args(argv)
    if args.summarize:
        with open(args.summarize) as f:
            return summarize(json.load(f)["rows"])
    vsc_params = json.loads(args.params)
    seeds = [int(s) for s in args.seeds.split(",")]
    fractions = [float(f) for f in args.fractions.split(",")]
    rows = []
    for fraction in fractions:  # the fraction of the target (20 %) first
        for name in args.tables.split(","):
            loader, task = TABLES[name]
            X_full, y = loader(return_X_y=True)
            for seed in seeds:
                X = remove_entries(X_full, fraction, seed)
                for i, (train, test) in enumerate(folds(task, seed).split(X, y)):
                    row = run_fold(X, y, train, test, task, seed, vsc_params)
                    row.update(table=name, fraction=fraction, seed=seed, fold=i)
                    rows.append(row)
                    if args.json:  # after every fold: a partial run can be summarised
                        with open(args.json, "w") as f:
                            json.dump({"args": vars(args), "rows": rows}, f, indent=1)
    print(f"params={args.params} seeds={args.seeds}")
    summarize(rows)


def summarize(rows):
    """Print the table of ``rows`` (also of a partial run: ``--summarize JSON``)."""
    print("| table | missing | folds | masked | mean imputation | masked - mean | s/fit |")
    print("|---|---|---|---|---|---|---|")
    for fraction in sorted({r["fraction"] for r in rows}):
        for name in dict.fromkeys(r["table"] for r in rows):
            sub = [r for r in rows if r["table"] == name and r["fraction"] == fraction]
            if not sub:
                continue
            masked = np.array([r["masked"] for r in sub])
            mean = np.array([r["mean"] for r in sub])
            diff = masked - mean
            seconds = np.mean([r["masked_seconds"] for r in sub])
            print(
                f"| {name} | {fraction:.0%} | {len(sub)} "
                f"| {masked.mean():.3f} ± {masked.std():.3f} "
                f"| {mean.mean():.3f} ± {mean.std():.3f} "
                f"| {diff.mean():+.3f} ± {diff.std() / np.sqrt(len(diff)):.3f} | {seconds:.1f} |"
            )


if __name__ == "__main__":
    main()
