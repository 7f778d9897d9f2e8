"""The ``prior`` parameter of VariationalSparseCoder: alpha as the fraction of non-zeros."""

import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import skvsc
from skvsc import VariationalSparseCoder

X = load_digits().data / 16.0
DATA = __import__("pathlib").Path(__file__).parent / "data"


def _fraction_of_nonzeros(**params):
    vsc = VariationalSparseCoder(max_iter=20, random_state=0, n_threads=1, **params).fit(X)
    return float((vsc.transform(X) != 0).mean())


def test_alpha_is_the_fraction_of_nonzeros_with_the_aggregate_prior():
    # The law stated in the docstring: between alpha / 2 and 3 alpha wherever
    # alpha * n_components >= 1,
    # here on small data where the fixed prior's per-unit fee leaves (almost) nothing.
    assert 0.1 <= _fraction_of_nonzeros(n_components=20, alpha=0.2) <= 0.4


def test_fixed_prior_is_the_papers_elbo_and_keeps_few_units_on_small_data():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the all-zero-code warning
        assert _fraction_of_nonzeros(n_components=20, alpha=0.05, prior="fixed") < 0.025


def test_prior_is_validated():
    with pytest.raises(ValueError, match="prior must be one of"):
        VariationalSparseCoder(prior="learned", max_iter=1).fit(X[:50])


@pytest.mark.parametrize("name", ["vsc_v0_1.skvsc", "vsc_v0_1.joblib"])
def test_models_saved_before_the_parameter_load_with_the_fixed_prior(name):
    path = DATA / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", skvsc.exceptions.InconsistentVersionWarning)
        est = skvsc.load(path) if name.endswith(".skvsc") else joblib.load(path)
    assert est.get_params()["prior"] == "fixed"
    assert est._run.config.latent == "spike_slab"


def test_aggregate_prior_round_trips_through_the_safe_format(tmp_path):
    vsc = VariationalSparseCoder(n_components=8, alpha=0.25, max_iter=2, random_state=0).fit(X)
    skvsc.save(vsc, tmp_path / "m.skvsc")
    loaded = skvsc.load(tmp_path / "m.skvsc")
    assert loaded.prior == "aggregate"
    np.testing.assert_array_equal(loaded.transform(X[:20]), vsc.transform(X[:20]))


def test_slab_kl_weight_reaches_the_aggregate_family_and_is_validated():
    vsc = VariationalSparseCoder(slab_kl_weight=0.3, max_iter=1, n_components=8, random_state=0)
    assert vsc.fit(X[:100]).module_.latent.slab_kl_weight == 0.3
    # the paper's ELBO has no such weight
    fixed = VariationalSparseCoder(prior="fixed", slab_kl_weight=0.3, max_iter=1, n_components=8)
    assert not hasattr(fixed.fit(X[:100]).module_.latent, "slab_kl_weight")
    with pytest.raises(ValueError, match="slab_kl_weight"):
        VariationalSparseCoder(slab_kl_weight=-1.0, max_iter=1).fit(X[:50])


def test_alpha_law_holds_at_small_alpha():
    # alpha = 0.01, J = 200: about two active units per code. Units that fall
    # silent on a whole batch must be pushed back on (the clamp of the aggregate
    # rate passes its gradient); without that, almost every code ended empty.
    # The image default's subsidy-only rate controller (rate_control="auto") lifts
    # the units below alpha and none above, so the fraction sits a little over
    # 2 x alpha here (README: between half and three times alpha).
    vsc = VariationalSparseCoder(alpha=0.01, max_iter=80, random_state=0, n_threads=1).fit(X)
    Z = vsc.transform(X)
    assert 0.005 <= float((Z != 0).mean()) <= 0.025
    assert float(((Z != 0).sum(axis=1) == 0).mean()) < 0.05


def test_rate_control_brings_the_fraction_of_nonzeros_to_alpha():
    # alpha * J = 2 on the digits: the aggregate term alone leaves about 1.3 x
    # alpha non-zeros; the controller's signed multipliers bring it near alpha.
    def ratio(**params):
        return _fraction_of_nonzeros(n_components=40, alpha=0.05, **params) / 0.05

    off, on = ratio(rate_control=0.0), ratio(rate_control=1.0)
    assert 0.8 <= on <= 1.2
    assert abs(on - 1) < abs(off - 1)


def test_rate_control_is_validated_saved_and_continued(tmp_path):
    with pytest.raises(ValueError, match="rate_control"):
        VariationalSparseCoder(rate_control=-1.0, max_iter=1).fit(X[:50])
    vsc = VariationalSparseCoder(
        n_components=8, alpha=0.25, rate_control=1.0, max_iter=2, random_state=0
    ).fit(X)
    multiplier = vsc.module_.latent.controller.multiplier.clone()
    assert torch.count_nonzero(multiplier) > 0
    skvsc.save(vsc, tmp_path / "m.skvsc")
    loaded = skvsc.load(tmp_path / "m.skvsc")
    torch.testing.assert_close(loaded.module_.latent.controller.multiplier, multiplier)
    # a continued fit keeps stepping the saved multipliers; changing the step refuses
    loaded.partial_fit(X[:100])
    assert not torch.equal(loaded.module_.latent.controller.multiplier, multiplier)
    with pytest.raises(ValueError, match="rate_control"):
        loaded.set_params(rate_control=0.0).partial_fit(X[:100])


def test_up_only_rate_control_is_validated_and_only_subsidises():
    with pytest.raises(ValueError, match="rate_control_sides"):
        VariationalSparseCoder(rate_control=1.0, rate_control_sides="down", max_iter=1).fit(X[:50])
    vsc = VariationalSparseCoder(
        n_components=16,
        alpha=0.1,
        gate="tied",
        rate_control=1.0,
        rate_control_sides="up",
        max_iter=2,
        random_state=0,
    ).fit(X)
    multiplier = vsc.module_.latent.controller.multiplier
    assert multiplier.max() <= 0 < torch.count_nonzero(multiplier)
    with pytest.raises(ValueError, match="rate_control_sides"):
        vsc.set_params(rate_control_sides="both").partial_fit(X[:100])


def test_runs_saved_before_rate_control_continue_without_it():
    # a run whose latent options predate the parameter was built with its default
    vsc = VariationalSparseCoder(
        n_components=8, alpha=0.25, rate_control=0.0, max_iter=1, random_state=0
    ).fit(X)
    del vsc._run.config.latent_params["rate_control"]
    vsc.partial_fit(X[:100])
    assert vsc.module_.latent.controller is None


def test_models_saved_before_rate_control_existed_load_without_it():
    vsc = VariationalSparseCoder(
        n_components=8, alpha=0.25, rate_control=0.0, max_iter=1, random_state=0
    ).fit(X)
    state = vsc.__getstate__()
    for name in ("rate_control", "rate_control_sides"):
        del state["params"][name]  # as saved by a version without the parameters
    old = type(vsc).__new__(type(vsc))
    old.__setstate__(state)
    assert old.rate_control == 0.0 and old.rate_control_sides == "auto"
    old.partial_fit(X[:100])
    assert old.module_.latent.controller is None


def test_a_rate_control_floor_and_mean_are_validated_saved_and_continued(tmp_path):
    params = dict(n_components=16, alpha=0.1, gate="tied", max_iter=2, random_state=0)
    # the floor is the subsidies' target: the signed controller has none
    with pytest.raises(ValueError, match="rate_control_floor=0.5 needs"):
        VariationalSparseCoder(rate_control=1.0, rate_control_floor=0.5, **params).fit(X)
    vsc = VariationalSparseCoder(
        rate_control=1.0,
        rate_control_sides="up",
        rate_control_floor=0.25,
        rate_control_mean=True,
        **params,
    ).fit(X)
    controller = vsc.module_.latent.controller
    assert controller.floor == 0.25 and controller.mean
    assert controller.multiplier.max() <= 0 and controller.mean_multiplier != 0
    skvsc.save(vsc, tmp_path / "m.skvsc")
    loaded = skvsc.load(tmp_path / "m.skvsc")
    torch.testing.assert_close(
        loaded.module_.latent.controller.mean_multiplier, controller.mean_multiplier
    )
    np.testing.assert_array_equal(loaded.transform(X), vsc.transform(X))
    before = loaded.module_.latent.controller.mean_multiplier.clone()
    loaded.partial_fit(X[:100])  # keeps stepping the saved multiplier
    assert loaded.module_.latent.controller.mean_multiplier != before
    # changing either refuses to continue (a refused call changes nothing)
    for name, value, kept in (
        ("rate_control_floor", 0.5, 0.25),
        ("rate_control_mean", False, True),
    ):
        with pytest.raises(ValueError, match=name):
            loaded.set_params(**{name: value}).partial_fit(X[:100])
        loaded.set_params(**{name: kept})


def test_the_default_floor_and_mean_keep_the_subsidy_only_controller():
    params = dict(n_components=16, alpha=0.1, gate="tied", max_iter=2, random_state=0)
    today = VariationalSparseCoder(rate_control=1.0, rate_control_sides="up", **params).fit(X)
    named = VariationalSparseCoder(
        rate_control=1.0, rate_control_sides="up", rate_control_floor=1.0, **params
    ).fit(X)
    np.testing.assert_array_equal(today.transform(X), named.transform(X))
    assert "mean_multiplier" not in dict(today.module_.latent.controller.named_buffers())


def test_models_saved_before_the_floor_and_mean_existed_load_and_continue():
    vsc = VariationalSparseCoder(
        n_components=8,
        alpha=0.25,
        gate="tied",
        rate_control=1.0,
        rate_control_sides="up",
        max_iter=1,
        random_state=0,
    ).fit(X)
    state = vsc.__getstate__()
    for name in ("rate_control_floor", "rate_control_mean"):
        del state["params"][name]  # as saved by a version without the parameters
    for name in ("rate_control_floor", "rate_control_mean"):
        del state["fitted"]["run"]["model_config"]["latent_params"][name]
    old = type(vsc).__new__(type(vsc))
    old.__setstate__(state)
    assert old.rate_control_floor == 1.0 and old.rate_control_mean is False
    np.testing.assert_array_equal(old.transform(X), vsc.transform(X))
    old.partial_fit(X[:100])
    assert old.module_.latent.controller.floor == 1.0 and not old.module_.latent.controller.mean
