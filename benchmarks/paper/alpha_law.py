"""The law of ``alpha`` on scikit-learn's digits: fraction of non-zeros of the code.

For every ``alpha`` and ``n_components`` asked for, fits
``VariationalSparseCoder(alpha=..., n_components=..., random_state=seed)``
(other parameters at their defaults) on the README pipeline's split of
``load_digits().data / 16`` (stratified 75/25, ``random_state=0``), and appends
one JSON row: the mean fraction of non-zeros of the test codes, active units per
code, empty codes, dead units (never active on a training image), epochs, fit
seconds, and the accuracy of an SVC and a LogisticRegression trained on the
training codes. MNIST / Fashion-MNIST rows come from ``sparse_baselines.py``
(``--methods vsc``, alpha = k / 200) and ``default_codes.py``.

Example (the digits rows of ``docs/results.md`` section 2)::

    OMP_NUM_THREADS=1 python benchmarks/paper/alpha_law.py --alpha 0.01 0.02 0.05 0.1 \\
        --n-components 64 200 --out benchmarks/paper/results/alpha_law_digits.jsonl
"""

import argparse

from _protocol import Timer, emit, sparsity_stats  # puts skvsc on sys.path
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from skvsc import VariationalSparseCoder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.01, 0.02, 0.05, 0.1])
    parser.add_argument("--n-components", type=int, nargs="+", default=[64, 200])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default=None, help="append the JSON rows here")
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, stratify=y, random_state=0
    )
    for seed in args.seeds:
        for n_components in args.n_components:
            for alpha in args.alpha:
                params = dict(alpha=alpha, n_components=n_components, random_state=seed)
                with Timer() as t:
                    vsc = VariationalSparseCoder(n_threads=1, **params).fit(X_train)
                Z_train, Z_test = vsc.transform(X_train), vsc.transform(X_test)
                row = {
                    "what": "alpha_law",
                    "dataset": "digits",
                    "params": params,
                    "alpha_times_J": alpha * n_components,
                    **sparsity_stats(Z_train, Z_test),
                    "svc": SVC().fit(Z_train, y_train).score(Z_test, y_test),
                    "logreg": LogisticRegression(max_iter=2000)
                    .fit(Z_train, y_train)
                    .score(Z_test, y_test),
                    "epochs": int(vsc.n_iter_),
                    "fit_s": round(t.seconds, 1),
                }
                emit(row, args.out)


if __name__ == "__main__":
    main()
