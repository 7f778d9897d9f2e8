"""The parameters both estimators share are documented once, identically, and
the architecture page names every module."""

import ast
import inspect
import re
from pathlib import Path

import pytest

from skvsc import VAETransformer, VariationalSparseCoder, _docs

ESTIMATORS = (VariationalSparseCoder, VAETransformer)


def parameter_docs(cls):
    """``{name: (type line, description)}`` of the Parameters section."""
    section = cls.__doc__.split("Parameters\n    ----------\n")[1].split("\n    Attributes\n")[0]
    docs = {}
    for block in re.split(r"\n\s*\n", section.strip("\n")):
        lines = block.splitlines()
        name, _, kind = lines[0].strip().partition(" : ")
        docs[name] = (kind, "\n".join(line.strip() for line in lines[1:]))
    return docs


def test_every_parameter_is_documented_in_order():
    for cls in ESTIMATORS:
        signature = [p for p in inspect.signature(cls).parameters]
        assert list(parameter_docs(cls)) == signature, cls.__name__


def test_the_shared_parameters_are_documented_identically():
    vsc, vae = (parameter_docs(cls) for cls in ESTIMATORS)
    shared = set(vsc) & set(vae)
    assert shared == set(_docs.SHARED)
    assert len(shared) == 21
    defaults = [
        {p.name: p.default for p in inspect.signature(c).parameters.values()} for c in ESTIMATORS
    ]
    for name in shared:
        (vsc_type, vsc_text), (vae_type, vae_text) = vsc[name], vae[name]
        assert vsc_text == vae_text, name
        if defaults[0][name] == defaults[1][name]:
            assert vsc_type == vae_type, name
        else:  # only the default differs, and it is the signature's
            assert vsc_type.split("default=")[0] == vae_type.split("default=")[0], name
            for cls_defaults, kind in zip(defaults, (vsc_type, vae_type)):
                default = ast.literal_eval(kind.rpartition("default=")[2])
                assert default == cls_defaults[name], name


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_documented_defaults_are_the_signature_defaults(cls):
    for p in inspect.signature(cls).parameters.values():
        kind, _ = parameter_docs(cls)[p.name]
        documented = ast.literal_eval(kind.rpartition("default=")[2])
        assert documented == p.default, (cls.__name__, p.name)


def test_no_placeholder_is_left():
    for cls in ESTIMATORS:
        assert "{{" not in cls.__doc__ and "{default}" not in cls.__doc__


def test_the_architecture_page_names_every_module_and_only_modules():
    root = Path(__file__).resolve().parents[1]
    package = root / "skvsc"
    modules = {p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    page = (root / "docs" / "architecture.md").read_text()
    table = page.split("## Modules")[1].split("\n## ")[0]
    named = set(re.findall(r"^\| `([\w/]+\.py)` \|", table, flags=re.MULTILINE))
    assert modules - named == set(), "modules missing from docs/architecture.md"
    assert named - modules == set(), "docs/architecture.md names modules that do not exist"
