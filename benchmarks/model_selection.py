"""Label-free model selection on the digits and on MNIST: the ELBO against the estimated log p(x).

For every ``(alpha, n_components)`` of the grid and every fold of a 3-fold
split, fits ``VariationalSparseCoder`` on the training part and records on the
held-out part: the ELBO (``score``), the importance-sampled ``log p(x)``
(``score(X, n_draws=...)``), and the accuracy of a ``LogisticRegression``
trained on the codes of the training part (the labelled grid's criterion).
Each criterion picks the setting with the best mean over the folds.

- ``--dataset digits``: scikit-learn's digits (X / 16); the table shows what
  each pick classifies in the cross-validation.
- ``--dataset mnist``: a ``--n-train`` subset of the MNIST training set (fixed
  seed). Each pick's first-fold model then codes ``--n-labelled`` images of the
  subset, a ``LogisticRegression(max_iter=1000)`` is trained on those codes and
  scored on the 10,000 test images.

    python benchmarks/model_selection.py                # the digits grid
    python benchmarks/model_selection.py --dataset mnist --data-dir DIR --max-iter 15 \\
        --n-draws 100 --n-is-rows 1000 --cache-dir CACHE
    python benchmarks/model_selection.py --quick        # two settings, to check it runs

Rows (and, for MNIST, the first fold's models) are cached in ``--cache-dir``
(under /tmp by default); nothing is written into the repository.
"""

import argparse
import itertools
import json
import pickle
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
from skvsc.datasets import load_mnist

GRID = {"alpha": [0.01, 0.05, 0.2, 0.5], "n_components": [16, 64, 200]}
CRITERIA = ("elbo", "log_likelihood", "accuracy")


def code_stats(Z):
    """Non-zeros per image, the share of all-zero codes and the units never active."""
    active = Z != 0
    return {
        "active_units": float(active.sum(axis=1).mean()),
        "empty_codes": float((active.sum(axis=1) == 0).mean()),
        "dead_units": int((~active.any(axis=0)).sum()),
    }


def evaluate(params, X, y, folds, args, model_path=None):
    rows = []
    for fold, (train, test) in enumerate(folds):
        options = {} if args.max_iter is None else {"max_iter": args.max_iter}
        est = VariationalSparseCoder(random_state=args.seed, n_threads=1, **options, **params)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            est.fit(X[train])
        fit_seconds = time.perf_counter() - start
        if fold == 0 and model_path is not None:
            model_path.write_bytes(pickle.dumps(est))
        Z_train, Z_test = est.transform(X[train]), est.transform(X[test])
        clf = LogisticRegression(max_iter=args.lr_max_iter).fit(Z_train, y[train])
        is_rows = test[: args.n_is_rows]
        start = time.perf_counter()
        log_likelihood = est.score(X[is_rows], n_draws=args.n_draws)
        rows.append(
            {
                **params,
                "fold": fold,
                "elbo": est.score(X[test]),
                "elbo_is_rows": est.score(X[is_rows]),
                "log_likelihood": log_likelihood,
                "accuracy": clf.score(Z_test, y[test]),
                **code_stats(Z_test),
                "fit_seconds": fit_seconds,
                "is_seconds": time.perf_counter() - start,
                "n_epochs": est.n_iter_,
            }
        )
    return rows


def load(args):
    """Training data, labels, and (MNIST only) the test images and labels."""
    if args.dataset == "digits":
        X, y = load_digits(return_X_y=True)
        return (X / 16.0).astype(np.float32), y, None, None
    X, y = load_mnist(args.data_dir, download=False, progress=False)
    X_test, y_test = load_mnist(args.data_dir, split="test", download=False, progress=False)
    subset = np.random.default_rng(args.seed).choice(len(X), args.n_train, replace=False)
    return X[subset], y[subset], X_test, y_test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    parser.add_argument("--data-dir", default=None, help="holds mnist/ ($SKVSC_DATA)")
    parser.add_argument("--n-train", type=int, default=10_000, help="MNIST subset size")
    parser.add_argument("--n-labelled", type=int, default=5_000, help="MNIST labelled codes")
    parser.add_argument("--max-iter", type=int, default=None, help="epochs (default: auto)")
    parser.add_argument("--n-draws", type=int, default=500)
    parser.add_argument("--n-is-rows", type=int, default=None, help="held-out rows for IS")
    parser.add_argument("--lr-max-iter", type=int, default=2000)
    parser.add_argument("--n-components", default=None, help="comma-separated, replaces the grid's")
    parser.add_argument("--alpha", default=None, help="comma-separated, replaces the grid's")
    parser.add_argument("--cache-dir", default="/tmp/skvsc_model_selection")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None, help="also write the final rows here (JSONL)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X, y, X_test, y_test = load(args)
    if args.quick and args.dataset == "mnist":
        X, y = X[:600], y[:600]
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    tag = (
        f"{args.dataset}-n{len(X)}-it{args.max_iter}-d{args.n_draws}-r{args.n_is_rows}"
        f"-lr{args.lr_max_iter}-s{args.seed}"
    )
    cache_dir = Path(args.cache_dir) / tag
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir / "rows.jsonl"
    done = [json.loads(line) for line in cache.read_text().splitlines()] if cache.exists() else []
    grid_values = dict(GRID)
    if args.n_components:
        grid_values["n_components"] = [int(v) for v in args.n_components.split(",")]
    if args.alpha:
        grid_values["alpha"] = [float(v) for v in args.alpha.split(",")]
    grid = [dict(zip(grid_values, v)) for v in itertools.product(*grid_values.values())]
    if args.quick:
        grid = grid[:2]

    def model_path(alpha, n_components):
        return cache_dir / f"alpha{alpha}-J{n_components}-fold0.pkl"

    for params in grid:
        if any(all(r[k] == v for k, v in params.items()) for r in done):
            continue
        path = model_path(**params) if args.dataset == "mnist" else None
        rows = evaluate(params, X, y, folds, args, path)
        with open(cache, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        done.extend(rows)
        print(json.dumps({k: rows[0][k] for k in ("alpha", "n_components", "fit_seconds")}))
    table = {}
    for r in done:
        key = (r["alpha"], r["n_components"])
        if any(dict(zip(GRID, key)) == p for p in grid):
            table.setdefault(key, []).append(r)
    means = {
        key: {m: float(np.mean([r[m] for r in rows])) for m in rows[0] if m not in GRID}
        for key, rows in table.items()
    }
    print(
        "\n| alpha | J | ELBO | log p(x) (IS) | gap | accuracy | active units | empty codes "
        "| dead units | fit s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (alpha, J), m in sorted(means.items()):
        print(
            f"| {alpha} | {J} | {m['elbo']:.2f} | {m['log_likelihood']:.2f} | "
            f"{m['log_likelihood'] - m['elbo_is_rows']:.2f} | {100 * m['accuracy']:.1f} % | "
            f"{m['active_units']:.1f} | {100 * m['empty_codes']:.0f} % | "
            f"{m['dead_units']:.1f} | {m['fit_seconds']:.0f} |"
        )
    print()
    picks = {}
    for criterion in CRITERIA:
        (alpha, J), m = max(means.items(), key=lambda item: item[1][criterion])
        picks[criterion] = (alpha, J)
        print(
            f"{criterion:>15} picks alpha={alpha}, n_components={J}: accuracy "
            f"{100 * m['accuracy']:.1f} %, {m['active_units']:.1f} active units"
        )
    final = labelled_choice(picks, X, y, X_test, y_test, args, model_path, tag)
    if args.out:
        with open(args.out, "w") as f:
            for row in [{"config": tag, **r} for r in done] + final:
                f.write(json.dumps(row) + "\n")


def labelled_choice(picks, X, y, X_test, y_test, args, model_path, tag):
    """MNIST: each pick's first-fold model codes ``n_labelled`` images of the subset; a
    classifier trained on those codes is scored on the whole test set."""
    if X_test is None:
        return []
    labelled = slice(0, args.n_labelled)
    final = []
    print("\n| criterion | picks | test accuracy | non-zeros per image | dead units |")
    print("|---|---|---|---|---|")
    for criterion, (alpha, J) in picks.items():
        est = pickle.loads(model_path(alpha, J).read_bytes())
        clf = LogisticRegression(max_iter=1000).fit(est.transform(X[labelled]), y[labelled])
        Z_test = est.transform(X_test)
        row = {
            "criterion": criterion,
            "alpha": alpha,
            "n_components": J,
            "test_accuracy": clf.score(Z_test, y_test),
            **code_stats(Z_test),
            "config": tag,
        }
        final.append(row)
        print(
            f"| {criterion} | alpha {alpha}, J {J} | {100 * row['test_accuracy']:.1f} % | "
            f"{row['active_units']:.1f} | {row['dead_units']} |"
        )
    return final


if __name__ == "__main__":
    main()
