"""The likelihoods through the estimators: choice, data checks, Poisson counts."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from skvsc import VAETransformer, VariationalSparseCoder

FAST = dict(
    hidden_layer_sizes=(8,), max_iter=3, batch_size=16, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = {
    "vsc": VariationalSparseCoder(n_components=3, alpha=0.3, **FAST),
    "vae": VAETransformer(n_components=3, **FAST),
}


def counts(n=60, d=7, seed=0):
    rng = np.random.default_rng(seed)
    rates = np.exp(rng.normal(size=(n, 1)) + rng.normal(size=(1, d)))
    return rng.poisson(rates * 3).astype(np.float64)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_poisson_fits_counts(name):
    X = counts()
    est = clone(ESTIMATORS[name]).set_params(likelihood="poisson").fit(X)
    assert est.likelihood_ == "poisson"
    Z = est.transform(X)
    rates = est.inverse_transform(Z)
    assert rates.shape == X.shape and (rates > 0).all()
    scores = est.score_samples(X)
    assert np.isfinite(scores).all() and (scores < 0).all()
    np.testing.assert_array_equal(est.score_samples(X), scores)  # deterministic
    assert (est.sample(4, random_state=0) > 0).all()
    # Training improves the ELBO of counts.
    longer = clone(est).set_params(max_iter=20, learning_rate_init=1e-2).fit(X)
    assert longer.score(X) > est.score(X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_poisson_needs_non_negative_data(name):
    X = counts()
    X[2, 3] = -1.0
    est = clone(ESTIMATORS[name]).set_params(likelihood="poisson")
    with pytest.raises(ValueError, match=r"Poisson likelihood needs X >= 0 \(counts\)"):
        est.fit(X)
    fitted = clone(est).fit(counts())
    with pytest.raises(ValueError, match="Poisson likelihood needs X >= 0"):
        fitted.score_samples(X)
    # Encoding clips onto the support (log(1 + x) needs x > -1), with a warning.
    with pytest.warns(UserWarning, match=r"^1 of \d+ values of X .* outside >= 0"):
        Z = fitted.transform(X)
    np.testing.assert_array_equal(Z, fitted.transform(np.clip(X, 0, None)))


def test_poisson_accepts_non_integer_and_sparse_counts():
    X = counts() / 3.0  # e.g. normalised counts
    est = clone(ESTIMATORS["vsc"]).set_params(likelihood="poisson").fit(sp.csr_matrix(X))
    dense = clone(est).fit(X)
    np.testing.assert_allclose(est.transform(X), dense.transform(X), atol=1e-6)


def test_auto_never_picks_poisson():
    assert clone(ESTIMATORS["vae"]).fit(counts()).likelihood_ == "gaussian"
    assert clone(ESTIMATORS["vae"]).fit(counts() / counts().max()).likelihood_ == "bernoulli"


def test_an_unknown_likelihood_lists_the_choices():
    choices = r"\['auto', 'bernoulli', 'gaussian', 'mixed', 'poisson'\]"
    with pytest.raises(ValueError, match=choices):
        clone(ESTIMATORS["vae"]).set_params(likelihood="gamma").fit(counts())
