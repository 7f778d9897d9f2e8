"""Sweeps on a dask.distributed cluster through joblib's dask backend.

One LocalCluster (2 process workers on 127.0.0.1, 1 thread each) is shared by
the module and always closed, even when a test fails. Its Nannies start each
worker with OMP_NUM_THREADS=MKL_NUM_THREADS=1 (dask's default
``distributed.nanny.pre-spawn-environ``), so torch in a worker runs one
intra-op thread.
"""

import os
import pickle
import sys

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

import skvsc
from skvsc import VariationalSparseCoder

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

#: The exact cluster of the tests (also documented in docs/scaling.md).
CLUSTER = dict(
    n_workers=2,
    threads_per_worker=1,
    processes=True,
    host="127.0.0.1",
    dashboard_address=None,
)

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X_DIGITS, Y_DIGITS = X_DIGITS[:600] / 16.0, Y_DIGITS[:600]
TINY = dict(n_components=8, hidden_layer_sizes=(8,), max_iter=2, batch_size=64, random_state=0)
GRID = {"vsc__alpha": [0.1, 0.5], "vsc__n_components": [4, 8]}


@pytest.fixture(scope="module")
def client():
    # Functions of this module are shipped by value: workers cannot import it.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # The Nannies write their pre-spawn variables (OMP_NUM_THREADS, ...) into
    # this process's environment; put it back for the tests that follow.
    environ = dict(os.environ)
    # Variables already set would override dask's default of 1 thread.
    for name in THREAD_VARIABLES:
        os.environ.pop(name, None)
    try:
        with (
            distributed.LocalCluster(**CLUSTER) as cluster,
            distributed.Client(cluster) as dask_client,
        ):
            yield dask_client
    finally:
        os.environ.clear()
        os.environ.update(environ)
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(autouse=True)
def one_thread():
    """Run this process's fits (references, refits) with the workers' thread
    counts: torch's float sums, hence the scores, depend on them."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):  # numpy / scipy BLAS, as in the workers
        yield
    torch.set_num_threads(previous)


# Scorers that report where and how a candidate was fitted and scored.
def _threads(estimator, X, y=None):
    return float(torch.get_num_threads())


def _on_worker(estimator, X, y=None):
    try:
        distributed.get_worker()
    except ValueError:
        return 0.0
    return 1.0


def _search(n_jobs):
    pipe = Pipeline(
        [
            ("vsc", VariationalSparseCoder(**TINY)),
            ("clf", LogisticRegression(max_iter=200)),
        ]
    )
    scoring = {"accuracy": "accuracy", "threads": _threads, "on_worker": _on_worker}
    return GridSearchCV(pipe, GRID, cv=2, n_jobs=n_jobs, scoring=scoring, refit="accuracy")


def test_grid_search_on_dask_matches_serial(client):
    # The workers run this checkout with one torch thread each.
    assert set(client.run(lambda: skvsc.__file__).values()) == {skvsc.__file__}
    threads = client.run(torch.get_num_threads)
    assert len(threads) == CLUSTER["n_workers"]
    assert set(threads.values()) == {1}

    with joblib.parallel_config(backend="dask"):
        on_dask = _search(n_jobs=-1).fit(X_DIGITS, Y_DIGITS)
    serial = _search(n_jobs=1).fit(X_DIGITS, Y_DIGITS)

    results = on_dask.cv_results_
    np.testing.assert_array_equal(results["mean_test_on_worker"], 1.0)
    np.testing.assert_array_equal(results["mean_test_threads"], 1.0)
    np.testing.assert_array_equal(serial.cv_results_["mean_test_on_worker"], 0.0)
    assert on_dask.best_params_ == serial.best_params_
    for key in ("mean_test_accuracy", "split0_test_accuracy", "split1_test_accuracy"):
        np.testing.assert_array_equal(results[key], serial.cv_results_[key])
    assert results["params"] == serial.cv_results_["params"]
    # Not a degenerate sweep: the candidates score differently.
    assert np.unique(results["mean_test_accuracy"]).size > 1


def _fit_on_worker(payload, X):
    estimator = pickle.loads(payload)
    estimator.fit(X)
    return estimator.device_, torch.cuda.is_available(), estimator


def test_device_auto_resolves_on_the_worker(client, monkeypatch):
    # Even where the client believes CUDA exists, nothing is resolved before fit.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    estimator = VariationalSparseCoder(device="auto", **TINY)
    payload = pickle.dumps(estimator)
    monkeypatch.undo()

    device, worker_has_cuda, fitted = client.submit(_fit_on_worker, payload, X_DIGITS).result()
    assert device == ("cuda" if worker_has_cuda else "cpu")
    assert device == "cpu"  # no GPU on the test machine
    assert fitted.get_params()["device"] == "auto"
    assert fitted.device_ == "cpu"

    # The fitted model came back whole: it encodes as a local fit does.
    local = clone(estimator).fit(X_DIGITS)
    np.testing.assert_array_equal(fitted.transform(X_DIGITS), local.transform(X_DIGITS))
