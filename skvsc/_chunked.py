"""Data larger than memory: NumPy memmaps, dask arrays, HDF5 and zarr datasets.

Such input (:func:`is_out_of_core`) is never loaded whole. :func:`fit_rows`
runs the checks of in-memory input chunk by chunk in one streaming pass
(feature count, dtype, NaN/inf with scikit-learn's messages, the value range
and the per-feature mean and variance) and returns a :class:`ChunkedRows`
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
        return validated(estimator, materialize(X), reset=reset)
    return ChunkedRows(estimator, X, reset=reset, sync=sync)


class ChunkedRows:
    """Rows of out-of-core data, validated chunk by chunk.

    Has ``shape``, ``dtype``, slices of rows (validated NumPy arrays),
    ``read_into(out, start, stop)``, the block and buffer sizes of training,
    and the statistics of the checking pass: ``value_range`` and
    ``column_stats`` (per-feature mean and standard deviation).
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
        self.dtype = validated(estimator, _read(X, 0, 1), reset=reset).dtype
        if sync is None:
            n, low, high, mean, m2 = self._check_and_summarize(0, self.shape[0])
        else:
            n, low, high, mean, m2 = self._check_part(sync)
        self.value_range = (low, high)
        scale = np.sqrt(m2 / n)
        scale[~(scale > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
        self.column_stats = (mean, scale)

    def _check_and_summarize(self, begin, end):
        """Check rows ``[begin, end)`` chunk by chunk: ``(n, low, high, mean, m2)``."""
        summary = (0, np.inf, -np.inf, None, None)
        step = _rows_per(self.X, PASS_BYTES)
        for start in range(begin, end, step):
            chunk = _read(self.X, start, min(end, start + step))
            chunk = validated(self.estimator, chunk, reset=False)
            c_mean = chunk.mean(axis=0, dtype=np.float64)
            c_m2 = ((chunk - c_mean) ** 2).sum(axis=0, dtype=np.float64)
            part = (len(chunk), float(chunk.min()), float(chunk.max()), c_mean, c_m2)
            summary = _merge(summary, part)
        return summary

    def _check_part(self, sync):
        """Each rank checks its share of the rows; the summaries are merged in
        rank order on every rank. A rank that finds bad data raises its error;
        the others raise a ValueError that points to it."""
        lo, hi = sync.share(self.shape[0])
        d = self.shape[1]
        error = None
        try:
            summary, failed = self._check_and_summarize(lo, hi), 0.0
        except ValueError as exc:
            summary, failed, error = None, 1.0, exc
        row = np.zeros(3 + 2 * d + 1)
        if summary is not None and summary[0]:
            n, low, high, mean, m2 = summary
            row[:3], row[3 : 3 + d], row[3 + d : 3 + 2 * d] = (n, low, high), mean, m2
        row[-1] = failed
        mine = torch.from_numpy(row).to(sync.device)
        rows = sync.gather(mine)
        if failed:
            raise error
        if any(float(r[-1]) for r in rows):
            raise ValueError(
                "Another rank found invalid values in its part of X (see its error); "
                "every rank must pass the same, valid data."
            )
        total = (0, np.inf, -np.inf, None, None)
        for r in rows:
            r = r.cpu().numpy()
            if r[0]:
                total = _merge(total, (int(r[0]), r[1], r[2], r[3 : 3 + d], r[3 + d : 3 + 2 * d]))
        return total

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        """Rows by a contiguous slice, or by an increasing array of row indices
        (read chunk by chunk: only the chunks that hold them)."""
        if isinstance(key, np.ndarray) and key.ndim == 1 and key.dtype.kind in "iu":
            return validated(self.estimator, self._take(key), reset=False)
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError(
                "out-of-core rows are read by contiguous slices or increasing row indices only"
            )
        start, stop, _ = key.indices(self.shape[0])
        return validated(self.estimator, _read(self.X, start, stop), reset=False)

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


def _merge(a, b):
    """Chan et al.'s merge of two summaries ``(n, low, high, mean, m2)`` of rows
    (``m2``: the per-feature sum of squared deviations from ``mean``)."""
    if a[0] == 0:
        return b
    n, k = a[0], b[0]
    delta = b[3] - a[3]
    mean = a[3] + delta * k / (n + k)
    m2 = a[4] + b[4] + delta**2 * n * k / (n + k)
    return n + k, min(a[1], b[1]), max(a[2], b[2]), mean, m2


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
