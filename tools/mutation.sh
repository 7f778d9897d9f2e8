#!/usr/bin/env bash
# Mutation testing with mutmut, an opt-in job (not part of the default test run).
#
#   pip install mutmut                          # 3.x
#   tools/mutation.sh                           # skvsc/_core/ against tests/core/
#   tools/mutation.sh core "skvsc._core.revive*"   # the mutants of one module
#   tools/mutation.sh estimators                # skvsc/_*.py against tests/ (not slow)
#
# "core" uses setup.cfg's [mutmut] section in place (results in mutants/,
# git-ignored; a second run re-tests only what changed). "estimators" runs in
# a copy of the tracked files under ${MUTATION_DIR:-/tmp/skvsc-mutation} with
# that section pointed at the estimator layer. For each mutant mutmut runs
# only the tests that cover the mutated function. The kill rate is printed at
# the end: (killed + timeout) / (killed + timeout + survived + no tests).
# tools/mutant_check.sh runs chosen mutants against chosen tests (the estimator
# tests of a core survivor, or the estimators scope one module at a time).
# tools/hand_mutants.py re-runs the hand-made audit of issue 21.
set -euo pipefail
cd "$(dirname "$0")/.."
scope="${1:-core}"
shift || true
export OMP_NUM_THREADS=1 PYTHONPATH=
if [ "$scope" = "estimators" ]; then
    dir="${MUTATION_DIR:-/tmp/skvsc-mutation}"
    mkdir -p "$dir"
    git ls-files -z | xargs -0 cp --parents -t "$dir"
    cp tools/mutation_score.py "$dir/tools/"
    cd "$dir"
    python - <<'PY'
import re
text = open("setup.cfg").read()
# fnmatch's * crosses "/": the core is excluded by name.
text = re.sub(
    r"only_mutate =\n(    .*\n)+",
    "only_mutate =\n    skvsc/_*.py\ndo_not_mutate =\n    skvsc/_core/*\n",
    text,
)
selection = ["tests/", "-m", "not slow"] + [
    f"--ignore=tests/{name}"
    # test_distributed.py: its torchrun workers import the mutated package without mutmut's setup
    for name in ("test_common.py", "test_docs.py", "test_examples.py", "test_distributed.py")
] + [
    # mutmut's trampolines add stack frames, so a warning's stacklevel points elsewhere
    "--deselect",
    "tests/test_alpha_warning.py::test_warns_with_the_remedy_when_alpha_times_units_is_below_one",
]
text = text.replace(
    "pytest_add_cli_args_test_selection =\n    tests/core/",
    "pytest_add_cli_args_test_selection =\n" + "".join(f"    {a}\n" for a in selection).rstrip(),
)
# Tests that read the repository's other files (README, docs, examples, CI script) find
# them in mutmut's working copy too.
others = ["README.md", "CHANGES.md", "setup.cfg", "pyproject.toml", ".ci", "docs", "examples",
          "benchmarks", "tools"]
text = text.replace("also_copy =\n", "also_copy =\n" + "".join(f"    {o}\n" for o in others))
open("setup.cfg", "w").write(text)
PY
elif [ "$scope" != "core" ]; then
    echo "usage: tools/mutation.sh [core|estimators] [mutant name pattern]" >&2
    exit 2
fi
nice -n 15 mutmut run --max-children "${MUTATION_JOBS:-1}" "$@" || true
python tools/mutation_score.py
