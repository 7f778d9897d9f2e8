"""The aggregate activity prior (``prior="aggregate"``) against independent oracles.

The oracles use ``torch.distributions`` and explicit loops, never the
functions under test: the straight-through activity rate, the aggregate KL,
the exact split of the fixed prior's spike KL, and the training loss of
:class:`AggregateSpikeSlabLatent` inside the model's objective.
"""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from skvsc._core import elbo
from skvsc._core.latents import AggregateSpikeSlabLatent, SpikeSlabLatent, SpikeSlabPosterior
from skvsc._core.penalties import aggregate_spike_kl
from skvsc._core.schedule import StepValues

from .helpers import small_vae
from .oracles import aggregate_activity

GAMMA = torch.tensor(
    [[0.2, 0.9, 0.01, 0.6], [0.7, 0.3, 0.02, 0.4], [0.1, 0.95, 0.05, 0.8]], dtype=torch.float64
)


def _bernoulli_kl(p, q):
    p, q = torch.tensor(p, dtype=torch.float64), torch.tensor(q, dtype=torch.float64)
    return float(kl_divergence(Bernoulli(p), Bernoulli(q)))


def test_aggregate_activity_counts_like_transform_with_the_soft_gradient():
    gamma = GAMMA.clone().requires_grad_(True)
    rate = aggregate_activity(gamma)
    # Value: the fraction of rows with gamma > 1/2 (the non-zeros of transform).
    np.testing.assert_allclose(rate.detach().numpy(), [1 / 3, 2 / 3, 0.0, 2 / 3])
    # Gradient: that of the mean of gamma over the rows.
    rate.sum().backward()
    torch.testing.assert_close(gamma.grad, torch.full_like(GAMMA, 1 / 3))


def test_aggregate_spike_kl_is_the_bernoulli_kl_of_the_hard_rate():
    alpha = 0.3
    # three rows: the rate is clamped to [1/6, 5/6] (half a row)
    expected = [_bernoulli_kl(r, alpha) for r in (1 / 3, 2 / 3, 1 / 6, 2 / 3)]
    np.testing.assert_allclose(aggregate_spike_kl(GAMMA, alpha).numpy(), expected, rtol=1e-6)


def test_a_unit_off_on_the_whole_batch_is_pushed_back_on():
    # Unit 2 is off on every row (rate 0, below the clamp): its gradient still
    # lowers the loss by raising gamma (d KL / d r at r = 1/6 for alpha = 0.3).
    gamma = GAMMA.clone().requires_grad_(True)
    aggregate_spike_kl(gamma, 0.3).sum().backward()
    r, a = 1 / 6, 0.3
    slope = math.log(r / a) - math.log((1 - r) / (1 - a))
    torch.testing.assert_close(gamma.grad[:, 2], torch.full((3,), slope / 3, dtype=GAMMA.dtype))
    assert slope < 0


@pytest.mark.parametrize("alpha", [0.01, 0.2, 0.7])
def test_fixed_spike_kl_splits_into_information_and_aggregate_terms(alpha):
    # mean_n KL(Bern(g_n) || Bern(a)) = mean_n KL(Bern(g_n) || Bern(r)) + KL(Bern(r) || Bern(a)),
    # r = mean_n g_n: the identity behind prior="aggregate" (it drops the first term).
    for j in range(GAMMA.shape[1]):
        column = GAMMA[:, j].tolist()
        rate = sum(column) / len(column)
        fixed = sum(_bernoulli_kl(gn, alpha) for gn in column) / len(column)
        information = sum(_bernoulli_kl(gn, rate) for gn in column) / len(column)
        assert math.isclose(fixed, information + _bernoulli_kl(rate, alpha), rel_tol=1e-9)


def _deterministic_spike_kl(post, alpha):
    """KL of q(s_j) = delta(s_j - [gamma_j > 1/2]), slab N(mu, sigma^2), to the prior."""
    on = (post.gamma > 0.5).to(post.mu.dtype)
    sigma = torch.exp(0.5 * post.logvar)
    slab = kl_divergence(Normal(post.mu, sigma), Normal(0.0, 1.0))
    fee = on * math.log(1 / alpha) + (1 - on) * math.log(1 / (1 - alpha))
    return (on * slab + fee).sum(dim=1)


def _oracle_loss(model, x, values, generator):
    """The training loss of the aggregate family written out with torch.distributions."""
    post = model.encode(x)
    (eps,) = model.draw_noise(post.mu.shape, generator)
    sigma = torch.exp(0.5 * post.logvar)
    # the decoder sees the exact-sparse code's units, with slab noise
    z = (post.gamma > 0.5).to(x.dtype) * (post.mu + sigma * eps)
    nll = -model.log_likelihood(x, z)
    slab = kl_divergence(Normal(post.mu, sigma), Normal(0.0, 1.0))
    weight = values.kl_weight * model.latent.slab_kl_weight
    per_sample = nll + weight * (post.gamma * slab).sum(dim=1)
    n = x.shape[0]
    rate = (post.gamma > 0.5).to(x.dtype).mean(dim=0).clamp(0.5 / n, 1 - 0.5 / n)
    alpha = torch.tensor(model.latent.alpha, dtype=x.dtype)
    aggregate = kl_divergence(Bernoulli(rate), Bernoulli(alpha)).sum()
    return per_sample.mean() + aggregate


@pytest.mark.parametrize("kl_weight, slab_kl_weight", [(1.0, 1.0), (0.3, 1.0), (1.0, 0.1)])
def test_training_loss_is_reconstruction_slab_kl_and_aggregate_term(kl_weight, slab_kl_weight):
    model = small_vae(
        6,
        5,
        latent="spike_slab_aggregate",
        alpha=0.2,
        usage="balance",
        slab_kl_weight=slab_kl_weight,
    ).double()
    x = torch.rand(9, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    values = StepValues(sharpness=100.0, kl_weight=kl_weight, usage_weight=0.0)
    loss, stats = model.objective(x, values, torch.Generator().manual_seed(4))
    expected = _oracle_loss(model, x, values, torch.Generator().manual_seed(4))
    torch.testing.assert_close(loss, expected)
    # The reported KL is that of the deterministic-spike posterior (the loss is
    # not the -ELBO; the reported values are).
    post = model.encode(x)
    torch.testing.assert_close(
        stats[1], _deterministic_spike_kl(post, 0.2).sum(), rtol=0, atol=1e-3
    )


def test_gate_is_the_exact_code_forward_and_gamma_backward():
    gamma = GAMMA.clone().requires_grad_(True)
    post = SpikeSlabPosterior(torch.zeros_like(GAMMA), torch.zeros_like(GAMMA), gamma)
    gate = AggregateSpikeSlabLatent(4, alpha=0.1, usage="balance").gate(post)
    torch.testing.assert_close(gate.detach(), (GAMMA > 0.5).to(GAMMA.dtype))
    weights = torch.arange(1.0, 5.0, dtype=GAMMA.dtype)
    (gate * weights).sum().backward()
    # straight through: d gate / d gamma = 1
    torch.testing.assert_close(gamma.grad, weights.expand_as(GAMMA))


def test_fixed_family_trains_the_elbo():
    model = small_vae(6, 5, latent="spike_slab", alpha=0.2, usage="balance").double()
    x = torch.rand(9, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    values = StepValues(sharpness=100.0, usage_weight=0.0)
    loss, _ = model.objective(x, values, torch.Generator().manual_seed(4))
    elbo = model.elbo(x, [model.draw_noise((9, 5), torch.Generator().manual_seed(4))], values)
    torch.testing.assert_close(loss, -elbo.mean())


def test_aggregate_family_scores_and_codes_like_the_fixed_one():
    fixed = SpikeSlabLatent(4, alpha=0.1, usage="balance")
    aggregate = AggregateSpikeSlabLatent(4, alpha=0.1, usage="balance")
    post = fixed.posterior(
        {
            k: torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(i))
            for i, k in enumerate(("mu", "logvar", "gamma"))
        }
    )
    values = StepValues(sharpness=200.0)
    # Its KL is the fixed family's at gamma = the deterministic spikes.
    torch.testing.assert_close(
        aggregate.kl(post, values), _deterministic_spike_kl(post, 0.1), rtol=0, atol=1e-4
    )
    torch.testing.assert_close(aggregate.code(post), fixed.code(post))


@pytest.mark.parametrize("slab_weight", [1.0, 0.4])
def test_fused_training_terms_match_the_unfused_methods(slab_weight):
    # training_terms (one fused pass) against the family's own plain methods:
    # rsample, kl, regularizer and the gamma-weighted slab KL, values and gradients.
    latent = AggregateSpikeSlabLatent(5, alpha=0.2, usage="prior", slab_kl_weight=0.3)
    raw = {
        k: torch.randn(8, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(i))
        for i, k in enumerate(("mu", "logvar", "gamma"))
    }
    values = StepValues(sharpness=100.0, slab_weight=slab_weight, usage_weight=0.7)
    noise = latent.draw_noise((8, 5), torch.Generator().manual_seed(9))
    noise = tuple(t.double() for t in noise)
    up_z = torch.randn(8, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    up_kl = torch.linspace(0.5, 2.0, 8, dtype=torch.float64)

    def run(fused):
        leaves = {k: v.clone().requires_grad_() for k, v in raw.items()}
        post = latent.posterior(leaves)
        if fused:
            t = latent.training_terms(post, noise, values)
            z, kl, train_kl, penalty = t.z, t.kl, t.train_kl, t.penalty
        else:
            z, kl = latent.rsample(post, noise, values), latent.kl(post, values)
            mean, logvar = elbo.warmup_slab(post.mu, post.logvar, values.slab_weight)
            train_kl = 0.3 * (post.gamma * elbo.gaussian_kl(mean, logvar)).sum(dim=1)
            penalty = latent.regularizer(post, values)
        ((up_z * z).sum() + (up_kl * train_kl).sum() + penalty).backward()
        return [z, kl, train_kl, penalty] + [leaves[k].grad for k in raw]

    for fused, plain in zip(run(True), run(False)):
        torch.testing.assert_close(fused, plain)
