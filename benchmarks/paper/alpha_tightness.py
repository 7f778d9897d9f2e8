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
  ``dualglobal``: one multiplier on the mean rate over units (so each unit
  feels ``lambda / J``); ``dualshared``: one multiplier on the sum of the
  rates (each unit feels ``lambda``), stepped by the mean rate's error;
- ``signed`` / ``signedglobal`` / ``signedshared``: the same with the
  multiplier unclamped (signed), so that a rate below ``alpha`` is pushed
  back up as one above it is pushed down;
- a ``_floor`` suffix on any of them adds ``w mean_n [c_n = 0] (-log max_j
  gamma_nj)`` (``w``: ``--floor-weight``), where ``c_n`` is the number of
  active units of sample n: a push on the most probable unit of each empty
  code (zero where no code is empty); with ``--floor-margin m`` the
  indicator is ``[max_j gamma_nj < m]`` instead (m = 1/2: the empty codes;
  larger m also pushes codes whose top unit is barely on); ``_margin`` adds
  ``w mean_n (-log max_j gamma_nj)`` on every sample;
- ``rc``: the library's ``rate_control=1.0`` (the signed per-unit
  controller, unpatched).

The library floors the aggregate prior's code (a row with no unit above 1/2
keeps its most probable unit, in training and in ``transform``). A
``_nofloor`` suffix turns the floor off in both (the code of ``gamma > 1/2``,
as before the floor), ``_tfloor`` in training only (``transform`` floored).
Every row also reports ``empty_without_floor``: the fraction of validation
rows with no unit above 1/2, which the floor gives one unit.

Example::

    python benchmarks/paper/alpha_tightness.py --alphas 0.025 0.05 \
        --variants default x4 nousage x4_nousage dual --threads 1 \
        --out benchmarks/paper/results/alpha_tightness.jsonl
"""

import contextlib
import re
from typing import NamedTuple

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
from skvsc._core import latents, rate_control
from skvsc._core.distributed import batch_means
from skvsc._core.penalties import ACTIVE_PROBABILITY

VARIANT = re.compile(
    r"^(?P<base>default|nousage|rc|(?:dual|signed)(?:global|shared)?"
    r"|x(?P<factor>[0-9.]+)(?P<nousage>_nousage)?)(?P<floor>_floor|_margin)?"
    r"(?P<code_floor>_nofloor|_tfloor)?$"
)


class Variant(NamedTuple):
    """A variant's training penalty (see the module docstring)."""

    factor: float = 1.0  # times the aggregate regularizer
    usage_weight: float | None = None  # None: the default
    dual: str | None = None  # "unit", "global", "shared" or None
    signed: bool = False  # an unclamped multiplier
    floor: str | None = None  # "floor" (empty codes only), "margin" (every code) or None
    rate_control: float = 0.0  # the library's rate_control
    code_floor: str = "both"  # the library's floor: "both", "transform" or "none"


def parse_variant(name):
    """The :class:`Variant` of a variant name."""
    match = VARIANT.match(name)
    if match is None:
        raise ValueError(f"unknown variant {name!r}")
    variant = _parse_penalty(match)
    code_floor = {None: "both", "_tfloor": "transform", "_nofloor": "none"}[match["code_floor"]]
    return variant._replace(code_floor=code_floor)


def _parse_penalty(match):
    base, floor = match["base"], match["floor"] and match["floor"][1:]
    if base == "rc":
        return Variant(rate_control=1.0, floor=floor)
    if match["factor"]:
        return Variant(float(match["factor"]), 0.0 if match["nousage"] else None, floor=floor)
    if base == "nousage":
        return Variant(usage_weight=0.0, floor=floor)
    if base.startswith(("dual", "signed")):
        mode = next((m for m in ("global", "shared") if base.endswith(m)), "unit")
        return Variant(dual=mode, signed=base.startswith("signed"), floor=floor)
    return Variant(floor=floor)


def dual_step(lam, rate, alpha, lr, signed):
    """One dual-ascent step of the multipliers: the library's signed step
    (``rate_control.dual_step``, ``lam + lr (rate - alpha)``), clamped at zero
    unless ``signed``."""
    lam = rate_control.dual_step(lam, rate, alpha, lr)
    return lam if signed else lam.clamp(min=0.0)


def floor_term(gamma, spikes, every=False, margin=None):
    """``mean_n [c_n = 0] (-log max_j gamma_nj)``: zero unless a code is empty
    (``every``: without the indicator, on every code; ``margin``: the
    indicator ``[max_j gamma_nj < margin]``)."""
    top = gamma.max(dim=1).values.clamp(min=1e-12)
    if every:
        return (-top.log()).mean()
    if margin is None:
        low = (spikes.sum(dim=1) == 0).to(gamma.dtype)
    else:
        low = (top < margin).to(gamma.dtype)
    return (low * -top.log()).mean()


@contextlib.contextmanager
def training_floor(on):
    """The library's floor in training switched on or off for a fit (its
    ``transform`` reads the model's ``floor`` attribute, set apart)."""
    cls = latents.AggregateSpikeSlabLatent
    original = cls.training_terms

    def training_terms(self, posterior, noise, values):
        saved, self.floor = self.floor, self.floor and on
        try:
            return original(self, posterior, noise, values)
        finally:
            self.floor = saved

    cls.training_terms = training_terms
    try:
        yield
    finally:
        cls.training_terms = original


@contextlib.contextmanager
def patched_regularizer(variant, dual_lr, floor_weight=1.0, floor_margin=None):
    """Replace ``AggregateSpikeSlabLatent.regularizer`` for the duration of a fit."""
    cls = latents.AggregateSpikeSlabLatent
    original = cls.regularizer

    def regularizer(self, posterior, values, spikes=None, kept=None):
        value = variant.factor * original(self, posterior, values, spikes, kept)
        if (variant.dual is None and not variant.floor) or not torch.is_grad_enabled():
            return value
        gamma = posterior.gamma
        if spikes is None:
            spikes = (gamma > ACTIVE_PROBABILITY).to(gamma.dtype)
        if variant.floor:
            every = variant.floor == "margin"
            value = value + floor_weight * floor_term(gamma, spikes, every, floor_margin)
        if variant.dual is None:
            return value
        soft, rate = batch_means(gamma, spikes)  # over the global batch, as the prior's
        # straight-through: the value of the hard rate, the gradient of the soft one
        st_rate = rate + soft - soft.detach()
        if variant.dual == "global":
            st_rate, rate = st_rate.mean(), rate.mean()
        elif variant.dual == "shared":
            st_rate, rate = st_rate.sum(), rate.mean()
        lam = getattr(self, "_dual_lambda", None)
        if lam is None or lam.shape != rate.shape:
            lam = torch.zeros_like(rate)
        lam = dual_step(lam, rate.detach(), self.alpha, dual_lr, variant.signed)
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
    p.add_argument("--floor-weight", type=float, default=1.0, help="w of the _floor term")
    p.add_argument(
        "--floor-margin", type=float, default=None, help="m of the _floor term (default: c_n = 0)"
    )
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
            variant = parse_variant(name)
            params = dict(
                n_components=args.n_components,
                alpha=alpha,
                max_iter=max_iter,
                random_state=args.seed,
                n_threads=args.threads,
                # the defaults of the screen's time: the free gate, no controller
                gate="free",
                rate_control=0.0,
            )
            if variant.usage_weight is not None:
                params["usage_weight"] = variant.usage_weight
            if variant.rate_control:
                params["rate_control"] = variant.rate_control
            model = VariationalSparseCoder(**params)
            patch = patched_regularizer(variant, args.dual_lr, args.floor_weight, args.floor_margin)
            with patch, training_floor(variant.code_floor == "both"), Timer() as t:
                model.fit(X_tr)
            latent = model.module_.latent
            latent.floor = latent.floor and variant.code_floor != "none"
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
            above_half = (model.activity_proba(X_val) > ACTIVE_PROBABILITY).sum(axis=1)
            row["empty_without_floor"] = float((above_half == 0).mean())
            row["floor"] = variant.code_floor if latent.floor else "none"
            row["accuracy"] = logreg_accuracy(Z_tr[labelled], y_tr[labelled], Z_val, y_val)
            if variant.dual is not None:
                row["dual_lr"] = args.dual_lr
            if variant.floor:
                row["floor_weight"] = args.floor_weight
                if args.floor_margin is not None:
                    row["floor_margin"] = args.floor_margin
            if latent.controller is not None:  # the library's multipliers
                lam = latent.controller.multiplier
            else:
                lam = getattr(latent, "_dual_lambda", None)
            if lam is not None:  # the multipliers at the end of the fit
                row["lambda_mean"] = float(lam.mean())
                row["lambda_range"] = [float(lam.min()), float(lam.max())]
            row["fit_s"] = t.seconds
            emit(row, args.out)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
