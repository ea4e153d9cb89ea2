#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The execution environment check (part of `make test`; no container engine needed):
#   1. the README's EE definition (ansible-builder format 3), installing this collection
#      from the tarball built from this tree instead of Galaxy; its ansible-core and
#      ansible-runner pins must be ones the tests use;
#   2. `ansible-builder create` makes the build context; its files are asserted;
#   3. the context's own galaxy step (its requirements.yml, from inside _build/ as the
#      Containerfile runs it) installs the collection, and the context's own
#      introspect.py reads what the collection declares (meta/execution-environment.yml)
#      exactly as the image build would: the Python and system requirement lines it
#      writes must be our requirements.txt and bindep.txt, line for line, and nothing else.
# Prints the context's files and the requirement lines. EE_CHECK_KEEP=DIR keeps the work
# there instead of a temporary directory.
set -euo pipefail
# shellcheck source=scripts/source-link.sh
. "$(dirname "$0")/source-link.sh"

fail() { echo "ee-check: $*" >&2; exit 1; }

if [ -n "${EE_CHECK_KEEP:-}" ]; then
    out=$EE_CHECK_KEEP
    rm -rf "$out"
    mkdir -p "$out"
else
    out=$(mktemp -d /tmp/xclient-ee.XXXXXX)
    trap 'rm -rf "$out"' EXIT
fi

# The requirement lines of a pip or bindep file: no comments, no blank lines.
lines_of() { sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$1"; }

export ANSIBLE_HOME="$out/ansible-home"  # nothing into ~/.ansible
ansible-galaxy collection build --output-path "$out" "$here" >/dev/null
tarball=$(basename "$(ls "$out"/mailops-xclient-*.tar.gz)")
mkdir -p "$out/def"
mv "$out/$tarball" "$out/def/$tarball"
# The README's EE definition ("At fleet scale"), with the collection from the tarball
# instead of Galaxy: the one definition users copy is the one checked here.
python - "$here" "$tarball" >"$out/def/execution-environment.yml" <<'PY'
import re, sys, yaml
here, tarball = sys.argv[1:]
text = open(f"{here}/README.md", encoding="utf-8").read()
found = [b for b in (yaml.safe_load(t) for t in re.findall(r"```yaml\n(.*?)```", text, re.S))
         if isinstance(b, dict) and "dependencies" in b and "version" in b]
if len(found) != 1:
    sys.exit(f"ee-check: README.md shows {len(found)} EE definitions, not 1")
ee = found[0]
if ee["dependencies"].get("galaxy") != {"collections": [{"name": "mailops.xclient"}]}:
    sys.exit("ee-check: the README's EE definition does not install mailops.xclient alone")
ee["dependencies"]["galaxy"] = {"collections": [{"name": f"collections/{tarball}", "type": "file"}]}
ee["additional_build_files"] = [{"src": tarball, "dest": "collections"}]
print(yaml.safe_dump(ee, sort_keys=False))
PY
core_pin=$(python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["dependencies"]["ansible_core"]["package_pip"])' "$out/def/execution-environment.yml")
runner_pin=$(python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["dependencies"]["ansible_runner"]["package_pip"])' "$out/def/execution-environment.yml")
# The README pins what the tests run with.
grep -qxF -- "$core_pin" "$here"/requirements/core-py*.txt \
    || fail "the README's EE pins $core_pin, which no requirements/core-py*.txt pins"
grep -qxF -- "$runner_pin" "$here/requirements/test.txt" \
    || fail "the README's EE pins $runner_pin, requirements/test.txt another ansible-runner"

ctx=$out/context
ansible-builder create -f "$out/def/execution-environment.yml" -c "$ctx" \
    --output-filename Containerfile >"$out/create.log" 2>&1 || {
    cat "$out/create.log"; fail "ansible-builder create failed"; }

echo "ee-check: ansible-builder $(ansible-builder --version) create: context files"
(cd "$ctx" && find . -type f | sort | sed 's/^\.\//  /')
for f in Containerfile _build/requirements.yml "_build/collections/$tarball" \
         _build/scripts/introspect.py _build/scripts/assemble _build/scripts/install-from-bindep \
         _build/scripts/check_galaxy _build/scripts/check_ansible _build/scripts/pip_install \
         _build/scripts/entrypoint; do
    [ -f "$ctx/$f" ] || fail "the build context lacks $f"
done
grep -q "collections/$tarball" "$ctx/_build/requirements.yml" \
    || fail "_build/requirements.yml does not name collections/$tarball"
# shellcheck disable=SC2016  # the Containerfile's own $VARIABLES, literally
for step in 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml' '/output/scripts/introspect.py introspect' \
            '/output/scripts/assemble' "$core_pin" "$runner_pin"; do
    grep -qF -- "$step" "$ctx/Containerfile" || fail "the Containerfile has no '$step'"
done

# The galaxy stage, from the context alone (WORKDIR /build in the Containerfile).
(cd "$ctx/_build" && ansible-galaxy collection install -r requirements.yml \
    --collections-path "$out/collections" >"$out/galaxy.log" 2>&1) || {
    cat "$out/galaxy.log"; fail "the context's requirements.yml does not install"; }
# The builder stage's introspection, by the context's own script.
python "$ctx/_build/scripts/introspect.py" introspect "$out/collections" \
    --write-pip "$out/pip.txt" --write-bindep "$out/bindep.txt" >"$out/introspect.log" 2>&1 || {
    cat "$out/introspect.log"; fail "introspect.py failed"; }

for kind in pip bindep; do
    src=requirements.txt
    [ "$kind" = bindep ] && src=bindep.txt
    want=$(lines_of "$here/$src" | sed 's/[[:space:]]*$/  # from collection mailops.xclient/')
    [ -n "$want" ] || fail "$src declares nothing"
    got=$(cat "$out/$kind.txt" 2>/dev/null || true)
    got=$(printf '%s\n' "$got" | sed '/^$/d')
    if [ "$got" != "$want" ]; then
        echo "want:"; echo "$want"; echo "got:"; echo "$got"
        fail "the EE build would install other $kind requirements than $src declares"
    fi
    echo "ee-check: $kind requirement lines the build installs:"
    printf '%s\n' "$got" | sed 's/^/  /'
done
echo "ee-check: clean"
