#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection at ansible_collections/mailops/xclient
# (ansible-test needs that layout). The copy holds the files git tracks or would track.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/build/sanity/ansible_collections/mailops/xclient"
rm -rf "$here/build/sanity"
mkdir -p "$dest"
(cd "$here" && git ls-files -co --exclude-standard -z | xargs -0 -I{} cp --parents {} "$dest/")
# ansible-test runs a cached pip bootstrap script when it has one: give it ours.
pip_version=$(python3 -c 'import re, ansible_test, os; src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read(); print(re.search(r"pip=.([0-9.]+).", src).group(1))')
mkdir -p ~/.ansible/test/cache
cp "$here/scripts/ansible_test_pip_bootstrap.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
cd "$dest"
# ansible-test lists files through git when it finds a repository.
git init -q && git add -A
exec ansible-test sanity --venv --python "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" "$@"
