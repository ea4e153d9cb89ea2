# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The services Postfix needs, as its own parameters name them (``postconf -x`` of the
real binary on Postfix's defaults, and renamed ones)."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.mailops.xclient.plugins.module_utils._core_services import (
    core_from,
    core_reason,
)
from scratch_config import scratch


def test_postfix_defaults_name_the_services_of_its_default_master_cf(tmp_path: Path) -> None:
    pc = scratch(tmp_path)
    for name in ["pickup", "cleanup", "qmgr", "tlsmgr", "rewrite", "bounce", "defer", "trace",
                 "verify", "flush", "proxymap", "proxywrite", "smtp", "relay", "showq",
                 "error", "retry", "local", "virtual", "anvil", "scache", "postlog"]:
        assert core_reason(pc, name, "unix"), name
    # a listener is the admin's; an optional pipe transport is too
    assert core_reason(pc, "smtp", "inet") == ""
    assert core_reason(pc, "maildrop", "unix") == ""


def test_renamed_services_and_transports_are_followed() -> None:
    core = core_from({"cleanup_service_name": "cleanup2", "default_transport": "discard:x",
                      "content_filter": "amavis:[127.0.0.1]:10024", "relay_transport": "",
                      "smtpd_timeout": "300s"})
    assert core["cleanup2"] == "cleanup_service_name names it"
    assert "content_filter" in core["amavis"] and "default_transport" in core["discard"]
    assert "cleanup" not in core and "300s" not in core
