"""Missing values (NaN) in the estimators: fit, inference and saved files (the
core's masked likelihood and mask input: tests/core/test_missing_values.py)."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import skvsc
from skvsc import VAETransformer, VariationalSparseCoder


def table(fraction=0.2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 6)) @ rng.normal(size=(6, 6))
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < fraction] = np.nan
    return X, X_nan


ESTIMATORS = [
    lambda: VariationalSparseCoder(n_components=20, max_iter=3, random_state=0, n_threads=1),
    lambda: VAETransformer(n_components=4, max_iter=3, random_state=0, n_threads=1),
]


@pytest.mark.parametrize("make_estimator", ESTIMATORS)
def test_estimators_fit_and_run_on_data_with_missing_values(make_estimator):
    X, X_nan = table()
    est = make_estimator().fit(X_nan)
    assert est.module_.missing and est._run.config.missing
    Z = est.transform(X_nan)
    assert Z.shape == (80, est.module_.n_components) and np.isfinite(Z).all()
    assert np.isfinite(est.score_samples(X_nan)).all()
    assert np.isfinite(est.score(X)) and np.isfinite(est.log_likelihood(X_nan[:5], n_draws=4)).all()
    assert np.isfinite(est.transform(np.full((2, 6), np.nan))).all()  # nothing observed
    # A complete row scores the same as the row with its missing entries left out
    # only when nothing is missing: more observed entries, another likelihood.
    assert est.score_samples(X[:3]).shape == (3,)
    est.partial_fit(X_nan)
    est.partial_fit(X)  # complete rows: every entry observed
    assert est.module_.missing


@pytest.mark.parametrize("make_estimator", ESTIMATORS)
def test_missing_values_for_a_model_fitted_without_any_are_refused(make_estimator):
    X, X_nan = table()
    est = make_estimator().fit(X)
    assert not est.module_.missing
    for method in ("transform", "score_samples", "score"):
        with pytest.raises(ValueError, match="fitted on data without any"):
            getattr(est, method)(X_nan)
    before = [p.detach().clone() for p in est.module_.parameters()]
    n_iter = est.n_iter_
    with pytest.raises(ValueError, match="fitted on data without any"):
        est.partial_fit(X_nan)
    assert est.n_iter_ == n_iter  # a failed call leaves the estimator as it was
    assert all(torch.equal(a, b) for a, b in zip(before, est.module_.parameters()))


def test_infinite_values_stay_refused():
    X_nan = table()[1]
    X_nan[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        VAETransformer(max_iter=1).fit(X_nan)
    est = VAETransformer(n_components=2, max_iter=1, random_state=0).fit(table()[1])
    with pytest.raises(ValueError, match="infinity"):
        est.transform(X_nan)


def test_a_column_without_observed_values_is_refused_by_name():
    pd = pytest.importorskip("pandas")
    _, X_nan = table()
    X_nan[:, 3] = np.nan
    with pytest.raises(ValueError, match=r"all NaN\): column 3\."):
        VAETransformer(max_iter=1).fit(X_nan)
    frame = pd.DataFrame(X_nan, columns=list("abcdef"))
    with pytest.raises(ValueError, match=r"column 3 \('d'\)"):
        VAETransformer(max_iter=1).fit(frame)


def test_missing_values_with_auto_and_mixed_likelihoods_use_the_observed_values():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=60), rng.integers(0, 2, 60), rng.poisson(3.0, 60)]).astype(
        float
    )
    X[rng.random(X.shape) < 0.2] = np.nan
    est = VAETransformer(n_components=2, max_iter=2, likelihood="mixed", random_state=0).fit(X)
    assert est.module_.likelihood.column_kinds() == ["gaussian", "bernoulli", "poisson"]
    assert np.isfinite(est.score_samples(X)).all()
    est = VAETransformer(n_components=2, max_iter=2, random_state=0).fit(X[:, 1:2])
    assert est.likelihood_ == "bernoulli"  # "auto": the observed values are in [0, 1]
    gauss = VAETransformer(n_components=2, max_iter=2, random_state=0).fit(X[:, :1])
    observed = X[~np.isnan(X[:, 0]), 0]
    np.testing.assert_allclose(gauss.module_.likelihood.shift.numpy(), [observed.mean()], rtol=1e-6)
    np.testing.assert_allclose(gauss.module_.likelihood.scale.numpy(), [observed.std()], rtol=1e-5)


def test_sparse_input_with_missing_values():
    _, X_nan = table()
    X_nan[np.abs(np.nan_to_num(X_nan)) < 0.5] = 0.0
    dense = VAETransformer(n_components=2, max_iter=2, random_state=0).fit(X_nan)
    sparse = VAETransformer(n_components=2, max_iter=2, random_state=0).fit(sp.csr_matrix(X_nan))
    np.testing.assert_allclose(sparse.transform(sp.csr_matrix(X_nan)), dense.transform(X_nan))


def test_conv_network_refuses_missing_values():
    X = np.random.default_rng(0).random((20, 16))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="network='conv' does not take missing values"):
        VAETransformer(network="conv", conv_channels=(2,), max_iter=1).fit(X)


@pytest.mark.parametrize("make_estimator", ESTIMATORS)
def test_a_model_of_data_with_missing_values_saves_and_loads(make_estimator, tmp_path):
    _, X_nan = table()
    est = make_estimator().fit(X_nan)
    expected = est.transform(X_nan)
    path = tmp_path / "model.skvsc"
    skvsc.save(est, path)
    for loaded in (skvsc.load(path), pickle.loads(pickle.dumps(est))):
        assert loaded.module_.missing
        np.testing.assert_array_equal(loaded.transform(X_nan), expected)
        np.testing.assert_array_equal(loaded.score_samples(X_nan), est.score_samples(X_nan))


def test_unit_table_and_feature_effects_on_data_with_missing_values():
    pytest.importorskip("pandas")
    X_nan = table()[1]
    est = VariationalSparseCoder(n_components=20, max_iter=3, random_state=0, n_threads=1)
    est.fit(X_nan)
    assert np.isfinite(est.feature_effects()).all() and np.isfinite(est.unit_values_).all()
    units = est.unit_table(X_nan)
    assert "nan" not in " ".join(units["top_features"])
