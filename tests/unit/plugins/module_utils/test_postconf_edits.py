# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Edits through the real postconf binary (Debian's postfix package) on a scratch config
directory: the order new main.cf parameters are written in."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List, Tuple

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    POSTCONF,
    Postconf,
)


def run(argv: List[str]) -> Tuple[int, str, str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def pc(tmp_path: Path) -> Postconf:
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\nsmtpd_banner = $myhostname\n")
    (tmp_path / "master.cf").write_text("")
    return Postconf(run, str(tmp_path), postconf=POSTCONF)


# Not sorted, not in any hash order: postconf -e with several new parameters appends them
# in the order of its hash table, which changes from run to run.
NEW = {"smtpd_junk_command_limit": "50", "smtpd_helo_required": "yes",
       "smtpd_client_connection_count_limit": "20", "smtpd_timeout": "30s",
       "smtpd_error_sleep_time": "0", "smtpd_soft_error_limit": "5"}


@pytest.mark.parametrize("attempt", range(4))
def test_new_main_cf_parameters_are_appended_in_the_order_given(pc: Postconf,
                                                                 attempt: int) -> None:
    values = dict(NEW, smtpd_banner="$myhostname ESMTP")  # set already: replaced in place
    pc.set_main_many(values)
    lines = (Path(pc.config_dir) / "main.cf").read_text().splitlines()
    assert lines == ["compatibility_level = 3.6", "smtpd_banner = $myhostname ESMTP"] + [
        f"{name} = {value}" for name, value in NEW.items()]
