"""Smoke tests of the image benchmarks on tiny fake data."""

import gzip
import hashlib

import numpy as np

from skvsc.datasets import _frey


def _fake_faces(data_dir, monkeypatch):
    """80 random 28x20 faces in ``data_dir/frey/``, accepted by the loader's checksum."""
    faces = np.random.default_rng(0).integers(0, 256, size=(80, 28, 20), dtype=np.uint8)
    content = _frey._idx_bytes(faces)
    monkeypatch.setattr(_frey, "FREY_SHA256", hashlib.sha256(content).hexdigest())
    (data_dir / "frey").mkdir(parents=True)
    (data_dir / "frey" / _frey.FREY_FILENAME).write_bytes(gzip.compress(content))


def test_frey_faces(run, tmp_path, monkeypatch):
    _fake_faces(tmp_path / "data", monkeypatch)
    out = tmp_path / "rows.jsonl"
    run(
        "frey_faces.py",
        "--ks 2 --n-components 6 --dict-size 6 --max-iter 1 --networks conv --n-train 60",
        data_dir=tmp_path / "data",
        out=out,
    )
    rows = run.rows(out)
    methods = {r["method"] for r in rows}
    assert {"PCA", "OMP", "VSC-conv alpha=k/J top-k", "VSC-conv one fit top-k"} <= methods
    assert all(r["mse"] > 0 and r["k"] == 2 for r in rows)
    assert all(r["nnz"] <= 2 for r in rows if r["method"].endswith("top-k"))


def test_frey_faces_validated_alpha(run, tmp_path, monkeypatch):
    _fake_faces(tmp_path / "data", monkeypatch)
    out = tmp_path / "rows.jsonl"
    run(
        "frey_faces.py",
        "--ks 2 --n-components 6 --dict-size 6 --max-iter 1 --networks mlp --n-train 60 "
        "--select 0.5 1 --only-select",
        data_dir=tmp_path / "data",
        out=out,
    )
    methods = [r["method"] for r in run.rows(out)]
    assert len(methods) == 3 and {"PCA", "OMP"} <= set(methods)
    (validated,) = [r for r in run.rows(out) if "validated" in r["method"]]
    assert validated["nnz"] <= 2
