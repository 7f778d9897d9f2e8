"""The safety net around each optimizer step: clipping, fault detection, Ctrl-C.

:class:`StepGuard` reads one scalar per step on the CPU, where that costs
nothing, and a device flag every few steps on a GPU (a read per step would
stall the GPU's queue).
"""

import contextlib
import copy
import signal
import threading

import torch


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss or gradient stops being finite.

    The model then holds the last good weights. ``history`` and ``step`` (set
    by :func:`.train.fit_model`) describe the training done before the fault.
    """


class TrainingInterrupted(Exception):
    """A ``KeyboardInterrupt`` caught by :func:`.train.fit_model` after a whole step.

    ``history`` holds the completed epochs and ``step`` the steps applied.
    """

    def __init__(self, history, step):
        super().__init__("training interrupted")
        self.history, self.step = history, step


def grad_total(params):
    """One device scalar that is finite exactly when every gradient is.

    On a CPU the sum of all gradient elements: the cheapest full read of them
    (about 0.6 x the time of the norm; scikit-learn's finiteness check uses the
    same shortcut; only a diverging step can overflow the sum itself). On a GPU
    the norm, whose foreach kernel covers every tensor in one launch.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros((), device=params[0].device if params else None)
    if grads[0].device.type == "cpu":
        return torch.stack([g.sum() for g in grads]).sum()
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


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

    def before_update(self, loss, total=None):
        """Clip the gradients and check the loss and gradient of this step.

        ``total``, when given, stands for the gradients: a scalar that is finite
        exactly when they are (a data-parallel fit that splits the update
        between processes combines the processes' :func:`grad_total`); it
        cannot be given with clipping, which needs the gradients themselves.
        """
        if total is not None:
            if self.max_grad_norm is not None:
                raise ValueError("a gradient total cannot stand for the gradients when clipping")
        elif self.max_grad_norm is not None:
            total = torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        else:
            total = grad_total(self.params)
        bad = ~torch.isfinite(loss.detach() + total)
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


def snapshot(model, optimizer):
    """Detached copies of the model and optimizer state (to restore later)."""
    return copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())


def restore(model, optimizer, state):
    model.load_state_dict(state[0])
    optimizer.load_state_dict(state[1])
