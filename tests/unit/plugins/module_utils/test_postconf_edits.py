# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Edits through the real postconf binary (Debian's postfix package) on a scratch config
directory: the order new main.cf parameters are written in, and the one rendering of a
master.cf entry in results (``ServiceEntry.shown``) against what ``postconf -M`` prints."""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    ServiceEntry,
    canonical_args,
    join_command_args,
)
from scratch_config import scratch


@pytest.fixture
def pc(tmp_path: Path) -> Postconf:
    return scratch(tmp_path, "smtpd_banner = $myhostname\n")


# Not sorted, not in any hash order: postconf -e with several new parameters appends them
# in the order of its hash table, which changes from run to run.
NEW = {"smtpd_junk_command_limit": "50", "smtpd_helo_required": "yes",
       "smtpd_client_connection_count_limit": "20", "smtpd_timeout": "30s",
       "smtpd_error_sleep_time": "0", "smtpd_soft_error_limit": "5"}


@pytest.mark.parametrize("attempt", range(4))
def test_new_main_cf_parameters_are_appended_in_the_order_given(
        pc: Postconf, attempt: int) -> None:
    values = dict(NEW, smtpd_banner="$myhostname ESMTP")  # set already: replaced in place
    pc.set_main_many(values)
    lines = (Path(pc.config_dir) / "main.cf").read_text().splitlines()
    assert lines == ["compatibility_level = 3.6", "smtpd_banner = $myhostname ESMTP"] + [
        f"{name} = {value}" for name, value in NEW.items()]


def test_canonical_args_is_what_postconf_prints() -> None:
    assert canonical_args(["-v", "-o", "{ a = x,  y }", "-o", "{ b = }", "-o", "c={d}",
                           "-o", "{e=f}", "argv=/bin/cat", "-o", "{ g = h }", "{ i  j }",
                           "x={ k }"]) == [
        "-v", "-o", "{a=x,  y}", "-o", "b=", "-o", "c={d}", "-o", "e=f", "argv=/bin/cat",
        "-o", "{g = h}", "{i  j}", "x={ k }"]


@pytest.mark.parametrize("command,opts,rest", [
    ("smtpd", {"syslog_name": "postfix/new", "smtpd_client_restrictions":
               "permit_mynetworks, reject", "smtpd_banner": "", "x_table": "inline:{a=OK}",
               "smtpd_recipient_restrictions": "check_client_access inline:{ 192.0.2.1=OK }"},
     []),
    ("pipe", {"syslog_name": "postfix/f"},
     ["flags=R", "user=nobody", "argv=/bin/cat", "-o", "{ q = r  s }", "{ t  u }"]),
])
def test_an_entry_as_written_is_shown_as_read_back(pc: Postconf, command: str,
                                                   opts: dict, rest: List[str]) -> None:
    """What postfix_service reports after writing an entry (entry_after) is exactly what the
    next run reads back (entry_before)."""
    written = ServiceEntry("127.0.0.1:10025", "inet" if command == "smtpd" else "unix", "n",
                           "-", "n", "-", "-", command,
                           join_command_args(opts, ["-v"], rest))
    pc.set_service_entry(written)
    read = pc.service(written.key)
    assert read is not None
    # read.line(): postconf -M's line, its column padding collapsed
    assert written.shown() == read.shown() == read.line()
    assert written.line() != read.line()  # written padded: `-o { name = value }`
