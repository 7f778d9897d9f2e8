"""Every speed script runs on tiny data (random arrays of MNIST's shape, or the
digits scaled to 28 x 28), so that none rots unnoticed; the figures are
meaningless, the check is that each runs to the end and writes what it says.
Scripts that start processes or fit for many epochs are marked ``slow``."""

from pathlib import Path

import pytest
import torch

# The scripts that compare with torch's fused Adam on the CPU need a torch that has it.
from tests.core.helpers import needs_fused_adam_on_cpu

REPO = Path(__file__).resolve().parents[1]


def test_a_fused_adam_comparison_says_what_it_needs(monkeypatch):
    import _loops

    monkeypatch.setattr(_loops, "_fused_kernel_exists", lambda device, dtype: False)
    with pytest.raises(SystemExit, match="no fused Adam kernel on cpu.*torch >= 2.4"):
        _loops.fused_adam([torch.nn.Parameter(torch.zeros(2))])


@needs_fused_adam_on_cpu
def test_fit_vs_hand_loop(run, empty, tmp_path):
    out = tmp_path / "fit.json"
    run(
        "fit_vs_hand_loop.py",
        "--n-train 64 --repeats 1 --epochs 1 --batch-sizes 32 --threads 1 --matmul-n 64",
        data_dir=empty,
        out=out,
    )
    row = run.json(out)["fit"]["rows"][0]
    assert row["batch_size"] == 32 and row["skvsc_wall"] > 0 and row["ratio_hand_cpu"] > 0


def test_transform_throughput(run, empty, tmp_path):
    out = tmp_path / "transform.json"
    run(
        "transform_throughput.py",
        "--n-train 256 --repeats 1 --n-small 8 --n-components 8 --threads 1 --matmul-n 64",
        data_dir=empty,
        out=out,
    )
    rows = run.json(out)["transform"]["rows"]
    assert {r["method"] for r in rows} >= {"VariationalSparseCoder", "PCA"}
    assert all(r["per_s"] > 0 for r in rows)


def test_step_profile(run, empty, tmp_path):
    out = tmp_path / "profile.json"
    run(
        "step_profile.py",
        "--n-train 64 --batch-sizes 16 --n-steps 2 --threads 1 --matmul-n 64",
        data_dir=empty,
        out=out,
    )
    row = run.json(out)["profile"][0]
    assert row["batch_size"] == 16 and row["ms_per_step"] > 0 and row["top"]


@needs_fused_adam_on_cpu
def test_step_compare(run, empty, tmp_path):
    out = tmp_path / "step.jsonl"

    def step_row(against=""):
        out.unlink(missing_ok=True)
        args = f"--n-train 64 --batch-sizes 32 --reps 1 {against}"
        run("step_compare.py", args, data_dir=empty, out=out)
        (row,) = run.rows(out)
        return row

    row = step_row()
    assert row["batch_size"] == 32 and row["median_ms_skvsc"] > 0
    assert row["speedup_vs_torch_adam"] > 0 and row["speedup_vs_hand"] > 0
    row = step_row("--against rate_control=1.0")
    assert row["against"] == {"rate_control": 1.0} and row["speedup_vs_against"] > 0
    row = step_row("--against n_components=24")  # an integer parameter: a wider code's step
    assert row["against"] == {"n_components": 24} and row["speedup_vs_against"] > 0


def test_conv_step(run, empty, tmp_path):
    out = tmp_path / "conv_step.json"
    run(
        "conv_step.py",
        "--n-train 64 --batch-size 32 --n-steps 2 --reps 1 --profile",
        data_dir=empty,
        out=out,
    )
    result = run.json(out)
    assert [r["variant"] for r in result["rows"]] == ["mlp", "conv"]
    assert result["rows"][0]["ratio"] == 1 and result["rows"][1]["ms_per_step"] > 0
    assert result["profile"]["conv"]


def test_time_to_quality(run, empty, tmp_path):
    out = tmp_path / "ttq.json"
    run(
        "time_to_quality.py",
        "--n-train 64 --budget 60 --max-epochs 1 --threads 1",
        data_dir=empty,
        out=out,
    )
    q = run.json(out)["time_to_quality"]
    assert "reproduction-style loop" in q
    # the cap stops each after one (a time budget alone is not deterministic: CI saw 2)
    assert all(s["epochs"] == 1 for s in q.values())


def test_fixed_prior_budget(run, empty, tmp_path):
    out = tmp_path / "fixed_budget.json"
    run(
        "fixed_prior_budget.py",
        "--n-train 64 --repro-epochs 1 --threads 1",
        data_dir=empty,
        out=out,
    )
    state = run.json(out)["fixed_prior_budget"]
    ours = state["skvsc prior='fixed' (defaults)"]
    assert len(ours["neg_elbo"]) == 200  # "auto" for the fixed prior at 1 step per epoch
    assert 1 <= state["fit() call"]["epochs"] <= 200  # fit may stop early on random data
    assert len(state["reproduction-style loop (batch 32)"]["neg_elbo"]) == 1


def test_transform_memory(run, capsys):
    if not Path("/proc/self/status").exists():
        pytest.skip("reads /proc (Linux only)")
    run(
        "transform_memory.py",
        "--n-rows 512 --n-components 4 --hidden 8 --n-threads 1",
    )
    assert "peak anonymous memory during transform" in capsys.readouterr().out


@pytest.mark.slow
def test_fit_memory(run, empty, tmp_path):
    pytest.importorskip("psutil")
    out = tmp_path / "memory.json"
    run(
        "fit_memory.py",
        "--n-train 64 --threads 1",
        data_dir=empty,
        out=out,
    )
    m = run.json(out)["memory"]
    assert m["rss_peak_during_fit"] >= m["rss_before_fit"] > 0


@pytest.mark.slow
def test_threads(run, empty, tmp_path):
    out = tmp_path / "threads.json"
    run(
        "threads.py",
        "--n-train 128 --n-epoch-rows 64 --repeats 1 --no-busy",
        data_dir=empty,
        out=out,
    )
    results = run.json(out)
    assert set(results["thread_epochs"]["states"]) == {"as is"}
    assert results["threads"]["worker_torch_threads"]


@pytest.mark.slow
def test_ttq_defaults(run, tmp_path):
    out = tmp_path / "ttq.json"
    # This checkout stands in for the earlier one: each child only needs a skvsc to import.
    run(
        "ttq_defaults.py",
        "--dataset digits --n-train 200 --max-epochs 1 --budget 30 --threads 1",
        before=REPO,
        out=out,
    )
    q = run.json(out)["ttq_defaults"]
    for name in ("before", "after"):
        assert q[name]["target"]["epochs"] == 1
        assert 0 <= q[name]["defaults"]["accuracy"] <= 1
    assert q["reproduction-style loop"]["epochs"] >= 1


@pytest.mark.slow
def test_default_fit(run, tmp_path):
    out = tmp_path / "default.json"
    run(
        "default_fit.py",
        "--dataset digits --n-train 200 --threads 1",
        out=out,
    )
    row = run.json(out)["default_fit"]
    assert row["epochs"] >= 1 and 0 <= row["accuracy"] <= 1
    run("default_fit.py", "--dataset digits --n-train 200 --threads 1 --rate-control 0 1", out=out)
    rows = run.json(out)["fits"]
    assert [r["rate_control"] for r in rows] == [0.0, 1.0]
    assert all(r["empty_codes"] == 0 and len(r["load_1min"]) == 2 for r in rows)
    variants = '--variants \'{}\' \'{"gate": "tied", "rate_control": 1.0}\''
    run("default_fit.py", f"--dataset digits --n-train 200 --threads 1 {variants}", out=out)
    rows = run.json(out)["fits"]
    assert "gate" not in rows[0] and rows[1]["gate"] == "tied" and rows[1]["rate_control"] == 1


def test_readme_grid(run, tmp_path):
    out = tmp_path / "grid.jsonl"
    run(
        "readme_grid.py",
        "--dataset digits --n-train 150 --max-iter 1 --n-jobs 1",
        out=out,
    )
    (row,) = run.rows(out)
    assert row["best_epochs"] == 1 and 0 <= row["test_accuracy"] <= 1


def test_sweep(run, capsys):
    pytest.importorskip("psutil")  # sweep.py counts its workers' CPU time with it
    run(
        "sweep.py",
        "--dataset digits --n-samples 120 --hidden 8 --max-iter 1 --alpha 0.2 "
        "--n-components 4 --cv 2 --modes serial-1t",
    )
    assert "mean CV accuracies" in capsys.readouterr().out
