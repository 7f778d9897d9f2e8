"""Wall time of the README's grid search on 10,000 MNIST images (a user-level figure).

The README's quick start with MNIST in place of the digits, as its text says:
``GridSearchCV(Pipeline([("vsc", VariationalSparseCoder(alpha=0.01,
n_components=64, random_state=0)), ("clf", SVC())]), {"vsc__alpha": [0.01,
0.1, 0.5], "vsc__n_components": [16, 64]}, cv=3, n_jobs=2)`` (19 fits) on the
first ``--n-train`` MNIST training images, scored on the 10,000 test images.
``--max-iter`` sets the estimator's ``max_iter`` (default: not set, i.e. the
default ``"auto"``; ``100`` was the default before ``"auto"``).

    python benchmarks/readme_grid.py                  # the defaults
    python benchmarks/readme_grid.py --max-iter 100   # the former default budget
"""

import argparse
import json
import os
import time

from _common import load_split  # first: puts this checkout's skvsc on sys.path
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from skvsc import VariationalSparseCoder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="holds mnist/ ($SKVSC_DATA)")
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--max-iter", type=int, default=None)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", default=None, help="append the JSON result here")
    parser.add_argument("--dataset", choices=["mnist", "digits"], default="mnist")
    args = parser.parse_args(argv)
    X, y = load_split(args.dataset, args.data_dir, "train", args.n_train)
    X_test, y_test = load_split(args.dataset, args.data_dir, "test")
    params = {"alpha": 0.01, "n_components": 64, "random_state": 0}
    if args.max_iter is not None:
        params["max_iter"] = args.max_iter
    pipe = Pipeline([("vsc", VariationalSparseCoder(**params)), ("clf", SVC())])
    grid = {"vsc__alpha": [0.01, 0.1, 0.5], "vsc__n_components": [16, 64]}
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=args.n_jobs)
    start = time.perf_counter()
    search.fit(X, y)
    wall = time.perf_counter() - start
    vsc = search.best_estimator_["vsc"]
    row = {
        "script": "readme_grid",
        "dataset": args.dataset,
        "max_iter": args.max_iter or "auto",
        "n_train": args.n_train,
        "n_jobs": args.n_jobs,
        "wall_s": wall,
        "best_params": search.best_params_,
        "best_epochs": vsc.n_iter_,
        "test_accuracy": float(search.score(X_test, y_test)),
        "load_1min": os.getloadavg()[0],
    }
    print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
