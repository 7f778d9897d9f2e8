"""The quick path of the benchmark's time-to-quality section runs (MNIST needed)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _needs_mnist():
    data = os.environ.get("SKVSC_DATA")
    if not data or not (Path(data) / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("needs MNIST in $SKVSC_DATA")


def _run(script, *args, timeout):
    """Run ``benchmarks/<script>`` with ``args``; fail on a non-zero exit."""
    command = [sys.executable, str(REPO / "benchmarks" / script), *args]
    subprocess.run(command, check=True, timeout=timeout, capture_output=True)


@pytest.mark.slow
def test_ttq_defaults_quick_runs(tmp_path):
    _needs_mnist()
    out = tmp_path / "ttq.json"
    # This checkout stands in for the earlier one: the section only needs a
    # skvsc to import from each root.
    _run(
        "speed.py",
        "--quick",
        "--sections",
        "ttq-defaults",
        "--before",
        str(REPO),
        "--ttq-budget",
        "30",
        "--json",
        str(out),
        timeout=1800,
    )
    q = json.loads(out.read_text())["ttq_defaults"]
    for name in ("before", "after"):
        assert q[name]["target"]["epochs"] >= 1
        assert 0 <= q[name]["defaults"]["accuracy"] <= 1
    assert q["reproduction-style loop"]["epochs"] >= 1


@pytest.mark.slow
def test_step_compare_runs(tmp_path):
    _needs_mnist()
    out = tmp_path / "step.jsonl"
    _run("step_compare.py", "--batch-sizes", "32", "--reps", "1", "--out", str(out), timeout=600)
    row = json.loads(out.read_text())
    assert row["batch_size"] == 32 and row["median_ms_skvsc"] > 0
    assert row["speedup_vs_torch_adam"] > 0 and row["speedup_vs_hand"] > 0
