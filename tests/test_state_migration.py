"""Models saved by skvsc 0.1 (state format 1) and in state format 2 load,
transform, score and train on identically.

The files in tests/data were written before the remodel into named parts
(``make_v0_1_fixtures.py`` shows how) and must never be regenerated. The math
did not change, so outputs are compared bit for bit.
"""

import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import clone

import skvsc
from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._state import STATE_FORMAT
from skvsc.exceptions import InconsistentVersionWarning

from .stored import assert_stored_output

DATA = Path(__file__).parent / "data"
EXPECTED = np.load(DATA / "v0_1_expected.npz")
X = EXPECTED["X"]
CLASSES = {"vsc": VariationalSparseCoder, "vae": VAETransformer}
LOADERS = {"skvsc": skvsc.load, "joblib": joblib.load}


def data(name):
    return X if name == "vsc" else X * 16.0


def load(name, kind):
    migrated = rf"state format 1\).*state format {STATE_FORMAT}\)"
    with pytest.warns(InconsistentVersionWarning, match=migrated):
        return LOADERS[kind](DATA / f"{name}_v0_1.{kind}")


@pytest.mark.parametrize("kind", list(LOADERS))
@pytest.mark.parametrize("name", list(CLASSES))
def test_format_1_files_give_the_stored_outputs(name, kind):
    est = load(name, kind)
    assert type(est) is CLASSES[name]
    Xn = data(name)
    assert_stored_output(est.transform(Xn), EXPECTED[f"{name}_transform"])
    assert_stored_output(est.score_samples(Xn), EXPECTED[f"{name}_score_samples"])
    assert_stored_output(
        est.inverse_transform(EXPECTED[f"{name}_transform"]), EXPECTED[f"{name}_inverse"]
    )


@pytest.mark.parametrize("kind", list(LOADERS))
@pytest.mark.parametrize("name", list(CLASSES))
def test_format_1_files_migrate_to_the_named_parts(name, kind):
    est = load(name, kind)
    config = est._run.config
    assert config.latent == ("spike_slab" if name == "vsc" else "normal")
    assert config.network_params == {"hidden_layer_sizes": (16,)}
    assert config.likelihood == est.likelihood_ == ("bernoulli" if name == "vsc" else "gaussian")
    if name == "vsc":
        assert config.latent_params == {"alpha": 0.5, "usage": "balance"}
    else:  # the Gaussian likelihood's buffers and variance moved into it
        assert {"likelihood.shift", "likelihood.scale", "likelihood.logvar"} <= set(
            est.module_.state_dict()
        )
    assert not hasattr(est, "_stopper") and not hasattr(est, "_module_config")
    state = est.__getstate__()  # saved again in the current format
    assert state["_skvsc_state_format"] == STATE_FORMAT and state["other"] == {}


@pytest.mark.parametrize("kind", list(LOADERS))
@pytest.mark.parametrize("name", list(CLASSES))
def test_get_params_clone_and_refit_work(name, kind):
    est = load(name, kind)
    params = est.get_params()
    assert params["hidden_layer_sizes"] == (16,) and params["random_state"] == 0
    Xn = data(name)
    fresh = clone(est)
    assert fresh.get_params() == params
    fresh.fit(Xn)
    assert fresh.n_iter_ >= 1 and np.isfinite(fresh.score(Xn))


@pytest.mark.parametrize("kind", list(LOADERS))
@pytest.mark.parametrize("name", list(CLASSES))
def test_training_continues_from_a_format_1_file(name, kind):
    est = load(name, kind)
    n_iter, step = est.n_iter_, est._run.step
    Xn = data(name)
    est.partial_fit(Xn)
    assert est.n_iter_ == n_iter + 1 and est._run.step > step
    assert np.isfinite(est.transform(Xn)).all()
    # Both loaders restore the same optimizer and generator state: the same future.
    other = load(name, "joblib" if kind == "skvsc" else "skvsc")
    other.partial_fit(Xn)
    np.testing.assert_array_equal(other.transform(Xn), est.transform(Xn))


@pytest.mark.parametrize("name", list(CLASSES))
def test_a_migrated_model_round_trips_in_the_current_format_silently(name, tmp_path, recwarn):
    est = load(name, "joblib")
    loaded = pickle.loads(pickle.dumps(est))
    skvsc.save(est, tmp_path / "m.skvsc")
    reloaded = skvsc.load(tmp_path / "m.skvsc")
    assert not [w for w in recwarn if issubclass(w.category, InconsistentVersionWarning)]
    for copy in (loaded, reloaded):
        assert_stored_output(copy.transform(data(name)), EXPECTED[f"{name}_transform"])


def _as_format_2(state):
    """A state of the current format in the layout of format 2: the entries of
    the run side by side in ``fitted``."""
    fitted = dict(state["fitted"])
    fitted.update(fitted.pop("run"))
    return {**state, "_skvsc_state_format": 2, "fitted": fitted}


@pytest.mark.parametrize("name", list(CLASSES))
def test_format_2_states_migrate_with_the_same_outputs_and_future(name):
    est = load(name, "joblib")
    Xn = data(name)
    old = type(est).__new__(type(est))
    migrated = rf"state format 2\).*state format {STATE_FORMAT}\)"
    with pytest.warns(InconsistentVersionWarning, match=migrated):
        old.__setstate__(_as_format_2(est.__getstate__()))
    assert old.transform(Xn).tobytes() == est.transform(Xn).tobytes()
    assert old.score_samples(Xn).tobytes() == est.score_samples(Xn).tobytes()
    assert old._run.step == est._run.step
    est.partial_fit(Xn)
    old.partial_fit(Xn)  # the optimizer and the generator state came along
    assert old.transform(Xn).tobytes() == est.transform(Xn).tobytes()
    assert "run" in old.__getstate__()["fitted"]  # saved again in the current format


def _format_1_state(name):
    """The raw state (format 1) of a fixture, as ``__setstate__`` receives it."""
    captured = {}
    cls = CLASSES[name]
    original = cls.__setstate__
    cls.__setstate__ = lambda self, state: captured.update(state)
    try:
        joblib.load(DATA / f"{name}_v0_1.joblib")
    finally:
        cls.__setstate__ = original
    return captured


@pytest.mark.parametrize("dropped", [("usage",), ("usage", "usage_weight")])
def test_a_format_1_file_from_before_a_model_parameter_keeps_the_model_s_value(dropped):
    # skvsc 0.1 files written before `usage` existed (or `usage_weight`) hold
    # neither the parameter nor its value in the model: format-1 modules were
    # built with usage="prior" (and no penalty weight in their schedule). The
    # parameter must say what the model holds, or training cannot continue.
    state = _format_1_state("vsc")
    for key in dropped:
        del state[key]
    del state["_module_config"]["usage"]
    if "usage_weight" in dropped:
        schedule = vars(state["_schedule_"])
        schedule["usage_weight"] = 0.0
    est = VariationalSparseCoder.__new__(VariationalSparseCoder)
    with pytest.warns(InconsistentVersionWarning):
        est.__setstate__(state)
    assert est._run.config.latent_params == {"alpha": 0.5, "usage": "prior"}
    assert est.usage == "prior"
    if "usage_weight" in dropped:
        assert est.usage_weight == 0.0
    assert_stored_output(est.transform(X), EXPECTED["vsc_transform"])
    est.partial_fit(X)  # the parameters agree with the model
    assert est.n_iter_ == 4
