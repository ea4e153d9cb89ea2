# SPDX-License-Identifier: GPL-3.0-or-later
"""coverage_report: a probe run of access_cases' cases judged per rule."""
from __future__ import annotations

import pytest
from ansible_collections.mailops.xclient.plugins.filter.coverage_report import (
    coverage_report as coverage_filter,
)
from ansible_collections.mailops.xclient.plugins.module_utils._coverage_report import (
    coverage_report,
    observed,
)

MYNET = "smtpd_recipient_restrictions[1] permit_mynetworks"
LATE = "smtpd_recipient_restrictions[2] check_client_access inline:{...} 192.0.2.200"
HOLDS = "smtpd_recipient_restrictions[2] check_client_access inline:{...} 192.0.2.50"


def row(rule, cases, expected="reject", predicted_rule=None, outcome="reject",
        not_covered=None):
    return {"rule": rule, "expectation": expected, "cases": cases,
            "not_covered": not_covered,
            "predicted": {c: {"rule": predicted_rule or rule, "outcome": outcome,
                              "expected": expected} for c in cases}}


def result(name, rcpt=None, passed=True, xclient="accepted", error=None):
    stages = {"xclient": {"outcome": xclient, "code": 220}}
    if rcpt is not None:
        stages["rcpt"] = [{"code": rcpt, "enhanced": None, "text": f"said {rcpt}"}]
    return {"name": name, "passed": passed, "error": error, "stages": stages}


COVERAGE = [
    row(MYNET, ["mynet"], expected="accept", predicted_rule=None, outcome="accept"),
    row(LATE, ["late"], predicted_rule=MYNET, outcome="accept"),
    row(HOLDS, ["holds"]),
    row("smtpd_recipient_restrictions[3] check_policy_service x", [],
        not_covered="not covered offline"),
    row("smtpd_recipient_restrictions[4] permit", [], expected="accept",
        not_covered="no case: does not depend on who the client is"),
]
COVERAGE[0]["predicted"]["mynet"]["rule"] = None


def test_the_shadowed_rule_is_named_with_what_decided_instead():
    probe = {"cases": [result("mynet", 250), result("late", 250, passed=False),
                       result("holds", 554)]}
    report = coverage_report({"coverage": COVERAGE}, probe)
    assert [r["status"] for r in report["rows"]] == [
        "holds", "shadowed", "holds", "not covered", "not covered"]
    assert report["shadowed"] == [{
        "rule": LATE, "case": "late", "expected": "reject", "got": "accept",
        "reply": "rcpt 250 said 250", "decided_by": MYNET}]
    assert report["line"] == "coverage: 3 of 4 rules covered, 1 shadowed"
    assert report["totals"]["not_covered"] == 1
    assert any(line.startswith(f"SHADOWED {LATE}") for line in report["lines"])


def test_a_decider_the_model_does_not_see_is_postfixs_reply():
    # the model expected the rule itself; Postfix deferred instead
    probe = [result("holds", 450, passed=False), result("late", 554),
             result("mynet", 250)]
    report = coverage_report(COVERAGE, probe)
    finding = report["shadowed"][0]
    assert finding["rule"] == HOLDS and finding["got"] == "tempfail"
    assert finding["decided_by"] == ("a rule the model does not see; Postfix answered:"
                                     " rcpt 450 said 450")


def test_errors_and_cases_not_run():
    probe = [result("mynet", None, passed=False, error="connection refused"),
             result("late", None, passed=False, xclient="refused")]
    report = coverage_report(COVERAGE, probe)
    assert [r["status"] for r in report["rows"][:3]] == ["error", "error", "not run"]
    assert report["shadowed"] == []


@pytest.mark.parametrize("stages,word", [
    ({"xclient": {"outcome": "rejected"}}, "reject"),
    ({"xclient": {"outcome": "deferred"}}, "tempfail"),
    ({"xclient": {"outcome": "accepted"}, "mail": {"code": 451}}, "tempfail"),
    ({"xclient": {"outcome": "accepted"}, "mail": {"code": 250},
      "rcpt": [{"code": 250}]}, "accept"),
    ({"xclient": {"outcome": "accepted"}}, "none"),
])
def test_observed(stages, word):
    assert observed({"stages": stages, "error": None})[0] == word


def test_filter_names_bad_input():
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match="coverage"):
        coverage_filter("nonsense", {"cases": []})
    with pytest.raises(AnsibleFilterError, match="no cases"):
        coverage_filter(COVERAGE, {"msg": "failed"})
