"""The training data of a fit: checked, summarised, and the likelihood they get.

:func:`fit_data` validates ``X`` for ``fit`` and ``partial_fit`` (in memory,
or out of core in one streaming pass) and says whether it has missing values;
:func:`resolve_likelihood` resolves ``likelihood="auto"`` (and per-column
kinds) for a new model. The estimators' ``_fit`` calls both.
"""

import warnings

import torch

from . import _chunked, _params
from ._core.likelihoods import LIKELIHOODS
from ._data_checks import (
    auto_likelihood,
    check_column_ranges,
    check_magnitude,
    check_observed_columns,
    column_facts,
    column_names,
    columns_outside,
    data_range,
    has_missing,
    looks_like_8bit_pixels,
    onto_support,
    validated,
    within_support,
)


def fit_data(est, X, reset, sync=None):
    """``(X, value range, missing)``: validated ``X`` (out-of-core input:
    read whole when small, else checked in one streaming pass), the range
    of its observed values and whether it has missing values (NaN). A new
    model of data with missing values gets an encoder that reads the mask of
    the observed entries. Continuing a fit (``reset=False``) refuses data the
    fitted model cannot describe, naming the columns: missing values for a
    model fitted without any (:meth:`_check_missing`), and values outside
    the support of a column's fitted likelihood (a Bernoulli column that
    now holds 2.5, say)."""
    if _chunked.is_out_of_core(X):
        X = _chunked.fit_rows(est, X, reset=reset, sync=sync)
    else:
        X = validated(est, X, reset=reset, allow_nan=True)
    missing = has_missing(X)
    if sync is not None:  # one model on every rank: missing values on any rank count
        missing = bool(sync.sum(torch.tensor([float(missing)], device=sync.device))[0] > 0)
    names = getattr(est, "feature_names_in_", None)
    if not reset:
        est._check_missing(X, missing)
    elif missing:  # a new model estimates each column's scaling and kind from its values
        check_observed_columns(X, names)
    value_range = data_range(X)
    check_magnitude(*value_range)
    likelihood = est.likelihood if reset else est.likelihood_
    if _params.per_column(likelihood):
        likelihood = "mixed"
    if likelihood == "auto":
        likelihood = auto_likelihood(*value_range)
    if not reset and likelihood == "mixed":  # each column against its fitted likelihood
        kinds = est._run.model.likelihood.column_kinds()
        check_column_ranges(X, kinds, names, strict=True, fitted=True)
    elif not reset and not within_support(likelihood, *value_range):
        # The likelihood's error (its remedies: scaling), with the columns that leave it.
        bad = columns_outside(column_facts(X), [likelihood] * X.shape[1])
        try:
            LIKELIHOODS[likelihood].check_range(*value_range)
        except ValueError as exc:
            raise ValueError(f"{exc} Outside it: {column_names(bad, names)}.") from None
    return onto_support(X, likelihood, value_range, strict=True), value_range, missing


def resolve_likelihood(est, X, low, high):
    """The likelihood of ``likelihood``, with ``"auto"`` chosen from the data
    (and ``"mixed"`` for kinds given per column)."""
    if _params.per_column(est.likelihood):
        return "mixed"
    if est.likelihood != "auto":
        return est.likelihood
    likelihood = auto_likelihood(low, high)
    if likelihood == "gaussian" and looks_like_8bit_pixels(X, low, high):
        warnings.warn(
            f"X holds whole numbers in [{low:g}, {high:g}], like unscaled 8-bit pixels, "
            "so likelihood='auto' chose the Gaussian likelihood. For pixel "
            "intensities divide X by 255 (the Bernoulli likelihood), or pass "
            "likelihood='gaussian' or 'poisson' to keep this choice silently.",
            UserWarning,
            stacklevel=5,
        )
    return likelihood
