"""Sums over the ranks of one host through shared memory (the data-parallel fast path).

gloo all-reduces over TCP: on one host a step's 3.75 MB gradient spends
most of its time in copies through the kernel and in wake-ups of gloo's
threads (docs/scaling.md). When every rank runs on one host, this module
sums instead through one shared-memory file that every rank maps:

- each rank writes its tensor into its own slot;
- the ranks meet at a barrier;
- every rank adds all slots in rank order, so every rank computes the same
  sum bit for bit (for two ranks it is also gloo's sum: ``a + b == b + a``).

Calls alternate between two sets of slots, so a rank that runs ahead never
writes a slot that a slower rank is still reading: it can be at most one
barrier ahead.

The barrier is a byte written to a pipe (a FIFO) towards every other rank,
then a byte read from every other rank's pipe. A rank that exits closes its
pipes, and the others read end-of-file at once and raise
:class:`RankFailure`; a rank that stalls makes them raise after the timeout.
So the failure semantics of the gloo path hold.

Setting up is collective (it uses the process group to agree on the file and
to check that every rank really shares it); any failure falls back to gloo
on every rank. The file and pipes are unlinked as soon as every rank has
opened them, so nothing is left behind when a process is killed.
"""

import mmap
import os
import select
import shutil
import tempfile
import time

import torch
import torch.distributed as dist

#: Most ranks on one host for this path: every rank reads every slot, so the
#: traffic of a sum grows with the ranks (a reduce-scatter pays off past this).
MAX_RANKS = 8

#: A barrier first watches the partners' arrival counters in shared memory,
#: yielding the CPU between looks, before it sleeps on a pipe: a partner that
#: arrives meanwhile costs no wake-up (on a virtual machine a wake-up can cost
#: more than the wait). It watches for at most this long; each watch that ends
#: without the partner halves the next one (down to a twentieth of it) and
#: each that sees it doubles it back, so that ranks that wait long (a busy
#: machine) stop spending CPU on watching.
SPIN_SECONDS = 2e-3

#: Then it polls its pipes for this long before sleeping in ``poll``.
POLL_SECONDS = 50e-6

#: Bytes between two ranks' arrival counters (one cache line each).
_FLAG_BYTES = 64

_ALIGN = 64


class RankFailure(RuntimeError):
    """A collective operation failed: another rank died, or stalled past the timeout."""


def eligible(device, world_size):
    """Whether this process can use shared memory with every rank: a CPU
    fit whose launcher put every rank on this host (``LOCAL_WORLD_SIZE`` equals
    ``WORLD_SIZE``, as ``torchrun`` sets them) on a system with FIFOs."""
    env = os.environ
    local = env.get("LOCAL_WORLD_SIZE")
    return (
        torch.device(device).type == "cpu"
        and hasattr(os, "mkfifo")
        and hasattr(select, "poll")
        and hasattr(os, "sched_yield")
        and 2 <= world_size <= MAX_RANKS
        and local is not None
        and local == env.get("WORLD_SIZE")
        and local == str(world_size)
    )


def _open_ends(directory, rank, world_size, end, ok):
    """Open this rank's read ends (pipes ``j-rank``) or write ends (``rank-j``).

    Returns the descriptors opened and whether all opened; nothing is tried
    when ``ok`` is already False.
    """
    fds = []
    if not ok:
        return fds, False
    try:
        for j in range(world_size):
            if j != rank:
                name = f"{j}-{rank}" if end == "read" else f"{rank}-{j}"
                flags = os.O_RDONLY if end == "read" else os.O_WRONLY
                fds.append(os.open(os.path.join(directory, name), flags | os.O_NONBLOCK))
    except OSError:
        return fds, False
    return fds, True


class SharedSum:
    """Sums of CPU tensors over the ranks of one host (see the module docstring).

    Build it with :meth:`setup` (collective). :meth:`slot` and :meth:`reduce`
    let a caller write its tensor straight into shared memory;
    :meth:`sum` is the in-place all-reduce.
    """

    def __init__(self, rank, world_size, readers, writers, timeout):
        self.rank, self.world_size = rank, world_size
        self._readers, self._writers = readers, writers
        self._timeout = timeout.total_seconds()
        self._map = None
        self._slots = None  # (2, world_size, slot bytes), uint8
        self._slot_bytes = 0
        self._calls = 0
        self._extra_maps = []  # those of shared_tensor
        # Barriers passed, and where each rank publishes its count (setup maps it).
        self._barriers = 0
        self._spin_seconds = SPIN_SECONDS
        self._arrivals_map = self._arrivals = None

    # -- setup (collective) ----------------------------------------------------
    @classmethod
    def setup(cls, rank, world_size, timeout):
        """A :class:`SharedSum` on every rank, or None on every rank (then the
        caller uses gloo). Collective: every rank calls it at the same point."""
        directory = None
        if rank == 0:
            try:
                base = "/dev/shm" if os.path.isdir("/dev/shm") else None
                directory = tempfile.mkdtemp(prefix="skvsc-", dir=base)
                for i in range(world_size):
                    for j in range(world_size):
                        if i != j:
                            os.mkfifo(os.path.join(directory, f"{i}-{j}"), 0o600)
            except OSError:
                directory = None
        names = [directory]
        dist.broadcast_object_list(names, src=0)
        directory = names[0]
        # Read ends first (non-blocking opens succeed without a writer); write
        # ends only once every rank holds its read ends.
        readers, ok = _open_ends(directory, rank, world_size, "read", directory is not None)
        ok = _all_ok(ok)
        writers, ok = _open_ends(directory, rank, world_size, "write", ok)
        ok = _all_ok(ok)
        if rank == 0 and directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        if not ok:
            for fd in readers + writers:
                os.close(fd)
            return None
        local = cls(rank, world_size, readers, writers, timeout)
        local._arrivals_map = local._map_file(world_size * _FLAG_BYTES)
        local._arrivals = memoryview(local._arrivals_map).cast("q")
        return local

    def _map_file(self, size):
        """A new shared mapping of ``size`` bytes on every rank (collective)."""
        names = [None]
        if self.rank == 0:
            base = "/dev/shm" if os.path.isdir("/dev/shm") else None
            fd, path = tempfile.mkstemp(prefix="skvsc-", dir=base)
            os.ftruncate(fd, size)
            os.close(fd)
            names = [path]
        dist.broadcast_object_list(names, src=0)
        with open(names[0], "r+b") as f:
            mapping = mmap.mmap(f.fileno(), size)
        self.barrier()  # every rank has mapped the file: it can go
        if self.rank == 0:
            os.unlink(names[0])
        return mapping

    def _grow(self, nbytes):
        """Map a shared file with slots of at least ``nbytes`` (collective; every
        rank asks for the same size at the same call)."""
        slot_bytes = max(2 * self._slot_bytes, -(-nbytes // _ALIGN) * _ALIGN)
        new_map = self._map_file(2 * self.world_size * slot_bytes)
        self._slots = None
        _close(self._map)
        self._map = new_map
        buffer = torch.frombuffer(new_map, dtype=torch.uint8)
        self._slots = buffer.view(2, self.world_size, slot_bytes)
        self._slot_bytes = slot_bytes

    def shared_tensor(self, numel, dtype):
        """A 1-d tensor of ``numel`` elements of ``dtype`` in memory that every
        rank maps (collective; zeros, valid until :meth:`close`)."""
        nbytes = numel * torch.empty((), dtype=dtype).element_size()
        mapping = self._map_file(max(nbytes, 1))
        self._extra_maps.append(mapping)
        return torch.frombuffer(mapping, dtype=torch.uint8)[:nbytes].view(dtype)

    # -- the collective ----------------------------------------------------------
    def slot(self, numel, dtype):
        """This rank's slot for the next :meth:`reduce`: a 1-d tensor of
        ``numel`` elements of ``dtype`` to write into."""
        nbytes = numel * torch.empty((), dtype=dtype).element_size()
        if nbytes > self._slot_bytes:
            self._grow(nbytes)
        return self._slots[self._calls % 2, self.rank, :nbytes].view(dtype)

    def exchange(self, numel, dtype):
        """Wait for every rank's slot of this call (written through :meth:`slot`)
        and return all of them, ``(world_size, numel)``, in rank order. They stay
        valid until this rank's next call but one."""
        nbytes = numel * torch.empty((), dtype=dtype).element_size()
        slots = self._slots[self._calls % 2, :, :nbytes].view(dtype)
        self._calls += 1
        self.barrier()
        return slots

    def reduce(self, numel, dtype):
        """The sum over ranks of the slots just written (a new tensor)."""
        return add_slots(self.exchange(numel, dtype), torch.empty(numel, dtype=dtype))

    def reduce_into(self, outs, dtype):
        """Like :meth:`reduce`, the sum written into ``outs`` (contiguous tensors
        of ``dtype`` whose elements, in order, are the slots' elements)."""
        slots = self.exchange(sum(out.numel() for out in outs), dtype)
        offset = 0
        for out in outs:
            add_slots(slots[:, offset : offset + out.numel()], out.view(-1))
            offset += out.numel()
        return outs

    def sum(self, tensor):
        """``tensor`` (a CPU tensor) summed over ranks, in place; returned."""
        flat = tensor.view(-1) if tensor.is_contiguous() else tensor.reshape(-1)
        self.slot(flat.numel(), flat.dtype).copy_(flat)
        total = self.reduce(flat.numel(), flat.dtype)
        tensor.copy_(total.view_as(tensor))
        return tensor

    def barrier(self):
        """Every rank has arrived; raise :class:`RankFailure` if one exited or
        stalled past the timeout."""
        try:
            for fd in self._writers:
                os.write(fd, b"\0")
        except OSError as exc:  # EPIPE: nobody reads that pipe any more
            raise self._failure(f"writing to another rank failed ({exc})") from None
        self._barriers += 1
        if self._arrivals is not None:  # after the byte: a rank that sees it, finds the byte
            self._arrivals[self.rank * _FLAG_BYTES // 8] = self._barriers
        for j, fd in enumerate(self._readers):
            other = j if j < self.rank else j + 1
            self._spin(other)
            self._read_one(fd, other)

    def _spin(self, other):
        """Wait up to :data:`SPIN_SECONDS` for rank ``other``'s counter to show
        this barrier (a hint only: the pipes decide)."""
        arrivals, index, count = self._arrivals, other * _FLAG_BYTES // 8, self._barriers
        if arrivals is None or arrivals[index] >= count:
            return
        spin_until = time.perf_counter() + self._spin_seconds
        while arrivals[index] < count:
            if time.perf_counter() > spin_until:
                self._spin_seconds = max(self._spin_seconds / 2, SPIN_SECONDS / 20)
                return
            os.sched_yield()
        self._spin_seconds = min(self._spin_seconds * 2, SPIN_SECONDS)

    def _read_one(self, fd, other):
        spin_until = time.perf_counter() + POLL_SECONDS
        while True:
            try:
                byte = os.read(fd, 1)
            except BlockingIOError:
                if time.perf_counter() < spin_until:
                    continue
                # poll, not select: select fails on descriptors past 1023.
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                if not poller.poll(1000 * self._timeout):
                    raise self._failure(
                        f"rank {other} did not arrive within {self._timeout:g} s"
                    ) from None
                continue
            if not byte:
                raise self._failure(f"rank {other} closed its pipe (it exited, or its fit failed)")
            return

    def _failure(self, what):
        return RankFailure(
            f"rank {self.rank} of {self.world_size}: a shared-memory collective failed "
            f"during training: {what}. Another rank has probably exited or stalled "
            "past the timeout; this fit stopped."
        )

    def close(self):
        for fd in self._readers + self._writers:
            os.close(fd)
        self._readers, self._writers = [], []
        self._slots = None
        _close(self._map)
        self._map = None
        if self._arrivals is not None:
            self._arrivals.release()
            self._arrivals = None
        _close(self._arrivals_map)
        self._arrivals_map = None
        for mapping in self._extra_maps:
            _close(mapping)
        self._extra_maps = []


def add_slots(slots, out):
    """``out`` = the sum of the rows of ``slots`` (a ``(world_size, k)`` tensor,
    or a list of one ``k``-element tensor per rank), in rank order, as every
    rank computes it."""
    torch.add(slots[0], slots[1], out=out)
    for row in slots[2:]:
        out.add_(row)
    return out


def _all_ok(ok):
    flag = torch.tensor([1 if ok else 0], dtype=torch.int32)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def _close(mapping):
    """Unmap now, or when the last tensor viewing it is freed."""
    if mapping is not None:
        try:
            mapping.close()
        except BufferError:  # a view is alive: the mapping goes with it
            pass
