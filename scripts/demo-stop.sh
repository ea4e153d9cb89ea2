#!/usr/bin/env bash
# make demo-stop: stop what `make demo` left running (Postfix, nginx, proxsmtp, fetchmail and
# the upstream provider of the demo).
# SPDX-License-Identifier: GPL-3.0-or-later
set -uo pipefail
base=${DEMO_BASE:-/var/tmp/mailops-xclient-demo}
if [ -f "$base/postfix/etc/main.cf" ]; then
    postfix -c "$base/postfix/etc" stop 2>/dev/null && echo "stopped Postfix ($base/postfix/etc)"
fi
if [ -s "$base/nginx/run/nginx.pid" ]; then
    nginx -c "$base/nginx/nginx.conf" -p "$base/nginx/run/" -s quit 2>/dev/null && echo "stopped nginx proxy"
fi
pid="$base/proxsmtp/run/xclient.pid"
if [ -s "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; then
    echo "stopped proxsmtp filter"
fi
pid="$base/fetch/state/fetchmail.pid"
if [ -s "$pid" ] && kill "$(head -n1 "$pid")" 2>/dev/null; then
    echo "stopped fetchmail"
fi
if [ -d "$base/upstream" ]; then
    python3 "$(dirname "$0")/../tests/harness/private_upstream.py" stop "$base/upstream" && echo "stopped the upstream provider"
fi
exit 0
