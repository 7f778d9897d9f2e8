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

#: Most rows whose codes give the typical values at the end of ``fit`` (evenly
#: spaced rows of the training data, taken from the batches of the one pass that
#: computes every code statistic): medians need the values, and these bound the
#: memory on large data.
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


class RowSample:
    """The codes of at most :data:`TYPICAL_VALUE_ROWS` evenly spaced rows of
    ``n_rows`` rows, taken from the batches of a pass over them (:meth:`add`),
    for the units' typical values (:meth:`medians`): the pass that computes
    the other code statistics encodes each row once, and no row again. The
    rows depend on ``n_rows`` only (every row when there are fewer)."""

    def __init__(self, n_rows):
        limit = TYPICAL_VALUE_ROWS
        if n_rows > limit:
            self.rows = np.linspace(0, n_rows - 1, limit).round().astype(np.intp)
        else:
            self.rows = np.arange(n_rows)
        self.codes = []

    def add(self, Z, first_row):
        """The codes ``Z`` (a batch of rows, tensor or array) of rows
        ``first_row, first_row + 1, ...`` of the data; batches come in order."""
        lo, hi = np.searchsorted(self.rows, [first_row, first_row + Z.shape[0]])
        if hi > lo:
            Z = Z.detach().cpu().numpy() if hasattr(Z, "detach") else np.asarray(Z)
            self.codes.append(Z[self.rows[lo:hi] - first_row])

    def gather(self, sync, n_units):
        """The sampled codes of every rank of a data-parallel fit, in rank order
        (each rank passed a contiguous share of the rows), on every rank."""
        mine = torch.from_numpy(self.code(n_units))
        counts = sync.gather(torch.tensor([float(len(mine))], device=sync.device))
        longest = int(max(float(count[0]) for count in counts))
        padded = torch.zeros((longest, n_units), dtype=mine.dtype)
        padded[: len(mine)] = mine
        parts = sync.gather(padded.to(sync.device))
        self.codes = [
            part[: int(count[0])].cpu().numpy() for part, count in zip(parts, counts, strict=True)
        ]

    def code(self, n_units):
        """The sampled rows' codes, in row order."""
        return np.concatenate(self.codes) if self.codes else np.zeros((0, n_units), np.float32)

    def medians(self, n_units):
        """:func:`typical_values_of` the sampled codes."""
        return typical_values_of(self.code(n_units))


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
            one_signed = max(positive[j], 1 - positive[j]) >= ONE_SIGNED_SHARE
            sign = ("+" if positive[j] > 0.5 else "-") if one_signed else "mixed"
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
