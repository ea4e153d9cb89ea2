# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The trust path's options where users give them: xclient-inject --internal-network, the
xclient_inject module's internal_networks, the ip_network test the fetch_inject role
validates with (one rule: _received.internal_networks)."""

from __future__ import annotations

import io
import json

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._inject import (
    EX_TEMPFAIL,
    EX_USAGE,
    UsageError,
    main,
)
from ansible_collections.mailops.xclient.plugins.modules.xclient_inject import check_options
from ansible_collections.mailops.xclient.plugins.test.ip_network import ip_network

MX = r"mx\.isp\.example"
# A content filter on another host of the provider (198.51.100.25) re-injects into the MX.
MSG = (b"Received: from filter.isp.example (filter.isp.example [198.51.100.25]) by"
       b" mx.isp.example (Postfix) with ESMTP id 2; Tue, 24 Nov 2026 10:00:02 +0100\r\n"
       b"Received: from localhost (localhost [127.0.0.1]) by mx.isp.example (Postfix) with"
       b" ESMTP id 1; Tue, 24 Nov 2026 10:00:01 +0100\r\n"
       b"Received: from h.example (n.example [192.0.2.1]) by mx.isp.example (Postfix) with"
       b" ESMTP id 0; Tue, 24 Nov 2026 10:00:00 +0100\r\n"
       b"Received: from x (y [127.0.0.1]) by mx.isp.example (Postfix) with ESMTP id F; d\r\n"
       b"Subject: s\r\n\r\nbody\r\n")


def run(argv, stdin, capsys):
    code = main(argv, stdin=io.BytesIO(stdin))
    out, err = capsys.readouterr()
    return code, out, err


def test_internal_network_skips_the_filter_hop(capsys):
    code, out, _err = run(["--dry-run", "--received-by", MX, "--internal-network",
                           "198.51.100.0/24", "--internal-network", "2001:db8:1::/48"],
                          MSG, capsys)
    assert code == 0
    assert json.loads(out)["xclient"] == {"addr": "192.0.2.1", "name": "n.example",
                                          "helo": "h.example", "proto": "ESMTP"}


def test_without_it_the_filter_is_the_client(capsys):
    code, out, _err = run(["--dry-run", "--received-by", MX], MSG, capsys)
    assert code == 0 and json.loads(out)["xclient"]["addr"] == "198.51.100.25"


def test_first_external_header_not_the_mx_tempfails(capsys):
    code, out, err = run(["--dry-run", "--received-by", r"relay\.isp\.example"], MSG, capsys)
    assert code == EX_TEMPFAIL and json.loads(out)["xclient"] is None
    assert "is not the trusted MX" in err


@pytest.mark.parametrize("bad", ["198.51.100.0/33", "mx.isp.example", ""])
def test_bad_network_is_a_usage_error_naming_the_option(bad, capsys):
    code, _out, err = run(["--dry-run", "--received-by", MX, "--internal-network", bad],
                          MSG, capsys)
    assert code == EX_USAGE and "--internal-network:" in err and "is not a network" in err
    assert not ip_network(bad)


def test_module_option_named():
    params = {"port": 25, "timeout": 60, "rcpt_to": None, "sender": None, "helo": None,
              "received_by": MX, "internal_networks": ["198.51.100.0/24", "bad"],
              "lock_timeout": 600}
    with pytest.raises(UsageError, match="^internal_networks: 'bad' is not a network"):
        check_options(params)
    params["internal_networks"] = ["198.51.100.0/24", "[2001:db8::]/32", "192.0.2.7"]
    check_options(params)
    assert all(ip_network(n) for n in params["internal_networks"])
