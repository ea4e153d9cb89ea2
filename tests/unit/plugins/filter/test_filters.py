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
         "mismatches": ["xclient: expected refused, got rejected (554 5.7.1 blocked)"],
         "stages": {"xclient": {"outcome": "rejected", "code": 554}}},
        {"group": "backend", "name": "refused", "passed": True, "error": None,
         "mismatches": [], "stages": {"xclient": {"outcome": "refused", "code": 550}}},
        {"group": "backend", "name": "deferred", "passed": True, "error": None,
         "mismatches": [], "stages": {"xclient": {"outcome": "deferred", "code": 450}}},
    ]
    lines = verify_report(rows)
    assert lines[1].endswith("got rejected (554 5.7.1 blocked) (rejected: the identity was"
                             " applied, then rejected by the restrictions)")
    assert lines[2].endswith("xclient refused 550 (Postfix refused the command"
                             " (authorization or syntax))")
    assert lines[3].endswith("xclient deferred 450 (the identity was applied, then deferred"
                             " by the restrictions)")
