#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Sourced by the scripts that need this tree found as the collection mailops.xclient (by
# Ansible through ANSIBLE_COLLECTIONS_PATH=$here/build/source-collections, or by Python as
# ansible_collections.mailops.xclient): sets $here (the tree) and $link, and makes the link
# build/source-collections/ansible_collections/mailops/xclient -> the tree.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
link="$here/build/source-collections/ansible_collections/mailops/xclient"
mkdir -p "$(dirname "$link")"
ln -sfn "$here" "$link"  # also mends a link left by a moved or copied checkout
