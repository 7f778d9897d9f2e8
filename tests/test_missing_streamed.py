"""Missing values (NaN) in out-of-core input: the streaming pass of checks
skips them in its statistics, a streamed fit trains the masked objective on
its batches, and the inference methods take NaN chunk by chunk as in memory."""

import numpy as np
import pytest

from skvsc import VariationalSparseCoder, _chunked
from skvsc._data_checks import column_facts, column_kinds, column_stats

PARAMS = dict(n_components=12, alpha=0.2, hidden_layer_sizes=(32,), max_iter=4, n_threads=1)
N, D = 1200, 6


def table(seed=0, fraction=0.2):
    """A table of Gaussian, binary and count columns with NaN at random."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.normal(3.0, 2.0, (N, 3)),
            rng.integers(0, 2, (N, 2)),
            rng.poisson(2.0, (N, 1)),
        ]
    ).astype(np.float32)
    X[rng.random(X.shape) < fraction] = np.nan
    X[-1, 0] = np.nan  # in the last chunk too
    return X


@pytest.fixture
def streaming(monkeypatch):
    """Stream everything: blocks of 50 rows, shuffle buffers of 300, passes of 400."""
    monkeypatch.setattr(_chunked, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(_chunked, "BLOCK_BYTES", 50 * D * 4)
    monkeypatch.setattr(_chunked, "SHUFFLE_BUFFER_BYTES", 300 * D * 4)
    monkeypatch.setattr(_chunked, "PASS_BYTES", 400 * D * 4)


def memmap_of(X, tmp_path, name="x.npy"):
    np.save(tmp_path / name, X)
    return np.load(tmp_path / name, mmap_mode="r")


def test_streaming_pass_statistics_skip_missing_values(tmp_path, streaming):
    X = table()
    rows = _chunked.fit_rows(VariationalSparseCoder(), memmap_of(X, tmp_path), reset=True)
    assert isinstance(rows, _chunked.ChunkedRows) and rows.missing
    assert rows.value_range == (float(np.nanmin(X)), float(np.nanmax(X)))
    mean, scale = rows.column_stats
    expected_mean, expected_scale = column_stats(X)  # the in-memory statistics
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(scale, expected_scale, rtol=1e-7)  # nanvar: float32 deviations
    for key, value in column_facts(X).items():
        np.testing.assert_array_equal(rows.columns[key], value, err_msg=key)
    assert column_kinds(rows) == ["gaussian"] * 3 + ["bernoulli"] * 2 + ["poisson"]
    complete = _chunked.fit_rows(
        VariationalSparseCoder(), memmap_of(np.nan_to_num(X), tmp_path, "c.npy"), reset=True
    )
    assert not complete.missing


def test_summaries_of_parts_merge_into_the_summary_of_the_whole():
    X = table().astype(np.float64)
    X[:400, 2] = np.nan  # a part without an observed value in a column
    whole = _chunked._summary(X)
    merged = None
    for part in (X[:400], X[400:401], X[401:]):
        merged = _chunked._merge(merged, _chunked._unpack(_chunked._pack(_chunked._summary(part))))
    for key in _chunked._SUMMARY_KEYS:
        np.testing.assert_allclose(merged[key], whole[key], rtol=1e-12, err_msg=key)
    assert merged["n"] == whole["n"] == N


@pytest.mark.parametrize("likelihood", ["auto", "mixed"])
def test_streamed_fit_with_missing_values_trains_the_masked_objective(
    tmp_path, streaming, likelihood
):
    X = table()
    memmap = memmap_of(X, tmp_path)
    est = VariationalSparseCoder(**PARAMS, likelihood=likelihood, random_state=0).fit(memmap)
    again = VariationalSparseCoder(**PARAMS, likelihood=likelihood, random_state=0).fit(memmap)
    assert est.loss_curve_ == again.loss_curve_ and np.isfinite(est.loss_curve_).all()
    assert est.module_.missing  # the encoder reads the mask
    reference = VariationalSparseCoder(**PARAMS, likelihood=likelihood, random_state=0).fit(X)
    assert est.loss_curve_ != reference.loss_curve_  # really streamed
    # The same masked objective as in memory (another row order): close losses.
    np.testing.assert_allclose(est.loss_curve_[-1], reference.loss_curve_[-1], rtol=0.05)
    if likelihood == "mixed":
        kinds = est.module_.likelihood.column_kinds()
        assert kinds == reference.module_.likelihood.column_kinds()
    np.testing.assert_allclose(
        est.module_.likelihood.shift.numpy(), reference.module_.likelihood.shift.numpy(), rtol=1e-6
    )
    # Inference streams NaN chunk by chunk: the in-memory results.
    np.testing.assert_array_equal(est.transform(memmap), est.transform(X))
    np.testing.assert_array_equal(est.score_samples(memmap), est.score_samples(X))
    assert np.isfinite(est.unit_values_).all() and est.unit_values_.any()
    # partial_fit continues on streamed data with missing values.
    est.partial_fit(memmap)
    assert est.n_iter_ == PARAMS["max_iter"] + 1


def test_small_out_of_core_input_with_missing_values_is_fitted_in_memory(tmp_path):
    X = table()
    a = VariationalSparseCoder(**PARAMS, random_state=0).fit(X)
    b = VariationalSparseCoder(**PARAMS, random_state=0).fit(memmap_of(X, tmp_path))
    assert a.loss_curve_ == b.loss_curve_ and b.module_.missing


def test_streamed_missing_values_are_refused_where_memory_refuses_them(tmp_path, streaming):
    X = table()
    empty = X.copy()
    empty[:, 4] = np.nan
    with pytest.raises(ValueError, match=r"all NaN\): column 4\."):
        VariationalSparseCoder(**PARAMS).fit(memmap_of(empty, tmp_path, "e.npy"))
    complete = np.nan_to_num(X)
    est = VariationalSparseCoder(**PARAMS, random_state=0).fit(memmap_of(complete, tmp_path))
    assert not est.module_.missing
    n_iter = est.n_iter_
    with pytest.raises(ValueError, match=r"missing values \(NaN\) in column 0, .*without any"):
        est.partial_fit(memmap_of(X, tmp_path, "nan.npy"))
    assert est.n_iter_ == n_iter
    with pytest.raises(ValueError, match="fitted on data without any"):
        est.transform(memmap_of(X, tmp_path, "nan.npy"))


def test_dask_array_with_missing_values(streaming):
    da = pytest.importorskip("dask.array")
    X = table()
    lazy = da.from_array(X, chunks=(100, D))
    est = VariationalSparseCoder(**PARAMS, random_state=0).fit(lazy)
    assert est.module_.missing
    Z = est.transform(lazy)
    np.testing.assert_array_equal(Z.compute(scheduler="synchronous"), est.transform(X))
