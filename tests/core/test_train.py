"""The training loop: validation, speed switches, the epoch-callback protocol, stopping."""

import math

import numpy as np
import pytest
import torch

from skvsc._core import train
from skvsc._core.data import make_source
from skvsc._core.guard import NonFiniteLossError
from skvsc._core.optim import make_optimizer
from skvsc._core.schedule import Schedule
from skvsc._core.train import (
    Callback,
    ConvergenceStop,
    TrainConfig,
    TrainContext,
    Validation,
    fit_model,
    train_epoch,
)

from .helpers import small_vae, train_tiny

RNG = np.random.default_rng(0)
X32 = RNG.random((60, 12), dtype=np.float32)


def test_validation_from_a_host_source_matches():
    scores = []
    for resident in (True, False):
        history, _ = train_tiny(
            make_source(X32[:40], "cpu", resident=resident),
            validation=Validation(
                make_source(X32[40:], "cpu", resident=resident),
                [(torch.zeros(1, 3), torch.full((1, 3), 0.5))],
            ),
        )
        scores.append([h["validation_score"] for h in history])
    assert scores[0] == scores[1]


class Recorder(Callback):
    """Records the hooks called, and changes the model after the steps."""

    def __init__(self, stop_at=None):
        self.calls, self.stop_at = [], stop_at

    def on_epoch_start(self, context):
        self.calls.append(("start", context.step))

    def on_steps_end(self, context):
        self.calls.append(("steps_end", context.step))
        with torch.no_grad():  # seen by the validation score of this epoch
            context.model.decoder.out.bias.add_(1.0)
        return {"note": len(self.calls)}

    def on_epoch_end(self, record, context):
        self.calls.append(("end", record["epoch"]))
        return record["epoch"] == self.stop_at

    def on_train_end(self, context):
        self.calls.append(("train_end", context.step))


def _fit(callbacks, n_epochs=3, validation=False, schedule=None):
    model = small_vae(12, 3)
    noises = [(torch.zeros(1, 3), torch.full((1, 3), 0.5))]
    return model, fit_model(
        model,
        make_optimizer(model.parameters(), 1e-2),
        make_source(X32[:40], "cpu"),
        n_epochs=n_epochs,
        schedule=schedule or Schedule(12, sharpness=(50.0, 200.0)),
        generator=torch.Generator().manual_seed(1),
        config=TrainConfig(batch_size=10),
        validation=Validation(make_source(X32[40:], "cpu"), noises) if validation else None,
        callbacks=callbacks,
        first_epoch=5,
    )


def test_callback_hooks_in_order_and_record_fields():
    recorder = Recorder()
    _, (history, step) = _fit([recorder])
    assert step == 12
    assert recorder.calls == [
        ("start", 0), ("steps_end", 4), ("end", 5),
        ("start", 4), ("steps_end", 8), ("end", 6),
        ("start", 8), ("steps_end", 12), ("end", 7),
        ("train_end", 12),
    ]  # fmt: skip
    assert [h["epoch"] for h in history] == [5, 6, 7]
    assert [h["note"] for h in history] == [2, 5, 8]
    assert list(history[0]) == [
        "epoch", "note", "reconstruction", "kl", "active_units", "loss", "time"
    ]  # fmt: skip


def test_changes_after_the_steps_are_validated():
    plain = Callback()
    _, (before, _) = _fit([plain], n_epochs=1, validation=True)
    _, (after, _) = _fit([Recorder()], n_epochs=1, validation=True)
    assert before[0]["loss"] == after[0]["loss"]  # training is the same
    assert before[0]["validation_score"] != after[0]["validation_score"]


def test_a_callback_stops_training_and_every_callback_sees_the_last_record():
    first, second = Recorder(stop_at=6), Recorder()
    _, (history, step) = _fit([first, second], n_epochs=5)
    assert len(history) == 2 and step == 8
    assert ("end", 6) in second.calls and ("train_end", 8) in second.calls


def _context(warming_up=False):
    schedule = Schedule(100, kl_warmup=1.0 if warming_up else 0.0)
    model = small_vae(4, 2)
    return TrainContext(model, make_optimizer(model.parameters(), 1e-3), schedule, None, step=10)


def test_early_stopping_follows_the_mlp_rule():
    stopping = ConvergenceStop(tol=0.5, n_iter_no_change=2)
    context = _context()
    losses = [10.0, 9.0, 8.8, 8.7]  # improvements: 1.0, then 0.2 and 0.1 < tol
    stops = [stopping.on_epoch_end({"loss": loss}, context) for loss in losses]
    assert stops == [False, False, False, True]
    assert stopping.best_state is None  # nothing to restore without validation


def test_early_stopping_compares_with_the_best_loss_not_the_last():
    # After the best epoch (5.0) the loss jumps and then improves on each previous
    # epoch by more than tol, but never on the best: three bad epochs, a stop.
    stopping = ConvergenceStop(tol=0.5, n_iter_no_change=3)
    context = _context()
    stops = [stopping.on_epoch_end({"loss": loss}, context) for loss in [10.0, 5.0, 9.0, 8.0, 7.0]]
    assert stops == [False, False, False, False, True]
    assert stopping.best_loss == 5.0 and stopping.stopped


def test_early_stopping_counts_improvements_below_tol_as_bad_epochs():
    stopping = ConvergenceStop(tol=1.0, n_iter_no_change=2)
    context = _context()
    # 0.9 below the best is not enough; 1.1 below it resets the count.
    stops = [stopping.on_epoch_end({"loss": loss}, context) for loss in [5.0, 4.1, 2.9, 2.0, 1.95]]
    assert stops == [False, False, False, False, True]
    assert stopping.bad_epochs == 2


def test_epoch_statistics_carry_no_autograd_graph():
    # Summing statistics that still hold their graph would keep every step's
    # graph alive until the end of the epoch.
    model = small_vae(12, 3)
    values = Schedule(10, sharpness=(50.0, 200.0)).at(0)
    loss, stats = model.objective(torch.from_numpy(X32[:10]), values, torch.Generator())
    assert loss.requires_grad
    assert not stats.requires_grad and stats.grad_fn is None
    sums, n_steps = train_epoch(
        model,
        make_optimizer(model.parameters(), 1e-2),
        make_source(X32[:40], "cpu"),
        batch_size=10,
        schedule=Schedule(10, sharpness=(50.0, 200.0)),
        step=0,
        generator=torch.Generator().manual_seed(0),
    )
    assert n_steps == 4 and sums.grad_fn is None and not sums.requires_grad


@pytest.mark.parametrize("second", [-6.0, -5.0])  # worse, or a tie: the first is kept
def test_early_stopping_monitors_the_validation_score_and_restores_the_best(second):
    stopping = ConvergenceStop(tol=0.0, n_iter_no_change=5, restore_best=True)
    context = _context()
    best = {k: v.clone() for k, v in context.model.state_dict().items()}
    stopping.on_epoch_end({"loss": 1.0, "validation_score": -5.0}, context)
    with torch.no_grad():
        context.model.decoder.out.bias.add_(1.0)
    # The training loss improves; the validation score, which is monitored, does not.
    stopping.on_epoch_end({"loss": 0.5, "validation_score": second}, context)
    stopping.on_train_end(context)
    for k, v in context.model.state_dict().items():
        torch.testing.assert_close(v, best[k])


def test_early_stopping_ignores_the_warm_up():
    stopping = ConvergenceStop(tol=0.0, n_iter_no_change=1)
    context = _context(warming_up=True)
    assert not any(stopping.on_epoch_end({"loss": 1.0}, context) for _ in range(5))


class _Probe(torch.nn.Module):
    """A model whose objective records what the loop gives it: the rows (their
    index in the first column), the step values, the learning rate at the step
    and the unit counts; its statistics are known per batch."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.calls = []
        self.optimizer = None

    @property
    def device(self):
        return self.weight.device

    def objective(self, batch, values, generator, unit_counts=None):
        lr = self.optimizer.param_groups[0]["lr"]
        self.calls.append((batch[:, 0].long().tolist(), values, lr, unit_counts))
        loss = self.weight * batch.sum()
        stats = torch.tensor([float(len(batch)), float(batch[:, 0].sum()), 1.0])
        return loss, stats


class _Steps:
    """A schedule whose step values are the step, with a decaying rate."""

    lr_decay = 0.5

    def at(self, step):
        return step

    def learning_rate_scale(self, step):
        return 1.0 / (1 + step)


def _probe_epoch(X, schedule, *, step=0, batch_size=4, **options):
    """One ``train_epoch`` of a :class:`_Probe` over the rows ``X``."""
    model = _Probe()
    model.optimizer = make_optimizer(model.parameters(), 0.1)
    sums, n_steps = train_epoch(
        model,
        model.optimizer,
        make_source(X, "cpu"),
        batch_size=batch_size,
        schedule=schedule,
        step=step,
        generator=torch.Generator().manual_seed(0),
        **options,
    )
    return model, sums, n_steps


def _probe_fit(model, **config):
    """Three epochs of ``fit_model`` of a :class:`_Probe` over 12 rows in batches of 4
    (three steps each), from step 2."""
    model.optimizer = make_optimizer(model.parameters(), 0.1)
    return fit_model(
        model,
        model.optimizer,
        make_source(np.arange(12, dtype=np.float32)[:, None], "cpu"),
        n_epochs=3,
        schedule=_Steps(),
        generator=torch.Generator().manual_seed(0),
        config=TrainConfig(batch_size=4, **config),
        step=2,
    )


def test_an_epoch_visits_every_row_once_and_sums_the_batch_statistics():
    X = np.arange(23, dtype=np.float32)[:, None] * np.ones((1, 3), dtype=np.float32)
    counts = torch.zeros(4, dtype=torch.int64)
    model, sums, n_steps = _probe_epoch(X, _Steps(), step=7, batch_size=5, unit_counts=counts)
    rows = [r for r, *_ in model.calls]
    assert [len(r) for r in rows] == [5, 5, 5, 5, 3] and n_steps == 5
    assert sorted(i for r in rows for i in r) == list(range(23))
    assert [i for r in rows for i in r] != list(range(23))  # one shuffled pass
    # The statistics of every batch are summed (rows, the sum of the indices, steps).
    assert sums.tolist() == [23.0, float(sum(range(23))), 5.0]
    # Each step gets the schedule's values and rate at its own step number ...
    assert [values for _, values, _, _ in model.calls] == [7, 8, 9, 10, 11]
    lrs = [lr for _, _, lr, _ in model.calls]
    np.testing.assert_allclose(lrs, [0.1 / (1 + s) for s in range(7, 12)])
    assert all(c is counts for *_, c in model.calls)  # the unit counts reach the objective
    # ... and the rate set for the fit is restored for the next epoch.
    assert model.optimizer.param_groups[0]["lr"] == 0.1


def test_early_stopping_counts_from_the_first_epoch_after_the_warm_up():
    # A KL warm-up of 10 steps: the KL weight reaches 1 at step 9, so the epoch whose
    # last step was 8 (context.step 9) is inside it and is not counted; the one whose
    # last step was 9 is counted.
    schedule = Schedule(100, kl_warmup=0.1)
    model = small_vae(4, 2)
    optimizer = make_optimizer(model.parameters(), 1e-3)
    stopping = ConvergenceStop(tol=0.0, n_iter_no_change=1)
    inside = TrainContext(model, optimizer, schedule, None, step=9)
    assert not stopping.on_epoch_end({"loss": 1.0}, inside)
    assert stopping.best_loss == math.inf and not stopping.stopped  # not counted
    after = TrainContext(model, optimizer, schedule, None, step=10)
    assert not stopping.on_epoch_end({"loss": 1.0}, after)  # the first counted epoch
    assert stopping.on_epoch_end({"loss": 1.0}, after) and stopping.stopped


def test_a_callback_that_returns_nothing_does_not_stop_training():
    assert Callback().on_epoch_end({"loss": 1.0}, None) is False
    assert not ConvergenceStop(tol=0.0, n_iter_no_change=1).stopped


def test_an_epochs_record_holds_the_per_sample_means_of_its_sums(monkeypatch):
    # train_epoch's sums (reconstruction, KL, active units over the epoch's rows)
    # become per-sample means; the loss is the -ELBO, reconstruction + KL.
    seen = []

    def fake_epoch(model, optimizer, source, **kwargs):
        seen.append(kwargs)
        return torch.tensor([60.0, 20.0, 100.0]), 4

    class Counts(Callback):
        def on_epoch_start(self, context):
            context.unit_counts = torch.zeros(3, dtype=torch.int64)

    monkeypatch.setattr(train, "train_epoch", fake_epoch)
    model = small_vae(12, 3)
    history, step = fit_model(
        model,
        make_optimizer(model.parameters(), 1e-2),
        make_source(X32[:40], "cpu"),
        n_epochs=2,
        schedule=Schedule(8),
        generator=torch.Generator().manual_seed(1),
        config=TrainConfig(batch_size=10),
        step=3,
        callbacks=[Counts()],
    )
    assert [h["epoch"] for h in history] == [1, 2] and step == 3 + 2 * 4
    for record in history:
        assert (record["reconstruction"], record["kl"], record["active_units"]) == (1.5, 0.5, 2.5)
        assert record["loss"] == 2.0
        assert 0 <= record["time"] < 60
    assert [kwargs["step"] for kwargs in seen] == [3, 7]  # each epoch starts where the last ended
    assert all(kwargs["unit_counts"] is not None for kwargs in seen)


def test_a_schedule_without_a_rate_decay_keeps_the_rate():
    class Constant:  # a schedule of step values only (no lr_decay, no learning_rate_scale)
        def at(self, step):
            return step

    model, _, _ = _probe_epoch(np.arange(10, dtype=np.float32)[:, None], Constant())
    assert [lr for _, _, lr, _ in model.calls] == [0.1] * 3


class _NaNAtStep7(_Probe):
    """A probe whose loss is NaN at its 7th step (the first of the third epoch)."""

    def objective(self, batch, values, generator, unit_counts=None):
        loss, stats = super().objective(batch, values, generator, unit_counts)
        return (loss * math.nan if len(self.calls) == 7 else loss), stats


def test_a_non_finite_loss_reports_the_training_done_before_it():
    with pytest.raises(NonFiniteLossError) as caught:
        _probe_fit(_NaNAtStep7())
    # Epochs of 3 steps: the 7th step failed, in the third epoch.
    assert [h["epoch"] for h in caught.value.history] == [1, 2]
    assert caught.value.step == 2 + 6


def test_a_fault_pending_at_an_interrupt_wins_over_it():
    # With a periodic check (the GPU mode) a non-finite step is found late; an
    # interrupt before the check reports the fault, with the training before it.
    class NaNThenInterrupt(_NaNAtStep7):
        def objective(self, batch, values, generator, unit_counts=None):
            if len(self.calls) == 7:  # the step after the NaN
                raise KeyboardInterrupt
            return super().objective(batch, values, generator, unit_counts)

    with pytest.raises(NonFiniteLossError) as caught:
        _probe_fit(NaNThenInterrupt(), check_every=100)
    assert [h["epoch"] for h in caught.value.history] == [1, 2]
    assert caught.value.step == 2 + 6  # the steps before the fault
