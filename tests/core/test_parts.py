"""Parts own their size and cost: the network family counts its parameters and
FLOPs, checks its options; the latent protocol is stubbed, and the VAE asks
the latent family for the terms of its ELBO."""

import pytest
import torch

from skvsc._core.latents import LATENTS, Latent
from skvsc._core.networks import MLP, NETWORKS, NetworkFamily
from skvsc._core.schedule import StepValues
from skvsc._core.vae import ModelConfig, build_vae


def test_every_network_family_is_a_registered_class_with_its_protocol():
    for family in NETWORKS.values():
        assert issubclass(family, NetworkFamily)
        assert set(family().options()) == set(family.parameters)
    for method, n_args in (("build", 4), ("n_parameters", 3), ("matmul_flops", 4)):
        with pytest.raises(NotImplementedError):
            getattr(NetworkFamily(), method)(*range(n_args))


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("hidden", [(), (7,), (9, 5)])
@pytest.mark.parametrize("latent", list(LATENTS))
def test_the_mlp_counts_the_parameters_and_weights_it_builds(hidden, latent, missing):
    latent_params = {} if latent == "normal" else {"alpha": 0.3, "usage": "prior"}
    config = ModelConfig(
        12, 4, "gaussian", latent, latent_params, "mlp", {"hidden_layer_sizes": hidden},
        missing=missing,
    )  # fmt: skip
    model = build_vae(config, torch.Generator().manual_seed(0))
    # A model of data with missing values reads the data and its mask.
    assert model.encoder(torch.rand(3, 24 if missing else 12))[0].shape == (3, 4)
    networks = torch.nn.ModuleList([model.encoder, model.decoder])
    assert config.n_parameters() == sum(p.numel() for p in networks.parameters())
    weights = sum(p.numel() for p in model.parameters() if p.dim() >= 2)
    assert config.matmul_flops(16, backward=False) == 2 * weights * 16
    assert config.matmul_flops(16) == 6 * weights * 16
    assert config.n_heads == model.latent.n_heads


def test_the_mlp_checks_its_options():
    assert MLP(hidden_layer_sizes=[3, 2]).hidden_layer_sizes == (3, 2)
    for bad, error in (
        (5, TypeError),
        ((0,), ValueError),
        ((2.5,), ValueError),
        ((True,), ValueError),
    ):
        with pytest.raises(error, match="hidden_layer_sizes must be a tuple of positive ints"):
            MLP(hidden_layer_sizes=bad)
    assert MLP(hidden_layer_sizes=(1,)).hidden_layer_sizes == (1,)  # 1 is positive
    assert MLP(decoder_layer_sizes=[3, 2]).decoder_layer_sizes == (3, 2)
    assert MLP(hidden_layer_sizes=(4, 2)).decoder_sizes() == (2, 4)  # None mirrors
    assert MLP(decoder_layer_sizes=()).decoder_sizes() == ()
    for bad, error in ((5, TypeError), ((0,), ValueError)):
        with pytest.raises(error, match="decoder_layer_sizes must be a tuple of positive ints"):
            MLP(decoder_layer_sizes=bad)


def test_the_latent_protocol_is_stubbed():
    latent = Latent(3)
    calls = {
        "posterior": ({},),
        "draw_noise": ((2, 3), torch.Generator()),
        "rsample": (None, None, None),
        "kl": (None, None),
        "code": (None,),
        "active": (None,),
        "prior_sample": (2, torch.Generator()),
    }
    for name, args in calls.items():
        with pytest.raises(NotImplementedError):
            getattr(latent, name)(*args)


@pytest.mark.parametrize("latent", list(LATENTS))
def test_elbo_terms_compose_rsample_and_kl(latent):
    latent_params = {} if latent == "normal" else {"alpha": 0.3, "usage": "prior"}
    family = LATENTS[latent](4, **latent_params)
    g = torch.Generator().manual_seed(0)
    heads = {name: torch.randn(5, 4, generator=g) for name in family.head_names}
    posterior = family.posterior(heads)
    noises = [family.draw_noise((1, 4), g) for _ in range(3)]
    values = StepValues(sharpness=100.0)
    terms = family.elbo_terms(posterior, noises, values)
    assert len(terms.z) == 3
    for z, noise in zip(terms.z, noises):
        torch.testing.assert_close(z, family.rsample(posterior, noise, values), rtol=0, atol=0)
    torch.testing.assert_close(terms.kl, family.kl(posterior, values), rtol=0, atol=0)


def test_the_vae_asks_the_latent_family_for_its_elbo_terms(monkeypatch):
    config = ModelConfig(6, 3, "bernoulli", "normal", {}, "mlp", {"hidden_layer_sizes": (5,)})
    model = build_vae(config, torch.Generator().manual_seed(0))
    x = torch.rand(4, 6, generator=torch.Generator().manual_seed(1))
    noises = [model.draw_noise((1, 3), torch.Generator().manual_seed(2))]
    expected = model.elbo(x, noises, StepValues())
    kl_shift = torch.full((4,), 2.0)

    def shifted(posterior, noises, values, original=model.latent.elbo_terms):
        terms = original(posterior, noises, values)
        return terms._replace(kl=terms.kl + kl_shift)

    monkeypatch.setattr(model.latent, "elbo_terms", shifted)
    torch.testing.assert_close(model.elbo(x, noises, StepValues()), expected - kl_shift)
