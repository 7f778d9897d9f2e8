"""The test suite's own layout: unique file names, docstrings that say what is tested."""

import ast
import collections
import re
from pathlib import Path

TESTS = Path(__file__).parent
FILES = sorted(TESTS.rglob("test_*.py"))


def test_test_files_have_unique_names():
    # Two files of one name (tests/x.py and tests/core/x.py) are hard to tell
    # apart in reports and tracebacks; a name says what the file tests.
    names = collections.Counter(path.name for path in FILES)
    assert [name for name, count in names.items() if count > 1] == []


def test_test_docstrings_carry_no_process_tags():
    # "(issue: speed)" says when a test was written, not what it checks.
    tag = re.compile(r"\(issue\b|\bissue:|\bthis round\b", re.IGNORECASE)
    tagged = []
    for path in FILES:
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if not docstring:
            tagged.append(f"{path.relative_to(TESTS)}: no docstring")
        elif tag.search(docstring):
            tagged.append(f"{path.relative_to(TESTS)}: {docstring.splitlines()[0]}")
    assert tagged == []
