"""A training source that streams rows from data too large for memory.

:class:`StreamSource` reads rows through ``read_into(out, start, stop)``
(contiguous row ranges of a memory-mapped file, a dask array, an HDF5 or
zarr dataset) and never holds more than two shuffle buffers. The order of
an epoch, from one seed drawn from the training generator:

1. the rows are cut into blocks of ``block_rows`` consecutive rows and the
   blocks are shuffled; laid end to end they make the epoch's row sequence;
2. the sequence is cut into shuffle buffers of ``buffer_rows`` rows; each
   buffer is read (one contiguous read per block) and its rows are shuffled;
3. batches are taken from the shuffled buffers in order.

A row therefore meets rows of other blocks within its buffer only: the
shuffle is exact when one buffer holds every row. In a data-parallel fit the
row sequence is split into one contiguous part per rank, sized to the rank's
shares of the global batches, so that each rank reads only its part; the
buffers are then shuffled with a per-rank seed. The next buffer is read in a
background thread while the current one trains. For a GPU each batch is
gathered into pinned host memory and copied asynchronously.
"""

import concurrent.futures

import numpy as np
import torch


def share_of(n_rows, rank, world_size):
    """Rows ``[lo, hi)`` of a batch of ``n_rows`` computed by ``rank`` (as
    :meth:`~.distributed.DataParallel.share`)."""
    base, extra = divmod(n_rows, world_size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def file_ranges(block_order, block_rows, n_samples, start, stop):
    """Contiguous row ranges ``(begin, end)`` of the data that make up positions
    ``[start, stop)`` of the sequence of blocks laid end to end in ``block_order``."""
    ranges, position = [], 0
    for block in block_order:
        begin = block * block_rows
        size = min(block_rows, n_samples - begin)
        lo, hi = max(start, position), min(stop, position + size)
        if lo < hi:
            ranges.append((begin + lo - position, begin + hi - position))
        position += size
        if position >= stop:
            break
    return ranges


class StreamSource:
    """Rows read in chunks from the host, shuffled within buffers (module docstring)."""

    def __init__(self, rows, device, dtype, *, block_rows, buffer_rows):
        self.rows = rows  # has n_samples-like shape and read_into(out, start, stop)
        self.n_samples, self.n_features = rows.shape
        self.device, self.dtype = torch.device(device), dtype
        self.block_rows = max(1, int(block_rows))
        self.buffer_rows = max(self.block_rows, int(buffer_rows))
        self.index_device = torch.device("cpu")
        self._slots = [None, None]
        self._pin = self.device.type == "cuda"  # batches go through pinned memory

    def take(self, idx):
        """Rows ``idx`` (the validation ELBO's consecutive rows: one read)."""
        n = len(idx)
        if n and int(idx[-1]) - int(idx[0]) == n - 1 and bool((idx.diff() == 1).all()):
            out = np.empty((n, self.n_features), dtype=self._np_dtype)
            self.rows.read_into(out, int(idx[0]), int(idx[0]) + n)
            rows = torch.from_numpy(out)
            if self._pin:
                rows = rows.pin_memory()
            return rows.to(self.device, non_blocking=True)
        order = torch.argsort(idx)
        out = np.empty((len(idx), self.n_features), dtype=self._np_dtype)
        for k, i in enumerate(idx[order].tolist()):
            self.rows.read_into(out[k : k + 1], i, i + 1)
        rows = torch.from_numpy(out)[torch.argsort(order)]
        if self._pin:
            rows = rows.pin_memory()
        return rows.to(self.device, non_blocking=True)

    @property
    def _np_dtype(self):
        return torch.empty((), dtype=self.dtype).numpy().dtype

    def _read(self, ranges, slot):
        """The rows of ``ranges`` read into buffer ``slot`` (0 or 1, alternately:
        one trains while the other is read; reused across buffers and epochs
        rather than allocated and faulted in anew)."""
        n_rows = sum(b - a for a, b in ranges)
        if self._slots[slot] is None or len(self._slots[slot]) < n_rows:
            self._slots[slot] = np.empty((n_rows, self.n_features), dtype=self._np_dtype)
        out = self._slots[slot][:n_rows]
        position = 0
        for a, b in ranges:
            self.rows.read_into(out[position : position + b - a], a, b)
            position += b - a
        return torch.from_numpy(out)

    def epoch_batches(self, batch_size, generator, sync=None):
        """Yield ``(rows, n_rows)``: this rank's rows of each global batch of ``n_rows``."""
        n = self.n_samples
        # One draw from the training generator, the same on every rank.
        seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
        blocks = torch.Generator().manual_seed(seed)
        n_blocks = -(-n // self.block_rows)
        block_order = torch.randperm(n_blocks, generator=blocks).tolist()
        rank, world = (0, 1) if sync is None else (sync.rank, sync.world_size)
        sizes = [min(batch_size, n - s) for s in range(0, n, batch_size)]
        totals = [sum(np.diff(share_of(b, r, world)).item() for b in sizes) for r in range(world)]
        start = sum(totals[:rank])
        stop = start + totals[rank]
        buffers = [
            file_ranges(block_order, self.block_rows, n, a, min(stop, a + self.buffer_rows))
            for a in range(start, stop, self.buffer_rows)
        ]
        shuffles = torch.Generator().manual_seed(seed + 1 + rank)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = [pool.submit(self._read, r, 0) for r in buffers[:1]]
            next_buffer = 1
            current, perm, position = None, None, 0
            for n_rows in sizes:
                lo, hi = share_of(n_rows, rank, world)
                # Gathered straight into pinned memory for a GPU (the copy below
                # is then asynchronous; the caching host allocator keeps the
                # block until it is done).
                rows = torch.empty(
                    (hi - lo, self.n_features), dtype=self.dtype, pin_memory=self._pin
                )
                need, filled = hi - lo, 0
                while need > 0:
                    if current is None or position == len(perm):
                        current = pending.pop(0).result()
                        perm = torch.randperm(len(current), generator=shuffles)
                        position = 0
                        if next_buffer < len(buffers):  # read ahead while this one trains
                            slot = next_buffer % 2
                            pending.append(pool.submit(self._read, buffers[next_buffer], slot))
                            next_buffer += 1
                    k = min(need, len(perm) - position)
                    part = perm[position : position + k]
                    torch.index_select(current, 0, part, out=rows[filled : filled + k])
                    position, filled, need = position + k, filled + k, need - k
                yield rows.to(self.device, non_blocking=True), n_rows
