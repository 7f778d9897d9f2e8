"""Data larger than memory: NumPy memmaps, dask arrays, HDF5 and zarr datasets.

Such input (:func:`is_out_of_core`) is never loaded whole. :func:`fit_rows`
runs the checks of in-memory input chunk by chunk in one streaming pass
(feature count, dtype, inf with scikit-learn's messages, the value range, the
per-feature mean and variance of the observed values and the per-column facts
that choose and check the mixed likelihood's kinds; NaN is a missing value, as
in memory) and returns a :class:`ChunkedRows`
that the training source reads in blocks (:mod:`skvsc._core.sources`).
Data of at most :data:`IN_MEMORY_BYTES` are read whole instead and take the
in-memory path, with its results. The inference methods stream the rows
(:func:`map_rows`); a dask array gives a lazy dask array computed block by
block where the data live.
"""

import numpy as np
import torch

from ._data_checks import validated

#: Out-of-core data up to this size (float32 bytes) are read whole and fitted
#: as in-memory data, with bit-identical results.
IN_MEMORY_BYTES = 2**27
#: Rows are read in blocks of about this many bytes (a dask array: its row chunks).
BLOCK_BYTES = 2**20
#: Rows are shuffled within buffers of about this many bytes; two are held
#: at a time (one trains while the next is read).
SHUFFLE_BUFFER_BYTES = 2**27
#: Rows per chunk of the checks and of the inference methods (about this many bytes).
PASS_BYTES = 2**25


def is_out_of_core(X):
    """Whether ``X`` is read in chunks: a NumPy memmap, a dask array, an
    h5py dataset or a zarr array."""
    if isinstance(X, np.memmap):
        return True
    module = type(X).__module__.split(".")[0]
    return module in ("dask", "h5py", "zarr") and getattr(X, "ndim", None) == 2


def is_dask(X):
    return type(X).__module__.split(".")[0] == "dask"


def _rows_per(X, n_bytes):
    return max(1, n_bytes // (4 * max(1, X.shape[1])))


def _read(X, start, stop):
    chunk = X[start:stop]
    return np.asarray(chunk.compute() if is_dask(chunk) else chunk)


def materialize(X):
    """``X`` whole as a NumPy array (a memmap as it is: today's in-memory path)."""
    if isinstance(X, np.memmap):
        return X
    out = None
    step = _rows_per(X, PASS_BYTES)
    for start in range(0, X.shape[0], step):
        chunk = _read(X, start, start + step)
        if out is None:
            out = np.empty(X.shape, dtype=chunk.dtype)
        out[start : start + len(chunk)] = chunk
    return out if out is not None else np.asarray(_read(X, 0, 0))


def fit_rows(estimator, X, *, reset, sync=None):
    """Validated training data: ``X`` read whole when it is small, else a
    :class:`ChunkedRows` after one streaming pass of checks and statistics
    (in a data-parallel fit, ``sync``, each rank checks a part of the rows)."""
    if 4 * X.shape[0] * X.shape[1] <= IN_MEMORY_BYTES:
        return validated(estimator, materialize(X), reset=reset, allow_nan=True)
    return ChunkedRows(estimator, X, reset=reset, sync=sync)


class ChunkedRows:
    """Rows of out-of-core data, validated chunk by chunk.

    Has ``shape``, ``dtype``, slices of rows (validated NumPy arrays),
    ``read_into(out, start, stop)``, the block and buffer sizes of training,
    and the statistics of the checking pass over the observed (non-NaN)
    values: ``value_range``, ``column_stats`` (per-feature mean and standard
    deviation), ``missing`` (whether any value is NaN) and ``columns`` (per
    column: ``count`` of observed values, ``low``, ``high``, and whether all
    are 0 or 1, ``binary``, or whole numbers, ``whole``).
    """

    ndim = 2

    def __init__(self, estimator, X, *, reset, sync=None):
        self.X, self.estimator = X, estimator
        self.shape = tuple(X.shape)
        chunks = getattr(X, "chunks", None)
        if is_dask(X):
            self.block_rows = max(chunks[0])
        else:
            self.block_rows = _rows_per(X, BLOCK_BYTES)
        self.buffer_rows = max(self.block_rows, _rows_per(X, SHUFFLE_BUFFER_BYTES))
        # The first row fixes n_features_in_ (and the dtype); every chunk is checked.
        self.dtype = self._validated(_read(X, 0, 1), reset=reset).dtype
        if sync is None:
            summary = self._check_and_summarize(0, self.shape[0])
        else:
            summary = self._check_part(sync)
        count, mean, m2 = summary["count"], summary["mean"], summary["m2"]
        self.missing = bool((count < self.shape[0]).any())
        observed = count > 0
        low, high = summary["low"][observed], summary["high"][observed]
        self.value_range = (
            (float(low.min()), float(high.max())) if low.size else (float("nan"),) * 2
        )
        scale = np.sqrt(np.divide(m2, count, out=np.zeros_like(m2), where=observed))
        scale[~(scale > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
        self.column_stats = (mean, scale)
        self.columns = {key: summary[key] for key in ("count", "low", "high", "binary", "whole")}

    def _validated(self, chunk, reset=False):
        return validated(self.estimator, chunk, reset=reset, allow_nan=True)

    def _check_and_summarize(self, begin, end):
        """Check rows ``[begin, end)`` chunk by chunk: their :func:`_summary`."""
        summary = None
        step = _rows_per(self.X, PASS_BYTES)
        for start in range(begin, end, step):
            chunk = self._validated(_read(self.X, start, min(end, start + step)))
            summary = _merge(summary, _summary(chunk))
        return summary if summary is not None else _summary(np.empty((0, self.shape[1])))

    def _check_part(self, sync):
        """Each rank checks its share of the rows; the summaries are merged in
        rank order on every rank. A rank that finds bad data raises its error;
        the others raise a ValueError that points to it."""
        lo, hi = sync.share(self.shape[0])
        error = None
        try:
            row, failed = _pack(self._check_and_summarize(lo, hi)), 0.0
        except ValueError as exc:
            row, failed, error = _pack(_summary(np.empty((0, self.shape[1])))), 1.0, exc
        mine = torch.from_numpy(np.append(row, failed)).to(sync.device)
        rows = sync.gather(mine)
        if failed:
            raise error
        if any(float(r[-1]) for r in rows):
            raise ValueError(
                "Another rank found invalid values in its part of X (see its error); "
                "every rank must pass the same, valid data."
            )
        total = None
        for r in rows:
            total = _merge(total, _unpack(r.cpu().numpy()[:-1]))
        return total

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        """Rows by a contiguous slice, or by an increasing array of row indices
        (read chunk by chunk: only the chunks that hold them)."""
        if isinstance(key, np.ndarray) and key.ndim == 1 and key.dtype.kind in "iu":
            return self._validated(self._take(key))
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError(
                "out-of-core rows are read by contiguous slices or increasing row indices only"
            )
        start, stop, _ = key.indices(self.shape[0])
        return self._validated(_read(self.X, start, stop))

    def _take(self, rows):
        if len(rows) and (np.any(np.diff(rows) < 0) or rows[0] < 0 or rows[-1] >= len(self)):
            raise IndexError("out-of-core rows are taken by increasing indices within X")
        step = _rows_per(self.X, PASS_BYTES)
        parts = []
        for start in np.unique(rows // step) * step:
            inside = rows[(rows >= start) & (rows < start + step)]
            chunk = _read(self.X, start, min(len(self), start + step))
            parts.append(chunk[inside - start])
        if not parts:
            return _read(self.X, 0, 0)
        return np.concatenate(parts)

    def read_into(self, out, start, stop):
        out[...] = _read(self.X, start, stop)  # checked by the pass: only converted


class RowRanges:
    """The rows of file ranges ``[(begin, end), ...]`` of a :class:`ChunkedRows`,
    laid end to end: the training or the validation part of a streamed fit
    with early stopping (:func:`hold_out`). Read like its parent."""

    ndim = 2

    def __init__(self, rows, ranges):
        self.rows, self.ranges = rows, list(ranges)
        self._offsets = np.cumsum([0] + [end - begin for begin, end in self.ranges])
        self.shape = (int(self._offsets[-1]), rows.shape[1])
        self.dtype = rows.dtype
        self.block_rows, self.buffer_rows = rows.block_rows, rows.buffer_rows

    def __len__(self):
        return self.shape[0]

    def read_into(self, out, start, stop):
        position = 0
        for (begin, end), offset in zip(self.ranges, self._offsets, strict=False):
            lo, hi = max(start, offset), min(stop, offset + end - begin)
            if lo < hi:
                part = out[position : position + hi - lo]
                self.rows.read_into(part, begin + lo - offset, begin + hi - offset)
                position += hi - lo


def hold_out(rows, block_order, n_validation):
    """``(training, validation)`` :class:`RowRanges` of streamed ``rows``: the
    validation part is the first ``n_validation`` rows of the blocks taken in
    ``block_order`` (a permutation of the block indices; the last block taken
    may be split), so only whole blocks are read apart; both parts keep the
    file's order."""
    n, size = rows.shape[0], rows.block_rows
    validation, need = [], n_validation
    for block in block_order:
        if need <= 0:
            break
        begin = int(block) * size
        take = min(need, min(n, begin + size) - begin)
        validation.append((begin, begin + take))
        need -= take
    validation.sort()
    training, position = [], 0
    for begin, end in validation:
        if position < begin:
            training.append((position, begin))
        position = end
    if position < n:
        training.append((position, n))
    return RowRanges(rows, training), RowRanges(rows, validation)


def check_columns(estimator, X, n_expected):
    """Fail now, not when a lazy result is computed, on a wrong column count."""
    if X.shape[1] != n_expected:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{n_expected} features as input."
        )


#: The per-column entries of a summary (:func:`_summary`), in their packed order.
_SUMMARY_KEYS = ("count", "mean", "m2", "low", "high", "binary", "whole")


def _summary(chunk):
    """Per-column summary of the observed (non-NaN) values of a chunk of rows:
    ``count``, ``mean``, ``m2`` (sum of squared deviations from the mean),
    ``low``, ``high`` (+inf / -inf without observed values), ``binary`` (all
    0 or 1) and ``whole`` (all whole numbers), as float64 arrays."""
    d = chunk.shape[1]
    if len(chunk) == 0:
        zeros = np.zeros(d)
        return {
            "n": 0,
            "count": zeros,
            "mean": zeros,
            "m2": zeros,
            "low": zeros + np.inf,
            "high": zeros - np.inf,
            "binary": zeros + 1,
            "whole": zeros + 1,
        }
    nan = np.isnan(chunk)
    if not nan.any():  # complete data: the statistics of earlier versions, bit for bit
        mean = chunk.mean(axis=0, dtype=np.float64)
        count = np.full(d, float(len(chunk)))
        m2 = ((chunk - mean) ** 2).sum(axis=0, dtype=np.float64)
        values = chunk
    else:
        count = (~nan).sum(axis=0).astype(np.float64)
        total = np.where(nan, 0.0, chunk).sum(axis=0, dtype=np.float64)
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        m2 = np.where(nan, 0.0, (chunk - mean) ** 2).sum(axis=0, dtype=np.float64)
        values = np.ma.masked_array(chunk, nan)
    with np.errstate(invalid="ignore"):
        low = np.where(count > 0, np.asarray(np.ma.filled(values.min(axis=0), np.inf)), np.inf)
        high = np.where(count > 0, np.asarray(np.ma.filled(values.max(axis=0), -np.inf)), -np.inf)
        binary = np.ma.filled(((values == 0) | (values == 1)).all(axis=0), True)
        whole = np.ma.filled((values == np.round(values)).all(axis=0), True)
    return {
        "n": len(chunk),
        "count": count,
        "mean": mean,
        "m2": m2,
        "low": low.astype(np.float64),
        "high": high.astype(np.float64),
        "binary": np.asarray(binary, dtype=np.float64),
        "whole": np.asarray(whole, dtype=np.float64),
    }


def _merge(a, b):
    """The summary of the rows of two summaries (None: no rows): Chan et al.'s
    merge of the moments, per column over its observed values."""
    if a is None or a["n"] == 0:
        return b
    if b is None or b["n"] == 0:
        return a
    n, k = a["count"], b["count"]
    total = n + k
    delta = b["mean"] - a["mean"]
    seen = total > 0

    def over_total(value):
        return np.divide(value, total, out=np.zeros_like(total), where=seen)

    return {
        "n": a["n"] + b["n"],
        "count": total,
        "mean": a["mean"] + over_total(delta * k),
        "m2": a["m2"] + b["m2"] + over_total(delta**2 * n * k),
        "low": np.minimum(a["low"], b["low"]),
        "high": np.maximum(a["high"], b["high"]),
        "binary": np.minimum(a["binary"], b["binary"]),
        "whole": np.minimum(a["whole"], b["whole"]),
    }


def _pack(summary):
    """A summary as one float64 vector (to gather across ranks)."""
    return np.concatenate([[summary["n"]], *(summary[key] for key in _SUMMARY_KEYS)])


def _unpack(row):
    d = (len(row) - 1) // len(_SUMMARY_KEYS)
    parts = {key: row[1 + i * d : 1 + (i + 1) * d] for i, key in enumerate(_SUMMARY_KEYS)}
    return {"n": int(row[0]), **parts}


def map_rows(X, fn, n_out, with_position=False):
    """``fn`` (a method taking and returning NumPy rows) over the rows of
    out-of-core ``X``: a lazy dask array for a dask array (its row chunks, computed
    where they live), else a NumPy array filled chunk by chunk. ``n_out``: the
    output's columns (None: one value per row). ``with_position``: ``fn`` also
    takes the position in ``X`` of the chunk's first row."""
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    if is_dask(X):
        X = X.rechunk({1: -1})
        if with_position:
            offsets = np.cumsum((0, *X.chunks[0][:-1]))

            def block_fn(rows, block_id=None):
                return fn(rows, int(offsets[block_id[0]]))

        else:
            block_fn = fn
        if n_out is None:
            return X.map_blocks(block_fn, dtype=dtype, drop_axis=1)
        return X.map_blocks(block_fn, dtype=dtype, chunks=(X.chunks[0], (n_out,)))
    out = None
    step = _rows_per(X, PASS_BYTES)
    for start in range(0, X.shape[0], step):
        rows = _read(X, start, start + step)
        result = fn(rows, start) if with_position else fn(rows)
        if out is None:
            out = np.empty((X.shape[0], *result.shape[1:]), dtype=result.dtype)
        out[start : start + len(result)] = result
    return out
