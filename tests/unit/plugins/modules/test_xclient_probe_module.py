# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 20: the default probe HELO is the host's FQDN, as documented; echoed cases never
hold an xclient value that could be a LOGIN."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.mailops.xclient.plugins.modules import xclient_probe


@pytest.mark.parametrize("fqdn,hostname,wanted", [
    # a host whose name sits on a loopback line of /etc/hosts: getfqdn() says localhost
    ("localhost", "probe-host.example.net", "probe-host.example.net"),
    ("localhost.localdomain", "probe-host.example.net", "probe-host.example.net"),
    ("probe-host.example.net", "probe-host", "probe-host.example.net"),
    ("localhost", "probe-host", "probe-host"),  # no domain known: the host name
    ("localhost", "", "localhost"),
])
def test_default_helo_is_the_fqdn(monkeypatch, fqdn, hostname, wanted):
    monkeypatch.setattr(socket, "getfqdn", lambda *a: fqdn)
    monkeypatch.setattr(socket, "gethostname", lambda: hostname)
    assert xclient_probe.default_helo() == wanted


def test_echoed_cases_hide_every_xclient_value_that_may_hold_a_login():
    cases = [{"name": "a", "xclient": "ADDR=192.0.2.1 LOGIN=secret NAME"},
             {"name": "b", "xclient": {"addr": "192.0.2.1", "LOGIN": ["secret"]}},
             {"name": "c", "xclient": None}, {"name": "d"}]
    safe = xclient_probe.safe_cases(cases)
    assert "secret" not in repr(safe)
    assert safe[1]["xclient"]["addr"] == "192.0.2.1"
    assert cases[0]["xclient"].endswith("NAME")  # the input is left alone
