#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The one place that builds and installs this collection and runs Ansible against it, with
# the environment every caller needs (tests through tests/harness/collection.py, the demo
# scripts, the benchmarks, lint):
#
#   collection.sh install DIR                 build the collection from this tree, install
#                                             it under DIR/collections; prints that path
#   collection.sh run COLLECTIONS CMD [ARG]   run an Ansible command (ansible-playbook,
#                                             ansible-doc, ansible-lint, ...) that finds the
#                                             collection under COLLECTIONS; "source" is the
#                                             source tree itself (scripts/source-link.sh)
#   collection.sh playbook COLLECTIONS PLAYBOOK [ARG]
#                                             ansible-playbook -i localhost, -c local
#
# Ansible's own state (ANSIBLE_HOME: local temp files, what ansible-lint installs) stays in
# build/ansible-home, never ~/.ansible. Modules run with ANSIBLE_PYTHON_INTERPRETER if the
# caller sets it, else /usr/bin/python3 (the distribution's Python, as on a target host).
set -euo pipefail
# shellcheck source=scripts/source-link.sh
. "$(dirname "${BASH_SOURCE[0]}")/source-link.sh"

usage() {
    echo "usage: collection.sh install DIR | run COLLECTIONS CMD [ARG...] |" \
         "playbook COLLECTIONS PLAYBOOK [ARG...]" >&2
    exit 2
}

ansible_env() {
    local path=$1
    [ "$path" = source ] && path=$collections
    export ANSIBLE_COLLECTIONS_PATH=$path
    export ANSIBLE_HOME="$here/build/ansible-home"
    export ANSIBLE_PYTHON_INTERPRETER=${ANSIBLE_PYTHON_INTERPRETER:-/usr/bin/python3}
    export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
    export ANSIBLE_NOCOLOR=1
    # the collection comes from COLLECTIONS only, not from a source tree on PYTHONPATH
    unset PYTHONPATH
}

[ $# -ge 2 ] || usage
action=$1
shift
case $action in
    install)
        dest=$1
        mkdir -p "$dest"
        ansible_env "$dest/collections"  # where it goes is where Ansible looks
        out=$(mktemp -d "$dest/build.XXXXXX")
        ansible-galaxy collection build --force --output-path "$out" "$here" >/dev/null
        ansible-galaxy collection install --force -p "$dest/collections" \
            "$out"/mailops-xclient-*.tar.gz >/dev/null
        rm -rf "$out"
        test -f "$dest/collections/ansible_collections/mailops/xclient/MANIFEST.json"
        echo "$dest/collections"
        ;;
    run)
        [ $# -ge 2 ] || usage
        ansible_env "$1"
        shift
        exec "$@"
        ;;
    playbook)
        [ $# -ge 2 ] || usage
        ansible_env "$1"
        shift
        exec ansible-playbook -i localhost, -c local "$@"
        ;;
    *)
        usage
        ;;
esac
