"""The importance-sampled log p(x) against exact marginal likelihoods.

With a linear decoder and the Gaussian likelihood, ``log p(x)`` is a closed
form: a factor-analysis model for the Gaussian VAE, and for a spike-and-slab
prior a mixture over the ``2^J`` spike patterns of such models (pattern ``s``
keeps the columns of the active units), summed here by brute force.
"""

import itertools
import warnings

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._core.marginal import log_marginal


def _data(n_components, n_samples=300, seed=0):
    rng = np.random.RandomState(seed)
    Z = rng.randn(n_samples, n_components) * (rng.rand(n_samples, n_components) < 0.6)
    return Z @ rng.randn(n_components, 5) * 3.0 + 10.0 + 0.3 * rng.randn(n_samples, 5)


def _fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dead units, short fits
        return estimator.fit(X)


def _linear_parts(est):
    module = est.module_
    W = module.decoder.out.weight.detach().double().numpy()
    b = module.decoder.out.bias.detach().double().numpy()
    likelihood = module.likelihood
    var = likelihood.logvar.detach().double().clamp(-8, 8).exp().numpy()
    return W, b, var, likelihood.scale.double().numpy(), likelihood.shift.double().numpy()


def exact_log_px(est, X, patterns=None):
    """Exact log p(x) of a linear-Gaussian model; ``patterns`` (0/1 rows) restricts
    the sum to those spike patterns (None: the Gaussian prior, or all patterns)."""
    W, b, var, scale, shift = _linear_parts(est)
    mean = shift + scale * b

    def logpdf(columns):
        Ws = W[:, columns]
        cov = (Ws @ Ws.T + np.diag(var)) * np.outer(scale, scale)
        return multivariate_normal(mean, cov).logpdf(X)

    if not isinstance(est, VariationalSparseCoder):
        return logpdf(np.arange(W.shape[1]))
    alpha, J = est.alpha, W.shape[1]
    if patterns is None:
        patterns = np.array(list(itertools.product([0, 1], repeat=J)))
    terms = [
        s.sum() * np.log(alpha) + (J - s.sum()) * np.log1p(-alpha) + logpdf(s.astype(bool))
        for s in patterns
    ]
    return logsumexp(np.stack(terms), axis=0)


@pytest.fixture(scope="module")
def poor_vae():
    """A linear VAE whose encoder is far from the exact posterior (2 epochs)."""
    X = _data(2)
    est = VAETransformer(
        n_components=2,
        hidden_layer_sizes=(),
        likelihood="gaussian",
        max_iter=2,
        learning_rate_init=1e-2,
        device="cpu",
        random_state=0,
    )
    return _fit(est, X), X[:60]


def test_vae_estimate_converges_to_the_exact_log_likelihood(poor_vae):
    est, X = poor_vae
    exact = exact_log_px(est, X)
    elbo = est.score_samples(X)
    assert (exact - elbo).mean() > 0.5  # a loose bound, so the test can see the estimate close it
    estimate = est.log_likelihood(X, n_draws=4000, random_state=0)
    assert abs(estimate.mean() - exact.mean()) < 0.05
    # Row by row (a row's weights can be heavy-tailed under a poor encoder).
    assert np.median(np.abs(estimate - exact)) < 0.05


def test_estimate_is_above_the_elbo_and_rises_with_draws(poor_vae):
    est, X = poor_vae
    exact = exact_log_px(est, X).mean()
    elbo = est.score_samples(X).mean()
    means = {
        k: np.mean([est.log_likelihood(X, n_draws=k, random_state=s).mean() for s in range(4)])
        for k in (1, 10, 100, 1000)
    }
    # One draw is the ELBO in expectation (score averages 8 shared draws).
    assert abs(means[1] - elbo) < 0.25
    assert elbo < means[10] < means[100] < means[1000] < exact + 0.02


@pytest.mark.parametrize("prior", ["fixed", "aggregate"])
def test_spike_slab_estimate_matches_the_sum_over_spike_patterns(prior):
    X = _data(3)
    est = VariationalSparseCoder(
        n_components=3,
        alpha=0.4,
        prior=prior,
        hidden_layer_sizes=(),
        likelihood="gaussian",
        max_iter=3,
        learning_rate_init=1e-2,
        device="cpu",
        random_state=0,
    )
    _fit(est, X)
    X = X[:60]
    exact = exact_log_px(est, X)
    elbo = est.score_samples(X)
    estimate = est.log_likelihood(X, n_draws=4000, random_state=0)
    assert (exact - elbo).mean() > 0.2
    assert abs(estimate.mean() - exact.mean()) < 0.05
    # Row by row (a row's weights can be heavy-tailed under a poor encoder).
    assert np.median(np.abs(estimate - exact)) < 0.05


def test_deterministic_spikes_alone_miss_the_other_patterns():
    """With the aggregate prior's own posterior (spikes ``[gamma > 1/2]``) and no
    defensive weight, the draws cover one spike pattern per row: the estimate
    converges to ``log p(x, s(x))``, below ``log p(x)``; the default proposal
    does not."""
    X = _data(3)
    est = VariationalSparseCoder(
        n_components=3,
        alpha=0.4,
        slab_kl_weight=0.1,  # the model this margin was set on (the image default)
        hidden_layer_sizes=(),
        likelihood="gaussian",
        max_iter=20,
        learning_rate_init=1e-2,
        device="cpu",
        random_state=0,
    )
    _fit(est, X)
    X = X[:40]
    gate = est.transform(X) != 0
    one_pattern = np.array([exact_log_px(est, x[None], g[None]) for x, g in zip(X, gate)])
    exact = exact_log_px(est, X)
    assert (exact - one_pattern).mean() > 0.2
    module = est.module_.eval()
    x = torch.as_tensor(X, dtype=torch.float32)
    generators = [torch.Generator().manual_seed(i) for i in range(len(X))]
    with torch.no_grad():
        gated = log_marginal(module, x, generators, 3000, components=[("gate", 0.0)])
    gated = gated.numpy()
    assert np.median(np.abs(gated - one_pattern)) < 0.05
    assert (exact - gated).mean() > 0.2


def test_deterministic_for_a_seed_and_independent_of_batching(poor_vae, monkeypatch):
    est, X = poor_vae
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()
    a = est.log_likelihood(X, n_draws=30, random_state=3)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == np_state[1].tolist()
    np.testing.assert_array_equal(a, est.log_likelihood(X, n_draws=30, random_state=3))
    assert not np.array_equal(a, est.log_likelihood(X, n_draws=30, random_state=4))
    # Each row's draws are its own: the same values in smaller batches, and for a prefix.
    monkeypatch.setattr("skvsc._log_likelihood._DRAWS_PER_BATCH", 30 * 7)
    np.testing.assert_allclose(est.log_likelihood(X, n_draws=30, random_state=3), a, rtol=1e-6)
    np.testing.assert_allclose(
        est.log_likelihood(X[:9], n_draws=30, random_state=3), a[:9], rtol=1e-6
    )


def test_score_uses_the_estimate_through_n_draws(poor_vae):
    est, X = poor_vae
    assert est.score(X, n_draws=50) == pytest.approx(est.log_likelihood(X, 50, 0).mean(), rel=1e-6)
    assert est.score(X) == pytest.approx(est.score_samples(X).mean())
    assert est.score(X, n_draws=50) > est.score(X)
    assert est.log_likelihood(X.astype(np.float64), n_draws=5, random_state=0).dtype == np.float64


@pytest.mark.parametrize("n_draws", [0, -1, 2.5, "10"])
def test_bad_n_draws(poor_vae, n_draws):
    est, X = poor_vae
    with pytest.raises((ValueError, TypeError), match="n_draws"):
        est.log_likelihood(X, n_draws=n_draws)
