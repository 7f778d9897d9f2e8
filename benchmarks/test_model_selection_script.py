"""``model_selection.py`` runs to the end on tiny budgets (the figures are meaningless)."""

import os
from pathlib import Path

import pytest

TINY = "--quick --max-iter 1 --n-draws 5 --n-is-rows 50 --lr-max-iter 100"


def test_model_selection_digits(run, tmp_path):
    out = tmp_path / "rows.jsonl"
    run("model_selection.py", TINY, cache_dir=tmp_path / "cache", out=out)
    rows = run.rows(out)
    assert {(r["alpha"], r["n_components"]) for r in rows} == {(0.01, 16), (0.01, 64)}
    assert sorted(r["fold"] for r in rows) == [0, 0, 1, 1, 2, 2]
    assert all(r["log_likelihood"] < 0 and r["n_epochs"] == 1 for r in rows)


def test_model_selection_mnist(run, tmp_path):
    data = os.environ.get("SKVSC_DATA")
    if not data or not (Path(data) / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("needs MNIST in $SKVSC_DATA/mnist")
    out = tmp_path / "rows.jsonl"
    run(
        "model_selection.py",
        f"--dataset mnist --data-dir {data} --n-labelled 300 {TINY}",
        cache_dir=tmp_path / "cache",
        out=out,
    )
    final = [r for r in run.rows(out) if "criterion" in r]
    assert [r["criterion"] for r in final] == ["elbo", "log_likelihood", "accuracy"]
    assert all(0 <= r["test_accuracy"] <= 1 and r["dead_units"] >= 0 for r in final)
