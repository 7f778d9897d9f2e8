"""Screen: the slab KL weight on an image set (validation split, no test images).

Fits ``VariationalSparseCoder(n_components=200, alpha=..., slab_kl_weight=...)`` on
the first 20,000 training images (31 epochs, ``max_iter="auto"`` for that size) and
scores the sparse code on training images 50,000-59,999 with the protocol of
``alpha_tightness.py`` (LogisticRegression on the codes of 5,000 labelled
images): accuracy, non-zeros, dead units and fit time, one JSON line per weight.
Used to check that the narrow inputs' ``slab_kl_weight="auto"`` of 0.01 does not
belong to images (docs/tables_screens.md).

Example::

    python benchmarks/paper/slab_kl_screen.py --alpha 0.05 --weights 0.01 --threads 1 \
        --out benchmarks/paper/results/slab_kl_screen.jsonl
"""

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


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion", "digits"])
    p.add_argument("--n-fit", type=int, default=20000, help="fit on the first N images")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--weights", type=float, nargs="+", default=[0.01, 0.1])
    p.add_argument("--n-components", type=int, default=200)
    p.add_argument("--max-iter", default="auto", help='epochs ("auto": the default)')
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    X, y = load(args.dataset, data_dir(args.data_dir), "train", args.n_train)
    if len(X) == 60000:
        X_tr, y_tr, X_val, y_val = X[: args.n_fit], y[: args.n_fit], X[50000:], y[50000:]
    else:
        cut = (5 * len(X)) // 6  # the last sixth validates
        X_tr, y_tr, X_val, y_val = (
            X[: min(args.n_fit, cut)],
            y[: min(args.n_fit, cut)],
            X[cut:],
            y[cut:],
        )
    labelled = label_subset(len(X_tr))
    max_iter = args.max_iter if args.max_iter == "auto" else int(args.max_iter)
    for weight in args.weights:
        model = VariationalSparseCoder(
            n_components=args.n_components,
            alpha=args.alpha,
            slab_kl_weight=weight,
            max_iter=max_iter,
            random_state=args.seed,
            n_threads=args.threads,
        )
        with Timer() as t:
            model.fit(X_tr)
        Z_tr, Z_val = model.transform(X_tr), model.transform(X_val)
        row = {
            "dataset": args.dataset,
            "alpha": args.alpha,
            "slab_kl_weight": weight,
            "n_components": args.n_components,
            "n_fit": len(X_tr),
            "seed": args.seed,
            "epochs": model.n_iter_,
        }
        row.update(sparsity_stats(Z_tr, Z_val))
        row["accuracy"] = logreg_accuracy(Z_tr[labelled], y_tr[labelled], Z_val, y_val)
        row["fit_s"] = t.seconds
        emit(row, args.out)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
