# SPDX-License-Identifier: GPL-3.0-or-later
"""On a shared case set, the module's verdicts equal what swaks (Debian's package) sees."""

from __future__ import annotations

import subprocess

from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import parse_cases
from ansible_collections.mailops.xclient.plugins.module_utils._probe_runner import (
    ProbeTarget,
    run_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xclient_command import (
    normalize_attributes,
)
from swaks_replies import reply_codes

SHARED = [
    # (listener, xclient attributes, rcpt)
    ("authorized", {"addr": "192.0.2.66", "name": "spam.example"}, "postmaster@example.net"),
    ("authorized", {"addr": "192.0.2.70", "name": "ok.example"}, "postmaster@example.net"),
    ("authorized", {"addr": "198.51.100.9", "name": "net.example"}, "postmaster@example.net"),
    ("authorized", {"addr": "203.0.113.45", "name": "grey.example"}, "postmaster@example.net"),
    ("authorized", {"addr": "192.0.2.71", "name": "[UNAVAILABLE]"}, "postmaster@example.net"),
    ("authorized", {"addr": "192.0.2.72", "name": "[TEMPUNAVAIL]"}, "postmaster@example.net"),
    ("authorized", {"addr": "192.0.2.73", "name": "relay.example"}, "x@elsewhere.example"),
    ("authorized", {"addr": "2001:db8::66", "name": "v6.example"}, "postmaster@example.net"),
    ("authorized", {"addr": "192.0.2.74", "name": "h.example", "proto": "ESMTP",
                    "port": 4711}, "postmaster@example.net"),
    ("sasl", {"addr": "192.0.2.75", "name": "l.example", "login": "alice"},
     "x@elsewhere.example"),
    ("unauthorized", {"addr": "192.0.2.76", "name": "u.example"}, "postmaster@example.net"),
]


def swaks_outcome(port, attrs, rcpt):
    argv = ["swaks", "--server", f"127.0.0.1:{port}", "--ehlo", "probe.test",
            "--from", "probe@example.org", "--to", rcpt, "--quit-after", "RCPT",
            "--timeout", "10"]
    # swaks sends values as given: it needs the wire form (IPV6:...) spelled out.
    for key, value in normalize_attributes(attrs).items():
        argv += [f"--xclient-{key.lower().replace('_', '-')}", value]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    out = done.stdout + done.stderr
    if "Host did not advertise XCLIENT" in out:
        return {"xclient": "not_offered", "rcpt": None}
    codes = reply_codes(out, ("XCLIENT", "RCPT"))
    xclient = codes["XCLIENT"]
    return {"xclient": None if xclient is None else
            "accepted" if xclient // 100 == 2 else "refused", "rcpt": codes["RCPT"]}


def test_module_verdicts_equal_swaks_outcomes(postfix_instance):
    results = {}
    for i, (listener, attrs, rcpt) in enumerate(SHARED):
        (r,) = run_cases(parse_cases([{
            "name": f"shared-{i}", "xclient": attrs, "mail_from": "probe@example.org",
            "rcpt_to": [rcpt], "expect": {"xclient": "any", "rcpt": "any"}}]),
            ProbeTarget(server="127.0.0.1", port=postfix_instance.ports[listener],
                        helo="probe.test"))
        assert r["passed"], r
        results[i] = {"xclient": r["stages"]["xclient"]["outcome"],
                      "rcpt": r["stages"]["rcpt"][0]["code"] if "rcpt" in r["stages"]
                      else None}
    seen_classes = set()
    for i, (listener, attrs, rcpt) in enumerate(SHARED):
        theirs = swaks_outcome(postfix_instance.ports[listener], attrs, rcpt)
        assert results[i] == theirs, (SHARED[i], results[i], theirs)
        seen_classes.add(results[i]["rcpt"] // 100 if results[i]["rcpt"] else
                         results[i]["xclient"])
    # the shared set really covers accept, reject, tempfail and not offered
    assert seen_classes >= {2, 4, 5, "not_offered"}
