"""The networks: initialisation, the fused heads and their layout, size and cost."""

import pytest
import torch

from skvsc._core.networks import NETWORKS, MLPEncoder, make_networks


def networks(hidden=(9, 5), n_heads=3, seed=0):
    return make_networks(
        "mlp", 12, 4, n_heads, torch.Generator().manual_seed(seed), hidden_layer_sizes=hidden
    )


def test_registry_and_shapes():
    assert "mlp" in NETWORKS
    encoder, decoder = networks()
    x = torch.rand(6, 12)
    heads = encoder(x)
    assert len(heads) == 3 and all(h.shape == (6, 4) for h in heads)
    assert decoder(heads[0]).shape == (6, 12)


def test_the_decoder_mirrors_the_encoder_hidden_sizes():
    encoder, decoder = networks(hidden=(9, 5))
    linear = [
        (m.in_features, m.out_features) for m in encoder.modules() if isinstance(m, torch.nn.Linear)
    ]
    assert linear == [(12, 9), (9, 5), (5, 3 * 4)]
    linear = [
        (m.in_features, m.out_features) for m in decoder.modules() if isinstance(m, torch.nn.Linear)
    ]
    assert linear == [(4, 5), (5, 9), (9, 12)]


def test_initialisation_comes_from_the_generator_in_a_fixed_order():
    before = torch.get_rng_state()
    a, b = networks(seed=1), networks(seed=1)
    assert torch.equal(torch.get_rng_state(), before)
    for left, right in zip(a, b):
        for p, q in zip(left.parameters(), right.parameters()):
            assert torch.equal(p, q)
    # The encoder is drawn first: alone, it gets the same weights.
    alone = MLPEncoder(
        12, n_components=4, n_heads=3, generator=torch.Generator().manual_seed(1),
        hidden_layer_sizes=(9, 5),
    )  # fmt: skip
    assert torch.equal(alone.heads.weight, a[0].heads.weight)
    # Default torch init bounds: uniform(-1/sqrt(n_in), 1/sqrt(n_in)).
    assert a[0].heads.weight.abs().max() <= 1 / 5**0.5


@pytest.mark.parametrize("which", [(0,), (2,), (0, 2), (1, 0)])
def test_heads_only_matches_the_fused_heads(which):
    encoder, _ = networks()
    x = torch.rand(6, 12, dtype=torch.float64)
    encoder = encoder.double()
    full = encoder(x)
    for index, head in zip(which, encoder.heads_only(x, which)):
        torch.testing.assert_close(head, full[index])


def test_unit_rows_and_first_layer():
    encoder, decoder = networks(hidden=())
    units = torch.tensor([1, 3])
    assert encoder.unit_rows(units).tolist() == [1, 3, 5, 7, 9, 11]
    assert encoder.head_parameters()[0] is encoder.heads.weight
    assert decoder.first_layer() is decoder.out  # linear decoder
    _, deep = networks(hidden=(9,))
    assert deep.first_layer().weight.shape == (9, 4)


def test_linear_networks_without_hidden_layers():
    encoder, decoder = networks(hidden=())
    assert len(encoder.trunk) == 0 and len(decoder.trunk) == 0
    assert encoder(torch.rand(2, 12))[0].shape == (2, 4)
