"""``decoder_layer_sizes``: the decoder's own hidden layers (None mirrors the encoder)."""

import warnings

import numpy as np
import pytest
import torch

import skvsc
from skvsc import VAETransformer, VariationalSparseCoder

FAST = dict(hidden_layer_sizes=(8,), max_iter=3, device="cpu", n_threads=1, random_state=0)


def _decoder_widths(est):
    """The widths of the decoder's linear layers, from the code to the output."""
    layers = [m for m in est.module_.decoder.modules() if isinstance(m, torch.nn.Linear)]
    return [layer.in_features for layer in layers] + [layers[-1].out_features]


@pytest.mark.parametrize(
    "cls, params, widths",
    [
        (VariationalSparseCoder, {}, [6, 8, 4]),  # None: the mirror of the encoder
        (VAETransformer, {}, [6, 8, 4]),
        (VariationalSparseCoder, {"decoder_layer_sizes": ()}, [6, 4]),  # linear
        (VAETransformer, {"decoder_layer_sizes": ()}, [6, 4]),
        (VariationalSparseCoder, {"decoder_layer_sizes": (3, 7)}, [6, 3, 7, 4]),
        (VAETransformer, {"hidden_layer_sizes": (), "decoder_layer_sizes": (5,)}, [6, 5, 4]),
    ],
)
def test_the_decoder_has_the_layers_asked_for(cls, params, widths):
    X = np.random.default_rng(0).normal(size=(40, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cls(**{**FAST, "n_components": 6, **params}).fit(X)
    assert _decoder_widths(est) == widths
    # the family counts what it builds (the saved-size check and the thread rule ask it)
    networks = [est.module_.encoder, est.module_.decoder]
    n_weights = sum(p.numel() for network in networks for p in network.parameters())
    assert est._run.spec.config(4, False).n_parameters() == n_weights


def test_none_is_the_mirror_of_the_encoder():
    # None draws the same weights as the encoder's sizes reversed, given explicitly.
    X = np.random.default_rng(0).normal(size=(40, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = VariationalSparseCoder(**FAST).fit(X)
        mirror = VariationalSparseCoder(**FAST, decoder_layer_sizes=(8,)).fit(X)
    np.testing.assert_array_equal(default.transform(X), mirror.transform(X))


def test_a_linear_decoder_survives_save_load_and_warm_start(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 4))
    params = {**FAST, "n_components": 6, "decoder_layer_sizes": (), "warm_start": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = VariationalSparseCoder(**params).fit(X)
    path = tmp_path / "model.skvsc"
    skvsc.save(est, path)
    loaded = skvsc.load(path)
    assert _decoder_widths(loaded) == [6, 4]
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded.fit(X)  # continues the same model
    with pytest.raises(ValueError, match="decoder_layer_sizes"):
        loaded.set_params(decoder_layer_sizes=(5,)).fit(X)


@pytest.mark.parametrize(
    "value, error", [("wide", ValueError), ((0,), ValueError), ((2.5,), ValueError), (3, TypeError)]
)
def test_bad_decoder_layer_sizes_is_refused_by_name(value, error):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(error, match="decoder_layer_sizes"):
        VariationalSparseCoder(decoder_layer_sizes=value, **FAST).fit(X)
