"""The optimizer step of a data-parallel fit, split between the ranks of one host.

With the gradients summed through shared memory (:mod:`.shared_sum`) but
nothing else split, every rank adds the whole gradient, checks it and runs
Adam over every parameter: work that does not shrink with the number of
ranks. Here each rank does its part of it (ZeRO stage 1 on one host). During
an epoch's steps the parameters and Adam's moments live in one mapping that
every rank maps, the model's parameters are views of it, and rank ``r`` owns
the ``r``-th of ``world_size`` contiguous parts of the flattened parameters
(near equal sizes: each cut is moved down to an
:data:`ALIGN` boundary of its parameter). Each step:

- each rank writes into its slot the pieces of its gradient that lie in
  the other ranks' parts (its own part stays where the backward pass left
  it), its loss and the sum of its gradient's elements, and the ranks meet;
- every rank adds up every rank's loss and gradient sum, in rank order: the
  fault check (:meth:`~.guard.StepGuard.before_update`) takes the same
  decision on every rank, before anything is updated;
- each rank sums its part (its own gradient's piece and the others'
  slots, in rank order) and updates its part of the parameters and
  moments in place (Adam is element-wise, so the parts'
  updates make the update of the whole);
- the ranks meet again: every part is updated before any rank's next
  forward pass reads the parameters.

Between epochs the model and the optimizer hold private tensors again: rank
0 copies them into the mapping when an epoch's steps start, every rank
copies the mapping back when they end (also when a step raised). So
everything that runs between epochs (revival, snapshots, saving) sees
ordinary tensors, equal on every rank, and may change them in place.
"""

import contextlib

import torch

from .guard import grad_total
from .shared_sum import add_slots

#: Parts start and end at multiples of this many elements from the start of a
#: parameter (or at its ends): the vectorised Adam kernel then treats every
#: element of a part as it does in the update of the whole parameter (the
#: scalar tail of a vector loop may round differently), so the split update
#: is the one-process update bit for bit.
ALIGN = 64


def part_bounds(sizes, n_parts):
    """Where the flattened parameters (of ``sizes`` elements) are cut into
    ``n_parts`` contiguous parts: ``n_parts + 1`` offsets, near equal parts,
    each cut inside a parameter rounded down to :data:`ALIGN` from its start."""
    starts = [0]
    for size in sizes:
        starts.append(starts[-1] + size)
    n = starts[-1]
    cuts = [0]
    for r in range(1, n_parts):
        target = r * n // n_parts
        i = max(j for j in range(len(sizes)) if starts[j] <= target)
        cuts.append(max(cuts[-1], starts[i] + (target - starts[i]) // ALIGN * ALIGN))
    return [*cuts, n]


class SharedUpdate:
    """The split optimizer step of :mod:`this module <.shared_update>` for
    ``params`` (a list, all of one dtype on the CPU) and ``optimizer``
    (:class:`~.optim.Adam`), over ``local`` (a :class:`~.shared_sum.SharedSum`).
    Building it is collective (it maps shared memory)."""

    def __init__(self, local, params, optimizer):
        self.local, self.optimizer = local, optimizer
        self.params = list(params)
        self.dtype = self.params[0].dtype
        self.sizes = [p.numel() for p in self.params]
        self.n = n = sum(self.sizes)
        # Rows: the parameters, the first moments, the second moments.
        self.buffer = local.shared_tensor(3 * n, self.dtype).view(3, n)
        cuts = part_bounds(self.sizes, local.world_size)
        self.lo, self.hi = cuts[local.rank], cuts[local.rank + 1]
        self.grad = torch.empty(self.hi - self.lo, dtype=self.dtype)
        self.tail = torch.empty(2, dtype=self.dtype)  # summed loss and gradient total
        # This rank's part: per parameter that overlaps it, the views of the
        # overlap in the mapping's three rows (``part_rows``: parameters, first
        # moments, second moments) and in ``grad`` (``part_grads``), and the
        # parameter's index (``part_index``). ``inside`` and ``outside``:
        # (parameter index, start, stop, flat offset) of the gradient's pieces
        # in this rank's part and in the others'.
        self.part_rows, self.part_grads, self.part_index = ([], [], []), [], []
        self.inside, self.outside = [], []
        offset = 0
        for i, size in enumerate(self.sizes):
            start, stop = max(self.lo, offset), min(self.hi, offset + size)
            if start < stop:
                for views, row in zip(self.part_rows, self.buffer):
                    views.append(row[start:stop])
                self.part_grads.append(self.grad[start - self.lo : stop - self.lo])
                self.part_index.append(i)
                self.inside.append((i, start - offset, stop - offset, start))
            before = (offset, min(self.lo, offset + size))
            after = (max(self.hi, offset), offset + size)
            for a, b in (before, after):
                if a < b:
                    self.outside.append((i, a - offset, b - offset, a))
            offset += size

    def fits(self, params, optimizer):
        """Whether this update serves ``params`` and ``optimizer``."""
        return (
            optimizer is self.optimizer
            and len(params) == len(self.params)
            and all(p is q for p, q in zip(params, self.params))
            and all(p.numel() == size for p, size in zip(params, self.sizes))
            and all(p.dtype == self.dtype for p in params)
        )

    @contextlib.contextmanager
    def steps(self):
        """Within the block the parameters are views of the mapping and
        :meth:`step` updates them; the private tensors are back afterwards."""
        local, params, buffer = self.local, self.params, self.buffer
        states = [self.optimizer.state_of(p) for p in params]
        moments = [[s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]]
        local.barrier()  # every rank has copied the last block's values out
        if local.rank == 0:
            for row, tensors in zip(buffer, [[p.detach() for p in params], *moments]):
                torch.cat([t.reshape(-1) for t in tensors], out=row)
        local.barrier()  # ... and in: every rank may read them
        private = [p.data for p in params]
        views = self._views(buffer[0])
        for p, view in zip(params, views):
            p.data = view
        self._moments = [self._views(buffer[1]), self._views(buffer[2])]
        try:
            yield self
        finally:
            for p, mine, view in zip(params, private, views):
                mine.copy_(view)
                p.data = mine
            for tensors, shared in zip(moments, self._moments):
                for mine, view in zip(tensors, shared):
                    mine.copy_(view)
            self._moments = None

    def _views(self, row):
        views, offset = [], 0
        for p, size in zip(self.params, self.sizes):
            views.append(row[offset : offset + size].view_as(p))
            offset += size
        return views

    @torch.no_grad()
    def step(self, loss, guard=None):
        """Sum the gradients, check them (``guard``, a
        :class:`~.guard.StepGuard` without clipping) and update this rank's
        part; return the loss summed over ranks."""
        local, params, n = self.local, self.params, self.n
        for p in params:  # a rank without rows in a batch still takes part
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        grads = [p.grad.reshape(-1) for p in params]
        # Into this rank's slot: the pieces of its gradient that the other
        # ranks sum (its own part it reads where backward left it), its loss,
        # and the sum of all its gradient's elements (the fault check's).
        slot = local.slot(n + 2, self.dtype)
        for i, start, stop, at in self.outside:
            slot[at : at + stop - start].copy_(grads[i][start:stop])
        slot[n] = loss.detach()
        slot[n + 1] = grad_total(params)
        slots = local.exchange(n + 2, self.dtype)
        tail = add_slots(slots[:, n:], self.tail)
        if guard is not None:
            guard.before_update(tail[0], total=tail[1])
        for (i, start, stop, at), out in zip(self.inside, self.part_grads):
            # The sum in rank order; this rank's piece from its own gradient.
            pieces = list(slots[:, at : at + stop - start])
            pieces[local.rank] = grads[i][start:stop]
            add_slots(pieces, out)
        steps = [self.optimizer.state_of(p)["step"] for p in params]
        torch._foreach_add_(steps, 1)  # every parameter's count, as in one process
        params_part, exp_avgs, exp_avg_sqs = self.part_rows
        steps_part = [steps[i] for i in self.part_index]
        self.optimizer.update(params_part, self.part_grads, exp_avgs, exp_avg_sqs, steps_part)
        local.barrier()  # every part is updated before the next forward pass
        return tail[0]
