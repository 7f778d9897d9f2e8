"""Injected numerical faults and interrupts, gradient clipping and extreme settings."""

import signal

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._core.vae import VAE

from .core.helpers import assert_same_weights, weights

FAST = dict(
    hidden_layer_sizes=(8,), max_iter=3, batch_size=10, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = {
    "vsc": VariationalSparseCoder(n_components=3, alpha=0.3, **FAST),
    "vae": VAETransformer(n_components=3, **FAST),
}
N_SAMPLES = 40  # 4 steps per epoch


def unit_data(n=N_SAMPLES, d=5, seed=0):
    return np.random.default_rng(seed).random((n, d))


def assert_usable(est, X):
    """A consistent fitted model: finite weights, codes, scores and reconstructions."""
    for p in est.module_.parameters():
        assert torch.isfinite(p).all()
    Z = est.transform(X)
    assert np.isfinite(Z).all()
    assert np.isfinite(est.score_samples(X)).all()
    assert np.isfinite(est.inverse_transform(Z)).all()
    assert len(est.loss_curve_) == len(est.history_) == est.n_iter_
    assert all(np.isfinite(est.loss_curve_))


class NaNGrad(torch.autograd.Function):
    """Identity forward, NaN backward: a finite loss with a non-finite gradient."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


FAULTS = {
    "nan loss": lambda loss: loss * float("nan"),
    "+inf loss": lambda loss: loss + float("inf"),
    "-inf loss": lambda loss: loss - float("inf"),
    "nan gradient": NaNGrad.apply,
}


def inject(monkeypatch, name, at_call, effect):
    """Patch the model's objective: call ``at_call`` (1-based) gets ``effect``.

    Returns a dict that receives the weights seen at that call (those after the
    previous step) under ``"before"``.
    """
    original = VAE.objective
    seen = {"calls": 0}

    def objective(self, x, values, generator, unit_counts=None):
        seen["calls"] += 1
        loss, stats = original(self, x, values, generator, unit_counts)
        if seen["calls"] == at_call:
            seen["before"] = weights(self)
            return effect(self, loss), stats
        return loss, stats

    monkeypatch.setattr(VAE, "objective", objective)
    return seen


# -- non-finite loss or gradient -------------------------------------------------------


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_non_finite_loss_keeps_last_good_weights(name, fault, monkeypatch):
    X = unit_data()
    at_call = 7  # second epoch, third step
    seen = inject(monkeypatch, name, at_call, lambda m, loss: FAULTS[fault](loss))
    est = clone(ESTIMATORS[name])
    with pytest.raises(FloatingPointError, match="non-finite training loss or gradient") as info:
        est.fit(X)
    message = str(info.value)
    for remedy in ("learning_rate_init", "max_grad_norm", "scaling", "likelihood"):
        assert remedy in message
    # Detected at once, before the update: the weights are those of the last good step.
    assert seen["calls"] == at_call
    assert_same_weights(weights(est.module_), seen["before"])
    assert est._run.step == at_call - 1 and est.n_iter_ == 1
    assert_usable(est, X)
    # Once the fault is gone, training resumes from there.
    monkeypatch.undo()
    est.set_params(warm_start=True, max_iter=1).fit(X)
    assert est.n_iter_ == 2 and est._run.step == at_call - 1 + 4
    assert_usable(est, X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_non_finite_loss_in_partial_fit(name, monkeypatch):
    X = unit_data()
    est = clone(ESTIMATORS[name]).partial_fit(X)
    good = weights(est.module_)
    inject(monkeypatch, name, 1, lambda m, loss: loss * float("nan"))
    with pytest.raises(FloatingPointError, match="learning_rate_init"):
        est.partial_fit(X)
    assert_same_weights(weights(est.module_), good)
    assert est.n_iter_ == 1
    assert_usable(est, X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_max_grad_norm_parameter(name):
    X = unit_data()
    est = clone(ESTIMATORS[name]).set_params(max_grad_norm=1e-3).fit(X)
    assert_usable(est, X)
    reference = clone(ESTIMATORS[name]).fit(X)
    assert not np.allclose(est.transform(X), reference.transform(X))  # clipping acted
    with pytest.raises(ValueError, match="max_grad_norm"):
        clone(est).set_params(max_grad_norm=0.0).fit(X)
    with pytest.raises(TypeError, match="max_grad_norm"):
        clone(est).set_params(max_grad_norm="1").fit(X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("learning_rate_init", [1.0, 100.0])
def test_huge_learning_rate_is_finite_or_clear(name, learning_rate_init):
    X = unit_data() * 20 - 10  # Gaussian likelihood
    est = clone(ESTIMATORS[name]).set_params(learning_rate_init=learning_rate_init)
    try:
        est.fit(X)
    except FloatingPointError as exc:
        assert "learning_rate_init" in str(exc)
    assert_usable(est, X)


# -- interrupts ------------------------------------------------------------------------


def _raise_interrupt(module, loss):
    raise KeyboardInterrupt


@pytest.fixture
def default_sigint():
    """Python's own Ctrl-C handler, whatever the test runner inherited: a job
    started in the background by a non-interactive shell ignores SIGINT."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_an_ignored_sigint_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        clone(ESTIMATORS["vsc"]).fit(unit_data())
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_keyboard_interrupt_stops_cleanly(name, monkeypatch, default_sigint):
    X = unit_data()
    at_call = 6
    seen = inject(monkeypatch, name, at_call, _raise_interrupt)
    est = clone(ESTIMATORS[name])
    with pytest.warns(UserWarning, match="Training interrupted by user after 1 complete epochs"):
        assert est.fit(X) is est
    # The step in progress was not applied: the model holds the last whole step.
    assert_same_weights(weights(est.module_), seen["before"])
    assert est._run.step == at_call - 1 and est.n_iter_ == 1
    assert_usable(est, X)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.undo()
    est.set_params(warm_start=True, max_iter=1).fit(X)
    assert est.n_iter_ == 2
    assert_usable(est, X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_ctrl_c_finishes_the_current_step(name, monkeypatch, default_sigint):
    """A real SIGINT in the middle of a step: the step completes, then fit stops."""
    X = unit_data()
    at_call = 3

    def ctrl_c(module, loss):
        signal.raise_signal(signal.SIGINT)  # delivered at once to the handler
        return loss

    inject(monkeypatch, name, at_call, ctrl_c)
    est = clone(ESTIMATORS[name])
    with pytest.warns(UserWarning, match="Training interrupted by user after 0 complete"):
        est.fit(X)
    assert est._run.step == at_call and est.n_iter_ == 0
    assert_usable(est, X)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_interrupt_with_early_stopping_keeps_best_epoch(name, monkeypatch):
    X = unit_data(60)
    inject(monkeypatch, name, 15, _raise_interrupt)
    est = clone(ESTIMATORS[name]).set_params(early_stopping=True, max_iter=10)
    with pytest.warns(UserWarning, match="Training interrupted"):
        est.fit(X)
    assert est.n_iter_ == len(est.validation_scores_) >= 1
    assert_usable(est, X)


# -- extreme but valid settings -------------------------------------------------------------

EXTREME = {
    "alpha=1e-4": ("vsc", dict(alpha=1e-4)),
    "alpha=0.9999": ("vsc", dict(alpha=0.9999)),
    "n_components=1 vsc": ("vsc", dict(n_components=1)),
    "n_components=1 vae": ("vae", dict(n_components=1)),
    "n_components=2048 vsc": ("vsc", dict(n_components=2048)),
    "n_components=2048 vae": ("vae", dict(n_components=2048)),
    "batch_size=1 vsc": ("vsc", dict(batch_size=1, max_iter=1)),
    "batch_size=1 vae": ("vae", dict(batch_size=1, max_iter=1)),
    "batch_size=10**6 vsc": ("vsc", dict(batch_size=10**6)),
    "batch_size=10**6 vae": ("vae", dict(batch_size=10**6)),
    "linear vsc": ("vsc", dict(hidden_layer_sizes=())),
    "linear vae": ("vae", dict(hidden_layer_sizes=())),
    "deep vsc": ("vsc", dict(hidden_layer_sizes=(8, 8, 8, 8))),
    "sharp vsc": ("vsc", dict(sharpness=(1e4, 1e5))),
    "soft vsc": ("vsc", dict(sharpness=(1e-3, 1e-3))),
    "spike pretraining vsc": ("vsc", dict(spike_pretrain=0.5, kl_warmup=1.0)),
    "no usage penalty vsc": ("vsc", dict(usage_weight=0.0, kl_warmup=0.0)),
}


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("case", list(EXTREME))
def test_extreme_settings_train_to_finite_results(case, likelihood):
    name, params = EXTREME[case]
    X = unit_data()
    X = X if likelihood == "bernoulli" else X * 200 - 50
    est = clone(ESTIMATORS[name]).set_params(**params).fit(X)
    assert est.likelihood_ == likelihood
    assert_usable(est, X)
    Z = est.transform(X)
    assert Z.shape == (len(X), est.n_components)
    if name == "vsc":
        gamma = est.activity_proba(X)
        assert np.isfinite(gamma).all() and ((gamma >= 0) & (gamma <= 1)).all()
    assert np.isfinite(est.sample(3, random_state=0)).all()
