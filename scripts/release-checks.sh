#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# What Ansible Galaxy and the docs site check, run on this tree (part of `make test`):
#   - antsibull-changelog lint (fragments and changelog.yaml);
#   - antsibull-docs lint-collection-docs (module, plugin and role docs);
#   - galaxy-importer on the built tarball: fails on any WARNING or ERROR it prints;
#   - the tarball holds no test, build or development files.
set -euo pipefail
# shellcheck source=scripts/source-link.sh
. "$(dirname "$0")/source-link.sh"
out=$(mktemp -d /tmp/xclient-release.XXXXXX)
trap 'rm -rf "$out"' EXIT

(cd "$here" && antsibull-changelog lint)
echo "release-checks: antsibull-changelog lint: clean"
(cd "$link" && antsibull-docs lint-collection-docs --plugin-docs .)
echo "release-checks: antsibull-docs lint-collection-docs: clean"

ansible-galaxy collection build --output-path "$out" "$here" >/dev/null
tarball=$(ls "$out"/mailops-xclient-*.tar.gz)
files=$(tar -tzf "$tarball" | grep -cv '/$')
echo "release-checks: $(basename "$tarball"): $files files, $(du -k "$tarball" | cut -f1) KiB"
stray=$(tar -tzf "$tarball" | grep -E '^(tests|scripts|build|benchmarks|playbooks|requirements)/|(^|/)\.[^/]+(/|$)|^(Makefile|BENCHMARKS\.md|pyproject\.toml)$' || true)
[ -z "$stray" ] || { echo "release-checks: the tarball ships development files:"; echo "$stray"; exit 1; }

(cd "$out" && python -m galaxy_importer.main "$tarball") >"$out/importer.log" 2>&1 || {
    cat "$out/importer.log"; echo "release-checks: galaxy-importer failed"; exit 1; }
if grep -E 'WARNING|ERROR' "$out/importer.log"; then
    echo "release-checks: galaxy-importer reported the lines above"; exit 1
fi
tail -1 "$out/importer.log"
