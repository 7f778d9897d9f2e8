"""Deployment clients that nobody here wrote: skops and mlflow take a fitted
estimator, alone and in a pipeline, and give back one with identical outputs."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skvsc import VAETransformer, VariationalSparseCoder

FAST = dict(
    hidden_layer_sizes=(8,), max_iter=2, batch_size=16, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = {
    "vsc": VariationalSparseCoder(n_components=3, alpha=0.3, **FAST),
    "vae": VAETransformer(n_components=3, **FAST),
}
OWN_TYPES = {
    "vsc": "skvsc._vsc.VariationalSparseCoder",
    "vae": "skvsc._vae.VAETransformer",
}


def data(n=40, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.integers(0, 2, n)


@pytest.fixture(params=list(ESTIMATORS))
def name(request):
    return request.param


def _torch_objects(obj, path="state"):
    """Paths of the torch objects (tensors, dtypes, devices, ...) in a nested state."""
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _torch_objects(v, f"{path}[{k!r}]")]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in _torch_objects(v, f"{path}[{i}]")]
    return [path] if type(obj).__module__.split(".")[0] == "torch" else []


def test_pickled_state_holds_no_torch_object(name):
    X, _ = data()
    est = clone(ESTIMATORS[name]).fit(X)
    state = est.__getstate__()
    assert _torch_objects(state) == []
    assert state["fitted"]["run"]["rng_state"].dtype == np.uint8
    # The unpickled model is the same model, and trains on identically.
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    est.partial_fit(X)
    loaded.partial_fit(X)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_skops_round_trip(name):
    sio = pytest.importorskip("skops.io", reason="skops is not installed (pip install skops)")
    X, y = data()
    est = clone(ESTIMATORS[name]).fit(X)
    pipe = make_pipeline(clone(ESTIMATORS[name]), LogisticRegression()).fit(X, y)
    for obj, method in ((est, "transform"), (pipe, "predict_proba")):
        blob = sio.dumps(obj)
        untrusted = sio.get_untrusted_types(data=blob)
        assert untrusted == [OWN_TYPES[name]]
        with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
            sio.loads(blob)
        loaded = sio.loads(blob, trusted=untrusted)
        np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(obj, method)(X))
    assert sio.loads(sio.dumps(est), trusted=untrusted).n_iter_ == est.n_iter_


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_skops_gpu_model_loads_on_cpu(name, monkeypatch):
    sio = pytest.importorskip("skops.io", reason="skops is not installed (pip install skops)")
    X, _ = data()
    est = clone(ESTIMATORS[name]).fit(X)
    cls = type(est)
    original = cls.__getstate__

    def as_if_trained_on_a_gpu(self):  # a CUDA generator's state is 16 bytes
        state = original(self)
        state["fitted"]["device_"] = "cuda:0"
        state["fitted"]["run"]["rng_state"] = np.zeros(16, dtype=np.uint8)
        return state

    monkeypatch.setattr(cls, "__getstate__", as_if_trained_on_a_gpu)
    blob = sio.dumps(est)
    monkeypatch.setattr(cls, "__getstate__", original)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        loaded = sio.loads(blob, trusted=[OWN_TYPES[name]])
    assert loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_mlflow_default_log_model(name, tmp_path, monkeypatch):
    pytest.importorskip("skops.io", reason="skops is not installed (pip install skops)")
    pytest.importorskip("mlflow", reason="mlflow is not installed (pip install mlflow)")
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn

    # A local file store in tmp_path (mlflow 3 asks for this opt-in), nothing global.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    X, y = data()
    pipe = make_pipeline(clone(ESTIMATORS[name]), LogisticRegression()).fit(X, y)
    with mlflow.start_run():
        # The default serialization format (skops); pip_requirements skips mlflow's
        # inference of requirements, which reloads the model in a subprocess.
        info = mlflow.sklearn.log_model(
            pipe, name="model", skops_trusted_types=[OWN_TYPES[name]], pip_requirements=["skvsc"]
        )
    loaded = mlflow.sklearn.load_model(info.model_uri)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(np.asarray(pyfunc.predict(X)), pipe.predict(X))
