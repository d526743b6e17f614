#!/usr/bin/env bash
# Mutation testing of the core formulas (not part of CI: minutes to tens of minutes on 2 cores).
#   tools/mutants.sh            # mutate the committed HEAD in a scratch clone, print the survivors
#   MUTANTS_DIR=/tmp/m tools/mutants.sh
# Which files are mutated and which tests judge them: [tool.mutmut] in pyproject.toml.
# mutmut 3 mutates inside functions only and runs, per mutant, the selected tests that execute it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${MUTANTS_DIR:-$(mktemp -d /tmp/pfbench-mutants.XXXXXX)}"
python -m pip show mutmut >/dev/null 2>&1 || python -m pip install 'mutmut>=3.3,<4'
rm -rf "$work/clone" && git clone -q "$repo" "$work/clone"
cd "$work/clone"
mutmut run --max-children "${MUTANTS_JOBS:-2}" || true
mutmut results > "$work/results.txt" || true
echo "survivors (mutmut show NAME in $work/clone for the diff):"
grep -v ": killed" "$work/results.txt" || echo "none"
echo "all results: $work/results.txt"
