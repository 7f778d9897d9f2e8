"""Data-parallel training on ``torch.distributed``: several processes train one model.

Every rank runs the same training loop on the same schedule with the same
random generator, so every decision that reads the generator or an epoch's
statistics (the shuffle, the noise, early stopping, revival) is taken
identically everywhere. What differs is which rows of each global batch a
rank computes: :meth:`DataParallel.share`. The pieces that make the result
equal to a one-process fit with the same global batch:

- the batch's noise is drawn for the whole global batch on every rank and
  each rank keeps its rows (:func:`batch_noise`);
- the per-row loss is summed over the rank's rows and divided by the global
  batch size (:func:`row_mean`), and the gradients are summed over ranks
  (:meth:`DataParallel.gradients`, one all-reduce per step);
- batch aggregates inside the loss (a unit's batch-mean activity) are summed
  over ranks in the forward pass (:func:`batch_mean`), with an identity
  backward, so each rank back-propagates the penalty's gradient into its own
  rows only;
- epoch sums (statistics, unit counts, validation ELBO) are summed over ranks
  before anyone reads them (:meth:`DataParallel.statistics`).

Outside :func:`global_batch` every helper is the one-process computation,
bit for bit.
"""

import contextlib
import contextvars
import datetime
import os

import torch
import torch.distributed as dist

from . import shared_sum, shared_update
from .shared_sum import RankFailure

__all__ = ["RankFailure"]  # raised here, defined with the shared-memory path

#: Whether ranks that all run on one host sum through shared memory
#: (:mod:`.shared_sum`) instead of gloo; tests switch it off to check both.
SHARED_MEMORY = True

#: Whether ranks that sum through shared memory also split the optimizer step
#: between them (:mod:`.shared_update`); tests switch it off to check both.
SPLIT_UPDATE = True

#: Bound on any collective's wait for a stalled rank (set when skvsc starts
#: the process group; a process that dies closes its connections, which the
#: others notice at once). A group started by the caller keeps its own
#: timeout, which the shared-memory sums follow too (:func:`group_timeout`).
DEFAULT_TIMEOUT = datetime.timedelta(seconds=300)

#: The global batch in progress: ``(DataParallel, n_rows, (lo, hi))`` or None.
_BATCH = contextvars.ContextVar("skvsc_global_batch", default=None)


def launched():
    """Whether the environment of a torch.distributed launcher (``torchrun``)
    describes more than one process."""
    env = os.environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
    except ValueError:
        return False
    return world > 1 and "RANK" in env and "MASTER_ADDR" in env and "MASTER_PORT" in env


def data_parallel(mode, device):
    """The :class:`DataParallel` of a fit, or None for a one-process fit.

    ``mode``: ``"auto"`` joins the default process group when one is
    initialised, or starts it when a launcher's environment describes more
    than one process (gloo for a CPU ``device``; NCCL for CUDA, on the GPU
    ``LOCAL_RANK``; with :data:`DEFAULT_TIMEOUT`); ``False`` never does.
    """
    if mode is False or not dist.is_available():
        return None
    if not dist.is_initialized():
        if not launched():
            return None
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        if backend == "nccl" and "LOCAL_RANK" in os.environ:  # one GPU per process
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group(backend=backend, timeout=DEFAULT_TIMEOUT)
    if dist.get_world_size() < 2:
        return None
    return DataParallel(torch.device(device))


def group_timeout():
    """The timeout of the default process group (``init_process_group``'s
    ``timeout``), or :data:`DEFAULT_TIMEOUT` where torch does not tell it."""
    try:  # torch keeps it in the options of the group's CPU backend
        timeout = dist.group.WORLD._get_backend(torch.device("cpu")).options._timeout
    except Exception:  # a torch without these (private) fields, or no CPU backend
        return DEFAULT_TIMEOUT
    if isinstance(timeout, datetime.timedelta) and timeout.total_seconds() > 0:
        return timeout
    return DEFAULT_TIMEOUT


class DataParallel:
    """The ranks of the default process group, seen from one rank: the
    :class:`~.train.Sync` of a data-parallel fit in which every rank holds
    all rows and computes its share of each batch."""

    def __init__(self, device):
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.device = device
        self.local = None  # the shared-memory sums, when every rank is on this host
        self._loss = None  # the summed loss, written by each step's gradient sum
        self._update = None  # the SharedUpdate of the last split steps
        if SHARED_MEMORY and shared_sum.eligible(device, self.world_size):
            self.local = self._collective(
                shared_sum.SharedSum.setup, self.rank, self.world_size, group_timeout()
            )

    def share(self, n_rows, rank=None):
        """Rows ``[lo, hi)`` of a global batch of ``n_rows`` that this rank (or
        ``rank``) computes (contiguous parts whose sizes differ by at most one,
        lower ranks first)."""
        rank = self.rank if rank is None else rank
        base, extra = divmod(n_rows, self.world_size)
        lo = rank * base + min(rank, extra)
        return lo, lo + base + (1 if rank < extra else 0)

    def _collective(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RankFailure:
            raise
        except (RuntimeError, dist.DistError) as exc:
            raise RankFailure(
                f"rank {self.rank} of {self.world_size}: a torch.distributed collective "
                f"failed during training ({type(exc).__name__}: {exc}). Another rank has "
                "probably exited or stalled past the process group's timeout; this fit "
                "stopped."
            ) from exc

    def sum(self, tensor):
        """``tensor`` summed over ranks (in place, returned)."""
        if self.local is not None and tensor.device.type == "cpu":
            return self._collective(self.local.sum, tensor)
        self._collective(dist.all_reduce, tensor)
        return tensor

    def close(self):
        """Release the shared-memory path (the process group stays)."""
        if self.local is not None:
            self._update = None
            self.local.close()
            self.local = None

    def gather(self, tensor):
        """Every rank's ``tensor`` (same shape), in rank order."""
        out = [torch.empty_like(tensor) for _ in range(self.world_size)]
        self._collective(dist.all_gather, out, tensor)
        return out

    def broadcast(self, tensor, src=0):
        self._collective(dist.broadcast, tensor, src)
        return tensor

    def batch(self, n_rows):
        return global_batch(self, n_rows)

    def statistics(self, sums, n_samples):
        """``sums`` summed over ranks; ``n_samples`` (every rank's count of all
        rows) as it is."""
        return self.sum(sums), n_samples

    def gradients(self, params, loss):
        """Sum every gradient over ranks in one all-reduce; return the sum of
        the ranks' losses (finite exactly when every rank's loss is), so a fault
        on one rank is seen by all at the same step."""
        for p in params:  # a rank without rows in a batch still takes part
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        grads = [p.grad for p in params]
        parts = [g.reshape(-1) for g in grads] + [loss.detach().reshape(1).to(grads[0])]
        n = sum(part.numel() for part in parts)
        if self.local is not None and grads[0].device.type == "cpu":
            # Written straight into this rank's shared slot, and the sum written
            # back into the gradients that the backward pass allocated: replacing
            # them by views of another buffer frees them, and the allocator then
            # hands their pages back to the system and faults them in again at
            # the next backward pass (hundreds of page faults per step).
            self._collective(lambda: torch.cat(parts, out=self.local.slot(n, parts[0].dtype)))
            if self._loss is None:
                self._loss = torch.empty(1, dtype=parts[0].dtype)
            self._collective(self.local.reduce_into, [*grads, self._loss], parts[0].dtype)
            return self._loss[0]
        flat = torch.cat(parts)
        self.sum(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
        return flat[-1]

    @contextlib.contextmanager
    def steps(self, params, optimizer, guard):
        """Around an epoch's steps: through shared memory, yield the step that
        splits the update between the ranks (:mod:`.shared_update`); else None
        (every rank applies the whole update after :meth:`gradients`)."""
        if not self._splits_update(params, optimizer, guard):
            yield None
            return
        if self._update is None or not self._update.fits(params, optimizer):
            self._update = self._collective(
                shared_update.SharedUpdate, self.local, params, optimizer
            )
        shared = self._update
        with shared.steps():
            yield lambda loss: self._collective(shared.step, loss, guard)

    def _splits_update(self, params, optimizer, guard):
        """Whether :meth:`steps` splits the update (the same answer on every
        rank: it reads only what every rank has alike)."""
        return (
            SPLIT_UPDATE
            and self.local is not None
            and bool(params)
            and all(p.device.type == "cpu" and p.dtype == params[0].dtype for p in params)
            and hasattr(optimizer, "update")
            and (guard is None or (guard.max_grad_norm is None and guard.check_every == 1))
        )

    def check_same(self, values, what):
        """Raise a ValueError unless every rank passed the same ``values`` (ints)."""
        mine = torch.tensor(values, dtype=torch.float64, device=self.device)
        low, high = mine.clone(), mine.clone()
        self._collective(dist.all_reduce, low, op=dist.ReduceOp.MIN)
        self._collective(dist.all_reduce, high, op=dist.ReduceOp.MAX)
        if not torch.equal(low, high):
            raise ValueError(
                f"Data-parallel fit: the ranks passed different {what} "
                f"(from {low.tolist()} to {high.tolist()}); every rank must call fit "
                "with data of the same shape."
            )


@contextlib.contextmanager
def global_batch(parallel, n_rows):
    """Within the block, the helpers below see a global batch of ``n_rows``
    rows of which this rank holds ``parallel.share(n_rows)``."""
    token = _BATCH.set((parallel, n_rows, parallel.share(n_rows)))
    try:
        yield
    finally:
        _BATCH.reset(token)


def batch_rows(x):
    """Rows of the (global) batch that ``x`` is this rank's part of."""
    batch = _BATCH.get()
    return x.shape[0] if batch is None else batch[1]


def row_mean(values):
    """Mean over the global batch of per-row ``values``, as this rank's part
    (the ranks' parts add up to the mean once their gradients are summed)."""
    batch = _BATCH.get()
    if batch is None:
        return values.mean()
    return values.sum() / batch[1]


class _SumOverRanks(torch.autograd.Function):
    """Forward: the sum over ranks. Backward: the identity, so that each rank
    sends the (identical) upstream gradient into its own rows; summing the
    parameters' gradients over ranks then gives the gradient of the sum."""

    @staticmethod
    def forward(ctx, tensor, parallel):
        return parallel.sum(tensor.clone())

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def batch_mean(x):
    """``x.mean(dim=0)`` over the global batch (differentiable)."""
    batch = _BATCH.get()
    if batch is None:
        return x.mean(dim=0)
    parallel, n_rows, _ = batch
    return _SumOverRanks.apply(x.sum(dim=0), parallel) / n_rows


def batch_means(*xs):
    """``x.mean(dim=0)`` of each 2-d ``x`` over the global batch, with one
    all-reduce for all of them (differentiable)."""
    batch = _BATCH.get()
    if batch is None:
        return tuple(x.mean(dim=0) for x in xs)
    parallel, n_rows, _ = batch
    sums = torch.cat([x.sum(dim=0) for x in xs])
    means = _SumOverRanks.apply(sums, parallel) / n_rows
    return torch.split(means, [x.shape[1] for x in xs])


def batch_noise(draw, shape, generator):
    """``draw(shape, generator)`` for this rank's rows of the global batch: the
    whole batch's noise is drawn on every rank (keeping the generators equal)
    and each rank keeps its rows."""
    batch = _BATCH.get()
    if batch is None:
        return draw(shape, generator)
    _, n_rows, (lo, hi) = batch
    return tuple(t[lo:hi] for t in draw((n_rows, *shape[1:]), generator))
