"""The floor of the aggregate prior's code: a row with no active unit keeps its
most probable unit, in the code and in the training pass."""

import numpy as np
import torch

from skvsc._core.active_set import floored
from skvsc._core.latents import AggregateSpikeSlabLatent, SpikeSlabLatent, SpikeSlabPosterior
from skvsc._core.schedule import StepValues


def posterior(gamma, seed=0):
    gen = torch.Generator().manual_seed(seed)
    shape = gamma.shape
    mu = torch.randn(shape, generator=gen)
    return SpikeSlabPosterior(mu, torch.full(shape, -1.0), gamma)


def test_floored_adds_the_top_unit_of_empty_rows_only():
    gamma = torch.tensor([[0.1, 0.4, 0.3], [0.2, 0.9, 0.7], [0.3, 0.1, 0.3], [0.5, 0.2, 0.1]])
    active = gamma > 0.5
    expected = active.numpy().copy()
    for row, g in enumerate(gamma.numpy()):
        if not expected[row].any():
            expected[row, np.argmax(g)] = True  # ties: the first unit, as numpy's argmax
    np.testing.assert_array_equal(floored(active, gamma).numpy(), expected)
    assert floored(active, gamma)[2].tolist() == [True, False, False]  # a tie
    assert floored(active, gamma)[3].tolist() == [True, False, False]  # 0.5 is not active


def test_the_aggregate_code_is_never_empty_where_alpha_times_units_is_at_least_one():
    gamma = torch.rand(50, 8, generator=torch.Generator().manual_seed(1)) * 0.5  # all off
    post = posterior(gamma)
    latent = AggregateSpikeSlabLatent(8, alpha=0.125, usage="balance")
    code = latent.code(post)
    assert ((code != 0).sum(dim=1) == 1).all()
    top = gamma.argmax(dim=1)
    np.testing.assert_array_equal(
        code[torch.arange(50), top].numpy(), post.mu[torch.arange(50), top]
    )
    assert ((latent.code(post, 3) != 0).sum(dim=1) == 1).all()  # a cap keeps it
    # the fixed prior, floor=False, or alpha * J < 1: the code of gamma > 1/2, empty here
    for other in (
        SpikeSlabLatent(8, alpha=0.125, usage="balance"),
        AggregateSpikeSlabLatent(8, alpha=0.125, usage="balance", floor=False),
        AggregateSpikeSlabLatent(8, alpha=0.1, usage="balance"),
    ):
        assert (other.code(post) == 0).all()


def test_rows_with_active_units_are_unchanged():
    gamma = torch.rand(40, 6, generator=torch.Generator().manual_seed(2))
    gamma[:, 0] = 0.9  # every row has an active unit
    post = posterior(gamma)
    on = AggregateSpikeSlabLatent(6, alpha=0.2, usage="balance")
    off = AggregateSpikeSlabLatent(6, alpha=0.2, usage="balance", floor=False)
    np.testing.assert_array_equal(on.code(post).numpy(), off.code(post).numpy())


def test_training_decodes_the_floored_code_and_its_unit_learns():
    gamma = (torch.rand(30, 5, generator=torch.Generator().manual_seed(3)) * 0.5).requires_grad_()
    post = posterior(gamma)
    latent = AggregateSpikeSlabLatent(5, alpha=0.2, usage="balance")
    noise = latent.draw_noise(gamma.shape, torch.Generator().manual_seed(4))
    terms = latent.training_terms(post, noise, StepValues())
    assert (terms.active.sum(dim=1) == 1).all()
    assert ((terms.z != 0).sum(dim=1) == 1).all()
    # the KL of the posterior in use counts the floor's unit: one unit on per row
    np.testing.assert_allclose(terms.kl.detach().numpy(), latent.kl(post, StepValues()).numpy())
    # the straight-through gradient reaches gamma of the floor's unit
    terms.z.sum().backward()
    top = gamma.detach().argmax(dim=1)
    assert (gamma.grad[torch.arange(30), top] != 0).all()
    # the sample of scoring (rsample) decodes the same units
    sample = latent.rsample(post, noise, StepValues())
    assert ((sample != 0).sum(dim=1) == 1).all()
