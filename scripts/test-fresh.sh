#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# make test-fresh: prove the README's two commands on pristine Debian 12 and 13 trees.
#
# For each distribution: a debootstrap tree (from the mirror this machine's apt uses; the
# tarball is cached in $FRESH_CACHE so reruns skip the download), the machine's local CA
# certificates put where a corporate Debian machine has them (/usr/local/share/ca-certificates),
# the checkout copied in, then, as root in a clean environment (env -i):
#   setup:  apt-get update && apt-get install -y make, then `make deps` (the install step
#           both README commands start with; the only step with network access);
#   demo:   `make demo`, in a private network namespace (loopback only): its endpoint lines,
#           and one message through each hop that Postfix's log shows with the client;
#   tests:  `make test`, in the same private network namespace (so offline).
# Each step runs in its own mount + PID namespace: every mount and every daemon started
# inside goes away with it, whatever happens. Prints one table and, last, one JSON line.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
FRESH_CACHE=${FRESH_CACHE:-/var/cache/mailops-xclient-fresh}
FRESH_DISTS=${FRESH_DISTS:-bookworm trixie}
FRESH_KEEP=${FRESH_KEEP:-0}
FRESH_PARALLEL=${FRESH_PARALLEL:-1}
# No step may use up CI's time: each is cut after this many seconds (make test took about
# 1,800 s in each tree side by side before the sanity versions were shared out, below).
FRESH_STEP_TIMEOUT=${FRESH_STEP_TIMEOUT:-2700}
mkdir -p "$FRESH_CACHE"

# The mirror apt already uses (deb822 or one-line sources).
mirror=$( (grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources || true) | awk '{print $2}' | (grep -v security || true) | head -1)
[ -n "$mirror" ] || mirror=$( (grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true) | awk '{print $2}' | (grep -v security || true) | head -1)
[ -n "$mirror" ] || { echo "test-fresh: no Debian mirror found in /etc/apt" >&2; exit 1; }
# All it needs on this machine: debootstrap and git (the trees install everything else).
if ! command -v debootstrap >/dev/null || ! command -v git >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap git >/dev/null
fi
work=$(mktemp -d /var/tmp/xclient-fresh.XXXXXX)

# ansible-test sanity runs once per ansible-core version (requirements/sanity-cores-pyX.Y.txt).
# With more than one tree, a version that installs on several of their Pythons runs in one
# tree only (the one with the fewest so far, ties to the later one): every version is still
# tested, none twice. sanity_cores DIST prints the versions for that tree ("" = all).
declare -A FRESH_PYTHON=([bookworm]=3.11 [trixie]=3.13)
declare -A FRESH_SANITY=()
read -r -a dists <<<"$FRESH_DISTS"
if [ "${#dists[@]}" -gt 1 ]; then
    while IFS='=' read -r dist cores; do FRESH_SANITY[$dist]=$cores; done < <(
        for dist in "${dists[@]}"; do echo "$dist ${FRESH_PYTHON[$dist]:-?}"; done |
        python3 -c '
import os, sys
here = sys.argv[1]
pythons = [line.split() for line in sys.stdin]
def versions(py):
    try:
        with open(os.path.join(here, "requirements", "sanity-cores-py%s.txt" % py)) as fh:
            return [l.strip() for l in fh if l.strip() and not l.startswith("#")]
    except OSError:
        return []
offered = {dist: versions(py) for dist, py in pythons}
key = lambda v: tuple(int(x) for x in v.split("."))
chosen = {dist: [] for dist, _ in pythons}
allv = sorted({v for vs in offered.values() for v in vs}, key=key)
for v in [v for v in allv if sum(v in vs for vs in offered.values()) == 1] + \
         [v for v in allv if sum(v in vs for vs in offered.values()) > 1]:
    where = [d for d, _ in pythons if v in offered[d]]
    best = min(len(chosen[d]) for d in where)
    chosen[[d for d in where if len(chosen[d]) == best][-1]].append(v)
for dist, _ in pythons:
    print("%s=%s" % (dist, " ".join(sorted(chosen[dist], key=key))))
' "$here")
fi

cleanup() {
    # Nothing is mounted into the trees outside the per-step namespaces; still, never
    # cross into another file system while removing them.
    if [ "$FRESH_KEEP" = 1 ]; then echo "test-fresh: kept $work"; return; fi
    for r in "$work"/*/root; do
        [ -d "$r" ] && { findmnt -rn -o TARGET | grep -q "^$r" && umount -R "$r" 2>/dev/null; true; }
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# run_in ROOT NET LOGFILE COMMAND: COMMAND as root in a clean environment inside ROOT, in new
# mount and PID namespaces (and a new network namespace with only loopback if NET=none).
run_in() {
    local root=$1 net=$2 log=$3 cmd=$4 netflag=()
    [ "$net" = none ] && netflag=(--net)
    # shellcheck disable=SC2016  # the inner script expands its own arguments
    timeout -k 60 "$FRESH_STEP_TIMEOUT" \
    unshare --mount --pid --fork --kill-child --mount-proc="$root/proc" "${netflag[@]}" \
        bash -c '
            set -e
            root=$1; cmd=$2
            ip link set lo up 2>/dev/null || true
            mount --make-rprivate /
            # The tree is a mount point, as "/" is on a real machine: unshare -m and
            # ip netns exec make "/" private first, which fails on a plain directory.
            mount --rbind "$root" "$root"
            mount -t sysfs sysfs "$root/sys"
            mount -t tmpfs -o mode=755 tmpfs "$root/dev"
            for d in null zero full random urandom tty; do
                touch "$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"
            done
            mkdir -p "$root/dev/pts" "$root/dev/shm"; mount -t devpts -o newinstance devpts "$root/dev/pts"
            ln -sf pts/ptmx "$root/dev/ptmx"; mount -t tmpfs tmpfs "$root/dev/shm"
            ln -sf /proc/self/fd "$root/dev/fd"
            mount -t tmpfs -o mode=755 tmpfs "$root/run"
            exec chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
                PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                bash -c "cd /root/mailops.xclient && $cmd"
        ' _ "$root" "$cmd" >"$log" 2>&1 </dev/null
}

# one_dist DIST: tree, setup, demo and tests for one distribution. Writes its report lines
# to $work/DIST/report, its table row to $work/DIST/row and its JSON part to $work/DIST/json.
one_dist() {
    local dist=$1 root logs t0 tarball dest t_tree version setup t_setup demo tests t_demo t_tests summary step
    root="$work/$dist/root"; logs="$work/$dist"; mkdir -p "$root"
    t0=$(date +%s)
    tarball="$FRESH_CACHE/$dist.tar.gz"
    if [ -s "$tarball" ] && [ -n "$(find "$tarball" -mtime -7)" ]; then
        tar -xzf "$tarball" -C "$root"
    else
        echo "test-fresh: debootstrap $dist from $mirror"
        debootstrap --variant=minbase "$dist" "$root" "$mirror" >"$logs/debootstrap.log" 2>&1 \
            || { tail -20 "$logs/debootstrap.log"; return 1; }
        rm -rf "$root"/var/cache/apt/archives/*.deb
        tar -czf "$tarball.tmp.$$" -C "$root" . && mv "$tarball.tmp.$$" "$tarball"
    fi
    # As on a machine behind a TLS-inspecting proxy: the local CAs are in the usual place;
    # the ca-certificates package trusts them when it is installed.
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # The checkout as a user has it (a git clone), plus what is not committed yet.
    dest="$root/root/mailops.xclient"
    git clone -q --no-hardlinks "$here" "$dest"
    (cd "$here" && git ls-files -mo --exclude-standard -z | xargs -0 -r -I{} cp --parents {} "$dest/")
    t_tree=$(( $(date +%s) - t0 ))
    version=$(cat "$root/etc/debian_version")

    t0=$(date +%s); setup=failed
    if run_in "$root" host "$logs/setup.log" \
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null && SANITY_CORES='${FRESH_SANITY[$dist]:-}' make deps"; then
        setup=passed
    fi
    t_setup=$(( $(date +%s) - t0 ))

    t0=$(date +%s); demo=skipped; tests=skipped; t_demo=0; t_tests=0
    if [ "$setup" = passed ]; then
        demo=failed
        # The demo, then one message through each hop, then Postfix's log for them.
        # shellcheck disable=SC2016  # expanded inside the tree, not here
        # (SANITY_CORES as in setup: make demo runs make deps, which must find it all done)
        if run_in "$root" none "$logs/demo.log" "export SANITY_CORES='${FRESH_SANITY[$dist]:-}'"'
            make demo && bash scripts/demo-hops-check.sh; rc=$?; make demo-stop; exit $rc'; then
            demo=passed
        fi
        t_demo=$(( $(date +%s) - t0 ))
        t0=$(date +%s); tests=failed
        if run_in "$root" none "$logs/tests.log" "SANITY_CORES='${FRESH_SANITY[$dist]:-}' make test"; then
            tests=passed
        fi
        t_tests=$(( $(date +%s) - t0 ))
    fi
    echo "$version|$setup|$t_setup|$demo|$t_demo|$tests|$t_tests" > "$logs/row"
    summary=$(grep -E '^=*\s*[0-9]+ (passed|failed)' "$logs/tests.log" 2>/dev/null | tail -1 || true)
    echo "== $dist (Debian $version): tree ${t_tree}s, setup $setup ${t_setup}s, demo $demo ${t_demo}s, tests $tests ${t_tests}s ${summary}"
    # pytest's own closing line, alone, as the tests printed it; then each step's time
    if [ -n "$summary" ]; then echo "$summary"; fi
    grep -E '^test-step: ' "$logs/tests.log" 2>/dev/null | sed "s/^/   $dist /" || true
    if [ -n "${FRESH_SANITY[$dist]:-}" ]; then echo "   $dist sanity with ansible-core ${FRESH_SANITY[$dist]}"; fi
    for step in setup demo tests; do
        if grep -q "^$step failed" <<<"$(printf 'setup %s\ndemo %s\ntests %s\n' "$setup" "$demo" "$tests")"; then
            echo "-- last lines of $dist $step.log:"; tail -40 "$logs/$step.log"
        fi
    done
    if [ "$demo" != skipped ]; then
        grep -E '^(proxy|filter|maillog|hop):' "$logs/demo.log" | sed 's/^/   /' || true
    fi
    echo "\"$dist\": {\"debian\": \"$version\", \"setup\": \"$setup\", \"demo\": \"$demo\", \"tests\": \"$tests\", \"seconds\": {\"tree\": $t_tree, \"setup\": $t_setup, \"demo\": $t_demo, \"tests\": $t_tests}}" > "$logs/json"
}

# The distributions run side by side (FRESH_PARALLEL=0: one after the other). Each tree has
# its own mount, PID and network namespaces, so they share nothing but the CPU; the tests
# are written not to depend on load.
pids=()
for dist in $FRESH_DISTS; do
    mkdir -p "$work/$dist"
    if [ "$FRESH_PARALLEL" = 1 ]; then
        one_dist "$dist" >"$work/$dist/report" 2>&1 &
        pids+=($!)
    else
        one_dist "$dist" >"$work/$dist/report" 2>&1 || true
        cat "$work/$dist/report"
    fi
done
for pid in "${pids[@]}"; do wait "$pid" || true; done
json_parts=()
for dist in $FRESH_DISTS; do
    if [ "$FRESH_PARALLEL" = 1 ]; then cat "$work/$dist/report"; fi
    if [ ! -s "$work/$dist/row" ]; then echo "-|failed|0|skipped|0|skipped|0" > "$work/$dist/row"; fi
    if [ -s "$work/$dist/json" ]; then json_parts+=("$(cat "$work/$dist/json")"); fi
done

echo
printf '%-10s %-8s %-8s %-8s %-8s\n' DIST DEBIAN SETUP DEMO TESTS
ok=1
for dist in $FRESH_DISTS; do
    IFS='|' read -r version setup t_setup demo t_demo tests t_tests <"$work/$dist/row"
    printf '%-10s %-8s %-8s %-8s %-8s\n' "$dist" "$version" "$setup" "$demo" "$tests"
    [ "$setup/$demo/$tests" = passed/passed/passed ] || ok=0
done
(IFS=,; echo "{${json_parts[*]}}")
[ "$ok" = 1 ]
