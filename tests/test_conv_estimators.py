"""Both estimators with network="conv": the whole estimator API on images."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits

import skvsc
from skvsc import VAETransformer, VariationalSparseCoder

ESTIMATORS = {
    "vsc": lambda **kw: VariationalSparseCoder(n_components=12, **kw),
    "vae": lambda **kw: VAETransformer(n_components=4, **kw),
}


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:400] / 16.0


def make(name, **kwargs):
    options = dict(network="conv", conv_channels=(4, 8), hidden_layer_sizes=(32,))
    return ESTIMATORS[name](
        **{**options, "max_iter": 2, "random_state": 0, "n_threads": 1, **kwargs}
    )


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "poisson"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_conv_models_fit_encode_decode_and_score(name, likelihood, X):
    data = X * 16 if likelihood == "poisson" else X
    est = make(name, likelihood=likelihood).fit(data)
    Z = est.transform(data)
    assert Z.shape == (len(data), est.n_components) and np.isfinite(Z).all()
    assert est.inverse_transform(Z).shape == data.shape
    assert np.isfinite(est.score(data))
    assert est._run.spec.network == "conv"
    assert est._run.spec.network_params["conv_channels"] == (4, 8)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_conv_models_are_deterministic_and_persist(name, X, tmp_path):
    a, b = make(name).fit(X), make(name).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    skvsc.save(a, tmp_path / "m.skvsc")
    for copy in (skvsc.load(tmp_path / "m.skvsc"), pickle.loads(pickle.dumps(a))):
        np.testing.assert_array_equal(copy.transform(X), a.transform(X))
        copy.partial_fit(X)  # training continues from the saved state
        a_next = pickle.loads(pickle.dumps(a)).partial_fit(X)
        np.testing.assert_array_equal(copy.transform(X), a_next.transform(X))


def test_images_with_channels_and_non_square_shapes(X):
    rng = np.random.default_rng(0)
    rgb = rng.random((60, 6 * 10 * 3))
    est = make("vsc", image_shape=(6, 10, 3)).fit(rgb)
    assert est.transform(rgb).shape == (60, 12)


def test_a_warm_start_refuses_changed_conv_options(X):
    est = make("vsc").fit(X)
    est.set_params(warm_start=True, conv_channels=(4, 4))
    with pytest.raises(ValueError, match=r"conv_channels=\(4, 4\) \(the model has \(4, 8\)\)"):
        est.fit(X)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(image_shape=(7, 7)), "image_shape=.*holds 49 values.*64 features"),
        (dict(image_shape=(8, 8, 0)), "image_shape must be a tuple of positive ints"),
        (dict(conv_channels=(4, -1)), "conv_channels must be a tuple of positive ints"),
        (dict(network="cnn"), r"network must be one of \['conv', 'mlp'\]"),
    ],
)
def test_bad_conv_options_are_refused_before_training(kwargs, match, X):
    est = make("vsc", **kwargs)
    with pytest.raises(ValueError, match=match):
        est.fit(X)


def test_non_square_data_need_an_image_shape():
    with pytest.raises(ValueError, match="cannot infer a square image from 60 features"):
        make("vae").fit(np.random.default_rng(0).random((20, 60)))
