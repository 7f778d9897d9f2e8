"""Choose the VSC training defaults on a validation split of the training set.

MNIST (or Fashion-MNIST) training images 0..49,999 train the model, images
50,000..59,999 are the validation set (on other data, the last sixth); the test
set is never read. A fixed
random subset of 5,000 of the 50,000 keeps its labels. For each setting the
script reports, for VariationalSparseCoder(alpha=0.01, n_components=200):
LogisticRegression accuracy of the sparse code (``transform``) and of the dense
``encode_mean``, dead units (never active on the 50,000), active units per
sample, the validation -ELBO and the fit time.

Example::

    python benchmarks/paper/screen_defaults.py --epochs 15 \
        --config '{"kl_warmup": 0.5, "usage_weight": 1.0}'
"""

import json

import numpy as np
from _protocol import (  # first: puts this checkout's skvsc on sys.path
    Timer,
    data_dir,
    emit,
    label_subset,
    load,
    logreg_accuracy,
    parser,
    sparsity_stats,
)

from skvsc import VariationalSparseCoder


def evaluate(model, X_tr, y_tr, X_val, y_val, labelled):
    Z_tr, Z_val = model.transform(X_tr), model.transform(X_val)
    row = sparsity_stats(Z_tr, Z_val)
    row["acc_code"] = logreg_accuracy(Z_tr[labelled], y_tr[labelled], Z_val, y_val)
    mu_tr, mu_val = model.encode_mean(X_tr[labelled]), model.encode_mean(X_val)
    row["acc_mu"] = logreg_accuracy(mu_tr, y_tr[labelled], mu_val, y_val)
    row["neg_elbo_val"] = -model.score(X_val)
    return row


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion", "digits"])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--alpha", type=float, default=0.01)
    p.add_argument("--n-components", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", action="append", default=[], help="JSON dict of VSC params")
    args = p.parse_args(argv)
    X, y = load(args.dataset, data_dir(args.data_dir), "train", args.n_train)
    cut = 50000 if len(X) == 60000 else (5 * len(X)) // 6  # the last sixth validates
    X_tr, y_tr, X_val, y_val = X[:cut], y[:cut], X[cut:], y[cut:]
    labelled = label_subset(len(X_tr))
    for config in args.config or ["{}"]:
        params = dict(
            n_components=args.n_components,
            alpha=args.alpha,
            max_iter=args.epochs,
            random_state=args.seed,
            n_threads=args.threads,
        )
        params.update(json.loads(config))
        model = VariationalSparseCoder(**params)
        with Timer() as t:
            model.fit(X_tr)
        row = {
            "dataset": args.dataset,
            "config": config,
            "seed": args.seed,
            "epochs": model.n_iter_,
        }
        row.update(evaluate(model, X_tr, y_tr, X_val, y_val, labelled))
        row["fit_s"] = t.seconds
        row["train_active_curve"] = [round(h["active_units"], 2) for h in model.history_]
        emit(row, args.out)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
