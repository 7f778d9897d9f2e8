"""Sparse codes of the bundled tables: VSC against scikit-learn's DictionaryLearning.

The question of docs/tables.md: at equal downstream accuracy, which code has
fewer non-zeros per sample? For each table, 5-fold cross-validation
(stratified for the classifiers, shuffled with the seed):

- ``vsc``: ``[VariationalSparseCoder(random_state=seed), model]`` (defaults);
- ``dl``: ``[StandardScaler(), DictionaryLearning(n_components, alpha,
  transform_algorithm="lasso_lars", transform_alpha=alpha), model]`` for each
  ``alpha`` of ``--alphas``, with ``n_components`` the VSC's (auto) width.

Prints the mean score and the mean non-zeros per sample of the code of the
test rows, per pipeline::

    OMP_NUM_THREADS=1 nice python benchmarks/tables_dictionary.py --seeds 0
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.decomposition import DictionaryLearning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvsc import VariationalSparseCoder
from skvsc._widths import resolve_alpha, resolve_n_components

try:  # run as a script from the repository root or as a module
    from tables import TABLES, downstream, folds
except ImportError:  # pragma: no cover
    from benchmarks.tables import TABLES, downstream, folds


def score_and_nonzeros(pipe, X, y, train, test):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X[train], y[train])
        Z = pipe[:-1].transform(X[test])
    return float(pipe.score(X[test], y[test])), float((Z != 0).sum(axis=1).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--alphas", default="0.1,0.3,1,3")
    parser.add_argument("--max-iter", type=int, default=200, help="DictionaryLearning's")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    alphas = [float(a) for a in args.alphas.split(",")]
    print(f"seeds={args.seeds} max_iter={args.max_iter}")
    print("| table | code | units | score | non-zeros per sample | s/fold |")
    print("|---|---|---|---|---|---|")
    for name in args.tables.split(","):
        loader, task = TABLES[name]
        X, y = loader(return_X_y=True)
        # the default VSC's width: alpha and n_components "auto" for this table
        width = resolve_n_components("auto", X.shape[1], resolve_alpha("auto", X.shape[1]))
        makers = {"VSC (defaults)": None}
        makers.update({f"DictionaryLearning alpha={a:g}": a for a in alphas})
        for label, alpha in makers.items():
            results, start = [], time.perf_counter()
            for seed in seeds:
                for train, test in folds(task, seed).split(X, y):
                    if alpha is None:
                        code = [VariationalSparseCoder(random_state=seed, n_threads=1)]
                    else:
                        dl = DictionaryLearning(
                            width,
                            alpha=alpha,
                            max_iter=args.max_iter,
                            transform_algorithm="lasso_lars",
                            transform_alpha=alpha,
                            random_state=seed,
                        )
                        code = [StandardScaler(), dl]
                    pipe = make_pipeline(*code, clone(downstream(task)))
                    results.append(score_and_nonzeros(pipe, X, y, train, test))
            scores, nonzeros = np.array(results).T
            seconds = (time.perf_counter() - start) / len(results)
            print(
                f"| {name} | {label} | {width} | {scores.mean():.3f} ± {scores.std():.3f} "
                f"| {nonzeros.mean():.1f} | {seconds:.1f} |"
            )


if __name__ == "__main__":
    main()
