"""VariationalSparseCoder(gate="tied"): the code is a JumpReLU of the slab means,
saved with the model, fixed for continued fits, refused by the fixed prior."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine
from sklearn.preprocessing import minmax_scale

import skvsc
from skvsc import VariationalSparseCoder
from skvsc._widths import NARROW_WIDTH

X = minmax_scale(load_wine().data)
PARAMS = dict(n_components=12, alpha=0.25, max_iter=5, random_state=0, n_threads=1)


@pytest.fixture(scope="module")
def tied():
    return VariationalSparseCoder(gate="tied", **PARAMS).fit(X)


def test_a_unit_is_on_exactly_where_its_mean_passes_its_threshold(tied):
    latent = tied.module_.latent
    assert latent.tied
    mu = tied.encode_mean(X)
    a = latent.gate_slope.detach().numpy()
    c = latent.gate_offset.detach().numpy()
    on = a * mu + c > 0
    Z = tied.transform(X)
    some = on.any(axis=1)  # the other rows keep their most probable unit (the floor)
    assert some.mean() > 0.5
    np.testing.assert_array_equal((Z != 0)[some], on[some])
    assert ((Z[~some] != 0).sum(axis=1) == 1).all()
    np.testing.assert_allclose(Z[Z != 0], mu[Z != 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tied.activity_proba(X), 1 / (1 + np.exp(-(a * mu + c))), rtol=1e-4)
    # the gate was trained: thresholds moved from their start
    assert not np.allclose(c, 0.0)


def test_tied_is_saved_continued_and_fixed(tied, tmp_path):
    path = tmp_path / "m.skvsc"
    skvsc.save(tied, path)
    loaded = skvsc.load(path)
    assert loaded.gate == "tied" and loaded.module_.latent.tied
    torch.testing.assert_close(loaded.module_.latent.gate_offset, tied.module_.latent.gate_offset)
    np.testing.assert_array_equal(loaded.transform(X), tied.transform(X))
    continued = skvsc.load(path).partial_fit(X)
    assert not np.array_equal(continued.transform(X), tied.transform(X))
    with pytest.raises(ValueError, match="gate=.*fixed"):
        skvsc.load(path).set_params(gate="free").partial_fit(X)


def test_models_saved_before_the_gate_existed_load_and_continue_as_free():
    free = VariationalSparseCoder(gate="free", **PARAMS).fit(X)
    state = free.__getstate__()
    del state["params"]["gate"]  # as saved by a version without the parameter
    old = type(free).__new__(type(free))
    old.__setstate__(state)
    assert old.gate == "free"
    np.testing.assert_array_equal(old.transform(X), free.transform(X))
    del old._run.config.latent_params["gate"]  # a run whose options predate it
    old.partial_fit(X)
    assert not old.module_.latent.tied


def test_the_fixed_prior_refuses_the_tied_gate():
    vsc = VariationalSparseCoder(prior="fixed", gate="tied", max_iter=1)
    with pytest.raises(ValueError, match="gate='tied' needs prior='aggregate'"):
        vsc.fit(X)
    assert not hasattr(vsc, "module_")


@pytest.mark.parametrize(
    "n_features, step, sides",
    [(NARROW_WIDTH - 1, 0.0, "up"), (NARROW_WIDTH, 1.0, "up")],
    ids=["table", "image"],
)
def test_auto_gate_is_tied_and_images_get_the_subsidy_only_controller(n_features, step, sides):
    data = np.random.default_rng(0).normal(size=(60, n_features))
    vsc = VariationalSparseCoder(n_components=40, max_iter=1, random_state=0).fit(data)
    # the parameters are left as given
    assert vsc.gate == vsc.rate_control == vsc.rate_control_sides == "auto"
    assert vsc.module_.latent.tied
    options = vsc._run.config.latent_params
    assert options["gate"] == "tied" and options["rate_control"] == step
    assert options["rate_control_sides"] == sides
    controller = vsc.module_.latent.controller
    assert (controller is None) if step == 0 else (controller.sides == "up")


def test_a_rate_control_given_as_a_number_moves_both_sides_unless_told():
    data = np.random.default_rng(0).normal(size=(60, NARROW_WIDTH))
    params = dict(n_components=40, max_iter=1, random_state=0, rate_control=1.0)
    vsc = VariationalSparseCoder(**params).fit(data)
    assert vsc.module_.latent.controller.sides == "both"
    vsc = VariationalSparseCoder(rate_control_sides="up", **params).fit(data)
    assert vsc.module_.latent.controller.sides == "up"


def test_image_models_saved_with_the_free_gate_keep_it():
    # fitted when gate="auto" gave images the free gate and rate_control was 0
    data = np.random.default_rng(0).random((60, NARROW_WIDTH))
    free = VariationalSparseCoder(
        n_components=40, gate="free", rate_control=0.0, max_iter=1, random_state=0
    ).fit(data)
    state = free.__getstate__()
    state["params"]["gate"] = "auto"
    del state["params"]["rate_control_sides"]  # saved before the parameter existed
    old = type(free).__new__(type(free))
    old.__setstate__(state)
    assert not old.module_.latent.tied and old.module_.latent.controller is None
    np.testing.assert_array_equal(old.transform(data), free.transform(data))
    old.partial_fit(data)  # continues the saved model: "auto" matches what it resolved to
    assert not old.module_.latent.tied and old.module_.latent.controller is None


def test_auto_gate_is_free_with_the_fixed_prior():
    vsc = VariationalSparseCoder(prior="fixed", n_components=8, max_iter=1, random_state=0)
    vsc.fit(np.random.default_rng(0).normal(size=(60, 5)))
    assert not getattr(vsc.module_.latent, "tied", False)
