"""Smoke tests of the image benchmarks on tiny fake data."""

import gzip
import hashlib

import numpy as np

from skvsc.datasets import _frey


def test_frey_faces(run, tmp_path, monkeypatch):
    faces = np.random.default_rng(0).integers(0, 256, size=(80, 28, 20), dtype=np.uint8)
    content = _frey._idx_bytes(faces)
    monkeypatch.setattr(_frey, "FREY_SHA256", hashlib.sha256(content).hexdigest())
    (tmp_path / "data" / "frey").mkdir(parents=True)
    (tmp_path / "data" / "frey" / _frey.FREY_FILENAME).write_bytes(gzip.compress(content))
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
