"""pytest collects the benchmarks' tests and the baselines package, never the
scripts themselves: ``test_speed_scripts.py`` and ``test_paper_scripts.py`` run
each script on tiny data, and importing one for ``--doctest-modules`` would run
nothing useful. The fixtures run a script as ``python script.py ARGS`` would, in
this process (``runpy``: no second interpreter to start)."""

import json
import runpy
import shlex
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix != ".py" or collection_path.name == "conftest.py":
        return None
    if collection_path.name.startswith("test_") or "baselines" in collection_path.parts:
        return None
    return True


@pytest.fixture
def run(tmp_path, monkeypatch):
    """``run(script, args, **options)``: the script as ``__main__`` with the command
    line ``args`` (split as a shell would) and ``--name value`` for each option; the
    process's torch threads and device setting are restored afterwards.
    ``run.json(path)`` and ``run.rows(path)`` read what a script wrote."""
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

    _run.json = lambda path: json.loads(Path(path).read_text())
    _run.rows = lambda path: [json.loads(r) for r in Path(path).read_text().splitlines() if r]
    return _run


@pytest.fixture
def empty(tmp_path):
    """A data directory without MNIST: the speed scripts use random data."""
    (tmp_path / "data").mkdir()
    return tmp_path / "data"
