"""Data-parallel training under torchrun (gloo, CPU): two ranks train one model.

Each test starts ``python -m torch.distributed.run --standalone`` (a free
port on localhost) with 2 ranks running tests/distributed_job.py, and
compares what the ranks wrote with a one-process fit of the same estimator.
"""

import itertools
import mmap
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import skvsc
from skvsc import VariationalSparseCoder, _chunked
from skvsc._core import shared_sum
from skvsc._core.distributed import DataParallel, RankFailure, data_parallel
from skvsc._core.shared_sum import SharedSum

sys.path.insert(0, str(Path(__file__).parent))
from distributed_job import PARAMS, STALL_SECONDS, STALL_TIMEOUT, STREAMING, data

JOB = Path(__file__).parent / "distributed_job.py"
ROOT = Path(__file__).resolve().parents[1]
#: A job that hangs instead of failing would hit this bound (seconds).
JOB_TIMEOUT = 240

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)


def run_job(tmp_path, mode, n_ranks=2):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={n_ranks}", str(JOB), str(tmp_path), mode]
    start = time.perf_counter()
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=JOB_TIMEOUT
    )
    elapsed = time.perf_counter() - start
    ranks = [tmp_path / f"rank{r}.npz" for r in range(n_ranks)]
    return result, elapsed, [dict(np.load(p)) if p.exists() else None for p in ranks]


def one_process_fit(X):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return VariationalSparseCoder(**PARAMS).fit(X)
    finally:
        torch.set_num_threads(previous)


def weights(est):
    return torch.cat([p.detach().reshape(-1) for p in est.module_.parameters()]).numpy()


@pytest.mark.parametrize("path", ["shared memory", "shared memory, whole update", "gloo"])
def test_two_ranks_train_the_one_process_model(tmp_path, path):
    modes = {"shared memory": "same", "shared memory, whole update": "same_whole"}
    result, _, ranks = run_job(tmp_path, modes.get(path, "same_gloo"))
    assert result.returncode == 0, result.stderr[-3000:]
    # One host: the sums go through shared memory unless switched off, and
    # then each rank updates its part of the parameters unless switched off.
    assert (ranks[0]["shared_sums"] > 0) == (path != "gloo")
    assert (ranks[0]["split_steps"] > 0) == (path == "shared memory")
    # skvsc.save writes once, on rank 0 (the job asks every rank for its own file).
    assert (tmp_path / "model0.skvsc").exists() and not (tmp_path / "model1.skvsc").exists()
    np.testing.assert_array_equal(
        skvsc.load(tmp_path / "model0.skvsc").transform(data(0)), ranks[0]["code"]
    )
    reference = one_process_fit(data(0))
    for rank in ranks:
        np.testing.assert_array_equal(rank["weights"], ranks[0]["weights"])
        np.testing.assert_allclose(rank["loss_curve"], reference.loss_curve_, rtol=1e-5)
        np.testing.assert_allclose(rank["code"], reference.transform(data(0)), atol=1e-5)
        np.testing.assert_allclose(rank["weights"], weights(reference), atol=1e-5)
        np.testing.assert_array_equal(rank["activation_rates"], reference.activation_rates_)
        # The end-of-fit statistics: each rank encoded half of the rows (the
        # first pass; the second is the job's own one-process check), and the
        # merged statistics are those of one process encoding every row.
        assert rank["encoded"][0] == 250
        np.testing.assert_array_equal(
            rank["sharded_activation_rates"], rank["alone_activation_rates"]
        )
        for name in ("code_variance", "unit_values", "mean_active_units", "vae_variance"):
            np.testing.assert_allclose(rank[f"sharded_{name}"], rank[f"alone_{name}"], rtol=1e-10)


def test_each_rank_gradients_reach_the_other_model(tmp_path):
    # Rank 1 holds other data than rank 0: the ranks still end with one model,
    # and it is not the model of rank 0's data alone.
    result, _, ranks = run_job(tmp_path, "different")
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(ranks[0]["weights"], ranks[1]["weights"])
    alone = weights(one_process_fit(data(0)))
    other = weights(one_process_fit(data(1)))
    assert np.abs(ranks[0]["weights"] - alone).max() > 1e-3
    assert np.abs(ranks[0]["weights"] - other).max() > 1e-3


def test_a_nan_on_one_rank_stops_every_rank_with_the_same_error(tmp_path):
    result, _, ranks = run_job(tmp_path, "nan")
    assert result.returncode != 0
    errors = [str(rank["error"]) for rank in ranks]
    assert errors[0] == errors[1]
    assert "FloatingPointError" in errors[0] and "step 3" in errors[0]


@pytest.mark.parametrize("mode", ["kill", "kill_gloo"])
def test_a_dead_rank_ends_the_job_with_an_error(tmp_path, mode):
    result, elapsed, ranks = run_job(tmp_path, mode)
    assert result.returncode != 0
    assert elapsed < JOB_TIMEOUT
    # The launcher may stop rank 0 first; if rank 0 saw the failure, it said so.
    assert ranks[1] is None
    if ranks[0] is not None:
        assert "collective failed" in str(ranks[0]["error"])


def test_a_stalled_rank_fails_the_others_within_the_group_timeout(tmp_path):
    # The caller's process group has a short timeout: the shared-memory sums
    # follow it, so rank 0 fails long before rank 1 wakes up.
    result, elapsed, ranks = run_job(tmp_path, "stall")
    assert result.returncode != 0
    assert elapsed < STALL_SECONDS / 2
    seconds = STALL_TIMEOUT.total_seconds()
    assert f"rank 1 did not arrive within {seconds:g} s" in str(ranks[0]["error"])


def test_streamed_memmap_two_ranks(tmp_path, monkeypatch):
    # Each rank checks half of the rows and reads its own part of every epoch;
    # the merged statistics are the one-process ones, the model is one.
    X = data(0).astype(np.float32)
    np.save(tmp_path / "memmap.npy", X)
    result, _, ranks = run_job(tmp_path, "memmap")
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(ranks[0]["weights"], ranks[1]["weights"])
    for name, value in STREAMING.items():
        monkeypatch.setattr(_chunked, name, value)
    memmap = np.load(tmp_path / "memmap.npy", mmap_mode="r")
    alone = VariationalSparseCoder(**{**PARAMS, "likelihood": "gaussian"}).fit(memmap)
    state = alone.module_.likelihood.state_dict()
    shift, scale = state["shift"].numpy(), state["scale"].numpy()
    np.testing.assert_allclose(ranks[0]["shift"], shift, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ranks[0]["scale"], scale, rtol=1e-6)


def test_streamed_missing_values_two_ranks(tmp_path, monkeypatch):
    # NaN entries streamed from a memmap under torchrun: the ranks merge
    # observed-only statistics into the one-process ones, train the masked
    # objective as one model, and save a model whose encoder reads the mask.
    X = data(0).astype(np.float32)
    hide = np.random.default_rng(0).random(X.shape) < 0.2
    X[hide] = np.nan
    np.save(tmp_path / "memmap_nan.npy", X)
    result, _, ranks = run_job(tmp_path, "memmap_nan")
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(ranks[0]["weights"], ranks[1]["weights"])
    assert np.isfinite(ranks[0]["loss_curve"]).all()
    assert np.isfinite(ranks[0]["code"]).all()
    for name, value in STREAMING.items():
        monkeypatch.setattr(_chunked, name, value)
    memmap = np.load(tmp_path / "memmap_nan.npy", mmap_mode="r")
    alone = VariationalSparseCoder(**{**PARAMS, "likelihood": "gaussian"}).fit(memmap)
    state = alone.module_.likelihood.state_dict()
    np.testing.assert_allclose(ranks[0]["shift"], state["shift"].numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ranks[0]["scale"], state["scale"].numpy(), rtol=1e-6)
    model = skvsc.load(tmp_path / "model0.skvsc")
    assert model.module_.missing and alone.module_.missing
    code = model.transform(X[:50])
    assert np.isfinite(code).all()


def test_streamed_early_stopping_two_ranks(tmp_path, monkeypatch):
    # Both ranks hold out the same blocks, score their shares of them, and
    # stop at the same epoch; the score is the ELBO of all held-out rows.
    X = data(0).astype(np.float32)
    np.save(tmp_path / "memmap_early.npy", X)
    result, _, ranks = run_job(tmp_path, "memmap_early")
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(ranks[0]["weights"], ranks[1]["weights"])
    np.testing.assert_array_equal(ranks[0]["validation_scores"], ranks[1]["validation_scores"])
    assert int(ranks[0]["n_iter"]) == int(ranks[1]["n_iter"]) == len(ranks[0]["validation_scores"])
    for name, value in STREAMING.items():
        monkeypatch.setattr(_chunked, name, value)
    held_out = []
    hold_out = _chunked.hold_out
    monkeypatch.setattr(
        _chunked, "hold_out", lambda *a: held_out.append(hold_out(*a)) or held_out[-1]
    )
    memmap = np.load(tmp_path / "memmap_early.npy", mmap_mode="r")
    params = {**PARAMS, "likelihood": "gaussian", "early_stopping": True, "max_iter": 4}
    VariationalSparseCoder(**params, n_iter_no_change=1).fit(memmap)  # the same split
    validation = held_out[0][1]
    rows = np.concatenate([np.arange(a, b) for a, b in validation.ranges])
    model = skvsc.load(tmp_path / "model0.skvsc")
    best = ranks[0]["validation_scores"].max()
    np.testing.assert_allclose(model.score(X[rows]), best, rtol=1e-5)


def test_bad_data_in_one_rank_part_stops_both(tmp_path):
    X = data(0).astype(np.float32)
    X[-1, 0] = np.inf  # in rank 1's half (NaN is a missing value)
    np.save(tmp_path / "memmap_bad.npy", X)
    result, _, ranks = run_job(tmp_path, "memmap_bad")
    assert result.returncode != 0
    assert "Another rank found invalid values" in str(ranks[0]["error"])
    assert "Input X contains infinity" in str(ranks[1]["error"])


def test_outside_a_launcher_nothing_is_distributed(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert data_parallel("auto", "cpu") is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")
    assert data_parallel(False, "cpu") is None  # switched off: never joins


@pytest.mark.parametrize("n_rows", [1, 2, 5, 64, 65])
def test_shares_cover_each_batch_once(n_rows):
    parts = []
    for rank in range(3):
        parallel = object.__new__(DataParallel)
        parallel.rank, parallel.world_size = rank, 3
        parts.append(parallel.share(n_rows))
    assert parts[0][0] == 0 and parts[-1][1] == n_rows
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    sizes = [hi - lo for lo, hi in parts]
    assert max(sizes) - min(sizes) <= 1


def test_a_failed_collective_names_the_likely_cause():
    parallel = object.__new__(DataParallel)
    parallel.rank, parallel.world_size = 1, 2

    def broken(*args):
        raise RuntimeError("Connection closed by peer")

    with pytest.raises(RankFailure, match="rank 1 of 2.*probably exited or stalled"):
        parallel._collective(broken)


def pipe_pair(timeout_s):
    """A rank-0 SharedSum whose one partner is this test: ``(sum, partner_write_fd)``."""
    import datetime

    read_end, partner_write = os.pipe()
    partner_read, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    local = SharedSum(0, 2, [read_end], [write_end], datetime.timedelta(seconds=timeout_s))
    return local, partner_write, partner_read


def test_shared_memory_barrier_passes_when_the_partner_arrives():
    local, partner_write, partner_read = pipe_pair(5)
    os.write(partner_write, b"\0")
    local.barrier()
    assert os.read(partner_read, 1) == b"\0"  # and it told the partner it arrived
    local.close()
    os.close(partner_write), os.close(partner_read)


def test_shared_memory_barrier_fails_at_once_when_the_partner_exits():
    local, partner_write, partner_read = pipe_pair(300)
    os.close(partner_write)  # what the kernel does when the partner process dies
    start = time.perf_counter()
    with pytest.raises(RankFailure, match="rank 1 closed its pipe.*probably exited"):
        local.barrier()
    assert time.perf_counter() - start < 5
    local.close()
    os.close(partner_read)


def test_shared_memory_barrier_fails_when_the_partner_stalls():
    local, partner_write, partner_read = pipe_pair(0.2)
    with pytest.raises(RankFailure, match="rank 1 did not arrive within 0.2 s"):
        local.barrier()
    local.close()
    os.close(partner_write), os.close(partner_read)


def with_arrivals(local):
    """``local`` with arrival counters (in a private mapping, as setup maps a shared one)."""
    local._arrivals_map = mmap.mmap(-1, 2 * 64)
    local._arrivals = memoryview(local._arrivals_map).cast("q")
    return local


def test_shared_memory_barrier_sees_a_partner_arrive_while_it_watches():
    local, partner_write, partner_read = pipe_pair(5)
    with_arrivals(local)

    def arrive():  # the partner's barrier: the byte, then its counter
        time.sleep(0.0005)
        os.write(partner_write, b"\0")
        local._arrivals[64 // 8] = 1

    thread = threading.Thread(target=arrive)
    thread.start()
    local.barrier()
    thread.join()
    assert local._arrivals[0] == 1  # it published its own arrival
    assert os.read(partner_read, 1) == b"\0"
    local.close()
    os.close(partner_write), os.close(partner_read)


def test_a_watch_that_ends_without_the_partner_shortens_the_next():
    local, partner_write, partner_read = pipe_pair(0.2)
    with_arrivals(local)
    with pytest.raises(RankFailure, match="rank 1 did not arrive within 0.2 s"):
        local.barrier()
    assert local._spin_seconds == shared_sum.SPIN_SECONDS / 2
    local.close()
    os.close(partner_write), os.close(partner_read)
