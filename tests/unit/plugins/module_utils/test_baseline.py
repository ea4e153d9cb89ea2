# SPDX-License-Identifier: GPL-3.0-or-later
"""xclient_probe's verdict baselines: record, compare, the file."""
from __future__ import annotations

import json
import os

import pytest
from ansible_collections.mailops.xclient.plugins.module_utils._baseline import (
    BaselineError,
    apply_baseline,
    check_baseline,
    compare,
    record,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    parse_cases,
)

CASES = [
    {"name": "blocked", "xclient": {"addr": "192.0.2.66", "login": "secret-user"},
     "mail_from": "a@example.org", "rcpt_to": ["b@example.net", "c@example.net"]},
    {"name": "fine", "xclient": {"addr": "192.0.2.10"}, "mail_from": "a@example.org",
     "rcpt_to": ["b@example.net"]},
]


def result(rcpt, xclient="accepted", error=None):
    stages = {"xclient": {"outcome": xclient, "code": 220},
              "mail": {"code": 250, "enhanced": "2.1.0", "text": "Ok"}}
    if rcpt is not None:
        stages["rcpt"] = [{"code": c} for c in rcpt]
    return {"name": "x", "stages": stages, "error": error, "passed": True}


def test_record_masks_login_and_compare_lists_each_changed_stage():
    specs = parse_cases(CASES)
    before = record(specs, [result([554, 554]), result([250])])
    assert "secret-user" not in json.dumps(before)
    after = record(specs, [result([554, 250]), result(None, xclient="rejected")])
    found = compare(before, after)
    assert [(c["case"], c["stage"], c["before"], c["after"]) for c in found["changes"]] == [
        ("blocked", "rcpt", [554, 554], [554, 250]),
        ("fine", "xclient", "accepted", "rejected"),
        ("fine", "rcpt", [250], None)]
    assert found["unchanged"] == 0 and found["added"] == found["removed"] == []


def test_a_redefined_case_is_not_compared():
    before = record(parse_cases(CASES), [result([554, 554]), result([250])])
    changed = [dict(CASES[0], mail_from="other@example.org"), CASES[1],
               dict(CASES[1], name="new")]
    after = record(parse_cases(changed), [result([250, 250]), result([250]), result([250])])
    found = compare(before, after)
    assert found["redefined"] == ["blocked"] and found["changes"] == []
    assert found["unchanged"] == 1 and found["added"] == ["new"]


def test_apply_records_then_compares_and_writes_only_when_asked(tmp_path):
    path = str(tmp_path / "b.json")
    now = record(parse_cases(CASES), [result([554, 554]), result([250])])
    assert check_baseline(path, False) is None
    dry = apply_baseline(path, False, None, now, check_mode=True)
    assert dry["changed"] and dry["action"] == "recorded" and not os.path.exists(path)
    assert apply_baseline(path, False, None, now, check_mode=False)["changed"]
    then = check_baseline(path, False)
    assert then == now
    later = record(parse_cases(CASES), [result([554, 554]), result([450])])
    found = apply_baseline(path, False, then, later, check_mode=False)
    assert not found["changed"] and len(found["changes"]) == 1
    assert check_baseline(path, False) == now  # not updated
    assert apply_baseline(path, True, then, later, False)["action"] == "compared and updated"
    assert check_baseline(path, False) == later


@pytest.mark.parametrize("content,needle", [
    ("not json", "cannot read"), ('{"format": 99, "cases": {}}', "not a verdict baseline"),
    ("[]", "not a verdict baseline")])
def test_bad_baseline_files_name_the_option(tmp_path, content, needle):
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(BaselineError, match=f"^baseline: .*{needle}"):
        check_baseline(str(path), False)


def test_unwritable_place_is_refused_before_the_run(tmp_path):
    with pytest.raises(BaselineError, match="cannot write in"):
        check_baseline(str(tmp_path / "missing" / "b.json"), False)


def test_changes_become_failed_report_rows():
    from ansible_collections.mailops.xclient.plugins.filter.baseline_results import (
        baseline_results,
    )
    probe = {"baseline": {"changes": [{"case": "blocked", "identity": {}, "stage": "rcpt",
                                       "before": [554], "after": [250]}]}}
    rows = baseline_results(probe, "baseline proxy")
    assert [(r["group"], r["name"], r["passed"], r["mismatches"]) for r in rows] == [
        ("baseline proxy", "blocked (rcpt)", False,
         ["verdict changed from the baseline: rcpt [554] -> [250]"])]
    assert baseline_results({"cases": []}) == [] and baseline_results({}) == []


def test_check_mode_needs_no_place_to_write(tmp_path):
    assert check_baseline(str(tmp_path / "missing" / "b.json"), False, check_mode=True) is None
