"""Label-free model selection on the digits: the ELBO against the estimated log p(x).

For every ``(alpha, n_components)`` of the grid and every fold of a 3-fold
split of scikit-learn's digits (X / 16), fits ``VariationalSparseCoder`` on
the training part and records on the held-out part: the ELBO (``score``), the
importance-sampled ``log p(x)`` (``score(X, n_draws=...)``), and the accuracy
of a ``LogisticRegression`` trained on the codes of the training part (the
labelled grid's criterion). Each criterion picks the setting with the best
mean over the folds; the table shows what each pick classifies.

    python benchmarks/model_selection.py                # the digits grid
    python benchmarks/model_selection.py --quick        # two settings, to check it runs

Rows are cached in ``--cache`` (under /tmp); nothing is written into the repository.
"""

import argparse
import itertools
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skvsc import VariationalSparseCoder

GRID = {"alpha": [0.01, 0.05, 0.2, 0.5], "n_components": [16, 64, 200]}


def evaluate(params, X, y, folds, n_draws, seed):
    rows = []
    for fold, (train, test) in enumerate(folds):
        est = VariationalSparseCoder(random_state=seed, n_threads=1, **params)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            est.fit(X[train])
        fit_seconds = time.perf_counter() - start
        Z_train, Z_test = est.transform(X[train]), est.transform(X[test])
        clf = LogisticRegression(max_iter=2000).fit(Z_train, y[train])
        rows.append(
            {
                **params,
                "fold": fold,
                "elbo": est.score(X[test]),
                "log_likelihood": est.score(X[test], n_draws=n_draws),
                "accuracy": clf.score(Z_test, y[test]),
                "active_units": float((Z_test != 0).sum(axis=1).mean()),
                "empty_codes": float(((Z_test != 0).sum(axis=1) == 0).mean()),
                "fit_seconds": fit_seconds,
            }
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="/tmp/skvsc_model_selection.jsonl")
    parser.add_argument("--n-draws", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    cache = Path(args.cache)
    done = [json.loads(line) for line in cache.read_text().splitlines()] if cache.exists() else []
    grid = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    if args.quick:
        grid = grid[:2]
    for params in grid:
        if any(all(r[k] == v for k, v in params.items()) for r in done):
            continue
        rows = evaluate(params, X, y, folds, args.n_draws, args.seed)
        with open(cache, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        done.extend(rows)
        print(json.dumps({k: rows[0][k] for k in params}), flush=True)
    table = {}
    for r in done:
        key = (r["alpha"], r["n_components"])
        if any(dict(zip(GRID, key)) == p for p in grid):
            table.setdefault(key, []).append(r)
    means = {
        key: {m: float(np.mean([r[m] for r in rows])) for m in rows[0] if m not in GRID}
        for key, rows in table.items()
    }
    print("\n| alpha | J | ELBO | log p(x) (IS) | gap | accuracy | active units | empty codes |")
    print("|---|---|---|---|---|---|---|---|")
    for (alpha, J), m in sorted(means.items()):
        print(
            f"| {alpha} | {J} | {m['elbo']:.2f} | {m['log_likelihood']:.2f} | "
            f"{m['log_likelihood'] - m['elbo']:.2f} | {100 * m['accuracy']:.1f} % | "
            f"{m['active_units']:.1f} | {100 * m['empty_codes']:.0f} % |"
        )
    print()
    for criterion in ("elbo", "log_likelihood", "accuracy"):
        (alpha, J), m = max(means.items(), key=lambda item: item[1][criterion])
        print(
            f"{criterion:>15} picks alpha={alpha}, n_components={J}: accuracy "
            f"{100 * m['accuracy']:.1f} %, {m['active_units']:.1f} active units"
        )


if __name__ == "__main__":
    main()
