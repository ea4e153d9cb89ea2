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
ansible-galaxy collection build --force --output-path "$work" "$here" >/dev/null
ansible-galaxy collection install --force -p "$work/collections" "$work"/mailops-xclient-*.tar.gz >/dev/null
ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_LOCALHOST_WARNING=false \
ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 \
ANSIBLE_CALLBACK_RESULT_FORMAT=yaml ANSIBLE_NOCOLOR=1 \
    ansible-playbook -i localhost, -c local "$here/playbooks/demo.yml" -e "demo_base=$base" "$@"
cat "$base/endpoints"
