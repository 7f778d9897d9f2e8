"""Moving data between numpy/scipy and torch: training sources and batched maps."""

import numpy as np
import scipy.sparse as sp
import torch


class DenseSource:
    """Rows of a dense tensor; the whole tensor lives on one device."""

    def __init__(self, X, device):
        self.X = X.to(device)
        self.n_samples = X.shape[0]

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


def make_source(X, device, dtype=torch.float32):
    """Training source for a validated numpy array or scipy sparse matrix."""
    if sp.issparse(X):
        return CSRSource(X, device, dtype)
    return DenseSource(torch.tensor(np.asarray(X), dtype=dtype), device)


def to_tensor(X_batch, device, dtype):
    """A host batch (numpy rows or sparse rows) as a dense tensor on ``device``."""
    if sp.issparse(X_batch):
        X_batch = X_batch.toarray()
    return torch.tensor(X_batch, dtype=dtype).to(device, non_blocking=True)


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
