"""Latent families: posterior, sample, KL, regularizer, code, active units, prior."""

import math

import pytest
import torch

from skvsc._core import elbo
from skvsc._core.latents import (
    LATENTS,
    NormalLatent,
    NormalPosterior,
    SpikeSlabLatent,
    SpikeSlabPosterior,
)
from skvsc._core.penalties import balance_kl, usage_kl
from skvsc._core.schedule import StepValues

J = 4
g = torch.Generator().manual_seed(0)


def heads(n=7, names=("mu", "logvar", "gamma")):
    return {name: torch.randn(n, J, generator=g, dtype=torch.float64) for name in names}


def make(name, **params):
    if name.startswith("spike_slab"):
        params = {"alpha": 0.1, "usage": "balance", **params}
    return LATENTS[name](J, **params)


def test_posteriors_are_named_tuples_of_the_heads():
    raw = heads()
    post = make("spike_slab").posterior(raw)
    assert isinstance(post, SpikeSlabPosterior)
    torch.testing.assert_close(post.mu, raw["mu"])
    torch.testing.assert_close(post.logvar, raw["logvar"].clamp(-14.0, 8.0))
    torch.testing.assert_close(post.gamma, torch.sigmoid(raw["gamma"]))
    normal = make("normal").posterior(raw)
    assert isinstance(normal, NormalPosterior) and normal._fields == ("mu", "logvar")


def test_head_layout_is_the_posterior_fields():
    assert make("normal").head_names == ("mu", "logvar") and make("normal").n_heads == 2
    latent = make("spike_slab")
    assert latent.head_names == ("mu", "logvar", "gamma") and latent.n_heads == 3


def test_partial_posterior_leaves_the_other_fields_empty():
    post = make("spike_slab").posterior(heads(names=("gamma",)))
    assert post.mu is None and post.logvar is None and post.gamma is not None


def test_spike_slab_code_and_active_units():
    latent = make("spike_slab")
    post = latent.posterior(heads())
    active = latent.active(post)
    assert active.dtype == torch.bool
    torch.testing.assert_close(active, post.gamma > 0.5)
    torch.testing.assert_close(latent.code(post), torch.where(active, post.mu, 0.0))
    # code and active need only the fields they name.
    partial = latent.posterior({k: v for k, v in heads().items() if k in latent.code_fields})
    assert latent.code(partial).shape == (7, J)


def test_normal_code_is_mu_and_every_unit_is_active():
    latent = make("normal")
    post = latent.posterior(heads(names=("mu", "logvar")))
    torch.testing.assert_close(latent.code(post), post.mu)
    assert latent.active(post).all()


def test_kl_and_sample_are_the_elbo_terms():
    values = StepValues(sharpness=150.0, slab_weight=0.4)
    latent = make("spike_slab", alpha=0.2)
    post = latent.posterior(heads())
    mean, logvar = elbo.warmup_slab(post.mu, post.logvar, 0.4)
    expected = elbo.spike_slab_kl(mean, logvar, post.gamma, 0.2).sum(dim=1)
    torch.testing.assert_close(latent.kl(post, values), expected)
    eps, eta = latent.draw_noise(post.mu.shape, torch.Generator().manual_seed(3))
    z = latent.rsample(post, (eps.double(), eta.double()), values)
    slab = elbo.gaussian_sample(mean, logvar, eps.double())
    torch.testing.assert_close(z, elbo.spike_slab_sample(slab, post.gamma, eta.double(), 150.0))
    normal = make("normal")
    post = normal.posterior(heads())
    torch.testing.assert_close(
        normal.kl(post, values), elbo.gaussian_kl(post.mu, post.logvar).sum(dim=1)
    )


@pytest.mark.parametrize("usage", ["prior", "balance"])
def test_regularizer_uses_the_chosen_usage_form(usage):
    latent = make("spike_slab", usage=usage)
    post = latent.posterior(heads())
    gamma = post.gamma
    expected = balance_kl(gamma) if usage == "balance" else usage_kl(gamma, 0.1)
    regularizer = latent.regularizer(post, StepValues(usage_weight=2.0))
    torch.testing.assert_close(regularizer, 2.0 * expected.sum())
    assert latent.regularizer(post, StepValues(usage_weight=0.0)) is None
    assert make("normal").regularizer(post, StepValues(usage_weight=2.0)) is None


def test_aggregate_regularizer_is_the_rate_kl_plus_the_usage_penalty():
    # numpy-free oracle in plain float arithmetic: r_j the share of rows where
    # unit j is active (gamma > 1/2), p_j the batch mean of gamma_j.
    # A row with no such unit keeps its unit of largest gamma (the floor), as here:
    # its own generator, so that the inputs do not depend on the tests run before.
    latent = make("spike_slab_aggregate", alpha=0.3)
    own = torch.Generator().manual_seed(0)
    post = latent.posterior(
        {
            k: torch.randn(9, J, generator=own, dtype=torch.float64)
            for k in ("mu", "logvar", "gamma")
        }
    )
    gamma = post.gamma.tolist()
    n = len(gamma)

    def kl(p, q):
        p = min(max(p, 1e-6), 1 - 1e-6)
        return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))

    def spikes(row):
        on = [g > 0.5 for g in row]
        return on if any(on) else [j == row.index(max(row)) for j in range(J)]

    assert any(not any(g > 0.5 for g in row) for row in gamma)  # the floor acts
    rates = [sum(spikes(row)[j] for row in gamma) / n for j in range(J)]
    means = [sum(row[j] for row in gamma) / n for j in range(J)]
    aggregate = sum(kl(r, 0.3) for r in rates)
    balance = sum(kl(p, sum(means) / J) for p in means)
    off = latent.regularizer(post, StepValues(usage_weight=0.0))
    on = latent.regularizer(post, StepValues(usage_weight=2.0))
    assert 0 < rates[0] < 1 and balance > 1e-6  # neither term is trivially zero
    assert off.item() == pytest.approx(aggregate, rel=1e-9)
    assert on.item() == pytest.approx(aggregate + 2.0 * balance, rel=1e-9)


def test_unknown_usage_is_rejected():
    with pytest.raises(ValueError, match="usage"):
        SpikeSlabLatent(J, alpha=0.1, usage="often")


@pytest.mark.parametrize("alpha", [0.05, 0.5])
def test_spike_slab_prior_is_active_with_probability_alpha(alpha):
    n = 50_000
    z = make("spike_slab", alpha=alpha).prior_sample(n, torch.Generator().manual_seed(1))
    rate = (z != 0).double().mean().item()
    assert abs(rate - alpha) < 5 * math.sqrt(alpha * (1 - alpha) / (n * J))
    active = z[z != 0]
    assert abs(active.mean().item()) < 0.05 and abs(active.std().item() - 1) < 0.05


def test_normal_prior_is_standard_normal():
    z = NormalLatent(J).prior_sample(50_000, torch.Generator().manual_seed(1))
    assert abs(z.mean().item()) < 0.02 and abs(z.std().item() - 1) < 0.02


@pytest.mark.parametrize("name", list(LATENTS))
def test_every_latent_family_follows_the_protocol(name):
    latent = make(name)
    assert isinstance(latent, torch.nn.Module)
    post = latent.posterior(heads(names=latent.head_names))
    assert isinstance(post, tuple) and post._fields == latent.head_names
    values = StepValues(sharpness=200.0)
    noise = latent.draw_noise(post.mu.shape, torch.Generator())
    assert latent.rsample(post, tuple(t.double() for t in noise), values).shape == (7, J)
    assert latent.kl(post, values).shape == (7,)
    assert latent.code(post).shape == latent.active(post).shape == (7, J)
    assert set(latent.code_fields) <= set(latent.head_names)
    assert set(latent.active_fields) <= set(latent.head_names)
    assert latent.prior_sample(3, torch.Generator()).shape == (3, J)
