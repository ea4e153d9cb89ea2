# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``hash:$config_directory/access``: Postfix expands the table name, so the pre-flight
check and xclient_hosts must too (postmap was given the unexpanded text and the table was
refused as missing). Real postconf and postmap on a scratch config directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    table_problem,
)
from scratch_config import scratch

POSTMAP = "/usr/sbin/postmap"


def scratch_with_access(path: Path) -> Postconf:
    """A scratch config with a built ``hash:`` table ``access``."""
    pc = scratch(path)
    (path / "access").write_text("127.0.0.1 OK\n")
    assert subprocess.run([POSTMAP, "-c", str(path), f"hash:{path}/access"],
                          check=False).returncode == 0
    return pc


def test_references_are_expanded_by_postconf(tmp_path: Path) -> None:
    pc = scratch_with_access(tmp_path)
    assert pc.expand_text("hash:$config_directory/access") == f"hash:{tmp_path}/access"
    assert pc.expand_text("${config_directory}/a $(config_directory)/b") == \
        f"{tmp_path}/a {tmp_path}/b"
    assert pc.expand_text("no references") == "no references"
    assert pc.expand_text("$no_such_parameter/x") == "$no_such_parameter/x"


def test_a_table_named_with_config_directory_opens(tmp_path: Path) -> None:
    pc = scratch_with_access(tmp_path)
    assert table_problem(pc, POSTMAP, "hash:$config_directory/access", []) is None
    assert table_problem(pc, POSTMAP, "hash:$config_directory/missing", []) is not None
