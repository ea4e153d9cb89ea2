#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# ansible-lint, production profile (.ansible-lint), on the whole collection root, run where
# Ansible finds the collection: build/source-collections/ansible_collections/mailops/xclient
# is a link to this tree.
set -euo pipefail
# shellcheck source=scripts/source-link.sh
. "$(dirname "$0")/source-link.sh"
cd "$link"
# ansible-lint installs the collection it lints under ANSIBLE_HOME (build/ansible-home,
# set by collection.sh): that stays out of ~/.ansible.
exec bash "$here/scripts/collection.sh" run source ansible-lint "$@"
