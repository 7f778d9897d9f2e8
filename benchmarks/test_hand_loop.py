"""The hand-written loop that the speed scripts compare skvsc with trains skvsc's
default objective: with the core model's weights, ``hand_loss`` equals the core
objective and has its gradients, for the tied gate (the image default, with the
rate controller's subsidies) and for the free gate."""

import pytest
import torch
from _loops import default_model, hand_loss, hand_model

from skvsc._core.schedule import StepValues

N_FEATURES = 64  # the image defaults: 200 units, one hidden layer of 400


def _copied(vae, spec):
    """A HandVSC with the weights (and the controller's multipliers) of ``vae``."""
    hand = hand_model(spec, N_FEATURES).double()
    pairs = {
        "enc": vae.encoder.trunk[0],
        "heads": vae.encoder.heads,
        "dec1": vae.decoder.trunk[0],
        "dec2": vae.decoder.out,
    }
    with torch.no_grad():
        for name, layer in pairs.items():
            getattr(hand, name).weight.copy_(layer.weight)
            getattr(hand, name).bias.copy_(layer.bias)
        if hand.tied:
            hand.gate_slope.copy_(vae.latent.gate_slope)
            hand.gate_offset.copy_(vae.latent.gate_offset)
        hand.multiplier.copy_(vae.latent.controller.multiplier)
    return hand


@pytest.mark.parametrize("gate", ["tied", "free"])
def test_the_hand_loss_is_the_core_objective(gate):
    _, spec, vae = default_model(N_FEATURES, 0, {"gate": gate})
    assert spec.latent == "spike_slab_aggregate" and spec.latent_params["gate"] == gate
    x = (torch.rand(96, N_FEATURES, generator=torch.Generator().manual_seed(1)) > 0.6).float()
    if gate == "tied":
        # most units below alpha, some rows with none active (the floor): the
        # controller's subsidies and the floor both enter the loss
        with torch.no_grad():
            vae.latent.gate_offset.copy_(torch.linspace(-3.0, 0.5, 200))
            vae.latent.gate_slope.copy_(torch.linspace(-0.5, 2.0, 200))
    # in float64, so that the two ways of writing each term agree to rounding
    vae, x = vae.double(), x.double()
    hand = _copied(vae, spec)
    values = StepValues(kl_weight=1.0, usage_weight=spec.schedule_params["usage_weight"])
    loss, _ = vae.objective(x, values, torch.Generator().manual_seed(3))
    # the core's slab noise: drawn in float32 from the objective's generator
    eps = torch.randn(96, 200, generator=torch.Generator().manual_seed(3)).double()
    expected = hand_loss(hand, x, spec, eps=eps)
    torch.testing.assert_close(expected, loss, rtol=1e-9, atol=0)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(hand.enc.weight.grad, vae.encoder.trunk[0].weight.grad)
    torch.testing.assert_close(hand.heads.weight.grad, vae.encoder.heads.weight.grad)
    torch.testing.assert_close(hand.dec2.weight.grad, vae.decoder.out.weight.grad)
    if gate == "tied":
        torch.testing.assert_close(hand.gate_offset.grad, vae.latent.gate_offset.grad)
    assert (hand.multiplier < 0).any()  # the subsidies are on
    torch.testing.assert_close(hand.multiplier, vae.latent.controller.multiplier)
