#!/usr/bin/env bash
# Mutation testing with mutmut, an opt-in job (not part of the default test run).
#
#   pip install mutmut          # 3.x
#   tools/mutation.sh           # every mutant of skvsc/_core/ (setup.cfg [mutmut])
#   tools/mutation.sh "skvsc._core.revive*"   # the mutants of one module
#
# The configuration (setup.cfg, [mutmut]) mutates skvsc/_core/ and runs, for
# each mutant, the tests of tests/core/ that cover the mutated function.
# Results stay in mutants/ (git-ignored); a second run only re-tests what
# changed. The kill rate is printed at the end ("killed / (killed + survived)",
# timeouts count as killed, mutants no test covers as survived).
# tools/hand_mutants.py re-runs the hand-made audit of issue 21.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 PYTHONPATH=
nice -n 15 mutmut run --max-children "${MUTATION_JOBS:-1}" "$@" || true
python tools/mutation_score.py
