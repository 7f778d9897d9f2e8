"""Which units to keep when a VSC code is truncated to k non-zeros after fitting.

``VariationalSparseCoder(transform_n_nonzero_coefs=k)`` keeps the k active units of
largest magnitude ``|z_j|`` (the rows of ``same_units_as_estimator`` check it); before
this script's figures it kept those of highest activity probability ``gamma``. It
scores these rankings of the same fit's active units and the magnitude times the norm
of unit j's column in the decoder's first layer ``|z_j| * ||W_j||`` (how far the unit
moves the decoder). The fit is the pickled ``sparse_baselines.py`` fit of the same
settings (``--cache``; the script refits and caches it when absent).

Evaluation (``--eval``):

- ``holdout``: choose here, not on the test set. The fit is the one of the test
  rows (all 60,000 training images); LogisticRegression is trained on the codes of
  the fixed 5,000 labelled training images and scored on a fixed random 10,000 of
  the other 55,000 training images. The code saw those images when it was fitted
  (without labels), the classifier did not.
- ``test``: the 10,000 test images, once per chosen rule.

Example::

    OMP_NUM_THREADS=1 nice python benchmarks/paper/truncation_rank.py --alpha 0.1 \\
        --k 5 10 20 --cache ~/cache --eval holdout --out rows.jsonl
"""

import argparse

import numpy as np
from _protocol import cached, data_dir, emit, label_subset, logreg_accuracy, splits

RANKINGS = ("gamma", "magnitude", "magnitude_x_weight")


def keep_top(Z, score, k):
    """``Z`` with, per row, only its k non-zero entries of highest ``score``."""
    score = np.where(Z != 0, score, -np.inf)
    if k >= Z.shape[1]:
        return Z.copy()
    drop = np.argpartition(-score, k, axis=1)[:, k:]
    out = Z.copy()
    np.put_along_axis(out, drop, 0, axis=1)
    return out


def scores(model, X, Z, ranking):
    if ranking == "gamma":
        return model.activity_proba(X)
    if ranking == "magnitude":
        return np.abs(Z)
    weight = model.module_.decoder.first_layer().weight.detach().numpy()  # (hidden, J)
    return np.abs(Z) * np.linalg.norm(weight, axis=0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--alpha", type=float, default=0.1)
    p.add_argument("--n-components", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    p.add_argument("--rankings", nargs="+", default=list(RANKINGS), choices=RANKINGS)
    p.add_argument("--eval", choices=["holdout", "test"], default="holdout")
    p.add_argument("--cache", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n-train", type=int, default=None, help="smoke tests only")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    import torch

    from skvsc import VariationalSparseCoder

    torch.set_num_threads(args.threads)
    X, y, X_test, y_test = splits(args.dataset, data_dir(args.data_dir), False, args.n_train)
    labelled = label_subset(len(X))
    if args.eval == "holdout":
        # (smoke runs on few images: half of them labelled, so that some are held out)
        labelled = label_subset(len(X), min(len(labelled), len(X) // 2))
        others = np.setdiff1d(np.arange(len(X)), labelled)
        rng = np.random.RandomState(1)
        held = np.sort(rng.choice(others, min(10000, len(others)), replace=False))
        X_eval, y_eval = X[held], y[held]
    else:
        X_eval, y_eval = X_test, y_test
    # the key of sparse_baselines.py's vsc fits, so that the fit is shared
    params = dict(
        n_components=args.n_components, alpha=args.alpha, random_state=args.seed, max_iter="auto"
    )
    key = dict(method="vsc", dataset=args.dataset, n_fit=len(X), **params)
    model, _, _ = cached(
        args.cache, key, lambda: VariationalSparseCoder(n_threads=args.threads, **params).fit(X)
    )
    Z_lab, Z_eval = model.transform(X[labelled]), model.transform(X_eval)
    for k in args.k:
        for ranking in args.rankings:
            A = keep_top(Z_lab, scores(model, X[labelled], Z_lab, ranking), k)
            B = keep_top(Z_eval, scores(model, X_eval, Z_eval, ranking), k)
            if ranking == "magnitude":  # the estimator's own cap keeps the same units
                model.set_params(transform_n_nonzero_coefs=k)
                same = bool(((model.transform(X_eval) != 0) == (B != 0)).all())
                model.set_params(transform_n_nonzero_coefs=None)
            row = dict(
                what="truncation_rank",
                dataset=args.dataset,
                eval=args.eval,
                alpha=args.alpha,
                seed=args.seed,
                k=k,
                ranking=ranking,
                acc=logreg_accuracy(A, y[labelled], B, y_eval),
                active_per_sample=float((B != 0).sum(1).mean()),
                n_eval=len(X_eval),
            )
            if ranking == "magnitude":
                row["same_units_as_estimator"] = same
            emit(row, args.out)


if __name__ == "__main__":
    main()
