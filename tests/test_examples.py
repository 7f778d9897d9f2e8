"""The examples and the code of the documentation run, so that they cannot rot.

Each bundled-data example runs as a subprocess with ``SKVSC_EXAMPLE_SMOKE=1``
(a few epochs), and once more at full size, where every number its prose quotes
must be one its code sets or its output prints (``docs/sphinxext/prose_numbers.py``;
the documentation build applies the same check to the output it shows). The
MNIST example runs only where the data directory holds the MNIST files, the face
example only where it holds the Frey faces. The
``>>>`` snippets of ``docs/*.rst`` run as doctests; snippets marked
``+REQUIRES_<FEATURE>`` are skipped where that feature is missing (a GPU, or a
part of skvsc that is not in this version).
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
_spec = importlib.util.spec_from_file_location(
    "prose_numbers", ROOT / "docs" / "sphinxext" / "prose_numbers.py"
)
prose_numbers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prose_numbers)
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


def _frey_dir():
    """The folder named by SKVSC_DATA, when it holds the Frey faces."""
    candidate = os.environ.get("SKVSC_DATA")
    if candidate and (Path(candidate) / "frey" / "frey-images-idx3-ubyte.gz").is_file():
        return candidate
    return None


def _example_params():
    for path in EXAMPLES:
        # 15-55 s each in the smoke setting on 2 shared cores (mostly imports).
        marks = [pytest.mark.slow]
        if path.stem.endswith("_mnist") and _mnist_dir() is None:
            marks.append(pytest.mark.skip(reason="needs the MNIST files (set SKVSC_DATA)"))
        if path.stem == "plot_frey_faces" and _frey_dir() is None:
            marks.append(pytest.mark.skip(reason="needs the Frey faces (set SKVSC_DATA)"))
        yield pytest.param(path, id=path.stem, marks=marks)


def test_examples_found():
    assert len(EXAMPLES) >= 5
    assert (ROOT / "examples" / "README.rst").is_file()  # sphinx-gallery needs it


def _run_example(path, smoke):
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        # The checkout's skvsc, not an installed copy.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("SKVSC_EXAMPLE_SMOKE", None)
    if smoke:
        env["SKVSC_EXAMPLE_SMOKE"] = "1"
    if _mnist_dir() or _frey_dir():
        env["SKVSC_DATA"] = _mnist_dir() or _frey_dir()
    result = subprocess.run(
        [sys.executable, str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, f"{path.name} failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), f"{path.name} printed nothing"
    return result.stdout


@pytest.mark.parametrize("path", list(_example_params()))
def test_example_runs(path):
    _run_example(path, smoke=True)


@pytest.mark.parametrize("path", list(_example_params()))
def test_example_prose_quotes_its_output(path):
    """At full size (as the documentation shows it), the prose quotes no number
    that the script neither sets nor prints. 10 s to a few minutes each."""
    output = _run_example(path, smoke=False)
    unmatched = prose_numbers.check(path.read_text(), output)
    assert not unmatched, (
        f"{path.name}: the prose quotes {unmatched}, which the code does not set and "
        f"the output does not print:\n{output}"
    )


def test_prose_check_flags_a_number_the_output_contradicts():
    source = (
        '"""Title\n=====\n\n1. a list item\n2. another\n"""\n'
        "# %%\n# With ``alpha=0.1`` about 10 % of the 64 units, 6.4 per sample, are active.\n"
        "alpha, n_units = 0.1, 64\n"
        "print(f'{9.04:.1f} active units')\n"
    )
    assert prose_numbers.check(source, "9.0 active units\n") == ["6.4"]
    assert prose_numbers.check(source, "6.4 active units\n") == []
    # the precision the prose quotes: 6.4 is 6.43 printed, not 6.5
    assert prose_numbers.check(source, "6.43 active units\n") == []
    assert prose_numbers.check(source, "6.5 active units\n") == ["6.4"]
    # numbers in code comments are not prose; 1,200 and 20_000 are one number
    assert prose_numbers.check('"""T\n=\n"""\n# %%\n# 1,200 rows\nn = 1_200  # 7\n', "") == []
    assert prose_numbers.check('"""T\n=\n"""\n# %%\n# 13 rows\nn = 12\n', "") == ["13"]


def test_gallery_output_is_read_from_the_generated_page():
    page = (
        "Some prose.\n\n.. rst-class:: sphx-glr-script-out\n\n .. code-block:: none\n\n"
        "    best alpha 0.05\n    held-out ELBO -140.3\n\n\nMore prose 99.\n"
    )
    output = prose_numbers.gallery_output(page)
    assert "-140.3" in output and "99" not in output


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


def test_api_reference_lists_every_public_name():
    """Each public name has its page: it is an entry of an autosummary table of
    docs/api.rst (a name added to an ``__all__`` must be added there too)."""
    pytest.importorskip("matplotlib")
    import skvsc.datasets
    import skvsc.exceptions
    import skvsc.plotting

    entries = {
        line.strip()
        for line in (ROOT / "docs" / "api.rst").read_text().splitlines()
        if line.startswith("   ") and not line.strip().startswith(":")
    }
    for module in (skvsc, skvsc.datasets, skvsc.plotting, skvsc.exceptions):
        for name in module.__all__:
            if not name.startswith("__"):
                assert name in entries, f"{module.__name__}.{name} is not in docs/api.rst"
