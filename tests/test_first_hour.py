"""What a scikit-learn user meets in the first hour: hints and warnings with a remedy."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._base import _warn_if_diverged
from skvsc._data_checks import looks_like_8bit_pixels

FAST = dict(hidden_layer_sizes=(8,), max_iter=2, batch_size=64, random_state=0)


def test_unscaled_8bit_pixels_get_a_hint():
    X = np.random.default_rng(0).integers(0, 256, size=(60, 16)).astype(np.uint8)
    with pytest.warns(UserWarning, match="divide X by 255"):
        VAETransformer(n_components=2, **FAST).fit(X)
    # Scaled pixels, or an explicit likelihood, stay silent.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        VAETransformer(n_components=2, **FAST).fit(X / 255.0)
        VAETransformer(n_components=2, likelihood="gaussian", **FAST).fit(X)


@pytest.mark.parametrize(
    "X, expected",
    [
        (np.array([[0.0, 255.0], [3.0, 4.0]]), True),
        (np.array([[0.0, 2.5], [3.0, 4.0]]), False),  # not whole numbers
        (np.array([[0.0, 256.0]]), False),  # beyond 8 bits
        (np.array([[-1.0, 4.0]]), False),  # negative
        (np.array([[0.0, 1.0]]), False),  # already in [0, 1]
    ],
)
def test_looks_like_8bit_pixels(X, expected):
    assert looks_like_8bit_pixels(X, X.min(), X.max()) is expected


class _Est:
    learning_rate_init = 10.0

    def _learning_rate(self):
        return self.learning_rate_init


def test_a_diverged_fit_warns_with_a_remedy():
    with pytest.warns(UserWarning, match="Training diverged.*learning_rate_init"):
        _warn_if_diverged([120.0, 110.0, 4.4e10], _Est())
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _warn_if_diverged([120.0, 110.0, 111.0], _Est())  # noise, not divergence
        _warn_if_diverged([5.0], _Est())


def test_a_code_with_mostly_dead_units_warns():
    # The paper's fixed prior on 8x8 digits: a few units stay active, most die.
    X = load_digits().data / 16.0
    est = VariationalSparseCoder(
        n_components=32,
        alpha=0.3,
        prior="fixed",
        hidden_layer_sizes=(32,),
        max_iter=10,
        random_state=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    messages = [str(w.message) for w in caught]
    if 0 < est.mean_active_units_ and 2 * est.n_dead_units_ > 32:
        assert any("latent units are active on no training sample" in m for m in messages)
    else:
        assert not any("active on no training sample" in m for m in messages)


_READERS = ["transform", "score", "score_samples", "sparsity_report"]


@pytest.mark.parametrize(
    "Estimator, method",
    [(VAETransformer, m) for m in _READERS]
    + [(VariationalSparseCoder, m) for m in [*_READERS, "activity_proba", "encode_mean"]],
)
def test_every_method_refuses_data_outside_the_likelihood(Estimator, method):
    # fit refuses negative data for a Bernoulli model; so do the scores, which
    # cannot describe them. Encoding methods clip them onto [0, 1] with a
    # warning that counts them (new data scaled with a training split's range).
    rng = np.random.default_rng(0)
    X = rng.random((40, 6))
    est = Estimator(n_components=2, likelihood="bernoulli", **FAST).fit(X)
    for bad in (X - 0.5, 255.0 * X):
        if method.startswith("score"):
            with pytest.raises(ValueError, match=r"Bernoulli likelihood needs X in \[0, 1\]"):
                getattr(est, method)(bad)
        else:
            with pytest.warns(UserWarning, match=r"values of X .* clipped onto it"):
                getattr(est, method)(bad)
    getattr(est, method)(X)  # in range: accepted
