"""The training loop: shuffled mini-batches on the device, Adam, schedules, stopping.

The loop never synchronises with the host inside an epoch: batch statistics are
summed on the device and read once per epoch. Adam runs as one fused kernel
per step where torch supports it (CPU and CUDA): the unfused update costs
more than the matrix products of a small batch (docs/performance.md).
"""

import copy
import math
import time

import torch

from ._models import STAT_NAMES
from ._nn import mixed_precision


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss stops being finite."""


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
    objective=None,
    amp_dtype=None,
):
    """One shuffled pass over ``source``. Returns ``(stat_sums, n_steps)``.

    ``stat_sums`` is a device tensor of the sums named in ``STAT_NAMES``.
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
        optimizer.step()
        sums += stats
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

    Both speed switches are off by default: ``amp_dtype=torch.bfloat16`` runs
    the networks under autocast; ``compile_objective=True`` compiles the
    objective with ``torch.compile`` (a long first epoch).
    """
    if amp_dtype not in (None, torch.bfloat16):
        raise ValueError(f"amp_dtype must be None or torch.bfloat16, got {amp_dtype!r}.")
    objective = torch.compile(model.objective) if compile_objective else model.objective
    history = []
    for epoch in range(first_epoch, first_epoch + n_epochs):
        start_time = time.perf_counter()
        good = snapshot(model, optimizer)
        sums, n_steps = train_epoch(
            model,
            optimizer,
            source,
            batch_size=batch_size,
            schedule=schedule,
            step=step,
            generator=generator,
            objective=objective,
            amp_dtype=amp_dtype,
        )
        record = {"epoch": epoch}
        record.update(zip(STAT_NAMES, (sums / source.n_samples).tolist()))
        record["loss"] = record["reconstruction"] + record["kl"]
        if not math.isfinite(record["loss"]):
            restore(model, optimizer, good)
            raise NonFiniteLossError(f"non-finite training loss at epoch {epoch}")
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
    if validation is not None and stopper is not None and stopper.best_state:
        restore(model, optimizer, stopper.best_state)
    return history, step
