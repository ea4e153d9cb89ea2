# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Property, against a real upstream Postfix: whatever a sender says in EHLO, in the
recipient (a quoted local part with an address extension, delivered) and in Received
headers of its own, the identity read from the header Postfix wrote is the client Postfix
saw, or nothing is injected.

The upstream (tests/harness/private_upstream.py's Postfix, delivering into a Maildir) lets
this test's loopback client use XCLIENT, so Postfix records TEST-NET clients with or without
a verified name (XCLIENT ADDR and NAME) exactly as it records real ones. One SMTP session
carries a whole batch (XCLIENT, EHLO, MAIL, RCPT, DATA per case); the batch's messages are
then read from the Maildir. Bounded for `make test`: XCLIENT_RECEIVED_POSTFIX_BATCHES
(default 3) batches of 12 cases. To look for failures:
MAILOPS_XCLIENT_EXPLORE=1 XCLIENT_RECEIVED_POSTFIX_BATCHES=100.

What Postfix (3.7) does with a HELO: blanks, parentheses, quotes and backslashes are
written as "?" ("EHLO x (unknown [192.0.2.66]) by mx" becomes "x??unknown?[192.0.2.66]??by?mx"),
so a sender steers its header through the recipient (a quoted local part keeps them), which
makes it read two ways: refused. Measured at random: 40 batches, 293 messages Postfix
queued (199 more it refused itself: EHLO or RCPT syntax), all 293 read as Postfix recorded
them, 0 identities chosen by the sender; 30 batches: 274 of 274.
"""

from __future__ import annotations

import os
import re
import shutil
import smtplib
import time
from typing import Dict, List

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from private_postfix import free_port, ipv6_loopback, new_base
from private_upstream import UpstreamPostfix
from received_strategies import client_addr, forged_lower, hostname, sender_text

from ansible_collections.mailops.xclient.plugins.module_utils._received import (
    ReceivedError,
    identity_for,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xclient_command import (
    build_commands,
    normalize_attributes,
)

BATCHES = int(os.environ.get("XCLIENT_RECEIVED_POSTFIX_BATCHES", "3"))
BATCH = 12
MX = r"mx\.upstream\.test"
USER = "demo@upstream.test"
U = "[UNAVAILABLE]"
COUNTS: Dict[str, int] = {"cases": 0, "read": 0, "refused": 0, "postfix_refused": 0}


class XclientUpstream(UpstreamPostfix):
    """The upstream MX (XCLIENT for loopback and TEST-NET clients), with IPv6 clients and
    address extensions (demo+anything@) delivered to demo."""

    def main_cf(self) -> Dict[str, str]:
        conf = super().main_cf()
        conf.update({"smtpd_authorized_xclient_hosts":
                     conf["smtpd_authorized_xclient_hosts"] + " [2001:db8::]/32",
                     "recipient_delimiter": "+",
                     # IPv6 clients (XCLIENT ADDR=IPV6:...) need IPv6 on
                     "inet_protocols": "all" if ipv6_loopback() else "ipv4"})
        return conf


@pytest.fixture(scope="module")
def upstream():
    XclientUpstream.users = {USER: "unused"}
    XclientUpstream.domain = "upstream.test"
    inst = XclientUpstream(base=new_base("xclient-rcvd-"), hostname="mx.upstream.test",
                           policy_logger=False, ports={"smtp": free_port()})
    inst.start()
    try:
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(inst.base, ignore_errors=True)


def _maildir(inst) -> str:
    return os.path.join(inst.base, "mail", "upstream.test", "demo", "Maildir", "new")


def _send_batch(inst, cases: List[dict]) -> Dict[str, dict]:
    """Send every case in one session; the tokens of the messages Postfix queued."""
    queued: Dict[str, dict] = {}
    with smtplib.SMTP("127.0.0.1", inst.ports["smtp"], local_hostname="tester.test",
                      timeout=30) as smtp:
        smtp.ehlo()
        for case in cases:
            token = f"case-{time.time_ns()}"
            if ":" in case["addr"] and not ipv6_loopback():
                continue
            attrs = {"addr": case["addr"], "name": case["name"] or U}
            for command in build_commands(normalize_attributes(attrs)):
                code, reply = smtp.docmd(command)
                assert code == 220, (command, code, reply)
            code, _reply = smtp.docmd("EHLO", case["helo"])
            if code != 250:
                COUNTS["postfix_refused"] += 1
                continue
            assert smtp.docmd("MAIL", "FROM:<alice@example.org>")[0] == 250
            code, _reply = smtp.docmd("RCPT", f"TO:<{case['rcpt']}>")
            if code != 250:
                COUNTS["postfix_refused"] += 1
                smtp.docmd("RSET")
                continue
            forged = "".join(f"Received: {h}\r\n" for h in case["forged"])
            body = (f"{forged}From: alice@example.org\r\nTo: {USER}\r\nSubject: {token}\r\n"
                    f"\r\nbody\r\n")
            code, reply = smtp.data(body.encode("utf-8"))
            assert code == 250, reply
            queued[token] = case
    return queued


def _delivered(inst, tokens) -> Dict[str, bytes]:
    found: Dict[str, bytes] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(found) < len(tokens):
        folder = _maildir(inst)
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                data = fh.read()
            for token in tokens:
                if re.search(rb"^Subject: " + token.encode() + rb"\r?$", data, re.M):
                    found[token] = data
                    os.unlink(path)
        time.sleep(0.05)
    assert len(found) == len(tokens), f"delivered {len(found)} of {len(tokens)}"
    return found


def _rcpt(extension: str) -> str:
    local = f"demo+{extension}"
    if any(ch in local for ch in ' ()<>[]:;@\\,"'):
        local = '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{local}@upstream.test"


case_strategy = st.fixed_dictionaries({
    "helo": sender_text, "name": st.none() | hostname, "addr": client_addr,
    "rcpt": sender_text.map(_rcpt), "forged": forged_lower})
HONEST = {"helo": "mail.example.org", "name": "mail.example.org", "addr": "203.0.113.9",
          "rcpt": USER, "forged": []}


@settings(max_examples=BATCHES)  # the rest: the profile in tests/conftest.py
@given(st.lists(case_strategy, min_size=BATCH, max_size=BATCH))
@example([HONEST,
          dict(HONEST, helo="by", name=None,
               forged=["from localhost (localhost [127.0.0.1]) by mx.upstream.test (Postfix)"
                       " with ESMTP id F; Tue, 24 Nov 2026 09:00:00 +0100"]),
          dict(HONEST, helo="BY"), dict(HONEST, helo="(localhost"),
          dict(HONEST, helo="(exim x"), dict(HONEST, helo="[127.0.0.1]", name=None),
          dict(HONEST, helo="x (HELO [127.0.0.1])"),
          dict(HONEST, helo="x (unknown [192.0.2.66]) by mx.upstream.test (Postfix) with"
                            " ESMTP id X for"),
          dict(HONEST, rcpt=_rcpt("x (evil.example [203.0.113.9]) by mx.upstream.test"
                                  " (Postfix) with ESMTP id Y")),
          dict(HONEST, helo="x by mx.upstream.test", addr="2001:db8::25"),
          dict(HONEST, helo="softdnserr", name=None),
          dict(HONEST, helo="HELO", name=None)])
def test_real_postfix_headers_sender_cannot_choose(upstream, cases):
    queued = _send_batch(upstream, cases)
    for token, message in _delivered(upstream, list(queued)).items():
        case = queued[token]
        COUNTS["cases"] += 1
        try:
            ident, _header = identity_for(message, MX)
        except ReceivedError:
            COUNTS["refused"] += 1
            continue
        COUNTS["read"] += 1
        assert (ident.addr, ident.name) == (case["addr"], case["name"] or U), (ident, case)


def test_the_batches_ran_and_honest_clients_were_read():
    # runs after the property (file order); the first batch (the @example) always runs
    print(f"\nreceived from a real Postfix: {COUNTS}")
    assert COUNTS["cases"] >= BATCH - 1
    assert COUNTS["read"] >= 3
