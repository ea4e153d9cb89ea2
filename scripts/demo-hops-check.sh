#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# After `make demo`: one message through each hop (nginx proxy, proxsmtp filter), sent from
# a loopback address of its own, and Postfix's own log line proving the message arrived as
# that client (not as the proxy or the filter). Prints `hop: NAME CLIENT -> LOG LINE`.
set -euo pipefail
base=${DEMO_BASE:-/var/tmp/mailops-xclient-demo}
endpoint() { sed -n "s/^$1: //p" "$base/endpoints"; }
maillog=$(endpoint maillog)
rc=0
n=0
for hop in proxy filter; do
    n=$((n + 1))
    client=127.0.0.$((20 + n))
    hostport=$(endpoint "$hop")
    id="demo-hop-$hop-$$"
    # Only what Postfix logs from now on counts: the log outlives earlier demo runs.
    offset=$(stat -c %s "$maillog" 2>/dev/null || echo 0)
    swaks --silent 2 --server "${hostport%:*}" --port "${hostport##*:}" --local-interface "$client" \
        --helo "client-$hop.example" --from "sender@example.org" --to "postmaster@example.net" \
        --header "Subject: $id" >/dev/null || { echo "hop: $hop: swaks failed" >&2; rc=1; continue; }
    line=""
    for _ in $(seq 50); do
        line=$(tail -c +$((offset + 1)) "$maillog" | grep -E "client=[^,]*\[$client\]" | tail -1 || true)
        [ -n "$line" ] && break
        sleep 0.2
    done
    if [ -n "$line" ]; then
        echo "hop: $hop $client -> ${line#*postfix/}"
    else
        echo "hop: $hop: no 'client=...[$client]' in $maillog" >&2; rc=1
    fi
done
exit $rc
