"""The aggregate prior's tied gate (``gate="tied"``): ``gamma_j = sigmoid(a_j mu_j +
c_j)`` of the unit's own slab mean, not of the third encoder head."""

import numpy as np
import pytest
import torch

from skvsc._core.latents import TIED_SLOPE_INIT
from skvsc._core.optim import make_optimizer
from skvsc._core.revive import split_units
from skvsc._core.schedule import StepValues
from tests.core.helpers import small_vae

J = 6
VALUES = StepValues(kl_weight=0.7, usage_weight=0.5)


def model(seed=0, **latent_params):
    return small_vae(12, J, latent="spike_slab_aggregate", alpha=0.4, seed=seed, **latent_params)


def data(n=40, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 12, generator=gen) > 0.5).to(torch.float32)


def tied_model(seed=0):
    """A tied model with slopes of both signs and non-zero offsets."""
    vae = model(seed, gate="tied")
    with torch.no_grad():
        vae.latent.gate_slope.copy_(torch.tensor([2.0, -1.5, 0.5, 3.0, -0.7, 1.0]))
        vae.latent.gate_offset.copy_(torch.tensor([0.1, -0.2, 0.0, -0.3, 0.4, 0.05]))
    return vae


def oracle_gamma(vae, x):
    """``sigmoid(a * mu + c)`` in NumPy, with ``mu`` the encoder's first head
    computed from the layers' weights."""
    w = [p.detach().numpy().astype(np.float64) for p in vae.encoder.parameters()]
    hidden = np.maximum(x.numpy() @ w[0].T + w[1], 0.0)  # one ReLU layer (helpers' (8,))
    mu = (hidden @ w[2].T + w[3])[:, :J]
    a = vae.latent.gate_slope.detach().numpy()
    c = vae.latent.gate_offset.detach().numpy()
    return 1.0 / (1.0 + np.exp(-(a * mu + c))), mu


def test_gamma_is_the_affine_sigmoid_of_mu_everywhere_it_is_read():
    vae, x = tied_model(), data()
    expected, mu = oracle_gamma(vae, x)
    with torch.no_grad():
        np.testing.assert_allclose(vae.encode(x).gamma.numpy(), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(vae.encode(x).mu.numpy(), mu, rtol=1e-5, atol=1e-6)
        # inference computes only the heads it needs: gamma alone still comes from mu
        gamma = vae.posterior_field(x, "gamma").numpy()
        np.testing.assert_allclose(gamma, expected, rtol=1e-5, atol=1e-6)
        active, code = vae.active(x).numpy(), vae.code(x).numpy()
    on = expected > 0.5
    # the floor only adds units to rows with none on
    assert ((active == on) | (active & ~on.any(axis=1, keepdims=True))).all()
    assert on.any() and not on.all()
    np.testing.assert_allclose(code, np.where(active, mu, 0.0), rtol=1e-5, atol=1e-6)


def test_the_encoder_has_no_gamma_head_and_gamma_follows_mu():
    # Two heads, mu and logvar: changing logvar's rows leaves gamma as it was,
    # changing mu's moves it.
    vae, x = tied_model(), data()
    heads = vae.encoder.heads
    assert vae.latent.head_names == ("mu", "logvar") and heads.out_features == 2 * J
    with torch.no_grad():
        before = vae.encode(x).gamma.clone()
        heads.weight[J:] += 5.0  # logvar
        heads.bias[J:] -= 3.0
        torch.testing.assert_close(vae.encode(x).gamma, before, rtol=0, atol=0)
        heads.bias[:J] += 1.0  # mu
        assert not torch.allclose(vae.encode(x).gamma, before)


def test_gradients_reach_the_gate_and_mu():
    vae, x = tied_model(), data()
    loss, _ = vae.objective(x, VALUES, torch.Generator().manual_seed(3))
    loss.backward()
    assert vae.latent.gate_slope.grad.abs().sum() > 0
    assert vae.latent.gate_offset.grad.abs().sum() > 0
    assert vae.encoder.heads.weight.grad[:J].abs().sum() > 0


def test_the_free_gate_is_the_default_and_unchanged():
    x = data()
    default, free = model(), model(gate="free")
    assert not default.latent.tied and not list(default.latent.parameters())
    gen = torch.Generator
    torch.testing.assert_close(
        default.objective(x, VALUES, gen().manual_seed(3)),
        free.objective(x, VALUES, gen().manual_seed(3)),
        rtol=0,
        atol=0,
    )
    # the tied model draws the same networks from the same seed: only the gate
    # differs, and its encoder keeps the first two of the three heads' rows
    tied = model(gate="tied")
    shared = {n: p for n, p in tied.named_parameters() if not n.startswith("latent.")}
    for name, p in default.named_parameters():
        torch.testing.assert_close(p[: len(shared[name])], shared[name], rtol=0, atol=0)
    assert len(shared["encoder.heads.weight"]) == 2 * J
    torch.testing.assert_close(tied.latent.gate_slope, torch.full((J,), TIED_SLOPE_INIT))
    torch.testing.assert_close(tied.latent.gate_offset, torch.zeros(J))
    assert not torch.equal(default.encode(x).gamma, tied.encode(x).gamma)


def test_an_unknown_gate_is_refused():
    with pytest.raises(ValueError, match="gate must be one of"):
        model(gate="soft")


def test_revival_gives_the_dead_unit_its_donors_gate():
    vae, x = tied_model(), data()
    optimizer = make_optimizer(vae.parameters(), 1e-3)
    vae.objective(x, VALUES, torch.Generator().manual_seed(3))[0].backward()
    optimizer.step()
    counts = torch.tensor([0, 9, 3, 0, 1, 5])  # units 0 and 3 dead; donors 1 and 5
    slope = vae.latent.gate_slope.detach().clone()
    offset = vae.latent.gate_offset.detach().clone()
    assert split_units(vae, optimizer, counts, torch.Generator().manual_seed(2)) == 2
    for dead, donor in ((0, 1), (3, 5)):
        assert vae.latent.gate_slope[dead] == slope[donor]
        assert vae.latent.gate_offset[dead] == offset[donor]
        state = optimizer.state[vae.latent.gate_slope]
        assert state["exp_avg"][dead] == state["exp_avg"][donor]
    torch.testing.assert_close(vae.latent.gate_slope[[1, 2, 4, 5]], slope[[1, 2, 4, 5]])


def oracle_slab_kls(vae, x):
    """``KL(N(mu_j, sigma_j^2) || N(0, 1))`` per row and unit, in NumPy."""
    with torch.no_grad():
        post = vae.encode(x)
    mu, logvar = post.mu.numpy().astype(np.float64), post.logvar.numpy().astype(np.float64)
    return 0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar), post.gamma.numpy()


@pytest.mark.parametrize("weight", [1.0, 0.1])
def test_the_tied_loss_weights_every_slab_kl_by_one(weight):
    # gamma-weighted, far-off means would drift from the prior (class docstring)
    x, noise = data(), (torch.randn(40, J, generator=torch.Generator().manual_seed(4)),)
    for vae in (tied_model(), model(gate="free")):
        vae.latent.slab_kl_weight = weight
        terms = vae.latent.training_terms(vae.encode(x), noise, VALUES)
        kls, gamma = oracle_slab_kls(vae, x)
        per_unit = kls if vae.latent.tied else gamma * kls
        np.testing.assert_allclose(
            terms.train_kl.detach().numpy(), weight * per_unit.sum(axis=1), rtol=1e-5
        )
        # the reported KL is the exact KL of the code's spikes either way
        active = terms.active.numpy()
        np.testing.assert_allclose(
            terms.kl.detach().numpy(),
            (active * kls).sum(axis=1)
            + active.sum(axis=1) * np.log(1 / 0.4)
            + (~active).sum(axis=1) * np.log(1 / 0.6),
            rtol=1e-5,
        )
