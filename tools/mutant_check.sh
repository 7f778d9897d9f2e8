#!/usr/bin/env bash
# Run chosen mutants against chosen tests, outside mutmut's scheduler.
#
#   tools/mutant_check.sh DIR TEST... -- MUTANT...
#
# DIR is a mutmut working copy (mutants/ after `tools/mutation.sh core`, or
# ${MUTATION_DIR:-/tmp/skvsc-mutation}/mutants once `tools/mutation.sh
# estimators` has printed "done" for generating its mutants; it may be stopped
# then); MUTANT names as `mutmut results` prints them, or the keys of
# exit_code_by_key in DIR/skvsc/<module>.py.meta (JSON). Each
# mutant is switched on as mutmut does it (MUTANT_UNDER_TEST) and the tests run
# until the first failure; one line per mutant: "killed NAME (the failing
# test)" or "SURVIVED NAME". Uses: the tests of a core module that live outside
# tests/core/ (the core scope runs only tests/core/), a survivor of the core
# scope against the estimator tests, or the estimator scope's mutants one
# module at a time (its mutmut run can hang in a forked child; this forks
# nothing).
set -uo pipefail
dir="$1"
shift
tests=()
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    tests+=("$1")
    shift
done
shift || true
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cd "$dir"
for mutant in "$@"; do
    if MUTANT_UNDER_TEST="$mutant" OMP_NUM_THREADS=1 timeout 600 \
        python -m pytest -x -q -p no:cacheprovider "${tests[@]}" >"$log" 2>&1; then
        echo "SURVIVED $mutant"
    else
        echo "killed   $mutant ($(grep -m1 -oE '^(FAILED|ERROR) [^ ]+' "$log"))"
    fi
done
