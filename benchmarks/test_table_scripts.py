"""The table scripts run to the end on tiny budgets (the figures are meaningless)."""

import json


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
