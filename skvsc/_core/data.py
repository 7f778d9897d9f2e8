"""Moving data between numpy/scipy and torch: training sources and batched maps.

A training source hands out batches of rows by index. Where the data go is
decided once, in :func:`make_source`: on the CPU the source wraps ``X``
without copying it; on a GPU the whole training set is moved to the device
once when it fits, otherwise it stays on the host and each batch is gathered
into pinned memory and copied asynchronously.
"""

import numpy as np
import scipy.sparse as sp
import torch

from .sources import StreamSource

#: A training set is made device-resident when it takes at most this
#: fraction of the free device memory (the rest is left to the model).
_RESIDENT_FRACTION = 0.5


class DenseSource:
    """Rows of a dense tensor; the whole tensor lives on one device."""

    def __init__(self, X, device):
        self.X = X.to(device)
        self.n_samples = X.shape[0]
        self.index_device = self.X.device

    def take(self, idx):
        return self.X.index_select(0, idx)


class CSRSource:
    """Rows of a CSR matrix held on the device, densified one batch at a time."""

    def __init__(self, X, device, dtype):
        X = sp.csr_matrix(X)
        X.sum_duplicates()
        self.n_samples, self.n_features = X.shape
        self.indptr = torch.as_tensor(X.indptr, dtype=torch.int64, device=device)
        self.indices = torch.as_tensor(X.indices, dtype=torch.int64, device=device)
        self.data = torch.as_tensor(X.data, dtype=dtype, device=device)
        self.index_device = self.data.device

    def take(self, idx):
        starts = self.indptr[idx]
        counts = self.indptr[idx + 1] - starts
        rows = torch.repeat_interleave(torch.arange(len(idx), device=idx.device), counts)
        # Position of each stored value inside its row, then in the CSR arrays.
        offsets = torch.cumsum(counts, 0) - counts
        within = torch.arange(rows.numel(), device=idx.device) - offsets[rows]
        flat = starts[rows] + within
        out = torch.zeros(len(idx), self.n_features, dtype=self.data.dtype, device=idx.device)
        out[rows, self.indices[flat]] = self.data[flat]
        return out


class HostSource:
    """Rows kept on the host, copied to ``device`` one batch at a time.

    Used when the training set does not fit on the GPU. Indices are CPU
    tensors (``index_device``); each batch is gathered into pinned memory and
    copied with ``non_blocking=True``, so the copy overlaps the queued GPU
    work. The caching host allocator keeps a pinned block alive until its
    copy has completed.
    """

    def __init__(self, X, device, dtype):
        self.X = X if sp.issparse(X) else _as_tensor(X, dtype)
        self.n_samples = X.shape[0]
        self.device, self.dtype = torch.device(device), dtype
        self.index_device = torch.device("cpu")
        self._pin = self.device.type == "cuda"

    def take(self, idx):
        if sp.issparse(self.X):
            rows = torch.from_numpy(self.X[idx.numpy()].toarray()).to(self.dtype)
            rows = rows.pin_memory() if self._pin else rows
        elif self._pin:  # gather straight into pinned memory
            out = torch.empty((len(idx), *self.X.shape[1:]), dtype=self.dtype, pin_memory=True)
            rows = torch.index_select(self.X, 0, idx, out=out)
        else:
            rows = self.X.index_select(0, idx)
        return rows.to(self.device, non_blocking=True)


def _as_tensor(X, dtype):
    """``X`` as a CPU tensor of ``dtype``, sharing memory with it when possible."""
    if isinstance(X, torch.Tensor):
        return X.to(dtype=dtype).contiguous()
    X = np.asarray(X)
    if X.dtype == torch.empty((), dtype=dtype).numpy().dtype and X.flags.writeable:
        # Row gathers need contiguous rows; a C-ordered float array is wrapped as is.
        return torch.from_numpy(np.ascontiguousarray(X))
    return torch.tensor(X, dtype=dtype)


def _fits_on_device(nbytes, device):
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= _RESIDENT_FRACTION * free


def make_source(X, device, dtype=torch.float32, *, resident=None):
    """Training source for a validated numpy array or scipy sparse matrix.

    ``resident`` (None: when it fits) holds the whole training set on
    ``device``; otherwise batches are copied from the host (pinned memory on
    a GPU). On the CPU a float array of ``dtype`` is used without a copy.
    Rows that are read in chunks (an object with ``read_into``, ``block_rows``
    and ``buffer_rows``) make a :class:`~.sources.StreamSource`.
    """
    device = torch.device(device)
    if hasattr(X, "read_into"):  # rows streamed from data larger than memory
        return StreamSource(X, device, dtype, block_rows=X.block_rows, buffer_rows=X.buffer_rows)
    if resident is None:
        itemsize = torch.empty((), dtype=dtype).element_size()
        nbytes = (
            X.data.nbytes + 2 * 8 * X.nnz if sp.issparse(X) else X.shape[0] * X.shape[1] * itemsize
        )
        resident = _fits_on_device(nbytes, device)
    if not resident:
        return HostSource(X, device, dtype)
    if sp.issparse(X):
        return CSRSource(X, device, dtype)
    return DenseSource(_as_tensor(X, dtype), device)


def to_tensor(X_batch, device, dtype):
    """A host batch (numpy rows or sparse rows) as a dense tensor on ``device``.

    On the CPU a float array of ``dtype`` is wrapped without a copy; on a GPU
    the batch goes through pinned memory and is copied asynchronously.
    """
    if sp.issparse(X_batch):
        X_batch = X_batch.toarray()
    t = _as_tensor(X_batch, dtype)
    device = torch.device(device)
    if device.type == "cuda":
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def map_batches(fn, X, *, batch_size, device, dtype, n_outputs=1):
    """Apply ``fn`` (tensor -> tensor or tuple) to row batches of ``X``.

    Streams ``X`` from the host so memory stays bounded; results are gathered
    into numpy arrays of ``dtype``. Returns one array or a tuple of them.
    """
    n = X.shape[0]
    outs = [None] * n_outputs
    np_dtype = torch.empty((), dtype=dtype).numpy().dtype
    for start in range(0, n, batch_size):
        result = fn(to_tensor(X[start : start + batch_size], device, dtype))
        result = result if isinstance(result, tuple) else (result,)
        for k, r in enumerate(result):
            if outs[k] is None:
                outs[k] = np.empty((n, *r.shape[1:]), dtype=np_dtype)
            outs[k][start : start + len(r)] = r.detach().cpu().numpy()
    return outs[0] if n_outputs == 1 else tuple(outs)
