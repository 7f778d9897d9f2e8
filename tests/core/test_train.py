"""The training loop: validation, speed switches, the epoch-callback protocol, stopping."""

import numpy as np
import torch

from skvsc._core.data import make_source
from skvsc._core.optim import make_optimizer
from skvsc._core.schedule import Schedule
from skvsc._core.train import (
    Callback,
    ConvergenceStop,
    TrainConfig,
    TrainContext,
    Validation,
    fit_model,
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


def test_early_stopping_monitors_the_validation_score_and_restores_the_best():
    stopping = ConvergenceStop(tol=0.0, n_iter_no_change=5, restore_best=True)
    context = _context()
    best = {k: v.clone() for k, v in context.model.state_dict().items()}
    stopping.on_epoch_end({"loss": 1.0, "validation_score": -5.0}, context)
    with torch.no_grad():
        context.model.decoder.out.bias.add_(1.0)
    stopping.on_epoch_end({"loss": 0.5, "validation_score": -6.0}, context)  # worse
    stopping.on_train_end(context)
    for k, v in context.model.state_dict().items():
        torch.testing.assert_close(v, best[k])


def test_early_stopping_ignores_the_warm_up():
    stopping = ConvergenceStop(tol=0.0, n_iter_no_change=1)
    context = _context(warming_up=True)
    assert not any(stopping.on_epoch_end({"loss": 1.0}, context) for _ in range(5))
