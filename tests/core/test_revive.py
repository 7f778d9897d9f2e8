"""Dead-unit revival: splitting busy units (``split_units``) and its epoch callback."""

import pytest
import torch

from skvsc._core.optim import make_optimizer
from skvsc._core.revive import Revival, split_units
from skvsc._core.schedule import Schedule
from skvsc._core.train import TrainContext

from .helpers import small_vae

J = 6


def model_and_optimizer(seed=0, hidden=(5,)):
    g = torch.Generator().manual_seed(seed)
    model = small_vae(8, J, hidden, generator=g, alpha=0.1)
    optimizer = make_optimizer(model.parameters(), 1e-3)
    # One step so that Adam has moments to copy.
    x = torch.rand(16, 8, generator=g)
    loss, _ = model.objective(x, Schedule(total_steps=10, sharpness=(50.0, 200.0)).at(0), g)
    loss.backward()
    optimizer.step()
    return model, optimizer


def decoder_weight(model):
    return model.decoder.first_layer().weight


@pytest.mark.parametrize("hidden", [(5,), ()])
def test_split_keeps_the_decoded_mean_when_both_halves_fire(hidden):
    model, optimizer = model_and_optimizer(hidden=hidden)
    counts = torch.tensor([0, 9, 3, 0, 1, 5])  # units 0 and 3 are dead; 1 is fired most
    z = torch.randn(4, J, generator=torch.Generator().manual_seed(1))
    z[:, [0, 3]] = 0.0
    before = model.decode_mean(z)
    n = split_units(model, optimizer, counts, torch.Generator().manual_seed(2))
    assert n == 2  # donors 1 and 5 (unit 4 fired once: not split)
    twins = z.clone()
    twins[:, 0], twins[:, 3] = z[:, 1], z[:, 5]
    torch.testing.assert_close(model.decode_mean(twins), before)


def test_split_copies_encoder_rows_with_a_symmetric_perturbation():
    model, optimizer = model_and_optimizer()
    weight = model.encoder.heads.weight.detach().clone()
    split_units(model, optimizer, torch.tensor([0, 9, 3, 0, 1, 5]), torch.Generator())
    new = model.encoder.heads.weight.detach()
    for head in range(3):  # mu, logvar, gamma logit
        dead, donor = head * J + 0, head * J + 1
        torch.testing.assert_close(new[dead] + new[donor], 2 * weight[donor])
        assert not torch.equal(new[dead], new[donor])
        torch.testing.assert_close(new[head * J + 2], weight[head * J + 2])  # untouched


def test_split_copies_adam_moments_to_the_new_unit():
    model, optimizer = model_and_optimizer()
    heads = model.encoder.heads.weight
    split_units(model, optimizer, torch.tensor([0, 9, 3, 2, 1, 5]), torch.Generator())
    for key in ("exp_avg", "exp_avg_sq"):
        moments = optimizer.state[heads][key]
        torch.testing.assert_close(moments[0], moments[1])
        dec = optimizer.state[decoder_weight(model)][key]
        torch.testing.assert_close(dec[:, 0], dec[:, 1])


def test_split_gives_the_dead_unit_the_donors_moments_and_keeps_the_donors():
    # Direction matters: the dead unit takes the busy unit's moments, not the reverse.
    model, optimizer = model_and_optimizer()
    heads, dec = model.encoder.heads.weight, decoder_weight(model)
    before = {
        (p, key): optimizer.state[p][key].clone()
        for p in (heads, dec)
        for key in ("exp_avg", "exp_avg_sq")
    }
    split_units(model, optimizer, torch.tensor([0, 9, 3, 2, 1, 5]), torch.Generator())
    for key in ("exp_avg", "exp_avg_sq"):
        old, new = before[(heads, key)], optimizer.state[heads][key]
        for head in range(3):
            dead, donor = head * J + 0, head * J + 1
            assert not torch.equal(old[dead], old[donor])  # the test can tell them apart
            torch.testing.assert_close(new[dead], old[donor], rtol=0, atol=0)
            torch.testing.assert_close(new[donor], old[donor], rtol=0, atol=0)
        old, new = before[(dec, key)], optimizer.state[dec][key]
        assert not torch.equal(old[:, 0], old[:, 1])
        torch.testing.assert_close(new[:, 0], old[:, 1], rtol=0, atol=0)
        torch.testing.assert_close(new[:, 1], old[:, 1], rtol=0, atol=0)


def test_split_before_the_first_step_has_no_moments_to_copy():
    g = torch.Generator().manual_seed(0)
    model = small_vae(8, J, (5,), generator=g, alpha=0.1)
    optimizer = make_optimizer(model.parameters(), 1e-3)
    assert split_units(model, optimizer, torch.tensor([0, 9, 3, 2, 1, 5]), g) == 1
    assert not optimizer.state.get(model.encoder.heads.weight)


def test_nothing_to_split_changes_nothing():
    model, optimizer = model_and_optimizer()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert split_units(model, optimizer, torch.tensor([1, 9, 3, 2, 1, 5]), torch.Generator()) == 0
    assert split_units(model, optimizer, torch.tensor([0, 1, 0, 1, 0, 0]), torch.Generator()) == 0
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k])


def test_more_dead_units_than_donors_splits_each_donor_once():
    model, optimizer = model_and_optimizer()
    assert split_units(model, optimizer, torch.tensor([0, 0, 0, 0, 7, 4]), torch.Generator()) == 2


def test_encoder_rows_of_a_unit_are_its_row_in_every_head():
    model, _ = model_and_optimizer()
    rows = model.encoder.unit_rows(torch.tensor([0, 4]))
    assert rows.tolist() == [0, 4, J, J + 4, 2 * J, 2 * J + 4]


def test_revival_callback_counts_only_in_the_window_and_reports():
    model, optimizer = model_and_optimizer()
    schedule = Schedule(total_steps=100, revive=0.1)
    context = TrainContext(model, optimizer, schedule, torch.Generator(), step=0)
    revival = Revival()
    revival.on_epoch_start(context)
    assert context.unit_counts.tolist() == [0] * J
    context.unit_counts += torch.tensor([0, 9, 3, 0, 1, 5])
    assert revival.on_steps_end(context) == {"revived": 2}
    assert context.unit_counts is None
    context.step = 10  # out of the window: nothing counted, nothing reported
    revival.on_epoch_start(context)
    assert context.unit_counts is None and revival.on_steps_end(context) is None
