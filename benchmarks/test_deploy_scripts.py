"""The deployment benchmark runs on tiny data (the figures are meaningless; the
check is that it runs to the end and writes what it says)."""

import pytest


def test_onnx_throughput(run, tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (skvsc[onnx])")
    out = tmp_path / "onnx.json"
    run("onnx_throughput.py", "--n-rows 64 --n-single 4 --repeat 1", out=out)
    result = run.json(out)
    assert [row["workload"] for row in result["rows"]] == [
        "one call, 64 rows",
        "4 calls of 1 row",
    ]
    assert all(row["onnxruntime_rows_per_s"] > 0 for row in result["rows"])
    assert result["max_abs_difference"] < 1e-5
