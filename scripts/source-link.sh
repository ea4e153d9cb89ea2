#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The one definition of "this tree found as the collection mailops.xclient" (by Ansible
# through ANSIBLE_COLLECTIONS_PATH=$collections, or by Python as
# ansible_collections.mailops.xclient with $collections on sys.path). Sourced, it sets
# $here (the tree), $collections and $link, and makes the link
# build/source-collections/ansible_collections/mailops/xclient -> the tree. Run, it does
# the same and prints $collections (scripts/collection.sh and tests/harness/collection.py
# use it so).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
collections="$here/build/source-collections"
link="$collections/ansible_collections/mailops/xclient"
mkdir -p "$(dirname "$link")"
ln -sfn "$here" "$link"  # also mends a link left by a moved or copied checkout
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "$collections"
fi
