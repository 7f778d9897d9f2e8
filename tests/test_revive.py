"""Dead-unit revival (``skvsc._revive.split_units``) and its place in training."""

import numpy as np
import pytest
import torch

from skvsc import VariationalSparseCoder
from skvsc._models import SpikeSlabVAE
from skvsc._revive import first_decoder_layer, split_units
from skvsc._schedule import Schedule
from skvsc._train import make_optimizer

J = 6


def model_and_optimizer(seed=0, hidden=(5,)):
    g = torch.Generator().manual_seed(seed)
    model = SpikeSlabVAE(8, J, hidden, "bernoulli", g, alpha=0.1)
    optimizer = make_optimizer(model.parameters(), 1e-3)
    # One step so that Adam has moments to copy.
    x = torch.rand(16, 8, generator=g)
    loss, _ = model.objective(x, Schedule(total_steps=10).at(0), g)
    loss.backward()
    optimizer.step()
    return model, optimizer


def decoder_weight(model):
    return first_decoder_layer(model).weight


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


def test_schedule_revives_only_in_its_window():
    schedule = Schedule(total_steps=100, revive=0.3)
    assert schedule.reviving(0) and schedule.reviving(29)
    assert not schedule.reviving(30)
    assert not Schedule(total_steps=100).reviving(0)


@pytest.fixture(scope="module")
def images():
    # Stripes of random widths: some units die at alpha=0.02 within a few epochs.
    rng = np.random.RandomState(0)
    X = (rng.rand(600, 36) < 0.1).astype(np.float32)
    for i, row in enumerate(X.reshape(600, 6, 6)):
        row[i % 6] = 1.0
    return X


@pytest.mark.filterwarnings("ignore:Every training sample has an all-zero")
def test_fit_revives_dead_units_and_is_deterministic(images):
    params = dict(n_components=24, alpha=0.02, max_iter=8, random_state=0, kl_warmup=0.2)
    plain = VariationalSparseCoder(**params).fit(images)
    revived = VariationalSparseCoder(revive=0.8, **params).fit(images)
    again = VariationalSparseCoder(revive=0.8, **params).fit(images)
    assert all("revived" not in h for h in plain.history_)
    assert sum(h["revived"] for h in revived.history_ if "revived" in h) > 0
    for name, weight in revived.module_.state_dict().items():
        torch.testing.assert_close(weight, again.module_.state_dict()[name], rtol=0, atol=0)
    assert not torch.equal(revived.module_.encoder.heads.weight, plain.module_.encoder.heads.weight)
    assert revived.module_.unit_counts is None  # not left on the model (pickles, memory)


@pytest.mark.parametrize("value, error", [(-0.1, ValueError), (1.5, ValueError), ("x", TypeError)])
def test_bad_revive_is_rejected_by_name(images, value, error):
    with pytest.raises(error, match="revive"):
        VariationalSparseCoder(revive=value, max_iter=1).fit(images)


@pytest.mark.filterwarnings("ignore:Training interrupted")
def test_an_interrupted_epoch_stops_counting(images, monkeypatch):
    model = SpikeSlabVAE.objective

    def interrupt(self, x, step, generator):
        raise KeyboardInterrupt

    monkeypatch.setattr(SpikeSlabVAE, "objective", interrupt)
    est = VariationalSparseCoder(revive=1.0, max_iter=2, random_state=0).fit(images)
    monkeypatch.setattr(SpikeSlabVAE, "objective", model)
    assert est.module_.unit_counts is None
