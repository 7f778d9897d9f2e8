"""The table scripts run to the end on tiny budgets (the figures are meaningless)."""

import json
import runpy
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris


def test_tables_units(run, capsys):
    run("tables_units.py", '\'{"max_iter": 2}\' \'{"max_iter": 2, "alpha": 0.05}\'')
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["params"].get("alpha") for r in rows] == [None, 0.05]
    assert rows[0]["n_components"] == 60 and rows[1]["n_components"] == 200
    assert all(0 <= r["one_signed"] <= 1 and -1 <= r["median_cosine"] <= 1 for r in rows)


def test_tables(run, capsys):
    run("tables.py", "--tables iris --seeds 0 --params '{\"max_iter\": 2}'")
    out = capsys.readouterr().out
    assert "| iris | 4 |" in out and "| [8] |" in out


def test_tables_per_table_rule(run, capsys):
    # --alpha and --units size the code per table from its width d (iris: d = 4).
    rule = "--alpha 'd / 2 / max(8, d)' --units 'max(8, d)'"
    run("tables.py", f"--tables iris --seeds 0 {rule} --params '{{\"max_iter\": 2}}'")
    out = capsys.readouterr().out
    assert "| [8] |" in out and "| PCA k | VSC - PCA |" in out
    run("tables.py", "--tables iris --seeds 0 --units 'd / alpha' --params '{\"max_iter\": 2}'")
    assert "| [16] |" in capsys.readouterr().out  # 4 / 0.25, the narrow alpha="auto"


def test_tables_reconstruction_code(run, capsys, tmp_path):
    # --code reconstruction gives the model the decoded inputs (as many columns as
    # the table), while the active units are still those of the sparse code.
    out = tmp_path / "rows.json"
    run(
        "tables.py",
        f"--tables iris --seeds 0 --code reconstruction --post standard --json {out} "
        "--params '{\"max_iter\": 2}'",
    )
    assert "code=reconstruction" in capsys.readouterr().out
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 5 and all(r["units"] == 8 and r["active"] <= 8 for r in rows)
    assert all(0 <= r["vsc"] <= 1 for r in rows)
    tables = runpy.run_path(str(Path(__file__).parent / "tables.py"))
    X = load_iris().data
    coder = tables["ReconstructionCoder"](max_iter=2, random_state=0).fit(X)
    decoded = coder.transform(X)
    assert decoded.shape == X.shape
    sparse = tables["VariationalSparseCoder"].transform(coder, X)
    np.testing.assert_allclose(decoded, coder.inverse_transform(sparse))


def test_tables_synthetic(run, capsys, tmp_path):
    # --tables synthetic runs the eight tables no default was chosen on; one of them
    # here, by name, and the loaders give the sizes the docs state.
    out = tmp_path / "rows.json"
    run("tables.py", f"--tables classif8 --seeds 0 --json {out} --params '{{\"max_iter\": 2}}'")
    assert "| classif8 | 8 |" in capsys.readouterr().out
    assert len(json.loads(out.read_text())["rows"]) == 5
    tables = runpy.run_path(str(Path(__file__).parent / "tables.py"))
    shapes = {
        name: (loader(return_X_y=True)[0].shape, task)
        for name, (loader, task) in tables["SYNTHETIC"].items()
    }
    assert shapes == {
        "classif20": ((600, 20), "classification"),
        "classif12": ((400, 12), "classification"),
        "classif30": ((800, 30), "classification"),
        "classif8": ((500, 8), "classification"),
        "friedman1": ((500, 10), "regression"),
        "friedman2": ((500, 4), "regression"),
        "lowrank15": ((400, 15), "regression"),
        "regress25": ((500, 25), "regression"),
    }
    assert not set(tables["SYNTHETIC"]) & set(tables["TABLES"])  # the default run is unchanged
