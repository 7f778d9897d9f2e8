"""Likelihoods against torch.distributions, and their protocol."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Normal, Poisson

from skvsc._core import likelihoods
from skvsc._core.likelihoods import (
    LIKELIHOODS,
    BernoulliLikelihood,
    GaussianLikelihood,
    PoissonLikelihood,
)

torch_rng = torch.Generator().manual_seed(0)


def randn(*shape):
    return torch.randn(*shape, generator=torch_rng, dtype=torch.float64)


def rand(*shape):
    return torch.rand(*shape, generator=torch_rng, dtype=torch.float64)


def test_bernoulli_log_likelihood_matches_torch_distributions():
    logits = randn(30, 11)
    x = (rand(30, 11) > 0.5).double()
    expected = Bernoulli(logits=logits).log_prob(x).sum(dim=1)
    torch.testing.assert_close(likelihoods.bernoulli_log_likelihood(x, logits), expected)


def test_bernoulli_log_likelihood_accepts_values_inside_the_unit_interval():
    logits, x = randn(30, 11), rand(30, 11)
    p = torch.sigmoid(logits)
    expected = (x * p.log() + (1 - x) * (1 - p).log()).sum(dim=1)
    torch.testing.assert_close(likelihoods.bernoulli_log_likelihood(x, logits), expected)


def test_gaussian_log_likelihood_matches_torch_distributions():
    x, mean, logvar = randn(30, 11), randn(30, 11), randn(11)
    expected = Normal(mean, (0.5 * logvar).exp()).log_prob(x).sum(dim=1)
    torch.testing.assert_close(likelihoods.gaussian_log_likelihood(x, mean, logvar), expected)


def test_poisson_log_likelihood_matches_torch_distributions():
    log_rate = randn(30, 11)
    x = torch.poisson(log_rate.exp() * 3, generator=torch_rng)
    expected = Poisson(log_rate.exp()).log_prob(x).sum(dim=1)
    torch.testing.assert_close(likelihoods.poisson_log_likelihood(x, log_rate), expected)


def test_poisson_likelihood_module_matches_torch_distributions():
    out = randn(30, 11)
    x = torch.poisson(out.exp(), generator=torch_rng)
    expected = Poisson(out.exp()).log_prob(x).sum(dim=1)
    likelihood = PoissonLikelihood(11).double()
    torch.testing.assert_close(likelihood.log_prob(x, out), expected)
    torch.testing.assert_close(likelihood.mean(out), out.exp())
    torch.testing.assert_close(likelihood.encoder_input(x), torch.log1p(x))


def test_poisson_accepts_non_integer_counts_with_the_same_formula():
    out, x = randn(5, 4), rand(5, 4) * 7
    expected = (x * out - out.exp() - torch.lgamma(x + 1)).sum(dim=1)
    torch.testing.assert_close(PoissonLikelihood(4).log_prob(x, out), expected)


def test_poisson_log_rate_is_clamped():
    out = torch.tensor([[-1e4, 1e4]], dtype=torch.float64)
    likelihood = PoissonLikelihood(2)
    assert torch.isfinite(likelihood.mean(out)).all()
    assert torch.isfinite(likelihood.log_prob(torch.tensor([[0.0, 3.0]]).double(), out)).all()


def test_gaussian_likelihood_is_in_the_original_units():
    """log p(x) of x = shift + scale * y, y ~ N(out, var): the Jacobian is included."""
    shift, scale = randn(6), rand(6) + 0.5
    likelihood = GaussianLikelihood(6, shift=shift, scale=scale).double()
    with torch.no_grad():
        likelihood.logvar.copy_(randn(6))
    out, x = randn(20, 6), randn(20, 6) * 3
    std = (0.5 * likelihood.logvar).exp() * likelihood.scale
    expected = Normal(out * likelihood.scale + likelihood.shift, std).log_prob(x).sum(dim=1)
    torch.testing.assert_close(likelihood.log_prob(x, out), expected)
    torch.testing.assert_close(likelihood.mean(out), out * likelihood.scale + likelihood.shift)


def test_bernoulli_likelihood_mean_is_the_probability():
    out = randn(5, 3)
    torch.testing.assert_close(BernoulliLikelihood(3).mean(out), torch.sigmoid(out))


@pytest.mark.parametrize(
    "name, low, high, match",
    [
        ("bernoulli", -0.5, 1.0, r"Bernoulli likelihood needs X in \[0, 1\].*MinMaxScaler"),
        ("bernoulli", 0.0, 1.5, r"ranges over \[0, 1.5\]"),
        ("poisson", -1.0, 3.0, r"Poisson likelihood needs X >= 0"),
    ],
)
def test_check_range_names_the_likelihood_and_the_range(name, low, high, match):
    with pytest.raises(ValueError, match=match):
        LIKELIHOODS[name].check_range(low, high)


@pytest.mark.parametrize("name", list(LIKELIHOODS))
def test_every_likelihood_follows_the_protocol(name):
    cls = LIKELIHOODS[name]
    likelihood = cls(4, shift=np.zeros(4), scale=np.ones(4)) if cls.standardizes else cls(4)
    x = torch.rand(3, 4)
    out = torch.randn(3, 4)
    assert likelihood.encoder_input(x).shape == (3, 4)
    assert likelihood.log_prob(x, out).shape == (3,)
    assert likelihood.mean(out).shape == (3, 4)
    low, high = cls.support
    cls.check_range(max(low, 0.0), min(high, 1.0))  # [0, 1] fits every support
    assert math.isinf(high) or high >= 1.0


def test_the_mixed_encoder_sees_each_column_as_its_own_likelihood_does():
    # Gaussian columns standardised, Poisson counts as log1p, Bernoulli as they are:
    # what the Gaussian, Poisson and Bernoulli likelihoods each give the encoder.
    shift, scale = np.array([1.0, 2.0, 3.0]), np.array([0.5, 4.0, 2.0])
    likelihood = LIKELIHOODS["mixed"](3, shift=shift, scale=scale)
    likelihood.set_kinds(["gaussian", "poisson", "bernoulli"])
    x = torch.tensor([[0.0, 3.0, 1.0], [2.5, 0.0, 0.0]])
    gaussian = LIKELIHOODS["gaussian"](1, shift=shift[:1], scale=scale[:1])
    expected = torch.cat(
        [
            gaussian.encoder_input(x[:, :1]),
            LIKELIHOODS["poisson"](1).encoder_input(x[:, 1:2]),
            LIKELIHOODS["bernoulli"](1).encoder_input(x[:, 2:]),
        ],
        dim=1,
    )
    torch.testing.assert_close(likelihood.encoder_input(x), expected)
    torch.testing.assert_close(expected[:, 0], torch.tensor([-2.0, 3.0]))  # (x - 1) / 0.5
