# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._postfix_audit import (
    findings,
    listen_addresses,
    login_ignored_without_sasl,
)


@pytest.mark.parametrize("version,affected", [
    ("2.8.0", False), ("2.9.0", True), ("3.6.4", True), ("3.7.11", True), ("3.7.12", False),
    ("3.8.6", True), ("3.8.7", False), ("3.9.0", True), ("3.9.1", False), ("3.10.0", False),
    ("3.11.1", False),
])
def test_login_bug_versions(version, affected):
    assert login_ignored_without_sasl(version) is affected


@pytest.mark.parametrize("name,interfaces,protocols,expected", [
    ("127.0.0.1:10025", "all", "all", ["127.0.0.1"]),
    ("[::1]:10025", "all", "all", ["::1"]),
    ("smtp", "all", "all", ["0.0.0.0", "::"]),
    ("smtp", "all", "ipv4", ["0.0.0.0"]),
    ("2525", "loopback-only", "all", ["127.0.0.1", "::1"]),
    ("2525", "192.0.2.1, [2001:db8::1]", "all", ["192.0.2.1", "2001:db8::1"]),
])
def test_listen_addresses(name, interfaces, protocols, expected):
    assert listen_addresses(name, "inet", interfaces, protocols) == expected


def svc(**over):
    base = {"service": "127.0.0.1:10025/inet", "command": "smtpd", "listen": ["127.0.0.1"],
            "xclient_hosts": ["127.0.0.1"], "sasl_enabled": True, "tls_auth_only": False,
            "discard_ehlo_keywords": [], "forbid_unauth_pipelining": False,
            "fronted_by_postscreen": False}
    base.update(over)
    return base


def codes(services, version="3.10.3", login=()):
    return [(f["code"], f["severity"]) for f in
            findings({"version": version, "services": services}, login)]


def test_clean_setup_has_no_findings():
    assert codes([svc()]) == []
    assert codes([svc(xclient_hosts=[], listen=["0.0.0.0"])]) == []


def test_each_finding():
    assert codes([svc(listen=["::1"])]) == [("ipv6-loopback-missing", "warning")]
    assert codes([svc(listen=["0.0.0.0"], xclient_hosts=["192.0.2.0/24"])]) == [
        ("broad-xclient-on-reachable-listener", "error")]
    assert codes([svc(listen=["0.0.0.0"], xclient_hosts=["192.0.2.7"])]) == []
    assert codes([svc(command="postscreen")]) == [("postscreen-no-xclient", "warning")]
    assert codes([svc(fronted_by_postscreen=True)]) == [("postscreen-no-xclient", "warning")]
    assert codes([svc(discard_ehlo_keywords=["xclient"])]) == [
        ("xclient-hidden-not-disabled", "warning")]
    assert codes([svc(forbid_unauth_pipelining=True)]) == [
        ("forbid-unauth-pipelining-behind-proxy", "warning")]


def test_login_finding_depends_on_version_and_expectation():
    no_sasl = [svc(sasl_enabled=False)]
    assert codes(no_sasl, "3.10.3", ["127.0.0.1:10025/inet"]) == []
    assert codes(no_sasl, "3.7.11") == [("login-ignored-without-sasl", "info")]
    assert codes(no_sasl, "3.7.11", ["127.0.0.1:10025/inet"]) == [
        ("login-ignored-without-sasl", "error")]
    assert codes([svc(tls_auth_only=True)], "3.7.11", ["127.0.0.1:10025/inet"]) == [
        ("login-ignored-tls-auth-only", "warning")]
    missing = codes([svc()], "3.7.11", ["127.0.0.1:9/inet"])
    assert missing == [("login-service-missing", "error")]


@pytest.mark.parametrize("hosts,found", [
    (["127.0.0.1/32"], True), (["127.0.0.0/8"], True), (["127.0.0.1"], True),
    (["127.0.0.1/32", "[::1]/128"], False), (["127.0.0.1", "[::1]"], False),
    (["!127.0.0.1", "127.0.0.0/8"], False),
])
def test_ipv6_loopback_finding_reads_networks(hosts, found):
    got = codes([svc(listen=["127.0.0.1", "::1"], xclient_hosts=hosts)])
    assert (("ipv6-loopback-missing", "warning") in got) is found


def test_login_relay_exposure_where_login_counts():
    def relay(**over):
        return svc(**{"relay_permits_sasl": True, "sasl_enabled": False,
                      "xclient_hosts": ["127.0.0.0/8"], **over})
    # 3.7.12+ and 3.10: LOGIN counts without SASL; a network may claim logins -> error
    assert codes([relay()], "3.7.12") == [("login-relay-exposure", "error")]
    assert codes([relay()], "3.10.13", ["127.0.0.1:10025/inet"]) == [
        ("login-relay-exposure", "error")]
    # only the proxies' own addresses: nothing to say
    assert codes([relay(xclient_hosts=["127.0.0.1", "[::1]"])], "3.10.13") == []
    # 3.7.11 with SASL off: LOGIN does not count, the bug finding speaks instead
    assert codes([relay()], "3.7.11") == [("login-ignored-without-sasl", "info")]
    # 3.7.11 with SASL on: LOGIN counts
    assert codes([relay(sasl_enabled=True)], "3.7.11") == [("login-relay-exposure", "error")]
    # relay restrictions without permit_sasl_authenticated: no exposure
    assert codes([svc(relay_permits_sasl=False, sasl_enabled=False,
                      xclient_hosts=["127.0.0.0/8"])], "3.10.13") == []


@pytest.mark.parametrize("protocols,addresses,expected", [
    ("ipv4", [], [("ipv4-only-xclient", "info")]),
    ("ipv4", ["192.0.2.66", "not an address"], [("ipv4-only-xclient", "info")]),
    ("ipv4", ["2001:db8::25"], [("ipv4-only-xclient", "error")]),
    ("IPv4", ["IPV6:2001:DB8::25"], [("ipv4-only-xclient", "error")]),
    ("ipv4", ["[2001:db8::]/32"], [("ipv4-only-xclient", "error")]),
    ("all", ["2001:db8::25"], []), ("ipv4, ipv6", ["2001:db8::25"], []),
    ("ipv6", ["2001:db8::25"], []),
])
def test_ipv4_only_postfix_refuses_ipv6_addr_values(protocols, addresses, expected):
    facts = {"version": "3.10.3", "main": {"inet_protocols": protocols},
             "services": [svc(), svc(service="smtp/inet", xclient_hosts=[]),
                          svc(service="smtp/inet", command="postscreen", xclient_hosts=[])]}
    found = findings(facts, (), addresses)
    assert [(f["code"], f["severity"]) for f in found] == expected
    if expected and expected[0][1] == "error":
        assert found[0]["service"] == "127.0.0.1:10025/inet"
        assert addresses[0] in found[0]["message"] and "501" in found[0]["message"]


@pytest.mark.parametrize("main,option,expected", [
    # -o inet_protocols on the listener is what its smtpd parses ADDR with (asked of
    # Postfix: main ipv4, -o inet_protocols=all -> 220; the listener without it -> 501)
    ("ipv4", "all", []),
    ("all", "ipv4", [("ipv4-only-xclient", "error")]),
    ("ipv4", "ipv4", [("ipv4-only-xclient", "error")]),
])
def test_ipv4_only_is_judged_per_listener(main, option, expected):
    facts = {"version": "3.10.3", "main": {"inet_protocols": main},
             "services": [svc(options={"inet_protocols": option})]}
    found = findings(facts, (), ["2001:db8::25"])
    assert [(f["code"], f["severity"]) for f in found] == expected
    if expected:
        assert f"inet_protocols = {option}" in found[0]["message"], found[0]["message"]
