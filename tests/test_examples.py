"""The examples and the code of the documentation run, so that they cannot rot.

Each bundled-data example runs as a subprocess with ``SKVSC_EXAMPLE_SMOKE=1``
(a few epochs); the MNIST example runs only where the data directory holds the
MNIST files. The ``>>>`` snippets of ``docs/*.rst`` run as doctests; snippets
marked ``+REQUIRES_<FEATURE>`` are skipped where that feature is missing (a
GPU, or a part of skvsc that is not in this version).
"""

import doctest
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import skvsc

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _mnist_dir():
    """The folder named by SKVSC_DATA, when it holds the MNIST files."""
    candidate = os.environ.get("SKVSC_DATA")
    if candidate and all((Path(candidate) / "mnist" / f).is_file() for f in MNIST_FILES):
        return candidate
    return None


def _example_params():
    for path in EXAMPLES:
        # 15-55 s each in the smoke setting on 2 shared cores (mostly imports).
        marks = [pytest.mark.slow]
        if path.stem.endswith("_mnist") and _mnist_dir() is None:
            marks.append(pytest.mark.skip(reason="needs the MNIST files (set SKVSC_DATA)"))
        yield pytest.param(path, id=path.stem, marks=marks)


def test_examples_found():
    assert len(EXAMPLES) >= 5
    assert (ROOT / "examples" / "README.rst").is_file()  # sphinx-gallery needs it


@pytest.mark.parametrize("path", list(_example_params()))
def test_example_runs(path):
    env = {
        **os.environ,
        "SKVSC_EXAMPLE_SMOKE": "1",
        "MPLBACKEND": "Agg",
        # The checkout's skvsc, not an installed copy.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    if _mnist_dir() is not None:
        env["SKVSC_DATA"] = _mnist_dir()
    result = subprocess.run(
        [sys.executable, str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{path.name} failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), f"{path.name} printed nothing"


# -- documentation snippets ----------------------------------------------------


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


REQUIREMENTS = {
    "REQUIRES_DIAGNOSTICS": lambda: hasattr(skvsc.VariationalSparseCoder, "sparsity_report"),
    "REQUIRES_SAVE": lambda: hasattr(skvsc, "save") and hasattr(skvsc, "load"),
    "REQUIRES_PLOTTING": lambda: _importable("matplotlib") and _importable("skvsc.plotting"),
    "REQUIRES_CUDA": torch.cuda.is_available,
}
FLAGS = {doctest.register_optionflag(name): check for name, check in REQUIREMENTS.items()}
# Pages written by hand (sphinx-gallery writes sg_execution_times.rst).
# Pages with >>> snippets (api.rst only holds autodoc directives).
DOC_PAGES = sorted(
    p
    for p in (ROOT / "docs").glob("*.rst")
    if not p.name.startswith("sg_") and ">>>" in p.read_text()
)


def _skip_unavailable(test):
    """Mark the examples whose +REQUIRES_* feature is missing as skipped."""
    skipped = 0
    for example in test.examples:
        if any(example.options.get(flag) and not check() for flag, check in FLAGS.items()):
            example.options[doctest.SKIP] = True
            skipped += 1
    return skipped


@pytest.mark.parametrize("path", DOC_PAGES, ids=[p.name for p in DOC_PAGES])
def test_doc_snippets(path):
    pytest.importorskip("matplotlib")
    parser = doctest.DocTestParser()
    test = parser.get_doctest(path.read_text(), {}, path.name, str(path), 0)
    assert test.examples
    _skip_unavailable(test)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    out = io.StringIO()
    result = runner.run(test, out=out.write)
    assert result.failed == 0, out.getvalue()


def test_requires_flags_are_known():
    """A misspelt +REQUIRES_ flag would make doctest fail to parse the page."""
    for path in DOC_PAGES:
        for line in path.read_text().splitlines():
            if "+REQUIRES_" in line:
                names = [w.strip(" ,+") for w in line.split("doctest:")[1].split(",")]
                assert all(n in REQUIREMENTS or hasattr(doctest, n) for n in names), line


def test_every_parameter_is_in_the_user_guide():
    """The user guide explains every constructor parameter of both estimators."""
    guide = (ROOT / "docs" / "user_guide.rst").read_text()
    for estimator in (skvsc.VariationalSparseCoder, skvsc.VAETransformer):
        for name in estimator().get_params():
            assert f"``{name}``" in guide, f"{estimator.__name__}({name}=...) not in the user guide"
