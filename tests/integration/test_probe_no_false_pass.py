# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 11: the probe never gives a false pass. One test (or more) per numbered defect;
each failed before the fix. Real private Postfix (rules_postfix) wherever Postfix can show
it; the FAKE fault server (fake_smtp_fault_server) only for desync, 421 and hostile reply
text, which a real Postfix will not produce on demand. Item 6 (DATA) is in
test_probe_data.py."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time

import pytest
from ansible.module_utils.common.parameters import PASS_VARS

from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    ProbeInputError,
    parse_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_runner import (
    ProbeTarget,
    run_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_session import (
    SmtpCommandError,
    SmtpSession,
)
from rules_postfix import BAD_HELO, BLOCKED_LOGIN, LOCAL
from run_module import run_module

import fake_smtp_fault_server as fake


FROM = "probe@example.org"


def probe(inst, listener, cases, **target):
    target.setdefault("helo", "probe-client.test")
    target.setdefault("timeout", 10)
    t = ProbeTarget(server="127.0.0.1", port=inst.ports[listener], **target)
    return run_cases(parse_cases(cases), t, concurrency=4, transcript_mode="all")


def one(inst, listener, case, **target):
    (result,) = probe(inst, listener, [case], **target)
    return result


def against_fake(script, case, timeout=3.0):
    server = fake.FakeSmtpFaultServer(script)
    try:
        started = time.monotonic()
        (r,) = run_cases(parse_cases([case]), ProbeTarget(
            server="127.0.0.1", port=server.port, timeout=timeout, helo="probe.test"),
            transcript_mode="all")
        return r, time.monotonic() - started
    finally:
        server.close()


# ------------------------------------------------------------------ 1. declared HELO

def test_1_upper_case_helo_key_is_the_helo_postfix_checks(rules_postfix):
    r = one(rules_postfix, "authorized", {
        "name": "HELO key", "xclient": {"HELO": BAD_HELO, "ADDR": "192.0.2.181",
                                        "NAME": "h181.example", "PORT": 18101},
        "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "reject"}})
    assert r["passed"], r
    assert f"C: EHLO {BAD_HELO}" in r["transcript"]
    (line,) = rules_postfix.wait_for_log(r"reject: RCPT from h181\.example\[192\.0\.2\.181\]")
    assert f"helo=<{BAD_HELO}>" in line


@pytest.mark.parametrize("declared,port,logged", [
    ("[UNAVAILABLE]", 18201, None),  # no HELO name at all
    ("[tempunavail]", 18202, "[TEMPUNAVAIL]"),  # a name Postfix keeps as given
])
def test_1_unavailable_helo_sends_no_greeting(rules_postfix, declared, port, logged):
    # 198.51.100.0/24 is refused at RCPT: the reject line shows which HELO Postfix had.
    r = one(rules_postfix, "authorized", {
        "name": "no helo", "xclient": {"helo": declared, "addr": f"198.51.100.{port % 100}",
                                       "name": f"h{port}.example", "port": port},
        "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "reject"}})
    assert r["passed"], r
    after = r["transcript"][[i for i, l in enumerate(r["transcript"])
                             if l.startswith("C: XCLIENT")][0]:]
    assert not any(l.startswith(("C: EHLO", "C: HELO")) for l in after), after
    assert r["stages"]["helo"]["skipped"]
    (line,) = rules_postfix.wait_for_log(rf"reject: RCPT from h{port}\.example\[.*\]:{port}:")
    if logged is None:
        assert "helo=<" not in line, line
    else:
        assert line.endswith(f" helo=<{logged}>"), line


def test_1_case_helo_must_match_the_declared_one():
    with pytest.raises(ProbeInputError, match=r"cases\[0\] \(c\): helo: 'other\.example'"
                       r" differs from xclient\.helo"):
        parse_cases([{"name": "c", "xclient": {"helo": "a.example"}, "helo": "other.example"}])
    with pytest.raises(ProbeInputError, match=r"helo: xclient\.helo is \[UNAVAILABLE\]"):
        parse_cases([{"name": "c", "xclient": {"helo": "[UNAVAILABLE]"}, "helo": "x.example"}])


# ------------------------------------------------------------------ 2. applied, then rejected

def test_2_identity_rejected_at_xclient_is_not_refused(rules_postfix):
    # smtpd_delay_reject=no: Postfix applies the identity, then its client rules refuse it.
    case = {"name": "applied then rejected", "xclient": {"addr": "192.0.2.66",
                                                         "name": "spam.example",
                                                         "port": 18301}}
    wrong = one(rules_postfix, "nodelay", dict(case, expect={"xclient": "refused"}))
    assert not wrong["passed"]
    assert wrong["stages"]["xclient"]["outcome"] == "rejected"
    assert "xclient: expected refused, got rejected (554 5.7.1" in wrong["mismatches"][0]
    right = one(rules_postfix, "nodelay", dict(case, expect={"xclient": "rejected"}))
    assert right["passed"], right
    assert rules_postfix.wait_for_log(
        r"NOQUEUE: reject: XCLIENT from spam\.example\[192\.0\.2\.66\]:18301: 554 5\.7\.1")
    # and a real refusal of the command is still "refused"
    refused = one(rules_postfix, "unauthorized", dict(case, force_xclient=True,
                                                      expect={"xclient": "refused"}))
    assert refused["passed"], refused
    assert refused["stages"]["xclient"]["code"] == 550


# ------------------------------------------------------------------ 3. user regex bounded

def test_3_backtracking_regex_on_server_text_ends_at_the_timeout():
    case = {"name": "regex", "xclient": {"addr": "192.0.2.50"}, "mail_from": FROM,
            "rcpt_to": [LOCAL], "expect": {"rcpt": {"status": "reject", "text": "(a+)+$"}}}
    r, elapsed = against_fake(fake.hostile_rcpt_text, case, timeout=2.0)
    assert elapsed < 6.0, elapsed  # 40 characters: hours without the bound
    assert r["status"] == "error" and not r["passed"]
    assert "did not finish within the case's timeout" in r["error"]


def test_3_unicode_digit_reply_code_is_a_protocol_error():
    r, elapsed = against_fake(fake.unicode_digit_code, {"name": "u", "xclient": {
        "addr": "192.0.2.50"}})
    assert r["status"] == "error" and "not an SMTP reply line" in r["error"], r


# ------------------------------------------------------------------ 4. one command, one reply

@pytest.mark.parametrize("script", [fake.desync_two_greetings, fake.desync_late_extra])
def test_4_extra_reply_is_a_protocol_error_not_a_pass(script):
    case = {"name": "desync", "xclient": {"addr": "192.0.2.50"}, "mail_from": FROM,
            "rcpt_to": [LOCAL], "expect": {"rcpt": "accept"}}
    r, _elapsed = against_fake(script, case)
    assert r["status"] == "error" and not r["passed"], r
    assert ("nobody asked for" in r["error"] or "out of step" in r["error"]), r["error"]
    assert not any(l.startswith("C: RCPT") for l in r["transcript"])


# ------------------------------------------------------------------ 5. 421

def test_5_421_greeting_ends_the_case_at_once():
    r, elapsed = against_fake(fake.greeting_421, {"name": "421", "xclient": {
        "addr": "192.0.2.50"}}, timeout=5)
    assert elapsed < 3.0, elapsed  # at once, not after the 5 s timeout
    assert r["status"] == "error"
    assert r["error"].startswith("the server closed the session with 421 4.3.2")
    assert not any(l.startswith("C:") for l in r["transcript"]), r["transcript"]


def test_5_421_at_rcpt_ends_the_case_and_passes_only_when_expected():
    case = {"name": "421 rcpt", "xclient": {"addr": "192.0.2.50"}, "mail_from": FROM,
            "rcpt_to": [LOCAL, "second@example.net"], "expect": {"rcpt": "tempfail"}}
    r, elapsed = against_fake(fake.rcpt_421, case, timeout=5)
    assert elapsed < 3.0 and r["status"] == "error", r  # at once, not after 5 s
    assert "(reply to RCPT)" in r["error"]
    assert sum(l.startswith("C: RCPT") for l in r["transcript"]) == 1
    assert not any(l in ("C: RSET", "C: QUIT") for l in r["transcript"])
    r, _elapsed = against_fake(fake.rcpt_421, dict(case, rcpt_to=[LOCAL], expect={"rcpt": "421"}))
    assert r["passed"], r


# ------------------------------------------------------------------ 7. field errors

@pytest.mark.parametrize("args,needle", [
    ({"server": "mx1..example.net"}, "server: 'mx1..example.net' is not a host name"),
    ({"server": "a" * 64 + ".example"}, "server: 'aaaa"),
    ({"server_name": "x\0y"}, "server_name: must not contain CR, LF or NUL"),
    ({"server_name": "mx..example"}, "server_name: 'mx..example' is not a host name"),
    ({"cases": [{"name": "c", "xclient": {"port": "²"}}]},
     "cases[0] (c): xclient.port: '²' is not a port number"),
    ({"cases": [{"name": "c", "xclient": {"addr": "192.0.2.1"},
                 "expect": {"xclient": "²²²"}}]}, "cases[0] (c): expect.xclient: '²²²'"),
    ({"timeout": "nan"}, "timeout: nan must be a number of seconds above 0"),
    ({"timeout": "inf"}, "timeout: inf must be"),
    ({"timeout": 1e300}, "timeout: 1e+300 must be"),
    ({"tls": "starttls", "ca_file": "FIFO"}, "ca_file: cannot load"),
    # 8: the top-level helo was never checked
    ({"helo": "x\r\nMAIL FROM:<>"}, "helo: 'x\\r\\nMAIL FROM:<>' is not a HELO name"),
])
def test_7_bad_input_is_a_one_line_error_naming_the_field(rules_postfix, args, needle):
    tmp = tempfile.mkdtemp()
    fifo = os.path.join(tmp, "ca.pem")
    os.mkfifo(fifo)
    full = {"server": "127.0.0.1", "port": rules_postfix.ports["authorized"],
            "cases": [{"name": "c", "xclient": {"addr": "192.0.2.1"}}]}
    full.update({k: (fifo if v == "FIFO" else v) for k, v in args.items()})
    # earlier sessions (the instance's own start-up probes of its ports) logged first
    before = rules_postfix.quiet_log_length()
    started = time.monotonic()
    r = run_module("xclient_probe", full, timeout=30)
    assert time.monotonic() - started < 20  # not stuck on the input until the 30 s timeout
    assert r["failed"] and "exception" not in r, r
    if "embedded null character" in r["msg"] and any("\0" in str(v) for v in args.values()):
        # ansible-core 2.21 refuses a NUL in any argument itself, before the module runs
        # (it cannot log the arguments to syslog): a one-line error too, just not ours.
        assert PASS_VARS.get("inject_invocation"), r["msg"]
        needle = "Failed to log to syslog (embedded null character)"
    assert r["msg"].startswith(needle.split(" ")[0]) and needle in r["msg"], r["msg"]
    assert "\n" not in r["msg"]
    assert "cases" not in r  # failed before any case ran
    time.sleep(0.2)
    assert rules_postfix.connections_since(before) == []
    os.unlink(fifo)
    os.rmdir(tmp)


@pytest.mark.parametrize("case,needle", [
    # Shape errors: found by the argument spec; the message names the case, not only the
    # path Ansible gives (cases.expect.rcp)
    ({"expect": {"rcp": "reject"}},
     "cases[1] (bad): expect.rcp: unknown key; known: connect, data, helo, mail, rcpt, text,"
     " xclient"),
    ({"xclient": {"adr": "192.0.2.1"}}, "cases[1] (bad): xclient.adr: unknown key; known:"),
    ({"xclient": "192.0.2.1"}, "cases[1] (bad): xclient: must be a dictionary, not a string"),
    ({"expect": "accept"}, "cases[1] (bad): expect: 'accept' must be a dictionary"),
    ({"xclient": {"addr": "192.0.2.1", "proto": "LMTP"}},
     "cases[1] (bad): xclient.proto: is not one of SMTP, ESMTP"),
    ({"colour": "red"}, "cases[1] (bad): colour: unknown key; known: data, expect,"),
    ({"force_xclient": "maybe"}, "cases[1] (bad): force_xclient: 'maybe' must be true or false"),
    # semantic errors, found after the spec
    ({"xclient": {"addr": "192.0.2.1"}, "expect": {"rcpt": "reject"}},
     "cases[1] (bad): expect.rcpt: needs rcpt_to"),
])
def test_7_a_bad_key_is_a_one_line_error_naming_case_and_field(rules_postfix, case, needle):
    good = {"name": "good", "xclient": {"addr": "192.0.2.1"}}
    before = rules_postfix.quiet_log_length()  # earlier sessions logged first
    r = run_module("xclient_probe", {"server": "127.0.0.1",
                                     "port": rules_postfix.ports["authorized"],
                                     "cases": [good, dict({"name": "bad"}, **case)]},
                   timeout=30)
    assert r["failed"] and "exception" not in r, r
    assert r["msg"].startswith(needle), r["msg"]
    assert "\n" not in r["msg"] and "Traceback" not in r["msg"]
    assert "cases" not in r  # failed before any case ran
    time.sleep(0.2)
    assert rules_postfix.connections_since(before) == []


def test_7_another_options_error_is_not_hidden_by_a_case_error():
    # server is missing and a case has a bad key: Ansible's message about server stays
    r = run_module("xclient_probe", {"cases": [{"name": "bad", "expect": {"rcp": "x"}}]},
                   timeout=30)
    assert r["failed"] and "exception" not in r, r
    assert r["msg"] == "missing required arguments: server", r["msg"]


# ------------------------------------------------------------------ 8. one command per line

def test_8_session_refuses_a_line_that_is_two_commands(rules_postfix):
    s = SmtpSession("127.0.0.1", rules_postfix.ports["authorized"], timeout=5,
                    transcript=[])
    try:
        s.open()
        with pytest.raises(SmtpCommandError, match="CR, LF or NUL"):
            s.ehlo("x\r\nMAIL FROM:<>")
        assert s.ehlo("probe.test").code == 250  # nothing went out: still in step
    finally:
        s.quit()
        s.close()
    assert not rules_postfix.wait_for_log("improper command pipelining", timeout=0.5)


@pytest.mark.parametrize("field,value", [
    ("helo", "x\r\nMAIL FROM:<>"), ("mail_from", "a@b\nRSET"), ("rcpt_to", ["a@b\rQUIT"]),
    ("xclient", {"login": "a\r\nMAIL FROM:<>"}), ("xclient", {"helo": "a b"}),
])
def test_8_every_field_is_checked_before_anything_is_sent(field, value):
    case = {"name": "c", "xclient": {"addr": "192.0.2.1"}, "mail_from": "a@b.example",
            "rcpt_to": ["c@d.example"]}
    case[field] = value
    with pytest.raises(ProbeInputError):
        parse_cases([case])


# ------------------------------------------------------------------ 9. LOGIN never shown

def test_9_login_quoted_by_postfix_is_masked_everywhere(rules_postfix):
    r = run_module("xclient_probe", {
        "server": "127.0.0.1", "port": rules_postfix.ports["sasl"], "helo": "probe.test",
        "transcript": "all",
        "cases": [{"name": "login rejected", "xclient": {
            "LOGIN": BLOCKED_LOGIN, "addr": "192.0.2.191", "name": "l191.example"},
            "mail_from": FROM, "rcpt_to": [LOCAL],
            "expect": {"rcpt": "accept"}}]})  # fails: its msg and report quote the reply
    assert r["failed"], r
    # Postfix did quote it
    assert rules_postfix.wait_for_log(re.escape(f"<{BLOCKED_LOGIN}>: SASL login name"))
    text = json.dumps(r)
    assert "SASL login name rejected" in text
    for form in (BLOCKED_LOGIN, "x+2B41y@example.org", "x+2B41y"):
        assert form not in text, form
    assert "<********>: SASL login name rejected" in r["msg"]


def test_3_a_slow_case_does_not_eat_the_regex_time_of_the_others():
    # Regexes are judged as each case ends: a case that runs into its timeout must not
    # leave the cases that ran beside it without time for theirs.
    server = fake.FakeSmtpFaultServer(fake.first_silent_then_rcpt_550())
    try:
        cases = [{"name": f"c{i}", "xclient": {"addr": "192.0.2.50"}, "mail_from": FROM,
                  "rcpt_to": [LOCAL],
                  "expect": {"rcpt": {"status": "reject", "text": "blocked by fake"}}}
                 for i in range(4)]
        results = run_cases(parse_cases(cases), ProbeTarget(
            server="127.0.0.1", port=server.port, timeout=3.0, helo="probe.test"),
            concurrency=4)
    finally:
        server.close()
    # whichever case connected first ran into its timeout; the three others passed
    slow = [r for r in results if r["status"] == "error"]
    assert len(slow) == 1 and "timed out" in slow[0]["error"], results
    assert sum(r["status"] == "passed" for r in results) == 3, results


def test_5_unasked_421_ends_the_case_as_a_421():
    r, elapsed = against_fake(fake.idle_421, {"name": "idle", "xclient": {
        "addr": "192.0.2.50"}}, timeout=5)
    assert elapsed < 3.0 and r["status"] == "error", r  # at once, not after 5 s
    assert "421 4.4.2 fake.test Error: timeout exceeded (unasked, before sending XCLIENT)" \
        in r["error"]
    assert not any(l.startswith("C: XCLIENT") for l in r["transcript"])


# ================================================================== issue 20
# Real Postfix (the rules_postfix instance of this module, listeners nodelay, helocheck and
# broken); the FAKE fault server only for a hostile reply text. The desync faults are in
# test_probe_desync_property.py.

def test_20_config_error_never_satisfies_tempfail(rules_postfix):
    case = {"name": "broken", "xclient": {"addr": "192.0.2.60"}, "mail_from": FROM,
            "rcpt_to": [LOCAL]}
    results = probe(rules_postfix, "broken", [
        dict(case, name="tempfail", expect={"rcpt": "tempfail"}),
        dict(case, name="deferred", expect={"rcpt": "deferred"}),
        dict(case, name="config_error", expect={"rcpt": "config_error"}),
        dict(case, name="by code", expect={"rcpt": {"status": "451", "text": "configuration"}}),
    ])
    by = {r["name"]: r for r in results}
    assert by["tempfail"]["stages"]["rcpt"][0]["enhanced"] == "4.3.5", by["tempfail"]
    for name in ("tempfail", "deferred"):
        assert by[name]["status"] == "failed", by[name]
        assert "configuration problem" in by[name]["mismatches"][0], by[name]
    assert by["config_error"]["passed"] and by["by code"]["passed"], results


def test_20_helo_check_at_xclient_is_rejected_not_refused(rules_postfix):
    # smtpd_delay_reject=no, reject_non_fqdn_helo_hostname in the client restrictions:
    # the identity (HELO=nodots) is applied, then refused with 504 - not a refusal of the
    # command, whatever the code
    case = {"name": "helo check", "xclient": {"addr": "192.0.2.61", "helo": "nodots"}}
    r = one(rules_postfix, "helocheck", dict(case, expect={"xclient": "rejected"}))
    assert r["passed"], r
    assert r["stages"]["xclient"]["code"] == 504 and r["stages"]["xclient"]["outcome"] == \
        "rejected"
    assert rules_postfix.wait_for_log(
        r"reject: XCLIENT from \S+\[192\.0\.2\.61\].*: 504 5\.5\.2 <nodots>: Helo command"
        r" rejected")
    wrong = one(rules_postfix, "helocheck", dict(case, expect={"xclient": "refused"}))
    assert "xclient: expected refused, got rejected (504 5.5.2" in wrong["mismatches"][0]


def test_20_rejected_helo_is_judged_and_the_case_goes_on(rules_postfix):
    case = {"name": "bad helo", "xclient": {"addr": "192.0.2.62", "helo": BAD_HELO},
            "mail_from": FROM, "rcpt_to": [LOCAL],
            # the recipient rules reject BAD_HELO too (delay_reject=no: at RCPT again)
            "expect": {"helo": "rejected", "mail": "accepted", "rcpt": "rejected"}}
    r = one(rules_postfix, "nodelay", case)
    assert r["passed"], r
    assert r["stages"]["helo"]["code"] // 100 == 5
    assert "helo" in r["stages"] and r["stages"]["mail"]["code"] == 250  # MAIL was sent
    assert [l for l in r["transcript"] if l.startswith("C: ")][3:5] == [
        f"C: MAIL FROM:<{FROM}>", f"C: RCPT TO:<{LOCAL}>"], r["transcript"]
    assert rules_postfix.wait_for_log(r"reject: EHLO from \S+\[192\.0\.2\.62\]")
    wrong = one(rules_postfix, "nodelay", dict(case, expect={"helo": "accepted"}))
    assert wrong["mismatches"][0].startswith("helo: expected accepted, got 5"), wrong
    # An 8-bit message after the refused EHLO: no extension is in force, and the error
    # says why (the refused greeting), not only that 8BITMIME is not offered.
    eight_bit = dict(case, data="Subject: x\n\nGr\u00fc\u00dfe\n", expect={"helo": "rejected"})
    eight = one(rules_postfix, "nodelay", eight_bit)
    assert eight["status"] == "error", eight
    assert "which need 8BITMIME" in eight["error"], eight
    assert "the last greeting was refused - 5" in eight["error"], eight


def test_20_unqualified_sender_is_sent_for_postfix_to_judge(rules_postfix):
    r = one(rules_postfix, "authorized", {
        "name": "unqualified", "xclient": {"addr": "192.0.2.63"}, "mail_from": "foo",
        "rcpt_to": [LOCAL], "expect": {"mail": "accepted"}})
    assert r["passed"], r
    assert "C: MAIL FROM:<foo>" in r["transcript"]


def _hostile_or_plain(conn):
    """FAKE: RCPT to a 'slow' address gets a text made to make a backtracking regex run
    for minutes; others a plain 550, a moment later (so the slow case ends first)."""
    fake.ehlo_ok(conn)
    fake.read_command(conn)  # XCLIENT
    conn.sendall(b"220 fake.test ESMTP\r\n")
    fake.read_command(conn)
    conn.sendall(b"250 fake.test\r\n")
    fake.read_command(conn)
    conn.sendall(b"250 2.1.0 Ok\r\n")
    rcpt = fake.read_command(conn)
    if "slow" in rcpt:
        conn.sendall(b"550 5.7.1 " + b"a" * 40 + b"!\r\n")
    else:
        time.sleep(0.3)
        conn.sendall(b"550 5.7.1 blocked by fake policy\r\n")
    for reply in (b"250 2.0.0 Ok\r\n", b"221 2.0.0 Bye\r\n"):
        fake.read_command(conn)
        conn.sendall(reply)


def test_20_one_slow_regex_never_changes_another_case_verdict():
    server = fake.FakeSmtpFaultServer(_hostile_or_plain)
    base = {"xclient": {"addr": "192.0.2.50"}, "mail_from": FROM}
    cases = [dict(base, name="slow", rcpt_to=["slow@example.net"],
                  expect={"rcpt": {"status": "reject", "text": "(a+)+$"}})] + [
        dict(base, name=f"c{i}", rcpt_to=[f"c{i}@example.net"],
             expect={"rcpt": {"status": "reject", "text": "(blocked)+ by fake"}})
        for i in range(3)]
    verdicts = {}
    # The slow pattern runs out its case's whole timeout (twice): 3 s leaves the others
    # room for their sessions (0.3 s of it the server's) on a loaded machine.
    try:
        for concurrency in (1, 4):
            results = run_cases(parse_cases(cases), ProbeTarget(
                server="127.0.0.1", port=server.port, timeout=3.0, helo="probe.test"),
                concurrency=concurrency)
            verdicts[concurrency] = [(r["name"], r["status"]) for r in results]
            assert "regular expression" in results[0]["error"], results[0]
    finally:
        server.close()
    assert verdicts[1] == verdicts[4] == [("slow", "error"), ("c0", "passed"),
                                          ("c1", "passed"), ("c2", "passed")], verdicts


@pytest.mark.parametrize("xclient,other", [
    ("ADDR=192.0.2.1 LOGIN=s3cret-login NAME", {}),  # a string Ansible cannot make a dict
    ("ADDR=192.0.2.1 LOGIN=s3cret-login", {}),  # one it can: still not a dictionary
    ({"addr": "192.0.2.1", "login": ["s3cret-login"]}, {}),
    ({"addr": "192.0.2.1", "login": "s3cret-login"}, {"mail_from": ["a@example.org"]}),
])
def test_20_no_xclient_value_is_echoed_and_types_are_strict(xclient, other):
    r = run_module("xclient_probe", {"server": "127.0.0.1", "port": 9, "cases": [
        dict({"name": "c", "xclient": xclient}, **other)]})
    assert r.get("failed"), r
    assert "s3cret" not in json.dumps(r), r
    assert r["msg"].startswith("cases[0] (c): ") and "\n" not in r["msg"], r["msg"]
    if other:
        assert r["msg"] == ("cases[0] (c): mail_from: ['a@example.org'] must be a string,"
                            " not a list"), r["msg"]
    else:
        assert r["msg"].startswith("cases[0] (c): xclient"), r["msg"]
    assert "cases" not in r or r.get("cases") is None  # nothing was run


def test_20_key_and_its_alias_both_given_is_refused():
    r = run_module("xclient_probe", {"server": "127.0.0.1", "port": 9, "cases": [
        {"name": "c", "xclient": {"addr": "192.0.2.1", "ADDR": "192.0.2.1"}}]})
    assert r.get("failed") and r["msg"] == (
        "cases[0] (c): xclient.ADDR: given twice (also as addr); give it once"), r


def test_20_results_report_changed_and_check_mode(rules_postfix):
    long = "a case name that is longer than forty-eight characters, "
    cases = [
        {"name": long + "one", "xclient": {"addr": "192.0.2.64"}},
        {"name": long + "two", "xclient": {"addr": "192.0.2.65"}},
        {"name": "x", "mail_from": FROM, "rcpt_to": [LOCAL]},  # expects nothing
        {"name": "queues mail", "xclient": {"addr": "192.0.2.71"}, "mail_from": FROM,
         "rcpt_to": [LOCAL], "data": "Subject: issue 20\n\nbody\n",
         "expect": {"data": "accepted"}},
    ]
    args = {"server": "127.0.0.1", "port": rules_postfix.ports["authorized"],
            "helo": "probe-client.test", "timeout": 10, "cases": cases}
    r = run_module("xclient_probe", args)
    assert not r.get("failed"), r
    assert r["changed"] is True  # a message was queued
    report = r["report"]
    assert isinstance(report, list) and report[0].split() == ["CASE", "RESULT", "DETAIL"]
    assert [line.split("  ")[0] for line in report[1:3]] == [long + "one", long + "two"]
    column = report[0].index("RESULT")
    assert all(line[column:column + 6].strip() in ("passed", "FAILED", "ERROR")
               for line in report[1:]), report
    assert "nothing expected" in report[3], report
    judged = {c["name"]: c.get("judged") for c in r["cases"]}
    assert judged == {long + "one": None, long + "two": None, "x": False, "queues mail": None}
    warnings = json.dumps(r.get("warnings"))
    assert "expect nothing" in warnings and "x" in warnings, r.get("warnings")
    # check mode: nothing queued, and it says what it did not judge
    c = run_module("xclient_probe", args, check_mode=True)
    assert c["changed"] is False and not c.get("failed"), c
    assert "data skipped (check mode: no message is sent; expect.data not judged)" \
        in c["report"][4], c["report"]
    assert "did not send their message" in json.dumps(c.get("warnings")), c
