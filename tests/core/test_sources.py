"""The streamed training source: the order of an epoch (blocks, shuffle buffers,
ranks), its reads, and its rows in the requested dtype."""

import itertools

import numpy as np
import pytest
import torch

from skvsc._core.sources import StreamSource, file_ranges, share_of


class Rows:
    """``n`` rows whose first column is the row's index; counts the reads."""

    def __init__(self, n=1003, n_features=2):
        self.shape = (n, n_features)
        self.reads = []

    def read_into(self, out, start, stop):
        assert out.shape == (stop - start, self.shape[1])  # a real dataset's read would fail
        self.reads.append((start, stop))
        out[:] = 0
        out[:, 0] = np.arange(start, stop)


class Parallel:
    def __init__(self, rank, world_size):
        self.rank, self.world_size = rank, world_size


def epoch(source, seed=5, batch_size=64, sync=None):
    batches = list(source.epoch_batches(batch_size, torch.Generator().manual_seed(seed), sync))
    return [b for b, _ in batches], [n for _, n in batches]


def test_share_of_splits_a_batch_into_contiguous_near_equal_parts():
    for n_rows, world in ((64, 3), (5, 4), (2, 3)):
        parts = [share_of(n_rows, r, world) for r in range(world)]
        assert parts[0][0] == 0 and parts[-1][1] == n_rows
        assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
        sizes = [hi - lo for lo, hi in parts]
        assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    assert [share_of(5, r, 2) for r in range(2)] == [(0, 3), (3, 5)]


def test_file_ranges_cover_the_block_sequence():
    order = [2, 0, 1]  # blocks of 4 rows over 10 rows: [8, 10), [0, 4), [4, 8)
    assert file_ranges(order, 4, 10, 0, 10) == [(8, 10), (0, 4), (4, 8)]
    assert file_ranges(order, 4, 10, 1, 5) == [(9, 10), (0, 3)]
    assert file_ranges(order, 4, 10, 2, 6) == [(0, 4)]  # exactly one block
    assert file_ranges(order, 4, 10, 6, 10) == [(4, 8)]


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_stream_epoch_reads_every_row_once(world_size):
    source = StreamSource(Rows(), "cpu", torch.float64, block_rows=37, buffer_rows=200)
    seen, sizes = [], None
    for rank in range(world_size):
        parts, batch_sizes = epoch(source, sync=Parallel(rank, world_size))
        assert [len(p) for p in parts] == [
            np.diff(share_of(n, rank, world_size)).item() for n in batch_sizes
        ]
        assert all(p.dtype == torch.float64 for p in parts)
        sizes = sizes or batch_sizes
        assert batch_sizes == sizes == [64] * 15 + [43]  # the global batches, on every rank
        seen.append(torch.cat(parts)[:, 0])
    rows = torch.cat(seen).long()
    assert sorted(rows.tolist()) == list(range(1003))
    assert rows.tolist() != list(range(1003))  # shuffled


def test_a_buffer_mixes_the_rows_of_its_blocks_only():
    # Blocks of 10 rows, buffers of 30: the first 30 rows of the epoch are the
    # rows of three whole blocks, shuffled among themselves.
    rows = Rows(100)
    source = StreamSource(rows, "cpu", torch.float32, block_rows=10, buffer_rows=30)
    parts, _ = epoch(source, batch_size=15)
    order = torch.cat(parts)[:, 0].long()
    for start in (0, 30, 60):
        blocks = set((order[start : start + 30] // 10).tolist())
        assert len(blocks) == 3
        assert sorted(order[start : start + 30].tolist()) == sorted(
            i for b in blocks for i in range(10 * b, 10 * b + 10)
        )
    # One contiguous read per block, each buffer read once.
    assert sorted(rows.reads) == [(10 * b, 10 * b + 10) for b in range(10)]


def test_buffers_alternate_between_two_slots():
    # The next buffer is read while the current one trains: never into its slot.
    source = StreamSource(Rows(100), "cpu", torch.float32, block_rows=10, buffer_rows=30)
    slots, read = [], source._read
    source._read = lambda ranges, slot: slots.append(slot) or read(ranges, slot)
    epoch(source, batch_size=15)
    assert slots == [0, 1, 0, 1]  # buffers of 30, 30, 30 and 10 rows


def test_the_order_follows_the_training_generator_only():
    source = StreamSource(Rows(200), "cpu", torch.float32, block_rows=16, buffer_rows=64)
    state = torch.get_rng_state()
    first, same, other = (torch.cat(epoch(source, seed)[0])[:, 0] for seed in (1, 1, 2))
    assert torch.get_rng_state().equal(state)
    assert torch.equal(first, same) and not torch.equal(first, other)
    # Two epochs from one generator differ (each draws its own seed).
    generator = torch.Generator().manual_seed(1)
    a, b = ([r for r, _ in source.epoch_batches(64, generator)] for _ in range(2))
    assert not torch.equal(torch.cat(a), torch.cat(b))


def test_block_and_buffer_sizes_are_at_least_one_block():
    source = StreamSource(Rows(10), "cpu", torch.float32, block_rows=0.5, buffer_rows=3)
    assert (source.block_rows, source.buffer_rows) == (1, 3)
    source = StreamSource(Rows(10), "cpu", torch.float32, block_rows=4, buffer_rows=2)
    assert (source.block_rows, source.buffer_rows) == (4, 4)
    assert sorted(torch.cat(epoch(source, batch_size=3)[0])[:, 0].tolist()) == list(range(10))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_take_reads_consecutive_rows_at_once_and_others_one_by_one(dtype):
    rows = Rows(50, n_features=3)
    source = StreamSource(rows, "cpu", dtype, block_rows=8, buffer_rows=16)
    taken = source.take(torch.arange(10, 17))
    assert rows.reads == [(10, 17)]  # the validation rows: one read
    assert taken.dtype == dtype and taken[:, 0].tolist() == list(range(10, 17))
    rows.reads.clear()
    taken = source.take(torch.tensor([30, 4, 12]))
    assert taken[:, 0].tolist() == [30, 4, 12]  # in the order asked for
    assert taken.dtype == dtype
    assert sorted(rows.reads) == [(4, 5), (12, 13), (30, 31)]
    assert source.take(torch.tensor([], dtype=torch.int64)).shape == (0, 3)
