"""Training sources and batched maps: no copies of X, host-batched sources."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from skvsc._core import data
from skvsc._core.data import CSRSource, DenseSource, HostSource, make_source, map_batches, to_tensor

from .helpers import train_tiny

RNG = np.random.default_rng(0)
X32 = RNG.random((60, 12), dtype=np.float32)


def test_float32_training_data_is_not_copied():
    source = make_source(X32, "cpu")
    assert source.X.data_ptr() == X32.ctypes.data


def _read_only(X):
    X = X.copy()
    X.flags.writeable = False
    return X


@pytest.mark.parametrize(
    "X",
    [X32.astype(np.float64), np.asfortranarray(X32), _read_only(X32)],
    ids=["float64", "fortran", "read-only"],
)
def test_other_layouts_are_copied_once_without_warnings(X):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        source = make_source(X, "cpu")
    assert source.X.dtype == torch.float32 and source.X.is_contiguous()
    np.testing.assert_array_equal(source.X.numpy(), X32)


def test_transform_input_is_wrapped_and_left_unchanged():
    X = X32.copy()
    assert to_tensor(X, torch.device("cpu"), torch.float32).data_ptr() == X.ctypes.data
    out = map_batches(
        lambda x: x * 2, X, batch_size=7, device=torch.device("cpu"), dtype=torch.float32
    )
    np.testing.assert_array_equal(X, X32)
    np.testing.assert_array_equal(out, 2 * X32)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_host_batched_source_trains_like_the_resident_one(sparse):
    X = sp.csr_matrix(np.where(X32 > 0.5, X32, 0)) if sparse else X32
    host = make_source(X, "cpu", resident=False)
    assert isinstance(host, HostSource)
    resident_history, resident_weights = train_tiny(make_source(X, "cpu"))
    host_history, host_weights = train_tiny(host)
    assert [h["loss"] for h in host_history] == [h["loss"] for h in resident_history]
    for a, b in zip(host_weights, resident_weights):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_csr_source_densifies_the_rows_it_is_asked_for():
    X = sp.random(20, 7, density=0.3, format="csr", random_state=0, dtype=np.float32)
    source = make_source(X, "cpu")
    idx = torch.tensor([3, 0, 19, 3])
    np.testing.assert_array_equal(source.take(idx).numpy(), X.toarray()[[3, 0, 19, 3]])


def test_csr_source_sums_duplicate_entries():
    # CSR built from raw arrays may repeat a (row, column); scipy means their sum.
    data = np.array([1.0, 2.0, 0.5, 4.0, 3.0], dtype=np.float32)
    indices = np.array([2, 2, 0, 1, 1])
    indptr = np.array([0, 3, 3, 5])
    X = sp.csr_matrix((data, indices, indptr), shape=(3, 4))
    assert not X.has_canonical_format
    expected = X.toarray()
    assert expected[0, 2] == 3.0 and expected[2, 1] == 7.0
    source = make_source(X, "cpu")
    np.testing.assert_array_equal(source.take(torch.tensor([0, 1, 2])).numpy(), expected)
    np.testing.assert_array_equal(X.data, data)  # the caller's matrix is left as it was


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("resident", [None, False])
@pytest.mark.parametrize("sparse", [False, True])
def test_sources_and_batches_come_in_the_requested_dtype(dtype, resident, sparse):
    # float32 data into float64 sources and the other way round: each path converts.
    source_dtype = np.float32 if dtype == torch.float64 else np.float64
    X = sp.random(9, 4, density=0.5, format="csr", random_state=0, dtype=source_dtype)
    X = X if sparse else X.toarray()
    source = make_source(X, "cpu", dtype, resident=resident)
    # On the CPU everything fits: resident unless told otherwise.
    expected_kind = (CSRSource if sparse else DenseSource) if resident is None else HostSource
    assert type(source) is expected_kind
    rows = source.take(torch.tensor([1, 2]))
    assert rows.dtype == dtype and rows.device.type == "cpu"
    np.testing.assert_array_equal(rows.numpy(), densify(X)[[1, 2]].astype(rows.numpy().dtype))
    batch = to_tensor(X[2:5], "cpu", dtype)  # sparse rows are densified
    assert batch.dtype == dtype
    np.testing.assert_array_equal(batch.numpy(), densify(X[2:5]).astype(batch.numpy().dtype))


def densify(X):
    return X.toarray() if sp.issparse(X) else X


def test_the_residency_rule_counts_the_bytes_of_the_copy(monkeypatch):
    # On a GPU the training set stays on the device when its copy fits; the
    # copy of a CSR matrix is its values plus 64-bit column and row indices.
    seen = []
    monkeypatch.setattr(data, "_fits_on_device", lambda nbytes, device: seen.append(nbytes))
    X = sp.random(9, 4, density=0.5, format="csr", random_state=0, dtype=np.float64)
    make_source(X, "cpu", torch.float32)
    make_source(X.toarray(), "cpu", torch.float64)
    make_source(X.toarray(), "cpu", torch.float32)
    make_source(X.toarray(), "cpu", torch.float32, resident=True)  # no question asked
    assert seen == [X.data.nbytes + 16 * X.nnz, 9 * 4 * 8, 9 * 4 * 4]


def test_map_batches_calls_fn_on_batches_and_fills_arrays_of_the_dtype():
    X = np.arange(20.0).reshape(10, 2)
    sizes = []

    def fn(t):
        sizes.append(len(t))
        return t.sum(dim=1), t * 2

    total, doubled = map_batches(
        fn, X, batch_size=4, device="cpu", dtype=torch.float32, n_outputs=2
    )
    assert sizes == [4, 4, 2]
    assert total.dtype == doubled.dtype == np.float32
    np.testing.assert_array_equal(total, X.sum(axis=1))
    np.testing.assert_array_equal(doubled, 2 * X)
    # In float64, fn gets float64 batches and the arrays are float64.
    seen = []
    double = map_batches(
        lambda t: seen.append(t.dtype) or t, X, batch_size=4, device="cpu", dtype=torch.float64
    )
    assert double.dtype == np.float64 and set(seen) == {torch.float64}
