"""The ELBO of a fitted estimator against the exact log-likelihood of a linear model."""

import numpy as np
from scipy.stats import multivariate_normal

from skvsc import VAETransformer


def test_score_is_a_lower_bound_on_the_exact_log_likelihood():
    """Linear Gaussian VAE: log p(x) is a closed form (a factor-analysis model)."""
    rng = np.random.RandomState(0)
    X = rng.randn(400, 2) @ rng.randn(2, 5) * 3.0 + 10.0 + 0.3 * rng.randn(400, 5)
    vae = VAETransformer(
        n_components=2,
        hidden_layer_sizes=(),
        likelihood="gaussian",
        max_iter=30,
        learning_rate_init=1e-2,
        device="cpu",
        random_state=0,
    ).fit(X)
    module = vae.module_.double()
    W = module.decoder.out.weight.detach().numpy()
    b = module.decoder.out.bias.detach().numpy()
    likelihood = module.likelihood
    var = likelihood.logvar.detach().clamp(-8, 8).exp().numpy()
    scale, shift = likelihood.scale.numpy(), likelihood.shift.numpy()
    # x = shift + scale * (W z + b + noise): Gaussian with this mean and covariance.
    cov = (W @ W.T + np.diag(var)) * np.outer(scale, scale)
    log_px = multivariate_normal(shift + scale * b, cov).logpdf(X)
    vae.module_.float()
    elbo = vae.score_samples(X)
    # The ELBO is a bound on average (each sample's value is a noisy 8-draw estimate).
    assert elbo.mean() <= log_px.mean() + 0.05
    # ... and a tight one for a model this simple.
    assert log_px.mean() - elbo.mean() < 1.0
