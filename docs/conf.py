"""Sphinx configuration of the skvsc documentation.

Build from the repository root with::

    python -m sphinx -b html docs docs/_build/html

The gallery executes ``examples/plot_*.py``; ``-D plot_gallery=0`` skips that.
Examples that need the MNIST files (or the Frey faces) run only when the
directory named by ``$SKVSC_DATA`` holds them. Equations are rendered by a copy
of MathJax that ships with the site (``sphinx-mathjax-offline``), and links to the Python,
NumPy, SciPy, scikit-learn and PyTorch documentation resolve against inventories
kept in ``docs/_inventories/`` (see there), so the build needs no network.
"""

import importlib.util
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document the checkout, not an installed copy
sys.path.insert(0, str(DOCS / "sphinxext"))

import skvsc  # noqa: E402
import skvsc.datasets  # noqa: E402

project = "skvsc"
author = "skvsc developers"
copyright = "skvsc developers"
release = skvsc.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    # MathJax 3 bundled into _static/, instead of loading it from a CDN.
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "prose_numbers",  # the numbers of the examples' prose against their output
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**/README.md"]
templates_path = ["_templates"]

# The repository's address is the ``url`` of setup.cfg's [metadata] (one home);
# where it is not set, pages say "source repository" without a link.
_setup = __import__("configparser").ConfigParser()
_setup.read(ROOT / "setup.cfg")
REPOSITORY_URL = _setup.get("metadata", "url", fallback="").strip()
rst_epilog = (
    f".. |repository| replace:: `source repository <{REPOSITORY_URL}>`__\n"
    if REPOSITORY_URL
    else ".. |repository| replace:: source repository\n"
)

html_theme = "alabaster"
html_title = f"skvsc {release}"
html_theme_options = {
    "description": "Variational Sparse Coding for scikit-learn",
    "fixed_sidebar": True,
    "page_width": "1240px",  # 100-character code lines fit a 1280-px window
    "sidebar_width": "230px",
    "extra_nav_links": {"Source repository": REPOSITORY_URL} if REPOSITORY_URL else {},
}
# custom.css: wide equations and code scroll inside their box instead of being
# clipped (a 1280-px window, a phone).
html_static_path = ["_static"]
html_css_files = ["custom.css"]

# -- autodoc / numpydoc --------------------------------------------------------
autodoc_member_order = "groupwise"
numpydoc_show_class_members = False  # autodoc lists the members
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

autosummary_generate = True  # one page per class and function, in docs/generated/

# Links to the Python, NumPy, SciPy, scikit-learn and PyTorch docs. The build is
# offline, so the inventories are not downloaded: docs/_inventories/ holds small
# hand-made ones, written by docs/_inventories/make_inventories.py from a list of
# the names these docs cite (each checked to import from the installed package)
# and each project's URL scheme. None of these packages ships its objects.inv.
# A name cited but missing from them shows as plain text, without a warning;
# add it to the script's list and rerun it.
intersphinx_mapping = {
    name: (url, str(DOCS / "_inventories" / f"{name}.inv"))
    for name, url in {
        "python": "https://docs.python.org/3/",
        "numpy": "https://numpy.org/doc/stable/",
        "scipy": "https://docs.scipy.org/doc/scipy/",
        "sklearn": "https://scikit-learn.org/stable/",
        "torch": "https://docs.pytorch.org/docs/stable/",
        "joblib": "https://joblib.readthedocs.io/en/stable/",
    }.items()
}

# -- myst (the Markdown pages) -------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3


# -- sphinx-gallery --------------------------------------------------------------
def _mnist_dir():
    """The data directory holding the MNIST files, or None."""
    data_home = os.environ.get("SKVSC_DATA")
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    names += ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    if data_home and all((Path(data_home) / "mnist" / name).is_file() for name in names):
        return str(Path(data_home).resolve())
    return None


MNIST_DIR = _mnist_dir()
if MNIST_DIR is not None:
    os.environ["SKVSC_DATA"] = MNIST_DIR  # absolute: the examples run in examples/
# The face example reads the frey/ folder of skvsc's data home ($SKVSC_DATA first).
_frey_file = Path(skvsc.datasets.get_data_home()) / "frey" / "frey-images-idx3-ubyte.gz"
FREY_FOUND = _frey_file.is_file()
# Examples named *_mnist.py, and the face example, are shown but not executed
# without their data.
_skipped = [r".*_mnist\.py"] * (MNIST_DIR is None) + [r"frey_faces\.py"] * (not FREY_FOUND)
_run_pattern = r"/plot_(?!" + "|".join(_skipped) + ")" if _skipped else r"/plot_"

os.environ.setdefault("MPLBACKEND", "Agg")
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": _run_pattern,
    "within_subsection_order": "gallery_order.NewcomerOrder",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "matplotlib_animations": False,
    "reference_url": {"skvsc": None},
    "doc_module": ("skvsc",),
    # "Examples using this" on each API page (the minigallery of the templates).
    "backreferences_dir": "generated/backreferences",
    # The execution-times page loads its table scripts from CDNs: not written.
    "write_computation_times": False,
}


# -- optional parts ---------------------------------------------------------------
# skvsc.plotting needs matplotlib, and a version of skvsc may lack skvsc.save / load
# or one of the results, performance, reliability, scaling and architecture pages.
# Where one is missing, references to it become plain text and its API section a
# note, so that the build stays warning-free either way.
OPTIONAL_PAGES = ("results", "performance", "reliability", "scaling", "architecture")


def _page_exists(name):
    return any((DOCS / f"{name}{suffix}").is_file() for suffix in source_suffix)


def _importable(module):
    """Whether ``module`` can be imported from this checkout (an editable install
    of another checkout must not fill the gap)."""
    try:
        spec = importlib.util.find_spec(module)
    except ImportError:
        return False
    if spec is None or spec.origin is None:
        return False
    return module.split(".")[0] != "skvsc" or Path(spec.origin).resolve().is_relative_to(ROOT)


def _optional_sections():
    """``(marker, available, note)`` of each optional section of api.rst."""
    return [
        (
            "save-load-api",
            hasattr(skvsc, "save") and hasattr(skvsc, "load"),
            "``skvsc.save`` and ``skvsc.load`` are not part of this version of skvsc.",
        ),
        (
            "plotting-api",
            _importable("skvsc.plotting") and _importable("matplotlib"),
            "``skvsc.plotting`` is not available in this build (it needs matplotlib: "
            '``pip install "skvsc[plot]"``).',
        ),
    ]


def _drop_missing(app, docname, source):
    text = source[0]
    for name in OPTIONAL_PAGES:
        if not _page_exists(name):
            text = text.replace(f":doc:`{name}`", f"the *{name}* page (not in this build)")
            if docname == "index":  # its toctree entry
                text = text.replace(f"\n   {name}\n", "\n")
    if docname == "api":
        for marker, available, note in _optional_sections():
            start, end = f".. {marker}-start", f".. {marker}-end"
            i, j = text.find(start), text.find(end)
            if not available and 0 <= i < j:
                text = text[:i] + f".. note::\n\n   {note}\n" + text[j + len(end) :]
    source[0] = text


_PAGE_MENTION = re.compile(r"``docs/(\w+)\.md``|(?<![`/\w])docs/(\w+)\.md")


def _link_pages(app, what, name, obj, options, lines):
    """Docstrings name the measurement pages as ``docs/results.md`` (readable in
    ``help()``); on the site they become links to those pages."""

    def link(match):
        page = match.group(1) or match.group(2)
        return f":doc:`/{page}`" if _page_exists(page) else match.group(0)

    lines[:] = [_PAGE_MENTION.sub(link, line) for line in lines]


def setup(app):
    app.connect("source-read", _drop_missing)
    app.connect("autodoc-process-docstring", _link_pages)
