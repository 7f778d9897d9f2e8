"""``n_components="auto"``: the code follows the width of narrow inputs (issue 26)."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._widths import resolve_n_components

FAST = dict(hidden_layer_sizes=(8,), max_iter=3, device="cpu", n_threads=1, random_state=0)


@pytest.mark.parametrize(
    "n_features, expected", [(1, 10), (4, 40), (13, 130), (20, 200), (30, 200), (784, 200)]
)
def test_auto_width_follows_narrow_inputs_and_keeps_200_for_images(n_features, expected):
    assert resolve_n_components("auto", n_features) == expected
    assert resolve_n_components(7, n_features) == 7


@pytest.mark.parametrize("cls", [VariationalSparseCoder, VAETransformer])
def test_auto_is_resolved_at_fit_and_kept_by_warm_start(cls):
    X = np.random.default_rng(0).normal(size=(50, 3))
    est = cls(n_components="auto", warm_start=True, **FAST).fit(X)
    assert est.module_.n_components == 30
    assert est.transform(X).shape == (50, 30)
    assert len(est.get_feature_names_out()) == 30
    est.fit(X)  # continues: "auto" still means 30 units
    assert est.n_iter_ == 6
    with pytest.raises(ValueError, match="n_components=5 .the model has 30"):
        est.set_params(n_components=5).fit(X)


def test_default_is_auto():
    assert VariationalSparseCoder().n_components == "auto"


@pytest.mark.parametrize("value, error", [("all", ValueError), (2.5, TypeError), (0, ValueError)])
def test_bad_n_components_is_refused(value, error):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(error, match="n_components"):
        VariationalSparseCoder(n_components=value, **FAST).fit(X)


def test_a_code_with_more_active_units_than_features_warns():
    X = load_iris().data
    params = dict(device="cpu", n_threads=1, random_state=0)
    match = r"more than the 4 input features, out of n_components=200"
    with pytest.warns(UserWarning, match=match):
        wide = VariationalSparseCoder(n_components=200, max_iter=30, **params).fit(X)
    assert wide.mean_active_units_ > 4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        narrow = VariationalSparseCoder(**params).fit(X)
    assert narrow.module_.n_components == 40 and 1 <= narrow.mean_active_units_ < 4
    assert not any("does not compress" in str(w.message) for w in caught)
