"""Write the small Sphinx inventories that let the offline docs build link to
the Python, NumPy, SciPy, scikit-learn, PyTorch and joblib documentation.

The real ``objects.inv`` files are on those projects' sites, which the docs build
must not need (CI builds offline), and no installed package ships its own. So each
inventory here lists only the names skvsc's pages, docstrings and examples cite,
with the URL each project gives them. A name whose object does not import from
the installed package is refused, so that a misspelt or removed name cannot become
a dead link. To cite a new name, add it below and run::

    python docs/_inventories/make_inventories.py
"""

import importlib
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> page (relative to the project's documentation root); "$" is the name.
SKLEARN_CLASS = "modules/generated/$.html#$"
NUMPY = "reference/generated/$.html#$"
TORCH = "generated/$.html#$"
SCIPY = "reference/generated/$.html#$"
JOBLIB = "generated/$.html#$"

PROJECTS = {
    "python": (
        "Python",
        "3",
        {
            "py:exception": {
                name: "library/exceptions.html#$"
                for name in (
                    "ValueError",
                    "TypeError",
                    "RuntimeError",
                    "OSError",
                    "FileNotFoundError",
                    "KeyboardInterrupt",
                    "UserWarning",
                    "RuntimeWarning",
                    "Warning",
                )
            },
            "py:class": {
                "int": "library/functions.html#$",
                "float": "library/functions.html#$",
                "str": "library/stdtypes.html#$",
                "bool": "library/functions.html#$",
                "dict": "library/stdtypes.html#$",
                "list": "library/stdtypes.html#$",
                "tuple": "library/stdtypes.html#$",
                "os.PathLike": "library/os.html#$",
                "pathlib.Path": "library/pathlib.html#$",
            },
            "py:module": {
                "pickle": "library/pickle.html#module-$",
                "warnings": "library/warnings.html#module-$",
            },
            "py:data": {"None": "library/constants.html#$"},
        },
    ),
    "numpy": (
        "NumPy",
        "2",
        {
            "py:class": {"numpy.ndarray": NUMPY, "numpy.random.RandomState": NUMPY},
            "py:function": {"numpy.asarray": NUMPY},
        },
    ),
    "scipy": (
        "SciPy",
        "1",
        {
            "py:module": {"scipy.sparse": "reference/sparse.html#module-$"},
            "py:class": {"scipy.sparse.csr_matrix": SCIPY, "scipy.sparse.csr_array": SCIPY},
            "py:function": {"scipy.sparse.issparse": SCIPY},
        },
    ),
    "sklearn": (
        "scikit-learn",
        "1.9",
        {
            "py:class": {
                name: SKLEARN_CLASS
                for name in (
                    "sklearn.base.BaseEstimator",
                    "sklearn.base.TransformerMixin",
                    "sklearn.decomposition.PCA",
                    "sklearn.decomposition.DictionaryLearning",
                    "sklearn.decomposition.MiniBatchDictionaryLearning",
                    "sklearn.neural_network.BernoulliRBM",
                    "sklearn.model_selection.GridSearchCV",
                    "sklearn.model_selection.RandomizedSearchCV",
                    "sklearn.pipeline.Pipeline",
                    "sklearn.preprocessing.StandardScaler",
                    "sklearn.preprocessing.MinMaxScaler",
                    "sklearn.preprocessing.FunctionTransformer",
                    "sklearn.linear_model.LogisticRegression",
                    "sklearn.linear_model.Lasso",
                    "sklearn.svm.SVC",
                )
            },
            "py:function": {
                name: SKLEARN_CLASS
                for name in (
                    "sklearn.base.clone",
                    "sklearn.pipeline.make_pipeline",
                    "sklearn.datasets.load_digits",
                    "sklearn.model_selection.train_test_split",
                    "sklearn.utils.estimator_checks.check_estimator",
                )
            },
            "std:term": {
                name: "glossary.html#term-$"
                for name in (
                    "fit",
                    "transform",
                    "partial_fit",
                    "random_state",
                    "warm_start",
                    "n_jobs",
                    "early stopping",
                )
            },
        },
    ),
    "torch": (
        "PyTorch",
        "2",
        {
            "py:class": {
                "torch.device": "tensor_attributes.html#$",
                "torch.Tensor": "tensors.html#$",
                "torch.Generator": TORCH,
                "torch.nn.Module": TORCH,
                "torch.optim.Adam": TORCH,
            },
            "py:function": {
                name: TORCH
                for name in (
                    "torch.save",
                    "torch.load",
                    "torch.compile",
                    "torch.set_num_threads",
                    "torch.get_num_threads",
                    "torch.cuda.is_available",
                    "torch.no_grad",
                )
            },
        },
    ),
    "joblib": (
        "joblib",
        "1",
        {
            "py:module": {"joblib": "index.html#module-$"},
            "py:function": {
                "joblib.dump": JOBLIB,
                "joblib.load": JOBLIB,
                "joblib.parallel_config": JOBLIB,
            },
            "py:class": {"joblib.Parallel": JOBLIB},
        },
    ),
}

BUILTIN_PAGES = {"None", "int", "float", "str", "bool", "dict", "list", "tuple"}


def _exists(name, role):
    """Whether ``name`` imports from the installed package (terms always do)."""
    if role == "std:term" or name in BUILTIN_PAGES:
        return True
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return hasattr(importlib.import_module("builtins"), name)


def write_inventory(key, project, version, roles):
    lines = []
    for role, names in roles.items():
        for name, page in sorted(names.items()):
            if not _exists(name, role):
                raise SystemExit(f"{key}: {name} does not import; fix the list")
            anchor_name = name.replace(" ", "-") if role == "std:term" else name
            uri = page.replace("$", anchor_name)
            if uri.endswith("#" + anchor_name) and role != "std:term":
                uri = uri[: -len(anchor_name)] + "$"  # Sphinx's shorthand for "#name"
            lines.append(f"{name} {role} 1 {uri} -")
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = zlib.compress(("\n".join(lines) + "\n").encode())
    (HERE / f"{key}.inv").write_bytes(header.encode() + body)
    return len(lines)


if __name__ == "__main__":
    for key, (project, version, roles) in PROJECTS.items():
        print(f"{key}.inv: {write_inventory(key, project, version, roles)} names")
