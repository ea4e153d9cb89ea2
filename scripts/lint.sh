#!/usr/bin/env bash
# ansible-lint, production profile, on the roles and playbooks; the collection is found
# through the source tree (build/source-collections/ansible_collections/mailops/xclient).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
link="$here/build/source-collections/ansible_collections/mailops/xclient"
mkdir -p "$(dirname "$link")"
[ -e "$link" ] || ln -s "$here" "$link"
cd "$here"
ANSIBLE_COLLECTIONS_PATH="$here/build/source-collections" \
    exec ansible-lint --offline --profile production roles/ playbooks/ "$@"
