"""The schedule of the paper's objective (prior="fixed") for parameters left at "auto",
and the aggregate prior's defaults kept bit for bit."""

import numpy as np
import pytest

import skvsc
from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._core import optim
from skvsc._core.schedule import FIXED_PRIOR_AUTO, Schedule

# Random binary images at alpha=0.5, J=6: the fixed prior may leave codes empty.
pytestmark = pytest.mark.filterwarnings("ignore:Every training sample has an all-zero")


@pytest.fixture
def X():
    return np.random.default_rng(0).random((90, 784)).round()


def _fixed(**params):
    return VariationalSparseCoder(
        prior="fixed", alpha=0.5, n_components=6, random_state=0, n_threads=1, **params
    )


def test_aggregate_auto_is_the_former_defaults_bit_for_bit(X):
    # The values kl_warmup, usage_weight and learning_rate_init had as defaults
    # before "auto" (and max_iter, whose rule is unchanged for this prior).
    options = dict(n_components=6, random_state=0, n_threads=1)
    auto = VariationalSparseCoder(**options).fit(X)
    former = VariationalSparseCoder(
        **options,
        kl_warmup=0.5,
        usage_weight=5.0,
        learning_rate_init=1e-3,
        # the epochs "auto" resolved to (the schedule's length), not the epochs the fit
        # ran: where rounding stops the fit early by `tol`, n_iter_ is shorter
        max_iter=auto._max_epochs(len(X)),
    ).fit(X)
    np.testing.assert_array_equal(auto.transform(X), former.transform(X))
    assert auto.loss_curve_ == former.loss_curve_
    assert auto._run.schedule == former._run.schedule
    assert auto._run.schedule.lr_decay == 0.0
    assert VariationalSparseCoder()._max_epochs(60_000) == 18
    assert VAETransformer()._max_epochs(60_000) == 18


def test_fixed_prior_auto_resolves_to_its_rule(X):
    est = _fixed(max_iter=2).fit(X)
    schedule = est._run.schedule
    assert (schedule.kl_warmup, schedule.usage_weight) == (0.0, 0.0)
    assert schedule.lr_decay == FIXED_PRIOR_AUTO["lr_decay"] == 0.9
    # the optimizer keeps the rate set for the fit between epochs
    assert est._run.optimizer.param_groups[0]["lr"] == pytest.approx(3e-3)
    # 10 epochs on MNIST's 60,000 images at batch 128, against 18 for the aggregate prior
    assert _fixed()._max_epochs(60_000) == 10
    assert est.get_params()["kl_warmup"] == est.get_params()["usage_weight"] == "auto"


def test_fixed_prior_keeps_explicit_values(X):
    est = _fixed(max_iter=2, kl_warmup=0.5, usage_weight=5.0, learning_rate_init=1e-3).fit(X)
    schedule = est._run.schedule
    assert (schedule.kl_warmup, schedule.usage_weight, schedule.lr_decay) == (0.5, 5.0, 0.0)
    assert est._run.optimizer.param_groups[0]["lr"] == 1e-3
    assert _fixed(max_iter=7)._max_epochs(60_000) == 7


def test_learning_rate_scale_is_linear_to_its_floor():
    schedule = Schedule(total_steps=10, lr_decay=0.9)
    scales = [schedule.learning_rate_scale(step) for step in range(13)]
    expected = [1.0 - 0.09 * min(step, 10) for step in range(13)]
    np.testing.assert_allclose(scales, expected)
    assert Schedule(total_steps=10).learning_rate_scale(7) == 1.0


def test_training_steps_use_the_decayed_rate(X, monkeypatch):
    seen = []
    step = optim.Adam.step

    def recording(self):
        seen.append(self.param_groups[0]["lr"])
        return step(self)

    monkeypatch.setattr(optim.Adam, "step", recording)
    est = _fixed(max_iter=3, batch_size=30).fit(X)  # 3 steps an epoch, 9 in all
    expected = [3e-3 * (1 - 0.9 * k / 9) for k in range(9)]
    np.testing.assert_allclose(seen, expected, rtol=1e-12)
    # a further epoch continues at the floor, a tenth of the rate
    seen.clear()
    est.partial_fit(X)
    np.testing.assert_allclose(seen, [3e-4] * 3, rtol=1e-12)
    assert est._run.optimizer.param_groups[0]["lr"] == pytest.approx(3e-3)


def test_a_changed_rate_continues_under_the_models_schedule(X, monkeypatch):
    seen = []
    step = optim.Adam.step

    def recording(self):
        seen.append(self.param_groups[0]["lr"])
        return step(self)

    monkeypatch.setattr(optim.Adam, "step", recording)
    est = _fixed(max_iter=2, batch_size=30).fit(X)
    est.set_params(learning_rate_init=1e-3)  # not a parameter of the model: allowed
    seen.clear()
    est.partial_fit(X)  # the decay was fixed with the model: its floor, of the new rate
    np.testing.assert_allclose(seen, [1e-4] * 3, rtol=1e-12)


def test_saved_fixed_prior_model_keeps_its_schedule(X, tmp_path):
    est = _fixed(max_iter=2).fit(X)
    skvsc.save(est, tmp_path / "m.skvsc")
    loaded = skvsc.load(tmp_path / "m.skvsc")
    assert loaded._run.schedule == est._run.schedule
    np.testing.assert_array_equal(
        loaded.partial_fit(X).transform(X), est.partial_fit(X).transform(X)
    )


@pytest.mark.parametrize("name", ["kl_warmup", "usage_weight"])
@pytest.mark.parametrize("value", ["fast", -1.0])
def test_bad_values_are_refused(X, name, value):
    with pytest.raises((ValueError, TypeError), match=name):
        _fixed(max_iter=1, **{name: value}).fit(X[:10])


def test_vae_kl_warmup_auto_is_no_warmup():
    X = np.random.default_rng(0).random((40, 12))
    options = dict(n_components=3, max_iter=2, random_state=0, n_threads=1)
    auto = VAETransformer(kl_warmup="auto", **options).fit(X)
    assert auto._run.schedule.kl_warmup == 0.0
    np.testing.assert_array_equal(auto.transform(X), VAETransformer(**options).fit(X).transform(X))
