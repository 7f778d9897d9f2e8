"""pytest collects the benchmarks' tests and the baselines package, never the
scripts themselves: ``test_scripts.py`` runs each script on tiny data, and
importing one for ``--doctest-modules`` would run nothing useful."""


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix != ".py" or collection_path.name == "conftest.py":
        return None
    if collection_path.name.startswith("test_") or "baselines" in collection_path.parts:
        return None
    return True
