"""Reading the units of a sparse code in terms of the input features.

A unit of :class:`~skvsc.VariationalSparseCoder` is one-signed as a rule: it
takes nearly all its non-zero values with one sign. Its *typical value* is the
median of its non-zero values, and its *effect* on the features is what it
adds to the decoding of the empty code at that value:
``decode(v_j e_j) - decode(0)``, in the units of the data given to ``fit``
(the likelihood's internal standardisation undone). For a linear decoder and
the Gaussian likelihood that is ``v_j`` times the decoder's column ``j``
times the feature scales.
"""

import numpy as np
import torch
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d

from . import _inference

#: Most rows encoded to find the typical values at the end of ``fit`` (evenly
#: spaced rows of the training data): medians need every value, and these keep
#: the cost of the pass bounded on large data.
TYPICAL_VALUE_ROWS = 10_000
#: A unit is called one-signed when at least this share of its non-zero values
#: has one sign.
ONE_SIGNED_SHARE = 0.95


def _code(estimator, X):
    """The sparse code of validated ``X`` as a NumPy array (no pandas wrapping)."""
    return _inference.map_module(estimator, "code", X, *estimator._code_options())


def typical_values_of(Z):
    """Median of each column's non-zero values; 0 for a column without any."""
    values = np.zeros(Z.shape[1])
    for j in range(Z.shape[1]):
        nonzero = Z[:, j][Z[:, j] != 0]
        if nonzero.size:
            values[j] = float(np.median(nonzero))
    return values


def typical_values(estimator, X, sync=None):
    """Typical values of the units over at most :data:`TYPICAL_VALUE_ROWS`
    evenly spaced rows of validated ``X``. In a data-parallel fit (``sync``)
    each rank encodes its share of those rows and the codes are gathered in
    rank order: the rows, and so the medians, are those of one process."""
    n = X.shape[0]
    if n > TYPICAL_VALUE_ROWS:
        X = X[np.linspace(0, n - 1, TYPICAL_VALUE_ROWS).round().astype(np.intp)]
    if sync is None:
        return typical_values_of(_code(estimator, X))
    return typical_values_of(_gather_codes(estimator, X, sync))


def _gather_codes(estimator, X, sync):
    """The code of validated ``X``, each rank encoding its share of the rows."""
    shares = [sync.share(X.shape[0], rank) for rank in range(sync.world_size)]
    lo, hi = shares[sync.rank]
    mine = _code(estimator, X[lo:hi])
    longest = max(b - a for a, b in shares)  # the collective takes equal shapes
    padded = torch.zeros((longest, mine.shape[1]), dtype=torch.from_numpy(mine).dtype)
    padded[: len(mine)] = torch.from_numpy(mine)
    parts = sync.gather(padded.to(sync.device))
    return np.concatenate(
        [part[: b - a].cpu().numpy() for part, (a, b) in zip(parts, shares, strict=True)]
    )


def feature_effects(estimator, values):
    """``decode(values[j] e_j) - decode(0)`` for every unit ``j``, in float64:
    an array of shape (n_components, n_features) in the data's units."""
    n_units = estimator.module_.n_components
    codes = np.vstack([np.zeros((1, n_units)), np.diag(np.asarray(values, dtype=np.float64))])
    decoded = _inference.map_module(estimator, "decode_mean", codes)
    return decoded[1:] - decoded[0]


def feature_names(estimator):
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return np.array([f"x{i}" for i in range(estimator.n_features_in_)], dtype=object)
    return np.asarray(names, dtype=object)


def _pandas():
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "unit_table returns a pandas DataFrame and needs pandas; install it with: "
            "pip install pandas (or use feature_effects, which returns an array)"
        ) from exc
    return pd


def unit_table(estimator, X, y=None, n_top=3):
    """The table of :meth:`VariationalSparseCoder.unit_table` (see there)."""
    pd = _pandas()
    X = estimator._validate_input(X)
    if y is not None:
        y = column_or_1d(y, warn=True)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} samples, but X has {X.shape[0]}.")
    Z = _code(estimator, X).astype(np.float64)
    active = Z != 0
    n_active = active.sum(axis=0)
    values = typical_values_of(Z)
    effects = feature_effects(estimator, values)
    Xd = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=np.float64)
    std = np.nanstd(Xd, axis=0)  # of the observed values (NaN: missing)
    std[~(std > 0)] = 1.0
    standardized = effects / std
    names = feature_names(estimator)
    n_positive = (Z > 0).sum(axis=0)
    positive = np.divide(n_positive, n_active, out=np.zeros(Z.shape[1]), where=n_active > 0)
    rows = []
    for j in range(Z.shape[1]):
        order = np.argsort(-np.abs(standardized[j]), kind="stable")[:n_top]
        if n_active[j] == 0:
            sign, top = "dead", ""
        else:
            sign = "+" if positive[j] >= ONE_SIGNED_SHARE else "-"
            sign = sign if max(positive[j], 1 - positive[j]) >= ONE_SIGNED_SHARE else "mixed"
            top = ", ".join(f"{names[i]} ({standardized[j, i]:+.2f} sd)" for i in order)
        row = {
            "unit": j,
            "activation_rate": n_active[j] / Z.shape[0],
            "positive_share": positive[j],
            "sign": sign,
            "typical_value": values[j],
            "top_features": top,
        }
        if y is not None:
            row.update(_alignment(y, active[:, j]))
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values("activation_rate", ascending=False, kind="stable").reset_index(
        drop=True
    )


def _alignment(y, on):
    """How the samples that use a unit differ in ``y`` from all samples: the
    majority class among them and its share (classes), or the mean of ``y``
    with and without the unit (a continuous target)."""
    if type_of_target(y) in ("binary", "multiclass"):
        if not on.any():
            return {"class": None, "class_share": np.nan, "class_base_share": np.nan}
        classes, counts = np.unique(y[on], return_counts=True)
        best = classes[np.argmax(counts)]
        return {
            "class": best,
            "class_share": counts.max() / on.sum(),
            "class_base_share": float(np.mean(y == best)),
        }
    y = y.astype(np.float64)
    return {
        "y_mean_active": float(y[on].mean()) if on.any() else np.nan,
        "y_mean_inactive": float(y[~on].mean()) if (~on).any() else np.nan,
    }
