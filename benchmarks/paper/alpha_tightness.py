"""Screen: how close the aggregate prior's non-zeros per sample come to alpha.

A screen, not a default change (issue 24, item 4). The first ``--n-fit``
training images (20,000 for MNIST) train the model; training images
50,000..59,999 are the validation set (on smaller data, the last sixth); the
test set is never read. A fixed random subset of 5,000 fitted images keeps its
labels. For each variant and alpha the script reports non-zeros per sample
(and their ratio to ``alpha * J``), the fraction of empty (all-zero) codes,
dead units and LogisticRegression accuracy on the validation codes.

Variants change only the training penalty of
:class:`skvsc._core.latents.AggregateSpikeSlabLatent`, patched in this
process (the library is unchanged):

- ``default``: the estimator's defaults;
- ``x<F>``: the regularizer (aggregate term plus usage penalty) times ``F``;
- ``nousage``: ``usage_weight=0``; ``x<F>_nousage``: both;
- ``dual``: the default regularizer plus ``sum_j lambda_j r_j``, where ``r_j``
  is unit j's batch rate (straight-through: the gradient of the batch mean
  of ``gamma``) and the multiplier ``lambda_j >= 0`` takes one step of dual
  ascent ``lambda_j += eta (r_j - alpha)`` per training step (``--dual-lr``);
  ``dualglobal``: one multiplier on the mean rate over units.

Example::

    python benchmarks/paper/alpha_tightness.py --alphas 0.025 0.05 \
        --variants default x4 nousage x4_nousage dual --threads 1 \
        --out benchmarks/paper/results/alpha_tightness.jsonl
"""

import contextlib
import re

import numpy as np
import torch
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
from skvsc._core import latents
from skvsc._core.distributed import batch_means
from skvsc._core.penalties import ACTIVE_PROBABILITY

VARIANT = re.compile(
    r"^(default|nousage|dual|dualglobal|x(?P<factor>[0-9.]+)(?P<nousage>_nousage)?)$"
)


def parse_variant(name):
    """``(factor, usage_weight or None, dual mode or None)`` of a variant name."""
    match = VARIANT.match(name)
    if match is None:
        raise ValueError(f"unknown variant {name!r}")
    if match["factor"]:
        return float(match["factor"]), 0.0 if match["nousage"] else None, None
    if name == "nousage":
        return 1.0, 0.0, None
    if name.startswith("dual"):
        return 1.0, None, "global" if name == "dualglobal" else "unit"
    return 1.0, None, None


@contextlib.contextmanager
def patched_regularizer(factor, dual, dual_lr):
    """Replace ``AggregateSpikeSlabLatent.regularizer`` for the duration of a fit."""
    cls = latents.AggregateSpikeSlabLatent
    original = cls.regularizer

    def regularizer(self, posterior, values, spikes=None):
        value = factor * original(self, posterior, values, spikes)
        if dual is None or not torch.is_grad_enabled():
            return value
        gamma = posterior.gamma
        if spikes is None:
            spikes = (gamma > ACTIVE_PROBABILITY).to(gamma.dtype)
        soft, rate = batch_means(gamma, spikes)  # over the global batch, as the prior's
        # straight-through: the value of the hard rate, the gradient of the soft one
        st_rate = rate + soft - soft.detach()
        if dual == "global":
            st_rate, rate = st_rate.mean(), rate.mean()
        lam = getattr(self, "_dual_lambda", None)
        if lam is None or lam.shape != rate.shape:
            lam = torch.zeros_like(rate)
        lam = (lam + dual_lr * (rate.detach() - self.alpha)).clamp(min=0.0)
        self._dual_lambda = lam
        return value + (lam * st_rate).sum()

    cls.regularizer = regularizer
    try:
        yield
    finally:
        cls.regularizer = original


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion", "digits"])
    p.add_argument("--n-fit", type=int, default=20000, help="fit on the first N images")
    p.add_argument("--alphas", type=float, nargs="+", default=[0.025, 0.05])
    p.add_argument("--variants", nargs="+", default=["default", "x4", "nousage", "dual"])
    p.add_argument("--n-components", type=int, default=200)
    p.add_argument("--max-iter", default="auto", help='epochs ("auto": the default)')
    p.add_argument("--dual-lr", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in args.variants:
        parse_variant(name)  # fail before any fit
    X, y = load(args.dataset, data_dir(args.data_dir), "train", args.n_train)
    if len(X) == 60000:
        X_tr, y_tr, X_val, y_val = X[: args.n_fit], y[: args.n_fit], X[50000:], y[50000:]
    else:
        cut = (5 * len(X)) // 6  # the last sixth validates
        n_fit = min(args.n_fit, cut)
        X_tr, y_tr, X_val, y_val = X[:n_fit], y[:n_fit], X[cut:], y[cut:]
    labelled = label_subset(len(X_tr))
    max_iter = args.max_iter if args.max_iter == "auto" else int(args.max_iter)
    for alpha in args.alphas:
        for name in args.variants:
            factor, usage_weight, dual = parse_variant(name)
            params = dict(
                n_components=args.n_components,
                alpha=alpha,
                max_iter=max_iter,
                random_state=args.seed,
                n_threads=args.threads,
            )
            if usage_weight is not None:
                params["usage_weight"] = usage_weight
            model = VariationalSparseCoder(**params)
            with patched_regularizer(factor, dual, args.dual_lr), Timer() as t:
                model.fit(X_tr)
            Z_tr, Z_val = model.transform(X_tr), model.transform(X_val)
            row = {
                "dataset": args.dataset,
                "variant": name,
                "alpha": alpha,
                "n_components": args.n_components,
                "n_fit": len(X_tr),
                "seed": args.seed,
                "epochs": model.n_iter_,
            }
            row.update(sparsity_stats(Z_tr, Z_val))
            row["nonzero_over_alpha"] = row["nonzero"] / alpha
            row["empty_codes_fit"] = float((np.asarray((Z_tr != 0).sum(axis=1)) == 0).mean())
            row["accuracy"] = logreg_accuracy(Z_tr[labelled], y_tr[labelled], Z_val, y_val)
            if dual is not None:
                row["dual_lr"] = args.dual_lr
            row["fit_s"] = t.seconds
            emit(row, args.out)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
