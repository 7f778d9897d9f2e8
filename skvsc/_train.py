"""The training loop: shuffled mini-batches on the device, Adam, schedules, stopping.

Batch statistics are summed on the device and read once per epoch. The
per-step safety checks (:class:`StepGuard`) read one scalar per step on the
CPU, where that costs nothing, and a device flag every few steps on a GPU.
Adam runs as one fused kernel per step where torch supports it (CPU and
CUDA): the unfused update costs more than the matrix products of a small
batch (docs/performance.md).
"""

import contextlib
import copy
import math
import signal
import threading
import time

import torch

from ._models import STAT_NAMES
from ._nn import mixed_precision
from ._revive import split_units


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss or gradient stops being finite.

    The model then holds the last good weights. ``history`` and ``step`` (set
    by :func:`fit_model`) describe the training done before the fault.
    """


class TrainingInterrupted(Exception):
    """A ``KeyboardInterrupt`` caught by :func:`fit_model` after a whole step.

    ``history`` holds the completed epochs and ``step`` the steps applied.
    """

    def __init__(self, history, step):
        super().__init__("training interrupted")
        self.history, self.step = history, step


def _grad_norm(params):
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros((), device=params[0].device if params else None)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


class StepGuard:
    """Safety net around each optimizer step.

    - Clips the gradient norm to ``max_grad_norm`` (None: no clipping).
    - Detects a non-finite loss or gradient. With ``check_every=1`` the check
      runs before the update, so the model keeps the weights of the last good
      step and no snapshot is needed; reading one scalar per step is free on
      the CPU. On a GPU that read would stall the queue each step, so with
      ``check_every=k`` a device flag is read every ``k`` steps, the weights
      are snapshotted (on the device) at each passed check, and a fault
      restores the last snapshot: up to ``k - 1`` good steps are lost.
    - Turns Ctrl-C (SIGINT, main thread) into a request honoured after the
      current step, so an interrupt never lands inside an update.
    """

    def __init__(self, model, optimizer, *, max_grad_norm=None, check_every=1):
        self.model, self.optimizer = model, optimizer
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.max_grad_norm = max_grad_norm
        self.check_every = check_every
        self.n_steps = 0  # updates applied
        self.interrupt_requested = False
        self._bad = None
        self._good = snapshot(model, optimizer) if check_every > 1 else None
        self._good_steps = 0

    def before_update(self, loss):
        """Clip the gradients and check the loss and gradient of this step."""
        if self.max_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        else:
            norm = _grad_norm(self.params)
        bad = ~torch.isfinite(loss.detach() + norm)
        if self.check_every == 1:
            if bad:
                raise NonFiniteLossError(
                    f"non-finite training loss or gradient at step {self.n_steps + 1} of this fit"
                )
        else:
            self._bad = bad if self._bad is None else self._bad | bad

    def after_update(self):
        self.n_steps += 1
        if self.check_every > 1 and self.n_steps % self.check_every == 0:
            self.check()
        if self.interrupt_requested:
            raise KeyboardInterrupt

    def check(self):
        """Read the device flag (GPU mode): restore and raise on a fault."""
        if self._bad is not None and bool(self._bad):
            message = (
                f"non-finite training loss or gradient within steps {self._good_steps + 1}"
                f"-{self.n_steps} of this fit (checked every {self.check_every} steps); "
                f"restored the weights after step {self._good_steps}"
            )
            restore(self.model, self.optimizer, self._good)
            self.n_steps = self._good_steps
            raise NonFiniteLossError(message)
        if self.check_every > 1 and self._good_steps != self.n_steps:
            self._good, self._good_steps = snapshot(self.model, self.optimizer), self.n_steps
        self._bad = None

    @contextlib.contextmanager
    def deferred_sigint(self):
        """Within the block, a first Ctrl-C only sets ``interrupt_requested``."""
        if (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        ):
            yield
            return

        def request(signum, frame):
            self.interrupt_requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second one is at once

        signal.signal(signal.SIGINT, request)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def make_optimizer(params, lr):
    """Adam over ``params``, fused into one kernel when every parameter allows it."""
    params = list(params)
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


def snapshot(model, optimizer):
    """Detached copies of the model and optimizer state (to restore later)."""
    return copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())


def restore(model, optimizer, state):
    model.load_state_dict(state[0])
    optimizer.load_state_dict(state[1])


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
    objective=None,
    amp_dtype=None,
):
    """One shuffled pass over ``source``. Returns ``(stat_sums, n_steps)``.

    ``stat_sums`` is a device tensor of the sums named in ``STAT_NAMES``.
    ``guard`` (a :class:`StepGuard`) checks and clips every step.
    ``objective`` replaces ``model.objective`` (e.g. a compiled version);
    ``amp_dtype=torch.bfloat16`` runs the networks' matrix products under
    autocast (the ELBO itself stays in float32).
    """
    model.train()
    n = source.n_samples
    device = model.encoder.heads.weight.device
    objective = model.objective if objective is None else objective
    # Drawn where the generator lives, moved once per epoch to where the rows are.
    perm = torch.randperm(n, generator=generator, device=device).to(source.index_device)
    sums = torch.zeros(len(STAT_NAMES), device=device)
    n_steps = 0
    for start in range(0, n, batch_size):
        batch = source.take(perm[start : start + batch_size])
        with mixed_precision(model, amp_dtype):
            loss, stats = objective(batch, schedule.at(step + n_steps), generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if guard is not None:
            guard.before_update(loss)
        optimizer.step()
        sums += stats
        if guard is not None:
            guard.after_update()
        n_steps += 1
    return sums, n_steps


@torch.no_grad()
def evaluate_elbo(model, source, noises, step, batch_size):
    """Mean ELBO per sample of a device-resident source (deterministic)."""
    model.eval()
    n = source.n_samples
    device = model.encoder.heads.weight.device
    total = torch.zeros((), device=device)
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(n, start + batch_size), device=source.index_device)
        total += model.elbo(source.take(idx), noises, step).sum()
    return total.item() / n


class Stopper:
    """Stops when the monitored loss has not improved by ``tol`` for
    ``n_iter_no_change`` consecutive epochs (scikit-learn's MLP rule)."""

    def __init__(self, tol, n_iter_no_change, best_loss=math.inf):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.best_loss = best_loss
        self.bad_epochs = 0
        self.best_state = None

    def update(self, loss, state_fn):
        """Record an epoch's loss; return True when training should stop."""
        if loss < self.best_loss:
            self.best_state = state_fn()
        if loss < self.best_loss - self.tol:
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        self.best_loss = min(self.best_loss, loss)
        return self.bad_epochs >= self.n_iter_no_change


def fit_model(
    model,
    optimizer,
    source,
    *,
    n_epochs,
    batch_size,
    schedule,
    generator,
    step=0,
    validation=None,
    score_noises=None,
    stopper=None,
    callback=None,
    first_epoch=1,
    max_grad_norm=None,
    check_every=1,
    amp_dtype=None,
    compile_objective=False,
):
    """Train for up to ``n_epochs`` epochs; return ``(history, step)``.

    ``history`` holds one dict per epoch: ``loss`` (training -ELBO per sample,
    at the weights in force during the epoch), its parts, mean active units,
    ``validation_score`` (ELBO per sample) when ``validation`` is given, and
    ``time``. Training stops early when ``stopper`` says so, but not while a
    warm-up is still changing the objective. With ``validation`` the weights
    of the best validation epoch are restored at the end.

    A non-finite loss or gradient raises :class:`NonFiniteLossError` with the
    last good weights restored (see :class:`StepGuard` for ``check_every``);
    a ``KeyboardInterrupt`` stops after the current step and raises
    :class:`TrainingInterrupted`. Both carry ``history`` and ``step``.

    Both speed switches are off by default: ``amp_dtype=torch.bfloat16`` runs
    the networks under autocast; ``compile_objective=True`` compiles the
    objective with ``torch.compile`` (a long first epoch).
    """
    if amp_dtype not in (None, torch.bfloat16):
        raise ValueError(f"amp_dtype must be None or torch.bfloat16, got {amp_dtype!r}.")
    objective = torch.compile(model.objective) if compile_objective else model.objective
    history = []
    guard = StepGuard(model, optimizer, max_grad_norm=max_grad_norm, check_every=check_every)
    first_step = step
    try:
        with guard.deferred_sigint():
            step = _fit_epochs(
                model, optimizer, source, guard, history,
                n_epochs=n_epochs, batch_size=batch_size, schedule=schedule,
                generator=generator, step=step, validation=validation,
                score_noises=score_noises, stopper=stopper, callback=callback,
                first_epoch=first_epoch, objective=objective, amp_dtype=amp_dtype,
            )  # fmt: skip
        interrupted = False
    except KeyboardInterrupt:
        interrupted = True
    except NonFiniteLossError as exc:
        exc.history, exc.step = history, first_step + guard.n_steps
        raise
    if interrupted:
        try:
            guard.check()  # a pending fault (GPU mode) wins over the interrupt
        except NonFiniteLossError as exc:
            exc.history, exc.step = history, first_step + guard.n_steps
            raise
    if validation is not None and stopper is not None and stopper.best_state:
        restore(model, optimizer, stopper.best_state)
    if interrupted:
        raise TrainingInterrupted(history, first_step + guard.n_steps)
    return history, step


def _fit_epochs(
    model,
    optimizer,
    source,
    guard,
    history,
    *,
    n_epochs,
    batch_size,
    schedule,
    generator,
    step,
    validation,
    score_noises,
    stopper,
    callback,
    first_epoch,
    objective,
    amp_dtype,
):
    """The epoch loop of :func:`fit_model`; appends to ``history``, returns the step."""
    for epoch in range(first_epoch, first_epoch + n_epochs):
        start_time = time.perf_counter()
        counts = None
        if schedule.reviving(step):  # the objective counts active samples per unit
            device = model.encoder.heads.weight.device
            counts = model.unit_counts = torch.zeros(
                model.n_components, dtype=torch.long, device=device
            )
        try:
            sums, n_steps = train_epoch(
                model,
                optimizer,
                source,
                batch_size=batch_size,
                schedule=schedule,
                step=step,
                generator=generator,
                guard=guard,
                objective=objective,
                amp_dtype=amp_dtype,
            )
            guard.check()
        finally:  # also on a fault or an interrupt: later steps must not keep counting
            model.unit_counts = None
        record = {"epoch": epoch}
        if counts is not None:
            record["revived"] = split_units(model, optimizer, counts, generator)
        record.update(zip(STAT_NAMES, (sums / source.n_samples).tolist()))
        record["loss"] = record["reconstruction"] + record["kl"]
        step += n_steps
        if validation is not None:
            record["validation_score"] = evaluate_elbo(
                model, validation, score_noises, schedule.final(), 4 * batch_size
            )
        record["time"] = time.perf_counter() - start_time
        history.append(record)
        if callback is not None:
            callback(record)
        if stopper is not None and not schedule.warming_up(step - 1):
            monitored = -record.get("validation_score", -record["loss"])
            if stopper.update(monitored, lambda: snapshot(model, optimizer)):
                break
    return step
