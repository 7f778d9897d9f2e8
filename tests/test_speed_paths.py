"""The fast paths through the estimators: fused Adam, threads.
The core's paths (no copies of X, host-batched sources, inference heads) are
tested in tests/core/. No timings here: the scripts in benchmarks/ measure speed."""

import numpy as np
import pytest
import torch

from skvsc import VariationalSparseCoder
from skvsc._core.optim import _fused_kernel_exists
from tests.core.helpers import needs_fused_adam_on_cpu

RNG = np.random.default_rng(0)
X32 = RNG.random((60, 12), dtype=np.float32)


@needs_fused_adam_on_cpu
def test_adam_is_fused_on_the_cpu():
    est = VariationalSparseCoder(n_components=3, hidden_layer_sizes=(8,), max_iter=1)
    est.set_params(device="cpu", random_state=0).fit(X32)
    assert est._run.optimizer.param_groups[0]["fused"] is True


def test_a_fit_survives_a_broken_fused_adam_op(monkeypatch):
    # A torch release that changes the private op costs speed, not the fit.
    def broken(*args, **kwargs):
        raise TypeError("_fused_adam_() got an unexpected keyword argument")

    monkeypatch.setattr(torch, "_fused_adam_", broken)
    _fused_kernel_exists.cache_clear()
    try:
        est = VariationalSparseCoder(n_components=3, hidden_layer_sizes=(8,), max_iter=2)
        est.set_params(device="cpu", random_state=0).fit(X32)
    finally:
        _fused_kernel_exists.cache_clear()
    assert est._run.optimizer.param_groups[0]["fused"] is False
    assert np.isfinite(est.transform(X32)).all()


def test_thread_setting_is_automatic_unless_asked(monkeypatch):
    # n_threads=None uses the count auto_threads picks (tests/test_threads.py);
    # an int overrides it; torch's setting is restored after fit either way.
    import skvsc._core.run
    import skvsc._device

    before = torch.get_num_threads()
    seen = []
    monkeypatch.setattr(skvsc._device, "auto_threads", lambda work=None, **_: 1)

    def recording_fit_model(*args, _fit_model=skvsc._core.run.fit_model, **kwargs):
        seen.append(torch.get_num_threads())
        return _fit_model(*args, **kwargs)

    monkeypatch.setattr(skvsc._core.run, "fit_model", recording_fit_model)
    est = VariationalSparseCoder(n_components=3, hidden_layer_sizes=(8,), max_iter=1)
    est.set_params(device="cpu", random_state=0).fit(X32)
    est.set_params(n_threads=before + 1).fit(X32)
    assert seen == [1, before + 1]
    assert torch.get_num_threads() == before


@pytest.mark.slow
def test_grid_search_workers_use_one_thread_each():
    from sklearn.model_selection import GridSearchCV

    def threads(estimator, X, y=None):
        return float(torch.get_num_threads())

    est = VariationalSparseCoder(n_components=3, hidden_layer_sizes=(8,), max_iter=1)
    search = GridSearchCV(
        est.set_params(device="cpu"), {"alpha": [0.2, 0.4]}, cv=2, n_jobs=2, scoring=threads
    ).fit(X32)
    assert set(search.cv_results_["mean_test_score"]) == {1.0}


def test_the_device_is_found_from_the_model():
    est = VariationalSparseCoder(n_components=3, hidden_layer_sizes=(8,), max_iter=1)
    est.set_params(device="cpu", random_state=0).fit(X32)
    assert est.module_.device == torch.device("cpu") == torch.device(est.device_)
