"""Data at the edge of a likelihood's support: ``likelihood="auto"`` chooses the
same likelihood on every split of the same data, rounding never fails a fit, and
encoding new data that leave the training support works inside a
cross-validated pipeline."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._data_checks import SUPPORT_TOLERANCE, auto_likelihood, data_range, onto_support

FAST = dict(
    n_components=4, hidden_layer_sizes=(8,), max_iter=2, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = [VariationalSparseCoder(alpha=0.3, **FAST), VAETransformer(**FAST)]


def unit_data(n=30, d=4, seed=0):
    return np.random.default_rng(seed).random((n, d))


@pytest.mark.parametrize(
    "low, high, expected",
    [
        (0.0, 1.0, "bernoulli"),
        (0.0, 1.0000000000000002, "bernoulli"),  # MinMaxScaler's rounding
        (-1e-9, 1.0, "bernoulli"),  # issue 22, item 6
        (-SUPPORT_TOLERANCE, 1.0 + SUPPORT_TOLERANCE, "bernoulli"),
        (-2 * SUPPORT_TOLERANCE, 1.0, "gaussian"),
        (0.0, 1.0 + 2 * SUPPORT_TOLERANCE, "gaussian"),
        (0.0, 1.5, "gaussian"),
        (-0.5, 0.5, "gaussian"),
    ],
)
def test_auto_likelihood_tolerates_rounding(low, high, expected):
    assert auto_likelihood(low, high) == expected


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_rounding_at_the_edges_fits_bernoulli_like_the_clipped_data(est):
    X = unit_data()
    X_rounded = X.copy()
    X_rounded[0, 0], X_rounded[1, 1] = -1e-9, 1.0000000000000002
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tolerated rounding is silent
        rounded = est.__class__(**est.get_params()).fit(X_rounded)
        clipped = est.__class__(**est.get_params()).fit(np.clip(X_rounded, 0, 1))
        assert rounded.likelihood_ == "bernoulli"
        np.testing.assert_array_equal(
            rounded.transform(X_rounded), clipped.transform(np.clip(X_rounded, 0, 1))
        )
        assert np.isfinite(rounded.score(X_rounded))
    # An explicit Bernoulli likelihood tolerates the same rounding.
    est.__class__(**{**est.get_params(), "likelihood": "bernoulli"}).fit(X_rounded)
    assert X_rounded[0, 0] == -1e-9  # the caller's array is never modified


def test_auto_choice_is_the_same_on_every_fold():
    # MinMaxScaler fitted on all the data: some folds hold its rounded maximum.
    X = MinMaxScaler().fit_transform(load_wine().data)
    choices = set()
    for train, _ in KFold(5, shuffle=True, random_state=0).split(X):
        est = VariationalSparseCoder(alpha=0.3, **{**FAST, "max_iter": 1}).fit(X[train])
        choices.add(est.likelihood_)
    assert choices == {"bernoulli"}


def test_onto_support_clips_sparse_and_dense_alike_and_counts():
    X = np.array([[-0.5, 0.2, 0.0], [1.5, 1.0 + 1e-9, 0.7]])
    with pytest.warns(UserWarning, match=r"^2 of 6 values .*\[-0.5, 1.5\]"):
        dense = onto_support(X, "bernoulli", strict=False)
    with pytest.warns(UserWarning, match=r"^2 of 6 values"):
        sparse = onto_support(sp.csr_matrix(X), "bernoulli", strict=False)
    expected = np.array([[0.0, 0.2, 0.0], [1.0, 1.0, 0.7]])
    np.testing.assert_array_equal(dense, expected)
    np.testing.assert_array_equal(sparse.toarray(), expected)
    assert X[0, 0] == -0.5
    with pytest.raises(ValueError, match=r"ranges over \[-0.5, 1.5\].*clip=True"):
        onto_support(X, "bernoulli", strict=True)
    with pytest.raises(ValueError, match="Poisson likelihood needs X >= 0"):
        onto_support(X, "poisson", strict=True)
    assert onto_support(X, "gaussian", strict=True) is X


def test_the_range_of_sparse_data_counts_their_implicit_zeros():
    # Stored values in [2, 5] and implicit zeros: the data range over [0, 5].
    X = sp.csr_matrix(np.array([[2.0, 0.0, 0.0], [0.0, 5.0, 3.0]]))
    assert data_range(X) == (0.0, 5.0)
    assert data_range(sp.csr_matrix(np.array([[2.0, 4.0], [3.0, 5.0]]))) == (2.0, 5.0)


def test_values_at_the_tolerance_are_clipped_silently_even_when_strict():
    X = np.array([[-SUPPORT_TOLERANCE, 0.5], [0.2, 1.0 + SUPPORT_TOLERANCE]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clipped = onto_support(X, "bernoulli", strict=True)
        np.testing.assert_array_equal(clipped, [[0.0, 0.5], [0.2, 1.0]])
        np.testing.assert_array_equal(onto_support(X, "bernoulli", strict=False), clipped)


@pytest.mark.parametrize("scaler", [MinMaxScaler, StandardScaler])
@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_cross_validation_never_returns_nan(scaler, est):
    # Test folds leave the training fold's [0, 1]: cross_val_score used to be all-NaN.
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(scaler(), est, LogisticRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the clipping, counted
        scores = cross_val_score(pipe, X, y, cv=3, error_score="raise")
    assert np.all(np.isfinite(scores))
