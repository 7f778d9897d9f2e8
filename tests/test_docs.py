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
    # cleandoc: Python 3.13 strips the docstring's indentation when compiling, earlier ones keep it
    doc = inspect.cleandoc(cls.__doc__)
    section = doc.split("\nParameters\n----------\n")[1].split("\nAttributes\n")[0]
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
    assert len(shared) == 22
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


# ``name`` (spec) entries of the user guide's parameter list; spec is one
# default for both estimators, "VSC only, D", or "VSC: D, VAE: D", and a default
# may carry a gloss after a colon ("0.0: off").
_GUIDE_ENTRY = re.compile(r"``(\w+)`` \(((?:[^()]|\([^()]*\))*)\)")


def _guide_defaults():
    """The defaults the user guide states, per parameter and estimator, and the
    parameters its introduction says the VAE lacks."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "user_guide.rst").read_text()
    section = text.split("\nParameters\n----------\n")[1].split(".. _choosing-alpha:")[0]
    intro = " ".join(section.split("has the same ones except")[1].split("which only")[0].split())
    vsc_only = set(re.findall(r"``(\w+)``", intro))
    entries = {}
    for line in section.splitlines():
        if not line.startswith("``"):
            continue  # an entry's description, indented
        for name, spec in _GUIDE_ENTRY.findall(line):
            both = re.fullmatch(r"VSC: (.+), VAE: (.+)", spec)
            only = re.fullmatch(r"VSC only, (.+)", spec)
            if both:
                values = {"VariationalSparseCoder": both[1], "VAETransformer": both[2]}
            elif only:
                values = {"VariationalSparseCoder": only[1]}
            else:
                values = dict.fromkeys(("VariationalSparseCoder", "VAETransformer"), spec)
            if name in vsc_only:
                values.pop("VAETransformer", None)
            entries[name] = {k: v.partition(": ")[0] for k, v in values.items()}
    return entries, vsc_only


def test_the_user_guide_states_every_parameter_with_its_default():
    # The guide's list is written by hand: a default that changes in the
    # signature (conv_channels, the "auto" values) must change there too.
    entries, vsc_only = _guide_defaults()
    vsc, vae = (set(inspect.signature(cls).parameters) for cls in ESTIMATORS)
    assert vsc_only == vsc - vae
    for cls in ESTIMATORS:
        params = inspect.signature(cls).parameters
        for name, p in params.items():
            assert name in entries, (cls.__name__, name, "missing from the user guide")
            stated = entries[name].get(cls.__name__)
            assert stated is not None, (cls.__name__, name, "no default stated for it")
            assert ast.literal_eval(stated) == p.default, (cls.__name__, name, stated)
        extra = {n for n, v in entries.items() if cls.__name__ in v} - set(params)
        assert not extra, (cls.__name__, extra)
