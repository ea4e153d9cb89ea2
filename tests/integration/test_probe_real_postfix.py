# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe against a real, private Postfix instance (3.7 on Debian 12, 3.10 on Debian 13) (tests/harness/private_postfix.py).

Every identity a test sends is unique to that test, so log lines and policy requests can be
tied to the case that caused them.
"""

from __future__ import annotations

import re

from ansible_collections.mailops.xclient.plugins.module_utils._postfix_audit import (
    login_ignored_without_sasl,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import parse_cases
from ansible_collections.mailops.xclient.plugins.module_utils._probe_runner import (
    ProbeTarget,
    advertised_attributes,
    run_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_reply import (
    ehlo_keywords,
    xclient_attributes,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_session import (
    SmtpSession,
    make_tls_context,
)

ALL_NINE = ["NAME", "ADDR", "PROTO", "HELO", "REVERSE_NAME", "PORT", "LOGIN", "DESTADDR",
            "DESTPORT"]
FROM = "probe@example.org"
LOCAL = "postmaster@example.net"  # relay_domains: accepted unless a rule rejects
REMOTE = "someone@elsewhere.example"  # relaying: needs mynetworks or SASL


def probe(inst, listener, cases, **target):
    target.setdefault("helo", "probe-client.test")
    t = ProbeTarget(server="127.0.0.1", port=inst.ports[listener], **target)
    return run_cases(parse_cases(cases), t, concurrency=4, transcript_mode="all")


def one(inst, listener, case, **target):
    (result,) = probe(inst, listener, [case], **target)
    return result


def session(inst, listener):
    s = SmtpSession("127.0.0.1", inst.ports[listener], timeout=10, transcript=[])
    greeting = s.open()
    assert greeting.code == 220
    return s


# ------------------------------------------------------------------ authorization

def test_authorized_listener_offers_and_accepts_xclient(postfix_instance):
    s = session(postfix_instance, "authorized")
    try:
        ehlo = s.command("EHLO probe-client.test")
        assert xclient_attributes(ehlo_keywords(ehlo)) == ALL_NINE
        reply = s.command("XCLIENT ADDR=192.0.2.1 NAME=auth-ok.example")
        assert reply.code == 220
        assert "private-test-instance" in reply.text  # the fresh greeting
    finally:
        s.close()


def test_unauthorized_listener_hides_keyword_and_refuses(postfix_instance):
    s = session(postfix_instance, "unauthorized")
    try:
        ehlo = s.command("EHLO probe-client.test")
        assert xclient_attributes(ehlo_keywords(ehlo)) is None
        reply = s.command("XCLIENT ADDR=192.0.2.2")
        assert (reply.code, reply.enhanced) == (550, "5.7.0")
        assert reply.text == "Error: insufficient authorization"
    finally:
        s.close()


def test_probe_reports_not_offered_on_unauthorized_listener(postfix_instance):
    results = probe(postfix_instance, "unauthorized", [
        {"name": "this host may not use XCLIENT", "expect": {"xclient": "not_offered"}},
        {"name": "identity cannot be sent", "xclient": {"addr": "192.0.2.3"},
         "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "accept"}},
    ])
    assert results[0]["passed"] and results[0]["stages"]["xclient"]["outcome"] == "not_offered"
    assert not results[1]["passed"] and results[1]["status"] == "failed"
    assert results[1]["mismatches"][0].startswith("xclient: expected accepted, got not_offered")


def test_second_xclient_after_addr_is_refused(postfix_instance):
    s = session(postfix_instance, "authorized")
    try:
        s.command("EHLO probe-client.test")
        assert s.command("XCLIENT ADDR=192.0.2.7").code == 220
        ehlo = s.command("EHLO probe-client.test")
        assert xclient_attributes(ehlo_keywords(ehlo)) is None  # re-checked: 192.0.2.7
        again = s.command("XCLIENT NAME=second.example")
        assert (again.code, again.enhanced) == (550, "5.7.0")
    finally:
        s.close()


# ------------------------------------------------------------------ each attribute

def test_name_and_addr_in_client_log_line(postfix_instance):
    r = one(postfix_instance, "authorized", {
        "name": "name and addr", "xclient": {"addr": "192.0.2.31", "name": "n31.example"},
        "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "accept"}})
    assert r["passed"], r
    assert postfix_instance.wait_for_log(r": client=n31\.example\[192\.0\.2\.31\]$")


def test_helo_is_the_declared_one(postfix_instance):
    r = one(postfix_instance, "authorized", {
        "name": "declared helo is checked",
        "xclient": {"addr": "192.0.2.32", "name": "n32.example", "helo": "bad-helo.example"},
        "mail_from": FROM, "rcpt_to": [LOCAL],
        "expect": {"rcpt": {"status": "reject", "text": "helo bad-helo.example blocked"}}})
    assert r["passed"], r
    lines = postfix_instance.wait_for_log(r"reject: RCPT from n32\.example\[192\.0\.2\.32\]")
    assert "helo=<bad-helo.example>" in lines[0]


def test_proto_smtp_is_kept(postfix_instance):
    r = one(postfix_instance, "authorized", {
        "name": "proto smtp", "xclient": {"addr": "192.0.2.66", "proto": "SMTP",
                                          "name": "n33.example"},
        "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "reject"}})
    assert r["passed"], r
    assert r["transcript"].count("C: HELO probe-client.test") == 1
    lines = postfix_instance.wait_for_log(r"reject: RCPT from n33\.example\[192\.0\.2\.66\]")
    assert "proto=SMTP" in lines[0]


def test_proto_esmtp_logged(postfix_instance):
    r = one(postfix_instance, "authorized", {
        "name": "proto esmtp", "xclient": {"addr": "192.0.2.66", "proto": "esmtp",
                                           "name": "n34.example"},
        "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "reject"}})
    assert r["passed"], r
    lines = postfix_instance.wait_for_log(r"reject: RCPT from n34\.example\[192\.0\.2\.66\]")
    assert "proto=ESMTP" in lines[0]


def test_login_port_on_sasl_listener(postfix_instance):
    r = one(postfix_instance, "sasl", {
        "name": "login relays", "xclient": {"addr": "192.0.2.35", "name": "n35.example",
                                            "login": "alice@example.org", "port": 40035},
        "mail_from": FROM, "rcpt_to": [REMOTE], "expect": {"rcpt": "accept"}})
    assert r["passed"], r
    assert "C: XCLIENT LOGIN=******** PORT=40035 NAME=n35.example ADDR=192.0.2.35" \
        in r["transcript"]
    assert not any("alice" in line for line in r["transcript"])
    assert postfix_instance.wait_for_log(
        r"client=n35\.example\[192\.0\.2\.35\]:40035, sasl_method=XCLIENT,"
        r" sasl_username=alice@example\.org")


def test_login_without_sasl_relays_as_the_version_says(postfix_instance):
    # Postfix < 3.7.12 (3.8.7, 3.9.1): permit_sasl_authenticated ignores XCLIENT LOGIN unless
    # SASL is enabled on the listener; fixed versions (Debian 13's 3.10) let LOGIN relay.
    # Each side is asserted on the version that has it; the probe reports what Postfix does.
    ignored = login_ignored_without_sasl(postfix_instance.version)
    r = one(postfix_instance, "authorized", {
        "name": "login without sasl", "xclient": {"addr": "192.0.2.36", "login": "bob"},
        "mail_from": FROM, "rcpt_to": [REMOTE],
        "expect": {"rcpt": "5.7.1" if ignored else "accept"}})
    assert r["passed"], (postfix_instance.version, r)
    if ignored:
        assert "Relay access denied" in r["stages"]["rcpt"][0]["text"]
    else:
        assert r["stages"]["rcpt"][0]["code"] == 250


def test_destaddr_destport_reach_policy(postfix_instance):
    r = one(postfix_instance, "authorized", {
        "name": "dest", "xclient": {"addr": "192.0.2.37", "destaddr": "198.51.100.25",
                                    "destport": 2525, "name": "n37.example"},
        "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "accept"}})
    assert r["passed"], r
    reqs = [q for q in postfix_instance.policy_requests()
            if q.get("client_address") == "192.0.2.37"]
    assert reqs and reqs[0]["server_address"] == "198.51.100.25"
    assert reqs[0]["server_port"] == "2525"
    assert reqs[0]["client_name"] == "n37.example"


def test_reverse_name_decides(postfix_instance):
    results = probe(postfix_instance, "authorized", [
        {"name": "reverse blocked", "xclient": {"addr": "192.0.2.38", "name": "n38.example",
                                                "reverse_name": "rev-blocked.example"},
         "mail_from": FROM, "rcpt_to": [LOCAL],
         "expect": {"rcpt": {"status": "reject", "text": "reverse name blocked"}}},
        {"name": "reverse fine", "xclient": {"addr": "192.0.2.39", "name": "n39.example",
                                             "reverse_name": "n39.example"},
         "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "accept"}},
    ])
    assert [r["passed"] for r in results] == [True, True], results
    reqs = {q["client_address"]: q for q in postfix_instance.policy_requests()}
    assert reqs["192.0.2.39"]["reverse_client_name"] == "n39.example"


# ------------------------------------------------------------------ address forms and rules

def test_ipv6_addr(postfix_instance):
    results = probe(postfix_instance, "authorized", [
        {"name": "v6 blocked", "xclient": {"addr": "2001:db8::66", "name": "v6.example"},
         "mail_from": FROM, "rcpt_to": [LOCAL],
         "expect": {"rcpt": {"status": "5.7.1", "text": "2001:db8::66 is blocked"}}},
        {"name": "v6 ok (given with IPV6: prefix, non-canonical)",
         "xclient": {"addr": "IPv6:2001:DB8:0:0::67", "name": "v6ok.example"},
         "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "accept"}},
    ])
    assert [r["passed"] for r in results] == [True, True], results
    assert postfix_instance.wait_for_log(r"client=v6ok\.example\[2001:db8::67\]")


def test_unavailable_and_tempunavail_names(postfix_instance):
    results = probe(postfix_instance, "authorized", [
        {"name": "unavailable", "xclient": {"addr": "192.0.2.40", "name": "[UNAVAILABLE]"},
         "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "550"}},
        {"name": "tempunavail", "xclient": {"addr": "192.0.2.41", "name": "[tempunavail]"},
         "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "450"}},
    ])
    assert [r["passed"] for r in results] == [True, True], results
    assert "cannot find your hostname" in results[1]["stages"]["rcpt"][0]["text"]
    assert postfix_instance.wait_for_log(r"reject: RCPT from unknown\[192\.0\.2\.41\]: 450 ")


def test_cidr_rule_applies_to_overridden_address(postfix_instance):
    results = probe(postfix_instance, "authorized", [
        {"name": "in blocked /24", "xclient": {"addr": "198.51.100.77", "name": "c.example"},
         "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "reject"}},
        {"name": "neighbour allowed", "xclient": {"addr": "192.0.2.65", "name": "c.example"},
         "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "accept"}},
        {"name": "greylisted", "xclient": {"addr": "203.0.113.45", "name": "c.example"},
         "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "tempfail"}},
        {"name": "no xclient: the real client 127.0.0.1 may relay", "mail_from": FROM,
         "rcpt_to": [REMOTE], "expect": {"rcpt": "accept", "xclient": "offered"}},
    ])
    assert [r["passed"] for r in results] == [True] * 4, results
    assert "198.51.100.0/24 is blocked" in results[0]["stages"]["rcpt"][0]["text"]


def test_xclient_values_postfix_refuses_are_reported(postfix_instance):
    # The module validates input, so a refused XCLIENT needs a raw command: show what
    # Postfix says to a bare IPv6 address (the mistake proxsmtp makes).
    s = session(postfix_instance, "authorized")
    try:
        s.command("EHLO probe-client.test")
        reply = s.command("XCLIENT ADDR=2001:db8::1")
        assert (reply.code, reply.text) == (501, "Bad ADDR syntax: 2001:db8::1")
    finally:
        s.close()


def test_data_is_sent_and_discarded(postfix_instance):
    r = one(postfix_instance, "authorized", {
        "name": "with data", "xclient": {"addr": "192.0.2.42", "name": "n42.example"},
        "mail_from": FROM, "rcpt_to": [LOCAL],
        "data": "Subject: probe\n\n.leading dot line\nbody\n",
        "expect": {"data": {"status": "accept", "text": "queued as"}}})
    assert r["passed"], r
    queue_id = r["stages"]["data"]["text"].split()[-1]
    assert postfix_instance.wait_for_log(rf"{queue_id}: to=<{LOCAL}>, relay=none.*status=sent")


def test_check_mode_skips_data(postfix_instance):
    (r,) = run_cases(parse_cases([{
        "name": "check mode", "xclient": {"addr": "192.0.2.43", "name": "n43.example"},
        "mail_from": FROM, "rcpt_to": [LOCAL], "data": "Subject: x\n\nbody\n",
        "expect": {"rcpt": "accept", "data": "accept"}}]),
        ProbeTarget(server="127.0.0.1", port=postfix_instance.ports["authorized"],
                    helo="probe-client.test"), check_mode=True, transcript_mode="all")
    assert r["passed"], r
    assert r["stages"]["data"] == {
        "skipped": "check mode: no message is sent; expect.data not judged"}
    assert not any("DATA" in line for line in r["transcript"])


# ------------------------------------------------------------------ TLS

def test_starttls_and_smtps_with_verification(postfix_instance):
    ctx = make_tls_context(True, postfix_instance.cert_file)
    case = {"name": "tls", "xclient": {"addr": "192.0.2.44", "name": "tls.example"},
            "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "accept"}}
    for mode in ("starttls", "smtps"):
        r = one(postfix_instance, mode, case, tls=mode, tls_context=ctx,
                server_name="probe-target.test")
        assert r["passed"], r
        assert any(line.startswith("-- TLS established") for line in r["transcript"])


def test_tls_verification_failure_is_an_error(postfix_instance):
    case = {"name": "untrusted", "xclient": {"addr": "192.0.2.45"}}
    r = one(postfix_instance, "smtps", case, tls="smtps", tls_context=make_tls_context(True))
    assert r["status"] == "error"
    assert "certificate" in r["error"]
    wrong_name = one(postfix_instance, "starttls", case, tls="starttls",
                     tls_context=make_tls_context(True, postfix_instance.cert_file),
                     server_name="mx.other.example")
    assert wrong_name["status"] == "error" and "mx.other.example" in wrong_name["error"]
    unchecked = one(postfix_instance, "smtps", case, tls="smtps",
                    tls_context=make_tls_context(False))
    assert unchecked["passed"], unchecked


# ------------------------------------------------------------------ verdicts vs Postfix's log

def test_every_verdict_agrees_with_postfix_log(postfix_instance):
    cases = []
    for i in range(24):
        addr = f"192.0.2.{100 + i}" if i % 3 else f"198.51.100.{100 + i}"
        cases.append({"name": f"log-{i}", "xclient": {"addr": addr, "name": f"l{i}.example"},
                      "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "any"}})
    results = probe(postfix_instance, "authorized", cases)
    for case, r in zip(cases, results):
        assert r["passed"], r
        addr = case["xclient"]["addr"]
        name = case["xclient"]["name"]
        lines = postfix_instance.wait_for_log(
            rf"disconnect from {re.escape(name)}\[{re.escape(addr)}\]")
        assert len(lines) == 1, lines
        code = r["stages"]["rcpt"][0]["code"]
        if code // 100 == 2:
            assert " rcpt=1 " in lines[0]
        else:
            assert " rcpt=0/1 " in lines[0]
            reject = postfix_instance.wait_for_log(
                rf"NOQUEUE: reject: RCPT from {re.escape(name)}\[{re.escape(addr)}\]: {code} ")
            assert reject, f"no reject line with {code} for {addr}"
        # the session is logged under the overridden identity, and a successful XCLIENT
        # shows as xclient=0/1 (smtpd longjmps before counting it)
        assert " ehlo=2 xclient=0/1 mail=1 " in lines[0]


def test_case_source_address_is_the_real_client(fresh_postfix):
    # An instance of its own: other tests restart the shared one, and a restart from a
    # module leaves the stub resolver's mount namespace.
    postfix_instance = fresh_postfix
    # 127.0.0.66 is a loopback address too; the access rule blocks it without XCLIENT.
    # "No such host" for 127.0.0.10 comes from the instance's own stub resolver, not from
    # the machine's DNS (tests/harness/stub_resolver.py).
    asked_before = postfix_instance.resolver_queries
    results = probe(postfix_instance, "unauthorized", [
        {"name": "from 127.0.0.66", "source_address": "127.0.0.66", "mail_from": FROM,
         "rcpt_to": [LOCAL], "expect": {"rcpt": {"status": "reject",
                                                 "text": "127.0.0.66 is blocked"}}},
        # no reverse DNS for 127.0.0.10: reject_unknown_client_hostname names the address
        {"name": "from 127.0.0.10", "source_address": "127.0.0.10", "mail_from": FROM,
         "rcpt_to": [LOCAL], "expect": {"rcpt": {"status": "550",
                                                 "text": r"hostname, \[127\.0\.0\.10\]"}}},
    ])
    assert [r["passed"] for r in results] == [True, True], results
    assert postfix_instance.resolver_queries > asked_before
    assert "-- connected to 127.0.0.1:%d from 127.0.0.66:" % postfix_instance.ports[
        "unauthorized"] in results[0]["transcript"][0]


def test_force_xclient_shows_the_refusal(postfix_instance):
    (r,) = probe(postfix_instance, "unauthorized", [
        {"name": "forced", "xclient": {"addr": "192.0.2.90"}, "force_xclient": True,
         "expect": {"xclient": {"status": "refused", "text": "insufficient authorization"}}}])
    assert r["passed"], r
    xclient = r["stages"]["xclient"]
    assert (xclient["code"], xclient["enhanced"]) == (550, "5.7.0")


def test_result_shape_passed_cases_leave_out_the_greetings(postfix_instance):
    """Passed cases keep the stages they judged; failed ones keep every stage reached;
    transcript: all keeps everything. The advertised keywords come once per run."""
    cases = parse_cases([
        {"name": "accepted", "xclient": {"addr": "192.0.2.10", "name": "ok.example"},
         "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "accept"}},
        {"name": "expected otherwise", "xclient": {"addr": "192.0.2.66", "name": "b.example"},
         "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "accept"}},
        {"name": "greeting judged", "expect": {"connect": 220, "xclient": "offered"}},
    ])
    target = ProbeTarget(server="127.0.0.1", port=postfix_instance.ports["authorized"],
                         helo="probe-client.test")
    advertised: dict = {}
    passed, failed, greeting = run_cases(cases, target, concurrency=3,
                                         transcript_mode="failures", advertised=advertised)
    assert passed["passed"] and set(passed["stages"]) == {"xclient", "mail", "rcpt"}
    assert "transcript" not in passed and "xclient_attributes" not in passed
    assert not failed["passed"]
    assert set(failed["stages"]) == {"connect", "ehlo", "xclient", "helo", "mail", "rcpt"}
    assert failed["stages"]["ehlo"]["text"] == postfix_instance.hostname  # first line only
    assert any("XCLIENT NAME ADDR" in line for line in failed["transcript"])
    assert greeting["passed"] and set(greeting["stages"]) == {"connect", "xclient"}
    assert advertised_attributes(advertised) == ALL_NINE
    (everything,) = run_cases(cases[:1], target, transcript_mode="all")
    assert set(everything["stages"]) == {"connect", "ehlo", "xclient", "helo", "mail", "rcpt"}
    assert everything["transcript"]


def test_module_echoes_at_most_100_cases_as_its_invocation(postfix_instance):
    from run_module import run_module
    args = {"server": "127.0.0.1", "port": postfix_instance.ports["authorized"],
            "helo": "probe-client.test", "concurrency": 8}
    many = run_module("xclient_probe", dict(args, cases=[
        {"name": f"offered {i}", "expect": {"xclient": "offered"}} for i in range(101)]))
    assert many["summary"] == {"total": 101, "passed": 101, "failed": 0, "errors": 0}
    assert [c["name"] for c in many["cases"]] == [f"offered {i}" for i in range(101)]
    echoed = many["invocation"]["module_args"]
    assert echoed["cases"].startswith("101 cases") and echoed["concurrency"] == 8
    few = run_module("xclient_probe", dict(args, cases=[
        {"name": "offered", "expect": {"xclient": "offered"}}]))
    assert few["invocation"]["module_args"]["cases"][0]["name"] == "offered"


# ------------------------------------------------------------------ RETURN is what returns

# One case per kind of stage the result can hold (RETURN's samples come from this run).
RESULT_CASES = [
    {"name": "blocked client is refused at RCPT",
     "xclient": {"addr": "192.0.2.66", "name": "spam.example"},
     "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "reject"}},
    {"name": "relay is denied", "xclient": {"addr": "192.0.2.251", "name": "h251.example"},
     "mail_from": FROM, "rcpt_to": [REMOTE],
     "expect": {"rcpt": {"status": "5.7.1", "text": "Relay access denied"}}},
    {"name": "this host may use XCLIENT", "expect": {"xclient": "offered"}},
    {"name": "no HELO after an unavailable one",
     "xclient": {"addr": "192.0.2.252", "helo": "[UNAVAILABLE]"},
     "mail_from": FROM, "rcpt_to": [LOCAL], "expect": {"rcpt": "accept"}},
    {"name": "a message is queued", "xclient": {"addr": "192.0.2.253", "name": "h253.example"},
     "mail_from": FROM, "rcpt_to": [LOCAL], "data": "Subject: probe\n\nhello\n",
     "expect": {"data": "accept"}},
    {"name": "expects what Postfix will not do",
     "xclient": {"addr": "192.0.2.254", "name": "h254.example"},
     "mail_from": FROM, "rcpt_to": [REMOTE], "expect": {"rcpt": "accept"}},
    {"name": "expects nothing (judged: false)", "mail_from": FROM, "rcpt_to": [LOCAL]},
]


def test_every_returned_key_is_documented_in_return(postfix_instance, tmp_path):
    import json
    import os

    import yaml
    from ansible_collections.mailops.xclient.plugins.modules import xclient_probe
    from key_paths import documented_paths, returned_paths
    from run_module import run_module

    args = {"server": "127.0.0.1", "port": postfix_instance.ports["authorized"],
            "helo": "probe-client.test", "fail_on_mismatch": False, "cases": RESULT_CASES}
    real = run_module("xclient_probe", dict(args, transcript="all",
                                            baseline=str(tmp_path / "verdicts.json")))
    checked = run_module("xclient_probe", args, check_mode=True)
    if os.environ.get("PROBE_RESULT_DUMP"):  # to refresh RETURN's samples
        with open(os.environ["PROBE_RESULT_DUMP"], "w", encoding="utf-8") as fh:
            json.dump({"real": real, "check_mode": checked}, fh, indent=1)
    for r in (real, checked):
        assert r["summary"] == {"total": 7, "passed": 6, "failed": 1, "errors": 0}, r
        assert [c.get("judged") for c in r["cases"]] == [None] * 6 + [False]
    assert real["cases"][4]["stages"]["data"]["code"] == 250
    assert checked["cases"][4]["stages"]["data"] == {
        "skipped": "check mode: no message is sent; expect.data not judged"}
    assert real["changed"] is True and checked["changed"] is False  # mail was queued
    assert real["cases"][3]["stages"]["helo"]["skipped"].startswith("xclient.helo is")
    assert real["cases"][2]["stages"]["xclient"]["attributes"] == ALL_NINE
    assert "transcript" in checked["cases"][5] and "transcript" not in checked["cases"][0]
    # changed, failed, invocation and warnings are Ansible's own keys
    returned = {p for p in returned_paths(real) | returned_paths(checked)
                if p.split(".")[0].split("[")[0] not in ("changed", "failed", "invocation",
                                                         "warnings")}
    documented = documented_paths(yaml.safe_load(xclient_probe.RETURN))
    assert returned - documented == set(), "returned but not in RETURN"
    assert documented - returned == set(), "in RETURN but never returned"
