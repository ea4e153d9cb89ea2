# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DATA through the probe against a real private Postfix (issue 11, item 6): line endings,
dot-stuffing, BODY=8BITMIME / SMTPUTF8 when needed and offered, a clear error when needed
and not offered (the listener hides the keyword with smtpd_discard_ehlo_keywords)."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    ProbeInputError,
    parse_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_runner import (
    ProbeTarget,
    run_cases,
)

FROM = "probe@example.org"
LOCAL = "postmaster@example.net"


def run(inst, case, port=None):
    target = ProbeTarget(server="127.0.0.1", port=port or inst.ports["authorized"],
                         helo="probe-client.test", timeout=10)
    (r,) = run_cases(parse_cases([case]), target, transcript_mode="all")
    return r


def test_8bit_message_goes_with_body_8bitmime(postfix_instance):
    r = run(postfix_instance, {
        "name": "8bit body", "xclient": {"addr": "192.0.2.171", "name": "d171.example"},
        "mail_from": FROM, "rcpt_to": [LOCAL],
        "data": "Subject: probe\r\n\r\nGrüße\rbare cr\n.dot\n",
        "expect": {"data": {"status": "accept", "text": "queued as"}}})
    assert r["passed"], r
    assert f"C: MAIL FROM:<{FROM}> BODY=8BITMIME" in r["transcript"]


def test_unicode_sender_goes_with_smtputf8(postfix_instance):
    # Postfix refuses a non-ASCII address unless MAIL FROM declares SMTPUTF8 (553 5.6.7).
    r = run(postfix_instance, {
        "name": "utf8 sender", "xclient": {"addr": "192.0.2.175", "name": "d175.example"},
        "mail_from": "jörg@example.org", "rcpt_to": [LOCAL],
        "expect": {"mail": "accept", "rcpt": "accept"}})
    assert r["passed"], r
    assert "C: MAIL FROM:<jörg@example.org> BODY=8BITMIME SMTPUTF8" in r["transcript"]


def test_utf8_header_goes_with_smtputf8(postfix_instance):
    r = run(postfix_instance, {
        "name": "utf8 header", "xclient": {"addr": "192.0.2.172", "name": "d172.example"},
        "mail_from": FROM, "rcpt_to": [LOCAL],
        "data": "Subject: Grüße\n\nbody\n",
        "expect": {"data": "accept"}})
    assert r["passed"], r
    assert f"C: MAIL FROM:<{FROM}> BODY=8BITMIME SMTPUTF8" in r["transcript"]


def test_8bit_needed_and_not_offered_is_a_clear_error(fresh_postfix):
    inst = fresh_postfix
    inst.extra_main.update(smtpd_discard_ehlo_keywords="8bitmime, smtputf8")
    inst.write_config()
    inst.reload()
    r = run(inst, {
        "name": "8bit, no 8BITMIME", "xclient": {"addr": "192.0.2.173", "name": "d173.example"},
        "mail_from": FROM, "rcpt_to": [LOCAL], "data": "Subject: x\n\nGrüße\n",
        "expect": {"data": "accept"}})
    assert r["status"] == "error"
    assert "which need 8BITMIME; the server does not offer it" in r["error"]
    assert not any(line.startswith("C: MAIL") for line in r["transcript"])
    # an ASCII message still goes
    r = run(inst, {
        "name": "ascii, no 8BITMIME", "xclient": {"addr": "192.0.2.174", "name": "d174.example"},
        "mail_from": FROM, "rcpt_to": [LOCAL], "data": "Subject: x\n\nplain\n",
        "expect": {"data": "accept"}})
    assert r["passed"], r


@pytest.mark.parametrize("data,needle", [
    ("Subject: x\n\nA\0B\n", "line 3 contains a NUL"),
    ("Subject: x\n\n" + "y" * 5000 + "\n", "line 3 is 5000 octets"),
])
def test_unsendable_message_is_refused_before_connecting(data, needle):
    with pytest.raises(ProbeInputError, match=rf"cases\[0\] \(bad\): data: {needle}"):
        parse_cases([{"name": "bad", "mail_from": FROM, "rcpt_to": [LOCAL], "data": data}])
