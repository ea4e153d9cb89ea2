# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure parts of _whatif, and its edits of a copy with the real postconf (no Postfix
is started here: the shadows run in tests/integration/targets/postfix_whatif)."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._module_glue import (
    FieldError,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import Postconf
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    parse_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._whatif import (
    ProposedChange,
    authorize_loopback,
    check_expect,
    check_tables,
    died,
    listed,
    not_seen,
    merged_cases,
    swap_tables,
    work_copy,
)

POSTCONF = "/usr/sbin/postconf"
ENVELOPE = {"mail_from": "a@example.org", "rcpt_to": ["postmaster@example.net"]}


def case(name, addr, **more):
    return dict(ENVELOPE, name=name, xclient={"addr": addr}, **more)


def row(name, addr, **identity):
    return {"case": name, "stage": "rcpt", "before": [250], "after": [554],
            "identity": dict({"xclient": {"ADDR": addr}}, **ENVELOPE, **identity)}


def test_tables_need_absolute_paths_and_text():
    assert check_tables({"/etc/postfix/a.cidr": "192.0.2.1 REJECT"}) == {
        "/etc/postfix/a.cidr": "192.0.2.1 REJECT\n"}
    assert check_tables({"/etc/postfix//b": ""}) == {"/etc/postfix/b": ""}
    with pytest.raises(FieldError, match=r"^change.tables.a.cidr: give the table's absolute"):
        check_tables({"a.cidr": "x"})
    with pytest.raises(FieldError, match=r"^change.tables./t: the new content must be text"):
        check_tables({"/t": ["x"]})
    with pytest.raises(FieldError, match=r"^change.tables./t: .*NUL"):
        check_tables({"/t": "a\0b"})


def test_expect_changes_are_names_or_identities():
    assert check_expect(None) is None
    assert check_expect(["x", {"ADDR": "192.0.2.1"}]) == ["x", {"addr": "192.0.2.1"}]
    for bad in (3, {}, None, ["x"]):
        with pytest.raises(FieldError, match=r"^expect_changes\[0\]: give a case name"):
            check_expect([bad])


@pytest.mark.parametrize("wanted,hit", [
    ("one", True), ("two", False),
    ({"addr": "192.0.2.7"}, True), ({"addr": "192.0.2.8"}, False),
    ({"addr": "192.0.2.7", "mail_from": "a@example.org"}, True),
    ({"addr": "192.0.2.7", "mail_from": "b@example.org"}, False),
    ({"rcpt_to": "postmaster@example.net"}, True),
    ({"rcpt_to": ["postmaster@example.net", "x@example.net"]}, False),
    ({"name": "client.example"}, False),  # the case sent no NAME
])
def test_a_change_is_listed_by_name_or_by_every_given_field(wanted, hit):
    assert listed(row("one", "192.0.2.7"), [wanted]) is hit


def test_derived_cases_join_by_identity_and_never_clash_by_name():
    given = parse_cases([case("mine", "192.0.2.1")])
    before = [case("mine", "192.0.2.2"), case("same identity", "192.0.2.1")]
    after = [case("new rule", "192.0.2.3"), case("mine", "192.0.2.2")]
    merged = merged_cases(given, [before, after])
    assert [(c.index, c.name, c.xclient["ADDR"]) for c in merged] == [
        (0, "mine", "192.0.2.1"), (1, "mine (2)", "192.0.2.2"), (2, "new rule", "192.0.2.3")]
    assert [c.name for c in merged_cases([], [[], after])] == ["new rule", "mine"]


def test_the_label_says_what_changes():
    change = ProposedChange(settings={"mynetworks": "127.0.0.1/32"}, service="smtp/inet",
                            tables={"/etc/postfix/a.cidr": "x\n"})
    assert change.label() == "mynetworks=127.0.0.1/32 (smtp/inet); table /etc/postfix/a.cidr"
    live = {"/etc/postfix/a.cidr": "# blocked\n192.0.2.1 REJECT\n192.0.2.2  REJECT\n"}
    change.tables = {"/etc/postfix/a.cidr": "192.0.2.2 REJECT\n203.0.113.0/24 REJECT x\n"}
    assert change.label(live.get) == ("mynetworks=127.0.0.1/32 (smtp/inet);"
                                      " a.cidr +1 -1")
    change.tables = {"/etc/postfix/a.cidr": live["/etc/postfix/a.cidr"] + "192.0.2.3 OK\n"}
    assert change.label(live.get).endswith("a.cidr +1 -0 (192.0.2.3 OK)")
    assert ProposedChange().empty() and not change.empty()


def test_died_keeps_fatal_lines_without_stamps():
    lines = ["Dec  3 08:22:28 h postfix/smtpd[1]: fatal: bad boolean configuration: a = True",
             "Dec  3 08:22:29 h postfix/smtpd[2]: fatal: bad boolean configuration: a = True",
             "Dec  3 08:22:28 h postfix/smtpd[1]: warning: unknown smtpd restriction: x",
             "Dec  3 08:22:28 h postfix/smtpd[1]: connect from localhost[127.0.0.1]"]
    assert died(lines) == ["smtpd: fatal: bad boolean configuration: a = True"]


# ------------------------------------------------------------------ with postconf
def run(argv):
    done = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env=dict(os.environ, LC_ALL="C"))
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def live(tmp_path):
    if not os.path.exists(POSTCONF):
        pytest.fail("postconf is not installed (Debian package postfix)")
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "client.cidr").write_text("203.0.113.0/24 REJECT\n")
    (conf / "main.cf").write_text(
        "compatibility_level = 3.6\n"
        f"smtpd_recipient_restrictions = check_client_access cidr:{conf}/client.cidr,"
        " check_sender_access cidr:$config_directory/client.cidr, permit\n")
    (conf / "master.cf").write_text(
        "127.0.0.1:2525 inet n - n - - smtpd\n"
        "  -o smtpd_authorized_xclient_hosts=192.0.2.1\n"
        "pickup unix n - n 60 1 pickup\n")
    pc = Postconf(run, str(conf), postconf=POSTCONF)
    before = {p.name: p.read_bytes() for p in conf.iterdir()}
    yield pc
    assert {p.name: p.read_bytes() for p in conf.iterdir()} == before, "live files changed"


def test_tables_are_swapped_in_the_copy_only(live, tmp_path):
    work = work_copy(live, str(tmp_path))
    path = os.path.join(live.config_dir, "client.cidr")
    swap_tables(work, live.config_dir, {path: "192.0.2.7 REJECT\n"}, "/usr/sbin/postmap")
    value = work.explicit("smtpd_recipient_restrictions")
    new = os.path.join(work.config_dir, "tables", "0-client.cidr")
    # both references - the absolute one and $config_directory's - point at the new copy
    assert value.count(f"cidr:{new}") == 2, value
    with open(new, encoding="utf-8") as fh:
        assert fh.read() == "192.0.2.7 REJECT\n"
    with pytest.raises(FieldError, match=r"^change.tables./etc/elsewhere.cidr: the proposed"
                       " configuration does not reference"):
        swap_tables(work_copy(live, str(tmp_path)), live.config_dir,
                    {"/etc/elsewhere.cidr": "x\n"}, "/usr/sbin/postmap")


def test_loopback_joins_the_listeners_xclient_list_only(live, tmp_path):
    work = work_copy(live, str(tmp_path))
    authorize_loopback(work, "127.0.0.1:2525/inet")
    entry = work.service("127.0.0.1:2525/inet")
    assert entry.options["smtpd_authorized_xclient_hosts"] == "192.0.2.1, 127.0.0.1, [::1]"
    assert work.explicit("smtpd_authorized_xclient_hosts") is None
    with pytest.raises(FieldError, match=r"^service: pickup/unix is not an smtpd inet"):
        authorize_loopback(work, "pickup/unix")
    with pytest.raises(FieldError, match=r"^service: master.cf has no service x/inet"):
        authorize_loopback(work, "x/inet")


def test_expect_entries_that_name_no_change_are_reported():
    changes = [row("one", "192.0.2.7")]
    assert not_seen(changes, ["one", {"addr": "192.0.2.7"}]) == []
    assert not_seen(changes, ["two", {"addr": "192.0.2.8"}, "one"]) == ["two", {"addr": "192.0.2.8"}]
