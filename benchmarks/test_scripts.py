"""Every benchmark script runs on tiny data, so that none rots unnoticed.

Each script runs in this process (``runpy``, as ``python script.py ARGS`` would:
no second interpreter to start) on random MNIST-shaped arrays (the speed scripts
fall back to them when ``--data-dir`` holds no MNIST) or on scikit-learn's digits
scaled to 28 x 28 (``--dataset digits``); the figures are meaningless, the check is
that the script runs to the end and writes what it says. Scripts that start
processes (a subprocess, worker pools) or fit for many epochs are marked ``slow``.
"""

import json
import runpy
import shlex
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


@pytest.fixture
def run(tmp_path, monkeypatch):
    """``run(script, args, **options)``: the script as ``__main__`` with the command
    line ``args`` (split as a shell would) and ``--name value`` for each option; the
    process's torch threads and device setting are restored afterwards."""
    threads = torch.get_num_threads()
    monkeypatch.chdir(tmp_path)  # whatever a script writes by default lands here

    def _run(script, args="", **options):
        path = HERE / script
        argv = shlex.split(args)
        for name, value in options.items():  # paths, which need no quoting here
            argv += [f"--{name.replace('_', '-')}", str(value)]
        monkeypatch.setattr(sys, "argv", [str(path), *argv])
        monkeypatch.syspath_prepend(str(path.parent))
        try:
            runpy.run_path(str(path), run_name="__main__")
        finally:
            torch.set_num_threads(threads)
            if "_common" in sys.modules:
                sys.modules["_common"].set_device("cpu")

    return _run


@pytest.fixture
def empty(tmp_path):
    """A data directory without MNIST: the speed scripts use random data."""
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def read_json(path):
    return json.loads(Path(path).read_text())


def read_rows(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


# -- speed ---------------------------------------------------------------------------------
def test_fit_vs_hand_loop(run, empty, tmp_path):
    out = tmp_path / "fit.json"
    run(
        "fit_vs_hand_loop.py",
        "--n-train 64 --repeats 1 --epochs 1 --batch-sizes 32 --threads 1 --matmul-n 64",
        data_dir=empty,
        out=out,
    )
    row = read_json(out)["fit"]["rows"][0]
    assert row["batch_size"] == 32 and row["skvsc_wall"] > 0 and row["ratio_hand_cpu"] > 0


def test_transform_throughput(run, empty, tmp_path):
    out = tmp_path / "transform.json"
    run(
        "transform_throughput.py",
        "--n-train 256 --repeats 1 --n-small 8 --n-components 8 --threads 1 --matmul-n 64",
        data_dir=empty,
        out=out,
    )
    rows = read_json(out)["transform"]["rows"]
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
    row = read_json(out)["profile"][0]
    assert row["batch_size"] == 16 and row["ms_per_step"] > 0 and row["top"]


def test_step_compare(run, empty, tmp_path):
    out = tmp_path / "step.jsonl"
    run(
        "step_compare.py",
        "--n-train 64 --batch-sizes 32 --reps 1",
        data_dir=empty,
        out=out,
    )
    (row,) = read_rows(out)
    assert row["batch_size"] == 32 and row["median_ms_skvsc"] > 0
    assert row["speedup_vs_torch_adam"] > 0 and row["speedup_vs_hand"] > 0


def test_time_to_quality(run, empty, tmp_path):
    out = tmp_path / "ttq.json"
    run(
        "time_to_quality.py",
        "--n-train 64 --budget 0.01 --threads 1",
        data_dir=empty,
        out=out,
    )
    q = read_json(out)["time_to_quality"]
    assert "reproduction-style loop" in q
    assert all(s["epochs"] == 1 for s in q.values())  # the budget stops each after one


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
    m = read_json(out)["memory"]
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
    results = read_json(out)
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
    q = read_json(out)["ttq_defaults"]
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
    row = read_json(out)["default_fit"]
    assert row["epochs"] >= 1 and 0 <= row["accuracy"] <= 1


def test_readme_grid(run, tmp_path):
    out = tmp_path / "grid.jsonl"
    run(
        "readme_grid.py",
        "--dataset digits --n-train 150 --max-iter 1 --n-jobs 1",
        out=out,
    )
    (row,) = read_rows(out)
    assert row["best_epochs"] == 1 and 0 <= row["test_accuracy"] <= 1


def test_sweep(run, capsys):
    run(
        "sweep.py",
        "--dataset digits --n-samples 120 --hidden 8 --max-iter 1 --alpha 0.2 "
        "--n-components 4 --cv 2 --modes serial-1t",
    )
    assert "mean CV accuracies" in capsys.readouterr().out


# -- paper -----------------------------------------------------------------------------------
def test_sparse_baselines(run, tmp_path):
    out, png = tmp_path / "rows.jsonl", tmp_path / "figure.png"
    run(
        "paper/sparse_baselines.py",
        "--datasets digits --methods topk batchtopk jumprelu omp vsc pixels --k 2 "
        "--n-components 16 --epochs 1 --n-train 200 --omp-params '{\"max_iter\": 1}' "
        '--method-params-k \'{"jumprelu": {"2": {"l0_coef": 2.0}}}\'',
        out=out,
    )
    rows = read_rows(out)
    assert {r["method"] for r in rows} == {
        "TopK autoencoder",
        "BatchTopK autoencoder",
        "JumpReLU autoencoder",
        "MiniBatchDictionaryLearning (OMP)",
        "VSC (sparse code)",
        "raw pixels",
    }
    topk = next(r for r in rows if r["method"] == "TopK autoencoder")
    assert topk["active_per_sample"] <= 2
    jumprelu = next(r for r in rows if r["method"] == "JumpReLU autoencoder")
    assert jumprelu["params"]["l0_coef"] == 2.0 and "k" not in jumprelu["params"]
    run(
        "paper/sparse_baselines.py",
        "--datasets digits",
        from_jsonl=out,
        figure=png,
    )
    assert png.stat().st_size > 0


def test_default_codes(run, tmp_path):
    out = tmp_path / "codes.jsonl"
    run(
        "paper/default_codes.py",
        'digits \'{"max_iter": 1, "n_components": 16}\' smoke --n-train 200',
        out=out,
    )
    (row,) = read_rows(out)
    assert row["tag"] == "smoke" and row["epochs"] == 1 and 0 <= row["accuracy"] <= 1


def test_budget_screen(run, tmp_path):
    out = tmp_path / "budget.jsonl"
    run(
        "paper/budget_screen.py",
        "--dataset digits --n-fit 150 --n-val 50 --max-iters 1,2 --params '{\"n_components\": 8}'",
        out=out,
    )
    assert [r["epochs"] for r in read_rows(out)] == [1, 2]


def test_screen_defaults(run, tmp_path):
    out = tmp_path / "screen.jsonl"
    run(
        "paper/screen_defaults.py",
        "--dataset digits --n-train 240 --epochs 1 --n-components 8 --config '{\"alpha\": 0.2}'",
        out=out,
    )
    (row,) = read_rows(out)
    assert row["epochs"] == 1 and 0 <= row["acc_code"] <= 1


def test_classify_vs_j(run, tmp_path):
    out = tmp_path / "classify.jsonl"
    run(
        "paper/classify_vs_j.py",
        "--datasets digits --n-components 8 --epochs 1 --seeds 0 "
        "--no-all-labels --baseline-epochs 1 --n-train 200",
        out=out,
    )
    assert read_rows(out)


def test_elbo_vs_j(run, tmp_path):
    out = tmp_path / "elbo.jsonl"
    run(
        "paper/elbo_vs_j.py",
        "--datasets digits --n-components 8 --epochs 1 --n-train 200",
        out=out,
    )
    assert read_rows(out)


def test_sparsity_vs_alpha(run, tmp_path):
    out = tmp_path / "sparsity.jsonl"
    run(
        "paper/sparsity_vs_alpha.py",
        "--datasets digits --alphas 0.2 --n-components 8 --epochs 1 --n-train 200",
        out=out,
    )
    assert read_rows(out)


def test_figures(run, tmp_path):
    run(
        "paper/figures.py",
        "--datasets digits --n-components 16 --epochs 1 --n-train 200",
        fig_dir=tmp_path / "figs",
    )
    assert list((tmp_path / "figs").glob("*.png"))


@pytest.mark.slow
def test_alpha_law(run, tmp_path):
    out = tmp_path / "alpha.jsonl"
    run(
        "paper/alpha_law.py",
        "--alpha 0.2 --n-components 8",
        out=out,
    )
    (row,) = read_rows(out)
    assert 0 <= row["nonzero"] <= 1
