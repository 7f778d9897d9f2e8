"""Test-set accuracy of VariationalSparseCoder's exact-sparse code (the headline table).

Fits ``VariationalSparseCoder(**params)`` (the defaults unless ``params`` says
otherwise) on the 60,000 training images, classifies the codes of a fixed
random 5,000 of them (``_protocol.label_subset``) with
LogisticRegression(max_iter=1000), scores the 10,000 test images, and appends
one JSON row (accuracy, non-zeros, active units per sample, empty codes, dead
units, test -ELBO, epochs, fit seconds and the training -ELBO curve).

Example (the rows of ``docs/results.md`` section 1)::

    SKVSC_DATA=/path/to/data OMP_NUM_THREADS=1 python benchmarks/paper/default_codes.py \
        mnist '{"random_state": 0, "max_iter": 18}' s0 \
        --out benchmarks/paper/results/default_codes.jsonl
"""

import argparse
import json

from _protocol import (  # puts skvsc on sys.path
    Timer,
    data_dir,
    emit,
    label_subset,
    load,
    logreg_accuracy,
    sparsity_stats,
)

from skvsc import VariationalSparseCoder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["mnist", "fashion", "digits"])
    parser.add_argument("params", help="JSON dict of VariationalSparseCoder parameters")
    parser.add_argument("tag", help="a name for the row")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=None, help="append the JSON row here")
    parser.add_argument("--n-train", type=int, default=None, help="first N images (smoke runs)")
    args = parser.parse_args(argv)
    params = json.loads(args.params)
    X_train, y_train = load(args.dataset, data_dir(args.data_dir), "train", args.n_train)
    X_test, y_test = load(args.dataset, data_dir(args.data_dir), "test", args.n_train)
    labelled = label_subset(len(X_train))
    with Timer() as t:
        vsc = VariationalSparseCoder(n_threads=1, **params).fit(X_train)
    Z_train, Z_test = vsc.transform(X_train), vsc.transform(X_test)
    row = {
        "dataset": args.dataset,
        "method": "vsc",
        "tag": args.tag,
        "params": params,
        "fit_s": round(t.seconds, 1),
        "accuracy": logreg_accuracy(Z_train[labelled], y_train[labelled], Z_test, y_test),
        **sparsity_stats(Z_train, Z_test),
        "neg_elbo_test": -vsc.score(X_test),
        "epochs": vsc.n_iter_,
        "curve": [round(h["loss"], 3) for h in vsc.history_],
    }
    emit(row, args.out)


if __name__ == "__main__":
    main()
