"""Pickle / joblib round trips, version and device checks, and the safe format."""

import json
import pickle
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

import skvsc
from skvsc import VAETransformer, VariationalSparseCoder, _io, _state
from skvsc.exceptions import InconsistentVersionWarning

FAST = dict(
    hidden_layer_sizes=(8,), max_iter=2, batch_size=16, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = {
    "vsc": VariationalSparseCoder(n_components=3, alpha=0.3, **FAST),
    "vae": VAETransformer(n_components=3, **FAST),
}


def unit_data(n=40, d=5, seed=0):
    return np.random.default_rng(seed).random((n, d))


@pytest.fixture(params=list(ESTIMATORS))
def fitted(request):
    return clone(ESTIMATORS[request.param]).fit(unit_data())


def assert_same_model(a, b, X):
    """Same parameters, same outputs, and the same future: training goes on identically."""
    assert type(a) is type(b)
    assert repr(a.get_params()) == repr(b.get_params())
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    np.testing.assert_array_equal(a.sample(3, random_state=1), b.sample(3, random_state=1))
    assert a.n_iter_ == b.n_iter_ and a.loss_curve_ == b.loss_curve_
    assert a.history_ == b.history_
    a.partial_fit(X)
    b.partial_fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def roundtrip(obj, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(obj, path)
    return joblib.load(path)


# -- pickle / joblib -----------------------------------------------------------------------


def test_joblib_roundtrip_fitted(fitted, tmp_path):
    X = unit_data()
    loaded = roundtrip(fitted, tmp_path)
    assert loaded.module_ is not fitted.module_
    assert_same_model(fitted, loaded, X)


def test_joblib_roundtrip_unfitted(tmp_path):
    for est in ESTIMATORS.values():
        loaded = roundtrip(est, tmp_path)
        assert repr(loaded.get_params()) == repr(est.get_params())
        X = unit_data()
        np.testing.assert_array_equal(
            loaded.fit_transform(X), clone(est).fit_transform(X)
        )  # the unfitted copy fits like the original


def test_pickle_does_not_change_the_estimator(fitted):
    X = unit_data()
    before = fitted.transform(X)
    pickle.dumps(fitted)
    assert not hasattr(fitted, "_skvsc_version")
    np.testing.assert_array_equal(fitted.transform(X), before)


def test_joblib_roundtrip_pipeline(tmp_path):
    X = unit_data(60) * 16
    y = (X[:, 0] > 8).astype(int)
    for est in ESTIMATORS.values():
        pipe = make_pipeline(MinMaxScaler(), clone(est), LogisticRegression()).fit(X, y)
        loaded = roundtrip(pipe, tmp_path)
        np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
        np.testing.assert_array_equal(loaded[:-1].transform(X), pipe[:-1].transform(X))


def test_joblib_roundtrip_grid_search(tmp_path):
    X = unit_data(60)
    search = GridSearchCV(ESTIMATORS["vsc"], {"alpha": [0.1, 0.5]}, cv=2).fit(X)
    loaded = roundtrip(search, tmp_path)
    assert loaded.best_params_ == search.best_params_
    np.testing.assert_array_equal(
        loaded.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"]
    )
    np.testing.assert_array_equal(loaded.transform(X), search.transform(X))
    assert loaded.score(X) == search.score(X)


def _pickled_with(monkeypatch, est, fitted=None, run=None, **changes):
    """Pickle ``est`` as if its state had ``changes`` (e.g. another version),
    its fitted state ``fitted`` and its run ``run`` (e.g. fitted on CUDA)."""
    original = type(est).__getstate__

    def getstate(self):
        state = original(self)
        state.update(changes)
        state["fitted"].update(fitted or {})
        state["fitted"]["run"].update(run or {})
        return state

    monkeypatch.setattr(type(est), "__getstate__", getstate)
    data = pickle.dumps(est)
    monkeypatch.setattr(type(est), "__getstate__", original)
    return data


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_pickle_loads_on_cpu(fitted, monkeypatch):
    X = unit_data()
    # A CUDA generator's state is 16 bytes (seed and offset), unlike the CPU's.
    data = _pickled_with(
        monkeypatch,
        fitted,
        fitted={"device_": "cuda:0"},
        run={"rng_state": torch.zeros(16, dtype=torch.uint8)},
    )
    with pytest.warns(UserWarning, match="fitted on 'cuda:0' but CUDA is not available"):
        loaded = pickle.loads(data)
    assert loaded.device_ == "cpu"
    assert next(loaded.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))
    loaded.partial_fit(X)  # training goes on with a freshly seeded CPU generator
    assert np.isfinite(loaded.transform(X)).all()


def test_other_version_warns(fitted, monkeypatch):
    data = _pickled_with(monkeypatch, fitted, _skvsc_version="0.0.1")
    with pytest.warns(InconsistentVersionWarning, match="saved by skvsc 0.0.1 and is loaded by"):
        loaded = pickle.loads(data)
    np.testing.assert_array_equal(loaded.transform(unit_data()), fitted.transform(unit_data()))
    assert not hasattr(loaded, "_skvsc_version")


def test_unversioned_pickle_warns(fitted, monkeypatch):
    state = fitted.__getstate__()
    del state["_skvsc_version"], state["_skvsc_state_format"]
    data = _pickled_with(monkeypatch, fitted)  # any pickle
    loaded = pickle.loads(data)
    with pytest.warns(InconsistentVersionWarning, match=r"\(unknown version\)"):
        loaded.__setstate__(state)


def test_pickle_from_before_a_parameter_existed_gets_its_default(fitted):
    state = fitted.__getstate__()
    del state["params"]["max_grad_norm"]  # as pickled by a version without that parameter
    loaded = type(fitted).__new__(type(fitted))
    loaded.__setstate__(state)
    assert loaded.get_params()["max_grad_norm"] is None
    clone(loaded)
    np.testing.assert_array_equal(loaded.transform(unit_data()), fitted.transform(unit_data()))


def test_incompatible_state_format_fails(fitted, monkeypatch):
    data = _pickled_with(monkeypatch, fitted, _skvsc_version="9.0", _skvsc_state_format=99)
    with pytest.raises(ValueError, match="state format 99.*reads state formats 1 to 4"):
        pickle.loads(data)


def test_current_version_loads_silently(fitted, recwarn):
    pickle.loads(pickle.dumps(fitted))
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


# -- safe format ----------------------------------------------------------------------------


@pytest.fixture(params=["safetensors", "torch"])
def backend(request, monkeypatch):
    if request.param == "safetensors":
        pytest.importorskip("safetensors")
    else:  # as if safetensors were not installed
        monkeypatch.setitem(sys.modules, "safetensors", None)
        monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    return request.param


def test_safe_roundtrip(fitted, backend, tmp_path):
    path = tmp_path / "model.skvsc"
    skvsc.save(fitted, path)
    magic = path.read_bytes()[:4]
    assert (magic == b"PK\x03\x04") == (backend == "torch")
    loaded = skvsc.load(path)
    assert_same_model(fitted, loaded, unit_data())


def test_safe_roundtrip_unusual_params_and_attributes(backend, tmp_path):
    X = pd.DataFrame(unit_data(), columns=[f"c{i}" for i in range(5)])
    est = VariationalSparseCoder(
        n_components=2,
        hidden_layer_sizes=[8, 4],  # a list stays a list
        sharpness=(10, 20.5),
        device=torch.device("cpu"),
        random_state=np.random.RandomState(3),
        early_stopping=True,
        max_iter=3,
        batch_size=8,
        n_threads=1,
    ).set_output(transform="pandas")
    est.fit(X)
    path = tmp_path / "model.skvsc"
    skvsc.save(est, path)
    loaded = skvsc.load(path)
    assert loaded.hidden_layer_sizes == [8, 4]
    assert loaded.sharpness == (10, 20.5)
    assert loaded.device == torch.device("cpu")
    assert isinstance(loaded.random_state, np.random.RandomState)
    np.testing.assert_array_equal(
        loaded.random_state.get_state()[1], est.random_state.get_state()[1]
    )
    assert list(loaded.feature_names_in_) == list(X.columns)
    assert loaded.validation_scores_ == est.validation_scores_
    pd.testing.assert_frame_equal(loaded.transform(X), est.transform(X))


def test_safe_roundtrip_unfitted(backend, tmp_path):
    for est in ESTIMATORS.values():
        skvsc.save(est, tmp_path / "m")
        loaded = skvsc.load(tmp_path / "m")
        assert repr(loaded.get_params()) == repr(est.get_params())
        assert not hasattr(loaded, "module_")


def test_save_refuses_what_it_cannot_store(fitted, tmp_path):
    with pytest.raises(TypeError, match="use joblib.dump for pipelines"):
        skvsc.save(make_pipeline(fitted), tmp_path / "m")
    fitted.extra_ = object()
    with pytest.raises(TypeError, match="Cannot save extra_ of type object"):
        skvsc.save(fitted, tmp_path / "m")
    assert not list(tmp_path.iterdir())  # no partial file left


def test_save_is_atomic(fitted, tmp_path, monkeypatch):
    path = tmp_path / "model.skvsc"
    skvsc.save(fitted, path)
    content = path.read_bytes()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", fail)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(KeyboardInterrupt):
        skvsc.save(fitted, path)
    assert path.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["model.skvsc"]


def test_safe_cuda_file_loads_on_cpu(fitted, backend, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    path = tmp_path / "m"
    skvsc.save(fitted, path)
    rewrite(path, lambda meta: meta["fitted"].update(device_="cuda"))
    with pytest.warns(UserWarning, match="CUDA is not available"):
        loaded = skvsc.load(path)
    assert loaded.device_ == "cpu"
    # The device parameter may name a GPU this machine lacks, as with pickle.
    rewrite(path, lambda meta: meta["params"].update(device="cuda:1"))
    with pytest.warns(UserWarning, match="CUDA is not available"):
        loaded = skvsc.load(path)
    assert loaded.device == "cuda:1" and loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.transform(unit_data()), fitted.transform(unit_data()))


# -- tampered files fail safely ------------------------------------------------------------


def rewrite(path, edit_meta=None, edit_tensors=None):
    """Re-write a safe file the way an attacker who knows the format would:
    edited content with a valid checksum."""
    text, _, tensors = _io._read(path)
    meta = json.loads(text)
    if edit_meta:
        edit_meta(meta)
    if edit_tensors:
        edit_tensors(tensors)
    text = json.dumps(meta)
    digest = _io._digest(text, tensors)
    torch.save({"skvsc": text, "sha256": digest, "tensors": tensors}, path)


def _class(meta):
    meta["class"] = "Popen"


def _param(meta):
    meta["params"]["n_components"] = "rm -rf /"


def _device(meta):
    meta["params"]["device"] = "no such device"


def _unknown_param(meta):
    meta["params"]["evil"] = 1


def _tag(meta):
    meta["fitted"]["n_iter_"] = {"pickle": "gASV..."}


def _attribute(meta):
    meta["fitted"]["__class__"] = 1


def _future(meta):
    meta["format_version"] = 2


def _config(meta):
    config = meta["fitted"]["run"]["dict"]["model_config"]["dict"]
    config["n_features"] = 10**9  # would allocate gigabytes


def _layers(meta):
    config = meta["fitted"]["run"]["dict"]["model_config"]["dict"]
    network = config["network_params"]["dict"]
    network["hidden_layer_sizes"] = {"tuple": [9]}


def _drop_tensor(tensors):
    tensors.pop(sorted(k for k in tensors if k.startswith("run.module_state."))[0])


def _drop_weight(meta):
    module = meta["fitted"]["run"]["dict"]["module_state"]["dict"]
    del module[sorted(module)[0]]


def _swap_moments(tensors):
    # Two parameters' Adam moments swapped: the first and the first one of another
    # shape (the tied gate's two per-unit parameters, first, share theirs).
    keys = [k for k in tensors if k.startswith("run.optimizer_state.") and k.endswith(".exp_avg")]
    a = "run.optimizer_state.state.0.exp_avg"
    b = next(k for k in keys if tensors[k].shape != tensors[a].shape)
    tensors[a], tensors[b] = tensors[b], tensors[a]


def _reshape_tensor(tensors):
    key = sorted(k for k in tensors if k.endswith("weight"))[0]
    tensors[key] = tensors[key].reshape(-1)


TAMPERED = {
    "unknown class": (_class, None, "unknown estimator class 'Popen'"),
    "invalid parameter value": (_param, None, "n_components must be 'auto' or an int"),
    "invalid device": (_device, None, "device"),
    "unknown parameter": (_unknown_param, None, "unexpected keyword argument 'evil'"),
    "unknown value type": (_tag, None, "unknown value type 'pickle'"),
    "dunder attribute": (_attribute, None, "invalid attribute name '__class__'"),
    "future format": (_future, None, "file format version 2 is not readable"),
    "oversized model": (_config, None, "does not match the stored weights"),
    "wrong architecture": (_layers, None, "not torch.float32 of shape"),
    "missing tensor": (None, _drop_tensor, "missing tensor 'run.module_state."),
    "missing weight": (_drop_weight, _drop_tensor, "the weights stored are"),
    "wrong tensor shape": (None, _reshape_tensor, "not torch.float32 of shape"),
    "optimizer state of other shapes": (None, _swap_moments, "optimizer state of parameter"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_tampered_file_fails_safely(fitted, tmp_path, case):
    edit_meta, edit_tensors, match = TAMPERED[case]
    path = tmp_path / "m"
    skvsc.save(fitted, path)
    rewrite(path, edit_meta, edit_tensors)
    with pytest.raises(ValueError, match=match) as info:
        skvsc.load(path)
    assert "is not a valid skvsc model file" in str(info.value)


def test_edited_weight_fails_checksum(fitted, backend, tmp_path):
    path = tmp_path / "m"
    skvsc.save(fitted, path)
    if backend == "safetensors":  # flip one bit of the last tensor's data
        data = bytearray(path.read_bytes())
        data[-2] ^= 0x01
        path.write_bytes(bytes(data))
    else:  # change one weight, keep the old checksum
        content = torch.load(path, weights_only=True)
        content["tensors"]["run.module_state.decoder.out.bias"][0] += 1e-3
        torch.save(content, path)
    with pytest.raises(ValueError, match="checksum does not match"):
        skvsc.load(path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.reshape(t.shape[1], t.shape[0]),  # same bytes, transposed shape
        lambda t: t.view(torch.int32),  # same bytes, other dtype
    ],
    ids=["shape", "dtype"],
)
def test_the_checksum_covers_tensor_shapes_and_dtypes(fitted, tmp_path, edit):
    # The bytes of every tensor are kept; only how they are read changes, and
    # the old checksum is kept: the checksum itself must refuse the file.
    path = tmp_path / "m"
    skvsc.save(fitted, path)
    text, digest, tensors = _io._read(path)
    (name,) = [k for k in tensors if k.endswith("module_state.decoder.out.weight")]
    assert tensors[name].shape[0] != tensors[name].shape[1]
    tensors[name] = edit(tensors[name])
    torch.save({"skvsc": text, "sha256": digest, "tensors": tensors}, path)
    with pytest.raises(ValueError, match="checksum does not match"):
        skvsc.load(path)


def test_the_checksum_covers_tensor_names(fitted, tmp_path):
    # Bytes moved from one tensor to its neighbour in name order: the bytes
    # hashed in order are the same, the tensors are not.
    path = tmp_path / "m"
    skvsc.save(fitted, path)
    text, digest, tensors = _io._read(path)
    a, b = (
        next(k for k in tensors if k.endswith(f"module_state.decoder.out.{p}"))
        for p in ("bias", "weight")
    )
    assert sorted(tensors).index(b) == sorted(tensors).index(a) + 1
    joined = torch.cat([tensors[a], tensors[b].reshape(-1)])
    tensors[a], tensors[b] = joined[:1], joined[1:].reshape(-1)
    torch.save({"skvsc": text, "sha256": digest, "tensors": tensors}, path)
    with pytest.raises(ValueError, match="checksum does not match"):
        skvsc.load(path)


class _Payload:
    """Pickling this object makes unpickling call ``_mark`` (a harmless stand-in)."""

    def __reduce__(self):
        return (_mark, ("pwned",))


_MARKS = []


def _mark(value):
    _MARKS.append(value)
    return value


def test_malicious_pickle_is_not_run(fitted, tmp_path):
    path = tmp_path / "m"
    skvsc.save(fitted, path)
    text, digest, tensors = _io._read(path)
    torch.save({"skvsc": text, "sha256": digest, "tensors": tensors, "x": _Payload()}, path)
    with pytest.raises(ValueError, match="not a valid skvsc model file"):
        skvsc.load(path)
    assert _MARKS == []
    # A joblib (pickle) file is refused the same way.
    joblib.dump(_Payload(), path)
    with pytest.raises(ValueError, match="not a valid skvsc model file"):
        skvsc.load(path)
    assert _MARKS == []


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"PK\x03\x04broken zip"])
def test_garbage_file_fails_safely(tmp_path, content):
    path = tmp_path / "m"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a valid skvsc model file"):
        skvsc.load(path)


def test_truncated_file_fails_safely(fitted, backend, tmp_path):
    path = tmp_path / "m"
    skvsc.save(fitted, path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="not a valid skvsc model file"):
        skvsc.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        skvsc.load(tmp_path / "nope")


def test_safe_file_from_other_version(fitted, tmp_path):
    path = tmp_path / "m"
    skvsc.save(fitted, path)
    rewrite(path, lambda meta: meta.update(_skvsc_version="0.0.1"))
    with pytest.warns(InconsistentVersionWarning, match="saved by skvsc 0.0.1"):
        skvsc.load(path)
    rewrite(path, lambda meta: meta.update(_skvsc_state_format=7))
    with pytest.raises(ValueError, match="state format 7"):
        skvsc.load(path)


def test_safetensors_file_without_safetensors(fitted, tmp_path, monkeypatch):
    pytest.importorskip("safetensors")
    path = tmp_path / "m"
    skvsc.save(fitted, path)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(ImportError, match="pip install safetensors"):
        skvsc.load(path)


# -- the state schema ------------------------------------------------------------------


FIT_VARIANTS = {
    "fit": dict(),
    "early stopping": dict(early_stopping=True, max_iter=3),
    "gaussian": dict(likelihood="gaussian"),
    "poisson": dict(likelihood="poisson"),
}


@pytest.mark.parametrize("variant", list(FIT_VARIANTS))
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_the_schema_holds_every_fitted_attribute(name, variant):
    est = clone(ESTIMATORS[name]).set_params(**FIT_VARIANTS[variant])
    X = pd.DataFrame(unit_data() * 3, columns=list("abcde"))
    est.fit(X).partial_fit(X)
    state = est.__getstate__()
    assert set(state) == {"_skvsc_version", "_skvsc_state_format", "params", "fitted", "other"}
    assert state["_skvsc_state_format"] == _state.STATE_FORMAT == 4
    assert state["params"] == est.get_params(deep=False)
    assert state["other"] == {}  # nothing fit sets escapes the schema
    assert set(state["fitted"]) <= set(_state.FITTED)
    run = state["fitted"]["run"]
    assert set(run) == {"model_config", "schedule", "module_state", "optimizer_state"} | {
        "rng_state",
        "step",
    }
    # Plain data: the module and optimizer as state dicts of NumPy arrays, the rest as dicts.
    assert all(isinstance(v, np.ndarray) for v in run["module_state"].values())
    assert isinstance(run["schedule"], dict) and isinstance(run["model_config"], dict)


def test_other_attributes_are_kept(fitted):
    fitted.set_output(transform="pandas")
    fitted.note_ = "kept"
    loaded = pickle.loads(pickle.dumps(fitted))
    assert loaded.note_ == "kept"
    assert isinstance(loaded.transform(unit_data()), pd.DataFrame)


def test_safe_file_with_an_unknown_fitted_key_fails(fitted, tmp_path):
    path = tmp_path / "m"
    skvsc.save(fitted, path)
    rewrite(path, lambda meta: meta["fitted"].update(surprise_=1))
    with pytest.raises(ValueError, match="unknown fitted attributes"):
        skvsc.load(path)


def test_load_of_a_joblib_file_names_joblib_load(tmp_path):
    est = VariationalSparseCoder(n_components=2, max_iter=1, random_state=0).fit(unit_data())
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    with pytest.raises(ValueError, match=r"joblib\.load"):
        skvsc.load(path)
