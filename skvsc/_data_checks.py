"""Checks and statistics of the data passed to the estimators (after ``validate_data``)."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.sparsefuncs import mean_variance_axis
from sklearn.utils.validation import validate_data

from ._core.likelihoods import LIKELIHOODS

#: Training runs in float32: |X| must stay clear of its overflow, also after centring.
MAX_ABS_X = float(np.finfo(np.float32).max) / 4


def data_range(X):
    if hasattr(X, "value_range"):  # out-of-core rows: from their checking pass
        return X.value_range
    if sp.issparse(X):
        values = X.data
        if X.nnz < X.shape[0] * X.shape[1]:  # implicit zeros
            values = np.append(values, 0.0)
    else:
        values = X
    return float(values.min()), float(values.max())


def column_stats(X):
    """Per-feature mean and standard deviation (1 for constant features)."""
    if hasattr(X, "column_stats"):  # out-of-core rows: from their checking pass
        return X.column_stats
    if sp.issparse(X):
        mean, var = mean_variance_axis(sp.csr_matrix(X, dtype=np.float64), axis=0)
    else:
        mean, var = X.mean(axis=0, dtype=np.float64), X.var(axis=0, dtype=np.float64)
    scale = np.sqrt(var)
    scale[~(scale > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return mean, scale


def validated(estimator, X, *, reset):
    """``X`` checked by scikit-learn's ``validate_data`` (float32 or float64,
    dense or sparse) in a layout the core reads (:func:`supported_layout`)."""
    X = validate_data(
        estimator,
        X,
        reset=reset,
        accept_sparse=("csr", "csc", "coo"),
        dtype=(np.float64, np.float32),
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


def check_support(X, likelihood, value_range=None):
    """``X`` lies where the likelihood named ``likelihood`` is defined (e.g.
    [0, 1] for Bernoulli), else a ValueError with the data range and remedies.
    ``value_range`` is ``data_range(X)`` when it is known."""
    likelihood = LIKELIHOODS[likelihood]
    if likelihood.support != (-np.inf, np.inf):
        likelihood.check_range(*(value_range or data_range(X)))


def looks_like_8bit_pixels(X, low, high, n_rows=1000):
    """Whether ``X`` (its first ``n_rows`` rows) holds whole numbers within [0, 255] and
    above 1: unscaled 8-bit pixels, which users usually mean for the Bernoulli likelihood."""
    if low < 0.0 or high > 255.0 or high <= 1.0:
        return False
    values = X[:n_rows].data if sp.issparse(X) else np.asarray(X[:n_rows])
    return bool(np.all(values == np.round(values)))
