#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# ansible-test sanity on a copy of the collection at ansible_collections/mailops/xclient
# (ansible-test needs that layout). The copy holds the files git tracks or would track.
# With SANITY_VENV set: once, with that environment's ansible-core. Without: once per
# ansible-core version in requirements/sanity-cores-pyX.Y.txt (environments made by
# scripts/install-deps.sh), so every version meta/runtime.yml claims is tested, or only the
# versions SANITY_CORES names.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$here/.venv}

if [ -z "${SANITY_VENV:-}" ]; then
    pyver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    # SANITY_CORES="2.17.14 2.18.19": only those (make test-fresh shares the versions that
    # install on both Pythons between its Debian 12 and 13 trees); each must be in the file.
    all=$(grep -Ev '^[[:space:]]*(#|$)' "$here/requirements/sanity-cores-py$pyver.txt")
    cores=${SANITY_CORES:-$all}
    for core in $cores; do
        grep -qxF "$core" <<<"$all" || { echo "sanity: SANITY_CORES: $core is not in requirements/sanity-cores-py$pyver.txt" >&2; exit 1; }
    done
    for core in $cores; do
        echo "== ansible-test sanity, ansible-core $core =="
        SANITY_VENV="$VENV/cores/$core" bash "$0" "$@" </dev/null || exit 1
    done
    exit 0
fi

py="$SANITY_VENV/bin/python"
[ -x "$py" ] || { echo "sanity: $SANITY_VENV missing: run scripts/install-deps.sh" >&2; exit 1; }
# One copy per ansible-core version, kept between runs except for the collection's files:
# ansible-test keeps the environment it delegates to under tests/output, and that one must
# survive for `make test` to run offline after scripts/install-deps.sh primed it.
core=$(basename "$SANITY_VENV")
dest="$here/build/sanity-$core/ansible_collections/mailops/xclient"
mkdir -p "$dest"
find "$dest" -mindepth 1 -maxdepth 1 ! -name tests -exec rm -rf {} +
find "$dest/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} + 2>/dev/null || true
rm -rf "$dest/.git"
(cd "$here" && git ls-files -co --exclude-standard -z | xargs -0 -I{} cp --parents {} "$dest/")
# ansible-test runs a cached pip bootstrap script when it has one: give it ours.
pip_version=$("$py" -c 'import re, ansible_test, os; src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read(); print(re.search(r"pip=.([0-9.]+).", src).group(1))')
mkdir -p ~/.ansible/test/cache
cp "$here/scripts/ansible_test_pip_bootstrap.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
cd "$dest"
# ansible-test lists files through git when it finds a repository.
git init -q && git add -A
pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PATH="$SANITY_VENV/bin:$PATH" exec "$SANITY_VENV/bin/ansible-test" sanity --venv --python "$pyver" "$@"
