"""The ``"auto"`` width, alpha and slab KL weight: narrow inputs (tables) get their own."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._widths import (
    NARROW_WIDTH,
    resolve_alpha,
    resolve_n_components,
    resolve_slab_kl_weight,
)

FAST = dict(hidden_layer_sizes=(8,), max_iter=3, device="cpu", n_threads=1, random_state=0)


@pytest.mark.parametrize(
    "n_features, expected", [(1, 10), (2, 20), (4, 40), (13, 130), (20, 200), (30, 200), (784, 200)]
)
def test_auto_width_follows_narrow_inputs_and_keeps_200_for_images(n_features, expected):
    # without alpha (VAETransformer): as at alpha=0.05, with no floor of 1 / alpha
    assert resolve_n_components("auto", n_features) == expected
    assert resolve_n_components(7, n_features) == 7


@pytest.mark.parametrize(
    "n_features, alpha, expected",
    [
        *[(4, 0.25, 8), (13, 0.25, 26), (30, 0.25, 60), (63, 0.25, 126)],
        *[(4, 0.05, 40), (13, 0.1, 65)],
        # at least 1 / alpha units, so that the prior expects an active unit per sample
        *[(1, 0.25, 4), (2, 0.25, 4), (1, 0.33, 4), (2, 0.33, 4), (1, 0.1, 10), (2, 0.001, 200)],
    ],
)
def test_auto_width_of_narrow_inputs_gives_half_their_width_in_active_units(
    n_features, alpha, expected
):
    assert resolve_n_components("auto", n_features, alpha) == expected
    assert resolve_n_components("auto", 64, alpha) == 200  # images: 200 whatever alpha


@pytest.mark.parametrize("n_features", [1, 2, 3])
def test_the_auto_width_of_a_narrow_input_expects_an_active_unit(n_features):
    # alpha * n_components >= 1 in floats too, wherever the 200-unit cap allows it
    for alpha in [*np.linspace(0.006, 0.99, 400), *(1 / k for k in range(2, 200))]:
        assert alpha * resolve_n_components("auto", n_features, alpha) >= 1, alpha


@pytest.mark.parametrize(
    "n_features, alpha, weight",
    [(4, 0.25, 0.01), (63, 0.25, 0.01), (64, 0.05, 0.1), (784, 0.05, 0.1)],
)
def test_auto_alpha_and_slab_kl_weight_follow_the_width(n_features, alpha, weight):
    assert (n_features < NARROW_WIDTH) == (alpha == 0.25)
    assert resolve_alpha("auto", n_features) == alpha
    assert resolve_slab_kl_weight("auto", n_features) == weight
    assert resolve_alpha(0.3, n_features) == 0.3
    assert resolve_slab_kl_weight(0.5, n_features) == 0.5


@pytest.mark.parametrize(
    "n_features, params, units, alpha, weight",
    [
        (4, {}, 8, 0.25, 0.01),  # a table: the narrow defaults
        (64, {}, 200, 0.05, 0.1),  # the 8x8 digits keep the image defaults
        (4, {"alpha": 0.05}, 40, 0.05, 0.01),  # the width follows a given alpha
        (4, {"slab_kl_weight": 0.5}, 8, 0.25, 0.5),
        (4, {"n_components": 12}, 12, 0.25, 0.01),
    ],
)
def test_the_fitted_model_holds_the_resolved_values(n_features, params, units, alpha, weight):
    X = np.random.default_rng(0).normal(size=(40, n_features))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = VariationalSparseCoder(**{**FAST, **params}).fit(X)
    assert est.module_.n_components == units
    assert est.module_.latent.alpha == alpha
    assert est.module_.latent.slab_kl_weight == weight
    assert est.get_params()["alpha"] == params.get("alpha", "auto")  # the parameter is kept


@pytest.mark.parametrize("cls, units", [(VariationalSparseCoder, 6), (VAETransformer, 30)])
def test_auto_is_resolved_at_fit_and_kept_by_warm_start(cls, units):
    X = np.random.default_rng(0).normal(size=(50, 3))
    est = cls(n_components="auto", warm_start=True, **FAST).fit(X)
    assert est.module_.n_components == units
    assert est.transform(X).shape == (50, units)
    assert len(est.get_feature_names_out()) == units
    est.fit(X)  # continues: "auto" still means the same units, alpha and weight
    assert est.n_iter_ == 6
    with pytest.raises(ValueError, match=f"n_components=5 .the model has {units}"):
        est.set_params(n_components=5).fit(X)
    if cls is VariationalSparseCoder:
        with pytest.raises(ValueError, match="alpha"):
            est.set_params(n_components="auto", alpha=0.05).fit(X)


def test_default_is_auto():
    est = VariationalSparseCoder()
    assert est.n_components == est.alpha == est.slab_kl_weight == "auto"


@pytest.mark.parametrize("name", ["alpha", "slab_kl_weight"])
def test_another_string_is_refused_by_name(name):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(TypeError, match=f"{name} must be a real number or 'auto'"):
        VariationalSparseCoder(**{name: "big"}, **FAST).fit(X)


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
    assert narrow.module_.n_components == 8 and 1 <= narrow.mean_active_units_ < 4
    assert not any("does not compress" in str(w.message) for w in caught)
