#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Install everything the tests, the demo and the release checks need, non-interactively,
# on Debian 12 or 13 as root:
#   - Debian packages (apt), without starting any of their daemons: the demo and the tests
#     only ever run private instances on loopback;
#   - the Python requirements into the project virtual environment $VENV (default .venv),
#     created from Debian's own python3 -- never into the system Python (PEP 668);
#   - one small virtual environment per ansible-core version that `make test` runs
#     ansible-test sanity with, and ansible-test's own sanity environments, primed, so
#     that `make test` passes offline after this has run once.
# A second run installs nothing: it compares stamps and takes a few seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$here/.venv}
export DEBIAN_FRONTEND=noninteractive

APT_PACKAGES=(postfix swaks nginx libnginx-mod-mail proxsmtp ssl-cert shellcheck
              openssl iproute2 sasl2-bin libsasl2-modules make git ca-certificates
              python3 python3-venv python3-apt debootstrap
              dovecot-core dovecot-pop3d dovecot-imapd fetchmail getmail6 openssh-server
              publicsuffix)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: Debian packages: ${missing[*]}"
    # Keep services from starting during install (policy-rc.d is honoured by invoke-rc.d
    # and deb-systemd-invoke); remove it again only if we created it.
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    trap '[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
    echo "postfix postfix/mailname string localhost.localdomain" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
    # Debian enables the daemons it installs; we only ever run private instances, so the
    # ones this run installed stay off after a reboot too (systemd hosts only).
    if [ -d /run/systemd/system ]; then
        declare -A unit_of=([postfix]=postfix [nginx]=nginx [proxsmtp]=proxsmtp
                            [dovecot-core]=dovecot [fetchmail]=fetchmail [openssh-server]=ssh)
        for p in "${missing[@]}"; do
            if [ -n "${unit_of[$p]:-}" ]; then
                systemctl disable --quiet "${unit_of[$p]}" 2>/dev/null || true
            fi
        done
    fi
fi

# Debian's interpreter, whatever else is first on PATH: it is the one a user's managed
# hosts run the modules with, and the one python3-apt belongs to.
SYSPY=/usr/bin/python3
pyver=$("$SYSPY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
req_core="$here/requirements/core-py$pyver.txt"
req_sanity="$here/requirements/sanity-cores-py$pyver.txt"
[ -f "$req_core" ] || { echo "install-deps: Python $pyver is not supported (no $req_core)" >&2; exit 1; }

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# The project environment.
want=$(stamp_of "$here/requirements/test.txt" "$req_core")
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$want" ]; then
    echo "install-deps: Python requirements into $VENV"
    rm -rf "$VENV"
    "$SYSPY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -r "$here/requirements/test.txt" -r "$req_core"
    echo "$want" > "$VENV/.stamp"
fi

# ansible-test sanity per claimed ansible-core version: $VENV/cores/X.Y.Z holds only that
# ansible-core; its sanity environments (~/.ansible/test/venv, and the one ansible-test
# delegates to under build/sanity-X.Y.Z) are primed here, online. SANITY_CORES: only those
# versions (as scripts/sanity.sh takes it; make test-fresh shares them between its trees).
for core in ${SANITY_CORES:-$(grep -Ev '^[[:space:]]*(#|$)' "$req_sanity")}; do
    cvenv="$VENV/cores/$core"
    if [ ! -f "$cvenv/.installed" ]; then
        echo "install-deps: ansible-core $core for ansible-test sanity"
        rm -rf "$cvenv"
        "$SYSPY" -m venv "$cvenv" </dev/null
        "$cvenv/bin/python" -m pip install -q --disable-pip-version-check "ansible-core==$core" </dev/null
        touch "$cvenv/.installed"
    fi
    if [ ! -f "$here/build/sanity-$core/.primed" ]; then
        echo "install-deps: ansible-test sanity environments for ansible-core $core"
        SANITY_VENV="$cvenv" bash "$here/scripts/sanity.sh" --prime-venvs </dev/null >/dev/null
        touch "$here/build/sanity-$core/.primed"
    fi
done
