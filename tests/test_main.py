"""The main job, ``python -m skvsc``: it runs, and its options say what they do."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import skvsc
from skvsc.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def test_runs_quickly_with_max_iter(capsys):
    assert main(["--max-iter", "2", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for label in (
        "VariationalSparseCoder()",
        "VariationalSparseCoder(alpha=0.01)",
        "VAETransformer()",
        "raw pixels",
    ):
        assert label in out
    assert "1347 training and 450 test images" in out
    assert "max_iter=2" in out and "n_threads=1" in out
    assert "trained all 2 epochs" in out
    # ELBOs are listed under the likelihood they belong to, never in the table.
    assert "likelihood (nats" in out
    header = next(line for line in out.splitlines() if line.startswith("encoder"))
    assert "ELBO" not in header


def test_version():
    result = subprocess.run(
        [sys.executable, "-m", "skvsc", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"skvsc {skvsc.__version__}")


def test_help_lists_the_data_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--dataset", "mnist", "fashion", "--data-dir", "SKVSC_DATA", "--download"):
        assert option in out
    for option in ("--n-train", "--max-iter", "--threads", "--device", "--random-state"):
        assert option in out


@pytest.mark.parametrize("dataset", ["mnist", "fashion"])
def test_missing_data_dir_is_a_clear_error(dataset, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["--dataset", dataset, "--data-dir", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "error" in err and str(missing) in err and "--download" in err
    assert "Traceback" not in err
    assert not missing.exists()  # nothing downloaded without --download


def test_missing_files_are_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKVSC_DATA", str(tmp_path))
    assert main(["--dataset", "mnist"]) == 2
    err = capsys.readouterr().err
    assert "cannot load mnist" in err and "train-images-idx3-ubyte.gz" in err
    assert "Traceback" not in err


def test_bad_option_values(capsys):
    for argv in (["--max-iter", "0"], ["--n-train", "-1"], ["--dataset", "cifar"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "--max-iter must be a positive integer" in capsys.readouterr().err


def test_mnist_mode_with_a_stand_in_loader(monkeypatch, capsys):
    """The MNIST path (loading both splits, --n-train) without the MNIST files."""
    from skvsc import datasets

    calls = []

    def fake_load_mnist(data_home=None, *, split="train", download=True, **kwargs):
        calls.append((data_home, split, download))
        rng = np.random.default_rng(0 if split == "train" else 1)
        n = 60 if split == "train" else 20
        y = np.arange(n) % 2
        X = (rng.random((n, 16)) < 0.2 + 0.6 * y[:, None]).astype(np.float32)
        return X, y

    monkeypatch.setattr(datasets, "load_mnist", fake_load_mnist)
    argv = ["--dataset", "mnist", "--data-dir", "somewhere", "--download", "--n-train", "40"]
    assert main([*argv, "--max-iter", "1", "--threads", "1"]) == 0
    assert calls == [("somewhere", "train", True), ("somewhere", "test", True)]
    out = capsys.readouterr().out
    assert "MNIST" in out and "40 training and 20 test images" in out


def test_readme_quick_start_is_two_commands():
    """The README opens with two complete commands; CI runs the second one as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sections = readme.split("\n## ")
    assert sections[1].startswith("Quick start on a fresh machine")
    block = sections[1].split("```bash\n", 1)[1].split("```", 1)[0]
    install_and_run, install_and_test = block.strip().splitlines()
    assert install_and_run.startswith("pip install") and "python -m skvsc" in install_and_run
    assert install_and_test.startswith("pip install") and "pytest" in install_and_test
    assert "index-url" not in block  # the default package index only
    assert "README" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
