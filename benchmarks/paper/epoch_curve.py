"""Quality against epochs of the default training on a training subset.

How many epochs does ``max_iter="auto"`` need on mid-sized data (the README's
grid search fits 8,000 images per fold)? Fits ``VariationalSparseCoder`` one
``partial_fit`` epoch at a time on the first ``--n-fit`` MNIST training images
(the schedule is that of ``max_iter``) and, after each epoch, scores the next
``--n-val`` training images (a validation split; the test set is not used):
-ELBO, LogisticRegression accuracy on the codes (trained on the codes of the
fitted images' first 5,000), non-zeros, dead units, and the training seconds.
One JSON line per epoch goes to ``--out``.

    python benchmarks/paper/epoch_curve.py --n-fit 8000 --n-val 2000 \\
        --params '{"n_components": 200}' --out results/epoch_curve.jsonl
"""

import argparse
import json
import time

from _common import add_common_args, data_dir, emit, load, logreg_accuracy, sparsity_stats

from skvsc import VariationalSparseCoder


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--n-fit", type=int, default=8000)
    parser.add_argument("--n-val", type=int, default=2000)
    parser.add_argument("--params", default="{}", help="estimator parameters (JSON)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=200, help="stop after this many")
    args = parser.parse_args(argv)
    X, y = load("mnist", data_dir(args.data_dir), "train", args.n_fit + args.n_val)
    X_fit, X_val, y_fit, y_val = X[: args.n_fit], X[args.n_fit :], y[: args.n_fit], y[args.n_fit :]
    params = {"random_state": args.seed, "n_threads": args.threads, **json.loads(args.params)}
    est = VariationalSparseCoder(**params)
    n_labels = min(5000, args.n_fit)
    train_s, epoch = 0.0, 0
    while True:  # partial_fit follows the schedule of max_iter (for 'auto': of X_fit)
        start = time.perf_counter()
        est.partial_fit(X_fit)
        train_s += time.perf_counter() - start
        epoch += 1
        Z_fit, Z_val = est.transform(X_fit[:n_labels]), est.transform(X_val)
        row = {
            "script": "epoch_curve",
            "params": json.loads(args.params),
            "seed": args.seed,
            "n_fit": args.n_fit,
            "epoch": epoch,
            "train_s": train_s,
            "neg_elbo_val": float(-est.score(X_val)),
            "accuracy_val": logreg_accuracy(Z_fit, y_fit[:n_labels], Z_val, y_val),
            **sparsity_stats(Z_fit, Z_val),
        }
        emit(row, args.out)
        if epoch >= args.max_epochs:
            break


if __name__ == "__main__":
    main()
