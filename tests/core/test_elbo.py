"""The latent terms of the ELBO against oracles: closed forms, torch.distributions, Monte Carlo."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from skvsc._core import active_set
from skvsc._core import elbo as _elbo

from . import oracles

torch_rng = torch.Generator().manual_seed(0)


def randn(*shape):
    return torch.randn(*shape, generator=torch_rng, dtype=torch.float64)


def rand(*shape):
    return torch.rand(*shape, generator=torch_rng, dtype=torch.float64)


def test_gaussian_kl_matches_torch_distributions():
    mu, logvar = randn(50, 7), randn(50, 7)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(_elbo.gaussian_kl(mu, logvar), expected)


def test_bernoulli_kl_matches_torch_distributions():
    gamma = rand(50, 7).clamp(0.01, 0.99)
    for alpha in (0.01, 0.3, 0.9):
        expected = kl_divergence(Bernoulli(probs=gamma), Bernoulli(probs=torch.tensor(alpha)))
        torch.testing.assert_close(_elbo.bernoulli_kl(gamma, alpha), expected)


def test_bernoulli_kl_is_finite_at_the_edges():
    gamma = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64)
    assert torch.isfinite(_elbo.bernoulli_kl(gamma, 0.01)).all()


def test_spike_slab_kl_is_gamma_weighted_slab_plus_bernoulli():
    mu, logvar, gamma = randn(20, 5), randn(20, 5), rand(20, 5)
    slab = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    spike = kl_divergence(Bernoulli(probs=gamma), Bernoulli(probs=torch.tensor(0.2)))
    torch.testing.assert_close(_elbo.spike_slab_kl(mu, logvar, gamma, 0.2), gamma * slab + spike)


def test_spike_slab_kl_reduces_to_vae_kl_when_always_active():
    mu, logvar = randn(20, 5), randn(20, 5)
    ones = torch.ones_like(mu)
    torch.testing.assert_close(
        _elbo.spike_slab_kl(mu, logvar, ones, 1.0), _elbo.gaussian_kl(mu, logvar)
    )


@pytest.mark.parametrize("alpha", [0.01, 0.2, 0.5])
def test_spike_slab_kl_is_zero_at_the_prior(alpha):
    zeros = torch.zeros(4, 3, dtype=torch.float64)
    kl = _elbo.spike_slab_kl(zeros, zeros, torch.full_like(zeros, alpha), alpha)
    torch.testing.assert_close(kl, torch.zeros_like(kl), atol=1e-12, rtol=0)


def test_spike_slab_kl_is_positive_away_from_the_prior():
    mu, logvar, gamma = randn(100, 5), randn(100, 5), rand(100, 5)
    assert (_elbo.spike_slab_kl(mu, logvar, gamma, 0.1) > 0).all()


def test_gaussian_sample_has_the_posterior_moments():
    n = 200_000
    mu, logvar = torch.tensor([1.5]), torch.tensor([math.log(0.25)])
    z = _elbo.gaussian_sample(mu, logvar, torch.randn(n, 1, generator=torch_rng))
    # Standard errors of the mean and the variance of n normal draws.
    assert abs(z.mean().item() - 1.5) < 5 * 0.5 / math.sqrt(n)
    assert abs(z.var().item() - 0.25) < 5 * 0.25 * math.sqrt(2 / n)


@pytest.mark.parametrize("gamma", [0.05, 0.3, 0.8])
def test_relaxed_spike_is_off_with_probability_one_minus_gamma(gamma):
    # z = T(eta - 1 + gamma) * slab: 0 with probability 1 - gamma, else the slab's value.
    n = 100_000
    eta = torch.rand(n, generator=torch_rng, dtype=torch.float64)
    slab = 2.0 + torch.rand(n, generator=torch_rng, dtype=torch.float64)  # in [2, 3]: never 0
    z = _elbo.spike_slab_sample(slab, torch.tensor(gamma), eta, 1e4)
    off = z.abs() < 1e-3
    # Binomial standard error; the relaxation at c = 1e4 adds a bias below 1e-3.
    tol = 5 * math.sqrt(gamma * (1 - gamma) / n) + 1e-3
    assert abs(off.double().mean().item() - (1 - gamma)) < tol
    on = (z - slab).abs() < 1e-3 * slab
    # The rest are inside the relaxation, |eta - 1 + gamma| < log(999) / c: 0.14 % of them.
    assert (off | on).double().mean().item() > 1 - 3e-3


def test_relaxed_step_sharpens_with_c():
    y = torch.tensor([-0.1, 0.1])
    soft, hard = _elbo.relaxed_step(y, 5.0), _elbo.relaxed_step(y, 200.0)
    assert hard[0] < soft[0] < 0.5 < soft[1] < hard[1]


def test_warmup_slab_interpolates_between_prior_and_posterior():
    mu, logvar = randn(5, 3), randn(5, 3)
    assert _elbo.warmup_slab(mu, logvar, 1.0) == (mu, logvar)
    mean0, logvar0 = _elbo.warmup_slab(mu, logvar, 0.0)
    torch.testing.assert_close(mean0, torch.zeros_like(mu))
    torch.testing.assert_close(logvar0, torch.zeros_like(mu))
    mean, lv = _elbo.warmup_slab(mu, logvar, 0.3)
    torch.testing.assert_close(lv.exp(), 0.3 * logvar.exp() + 0.7)
    torch.testing.assert_close(mean, 0.3 * mu)


@pytest.mark.parametrize("gamma_weighted", [True, False])
@pytest.mark.parametrize("floor", [False, True])
def test_gated_slab_terms_match_the_plain_composition_values_and_gradients(floor, gamma_weighted):
    # The fused autograd Function against the plain functions it replaces, with
    # the spikes of gamma > 1/2 and with the floor's spikes (rows 0-9 have no
    # unit above 1/2; the floor switches their top unit on).
    gamma0 = rand(40, 6)
    gamma0[:10] *= 0.5
    leaves = [randn(40, 6).requires_grad_(), randn(40, 6).requires_grad_()]
    gamma = gamma0.clone().requires_grad_()
    eps = randn(40, 6)
    spikes = gamma0 > 0.5
    if floor:
        spikes = active_set.floored(spikes, gamma0)
        assert spikes[:10].sum(dim=1).tolist() == [1] * 10
    spikes = spikes.to(gamma0.dtype)
    up_z, up_soft = randn(40, 6), randn(40)

    def plain(mu, logvar, gamma):
        return oracles.gated_slab_terms(mu, logvar, gamma, eps, spikes, gamma_weighted)

    def fused(mu, logvar, gamma):
        return _elbo.gated_slab_terms(mu, logvar, gamma, eps, spikes, gamma_weighted)

    results = []
    for fn in (plain, fused):
        inputs = [t.detach().clone().requires_grad_() for t in (*leaves, gamma)]
        z, soft, hard = fn(*inputs)
        ((up_z * z).sum() + (up_soft * soft).sum()).backward()
        results.append(([z, soft, hard], [t.grad for t in inputs]))
    (values, grads), (fused_values, fused_grads) = results
    for a, b in zip(values + grads, fused_values + fused_grads):
        torch.testing.assert_close(b, a)
    assert not fused_values[2].requires_grad  # the reported slab KL carries no gradient


@pytest.mark.parametrize("alpha", [0.01, 0.3, 0.9])
def test_deterministic_spike_kl_is_the_kl_of_dirac_spikes(alpha):
    # KL(delta(s) || Bernoulli(alpha)) = -log P(s): log(1/alpha) on, log(1/(1-alpha)) off.
    on = torch.tensor([0.0, 1.0, 5.0, 7.0], dtype=torch.float64)
    expected = [k * math.log(1 / alpha) + (7 - k) * math.log(1 / (1 - alpha)) for k in on.tolist()]
    torch.testing.assert_close(
        _elbo.deterministic_spike_kl(on, 7, alpha), torch.tensor(expected, dtype=torch.float64)
    )


def test_straight_through_gate_passes_the_spikes_forward_and_gamma_s_gradient_back():
    gamma = torch.tensor([0.5, 0.5 + 1e-6, 0.2], dtype=torch.float64, requires_grad=True)
    gate = _elbo.straight_through_gate(gamma, torch.tensor([False, True, True]))
    assert gate.tolist() == [0.0, 1.0, 1.0] and gate.dtype == torch.float64
    gate.sum().backward()
    assert gamma.grad.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("alpha, clamped", [(0.0, _elbo.EPS), (1.0, 1.0 - _elbo.EPS)])
def test_the_spike_kls_clamp_alpha_into_the_open_interval(alpha, clamped):
    # A per-unit alpha (the aggregate prior's) can reach 0 or 1 in floating point;
    # the KL then stays finite, as at the nearest alpha inside (0, 1).
    gamma = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    at_bound = _elbo.bernoulli_kl(gamma, torch.tensor(alpha, dtype=torch.float64))
    assert torch.isfinite(at_bound).all()
    torch.testing.assert_close(at_bound, _elbo.bernoulli_kl(gamma, clamped))
    n_active = torch.tensor([0.0, 2.0, 5.0], dtype=torch.float64)
    kl = _elbo.deterministic_spike_kl(n_active, 5, alpha)
    assert torch.isfinite(kl).all()
    torch.testing.assert_close(kl, _elbo.deterministic_spike_kl(n_active, 5, clamped))
