#!/usr/bin/env bash
# make demo: install what is needed, then deploy Postfix (private instance), the nginx
# XCLIENT proxy and the proxsmtp XCLIENT filter on loopback ports with playbooks/demo.yml,
# run from an installed build of the collection, and verify them. The stack stays up;
# `make demo-stop` stops it. The machine's default Postfix instance is never touched.
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
base=${DEMO_BASE:-/var/tmp/mailops-xclient-demo}
bash "$here/scripts/install-deps.sh"
export PATH="${VENV:-$here/.venv}/bin:$PATH"
work=$(mktemp -d /tmp/xclient-demo-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
collections=$(bash "$here/scripts/collection.sh" install "$work")
ANSIBLE_CALLBACK_RESULT_FORMAT=yaml \
    bash "$here/scripts/collection.sh" playbook "$collections" "$here/playbooks/demo.yml" \
    -e "demo_base=$base" "$@"
cat "$base/endpoints"
