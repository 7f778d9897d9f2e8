"""The automatic thread count of ``n_threads=None`` (``_device.auto_threads``)."""

import numpy as np
import pytest
import torch

from skvsc import VariationalSparseCoder, _device
from skvsc._core.networks import MLP
from skvsc._device import (
    MIN_PARALLEL_FLOPS,
    auto_threads,
    env_thread_limit,
    torch_threads,
)

BIG = 10 * MIN_PARALLEL_FLOPS


def pick(**inputs):
    """auto_threads with every input given: an idle 2-core machine unless
    overridden."""
    base = {"cpus": 2, "current": 2, "environ": {}, "busy": 0.0, "machine_cpus": 2}
    return auto_threads(**{"work": BIG, **base, **inputs})


def test_idle_machine_uses_every_core():
    assert pick() == 2
    assert pick(cpus=8, current=8, machine_cpus=8) == 8


def test_one_busy_process_on_two_cores_gives_one_thread():
    # A second thread would share a core with the other process and stall
    # every barrier.
    assert pick(busy=1.0) == 1
    assert pick(busy=0.6) == 1
    assert pick(busy=0.2) == 2  # a blip is not a busy core


def test_loaded_machine_never_gives_zero():
    assert pick(busy=7.0) == 1
    assert pick(busy=3.0, cpus=16, current=16, machine_cpus=16) == 13


def test_busy_cpus_are_counted_on_the_whole_machine():
    # 4 of 64 cores are ours and 30 others busy: 34 free, our 4 stay.
    assert pick(cpus=4, current=4, machine_cpus=64, busy=30.0) == 4


def test_affinity_limits():
    assert pick(cpus=1) == 1
    assert pick(cpus=3, current=8, machine_cpus=8) == 3


def test_torch_setting_is_an_upper_bound():
    # joblib, Dask and threadpoolctl limits show as a lowered torch setting.
    assert pick(current=1) == 1
    assert pick(cpus=8, current=4, machine_cpus=8) == 4


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"OMP_NUM_THREADS": "1"}, 1),
        ({"MKL_NUM_THREADS": "1"}, 1),
        ({"OMP_NUM_THREADS": "3,2"}, 2),  # nested list: the outer level
        ({"OMP_NUM_THREADS": ""}, 2),
        ({"OMP_NUM_THREADS": "many"}, 2),
        ({"OMP_NUM_THREADS": "0"}, 2),
    ],
)
def test_environment_limits(environ, expected):
    assert pick(environ=environ) == expected


def test_env_thread_limit_takes_the_smallest():
    assert env_thread_limit({"OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "2"}) == 2
    assert env_thread_limit({}) is None


def test_small_work_gets_one_thread():
    assert pick(work=MIN_PARALLEL_FLOPS / 2, cpus=8, current=8, machine_cpus=8) == 1
    assert pick(work=MIN_PARALLEL_FLOPS, cpus=8, current=8, machine_cpus=8) == 8
    assert pick(work=None) == 2  # unknown work does not limit


def test_unknown_load_does_not_limit(monkeypatch):
    # No load information (no /proc, no load average): the other limits only.
    monkeypatch.setattr(_device, "busy_cpus", lambda: None)
    assert auto_threads(BIG, cpus=2, current=2, environ={}, machine_cpus=2) == 2


def test_load_is_not_read_when_one_thread_is_already_decided(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("load read")

    monkeypatch.setattr(_device, "busy_cpus", fail)
    assert auto_threads(BIG, cpus=1, current=2, environ={}) == 1
    assert auto_threads(1.0, cpus=2, current=2, environ={}) == 1


def test_busy_cpus_subtracts_our_own_threads(monkeypatch, tmp_path):
    monkeypatch.setattr(_device, "_load_cache", {"time": -np.inf, "busy": None})
    monkeypatch.setattr(_device, "_own_running_threads", lambda: 1)
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path == "/proc/loadavg":
            return real_open(tmp_path / "loadavg", *args, **kwargs)
        return real_open(path, *args, **kwargs)

    (tmp_path / "loadavg").write_text("2.00 2.00 2.00 2/300 4242\n")
    monkeypatch.setattr("builtins.open", fake_open)
    assert _device.busy_cpus(samples=2, interval=0) == 1.0
    # Reused for a while: a new reading is not taken at once.
    (tmp_path / "loadavg").write_text("0.00 0.00 0.00 1/300 4242\n")
    assert _device.busy_cpus(samples=2, interval=0) == 1.0


def test_busy_cpus_falls_back_to_the_load_average(monkeypatch):
    monkeypatch.setattr(_device, "_load_cache", {"time": -np.inf, "busy": None})

    def no_proc(*args, **kwargs):
        raise OSError

    monkeypatch.setattr(_device, "_own_running_threads", no_proc)
    monkeypatch.setattr(_device.os, "getloadavg", lambda: (1.5, 1.0, 1.0))
    assert _device.busy_cpus() == 1.5


def test_busy_cpus_on_this_machine_is_a_count():
    busy = _device.busy_cpus()
    assert busy is None or busy >= 0


def test_matmul_flops_of_the_mlp_family_count_its_weights():
    family = MLP(hidden_layer_sizes=(20,))
    encoder, decoder = family.build(10, 5, 3, torch.Generator().manual_seed(0))
    modules = torch.nn.ModuleList([encoder, decoder])
    weights = sum(p.numel() for p in modules.parameters() if p.dim() >= 2)
    assert weights == 10 * 20 + 20 * 15 + 5 * 20 + 20 * 10
    assert family.matmul_flops(10, 5, 3, 4, backward=False) == 2 * weights * 4
    assert family.matmul_flops(10, 5, 3, 4) == 6 * weights * 4


def test_torch_threads_restores_the_setting(monkeypatch):
    previous = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == previous
    monkeypatch.setattr(_device, "auto_threads", lambda work: 1)
    with torch_threads(None):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == previous


def test_torch_threads_passes_the_work(monkeypatch):
    seen = []
    monkeypatch.setattr(_device, "auto_threads", lambda work: seen.append(work) or 1)
    with torch_threads(None, work=123.0):
        pass
    assert seen == [123.0]


def test_fit_and_transform_use_the_automatic_count(monkeypatch):
    seen = []

    def record(work=None, **_):
        seen.append(work)
        return 1

    monkeypatch.setattr(_device, "auto_threads", record)
    X = np.random.default_rng(0).random((64, 8), dtype=np.float32)
    est = VariationalSparseCoder(
        n_components=4, hidden_layer_sizes=(8,), max_iter=1, random_state=0
    ).fit(X)
    est.transform(X)
    assert len(seen) >= 2


def test_explicit_n_threads_overrides(monkeypatch):
    def fail(work=None, **_):
        raise AssertionError("auto_threads called")

    monkeypatch.setattr(_device, "auto_threads", fail)
    X = np.random.default_rng(0).random((64, 8), dtype=np.float32)
    VariationalSparseCoder(
        n_components=4, hidden_layer_sizes=(8,), max_iter=1, random_state=0, n_threads=1
    ).fit(X).transform(X)


def _inference_threads(monkeypatch):
    """Threads seen by each inference call, recorded inside the thread block."""
    import skvsc._inference

    seen = []

    def recording(*args, _map_batches=skvsc._inference.map_batches, **kwargs):
        seen.append(torch.get_num_threads())
        return _map_batches(*args, **kwargs)

    def summarizing(*args, _code_summary=skvsc._inference.code_summary, **kwargs):
        seen.append(torch.get_num_threads())  # the statistics pass (sparsity_report)
        return _code_summary(*args, **kwargs)

    monkeypatch.setattr(skvsc._inference, "map_batches", recording)
    monkeypatch.setattr(skvsc._inference, "code_summary", summarizing)
    return seen


@pytest.fixture
def two_threads(monkeypatch):
    """Two intra-op threads allowed: the automatic count would read the load."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_device, "usable_cpus", lambda: 2)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def _wide_model():
    # One batch of 2,048 rows is ~270 MFLOPs: above the one-thread floor.
    X = np.random.default_rng(1).random((2500, 64))
    est = VariationalSparseCoder(
        n_components=32, hidden_layer_sizes=(256,), max_iter=1, n_threads=1, random_state=0
    )
    return est.fit(X[:200]).set_params(n_threads=None), X


def test_inference_threads_do_not_read_the_load(monkeypatch, two_threads):
    def fail():
        raise AssertionError("inference read the load of other processes")

    est, X = _wide_model()
    seen = _inference_threads(monkeypatch)
    monkeypatch.setattr(_device, "busy_cpus", fail)
    est.transform(X)
    est.score_samples(X)
    est.inverse_transform(np.zeros((2500, 32)))
    est.sparsity_report(X)
    # One count per inference pass (sparsity_report makes one), from the work and the CPUs only.
    assert len(seen) >= 4 and set(seen) == {2}


def test_transform_is_bit_identical_beside_a_busy_neighbour(monkeypatch, two_threads):
    import subprocess
    import sys
    import time

    est, X = _wide_model()
    seen = _inference_threads(monkeypatch)
    quiet = est.transform(X)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # running: /proc/loadavg counts it now
        monkeypatch.setattr(_device, "_load_cache", {"time": -np.inf, "busy": None})
        busy = est.transform(X)
    finally:
        spinner.kill()
        spinner.wait()
    assert quiet.tobytes() == busy.tobytes()
    assert seen[0] == seen[1] == 2
