#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# make test (after make deps): every step in order, stopping at the first that fails; one
# line per step with its wall time ("test-step: NAME passed|failed N s"), so a run cut short
# (CI's step timeout) still shows where its time went.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PYTHON=${PYTHON:-${VENV:-$PWD/.venv}/bin/python}
steps=(
    "pytest|$PYTHON -m pytest -p no:cacheprovider -q --durations=25 tests/unit tests/integration"
    "integration-targets|bash scripts/integration-targets.sh"
    "sanity|bash scripts/sanity.sh"
    "typecheck|bash scripts/typecheck.sh"
    "release-checks|bash scripts/release-checks.sh"
    "ee-check|bash scripts/ee-check.sh"
)
for step in "${steps[@]}"; do
    name=${step%%|*}; cmd=${step#*|}
    t0=$(date +%s)
    if bash -c "$cmd"; then
        echo "test-step: $name passed $(( $(date +%s) - t0 )) s"
    else
        rc=$?
        echo "test-step: $name failed $(( $(date +%s) - t0 )) s"
        exit "$rc"
    fi
done
