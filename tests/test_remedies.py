"""Training remedies against dead units: oracles for the usage penalties and their use."""

import math

import numpy as np
import pytest
import torch

from skvsc import VariationalSparseCoder
from skvsc._elbo import balance_kl, bernoulli_kl, usage_kl
from skvsc._models import SpikeSlabVAE, Step
from skvsc._schedule import Schedule

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


def _model(usage):
    generator = torch.Generator().manual_seed(0)
    return SpikeSlabVAE(6, 4, (5,), "bernoulli", generator, alpha=0.1, usage=usage).double()


@pytest.mark.parametrize("usage", ["prior", "balance"])
def test_regularizer_uses_the_chosen_usage_form(usage):
    model = _model(usage)
    x = torch.rand(7, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    posterior = model.encode(x)
    gamma = posterior[2]
    expected = balance_kl(gamma) if usage == "balance" else bernoulli_kl(gamma.mean(0), 0.1)
    assert torch.allclose(model.regularizer(posterior, Step(usage_weight=2.0)), expected.sum())
    assert model.regularizer(posterior, Step(usage_weight=0.0)) is None


def test_usage_weight_warms_up_with_the_kl():
    schedule = Schedule(total_steps=100, kl_warmup=0.5, usage_weight=4.0)
    assert schedule.at(0).usage_weight == pytest.approx(4.0 * schedule.at(0).kl_weight)
    assert schedule.at(24).usage_weight == pytest.approx(4.0 * 25 / 50)
    assert schedule.at(60).usage_weight == 4.0


def test_usage_is_validated():
    X = np.random.RandomState(0).rand(10, 4)
    with pytest.raises(ValueError, match="usage"):
        VariationalSparseCoder(usage="often", max_iter=1).fit(X)


def test_usage_form_survives_pickling():
    import pickle

    X = np.random.RandomState(0).rand(20, 4)
    vsc = VariationalSparseCoder(
        n_components=3,
        hidden_layer_sizes=(4,),
        max_iter=1,
        usage="prior",
        random_state=0,
        device="cpu",
    ).fit(X)
    clone = pickle.loads(pickle.dumps(vsc))
    assert clone.module_.usage == "prior"
    np.testing.assert_array_equal(clone.transform(X), vsc.transform(X))
