"""Usage penalties (not part of the ELBO) against loop oracles and torch.distributions."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, kl_divergence

from skvsc._core.penalties import USAGE_PENALTIES, balance_kl, usage_kl

from . import oracles

GAMMA = torch.tensor(
    [[0.2, 0.9, 0.01, 0.5], [0.7, 0.3, 0.02, 0.5], [0.1, 0.95, 0.05, 0.5]], dtype=torch.float64
)


def _kl_loop(p, q):
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def test_balance_kl_matches_loop_oracle():
    rate = GAMMA.mean().item()
    expected = [_kl_loop(GAMMA[:, j].mean().item(), rate) for j in range(GAMMA.shape[1])]
    np.testing.assert_allclose(balance_kl(GAMMA).numpy(), expected, rtol=1e-10)


def test_balance_kl_is_zero_when_units_are_used_equally():
    gamma = torch.tensor([[0.9, 0.1], [0.1, 0.9]], dtype=torch.float64)
    assert torch.allclose(balance_kl(gamma), torch.zeros(2, dtype=torch.float64))


def test_balance_kl_moves_activity_from_busy_to_idle_units():
    gamma = GAMMA.clone().requires_grad_(True)
    balance_kl(gamma).sum().backward()
    rate = GAMMA.mean()
    usage = GAMMA.mean(dim=0)
    # Descending the gradient raises the gamma of units used less than the
    # mean rate and lowers those used more.
    assert torch.all(gamma.grad[:, usage < rate] < 0)
    assert torch.all(gamma.grad[:, usage > rate] > 0)


def test_balance_kl_does_not_pull_the_total_toward_alpha():
    # usage_kl charges a batch whose units are all on at rate 0.3 with alpha 0.01,
    # balance_kl does not: the number of active units is left to the ELBO.
    gamma = torch.full((8, 5), 0.3, dtype=torch.float64)
    assert torch.all(usage_kl(gamma, 0.01) > 0.5)
    assert torch.allclose(balance_kl(gamma), torch.zeros(5, dtype=torch.float64))


def test_usage_kl_is_per_unit_bernoulli_kl_of_the_batch_mean():
    gamma = torch.rand(64, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = kl_divergence(Bernoulli(probs=gamma.mean(0)), Bernoulli(probs=torch.tensor(0.1)))
    torch.testing.assert_close(usage_kl(gamma, 0.1), expected)


def test_usage_penalties_by_name():
    torch.testing.assert_close(USAGE_PENALTIES["balance"](GAMMA, 0.3), balance_kl(GAMMA))
    torch.testing.assert_close(USAGE_PENALTIES["prior"](GAMMA, 0.3), usage_kl(GAMMA, 0.3))


@pytest.mark.parametrize("name", ["prior", "balance", "aggregate"])
def test_fused_rate_kl_matches_the_plain_autograd_penalty(name):
    from skvsc._core.penalties import aggregate_spike_kl

    fused_fn = {
        "prior": lambda g: usage_kl(g, 0.1),
        "balance": lambda g: balance_kl(g),
        "aggregate": lambda g: aggregate_spike_kl(g, 0.1),
    }[name]
    base = torch.rand(16, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    base[:, 3] = 0.01  # a unit off on the whole batch
    weights = torch.linspace(0.5, 1.5, 5, dtype=torch.float64)
    grads, values = [], []
    for fn in (fused_fn, lambda g: oracles.usage_penalty(name, g, 0.1)):
        gamma = base.clone().requires_grad_()
        value = fn(gamma)
        (weights * value).sum().backward()
        values.append(value.detach())
        grads.append(gamma.grad)
    torch.testing.assert_close(values[0], values[1])
    torch.testing.assert_close(grads[0], grads[1])
