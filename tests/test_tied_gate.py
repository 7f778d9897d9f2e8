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
    "n_features, tied", [(NARROW_WIDTH - 1, True), (NARROW_WIDTH, False)], ids=["table", "image"]
)
def test_auto_gate_is_tied_on_narrow_inputs_and_free_from_64_features(n_features, tied):
    data = np.random.default_rng(0).normal(size=(60, n_features))
    vsc = VariationalSparseCoder(n_components=40, max_iter=1, random_state=0).fit(data)
    assert vsc.gate == "auto"  # the parameter is left as given
    assert vsc.module_.latent.tied is tied
    assert vsc._run.config.latent_params["gate"] == ("tied" if tied else "free")


def test_auto_gate_is_free_with_the_fixed_prior():
    vsc = VariationalSparseCoder(prior="fixed", n_components=8, max_iter=1, random_state=0)
    vsc.fit(np.random.default_rng(0).normal(size=(60, 5)))
    assert not getattr(vsc.module_.latent, "tied", False)
