#!/usr/bin/env bash
# make demo-probe-matrix: install what is needed, start a private Postfix instance on loopback ports,
# run the probe matrix through ansible-playbook from an installed build of the collection,
# print the report, stop the instance. The machine's default Postfix is never touched.
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/install-deps.sh"
export PATH="${VENV:-$here/.venv}/bin:$PATH"
work=$(mktemp -d /tmp/xclient-demo.XXXXXX)
chmod 755 "$work"
cleanup() {
    python3 "$here/tests/harness/private_postfix.py" stop "$work/postfix" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
collections=$(bash "$here/scripts/collection.sh" install "$work")
facts=$(python3 "$here/tests/harness/private_postfix.py" start "$work/postfix")
extra=$(python3 -c 'import json,sys; f=json.loads(sys.argv[1]); print(json.dumps({k+"_port": v for k, v in f["ports"].items()}))' "$facts")
echo "private Postfix instance: $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["config_dir"])' "$facts")"
ANSIBLE_CALLBACK_RESULT_FORMAT=yaml \
    bash "$here/scripts/collection.sh" playbook "$collections" \
    "$here/playbooks/demo_probe_matrix.yml" -e "$extra"
echo
echo "Postfix's own log lines for the probed identities:"
grep -E "NOQUEUE: reject|client=" "$work/postfix/maillog" | sed 's/^.*postfix\//  postfix\//' | head -20
