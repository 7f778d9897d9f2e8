"""Injected numerical faults and interrupts, gradient clipping and extreme settings."""

import signal

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._data import make_source
from skvsc._models import GaussianVAE, SpikeSlabVAE
from skvsc._schedule import Schedule
from skvsc._train import NonFiniteLossError, TrainingInterrupted, fit_model

FAST = dict(
    hidden_layer_sizes=(8,), max_iter=3, batch_size=10, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = {
    "vsc": VariationalSparseCoder(n_components=3, alpha=0.3, **FAST),
    "vae": VAETransformer(n_components=3, **FAST),
}
MODULES = {"vsc": SpikeSlabVAE, "vae": GaussianVAE}
N_SAMPLES = 40  # 4 steps per epoch


def unit_data(n=N_SAMPLES, d=5, seed=0):
    return np.random.default_rng(seed).random((n, d))


def weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


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
    """Patch the module's objective: call ``at_call`` (1-based) gets ``effect``.

    Returns a dict that receives the weights seen at that call (those after the
    previous step) under ``"before"``.
    """
    cls = MODULES[name]
    original = cls.objective
    seen = {"calls": 0}

    def objective(self, x, step, generator):
        seen["calls"] += 1
        loss, stats = original(self, x, step, generator)
        if seen["calls"] == at_call:
            seen["before"] = weights(self)
            return effect(self, loss), stats
        return loss, stats

    monkeypatch.setattr(cls, "objective", objective)
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
    assert est._step == at_call - 1 and est.n_iter_ == 1
    assert_usable(est, X)
    # Once the fault is gone, training resumes from there.
    monkeypatch.undo()
    est.set_params(warm_start=True, max_iter=1).fit(X)
    assert est.n_iter_ == 2 and est._step == at_call - 1 + 4
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


def _small_problem(seed=0):
    X = torch.as_tensor(unit_data(), dtype=torch.float32)
    module = SpikeSlabVAE(5, 3, (8,), "bernoulli", torch.Generator().manual_seed(seed), alpha=0.3)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    return module, optimizer, make_source(X, "cpu")


def _run(module, optimizer, source, n_epochs=3, **kwargs):
    return fit_model(
        module,
        optimizer,
        source,
        n_epochs=n_epochs,
        batch_size=10,
        schedule=Schedule(total_steps=12, kl_warmup=0.2),
        generator=torch.Generator().manual_seed(1),
        **kwargs,
    )


@pytest.mark.parametrize("check_every", [2, 3, 4])
def test_periodic_check_restores_last_checked_weights(check_every, monkeypatch):
    """The GPU mode: a device flag read every ``check_every`` steps."""
    module, optimizer, source = _small_problem()
    at_call = 6
    after_step = {}
    original = SpikeSlabVAE.objective
    calls = {"n": 0}

    def objective(self, x, step, generator):
        calls["n"] += 1
        after_step[calls["n"] - 1] = weights(self)
        loss, stats = original(self, x, step, generator)
        return (loss * float("nan") if calls["n"] == at_call else loss), stats

    monkeypatch.setattr(SpikeSlabVAE, "objective", objective)
    with pytest.raises(NonFiniteLossError, match=f"checked every {check_every} steps") as info:
        _run(module, optimizer, source, check_every=check_every)
    # Checks run every check_every steps and at each epoch end (4 steps).
    checks = [s for s in range(1, 13) if s % check_every == 0 or s % 4 == 0]
    last_good = max(s for s in checks if s < at_call)
    assert info.value.step == last_good
    assert len(info.value.history) == last_good // 4
    assert_same_weights(weights(module), after_step[last_good])
    # Detected at the first check after the fault, not at the end of the fit.
    assert calls["n"] == min(s for s in checks if s >= at_call)


def test_periodic_check_is_bit_identical_to_per_step_check():
    results = []
    for check_every in (1, 5):
        module, optimizer, source = _small_problem()
        history, step = _run(module, optimizer, source, check_every=check_every)
        results.append((weights(module), [h["loss"] for h in history], step))
    assert_same_weights(results[0][0], results[1][0])
    assert results[0][1:] == results[1][1:]


def test_gradient_clipping(monkeypatch):
    module, optimizer, source = _small_problem()
    norms = []
    original_step = optimizer.step

    def step(*args, **kwargs):
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())
        return original_step(*args, **kwargs)

    monkeypatch.setattr(optimizer, "step", step)
    _run(module, optimizer, source, max_grad_norm=0.05)
    assert len(norms) == 12
    assert max(norms) <= 0.05 * (1 + 1e-5)
    # Without clipping the same problem has larger gradients: the test can fail.
    module, optimizer, source = _small_problem()
    norms.clear()
    monkeypatch.setattr(optimizer, "step", step)
    _run(module, optimizer, source)
    assert max(norms) > 0.05


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
    assert est._step == at_call - 1 and est.n_iter_ == 1
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
    assert est._step == at_call and est.n_iter_ == 0
    assert_usable(est, X)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_ctrl_c_interrupts_at_once(monkeypatch, default_sigint):
    module, optimizer, source = _small_problem()
    original = SpikeSlabVAE.objective

    def objective(self, x, step, generator):
        signal.raise_signal(signal.SIGINT)  # the first only asks to stop
        signal.raise_signal(signal.SIGINT)  # the second raises KeyboardInterrupt here
        return original(self, x, step, generator)

    before = weights(module)
    monkeypatch.setattr(SpikeSlabVAE, "objective", objective)
    with pytest.raises(TrainingInterrupted) as info:
        _run(module, optimizer, source)
    assert info.value.step == 0
    assert_same_weights(weights(module), before)
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
