# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The too-broad guard judged on the effective list: tables read and asked of the real
postmap (Debian's postfix package), the Public Suffix List Debian ships (package
publicsuffix), and the fallback without it."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from ansible_collections.mailops.xclient.plugins.module_utils._public_suffix import (
    LIST_PATHS,
    PublicSuffixes,
    load,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xclient_guard import (
    Judge,
    broad_problems,
    outside_probes,
)
from scratch_config import scratch

POSTMAP = "/usr/sbin/postmap"
SUFFIXES = load()


@pytest.fixture(name="judge")
def judge_fixture(tmp_path: Path) -> Judge:
    pc = scratch(tmp_path / "etc")
    return Judge(pc, POSTMAP, SUFFIXES, pc.map_types(),
                 probes=outside_probes(random.Random(19)))


def table(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_the_host_ships_the_list() -> None:
    # Debian's publicsuffix package (a test dependency); without it the fallback is used
    assert SUFFIXES.path in LIST_PATHS


@pytest.mark.parametrize("name", [".co.uk", ".com.au", ".amazonaws.com", "co.uk",
                                  ".github.io", ".com", ".compute-1.amazonaws.com",
                                  ".uk"])
def test_public_suffix_names_are_broad(judge: Judge, name: str) -> None:
    assert judge.reason(name)


@pytest.mark.parametrize("name", ["localhost", "proxy", ".example.co.uk", "mx.example.com",
                                  ".example.com",
                                  "ip-192-0-2-1.ec2.internal", "mail.example.com.au"])
def test_names_of_one_owner_are_fine(judge: Judge, name: str) -> None:
    assert judge.reason(name) is None


def test_without_the_list_the_common_registries_are_still_refused() -> None:
    fallback = PublicSuffixes([], None)
    assert fallback.is_suffix("co.uk") and fallback.is_suffix("com.au")
    assert fallback.is_suffix("com") and not fallback.is_suffix("example.co.uk")


def test_cidr_table_entries_are_read(tmp_path: Path, judge: Judge) -> None:
    wide = table(tmp_path, "wide.cidr", "# proxies\n127.0.0.1 OK\n0.0.0.0/0 OK\n")
    v6 = table(tmp_path, "v6.cidr", "2001:db8::/32 OK\n")
    narrow = table(tmp_path, "narrow.cidr", "127.0.0.1 OK\n192.0.2.0/28 OK\n[::1] OK\n")
    assert "0.0.0.0/0" in (judge.reason(f"cidr:{wide}") or "")
    assert "wider than /48" in (judge.reason(f"cidr:{v6}") or "")
    assert judge.reason(f"cidr:{narrow}") is None
    assert judge.reason(f"proxy:cidr:{wide}")


@pytest.mark.parametrize("regexp", ["/./ OK", "/^[0-9]/ OK", "/^(192|198|203)\\./ OK",
                                    "/^unknown$/ OK", "/\\.com$/ OK", "/:/ OK"])
def test_pattern_tables_are_asked_of_postmap(tmp_path: Path, judge: Judge,
                                             regexp: str) -> None:
    path = table(tmp_path, "t.regexp", regexp + "\n")
    assert judge.reason(f"regexp:{path}"), regexp


@pytest.mark.parametrize("regexp", ["/^127\\.0\\.0\\.1$/ OK", "/^192\\.0\\.2\\./ OK",
                                    "/^proxy\\.example\\.net$/ OK"])
def test_narrow_pattern_tables_pass(tmp_path: Path, judge: Judge, regexp: str) -> None:
    path = table(tmp_path, "t.regexp", regexp + "\n")
    assert judge.reason(f"regexp:{path}") is None, regexp


def test_inline_static_and_keyed_tables(tmp_path: Path, judge: Judge) -> None:
    assert judge.reason("static:all")
    assert judge.reason("inline:{ 127.0.0.1=OK, .co.uk=OK }")
    assert judge.reason("inline:{ 127.0.0.1=OK, { [::1] = OK } }") is None
    keyed = table(tmp_path, "keys", "127.0.0.1 OK\n.com OK\n")
    assert judge.reason(f"texthash:{keyed}")
    assert subprocess.run([POSTMAP, f"hash:{keyed}"], check=False).returncode == 0
    assert judge.reason(f"hash:{keyed}")
    assert "cannot be judged" in (judge.reason("tcp:127.0.0.1:9") or "")  # another server


def test_file_lists_are_read_recursively(tmp_path: Path, judge: Judge) -> None:
    inner = table(tmp_path, "all.cidr", "0.0.0.0/0 OK\n")
    outer = table(tmp_path, "outer", f"127.0.0.1\ncidr:{inner}\n")
    top = table(tmp_path, "top", f"# hosts\n{outer}\n")
    why = judge.reason(top) or ""
    assert inner in why and outer in why
    loop = tmp_path / "loop"
    loop.write_text(f"127.0.0.1\n{loop}\n")
    assert judge.reason(str(loop)) is None


def test_config_directory_references_are_expanded(tmp_path: Path, judge: Judge) -> None:
    (tmp_path / "etc" / "all.cidr").write_text("0.0.0.0/0 OK\n")
    assert judge.reason("cidr:$config_directory/all.cidr")


def test_a_parameter_reference_is_judged_as_its_list(tmp_path: Path) -> None:
    pc = scratch(tmp_path / "ref", "mynetworks = 127.0.0.1/32, 10.0.0.0/8\n"
                 "smtpd_authorized_xclient_hosts = $mynetworks\n")
    judge = Judge(pc, POSTMAP, SUFFIXES, pc.map_types(), probes=[])
    assert "10.0.0.0/8 (from $mynetworks)" in (judge.reason("$mynetworks") or "")
    narrow = scratch(tmp_path / "narrow", "mynetworks = 127.0.0.1/32\n"
                     "smtpd_authorized_xclient_hosts = $mynetworks\n")
    assert Judge(narrow, POSTMAP, SUFFIXES, [], probes=[]).reason("$mynetworks") is None


def test_the_edit_is_judged_on_what_it_adds(tmp_path: Path) -> None:
    wide = table(tmp_path, "wide.cidr", "0.0.0.0/0 OK\n")
    master = "127.0.0.1:10025 inet n - n - - smtpd\n"
    live = scratch(tmp_path / "live", "smtpd_authorized_xclient_hosts = 127.0.0.1\n",
                   master)
    work = scratch(tmp_path / "work",
                   f"smtpd_authorized_xclient_hosts = 127.0.0.1, cidr:{wide}\n",
                   master.strip() + " -o smtpd_authorized_xforward_hosts=0.0.0.0/0\n")
    judge = Judge(work, POSTMAP, SUFFIXES, work.map_types(), probes=[])
    found = {p.locator: p.message for p in broad_problems(live, work, lambda: judge)}
    assert set(found) == {("param", "smtpd_authorized_xclient_hosts"),
                          ("option", "127.0.0.1:10025/inet", "smtpd_authorized_xforward_hosts")}
    assert "allow_broad: true" in found[("param", "smtpd_authorized_xclient_hosts")]
    # a listener override that copies main.cf's list adds nothing
    same = scratch(tmp_path / "same", "smtpd_authorized_xclient_hosts = 127.0.0.1\n",
                   master.strip() + " -o smtpd_authorized_xclient_hosts=127.0.0.1\n")
    assert broad_problems(live, same, lambda: judge) == []


def test_an_edit_that_writes_no_xclient_list_is_not_judged(tmp_path: Path) -> None:
    live = scratch(tmp_path / "live", "smtpd_authorized_xclient_hosts = 0.0.0.0/0\n")
    work = scratch(tmp_path / "work", "smtpd_authorized_xclient_hosts = 0.0.0.0/0\n"
                   "smtpd_helo_required = yes\n")

    def never() -> Judge:
        raise AssertionError("no XCLIENT list changed")
    assert broad_problems(live, work, never) == []


def test_an_edit_that_widens_a_referenced_parameter_is_judged(tmp_path: Path) -> None:
    # the XCLIENT list itself is not touched; mynetworks, which it names, is widened
    live = scratch(tmp_path / "live", "mynetworks = 127.0.0.1/32\n"
                   "smtpd_authorized_xclient_hosts = $mynetworks\n")
    work = scratch(tmp_path / "work", "mynetworks = 127.0.0.1/32, 0.0.0.0/0\n"
                   "smtpd_authorized_xclient_hosts = $mynetworks\n")
    judge = Judge(work, POSTMAP, SUFFIXES, [], probes=[])
    found = broad_problems(live, work, lambda: judge)
    assert [p.locator for p in found] == [("param", "smtpd_authorized_xclient_hosts")]
    assert "0.0.0.0/0 is every address" in found[0].message


def test_config_directory_in_a_written_list_is_the_live_one(tmp_path: Path) -> None:
    # the edit is made on a copy in another directory; $config_directory there names the
    # copy, where the table is not: judged as the live instance will read it
    live = scratch(tmp_path / "live")
    (tmp_path / "live" / "all.cidr").write_text("0.0.0.0/0 OK\n")
    work = scratch(tmp_path / "work",
                   "smtpd_authorized_xclient_hosts = cidr:$config_directory/all.cidr\n")
    judge = Judge(live, POSTMAP, SUFFIXES, live.map_types(), probes=[])
    found = broad_problems(live, work, lambda: judge)
    assert len(found) == 1 and "0.0.0.0/0 is every address" in found[0].message
