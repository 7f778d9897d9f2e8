"""Training schedules: sharpness, warm-ups, spike pre-training, revival window."""

import numpy as np
import pytest

from skvsc._core.schedule import AUTO_RANGE, AUTO_SCALE, Schedule, StepValues, auto_epochs


def test_sharpness_schedule_is_linear_and_ends_at_c_end():
    schedule = Schedule(total_steps=11, sharpness=(50.0, 200.0))
    assert schedule.at(0).sharpness == 50.0
    assert schedule.at(5).sharpness == pytest.approx(125.0)
    assert schedule.at(10).sharpness == 200.0
    assert schedule.at(500).sharpness == 200.0
    assert schedule.final().sharpness == 200.0


def test_kl_warmup_rises_to_one_and_blocks_stopping():
    schedule = Schedule(total_steps=100, kl_warmup=0.5)
    weights = [schedule.at(s).kl_weight for s in range(100)]
    assert weights[0] == pytest.approx(1 / 50) and weights[49] == 1.0 and weights[99] == 1.0
    assert np.all(np.diff(weights) >= 0)
    assert schedule.warming_up(10) and not schedule.warming_up(49)


def test_spike_pretrain_holds_the_slab_then_ramps():
    schedule = Schedule(total_steps=100, spike_pretrain=0.2)
    lam = [schedule.at(s).slab_weight for s in range(100)]
    assert lam[:20] == [0.0] * 20
    assert 0 < lam[25] < 1 and lam[39] == 1.0 and lam[99] == 1.0


def test_usage_weight_warms_up_with_the_kl():
    schedule = Schedule(total_steps=100, kl_warmup=0.5, usage_weight=4.0)
    assert schedule.at(0).usage_weight == pytest.approx(4.0 * schedule.at(0).kl_weight)
    assert schedule.at(24).usage_weight == pytest.approx(4.0 * 25 / 50)
    assert schedule.at(60).usage_weight == 4.0


def test_schedule_revives_only_in_its_window():
    schedule = Schedule(total_steps=100, revive=0.3)
    assert schedule.reviving(0) and schedule.reviving(29)
    assert not schedule.reviving(30)
    assert not Schedule(total_steps=100).reviving(0)


def test_without_sharpness_the_values_have_none():
    schedule = Schedule(total_steps=10, kl_warmup=0.5)
    assert schedule.at(3).sharpness is None and schedule.final().sharpness is None
    assert schedule.final() == StepValues()


def test_final_values_are_the_plain_elbo_at_c_end():
    schedule = Schedule(total_steps=10, sharpness=(0.1, 0.3), kl_warmup=1.0, usage_weight=2.0)
    assert schedule.final() == StepValues(sharpness=0.3, kl_weight=1.0, slab_weight=1.0)


def test_to_dict_round_trip():
    schedule = Schedule(total_steps=7, sharpness=(50.0, 200.0), kl_warmup=0.5, revive=0.1)
    assert Schedule.from_dict(schedule.to_dict()) == schedule
    values = {**schedule.to_dict(), "sharpness": [50, 200]}  # e.g. read from JSON
    assert Schedule.from_dict(values) == schedule


def test_auto_epochs_scale_with_one_over_the_root_of_the_steps_within_the_range():
    assert auto_epochs(469) == round(AUTO_SCALE / 469**0.5) == 18  # 60,000 rows at 128
    assert auto_epochs(1) == AUTO_RANGE[1] and auto_epochs(10**6) == AUTO_RANGE[0]
    steps = [1, 4, 11, 53, 469, 5000, 10**6]
    epochs = [auto_epochs(s) for s in steps]
    assert epochs == sorted(epochs, reverse=True)
