"""The training loop: shuffled mini-batches on the device, Adam, schedules, callbacks.

Batch statistics are summed on the device and read once per epoch; the
per-step safety checks are :class:`~.guard.StepGuard`'s; the optimizer is
:mod:`.optim`'s Adam, one fused kernel per step where torch has it (CPU and
CUDA): the unfused update costs more than the matrix products of a small
batch (docs/performance.md).

Everything that happens between epochs is an epoch callback
(:class:`Callback`): progress reports, stopping, dead-unit revival.

The data come from a *source* (:mod:`.data`; any object with its interface):
``n_samples``, ``index_device`` (where row indices live) and ``take(rows)``
(the batch of those rows, a tensor on the model's device), so an
out-of-core source only has to fetch the rows it is asked for. Data-parallel
training plugs into one hook, a :class:`Sync` (default: one process, nothing
to combine).
"""

import contextlib
import math
import time
from dataclasses import dataclass

import torch

from .guard import NonFiniteLossError, StepGuard, TrainingInterrupted, restore, snapshot
from .vae import STAT_NAMES


@dataclass(frozen=True)
class TrainConfig:
    """How to train, as opposed to what (the model) and how long (``n_epochs``).

    ``max_grad_norm`` clips every step's gradient norm (None: no clipping);
    ``check_every`` is the period of the non-finite check (see
    :class:`~.guard.StepGuard`).
    """

    batch_size: int
    max_grad_norm: float | None = None
    check_every: int = 1


class Sync:
    """Where data-parallel training combines the work of its processes.

    Pass an instance as ``sync`` to :func:`fit_model` (or ``Run.train``);
    None, the default, is one process and calls nothing. Each process trains
    the same model with the same seed (so the same shuffle and noise) and
    computes its ``share`` of every batch; a subclass all-reduces at these
    points (:class:`~.distributed.DataParallel` is the torch.distributed one):

    - ``share(n_rows)``: the rows ``[lo, hi)`` of a batch of ``n_rows`` that
      this process computes; ``batch(n_rows)``: a context manager around the
      objective of such a batch (where batch-level terms of the loss combine
      the processes' rows);
    - ``gradients(params, loss)``: after every backward pass, before the
      non-finite check, the clipping and the update; combine the ``.grad``
      of ``params`` (a list, in the model's parameter order; a ``.grad`` may
      be None) in place, and return a loss that is finite exactly when every
      process's is (the fault check reads it);
    - ``steps(params, optimizer, guard)``: a context manager around the
      steps of an epoch that yields None (then each step calls
      ``gradients``, the guard's ``before_update`` and ``optimizer.step()``)
      or a function ``update(loss)`` that each step calls after its backward
      pass instead: it combines the gradients, checks them with ``guard``
      and applies the optimizer step (a subclass that splits the update
      between the processes; the model and optimizer are whole again after
      the block);
    - ``statistics(sums, n_samples)``: once an epoch, with the device tensor
      of this process's summed statistics (``STAT_NAMES``; for the
      validation ELBO a 0-d sum; the dead-unit counts of revival) and the
      number of samples of the data; return them combined over the
      processes, so that every process records the same epoch means and
      takes the same stopping decisions.

    This base class is the one-process identity.
    """

    def share(self, n_rows):
        return 0, n_rows

    def batch(self, n_rows):
        return contextlib.nullcontext()

    def gradients(self, params, loss):
        return loss

    def statistics(self, sums, n_samples):
        return sums, n_samples

    def steps(self, params, optimizer, guard):
        return contextlib.nullcontext()


@dataclass(frozen=True)
class Validation:
    """Held-out data (a source of :mod:`.data`) and the fixed noise draws that score it."""

    source: object
    noises: list


@dataclass
class TrainContext:
    """What the callbacks see: the model, its optimizer, the schedule, the
    generator and ``step``, the steps applied so far (at the start of an
    epoch, then at its end), and the :class:`Sync` of a data-parallel
    training (None: one process). ``unit_counts``, when a callback sets it to a
    ``(J,)`` integer tensor at the start of an epoch, receives each unit's
    count of active training rows during that epoch."""

    model: torch.nn.Module
    optimizer: object  # the Adam of .optim (or any object with its interface)
    schedule: object
    generator: torch.Generator
    step: int
    unit_counts: torch.Tensor | None = None
    sync: object = None


class Callback:
    """An epoch callback; every hook is optional.

    - ``on_epoch_start(context)``: before the first step of an epoch;
    - ``on_steps_end(context)``: after its last step, before it is evaluated;
      may change the model and returns fields for the epoch's record (or None);
    - ``on_epoch_end(record, context)``: the finished record; returning True
      stops training (every callback still sees the record);
    - ``on_train_end(context)``: once at the end, also after an interrupt
      (not after a numerical fault).
    """

    def on_epoch_start(self, context):
        pass

    def on_steps_end(self, context):
        return None

    def on_epoch_end(self, record, context):
        return False

    def on_train_end(self, context):
        pass


class ConvergenceStop(Callback):
    """Stops when the monitored loss (training -ELBO, or validation -ELBO when
    the record has one) has not improved by ``tol`` for ``n_iter_no_change``
    consecutive epochs (scikit-learn's MLP rule). Epochs inside a warm-up do
    not count. With ``restore_best`` the weights of the best epoch are
    restored at the end."""

    def __init__(self, tol, n_iter_no_change, *, restore_best=False):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.restore_best = restore_best
        self.best_loss = math.inf
        self.bad_epochs = 0
        self.best_state = None
        self.stopped = False  # whether this callback ended the training

    def on_epoch_end(self, record, context):
        if context.schedule.warming_up(context.step - 1):
            return False
        loss = -record.get("validation_score", -record["loss"])
        if self.restore_best and loss < self.best_loss:
            self.best_state = snapshot(context.model, context.optimizer)
        if loss < self.best_loss - self.tol:
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        self.best_loss = min(self.best_loss, loss)
        self.stopped = self.bad_epochs >= self.n_iter_no_change
        return self.stopped

    def on_train_end(self, context):
        if self.best_state is not None:
            restore(context.model, context.optimizer, self.best_state)


def train_epoch(
    model,
    optimizer,
    source,
    *,
    batch_size,
    schedule,
    step,
    generator,
    guard=None,
    unit_counts=None,
    sync=None,
):
    """One shuffled pass over ``source``. Returns ``(stat_sums, n_steps)``.

    ``stat_sums`` is a device tensor of the sums named in ``STAT_NAMES``.
    ``guard`` (a :class:`~.guard.StepGuard`) checks and clips every step;
    ``sync`` (a :class:`Sync`) combines the gradients before that.
    """
    model.train()
    n = source.n_samples
    device = model.device
    params = list(model.parameters()) if sync is not None else None
    sums = torch.zeros(len(STAT_NAMES), device=device)
    n_steps = 0
    group = optimizer.param_groups[0]
    # The rate set for the fit; a decaying schedule scales it at each step and
    # the rate is restored after the epoch, so the next call starts from it.
    base_lr, decays = group["lr"], getattr(schedule, "lr_decay", 0.0) > 0.0
    steps = contextlib.nullcontext() if sync is None else sync.steps(params, optimizer, guard)
    with steps as update:
        for batch, n_rows in _batches(source, n, batch_size, generator, device, sync):
            if decays:
                group["lr"] = base_lr * schedule.learning_rate_scale(step + n_steps)
            with contextlib.nullcontext() if sync is None else sync.batch(n_rows):
                loss, stats = model.objective(
                    batch, schedule.at(step + n_steps), generator, unit_counts
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if update is not None:  # the processes sum, check and update together
                update(loss)
            else:
                if sync is not None:
                    loss = sync.gradients(params, loss)
                if guard is not None:
                    guard.before_update(loss)
                optimizer.step()
            sums += stats
            if guard is not None:
                guard.after_update()
            n_steps += 1
    group["lr"] = base_lr
    return sums, n_steps


def _batches(source, n, batch_size, generator, device, sync):
    """``(rows, n_rows)`` of each batch of an epoch: this process's rows of a
    batch of ``n_rows``. A source with ``epoch_batches`` (:mod:`.sources`)
    orders its own epoch; otherwise the epoch is one permutation of all rows."""
    if hasattr(source, "epoch_batches"):
        yield from source.epoch_batches(batch_size, generator, sync)
        return
    # Drawn where the generator lives, moved once per epoch to where the rows are.
    perm = torch.randperm(n, generator=generator, device=device).to(source.index_device)
    for start in range(0, n, batch_size):
        idx = perm[start : start + batch_size]
        n_rows = len(idx)
        if sync is not None:
            lo, hi = sync.share(n_rows)
            idx = idx[lo:hi]
        yield source.take(idx), n_rows


@torch.no_grad()
def evaluate_elbo(model, source, noises, values, batch_size, sync=None):
    """Mean ELBO per sample of a source (deterministic; with ``sync`` each
    process scores its share of the rows, combined over all processes)."""
    model.eval()
    n = source.n_samples
    lo, hi = (0, n) if sync is None else sync.share(n)
    total = torch.zeros((), device=model.device)
    for start in range(lo, hi, batch_size):
        idx = torch.arange(start, min(hi, start + batch_size), device=source.index_device)
        total += model.elbo(source.take(idx), noises, values).sum()
    if sync is not None:
        total, n = sync.statistics(total, n)
    return total.item() / n


def fit_model(
    model,
    optimizer,
    source,
    *,
    n_epochs,
    schedule,
    generator,
    config,
    step=0,
    validation=None,
    callbacks=(),
    first_epoch=1,
    sync=None,
):
    """Train for up to ``n_epochs`` epochs; return ``(history, step)``.

    ``history`` holds one dict per epoch: ``epoch``, fields added by the
    callbacks, ``loss`` (training -ELBO per sample, at the weights in force
    during the epoch), its parts, mean active units, ``validation_score``
    (ELBO per sample) with a :class:`Validation`, and ``time``. A callback
    stops training by returning True from ``on_epoch_end``. ``source`` is a
    data source (see the module docstring); ``sync``, a :class:`Sync`, makes
    this one process of a data-parallel training.

    A non-finite loss or gradient raises :class:`~.guard.NonFiniteLossError`
    with the last good weights restored (see ``config.check_every``); a
    ``KeyboardInterrupt`` stops after the current step and raises
    :class:`~.guard.TrainingInterrupted`. Both carry ``history`` and ``step``.
    """
    history = []
    guard = StepGuard(
        model, optimizer, max_grad_norm=config.max_grad_norm, check_every=config.check_every
    )
    context = TrainContext(model, optimizer, schedule, generator, step, sync=sync)
    epochs = range(first_epoch, first_epoch + n_epochs)
    try:
        with guard.deferred_sigint():
            for epoch in epochs:
                record = _epoch(context, source, guard, config, validation, callbacks, sync)
                history.append({"epoch": epoch, **record})
                if any([c.on_epoch_end(history[-1], context) for c in callbacks]):
                    break
        interrupted = False
    except KeyboardInterrupt:
        interrupted = True
    except NonFiniteLossError as exc:
        exc.history, exc.step = history, step + guard.n_steps
        raise
    if interrupted:
        try:
            guard.check()  # a pending fault (GPU mode) wins over the interrupt
        except NonFiniteLossError as exc:
            exc.history, exc.step = history, step + guard.n_steps
            raise
    for callback in callbacks:
        callback.on_train_end(context)
    if interrupted:
        raise TrainingInterrupted(history, step + guard.n_steps)
    return history, context.step


def _epoch(context, source, guard, config, validation, callbacks, sync):
    """One epoch of :func:`fit_model`: steps, callbacks' changes, statistics."""
    start_time = time.perf_counter()
    for callback in callbacks:
        callback.on_epoch_start(context)
    sums, n_steps = train_epoch(
        context.model,
        context.optimizer,
        source,
        batch_size=config.batch_size,
        schedule=context.schedule,
        step=context.step,
        generator=context.generator,
        guard=guard,
        unit_counts=context.unit_counts,
        sync=sync,
    )
    guard.check()
    context.step += n_steps
    record = {}
    for callback in callbacks:
        record.update(callback.on_steps_end(context) or {})
    n_samples = source.n_samples
    if sync is not None:
        sums, n_samples = sync.statistics(sums, n_samples)
    record.update(zip(STAT_NAMES, (sums / n_samples).tolist()))
    record["loss"] = record["reconstruction"] + record["kl"]
    if validation is not None:
        record["validation_score"] = evaluate_elbo(
            context.model,
            validation.source,
            validation.noises,
            context.schedule.final(),
            4 * config.batch_size,
            sync,
        )
    record["time"] = time.perf_counter() - start_time
    return record
