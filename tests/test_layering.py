"""The layers of the package, read from the source with ``ast``.

- ``skvsc/_core`` is pure torch: it imports only the standard library, torch,
  numpy, scipy and itself (never scikit-learn, never the estimators);
- ``skvsc/_state`` (the state schema) imports no estimator;
- ``skvsc.plotting`` and ``skvsc.datasets`` use the public API only;
- the import graph of the package, imports inside functions included, has
  no circle.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skvsc"
ESTIMATOR_MODULES = {"skvsc", "skvsc._base", "skvsc._vsc", "skvsc._vae", "skvsc._io"}


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name):
    return MODULES[name].name == "__init__.py"


def imports(name):
    """``(module imported, line)`` of every import in module ``name``: skvsc
    modules by full name, other packages by their top-level name."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if _is_package(name) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.append((target if target in MODULES else base, node.lineno))
    return [(m if m.startswith("skvsc") else m.split(".")[0], line) for m, line in found]


def test_the_modules_are_found():
    assert {"skvsc._core.vae", "skvsc._state", "skvsc._io", "skvsc._base"} <= set(MODULES)


CORE = [name for name in MODULES if name.startswith("skvsc._core")]
ALLOWED_IN_CORE = {"torch", "numpy", "scipy"} | set(sys.stdlib_module_names)


@pytest.mark.parametrize("name", CORE)
def test_the_core_imports_only_torch_numpy_scipy_and_itself(name):
    for module, line in imports(name):
        inside = module.startswith("skvsc._core")
        assert inside or module in ALLOWED_IN_CORE, f"{name}:{line} imports {module}"


def test_the_state_schema_imports_no_estimator():
    for module, line in imports("skvsc._state"):
        assert module not in ESTIMATOR_MODULES, f"skvsc._state:{line} imports {module}"


@pytest.mark.parametrize("prefix", ["skvsc.plotting", "skvsc.datasets"])
def test_public_helpers_use_the_public_api(prefix):
    for name in (n for n in MODULES if n.startswith(prefix)):
        for module, line in imports(name):
            private = module.startswith("skvsc") and not module.startswith(prefix)
            allowed = module in ("skvsc", "skvsc._diagnostics")  # pure statistics
            assert not private or allowed, f"{name}:{line} imports {module}"


def test_no_import_circle():
    graph = {name: {m for m, _ in imports(name) if m in MODULES and m != name} for name in MODULES}
    # Importing a module runs its package's __init__ first: skvsc/__init__ is the
    # top floor, so no module may need it back (plotting and datasets use the
    # public names at call time only, through the package itself).
    done, on_path = set(), []

    def visit(name):
        if name in on_path:
            cycle = [*on_path[on_path.index(name) :], name]
            pytest.fail("import circle: " + " -> ".join(cycle))
        if name in done:
            return
        on_path.append(name)
        for target in sorted(graph[name]):
            visit(target)
        on_path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
