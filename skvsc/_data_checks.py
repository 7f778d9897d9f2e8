"""Checks and statistics of the data passed to the estimators (after ``validate_data``)."""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.utils.sparsefuncs import mean_variance_axis
from sklearn.utils.validation import validate_data

from ._core.likelihoods import LIKELIHOODS

#: Training runs in float32: |X| must stay clear of its overflow, also after centring.
MAX_ABS_X = float(np.finfo(np.float32).max) / 4


def data_range(X):
    """``(low, high)`` of the observed values of ``X`` (missing values, NaN,
    are skipped; NaN for data with no observed value)."""
    if hasattr(X, "value_range"):  # out-of-core rows: from their checking pass
        return X.value_range
    if sp.issparse(X):
        values = X.data
        if X.nnz < X.shape[0] * X.shape[1]:  # implicit zeros
            values = np.append(values, 0.0)
    else:
        values = X
    if values.size and np.isnan(values.min()):  # min propagates NaN: skip them
        observed = values[~np.isnan(values)]
        if not observed.size:
            return float("nan"), float("nan")
        return float(observed.min()), float(observed.max())
    return float(values.min()), float(values.max())


def has_missing(X):
    """Whether ``X`` (validated) holds missing values (NaN)."""
    if hasattr(X, "value_range"):  # out-of-core rows: from their checking pass
        return X.missing
    values = X.data if sp.issparse(X) else X
    return bool(values.size) and bool(np.isnan(values.min()))


def check_observed_columns(X, feature_names=None):
    """Every column of ``X`` has an observed value (its scaling and kind are
    estimated from those)."""
    empty = np.flatnonzero(column_facts(X)["count"] == 0)
    if empty.size:
        names = [_column_name(j, feature_names) for j in empty[:5]]
        raise ValueError(
            f"{empty.size} column(s) of X have no observed value (all NaN): "
            f"{', '.join(names)}{' ...' if empty.size > 5 else ''}. Drop them before fitting."
        )


def column_facts(X):
    """Per column of validated ``X``, over its observed (non-NaN) values: their
    ``count``, ``low`` and ``high`` (+inf / -inf without any), and whether
    all are 0 or 1 (``binary``) or whole numbers (``whole``)."""
    if hasattr(X, "columns") and hasattr(X, "value_range"):  # out-of-core: from the pass
        return {key: np.asarray(value) for key, value in X.columns.items()}
    if not sp.issparse(X):
        X = np.asarray(X)
        nan = np.isnan(X)
        return {
            "count": (~nan).sum(axis=0).astype(np.float64),
            "low": np.where(nan, np.inf, X).min(axis=0, initial=np.inf).astype(np.float64),
            "high": np.where(nan, -np.inf, X).max(axis=0, initial=-np.inf).astype(np.float64),
            "binary": ((X == 0) | (X == 1) | nan).all(axis=0).astype(np.float64),
            "whole": ((X == np.round(X)) | nan).all(axis=0).astype(np.float64),
        }
    facts = {key: np.zeros(X.shape[1]) for key in ("count", "low", "high", "binary", "whole")}
    for j in range(X.shape[1]):
        column = X[:, j]
        column = column.toarray().ravel() if sp.issparse(column) else np.asarray(column)
        column = column[~np.isnan(column)]
        facts["count"][j] = column.size
        facts["low"][j] = column.min() if column.size else np.inf
        facts["high"][j] = column.max() if column.size else -np.inf
        facts["binary"][j] = np.all((column == 0) | (column == 1))
        facts["whole"][j] = np.all(column == np.round(column))
    return facts


def column_names(columns, feature_names=None, limit=5):
    """``"column 2 ('b'), column 5 ('e')"``: the first ``limit`` of ``columns``
    (indices), then ``" ..."`` when there are more."""
    columns = list(columns)
    names = ", ".join(_column_name(j, feature_names) for j in columns[:limit])
    return names + (" ..." if len(columns) > limit else "")


def _column_name(j, feature_names):
    if feature_names is not None:
        return f"column {j} ({feature_names[j]!r})"
    return f"column {j}"


def column_stats(X):
    """Per-feature mean and standard deviation (1 for constant features)."""
    if hasattr(X, "column_stats"):  # out-of-core rows: from their checking pass
        return X.column_stats
    if sp.issparse(X):  # skips NaN
        mean, var = mean_variance_axis(sp.csr_matrix(X, dtype=np.float64), axis=0)
    elif has_missing(X):  # of the observed values
        mean, var = np.nanmean(X, axis=0, dtype=np.float64), np.nanvar(X, axis=0, dtype=np.float64)
    else:
        mean, var = X.mean(axis=0, dtype=np.float64), X.var(axis=0, dtype=np.float64)
    scale = np.sqrt(var)
    scale[~(scale > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return mean, scale


def validated(estimator, X, *, reset, allow_nan=False):
    """``X`` checked by scikit-learn's ``validate_data`` (float32 or float64,
    dense or sparse, finite; NaN, a missing value, passes with ``allow_nan``)
    in a layout the core reads (:func:`supported_layout`)."""
    X = validate_data(
        estimator,
        X,
        reset=reset,
        accept_sparse=("csr", "csc", "coo"),
        dtype=(np.float64, np.float32),
        ensure_all_finite="allow-nan" if allow_nan else True,
    )
    return supported_layout(X)


def supported_layout(X):
    """CSR for sparse input; a positive-stride array for dense input (torch
    cannot wrap negative strides, e.g. ``X[::-1]``)."""
    if sp.issparse(X):
        return X.tocsr()
    if any(stride < 0 for stride in X.strides):
        return np.ascontiguousarray(X)
    return X


def check_magnitude(low, high):
    """Data ranging over ``[low, high]`` can be trained in float32."""
    if max(-low, high) > MAX_ABS_X:
        raise ValueError(
            f"X has values of magnitude up to {max(-low, high):.3g}, too large for "
            f"float32 training (limit {MAX_ABS_X:.3g}). Scale the data first, e.g. "
            "with sklearn.preprocessing.StandardScaler."
        )


#: Values at most this far outside a likelihood's support count as inside it and
#: are clipped onto it: float rounding leaves data scaled to [0, 1] at
#: 1.0000000000000002 or -1e-17 (MinMaxScaler), which must neither fail a fit nor
#: change what ``likelihood="auto"`` chooses from one split of the data to another.
SUPPORT_TOLERANCE = 1e-6


def auto_likelihood(low, high):
    """What ``likelihood="auto"`` chooses for data ranging over ``[low, high]``:
    Bernoulli for data in [0, 1] (within :data:`SUPPORT_TOLERANCE`), else Gaussian."""
    tol = SUPPORT_TOLERANCE
    return "bernoulli" if low >= -tol and high <= 1.0 + tol else "gaussian"


def within_support(likelihood, low, high):
    """Whether data over ``[low, high]`` are within :data:`SUPPORT_TOLERANCE`
    of the support of the likelihood named ``likelihood``."""
    lo, hi = LIKELIHOODS[likelihood].support
    return low >= lo - SUPPORT_TOLERANCE and high <= hi + SUPPORT_TOLERANCE


def onto_support(X, likelihood, value_range=None, *, strict):
    """``X`` with its values clipped onto the support of the likelihood named
    ``likelihood`` (e.g. [0, 1] for Bernoulli); ``X`` itself when it is inside.

    Values within :data:`SUPPORT_TOLERANCE` of the support are clipped
    silently. Values further out raise the likelihood's ValueError (data range
    and remedies) when ``strict`` (fitting and scoring: the model cannot
    describe them), and are clipped with one warning that counts them otherwise
    (encoding: new data scaled by a scaler fitted on other data, e.g. in a
    cross-validated pipeline, leave [0, 1]). ``value_range`` is
    ``data_range(X)`` when it is known. ``X`` is never modified in place.
    """
    cls = LIKELIHOODS[likelihood]
    lo, hi = cls.support
    low, high = value_range or data_range(X)
    if low >= lo and high <= hi:
        return X
    tol = SUPPORT_TOLERANCE
    if low < lo - tol or high > hi + tol:
        if strict:
            cls.check_range(low, high)
        values = X.data if sp.issparse(X) else X
        n_out = int(np.count_nonzero((values < lo - tol) | (values > hi + tol)))
        n_total = X.shape[0] * X.shape[1]
        support = f"[{lo:g}, {hi:g}]" if np.isfinite(hi) else f">= {lo:g}"
        warnings.warn(
            f"{n_out} of {n_total} values of X ({100 * n_out / n_total:.2g} %) are outside "
            f"{support}, the support of the model's {cls.__name__.removesuffix('Likelihood')} "
            f"likelihood (X ranges over [{low:.4g}, {high:.4g}]); they were clipped onto it to "
            "encode X. New data scaled by a scaler fitted on other data (in a cross-validated "
            "pipeline, say) often do this; MinMaxScaler(clip=True) clips them silently.",
            UserWarning,
            stacklevel=4,
        )
    if hasattr(X, "value_range"):  # out-of-core rows within rounding: left as read
        return X
    X = X.copy()
    if sp.issparse(X):
        np.clip(X.data, lo, hi, out=X.data)
    else:
        np.clip(X, lo, hi, out=X)
    return X


def column_kinds(X):
    """The likelihood of each column for ``likelihood="mixed"``: ``"bernoulli"``
    for columns of zeros and ones, ``"poisson"`` for other columns of
    non-negative whole numbers (counts), ``"gaussian"`` for the rest (from
    the observed values; every column needs one)."""
    facts = column_facts(X)
    kinds = []
    for j in range(X.shape[1]):
        if facts["binary"][j]:
            kinds.append("bernoulli")
        elif facts["low"][j] >= 0 and facts["whole"][j]:
            kinds.append("poisson")
        else:
            kinds.append("gaussian")
    return kinds


def looks_like_8bit_pixels(X, low, high, n_rows=1000):
    """Whether ``X`` (its first ``n_rows`` rows) holds whole numbers within [0, 255] and
    above 1: unscaled 8-bit pixels, which users usually mean for the Bernoulli likelihood."""
    if low < 0.0 or high > 255.0 or high <= 1.0:
        return False
    values = X[:n_rows].data if sp.issparse(X) else np.asarray(X[:n_rows])
    values = values[~np.isnan(values)]  # observed values only
    return bool(np.all(values == np.round(values)))


#: The values each column kind of the mixed likelihood takes.
_KIND_SUPPORT = {"bernoulli": (0.0, 1.0), "poisson": (0.0, np.inf)}


def resolve_column_kinds(X, given, feature_names=None):
    """The kind of each column of ``X`` for the mixed likelihood: ``given``
    (a list of one kind per column, or a dict from column indices or feature
    names to kinds) where it names the column, else :func:`column_kinds`'s
    choice from the data. Raises a ValueError for keys that name no column
    and for a given kind whose support the column's values leave."""
    n_features = X.shape[1]
    if isinstance(given, dict):
        names = None if feature_names is None else list(feature_names)
        by_index = {}
        for key, kind in given.items():
            if isinstance(key, str):
                if names is None:
                    raise ValueError(
                        f"likelihood names the column {key!r}, but X has no feature names "
                        "(pass a pandas DataFrame, or give column indices)."
                    )
                if key not in names:
                    raise ValueError(f"likelihood names the column {key!r}, which X lacks.")
                index = names.index(key)
            else:
                if key >= n_features:
                    raise ValueError(
                        f"likelihood names column {key}, but X has {n_features} features."
                    )
                index = key
            if index in by_index and by_index[index] != kind:
                raise ValueError(
                    f"likelihood gives {_column_name(index, feature_names)} two kinds, "
                    f"{by_index[index]!r} and {kind!r}."
                )
            by_index[index] = kind
    else:
        if len(given) != n_features:
            raise ValueError(
                f"likelihood gives {len(given)} column kinds, but X has {n_features} features."
            )
        by_index = dict(enumerate(given))
    auto = column_kinds(X) if len(by_index) < n_features else [None] * n_features
    kinds = [by_index.get(j, auto[j]) for j in range(n_features)]
    check_column_ranges(X, kinds, feature_names, strict=True)
    return kinds


def columns_outside(facts, kinds):
    """The columns whose observed values (:func:`column_facts`) leave the
    support of their kind (beyond :data:`SUPPORT_TOLERANCE`, as :func:`within_support`)."""
    low, high = facts["low"], facts["high"]
    return [j for j, kind in enumerate(kinds) if not within_support(kind, low[j], high[j])]


def check_column_ranges(X, kinds, feature_names=None, *, strict, fitted=False):
    """Check the values of each Bernoulli ([0, 1]) and Poisson (>= 0) column of
    a mixed likelihood, within :data:`SUPPORT_TOLERANCE`: a ValueError naming
    every column outside when ``strict`` (fitting and scoring; ``fitted``:
    the kinds are a fitted model's, which the remedy cannot change), else one
    warning that counts the values the model clips (encoding)."""
    tol = SUPPORT_TOLERANCE
    if strict:
        facts = column_facts(X)
        bad = columns_outside(facts, kinds)
        if not bad:
            return

        def over(j):
            return f"[{facts['low'][j]:.4g}, {facts['high'][j]:.4g}]"

        first, support = bad[0], {"bernoulli": "in [0, 1]", "poisson": ">= 0 (counts)"}
        message = (
            f"{_column_name(first, feature_names).capitalize()} has the {kinds[first]} "
            f"likelihood and needs values {support[kinds[first]]}, but ranges over {over(first)}"
        )
        if len(bad) > 1:
            others = [
                f"{_column_name(j, feature_names)} ({kinds[j]}, over {over(j)})" for j in bad[1:6]
            ]
            message += "; also outside their kind's support: " + ", ".join(others)
            message += " ..." if len(bad) > 6 else ""
        if fitted:
            message += (
                ". The model was fitted with these column kinds and keeps them: pass data "
                "whose columns fit them, or fit a new model (warm_start=False) that gives "
                "these columns the 'gaussian' kind in likelihood."
            )
        else:
            message += ". Give them the 'gaussian' kind in likelihood, or transform the columns."
        raise ValueError(message)
    outside = []
    for j, kind in enumerate(kinds):
        if kind not in _KIND_SUPPORT:
            continue
        column = X[:, j]
        column = column.toarray().ravel() if sp.issparse(column) else np.asarray(column)
        column = column[~np.isnan(column)]
        lo, hi = _KIND_SUPPORT[kind]
        n_bad = int(np.count_nonzero((column < lo - tol) | (column > hi + tol)))
        if n_bad:
            outside.append((j, n_bad))
    if outside:
        n_out = sum(n for _, n in outside)
        columns = ", ".join(_column_name(j, feature_names) for j, _ in outside[:5])
        warnings.warn(
            f"{n_out} values of X are outside the support of their column's likelihood "
            f"({columns}); they were clipped onto it to encode X.",
            UserWarning,
            stacklevel=4,
        )
