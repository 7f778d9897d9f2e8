"""The composed model: inference paths, objective, ELBO, building from a config."""

import numpy as np
import pytest
import torch

from skvsc._core.latents import LATENTS
from skvsc._core.likelihoods import LIKELIHOODS
from skvsc._core.schedule import StepValues
from skvsc._core.vae import ModelConfig, build_vae

from .helpers import small_vae

X32 = np.random.default_rng(0).random((60, 12), dtype=np.float32)


@pytest.mark.parametrize("likelihood", list(LIKELIHOODS))
def test_inference_heads_match_the_full_encoder(likelihood):
    # transform, encode_mean and activity_proba skip the heads they do not need.
    g = torch.Generator().manual_seed(0)
    x = torch.rand(50, 12, generator=g, dtype=torch.float64)
    vsc = small_vae(12, 7, (9,), likelihood=likelihood, generator=g, alpha=0.1).double()
    mu, _, gamma = vsc.encode(x)
    torch.testing.assert_close(vsc.posterior_field(x, "mu"), mu)
    torch.testing.assert_close(vsc.posterior_field(x, "gamma"), gamma)
    torch.testing.assert_close(vsc.code(x), torch.where(gamma > 0.5, mu, torch.zeros_like(mu)))
    torch.testing.assert_close(vsc.active(x), gamma > 0.5)
    vae = small_vae(12, 7, (), likelihood=likelihood, latent="normal", generator=g).double()
    torch.testing.assert_close(vae.code(x), vae.encode(x)[0])


def test_objective_is_the_weighted_elbo_plus_the_regularizer():
    model = small_vae(12, 3, usage="balance").double()
    x = torch.from_numpy(X32[:20]).double()
    values = StepValues(sharpness=100.0, kl_weight=0.3, usage_weight=2.0)
    counts = torch.zeros(3, dtype=torch.long)
    loss, stats = model.objective(x, values, torch.Generator().manual_seed(5), counts)
    # The same draws by hand.
    post = model.encode(x)
    noise = model.draw_noise(post.mu.shape, torch.Generator().manual_seed(5))
    z = model.latent.rsample(post, noise, values)
    nll = -model.log_likelihood(x, z)
    kl = model.latent.kl(post, values)
    expected = (nll + 0.3 * kl).mean() + model.latent.regularizer(post, values)
    torch.testing.assert_close(loss, expected)
    active = post.gamma > 0.5
    torch.testing.assert_close(stats, torch.stack([nll.sum(), kl.sum(), active.sum().double()]))
    assert counts.tolist() == active.sum(dim=0).tolist()


def test_elbo_with_shared_noise_is_deterministic_and_batch_independent():
    model = small_vae(12, 3).double()
    x = torch.from_numpy(X32).double()
    g = torch.Generator().manual_seed(0)
    noises = [model.draw_noise((1, 3), g) for _ in range(4)]
    noises = [tuple(t.double() for t in n) for n in noises]
    whole = model.elbo(x, noises, StepValues(200.0))
    parts = torch.cat(
        [model.elbo(x[i : i + 7], noises, StepValues(200.0)) for i in range(0, 60, 7)]
    )
    torch.testing.assert_close(parts, whole)
    assert whole.shape == (60,) and (whole < 0).all()


def test_build_vae_is_deterministic_and_leaves_the_global_rng_alone():
    config = ModelConfig(12, 4, "gaussian", "spike_slab", {"alpha": 0.2, "usage": "balance"},
                         "mlp", {"hidden_layer_sizes": (8, 5)})  # fmt: skip
    before = torch.get_rng_state()
    a = build_vae(config, torch.Generator().manual_seed(3), np.zeros(12), np.ones(12))
    b = build_vae(config, torch.Generator().manual_seed(3), np.zeros(12), np.ones(12))
    assert torch.equal(torch.get_rng_state(), before)
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert a.device == torch.device("cpu") and a.n_components == 4


def test_state_dict_keys_name_the_parts():
    model = small_vae(12, 3, likelihood="gaussian")
    assert sorted(model.state_dict()) == sorted([
        "encoder.trunk.0.weight", "encoder.trunk.0.bias", "encoder.heads.weight",
        "encoder.heads.bias", "decoder.trunk.0.weight", "decoder.trunk.0.bias",
        "decoder.out.weight", "decoder.out.bias", "likelihood.logvar",
        "likelihood.shift", "likelihood.scale",
    ])  # fmt: skip
    # Parameters in the order of state format 1, by which optimizer states are
    # indexed: the Gaussian's log-variance first, then the networks.
    assert [n for n, _ in model.named_parameters()] == [
        "likelihood.logvar", "encoder.trunk.0.weight", "encoder.trunk.0.bias",
        "encoder.heads.weight", "encoder.heads.bias", "decoder.trunk.0.weight",
        "decoder.trunk.0.bias", "decoder.out.weight", "decoder.out.bias",
    ]  # fmt: skip


@pytest.mark.parametrize("latent", list(LATENTS))
@pytest.mark.parametrize("likelihood", list(LIKELIHOODS))
def test_every_combination_of_parts_trains_a_step(latent, likelihood):
    model = small_vae(12, 3, latent=latent, likelihood=likelihood)
    x = torch.from_numpy(X32) * (5 if likelihood == "poisson" else 1)
    loss, stats = model.objective(x, StepValues(200.0, usage_weight=1.0), torch.Generator())
    loss.backward()
    assert torch.isfinite(loss) and stats.shape == (3,)
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert model.decode_mean(torch.zeros(2, 3)).shape == (2, 12)
