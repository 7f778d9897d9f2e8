"""The fast paths of the core (issue: speed): no copies of X, host-batched
sources, fused Adam, autocast and compile switches, threads. No timings here:
benchmarks/speed.py measures speed."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from skvsc import VariationalSparseCoder
from skvsc._data import HostSource, make_source, map_batches, to_tensor
from skvsc._models import SpikeSlabVAE, Step
from skvsc._nn import mixed_precision
from skvsc._schedule import Schedule
from skvsc._train import fit_model, make_optimizer

RNG = np.random.default_rng(0)
X32 = RNG.random((60, 12), dtype=np.float32)


def _train(source, n_epochs=2, **kwargs):
    """Train a tiny VSC on ``source`` from a fixed seed; return (history, weights)."""
    model = SpikeSlabVAE(12, 3, (8,), "bernoulli", torch.Generator().manual_seed(0), alpha=0.3)
    optimizer = make_optimizer(model.parameters(), 1e-2)
    history, _ = fit_model(
        model,
        optimizer,
        source,
        n_epochs=n_epochs,
        batch_size=16,
        schedule=Schedule(total_steps=8, kl_warmup=0.5, usage_weight=1.0),
        generator=torch.Generator().manual_seed(1),
        **kwargs,
    )
    return history, [p.detach().clone() for p in model.parameters()]


def test_float32_training_data_is_not_copied():
    source = make_source(X32, "cpu")
    assert source.X.data_ptr() == X32.ctypes.data


def _read_only(X):
    X = X.copy()
    X.flags.writeable = False
    return X


@pytest.mark.parametrize(
    "X",
    [X32.astype(np.float64), np.asfortranarray(X32), _read_only(X32)],
    ids=["float64", "fortran", "read-only"],
)
def test_other_layouts_are_copied_once_without_warnings(X):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        source = make_source(X, "cpu")
    assert source.X.dtype == torch.float32 and source.X.is_contiguous()
    np.testing.assert_array_equal(source.X.numpy(), X32)


def test_transform_input_is_wrapped_and_left_unchanged():
    X = X32.copy()
    assert to_tensor(X, torch.device("cpu"), torch.float32).data_ptr() == X.ctypes.data
    out = map_batches(
        lambda x: x * 2, X, batch_size=7, device=torch.device("cpu"), dtype=torch.float32
    )
    np.testing.assert_array_equal(X, X32)
    np.testing.assert_array_equal(out, 2 * X32)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_host_batched_source_trains_like_the_resident_one(sparse):
    X = sp.csr_matrix(np.where(X32 > 0.5, X32, 0)) if sparse else X32
    host = make_source(X, "cpu", resident=False)
    assert isinstance(host, HostSource)
    resident_history, resident_weights = _train(make_source(X, "cpu"))
    host_history, host_weights = _train(host)
    assert [h["loss"] for h in host_history] == [h["loss"] for h in resident_history]
    for a, b in zip(host_weights, resident_weights):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_validation_from_a_host_source_matches():
    scores = []
    for resident in (True, False):
        history, _ = _train(
            make_source(X32[:40], "cpu", resident=resident),
            validation=make_source(X32[40:], "cpu", resident=resident),
            score_noises=[(torch.zeros(1, 3), torch.full((1, 3), 0.5))],
        )
        scores.append([h["validation_score"] for h in history])
    assert scores[0] == scores[1]


def test_adam_is_fused_on_the_cpu():
    est = VariationalSparseCoder(n_components=3, hidden_layer_sizes=(8,), max_iter=1)
    est.set_params(device="cpu", random_state=0).fit(X32)
    assert est._optimizer.param_groups[0]["fused"] is True


def test_bf16_autocast_trains():
    history, weights = _train(make_source(X32, "cpu"), amp_dtype=torch.bfloat16)
    assert all(np.isfinite(h["loss"]) for h in history)
    assert all(w.dtype == torch.float32 for w in weights)
    assert history[-1]["loss"] != _train(make_source(X32, "cpu"))[0][-1]["loss"]


def test_bf16_networks_leave_the_elbo_in_float32():
    # gamma = sigmoid(20) is 1 in bfloat16, where the clamped logs of the KL would give NaN.
    model = SpikeSlabVAE(12, 3, (8,), "bernoulli", torch.Generator().manual_seed(0), alpha=0.3)
    with torch.no_grad():
        model.encoder.heads.bias[6:] = 20.0
    with mixed_precision(model, torch.bfloat16):
        mu, _, gamma = model.encode(torch.from_numpy(X32))
        loss, _ = model.objective(torch.from_numpy(X32), Step(), torch.Generator())
    assert mu.dtype == gamma.dtype == torch.float32
    assert torch.isfinite(loss)
    assert model.encoder.amp_dtype is None  # reset after the block


def test_only_bf16_autocast_is_accepted():
    with pytest.raises(ValueError, match="amp_dtype"):
        _train(make_source(X32, "cpu"), amp_dtype=torch.float16)


@pytest.mark.slow
def test_compiled_objective_trains_like_the_eager_one():
    history, _ = _train(make_source(X32, "cpu"), compile_objective=True)
    eager, _ = _train(make_source(X32, "cpu"))
    np.testing.assert_allclose([h["loss"] for h in history], [h["loss"] for h in eager], rtol=1e-4)


def test_thread_setting_is_left_alone_unless_asked(monkeypatch):
    import skvsc._base

    before = torch.get_num_threads()
    seen = []

    def recording_fit_model(*args, _fit_model=skvsc._base.fit_model, **kwargs):
        seen.append(torch.get_num_threads())
        return _fit_model(*args, **kwargs)

    monkeypatch.setattr(skvsc._base, "fit_model", recording_fit_model)
    est = VariationalSparseCoder(n_components=3, hidden_layer_sizes=(8,), max_iter=1)
    est.set_params(device="cpu", random_state=0).fit(X32)
    est.set_params(n_threads=before + 1).fit(X32)
    assert seen == [before, before + 1]
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


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_inference_heads_match_the_full_encoder(likelihood):
    # transform, encode_mean and activity_proba skip the heads they do not need.
    from skvsc._models import GaussianVAE

    g = torch.Generator().manual_seed(0)
    x = torch.rand(50, 12, generator=g, dtype=torch.float64)
    vsc = SpikeSlabVAE(12, 7, (9,), likelihood, g, alpha=0.1).double()
    mu, _, gamma = vsc.encode(x)
    torch.testing.assert_close(vsc.posterior_mean(x), mu)
    torch.testing.assert_close(vsc.activity(x), gamma)
    torch.testing.assert_close(vsc.code(x), torch.where(gamma > 0.5, mu, torch.zeros_like(mu)))
    vae = GaussianVAE(12, 7, (), likelihood, g).double()
    torch.testing.assert_close(vae.code(x), vae.encode(x)[0])
