"""Every number an example's prose quotes is one its code sets or its output prints.

An example in ``examples/`` is prose (the module docstring and the ``# %%`` text
cells) around code. Its prose may quote two kinds of number: an input, which is a
literal of the code (``alpha=0.1``, ``100 epochs``), and a measurement, which the
script computes and prints. :func:`check` returns the numerals of the prose that
are neither, so that a sentence such as "6.4 active units per sample" fails as soon
as the script prints 9.0. Statements about measurements without a numeral ("the
ELBO picks the smallest alpha") are printed by the script itself, formatted from
what it computed, so they cannot go stale either.

Used twice: by the documentation build (``setup`` below: after sphinx-gallery has
run the examples, each one's captured output is checked, and a mismatch is a
build warning, an error under ``-W``) and by ``tests/test_examples.py``, which
runs every example at full size.
"""

import ast
import io
import re
import tokenize
from pathlib import Path

# A numeral in running text: 9.0, 1,200, 20_000, 3e-3; not the parts of "8x8" or "C3".
NUMERAL = re.compile(r"(?<![\w.])(\d[\d,_]*(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w])(\s?%)?")
LIST_ITEM = re.compile(r"^\s*\d+\.\s")  # "1. with labels": a list marker, not a quantity


def split_example(source):
    """``(prose, code)`` of an example: the text of its docstring and ``# %%``
    text cells, and the rest of the script with its comments removed."""
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree, clean=False) or ""
    prose, code, in_text = [docstring], [], False
    body = source.split('"""', 2)[2] if docstring else source
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith("# %%"):
            in_text = True
            continue
        if in_text and (stripped == "#" or stripped.startswith("# ")):
            prose.append(stripped[2:])
            continue
        in_text = False
        code.append(line)
    return "\n".join(prose), "\n".join(code)


def _value(text):
    return float(text.replace(",", "").replace("_", ""))


def _decimals(text):
    mantissa = re.split(r"[eE]", text)[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def code_numbers(code):
    """The numeric literals of ``code`` (comments excluded)."""
    numbers = set()
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.NUMBER:
            try:
                numbers.add(float(token.string.replace("_", "")))
            except ValueError:  # complex literals
                pass
    return numbers


def output_numbers(output):
    """The numbers printed in ``output``, percentages as fractions too."""
    numbers = set()
    for match in NUMERAL.finditer(output):
        value = _value(match.group(1))
        numbers.add(value)
        if match.group(2):
            numbers.add(value / 100)
    return numbers


def prose_numerals(prose):
    """``(text, values, tolerances)`` of each numeral quoted in the prose: its
    value, and for a percentage also its fraction ("10 %" may quote 0.1)."""
    found = []
    for line in prose.splitlines():
        if set(line.strip()) <= set("=-~^"):  # a heading's underline
            continue
        line = LIST_ITEM.sub("", line)
        for match in NUMERAL.finditer(line):
            text = match.group(1).rstrip(",")
            value, tolerance = _value(text), 0.5 * 10.0 ** -_decimals(text)
            if "e" in text.lower():
                tolerance = abs(value) * 1e-9
            candidates = [(value, tolerance)]
            if match.group(2):
                text += " %"
                candidates.append((value / 100, tolerance / 100))
            found.append((text, candidates))
    return found


def check(source, output):
    """The numerals of the example's prose (in ``source``) that neither its code
    sets nor its ``output`` prints, at the precision the prose quotes them."""
    prose, code = split_example(source)
    known = code_numbers(code) | output_numbers(output)
    return sorted(
        {
            text
            for text, candidates in prose_numerals(prose)
            if not any(abs(v - k) <= tol * (1 + 1e-9) for v, tol in candidates for k in known)
        }
    )


# -- the Sphinx side ---------------------------------------------------------------

_OUTPUT_BLOCK = re.compile(
    r"\.\. rst-class:: sphx-glr-script-out\s*\n\s*\.\. code-block:: none\s*\n\n((?:[ \t]+.*\n|\n)+)"
)


def gallery_output(rst):
    """The captured standard output in a page written by sphinx-gallery."""
    return "\n".join(block for block in _OUTPUT_BLOCK.findall(rst))


def _check_gallery(app, exception):
    if exception is not None:
        return
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    conf = app.config.sphinx_gallery_conf
    examples = Path(conf["examples_dirs"])
    gallery = Path(app.srcdir) / conf["gallery_dirs"]
    for script in sorted(examples.glob("plot_*.py")):
        page = gallery / f"{script.stem}.rst"
        output = gallery_output(page.read_text(encoding="utf-8")) if page.is_file() else ""
        if not output.strip():  # not executed in this build (plot_gallery=0, no data)
            continue
        for text in check(script.read_text(encoding="utf-8"), output):
            logger.warning(
                "%s: the prose quotes %s, which the code does not set and the output "
                "does not print",
                script.name,
                text,
            )


def setup(app):
    app.connect("build-finished", _check_gallery)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
