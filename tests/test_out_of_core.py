"""Out-of-core input: NumPy memmaps and dask arrays are read in chunks, never whole.

Small data take the in-memory path (bit-identical); the streaming path is
forced by patching the size thresholds of skvsc._chunked.
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skvsc import VariationalSparseCoder, _chunked, _interpret

X_DIGITS = (load_digits().data / 16.0).astype(np.float32)
PARAMS = dict(n_components=16, hidden_layer_sizes=(32,), max_iter=3, n_threads=1, random_state=0)


@pytest.fixture
def memmap(tmp_path):
    np.save(tmp_path / "x.npy", X_DIGITS)
    return np.load(tmp_path / "x.npy", mmap_mode="r")


@pytest.fixture
def streaming(monkeypatch):
    """Stream everything: blocks of 50 rows, shuffle buffers of 300 rows."""
    monkeypatch.setattr(_chunked, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(_chunked, "BLOCK_BYTES", 50 * 64 * 4)
    monkeypatch.setattr(_chunked, "SHUFFLE_BUFFER_BYTES", 300 * 64 * 4)
    monkeypatch.setattr(_chunked, "PASS_BYTES", 400 * 64 * 4)


def test_small_memmap_is_fitted_as_in_memory_data(memmap):
    a = VariationalSparseCoder(**PARAMS).fit(X_DIGITS)
    b = VariationalSparseCoder(**PARAMS).fit(memmap)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.transform(X_DIGITS), b.transform(memmap))


def test_streamed_fit_is_deterministic_and_close_to_in_memory(memmap, streaming):
    a = VariationalSparseCoder(**PARAMS).fit(memmap)
    b = VariationalSparseCoder(**PARAMS).fit(memmap)
    assert a.loss_curve_ == b.loss_curve_
    reference = VariationalSparseCoder(**PARAMS).fit(X_DIGITS)
    assert a.loss_curve_ != reference.loss_curve_  # another order: really streamed
    np.testing.assert_allclose(a.loss_curve_[-1], reference.loss_curve_[-1], rtol=0.03)
    # Inference on the memmap streams the rows: the in-memory results.
    np.testing.assert_array_equal(a.transform(memmap), a.transform(X_DIGITS))
    np.testing.assert_array_equal(a.score_samples(memmap), a.score_samples(X_DIGITS))


def test_streaming_pass_statistics(memmap, streaming):
    rows = _chunked.fit_rows(VariationalSparseCoder(), memmap, reset=True)
    assert isinstance(rows, _chunked.ChunkedRows)
    assert rows.value_range == (float(X_DIGITS.min()), float(X_DIGITS.max()))
    mean, scale = rows.column_stats
    std = X_DIGITS.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(mean, X_DIGITS.astype(np.float64).mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(scale[std > 0], std[std > 0], rtol=1e-10)
    np.testing.assert_array_equal(scale[std == 0], 1.0)


def test_checks_run_on_every_chunk(tmp_path, streaming):
    X = X_DIGITS.copy()
    X[-1, 3] = np.inf  # in the last chunk only (NaN is a missing value: test_missing_streamed)
    np.save(tmp_path / "inf.npy", X)
    with pytest.raises(ValueError, match="Input X contains infinity"):
        VariationalSparseCoder(**PARAMS).fit(np.load(tmp_path / "inf.npy", mmap_mode="r"))
    X[-1, 3] = -2.0
    np.save(tmp_path / "neg.npy", X)
    negative = np.load(tmp_path / "neg.npy", mmap_mode="r")
    with pytest.raises(ValueError) as streamed:
        VariationalSparseCoder(**PARAMS, likelihood="bernoulli").fit(negative)
    with pytest.raises(ValueError) as in_memory:
        VariationalSparseCoder(**PARAMS, likelihood="bernoulli").fit(np.asarray(X))
    assert str(streamed.value) == str(in_memory.value)


def test_streamed_fit_of_more_rows_than_the_typical_value_sample(memmap, streaming, monkeypatch):
    # The typical unit values come from evenly spaced rows taken from the
    # statistics pass over the streamed rows: the rows and values of memory.
    monkeypatch.setattr(_interpret, "TYPICAL_VALUE_ROWS", 100)
    est = VariationalSparseCoder(**PARAMS).fit(memmap)
    assert est.unit_values_.any()
    report = est.sparsity_report(X_DIGITS)
    np.testing.assert_array_equal(est.unit_values_, report["unit_values"])
    rows = _chunked.fit_rows(est, memmap, reset=False)
    picked = np.array([0, 3, 399, 400, 401, 1500, len(X_DIGITS) - 1])
    np.testing.assert_array_equal(rows[picked], X_DIGITS[picked])
    with pytest.raises(IndexError, match="increasing"):
        rows[picked[::-1]]


def test_wrong_feature_count(memmap, streaming):
    est = VariationalSparseCoder(**PARAMS).fit(memmap)
    with pytest.raises(ValueError, match="X has 64 features, but .* expecting"):
        est.inverse_transform(memmap)


def rows_of(ranges):
    return np.concatenate([np.arange(a, b) for a, b in ranges.ranges])


def test_streamed_hold_out_takes_blocks_apart(memmap, streaming):
    rows = _chunked.fit_rows(VariationalSparseCoder(), memmap, reset=True)
    order = np.random.default_rng(0).permutation(-(-len(X_DIGITS) // rows.block_rows))
    training, validation = _chunked.hold_out(rows, order, 180)
    train, val = rows_of(training), rows_of(validation)
    assert len(val) == validation.shape[0] == 180 and len(train) == len(X_DIGITS) - 180
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(len(X_DIGITS)))
    # The first blocks of the order, the last one cut: 3 whole blocks of 50 and 30 rows.
    assert set(val // rows.block_rows) == set(order[:4].tolist())
    for part, index in ((training, train), (validation, val)):
        out = np.empty((35, 64), dtype=np.float32)
        part.read_into(out, 20, 55)  # across the ranges
        np.testing.assert_array_equal(out, X_DIGITS[index[20:55]])
    # The file's last block is short (1,797 rows in blocks of 50): taken first, it
    # gives its 47 rows and no more.
    last = order.max()
    assert len(X_DIGITS) % rows.block_rows
    training, validation = _chunked.hold_out(rows, np.r_[last, order[order != last]], 180)
    train, val = rows_of(training), rows_of(validation)
    assert validation.shape[0] == len(val) == 180 and training.shape[0] == len(train)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(len(X_DIGITS)))
    assert set(range(last * rows.block_rows, len(X_DIGITS))) <= set(val.tolist())


def test_streamed_fit_with_early_stopping(memmap, streaming, monkeypatch):
    held_out = []
    hold_out = _chunked.hold_out
    monkeypatch.setattr(
        _chunked, "hold_out", lambda *a: held_out.append(hold_out(*a)) or held_out[-1]
    )
    params = {**PARAMS, "max_iter": 4, "early_stopping": True, "n_iter_no_change": 1}
    a = VariationalSparseCoder(**params).fit(memmap)
    b = VariationalSparseCoder(**params).fit(memmap)
    assert a.validation_scores_ == b.validation_scores_ and a.loss_curve_ == b.loss_curve_
    assert len(a.validation_scores_) == a.n_iter_
    _, validation = held_out[0]
    assert validation.shape[0] == round(0.1 * len(X_DIGITS))
    # The monitored score is the ELBO of the held-out rows, at the best epoch's weights.
    X_val = X_DIGITS[rows_of(validation)]
    best = max(a.validation_scores_)
    np.testing.assert_allclose(a.score(X_val), best, rtol=1e-5)


def test_dask_array_fit_and_lazy_inference(streaming):
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        X = client.persist(da.from_array(X_DIGITS, chunks=(100, 64)))
        est = VariationalSparseCoder(**PARAMS).fit(X)
        reference = VariationalSparseCoder(**PARAMS).fit(X_DIGITS)
        np.testing.assert_allclose(est.loss_curve_[-1], reference.loss_curve_[-1], rtol=0.03)
        Z = est.transform(X)
        assert isinstance(Z, da.Array) and Z.shape == (len(X_DIGITS), 16)
        np.testing.assert_array_equal(Z.compute(), est.transform(X_DIGITS))
        scores = est.score_samples(X)
        assert isinstance(scores, da.Array)
        np.testing.assert_array_equal(scores.compute(), est.score_samples(X_DIGITS))
        decoded = est.inverse_transform(Z)
        assert isinstance(decoded, da.Array)
        np.testing.assert_array_equal(decoded.compute(), est.inverse_transform(Z.compute()))
        assert est.score(X) == pytest.approx(est.score(X_DIGITS), rel=1e-6)


def test_dask_ml_wrappers():
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="dask-ml is not installed")
    X = da.from_array(X_DIGITS, chunks=(600, 64))  # 3 blocks
    # Incremental: one partial_fit (one epoch) per block, in order.
    incremental = wrappers.Incremental(VariationalSparseCoder(**PARAMS), shuffle_blocks=False)
    incremental.fit(X)
    by_hand = VariationalSparseCoder(**PARAMS)
    for start in range(0, len(X_DIGITS), 600):
        by_hand.partial_fit(X_DIGITS[start : start + 600])
    assert incremental.estimator_.n_iter_ == 3
    assert incremental.estimator_.loss_curve_ == by_hand.loss_curve_
    # ParallelPostFit: a fit in memory, transform block-wise and lazily.
    post = wrappers.ParallelPostFit(VariationalSparseCoder(**PARAMS)).fit(X_DIGITS)
    Z = post.transform(X)
    assert isinstance(Z, da.Array)
    np.testing.assert_array_equal(Z.compute(), post.estimator.transform(X_DIGITS))


@pytest.mark.parametrize("kind", ["h5py", "zarr"])
def test_h5py_and_zarr_datasets_are_streamed(tmp_path, streaming, kind):
    if kind == "h5py":
        h5py = pytest.importorskip("h5py", reason="h5py is not installed")
        f = h5py.File(tmp_path / "x.h5", "w")
        X = f.create_dataset("X", data=X_DIGITS)
    else:
        zarr = pytest.importorskip("zarr", reason="zarr is not installed")
        X = zarr.open_array(tmp_path / "x.zarr", mode="w", shape=X_DIGITS.shape, dtype="f4")
        X[:] = X_DIGITS
    assert _chunked.is_out_of_core(X)
    est = VariationalSparseCoder(**PARAMS).fit(X)
    again = VariationalSparseCoder(**PARAMS).fit(X)
    assert est.loss_curve_ == again.loss_curve_
    reference = VariationalSparseCoder(**PARAMS).fit(X_DIGITS)
    np.testing.assert_allclose(est.loss_curve_[-1], reference.loss_curve_[-1], rtol=0.03)
    np.testing.assert_array_equal(est.transform(X), est.transform(X_DIGITS))


def test_log_likelihood_of_out_of_core_input_equals_in_memory(memmap, streaming):
    # Chunks of 400 rows: each row keeps the seed of its position in X, so the
    # estimate is the in-memory one, bit for bit (a seed per chunk would not be).
    est = VariationalSparseCoder(**PARAMS).fit(X_DIGITS[:300])
    reference = est.log_likelihood(X_DIGITS, n_draws=4, random_state=3)
    np.testing.assert_array_equal(est.log_likelihood(memmap, n_draws=4, random_state=3), reference)
    np.testing.assert_array_equal(
        est.score_samples(memmap, n_draws=4), est.score_samples(X_DIGITS, n_draws=4)
    )
    assert est.score(memmap, n_draws=4) == est.score(X_DIGITS, n_draws=4)
    da = pytest.importorskip("dask.array")
    lazy = est.log_likelihood(da.from_array(X_DIGITS, chunks=(250, 64)), n_draws=4, random_state=3)
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(scheduler="synchronous"), reference)
