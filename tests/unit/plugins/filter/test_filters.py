# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.xclient.plugins.filter.listener_name import listener_name
from ansible_collections.mailops.xclient.plugins.filter.port_clashes import port_clashes
from ansible_collections.mailops.xclient.plugins.test.ip_address import ip_address


def test_port_clashes():
    assert port_clashes({"a": [{"address": "127.0.0.1", "port": 25}],
                         "b": {"address": "127.0.0.2", "port": 25}}) == []
    assert port_clashes({"a": [{"address": "127.0.0.1", "port": 25},
                               {"address": "0.0.0.0", "port": 587}],
                         "b": 587}) == ["a[1] and b both use port 587"]
    assert port_clashes({"a": [{"address": "::", "port": 10}], "b": {"address": "127.0.0.1",
                                                                     "port": "10"}}) == [
        "a[0] and b both use port 10"]
    assert port_clashes({"a": None, "b": ""}) == []
    with pytest.raises(AnsibleFilterError):
        port_clashes({"a": {"address": "x"}})


@pytest.mark.parametrize("a,b", [
    ("2001:db8::1", "[2001:DB8:0::1]"), ("::ffff:7f00:1", "[::FFFF:127.0.0.1]"),
    ("127.0.0.1", " 127.0.0.1 "), ("[::]", "192.0.2.1")])
def test_port_clashes_compares_addresses_not_spellings(a, b):
    assert port_clashes({"a": {"address": a, "port": 25},
                         "b": [{"address": b, "port": "25"}]}) == [
        "a and b[0] both use port 25"]


@pytest.mark.parametrize("value,where", [
    ({"a": 70000}, "a: 70000"), ({"a": {"port": 0}}, "a.port: 0"),
    ({"a": [{"port": "smtp"}]}, "a[0].port: 'smtp'"), ({"a": {"port": -25}}, "a.port: -25"),
    ({"a": {"port": True}}, "a.port: True"), ({"a": {"port": [25]}}, "a.port: [25]"),
    ({"a": {"port": 25, "address": ["::1"]}}, "a.address: ['::1']")])
def test_port_clashes_bad_port_names_the_field(value, where):
    with pytest.raises(AnsibleFilterError) as err:
        port_clashes(value)
    assert f"port_clashes: {where} is not a" in str(err.value)


def test_listener_name():
    assert listener_name({"address": "127.0.0.1", "port": "10025"}) == "127.0.0.1:10025"
    assert listener_name({"address": "::1", "port": 10025}) == "[::1]:10025"
    assert listener_name({"address": "[::1]", "port": 10025}) == "[::1]:10025"
    with pytest.raises(AnsibleFilterError):
        listener_name({"port": 1})


@pytest.mark.parametrize("value,ok", [("127.0.0.1", True), ("::1", True), ("[::1]", False),
                                      ("localhost", False), ("127.0.0.1/8", False), (None, False)])
def test_ip_address(value, ok):
    assert ip_address(value) is ok


def test_cases_via():
    from ansible_collections.mailops.xclient.plugins.filter.cases_via import cases_via
    cases = [{"name": "a", "via": "proxy", "expect": {}}, {"name": "b", "via": "filter"}]
    assert cases_via(cases, "proxy") == [{"name": "a", "expect": {}}]
    assert cases_via(cases, "backend") == []
    assert cases_via(None, "proxy") == []


def test_verify_report_explains_the_xclient_outcome_words():
    from ansible_collections.mailops.xclient.plugins.filter.verify_report import verify_report

    rows = [
        {"group": "backend", "name": "applied then rejected", "passed": False, "error": None,
         "status": "failed",
         "mismatches": ["xclient: expected refused, got rejected (554 5.7.1 blocked)"],
         "stages": {"xclient": {"outcome": "rejected", "code": 554}}},
        {"group": "backend", "name": "refused", "passed": True, "error": None,
         "status": "passed",
         "mismatches": [], "stages": {"xclient": {"outcome": "refused", "code": 550}}},
        {"group": "backend", "name": "deferred", "passed": True, "error": None,
         "status": "passed",
         "mismatches": [], "stages": {"xclient": {"outcome": "deferred", "code": 450}}},
    ]
    lines = verify_report(rows)
    assert lines[0].split() == ["GROUP", "CASE", "RESULT", "DETAIL"]
    assert lines[1].startswith("backend      applied then rejected  FAILED  ")
    assert lines[1].endswith("got rejected (554 5.7.1 blocked) (rejected: the identity was"
                             " applied, then rejected by the restrictions)")
    assert lines[2].endswith("xclient refused 550 (Postfix refused the command"
                             " (authorization or syntax))")
    assert lines[3].endswith("xclient deferred 450 (the identity was applied, then deferred"
                             " by the restrictions)")
    table = verify_report(rows, format="rows")
    assert [r["result"] for r in table] == ["FAILED", "passed", "passed"]
    assert lines[1].endswith(table[0]["detail"])


def test_verify_report_passed_detail_names_the_deciding_replies():
    from ansible_collections.mailops.xclient.plugins.filter.verify_report import verify_report

    row = {"group": "proxy", "name": "n", "passed": True, "status": "passed", "error": None,
           "mismatches": [], "stages": {
               "xclient": {"outcome": "accepted", "code": 220, "enhanced": None, "text": "x"},
               "mail": {"code": 250, "enhanced": "2.1.0", "text": "Ok"},
               "rcpt": [{"code": 554, "enhanced": "5.7.1", "recipient": "a@b.example",
                         "text": "<a@b.example>: Relay access denied\nmore"}],
               "data": {"skipped": "check mode: no message is sent"}}}
    (line,) = verify_report([row], format="rows")
    assert line["detail"] == ("xclient accepted 220, mail 250 2.1.0 Ok, rcpt 554 5.7.1"
                              " <a@b.example>: Relay access denied")
    error = dict(row, passed=False, status="error", error="network error: refused")
    assert verify_report([error], format="rows")[0] == {
        "group": "proxy", "name": "n", "result": "ERROR", "detail": "network error: refused"}


def test_verify_report_rows_built_by_hand_without_status():
    from ansible_collections.mailops.xclient.plugins.filter.verify_report import verify_report

    rows = [{"name": "ok", "passed": True, "error": None, "mismatches": [], "stages": {}},
            {"name": "bad", "passed": False, "error": None, "mismatches": ["rcpt: x"],
             "stages": {}},
            {"name": "down", "passed": False, "error": "timed out", "mismatches": [],
             "stages": {}}]
    assert [r["result"] for r in verify_report(rows, format="rows")] == [
        "passed", "FAILED", "ERROR"]


def test_audit_and_finding_results_are_result_rows():
    from ansible_collections.mailops.xclient.plugins.filter.audit_results import audit_results
    from ansible_collections.mailops.xclient.plugins.filter.finding_result import (
        finding_result,
    )
    from ansible_collections.mailops.xclient.plugins.filter.verify_report import verify_report
    from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
        summarize,
    )

    finding = {"severity": "error", "code": "open_xclient", "service": "smtp",
               "message": "XCLIENT is open to all.", "fix": "Restrict it."}
    row = finding_result(finding)
    assert row["status"] == "failed" and not row["passed"]
    assert row["mismatches"] == ["XCLIENT is open to all. Fix: Restrict it."]
    (ok,) = audit_results([dict(finding, severity="warning")])
    assert ok["status"] == "passed" and ok["group"] == "postfix_info"
    assert audit_results([finding, dict(finding, severity="info")]) == [row]
    assert summarize([row, ok]) == {"total": 2, "passed": 1, "failed": 1, "errors": 0}
    lines = verify_report([row, ok])
    assert "FAILED  XCLIENT is open to all. Fix: Restrict it." in lines[1]
    assert lines[2].rstrip().endswith("passed")


@pytest.mark.parametrize("value, ok", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
    ("::ffff:127.0.0.1", True), ("localhost", True), ("LOCALHOST.", True),
    ("192.0.2.7", False), ("pop.isp.example", False), ("localhost.isp.example", False),
    ("2001:db8::1", False), ("", False), (None, False), (127, False)])
def test_loopback_host(value, ok):
    from ansible_collections.mailops.xclient.plugins.test.loopback_host import loopback_host
    assert loopback_host(value) is ok


@pytest.mark.parametrize("value, ok", [
    (r"mx\.isp\.example", True), ("mx[0-9]+", True), ("", True),
    ("mx([", False), ("(", False), ("*a", False), (None, False), (5, False)])
def test_python_regex(value, ok):
    from ansible_collections.mailops.xclient.plugins.test.python_regex import python_regex
    assert python_regex(value) is ok
