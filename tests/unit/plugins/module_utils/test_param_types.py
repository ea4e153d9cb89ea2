# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Values typed by what Postfix expects: the types as the real ``postconf -dx`` tells
them, the checks, and the edit-level check on two scratch config directories."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.mailops.xclient.plugins.module_utils._param_types import (
    classify,
    defaults,
    type_problems,
    value_problem,
)
from scratch_config import scratch


def test_types_as_postfix_tells_them(tmp_path: Path) -> None:
    pc = scratch(tmp_path / "c", "", "relay unix - - n - - smtp\n")
    names = {"smtpd_helo_required": "bool", "disable_vrfy_command": "bool",
             "smtputf8_enable": "bool", "smtpd_timeout": "time", "in_flow_delay": "time",
             "maximal_queue_lifetime": "time", "ipc_idle": "time",
             "default_process_limit": "int", "message_size_limit": "int",
             "relay_destination_concurrency_limit": "int",  # derived from master.cf
             "postscreen_dnsbl_allowlist_threshold": "int",
             "compatibility_level": None, "relay_destination_concurrency_negative_feedback": None,
             "lmtp_tcp_port": None, "myhostname": None, "smtpd_recipient_restrictions": None,
             "inet_protocols": None}
    got = defaults(pc, list(names))
    assert {n: classify(n, got[n]) for n in names} == names


@pytest.mark.parametrize("kind,name,value,ok", [
    ("bool", "x", "yes", True), ("bool", "x", "NO", True), ("bool", "x", "True", False),
    ("bool", "x", "", False), ("bool", "x", "1", False),
    ("time", "x", "300s", True), ("time", "x", "0", True), ("time", "x", "2w", True),
    ("time", "x", "10x", False), ("time", "x", "1.5s", False), ("time", "x", "-1s", False),
    ("time", "x", "2147483647s", True), ("time", "x", "3550w", True),
    ("time", "x", "3551w", False),
    ("int", "x", "20", True), ("int", "x", "-1", True), ("int", "x", "2147483647", True),
    ("int", "x", "2147483648", False), ("int", "x", "many", False), ("int", "x", "", False),
    ("int", "message_size_limit", "4294967296", True),
    ("int", "message_size_limit", "9223372036854775808", False),
    (None, "x", "anything at all", True),
])
def test_value_checks(kind, name, value, ok) -> None:
    assert (value_problem(kind, name, value) is None) == ok


def test_the_edit_is_checked_main_cf_and_overrides_expanded(tmp_path: Path) -> None:
    before = scratch(tmp_path / "before", "", "x inet n - n - - smtpd\n")
    after = scratch(tmp_path / "after",
                    "smtpd_helo_required = True\nsmtpd_timeout = 5m\nmyhostname = True\n"
                    "t = 10x\nin_flow_delay = $t\n",
                    "x inet n - n - - smtpd -o smtpd_tls_loglevel=lots"
                    " -o disable_vrfy_command=$nothing -o smtpd_delay_reject=yes\n")
    found = {p.locator: p.message for p in type_problems(before, after)}
    assert set(found) == {("param", "smtpd_helo_required"), ("param", "in_flow_delay"),
                          ("option", "x/inet", "smtpd_tls_loglevel"),
                          ("option", "x/inet", "disable_vrfy_command")}
    assert "'$t' expands to '10x'" in found[("param", "in_flow_delay")]
    assert "'$nothing' expands to ''" in found[("option", "x/inet", "disable_vrfy_command")]


def test_unchanged_values_are_not_judged(tmp_path: Path) -> None:
    # an old problem elsewhere never blocks an unrelated edit
    before = scratch(tmp_path / "before", "smtpd_helo_required = True\n")
    after = scratch(tmp_path / "after", "smtpd_helo_required = True\nsmtpd_timeout = 5m\n")
    assert type_problems(before, after) == []
