# SPDX-License-Identifier: GPL-3.0-or-later
"""access_cases on a real private Postfix (issue 21): cidr, hash (domain, parent domain,
address, net prefix), regexp/pcre and inline tables, permit_mynetworks before a REJECT entry,
the built-ins. Every coverable rule gets a case; the cases, run with xclient_probe, hold on
every rule but the shadowed one, which coverage_report names with what decided instead;
every verdict is the one Postfix logged and the one swaks gets for the same identity.

One instance for the module, no reload."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
from access_rules_postfix import (
    HOLDING_ADDR,
    REGEXP_SAMPLES,
    SHADOWED_ADDR,
    AccessRulesPostfix,
)
from ansible_collections.mailops.xclient.plugins.module_utils._access_model import (
    OFFLINE,
)
from ansible_collections.mailops.xclient.plugins.module_utils._coverage_report import (
    coverage_report,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_audit import (
    login_ignored_without_sasl,
)
from private_postfix import new_base
from run_module import run_module
from swaks_replies import reply_codes

PROBE_HELO = "probe.example"
FIRST_PORT = 41000  # XCLIENT PORT of the first case: finds each session in the log


@pytest.fixture(scope="module")
def access_postfix():
    inst = AccessRulesPostfix(base=new_base("xclient-pf-access-")).start()
    try:
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(inst.base, ignore_errors=True)


def derive(inst, listener, **extra):
    out = run_module("access_cases", dict(
        config_dir=inst.config_dir, service=f"127.0.0.1:{inst.ports[listener]}/inet",
        **extra))
    assert not out.get("failed"), out
    return out


def probe(inst, listener, cases):
    out = run_module("xclient_probe", {
        "server": "127.0.0.1", "port": inst.ports[listener], "helo": PROBE_HELO,
        "timeout": 30, "fail_on_mismatch": False, "cases": cases})
    assert "cases" in out, out
    return out


def with_ports(cases):
    """The same cases, each with its own XCLIENT PORT (changes no verdict)."""
    out = []
    for i, case in enumerate(cases):
        case = dict(case, xclient=dict(case["xclient"], port=FIRST_PORT + i))
        out.append(case)
    return out


def log_verdicts(inst, before, cases):
    """Per case, what Postfix logged for its session: the RCPT reply code (a reject
    line) or 250 (no reject, one recipient accepted)."""
    ends = {c["name"]: re.compile(rf"disconnect from \S+\[[^\]]*\]:{c['xclient']['port']} ")
            for c in cases}
    deadline = time.monotonic() + 30
    while True:
        log = [line for line in inst.log_lines()[before:] if "postfix/authorized/smtpd[" in line
               or "postfix/sasl/smtpd[" in line]
        if all(any(e.search(line) for line in log) for e in ends.values()) or (
                time.monotonic() > deadline):
            break
        time.sleep(0.05)
    verdicts = {}
    for case in cases:
        port = case["xclient"]["port"]
        rejects = [re.search(r": (\d{3}) ", line) for line in log
                   if re.search(rf"reject: RCPT from \S+\[[^\]]*\]:{port}: ", line)]
        disconnect = [line for line in log if ends[case["name"]].search(line)]
        assert len(disconnect) == 1, (case, disconnect)
        if rejects:
            verdicts[case["name"]] = int(rejects[0].group(1))
        else:
            # Postfix writes rcpt=1 when every RCPT succeeded (rcpt=0/1 when one failed)
            assert re.search(r" rcpt=1 ", disconnect[0]), disconnect
            verdicts[case["name"]] = 250
    return verdicts


def swaks_rcpt(port, case):
    xc = case["xclient"]
    argv = ["swaks", "--server", f"127.0.0.1:{port}", "--ehlo", xc.get("helo", PROBE_HELO),
            "--from", case["mail_from"] or "<>", "--to", case["rcpt_to"][0],
            "--quit-after", "RCPT", "--timeout", "20", "--xclient-no-verify"]
    for key in ("addr", "name", "helo", "reverse_name", "login", "port"):
        if key in xc:
            argv += [f"--xclient-{key.replace('_', '-')}", str(xc[key])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          stdin=subprocess.DEVNULL)
    code = reply_codes(done.stdout + done.stderr, ["RCPT"])["RCPT"]
    if code is None:
        raise AssertionError(f"swaks got no RCPT reply: {done.stdout}{done.stderr}")
    return code


def code_of(result):
    return result["stages"]["rcpt"][0]["code"]


def test_every_rule_covered_shadowed_entry_named_verdicts_match_postfix_log_and_swaks(
        access_postfix):
    inst = access_postfix
    derived = derive(inst, "authorized", samples=REGEXP_SAMPLES)
    rows = derived["coverage"]
    # the sender rules come from the listener's -o override, the rest from main.cf
    assert derived["overrides"]["smtpd_sender_restrictions"].startswith(
        "reject_non_fqdn_sender")
    uncovered = {r["rule"].split("] ", 1)[1]: r["not_covered"] for r in rows
                 if not r["cases"]}
    # (check_client_access: the IPv6 entry of the cidr table on this ipv4 instance)
    expected_uncovered = {
        "check_helo_access", "check_policy_service", "permit", "check_client_access"}
    if login_ignored_without_sasl(inst.version):
        expected_uncovered.add("permit_sasl_authenticated")
    assert {k.split()[0] for k in uncovered} == expected_uncovered, uncovered
    # exactly these, each for its own reason
    reasons = sorted(uncovered.values())
    assert sum("give samples" in r for r in reasons) == 1  # /(foo|bar)\.example$/
    assert sum("IPv6" in r for r in reasons) == 1  # [2001:db8::66]/128 on an ipv4 instance
    assert sum(r.startswith("not covered offline") for r in reasons) == 1
    assert sum(r.startswith("no case") for r in reasons) == 1  # the final permit
    # every table entry of every type and every built-in of the lists has a case
    covered = {(r["restriction"], r["entry"]) for r in rows if r["cases"]}
    for want in [("check_client_access", "blocked.example"),
                 ("check_client_access", "198.51.100"),
                 ("check_client_access", "192.0.2.99"),
                 ("check_client_access", "ok.example"),
                 ("check_client_access", f"{SHADOWED_ADDR}/32"),
                 ("check_client_access", f"{HOLDING_ADDR}/32"),
                 ("check_client_access", "198.51.100.0/24"),
                 ("check_helo_access", r"/^spam\.example$/"),
                 ("check_helo_access", r"/^mx[0-9]+\.bad\.example$/"),
                 ("check_sender_access", "blocked-sender@example.org"),
                 ("reject_non_fqdn_recipient", None), ("reject_unauth_destination", None),
                 ("reject_unknown_client_hostname", None),
                 ("reject_unknown_reverse_client_hostname", None),
                 ("reject_invalid_helo_hostname", None),
                 ("reject_non_fqdn_helo_hostname", None), ("reject_non_fqdn_sender", None),
                 ("permit_mynetworks", None)]:
        assert want in covered, want
    names = {r["entry"]: r["cases"] for r in rows if r["restriction"] == "check_client_access"}
    assert any("subdomain probe-sub.blocked.example" in n for n in names["blocked.example"])
    # the model already expects permit_mynetworks to decide for the shadowed entry
    assert next(r["rule"] for r in rows if r["entry"] == f"{SHADOWED_ADDR}/32") in \
        derived["predicted_shadowed"]

    cases = with_ports(derived["cases"])
    before = inst.quiet_log_length()
    ran = probe(inst, "authorized", cases)
    report = coverage_report(derived, ran)
    # the shadowed entry, by name, with what decided instead; every other rule holds
    assert [(f["rule"].split()[-1], f["decided_by"]) for f in report["shadowed"]] == [
        (f"{SHADOWED_ADDR}/32", "smtpd_recipient_restrictions[5] permit_mynetworks")]
    statuses = {r["rule"]: r["status"] for r in report["rows"]}
    assert set(statuses.values()) <= {"holds", "shadowed", "not covered"}
    assert sum(s == "shadowed" for s in statuses.values()) == 1
    assert report["totals"]["holds"] == report["totals"]["covered"] - 1
    assert report["line"] == (f"coverage: {report['totals']['covered']} of"
                              f" {report['totals']['coverable']} rules covered, 1 shadowed")

    # every verdict is what Postfix logged, and what swaks gets for the same identity
    logged = log_verdicts(inst, before, cases)
    by_name = {r["name"]: r for r in ran["cases"]}
    for case in cases:
        ours = code_of(by_name[case["name"]])
        assert ours == logged[case["name"]], (case, ours, logged[case["name"]])
        assert swaks_rcpt(inst.ports["authorized"], case) == ours, case


def test_login_case_on_the_sasl_listener_holds(access_postfix):
    inst = access_postfix
    derived = derive(inst, "sasl")
    rows = {r["restriction"]: r for r in derived["coverage"]}
    # no -o sender rules on this listener: main.cf's (none) are in force
    assert "check_sender_access" not in rows and "reject_non_fqdn_sender" not in rows
    sasl = rows["permit_sasl_authenticated"]
    assert sasl["cases"], sasl
    ran = probe(inst, "sasl", derived["cases"])
    report = coverage_report(derived, ran)
    by_rule = {r["rule"]: r for r in report["rows"]}
    assert by_rule[sasl["rule"]]["status"] == "holds"
    assert [f["rule"].split()[-1] for f in report["shadowed"]] == [f"{SHADOWED_ADDR}/32"]


def test_offline_rules_are_named():
    assert {"check_policy_service", "reject_rbl_client",
            "reject_unknown_sender_domain"} <= OFFLINE


def test_baseline_reports_exactly_the_verdicts_that_differ(access_postfix, tmp_path):
    """xclient_probe's baseline: record the derived cases' verdicts on the listener with
    the -o sender rules, then run the same cases on a listener without them: exactly the
    sender cases change verdict, and nothing else."""
    inst = access_postfix
    derived = derive(inst, "authorized", samples=REGEXP_SAMPLES)
    path = str(tmp_path / "verdicts.json")
    args = {"server": "127.0.0.1", "helo": PROBE_HELO, "timeout": 30,
            "fail_on_mismatch": False, "cases": derived["cases"], "baseline": path}
    # check mode: reported as a change, nothing written
    dry = run_module("xclient_probe", dict(args, port=inst.ports["authorized"]),
                     check_mode=True)
    assert dry["changed"] and dry["baseline"]["action"] == "recorded"
    assert not (tmp_path / "verdicts.json").exists()
    first = run_module("xclient_probe", dict(args, port=inst.ports["authorized"]))
    assert first["changed"] and first["baseline"]["action"] == "recorded"
    recorded = (tmp_path / "verdicts.json").read_bytes()
    again = run_module("xclient_probe", dict(args, port=inst.ports["authorized"]))
    assert not again["changed"] and again["baseline"]["changes"] == []
    assert again["baseline"]["unchanged"] == len(derived["cases"])
    other = run_module("xclient_probe", dict(args, port=inst.ports["sasl"],
                                             fail_on_mismatch=True))
    assert other["failed"] and "verdicts differ from the baseline" in other["msg"]
    changed = sorted((c["case"].split(" (")[0], c["stage"], c["before"], c["after"])
                     for c in other["baseline"]["changes"])
    assert changed == [
        ("sender[1] reject_non_fqdn_sender", "rcpt", [504], [250]),
        ("sender[2] check_sender_access blocked-sender@example.org", "rcpt", [554], [250]),
    ], other["baseline"]["changes"]
    assert (tmp_path / "verdicts.json").read_bytes() == recorded  # compared, not updated
