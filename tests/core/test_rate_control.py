"""The aggregate prior's rate controller against hand computations."""

import pytest
import torch

from skvsc._core.latents import AggregateSpikeSlabLatent, SpikeSlabPosterior
from skvsc._core.penalties import aggregate_spike_kl
from skvsc._core.rate_control import RateController, dual_step
from skvsc._core.schedule import StepValues

GAMMA = torch.tensor(
    [[0.2, 0.9, 0.01, 0.6], [0.7, 0.3, 0.02, 0.4], [0.1, 0.95, 0.05, 0.8]], dtype=torch.float64
)
# Hard rates of GAMMA (rows with gamma > 1/2) and its batch means.
RATE = torch.tensor([1 / 3, 2 / 3, 0.0, 2 / 3], dtype=torch.float64)


def test_dual_step_is_signed():
    lam, rate = torch.tensor([0.2, 0.01]), torch.tensor([0.05, 0.0])
    # 0.2 + 2 (0.05 - 0.1) = 0.1; 0.01 + 2 (0 - 0.1) = -0.19: below zero, not clamped
    torch.testing.assert_close(dual_step(lam, rate, 0.1, 2.0), torch.tensor([0.1, -0.19]))


def test_a_training_step_moves_the_multipliers_then_charges_them():
    ctl = RateController(4, alpha=0.5, step_size=0.3).double()
    ctl.multiplier.copy_(torch.tensor([1.0, -1.0, 0.5, 0.0]))
    gamma = GAMMA.clone().requires_grad_(True)
    penalty = ctl(gamma.mean(dim=0), RATE)
    # lambda_j + 0.3 (r_j - 1/2), by hand
    stepped = torch.tensor([1 - 0.05, -1 + 0.05, 0.5 - 0.15, 0.05], dtype=torch.float64)
    torch.testing.assert_close(ctl.multiplier, stepped)
    # value: sum_j lambda_j r_j of the hard rates; gradient: lambda_j / n on each gamma_nj
    torch.testing.assert_close(penalty, (stepped * RATE).sum())
    penalty.backward()
    torch.testing.assert_close(gamma.grad, stepped.expand(3, 4) / 3)
    # a unit below alpha has a negative multiplier: the gradient step raises its gamma
    assert stepped[2] > 0 and stepped[1] < 0 and gamma.grad[0, 1] < 0


def test_no_step_without_gradients():
    ctl = RateController(4, alpha=0.5, step_size=1.0).double()
    with torch.no_grad():
        ctl(GAMMA.mean(dim=0), RATE)
    assert torch.count_nonzero(ctl.multiplier) == 0


def test_repeated_steps_hold_a_rate_at_alpha():
    # A unit whose rate is pushed up by a constant force of 1 (the likelihood's
    # pull): gradient descent on its logit against the controller's multiplier
    # settles its rate at alpha; without the controller it would grow.
    ctl = RateController(1, alpha=0.1, step_size=0.5).double()
    logit = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    rates = []
    for _ in range(3000):
        soft = torch.sigmoid(logit)
        loss = -1.0 * soft.sum() + ctl(soft, soft.detach())
        (grad,) = torch.autograd.grad(loss, logit)
        with torch.no_grad():
            logit -= 0.5 * grad
        rates.append(float(soft.detach()))
    assert abs(sum(rates[-500:]) / 500 - 0.1) < 0.01


def test_aggregate_family_adds_the_controller_only_when_asked():
    post = SpikeSlabPosterior(torch.zeros_like(GAMMA), torch.zeros_like(GAMMA), GAMMA)
    values = StepValues(usage_weight=0.0)
    off = AggregateSpikeSlabLatent(4, alpha=0.3, usage="balance")
    assert off.controller is None and "controller.multiplier" not in off.state_dict()
    on = AggregateSpikeSlabLatent(4, alpha=0.3, usage="balance", rate_control=2.0).double()
    with torch.no_grad():  # no step: the multipliers stay at zero
        torch.testing.assert_close(on.regularizer(post, values), off.regularizer(post, values))
    term = aggregate_spike_kl(GAMMA, 0.3).sum()
    torch.testing.assert_close(
        on.regularizer(post, values), term + (2.0 * (RATE - 0.3) * RATE).sum()
    )
    torch.testing.assert_close(on.controller.multiplier, 2.0 * (RATE - 0.3))


def test_up_only_multipliers_subsidise_and_never_charge():
    ctl = RateController(4, alpha=0.5, step_size=0.3, sides="up").double()
    ctl.multiplier.copy_(torch.tensor([-1.0, 0.0, -0.1, 0.0]))
    gamma = GAMMA.clone().requires_grad_(True)
    penalty = ctl(gamma.mean(dim=0), RATE)
    # the signed step, then clamped at 0 from above: r = 1/3, 2/3, 0, 2/3
    stepped = torch.tensor([-1 - 0.05, 0.0, -0.1 - 0.15, 0.0], dtype=torch.float64)
    torch.testing.assert_close(ctl.multiplier, stepped)
    torch.testing.assert_close(penalty, (stepped * RATE).sum())
    penalty.backward()
    # units above alpha (1 and 3) feel nothing; those below are pushed up
    assert gamma.grad[:, [1, 3]].abs().max() == 0 and (gamma.grad[:, [0, 2]] < 0).all()


def test_unknown_sides_raise():
    with pytest.raises(ValueError, match="sides"):
        RateController(4, alpha=0.5, step_size=1.0, sides="down")


def test_a_floor_moves_the_subsidies_toward_a_fraction_of_alpha():
    # floor 0.5: the subsidies' target is 0.25; rates 1/3, 2/3, 0, 2/3
    ctl = RateController(4, alpha=0.5, step_size=0.3, sides="up", floor=0.5).double()
    ctl.multiplier.copy_(torch.tensor([-1.0, 0.0, -0.1, -0.05]))
    gamma = GAMMA.clone().requires_grad_(True)
    penalty = ctl(gamma.mean(dim=0), RATE)
    # min(0, lambda_j + 0.3 (r_j - 0.25)), by hand: unit 0 is below alpha but
    # above the floor, so its subsidy shrinks (with floor 1 it would grow);
    # unit 3's ends; unit 2, dead, gets more
    stepped = torch.tensor([-1 + 0.025, 0.0, -0.1 - 0.075, 0.0], dtype=torch.float64)
    torch.testing.assert_close(ctl.multiplier, stepped)
    torch.testing.assert_close(penalty, (stepped * RATE).sum())
    penalty.backward()
    torch.testing.assert_close(gamma.grad, stepped.expand(3, 4) / 3)


def test_the_mean_multiplier_holds_the_mean_rate_and_charges_every_unit():
    ctl = RateController(4, alpha=0.25, step_size=0.3, sides="up", mean=True).double()
    ctl.multiplier.copy_(torch.tensor([0.0, 0.0, -0.1, 0.0]))
    ctl.mean_multiplier.fill_(0.2)
    gamma = GAMMA.clone().requires_grad_(True)
    penalty = ctl(gamma.mean(dim=0), RATE)
    # mean rate 5/12: mu = 0.2 + 0.3 (5/12 - 1/4) = 0.25
    torch.testing.assert_close(ctl.mean_multiplier, torch.tensor(0.25, dtype=torch.float64))
    # the per-unit subsidies step as before: only unit 2 (rate 0) is below alpha
    per_unit = torch.tensor([0.0, 0.0, -0.1 - 0.075, 0.0], dtype=torch.float64)
    torch.testing.assert_close(ctl.multiplier, per_unit)
    # penalty: sum_j (lambda_j + mu) r_j; each unit's gamma feels lambda_j + mu
    torch.testing.assert_close(penalty, ((per_unit + 0.25) * RATE).sum())
    penalty.backward()
    torch.testing.assert_close(gamma.grad, (per_unit + 0.25).expand(3, 4) / 3)


def test_the_mean_multiplier_is_signed_and_in_the_state_only_when_on():
    ctl = RateController(4, alpha=0.9, step_size=1.0, mean=True).double()
    ctl(GAMMA.mean(dim=0), RATE)  # mean rate 5/12 < 0.9: a subsidy to every unit
    torch.testing.assert_close(ctl.mean_multiplier, torch.tensor(5 / 12 - 0.9).double())
    assert "mean_multiplier" in ctl.state_dict()
    assert "mean_multiplier" not in RateController(4, alpha=0.9, step_size=1.0).state_dict()


def test_repeated_steps_hold_the_mean_rate_not_each_rate():
    # two units pushed up by forces 1 and 3: the mean multiplier holds their mean
    # rate at alpha and leaves the busier unit busier
    ctl = RateController(2, alpha=0.2, step_size=0.5, sides="up", floor=0.1, mean=True).double()
    logit = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    force = torch.tensor([1.0, 3.0], dtype=torch.float64)
    rates = []
    for _ in range(4000):
        soft = torch.sigmoid(logit)
        loss = -(force * soft).sum() + ctl(soft, soft.detach())
        (grad,) = torch.autograd.grad(loss, logit)
        with torch.no_grad():
            logit -= 0.5 * grad
        rates.append(soft.detach())
    last = torch.stack(rates[-500:]).mean(dim=0)
    assert abs(float(last.mean()) - 0.2) < 0.01
    assert last[1] > last[0] + 0.05


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(sides="up", floor=0.0), "floor"),
        (dict(sides="up", floor=1.5), "floor"),
        (dict(sides="both", floor=0.5), "sides='up'"),
    ],
)
def test_bad_floors_raise(options, match):
    with pytest.raises(ValueError, match=match):
        RateController(4, alpha=0.5, step_size=1.0, **options)


def test_the_short_code_floor_subsidises_units_rarely_among_the_kept():
    # k = 1 of 4 units: each row keeps its active unit (gamma > 1/2) of largest
    # |mu|. Active: row 0 units 0, 1, 2; row 1 units 0, 1; row 2 units 1, 2, 3.
    # Kept: unit 0 (|mu| 3), unit 0 (2), unit 3 (3). So unit 1 is active on
    # every row and never kept, unit 2 active on two rows and never kept.
    gamma = torch.tensor(
        [[0.9, 0.9, 0.9, 0.1], [0.9, 0.9, 0.1, 0.1], [0.1, 0.9, 0.9, 0.9]], dtype=torch.float64
    )
    mu = torch.tensor([[3.0, 1.0, -2.0, 0.0], [2.0, 1.0, 0.0, 0.0], [0.0, 1.0, 2.0, -3.0]])
    mu = mu.to(torch.float64)
    post = SpikeSlabPosterior(mu, torch.zeros_like(mu), gamma.requires_grad_(True))
    kept_rate = torch.tensor([2 / 3, 0.0, 0.0, 1 / 3], dtype=torch.float64)
    options = dict(alpha=0.3, usage="balance", fit_n_nonzero_coefs=1, rate_control=0.5)
    plain = AggregateSpikeSlabLatent(4, **options).double()
    short = AggregateSpikeSlabLatent(4, **options, fit_n_nonzero_floor=0.8).double()
    assert (
        plain.short_controller is None and "short_controller.multiplier" not in plain.state_dict()
    )
    assert "short_controller.multiplier" in short.state_dict()  # saved with the model
    noise = (torch.zeros_like(mu),)
    values = StepValues(usage_weight=0.0)
    base = plain.training_terms(post, noise, values).penalty
    terms = short.training_terms(post, noise, values)
    # target 0.8 * k / J = 0.2: min(0, 0.5 (r^(k)_j - 0.2)) subsidises units 1
    # and 2 (-0.1 each; their rates in the whole code, 1 and 2/3, would not)
    stepped = torch.minimum(torch.zeros(4, dtype=torch.float64), 0.5 * (kept_rate - 0.2))
    torch.testing.assert_close(stepped, torch.tensor([0.0, -0.1, -0.1, 0.0], dtype=torch.float64))
    torch.testing.assert_close(short.short_controller.multiplier, stepped)
    torch.testing.assert_close(short.controller.multiplier, plain.controller.multiplier)
    torch.testing.assert_close(terms.penalty, base + (stepped * kept_rate).sum())
    # the gradient: lambda^(k)_j / n on every gamma_nj (straight-through), so the
    # subsidised units' gamma rises under gradient descent
    (grad_short,) = torch.autograd.grad(terms.penalty, post.gamma)
    (grad_plain,) = torch.autograd.grad(base, post.gamma)
    torch.testing.assert_close(grad_short - grad_plain, stepped.expand(3, 4) / 3)


@pytest.mark.parametrize(
    "options",
    [
        dict(fit_n_nonzero_floor=0.5, rate_control=1.0),  # no short code
        dict(fit_n_nonzero_floor=0.5, fit_n_nonzero_coefs=2),  # no step size
    ],
)
def test_the_short_code_floor_needs_a_short_code_and_a_step(options):
    with pytest.raises(ValueError, match="fit_n_nonzero_floor"):
        AggregateSpikeSlabLatent(4, alpha=0.3, usage="balance", **options)
