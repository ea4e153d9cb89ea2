#!/usr/bin/env bash
# Install everything the tests, the demo and the benchmarks need, non-interactively,
# on Debian 12 as root. Debian's postinst scripts must not start the machine's default
# Postfix / nginx / proxsmtp instances: we only ever run private instances on loopback.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive

APT_PACKAGES=(postfix swaks nginx libnginx-mod-mail proxsmtp ssl-cert shellcheck
              openssl iproute2 sasl2-bin libsasl2-modules make openssh-server)

need_apt=0
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_apt=1
done
if [ "$need_apt" = 1 ]; then
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
        -o Dpkg::Options::=--force-confold "${APT_PACKAGES[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -r "$here/requirements-test.txt"
