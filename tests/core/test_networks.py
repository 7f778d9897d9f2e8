"""The networks: initialisation, the fused heads and their layout, size and cost."""

import math

import pytest
import torch

from skvsc._core.blocks import _linear, positive_ints
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


def test_linear_layers_start_from_torchs_default_initialisation():
    # torch's default: weights and biases uniform on +-1 / sqrt(n_in), both signs.
    layer = _linear(64, 128, torch.Generator().manual_seed(0))
    bound = 1 / math.sqrt(64)
    for values in (layer.weight, layer.bias):
        assert values.abs().max() <= bound
        assert values.min() < -0.9 * bound and values.max() > 0.9 * bound
    # A layer that reads nothing (n_in = 0) has no weights; its bias starts at zero.
    empty = _linear(0, 3, torch.Generator().manual_seed(0))
    assert empty.weight.shape == (3, 0) and torch.equal(empty.bias, torch.zeros(3))


def test_positive_ints_names_the_parameter_and_the_lengths_allowed():
    assert positive_ints("sizes", [1, 2]) == (1, 2)
    with pytest.raises(
        ValueError, match=r"^shape must be a tuple of positive ints of length 2 or 3, got \(1,\)\.$"
    ):
        positive_ints("shape", (1,), length=(2, 3))


def test_dropping_heads_keeps_the_first_rows_and_leaves_the_global_rng_alone():
    encoder, _ = networks(n_heads=3)
    weight, bias = encoder.heads.weight.detach().clone(), encoder.heads.bias.detach().clone()
    before = torch.get_rng_state()
    encoder.keep_heads(2)
    assert torch.equal(torch.get_rng_state(), before)
    assert encoder.n_heads == 2 and encoder.heads.out_features == 8
    assert torch.equal(encoder.heads.weight, weight[:8])
    assert torch.equal(encoder.heads.bias, bias[:8])
    assert len(encoder(torch.rand(2, 12))) == 2
