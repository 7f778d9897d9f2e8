"""Validation quality of the default training at several epoch budgets.

How many epochs does a mid-sized data set need? ``max_iter="auto"`` used to aim
at about 8,000 optimizer steps, which is 18 epochs on the 60,000 MNIST images
but 151 on the 6,667 images of a 3-fold split of 10,000 (the README's grid
search on MNIST); this screen led to the rule that replaced it (54 epochs there).
Fits ``VariationalSparseCoder`` with each ``--max-iters`` budget
(the schedule scales with it) on the first ``--n-fit`` MNIST training images
and scores the next ``--n-val`` training images (a validation split; the test
set is not used): -ELBO, LogisticRegression accuracy on the codes (trained on
the codes of the fitted images' first 5,000), non-zeros, dead units, epochs run
and fit seconds. One JSON line per fit goes to ``--out``.

    python benchmarks/paper/budget_screen.py --n-fit 6667 --n-val 2000 \\
        --max-iters 20,40,80,auto --seeds 0,1 --threads 1 \\
        --out benchmarks/paper/results/budget_screen.jsonl
"""

import argparse
import json

from _protocol import Timer, add_common_args, data_dir, emit, load, logreg_accuracy, sparsity_stats

from skvsc import VariationalSparseCoder


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--n-fit", type=int, default=6667)
    parser.add_argument("--n-val", type=int, default=2000)
    parser.add_argument("--max-iters", default="20,40,80,auto", help="comma-separated budgets")
    parser.add_argument("--params", default="{}", help="other estimator parameters (JSON)")
    parser.add_argument("--seeds", default="0", help="comma-separated random_state values")
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion", "digits"])
    args = parser.parse_args(argv)
    X, y = load(args.dataset, data_dir(args.data_dir), "train", args.n_fit + args.n_val)
    X_fit, X_val, y_fit, y_val = X[: args.n_fit], X[args.n_fit :], y[: args.n_fit], y[args.n_fit :]
    n_labels = min(5000, args.n_fit)
    extra = json.loads(args.params)
    for seed in [int(s) for s in args.seeds.split(",")]:
        for budget in args.max_iters.split(","):
            max_iter = budget if budget == "auto" else int(budget)
            est = VariationalSparseCoder(
                max_iter=max_iter, random_state=seed, n_threads=args.threads, **extra
            )
            with Timer() as timer:
                est.fit(X_fit)
            Z_fit, Z_val = est.transform(X_fit[:n_labels]), est.transform(X_val)
            emit(
                {
                    "script": "budget_screen",
                    "dataset": args.dataset,
                    "params": extra,
                    "max_iter": max_iter,
                    "seed": seed,
                    "n_fit": args.n_fit,
                    "epochs": est.n_iter_,
                    "fit_s": timer.seconds,
                    "neg_elbo_val": float(-est.score(X_val)),
                    "accuracy_val": logreg_accuracy(Z_fit, y_fit[:n_labels], Z_val, y_val),
                    **sparsity_stats(Z_fit, Z_val),
                },
                args.out,
            )


if __name__ == "__main__":
    main()
