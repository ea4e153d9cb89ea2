#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# mypy and ruff (configured in pyproject.toml) on plugins/ (module_utils, modules, filter,
# test, plugin_utils) and tests/harness. Exits non-zero on any finding. mypy imports the
# collection as ansible_collections.mailops.xclient, through the link
# scripts/source-link.sh makes.
set -euo pipefail
# shellcheck source=scripts/source-link.sh
. "$(dirname "$0")/source-link.sh"
cd "$here"
pkg=ansible_collections.mailops.xclient.plugins
harness=()
for f in tests/harness/*.py; do harness+=(-m "$(basename "$f" .py)"); done
status=0
mypy -p "$pkg.module_utils" -p "$pkg.modules" -p "$pkg.filter" -p "$pkg.test" \
    -p "$pkg.plugin_utils" "${harness[@]}" || status=1
ruff check plugins tests/harness || status=1
exit $status
