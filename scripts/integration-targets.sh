#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The module behaviour tests: ansible-test integration targets (tests/integration/targets),
# run on this host (--local) with the Python and ansible-core of the project venv, as root
# (each target starts a private Postfix instance of its own, on loopback ports, and removes
# it). Offline: ansible-test installs nothing without --requirements.
#   bash scripts/integration-targets.sh                 every target
#   bash scripts/integration-targets.sh postconf -v     ansible-test's own arguments
# ansible-test needs the tree at .../ansible_collections/mailops/xclient: it runs in the
# link scripts/source-link.sh makes (ANSIBLE_TEST_CONTENT_ROOT names it, since the working
# directory of a shell in a link is the link's target).
set -euo pipefail
# shellcheck source=scripts/source-link.sh
. "$(dirname "$0")/source-link.sh"
VENV=${VENV:-$here/.venv}
[ -x "$VENV/bin/ansible-test" ] || { echo "integration-targets: $VENV/bin/ansible-test missing: run scripts/install-deps.sh" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "integration-targets: the targets start Postfix instances: run as root" >&2; exit 1; }
pyver=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cd "$link"
# ansible-test writes tests/integration/inventory for --local runs and leaves it there.
[ -e tests/integration/inventory ] || trap 'rm -f "$here/tests/integration/inventory"' EXIT
start=$(date +%s)
PATH="$VENV/bin:$PATH" ANSIBLE_TEST_CONTENT_ROOT="$link" \
    "$VENV/bin/ansible-test" integration --local --python "$pyver" --color no "$@"
echo "integration-targets: done in $(( $(date +%s) - start ))s"
