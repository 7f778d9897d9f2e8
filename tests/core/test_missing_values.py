"""Missing values (NaN) in the core: the masked likelihood, the encoder's mask
input, the hidden share of observed entries in training, and the saved config."""

import pytest
import torch
from torch import distributions as D

from skvsc._core.likelihoods import (
    BernoulliLikelihood,
    GaussianLikelihood,
    MixedLikelihood,
    PoissonLikelihood,
    gaussian_log_likelihood,
)
from skvsc._core.schedule import Schedule
from skvsc._core.vae import HIDDEN_FRACTION, ModelConfig, build_vae

N, D_ = 7, 5
KINDS = ["gaussian", "bernoulli", "poisson", "gaussian", "poisson"]


def batch(seed=0):
    """Data valid for every likelihood's column kinds, decoder outputs and a mask."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(N, D_, generator=g, dtype=torch.float64)
    x[:, 2] = torch.poisson(torch.full((N,), 3.0, dtype=torch.float64), generator=g)
    x[:, 4] = torch.poisson(torch.full((N,), 0.5, dtype=torch.float64), generator=g)
    x[:, 1] = (x[:, 1] > 0.5).double()
    out = torch.randn(N, D_, generator=g, dtype=torch.float64)
    observed = torch.rand(N, D_, generator=g) > 0.3
    observed[0] = False  # a row with nothing observed
    observed[1] = True  # and one complete row
    return x, out, observed


def make(name):
    shift, scale = torch.arange(5.0), torch.linspace(0.5, 2.5, 5)
    if name == "bernoulli":
        return BernoulliLikelihood(D_).double()
    if name == "poisson":
        return PoissonLikelihood(D_).double()
    likelihood = {"gaussian": GaussianLikelihood, "mixed": MixedLikelihood}[name]
    likelihood = likelihood(D_, shift=shift, scale=scale).double()
    if name == "mixed":
        likelihood.set_kinds(KINDS)
    with torch.no_grad():
        likelihood.logvar.copy_(torch.linspace(-1.0, 1.0, 5))
    return likelihood


def entry_distribution(likelihood, name, j, out_j):
    """The distribution of column j given the decoder output, from torch.distributions."""
    kind = KINDS[j] if name == "mixed" else name
    if kind == "bernoulli":
        return D.Bernoulli(logits=out_j)
    if kind == "poisson":
        return D.Poisson(out_j.exp())
    shift, scale = float(likelihood.shift[j]), float(likelihood.scale[j])
    std = torch.exp(0.5 * likelihood.logvar[j]).double().detach()
    return D.Normal(shift + scale * out_j, scale * std)


@pytest.mark.parametrize("name", ["bernoulli", "gaussian", "poisson", "mixed"])
def test_masked_log_prob_matches_torch_distributions_on_observed_entries(name):
    likelihood = make(name)
    x, out, observed = batch()
    if name == "bernoulli":
        x = (x > 0.5).double()
    elif name == "poisson":
        x = torch.round(3 * x)
    expected = torch.zeros(N, dtype=torch.float64)
    for j in range(D_):
        terms = entry_distribution(likelihood, name, j, out[:, j]).log_prob(x[:, j])
        expected += torch.where(observed[:, j], terms, torch.zeros_like(terms))
    got = likelihood.log_prob(x, out, observed).detach()
    torch.testing.assert_close(got, expected)
    assert got[0] == 0  # nothing observed: log p = 0
    # The per-entry terms sum to the unmasked log-likelihood.
    full = likelihood.log_prob(x, out).detach()
    torch.testing.assert_close(likelihood.log_prob_elements(x, out).sum(1).detach(), full)
    torch.testing.assert_close(got[1], full[1])


def test_unmasked_gaussian_log_prob_is_the_formula_of_complete_data_bit_for_bit():
    # Models of complete data must train and score exactly as before masks existed.
    likelihood = make("gaussian")
    x, out, _ = batch()
    logvar = likelihood.logvar.clamp(-8.0, 8.0)
    before = gaussian_log_likelihood(likelihood.encoder_input(x), out, logvar)
    before = before - likelihood.scale.log().sum()
    assert torch.equal(likelihood.log_prob(x, out), before)


def model(missing, likelihood="gaussian", latent="spike_slab"):
    config = ModelConfig(
        n_features=D_,
        n_components=3,
        likelihood=likelihood,
        latent=latent,
        latent_params={"alpha": 0.5, "usage": "prior"} if latent == "spike_slab" else {},
        network_params={"hidden_layer_sizes": (8,)},
        missing=missing,
    )
    vae = build_vae(config, torch.Generator().manual_seed(0))
    return vae.double(), config


@pytest.mark.parametrize("likelihood", ["gaussian", "mixed"])
def test_vae_with_missing_values_encodes_the_mask_and_masks_the_likelihood(likelihood):
    vae, config = model(True, likelihood)
    if likelihood == "mixed":
        vae.likelihood.set_kinds(KINDS)
    x, _, observed = batch()
    x_nan = torch.where(observed, x, torch.full_like(x, float("nan")))
    assert vae.encoder.trunk[0].in_features == 2 * D_
    assert config.n_parameters() == sum(p.numel() for p in vae.parameters()) - D_  # no logvar
    # The encoder reads [the encoder input with missing entries at 0, the mask].
    filled = torch.where(observed, x, torch.zeros_like(x))
    inputs = torch.where(observed, vae.likelihood.encoder_input(filled), torch.zeros_like(x))
    expected = vae.encoder(torch.cat([inputs, observed.double()], dim=1))
    for got, want in zip(
        vae.encode(x_nan), vae.latent.posterior(dict(zip(vae.latent.head_names, expected)))
    ):
        torch.testing.assert_close(got, want)
    # log p(x | z) of the observed entries; the values behind the mask do not matter.
    z = torch.randn(N, 3, dtype=torch.float64)
    expected = vae.likelihood.log_prob(filled, vae.decoder(z), observed)
    torch.testing.assert_close(vae.log_likelihood(x_nan, z), expected)
    other = torch.where(observed, x, torch.full_like(x, 0.25))
    torch.testing.assert_close(vae.likelihood.log_prob(other, vae.decoder(z), observed), expected)


def training_batch():
    """A model of data with missing values, a batch with NaN where ``observed`` is
    False (and the batch, the mask), and mid-training step values."""
    vae, _ = model(True)
    x, _, observed = batch()
    x_nan = torch.where(observed, x, torch.full_like(x, float("nan")))
    return vae, x_nan, x, observed, Schedule(10, sharpness=(50.0, 200.0)).at(5)


def test_training_loss_with_missing_values_has_finite_gradients():
    vae, x_nan, _, _, values = training_batch()
    loss, stats = vae.objective(x_nan, values, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(stats).all()
    assert all(torch.isfinite(p.grad).all() for p in vae.parameters() if p.grad is not None)


def test_training_hides_a_share_of_the_observed_entries_from_the_encoder_only():
    vae, x_nan, x, observed, values = training_batch()
    loss, stats = vae.objective(x_nan, values, torch.Generator().manual_seed(3))
    # The same draws by hand: the hiding draw, then the latent noise.
    g = torch.Generator().manual_seed(3)
    seen = observed & (torch.rand(x.shape, generator=g, dtype=torch.float32) >= HIDDEN_FRACTION)
    assert (observed & ~seen).any()  # something was hidden
    filled = torch.where(observed, x, torch.zeros_like(x))
    inputs = torch.where(seen, vae.likelihood.encoder_input(filled), torch.zeros_like(x))
    heads = vae.encoder(torch.cat([inputs, seen.double()], dim=1))
    posterior = vae.latent.posterior(dict(zip(vae.latent.head_names, heads)))
    noise = vae.latent.draw_noise((N, 3), g)
    terms = vae.latent.training_terms(posterior, noise, values)
    nll = -vae.likelihood.log_prob(filled, vae.decoder(terms.z), observed)  # every observed entry
    expected = (nll + values.kl_weight * terms.train_kl).mean()
    if terms.penalty is not None:
        expected = expected + terms.penalty
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(stats[0], nll.sum().detach())


def test_a_model_of_complete_data_is_built_and_saved_as_before():
    vae, config = model(False)
    assert vae.encoder.trunk[0].in_features == D_ and not vae.missing
    assert "missing" not in config.to_dict()  # files of complete-data models are unchanged
    assert ModelConfig.from_dict(config.to_dict()) == config
    _, with_mask = model(True)
    assert with_mask.to_dict()["missing"] is True
    assert ModelConfig.from_dict(with_mask.to_dict()) == with_mask
