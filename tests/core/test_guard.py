"""The step guard: non-finite checks (per step and periodic), clipping, Ctrl-C."""

import signal

import numpy as np
import pytest
import torch

from skvsc._core.data import make_source
from skvsc._core.guard import NonFiniteLossError, TrainingInterrupted
from skvsc._core.schedule import Schedule
from skvsc._core.train import TrainConfig, fit_model
from skvsc._core.vae import VAE

from .helpers import assert_same_weights, small_vae, weights


def unit_data(n=40, d=5, seed=0):
    return np.random.default_rng(seed).random((n, d))


@pytest.fixture
def default_sigint():
    """Python's own Ctrl-C handler, whatever the test runner inherited."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _small_problem(seed=0):
    X = torch.as_tensor(unit_data(), dtype=torch.float32)
    module = small_vae(5, 3, (8,), seed=seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    return module, optimizer, make_source(X, "cpu")


def _run(module, optimizer, source, n_epochs=3, **switches):
    return fit_model(
        module,
        optimizer,
        source,
        n_epochs=n_epochs,
        schedule=Schedule(total_steps=12, sharpness=(50.0, 200.0), kl_warmup=0.2),
        generator=torch.Generator().manual_seed(1),
        config=TrainConfig(batch_size=10, **switches),
    )


@pytest.mark.parametrize("at_call", [6, 1])  # 1: before the first check, back to the start
@pytest.mark.parametrize("check_every", [2, 3, 4])
def test_periodic_check_restores_last_checked_weights(check_every, at_call, monkeypatch):
    """The GPU mode: a device flag read every ``check_every`` steps."""
    module, optimizer, source = _small_problem()
    after_step = {}
    original = VAE.objective
    calls = {"n": 0}

    def objective(self, x, values, generator, unit_counts=None):
        calls["n"] += 1
        after_step[calls["n"] - 1] = weights(self)
        loss, stats = original(self, x, values, generator, unit_counts)
        return (loss * float("nan") if calls["n"] == at_call else loss), stats

    monkeypatch.setattr(VAE, "objective", objective)
    with pytest.raises(NonFiniteLossError, match=f"checked every {check_every} steps") as info:
        _run(module, optimizer, source, check_every=check_every)
    # Checks run every check_every steps and at each epoch end (4 steps).
    checks = [s for s in range(1, 13) if s % check_every == 0 or s % 4 == 0]
    last_good = max([0] + [s for s in checks if s < at_call])
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


def test_second_ctrl_c_interrupts_at_once(monkeypatch, default_sigint):
    module, optimizer, source = _small_problem()
    original = VAE.objective

    def objective(self, x, values, generator, unit_counts=None):
        signal.raise_signal(signal.SIGINT)  # the first only asks to stop
        signal.raise_signal(signal.SIGINT)  # the second raises KeyboardInterrupt here
        return original(self, x, values, generator, unit_counts)

    before = weights(module)
    monkeypatch.setattr(VAE, "objective", objective)
    with pytest.raises(TrainingInterrupted) as info:
        _run(module, optimizer, source)
    assert info.value.step == 0
    assert_same_weights(weights(module), before)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_gradient_with_a_finite_loss_stops_before_the_update(bad):
    # The per-step check reads the gradients, not only the loss: one bad
    # element in one parameter's gradient is caught and the weights stay those
    # of the last good step.
    module, optimizer, source = _small_problem()
    param = module.decoder.out.weight
    calls = {"n": 0}

    def poison(grad):
        calls["n"] += 1
        if calls["n"] == 6:
            grad = grad.clone()
            grad[0, 0] = bad
        return grad

    param.register_hook(poison)
    before = {}

    def remember(opt, args, kwargs):
        before.update(weights(module))

    optimizer.register_step_post_hook(remember)
    with pytest.raises(NonFiniteLossError, match="step 6"):
        _run(module, optimizer, source)
    after = weights(module)
    for name, value in before.items():  # the weights after the update of step 5
        np.testing.assert_array_equal(after[name], value)
