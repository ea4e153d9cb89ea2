# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure parts of _postfix_instance and _postfix_preflight (the rest is tested on real
Postfix in tests/integration/test_postfix_instance.py and test_postfix_safety.py)."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._postfix_instance import (
    has_lkg,
    lkg_dir,
    plan,
    same_as_lkg,
    save_lkg,
    set_aside_and_restore,
    uses_systemd,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    _overlaps,
    interface_addresses,
    tables_in,
)


@pytest.mark.parametrize("state,running,verb", [
    ("started", True, None), ("started", False, "start"),
    ("stopped", True, "stop"), ("stopped", False, None),
    ("reloaded", True, "reload"), ("reloaded", False, "start"),
    ("restarted", True, "restart"), ("restarted", False, "start"),
])
def test_plan(state, running, verb):
    assert plan(state, running).verb == verb


def test_systemd_only_for_the_default_instance_on_a_systemd_host(tmp_path):
    booted = tmp_path / "run-systemd-system"
    booted.mkdir()
    assert uses_systemd("/etc/postfix", systemd_dir=str(booted))
    assert uses_systemd("/etc/postfix/", systemd_dir=str(booted))
    assert not uses_systemd("/etc/postfix-test", systemd_dir=str(booted))
    assert not uses_systemd("/etc/postfix", systemd_dir=str(tmp_path / "absent"))


def test_last_known_good_is_one_private_copy_and_rollback_keeps_the_rejected(tmp_path):
    cfg = tmp_path / "etc"
    cfg.mkdir()
    (cfg / "main.cf").write_text("a = 1\n")
    (cfg / "master.cf").write_text("good\n")
    save_lkg(str(cfg))
    save_lkg(str(cfg))
    assert sorted(os.listdir(lkg_dir(str(cfg)))) == ["main.cf", "master.cf"]
    assert stat.S_IMODE(os.stat(os.path.join(lkg_dir(str(cfg)), "main.cf")).st_mode) == 0o600
    assert has_lkg(str(cfg)) and same_as_lkg(str(cfg))
    (cfg / "master.cf").write_text("broken\n")
    assert not same_as_lkg(str(cfg))
    kept = set_aside_and_restore(str(cfg), "20260101T000000Z")
    assert (cfg / "master.cf").read_text() == "good\n"
    assert (cfg / "master.cf.rejected-20260101T000000Z").read_text() == "broken\n"
    assert len(kept) == 2


def test_tables_in_a_value():
    types = ["cidr", "hash", "inline", "static", "unix", "inet", "proxy"]
    value = ("check_policy_service unix:private/policy, check_client_access"
             " cidr:/etc/postfix/a.cidr, check_sender_access inline:{ a@b=OK, { c = OK } },"
             " permit_mynetworks, reject")
    assert tables_in(value, types) == ["cidr:/etc/postfix/a.cidr",
                                       "inline:{ a@b=OK, { c = OK } }"]
    assert tables_in("proxy:cidr:/x, 127.0.0.1", types) == ["proxy:cidr:/x"]


@pytest.mark.parametrize("a,b,clash", [
    ("127.0.0.1", "127.0.0.1", True), ("0.0.0.0", "127.0.0.1", True),
    ("::", "127.0.0.1", True), ("::1", "127.0.0.1", False), ("0.0.0.0", "::1", False),
    ("127.0.0.1", "127.0.0.2", False),
])
def test_overlaps(a, b, clash):
    first, second = a, b
    assert _overlaps(first, second) is clash
    assert _overlaps(second, first) is clash  # pylint: disable=arguments-out-of-order


def test_interface_addresses():
    assert interface_addresses("loopback-only", "all") == ["127.0.0.1", "::1"]
    assert interface_addresses("all", "ipv4") == ["0.0.0.0"]
    assert interface_addresses("127.0.0.1, [::1]", "all") == ["127.0.0.1", "::1"]
