# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Inputs that pass ``postfix check`` and then stop Postfix (or one of its daemons), on a
real private instance. Each one is refused before anything is written (files
byte-identical, the message names the field), or written in a form that works; either
way a reload afterwards is proven alive by postfix_instance.

HAZARDS is also the list counted in the issue's figures (scripts or the lead can run
the same cases against an older build).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys

import pytest

from private_postfix import free_port, running_instance, smtp_replies, wait_gone
from run_module import ROOT, run_module

POSTMAP = "/usr/sbin/postmap"


def digest(config_dir):
    return {name: hashlib.sha256(open(os.path.join(config_dir, name), "rb").read()).hexdigest()
            for name in ("main.cf", "master.cf")}


def reload_alive(inst):
    """A reload through postfix_instance: the master runs and every listener answers 220.
    Returns once the processes of the old configuration are gone, so that the next
    connection is served with the new one."""
    old = inst.children()
    result = run_module("postfix_instance", {"config_dir": inst.config_dir,
                                             "state": "reloaded", "timeout": 30})
    assert not result.get("failed"), result.get("msg")
    assert not result["rolled_back"]
    wait_gone(old, 30)
    # the instance's own listeners (a test may have added more) were probed, and all answered
    probed = {(a["address"], a["port"]): a["ok"] for a in result["listeners"]}
    own = {("127.0.0.1", port) for port in inst.ports.values()}
    if inst.ipv6:
        own.add(("::1", inst.ports["authorized"]))
    # mail flows on each; [::1] excepted: the instance's rules reject an IPv6 client
    # without a reverse name, before a reload as after it (the proof blames no file for it)
    assert own <= set(probed), result
    assert all(ok for (addr, _port), ok in probed.items() if addr != "::1"), result
    return result


# Tables the cases name: one that does not parse, a good one, one not built with postmap,
# a regexp table that does not parse.
TABLES = {"bad.cidr": "127.0.0.1 OK\n300.1.1.1 OK\n", "good.cidr": "127.0.0.1 OK\n",
          "unbuilt": "127.0.0.1 OK\n", "bad.regexp": "/^(unclosed/ OK\n"}


def write_tables(inst):
    tables = os.path.join(inst.config_dir, "tables")
    os.makedirs(tables)
    for name, text in TABLES.items():
        with open(os.path.join(tables, name), "w", encoding="utf-8") as fh:
            fh.write(text)


@pytest.fixture(scope="module")
def running():
    """One running private instance; every case here is refused, so it stays as it was."""
    with running_instance("xclient-pf-safety-", ipv6=True, tls=False) as inst:
        write_tables(inst)
        yield inst


class Foreign:
    """Another process's listener (a plain socket in this test process)."""

    def __init__(self, host, port):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen()

    def close(self):
        self.sock.close()


def _t(inst, name):
    return os.path.join(inst.config_dir, "tables", name)


# (id, module, args(inst, port), field the message must name, foreign listener host or None)
REFUSED = [
    ("inet-private-true", "postfix_service",
     lambda i, p: {"name": f"127.0.0.1:{p}", "command": "smtpd", "private": True},
     "private:", None),
    *[(case_id, "postfix_service",
       lambda i, p, listen=listen: {"name": listen.format(p=p), "command": "smtpd",
                                    "chroot": False},
       f"name: {listen}/inet: port {{p}} on {seen} is already used by", foreign)
      # (id, the listener asked for, the address the message names, the other listener)
      for case_id, listen, seen, foreign in [
          ("port-taken-v4", "127.0.0.1:{p}", "127.0.0.1", "127.0.0.1"),
          ("port-taken-v6", "[::1]:{p}", "::1", "::1"),
          ("port-taken-wildcard", "0.0.0.0:{p}", "127.0.0.1", "127.0.0.1"),
          ("port-only-taken", "{p}", "127.0.0.1", "127.0.0.1")]],
    ("address-not-on-host", "postfix_service",
     lambda i, p: {"name": f"192.0.2.200:{p}", "command": "smtpd", "chroot": False},
     "name: 192.0.2.200:{p}/inet: this host has no address 192.0.2.200", None),
    ("duplicate-listener", "postfix_service",
     lambda i, p: {"name": f"{i.ports['authorized']}", "command": "smtpd",
                   "chroot": False},
     "listens on the same address and port", None),
    ("command-not-in-daemon-directory", "postfix_service",
     lambda i, p: {"name": f"127.0.0.1:{p}", "command": "smtpdx", "chroot": False},
     "command: 127.0.0.1:{p}/inet: command 'smtpdx' is not a program in daemon_directory",
     None),
    ("command-absolute-path", "postfix_service",
     lambda i, p: {"name": f"127.0.0.1:{p}", "command": "/usr/lib/postfix/sbin/smtpd"},
     "command: '/usr/lib/postfix/sbin/smtpd': give the program name", None),
    ("smtpd-as-root", "postfix_service",
     lambda i, p: {"name": f"127.0.0.1:{p}", "command": "smtpd", "unprivileged": False},
     "unprivileged: 127.0.0.1:{p}/inet: smtpd refuses to run with root privileges", None),
    ("option-stray-brace", "postfix_service",
     lambda i, p: {"name": f"127.0.0.1:{i.ports['unauthorized']}", "command": "smtpd",
                   "chroot": False,
                   "options": {"smtpd_recipient_restrictions": "permit_mynetworks, reject }"}},
     "options.smtpd_recipient_restrictions: the braces", None),
    ("postconf-override-stray-brace", "postconf",
     lambda i, p: {"service": f"127.0.0.1:{i.ports['unauthorized']}/inet",
                   "name": "smtpd_recipient_restrictions",
                   "value": "permit_mynetworks, reject }"},
     "value: the braces", None),
    ("xclient-cidr-does-not-parse", "xclient_hosts",
     lambda i, p: {"service": f"127.0.0.1:{i.ports['unauthorized']}/inet",
                   "hosts": [f"cidr:{_t(i, 'bad.cidr')}"]},
     "hosts: cidr:", None),
    ("xclient-proxy-table", "xclient_hosts",
     lambda i, p: {"service": f"127.0.0.1:{i.ports['unauthorized']}/inet",
                   "hosts": [f"proxy:cidr:{_t(i, 'good.cidr')}"]},
     "proxy_read_maps", None),
    ("xclient-proxy-static-all", "xclient_hosts",
     lambda i, p: {"hosts": ["proxy:static:all"]}, "static: table matches every client",
     None),
    ("xclient-hash-unbuilt", "xclient_hosts",
     lambda i, p: {"hosts": [f"hash:{_t(i, 'unbuilt')}"]}, "unbuilt.db does not exist", None),
    ("xclient-negation-contradicts", "xclient_hosts",
     lambda i, p: {"service": f"127.0.0.1:{i.ports['authorized']}/inet",
                   "hosts": ["!127.0.0.1"]}, "hosts: !127.0.0.1 and 127.0.0.1", None),
    ("override-inline-table-does-not-parse", "postconf",
     lambda i, p: {"service": f"127.0.0.1:{i.ports['unauthorized']}/inet",
                   "name": "smtpd_client_restrictions",
                   "value": "check_client_access inline:{ 127.0.0.1=REJECT no entry }"},
     "value: inline:{{ 127.0.0.1=REJECT no entry }}: postmap says", None),
    ("main-table-missing", "postconf",
     lambda i, p: {"name": "smtpd_client_restrictions",
                   "value": f"check_client_access cidr:{_t(i, 'missing.cidr')}"},
     "value: cidr:", None),
    ("main-regexp-does-not-parse", "postconf",
     lambda i, p: {"settings": {"smtpd_helo_restrictions":
                                f"check_helo_access regexp:{_t(i, 'bad.regexp')}"}},
     "settings.smtpd_helo_restrictions: regexp:", None),
]


def run_case(inst, case, check_mode=False):
    """The case's module run on ``inst`` (with the foreign listener it needs): the result
    and the message it must contain."""
    _id, module, make_args, needle, foreign_host = case
    port = free_port()
    foreign = Foreign(foreign_host, port) if foreign_host else None
    try:
        result = run_module(module, dict(make_args(inst, port), config_dir=inst.config_dir),
                            check_mode=check_mode)
    finally:
        if foreign:
            foreign.close()
    return result, needle.format(p=port)


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_hazard_refused_before_writing(running, case):
    before = digest(running.config_dir)
    result, needle = run_case(running, case)
    assert result.get("failed") is True, result
    assert needle in result["msg"], result["msg"]
    assert "Traceback" not in result["msg"]
    assert digest(running.config_dir) == before
    reload_alive(running)


CHECK_MODE = [c for c in REFUSED if c[0] in ("port-taken-v4", "xclient-cidr-does-not-parse")]


@pytest.mark.parametrize("case", CHECK_MODE, ids=[c[0] for c in CHECK_MODE])
def test_hazard_refused_in_check_mode_too(running, case):
    result, needle = run_case(running, case, check_mode=True)
    assert result.get("failed") is True and needle in result["msg"], result


def test_allow_unbound_accepts_an_address_that_comes_later(config_dir_copy):
    result = run_module("postfix_service", {"name": "192.0.2.200:10999", "command": "smtpd",
                                            "allow_unbound": True,
                                            "config_dir": config_dir_copy},
                        check_mode=True)
    assert result["changed"] and not result.get("failed"), result


@pytest.fixture
def config_dir_copy(running, tmp_path):
    """A copy of the running instance's config: check mode only, nothing started."""
    import shutil
    target = tmp_path / "etc"
    shutil.copytree(running.config_dir, target,
                    ignore=shutil.ignore_patterns(".mailops-xclient*"))
    return str(target)


# ------------------------------------------------------------------ accepted, and alive
INLINE = "inline:{ 127.0.0.1=OK, { 127.0.0.3 = OK } }"


def set_inline_list(config_dir, key):
    """The listener's XCLIENT list as an inline table with nested braces (by hand, as a
    user would write it: postconf -P cannot write a value with spaces)."""
    name = key.rsplit("/", 1)[0]
    subprocess.run(["postconf", "-c", config_dir, "-M", "-e",
                    f"{key} = {name} inet n - n - - smtpd -o syslog_name=postfix/unauthorized"
                    f" -o {{smtpd_authorized_xclient_hosts={INLINE}}}"], check=True)


def test_quick_start_listener_defaults_keep_postfix_up(fresh_postfix):
    """The README's task as written (no private:) used to write private '-' and stop the
    master on the next reload."""
    port = free_port()
    result = run_module("postfix_service", {"name": f"127.0.0.1:{port}", "command": "smtpd",
                                            "chroot": False,
                                            "options": {"syslog_name": "postfix/proxy"},
                                            "config_dir": fresh_postfix.config_dir})
    assert result["changed"], result
    assert result["entry_after"].startswith(f"127.0.0.1:{port} inet n - n - - smtpd")
    alive = reload_alive(fresh_postfix)
    assert any(a["port"] == port for a in alive["listeners"])


def test_wildcard_and_ipv6_listeners_on_free_ports(fresh_postfix):
    v4, v6 = free_port(), free_port("::1")
    for name in (f"0.0.0.0:{v4}", f"[::1]:{v6}"):
        result = run_module("postfix_service", {"name": name, "command": "smtpd",
                                                "config_dir": fresh_postfix.config_dir})
        assert result["changed"] and not result.get("failed"), result
    alive = reload_alive(fresh_postfix)
    seen = {(a["address"], a["port"]) for a in alive["listeners"]}
    assert {("127.0.0.1", v4), ("::1", v6)} <= seen
    # the same again: idempotent, and our own master's ports are not "taken"
    for name in (f"0.0.0.0:{v4}", f"[::1]:{v6}"):
        result = run_module("postfix_service", {"name": name, "command": "smtpd",
                                                "config_dir": fresh_postfix.config_dir})
        assert not result["changed"] and not result.get("failed"), result


def ehlo_keywords(reply):
    """The extension keywords of an EHLO reply (its lines after the first)."""
    assert reply[0].startswith("250-"), reply
    return [line[4:].split()[0] for line in reply[1:]]


def test_inline_table_with_nested_braces_stays_whole(fresh_postfix):
    key = f"127.0.0.1:{fresh_postfix.ports['unauthorized']}/inet"
    set_inline_list(fresh_postfix.config_dir, key)
    result = run_module("xclient_hosts", {"service": key, "hosts": ["127.0.0.2"],
                                          "config_dir": fresh_postfix.config_dir})
    assert not result.get("failed"), result
    assert result["hosts_after"] == [INLINE, "127.0.0.2"]
    reload_alive(fresh_postfix)
    greeting, ehlo = smtp_replies(fresh_postfix.ports["unauthorized"], timeout=5)
    assert greeting[0].startswith("220 "), greeting
    # 127.0.0.1 is in the inline table: offered XCLIENT, so no table lookup problem
    assert "XCLIENT" in ehlo_keywords(ehlo), ehlo


def test_negation_is_placed_where_it_works(fresh_postfix):
    key = f"127.0.0.1:{fresh_postfix.ports['unauthorized']}/inet"
    cfg = fresh_postfix.config_dir
    run_module("xclient_hosts", {"service": key, "hosts": ["127.0.0.0/24"],
                                 "config_dir": cfg})
    result = run_module("xclient_hosts", {"service": key, "hosts": ["!127.0.0.1"],
                                          "config_dir": cfg})
    assert result["hosts_after"] == ["!127.0.0.1", "127.0.0.0/24"], result
    reload_alive(fresh_postfix)
    greeting, ehlo = smtp_replies(fresh_postfix.ports["unauthorized"], timeout=5)
    assert greeting[0].startswith("220 "), greeting
    # 127.0.0.1 excluded: the keyword is not offered to it (the others are)
    keywords = ehlo_keywords(ehlo)
    assert "XCLIENT" not in keywords and "PIPELINING" in keywords, ehlo


def test_pipe_argv_keeps_its_own_options(fresh_postfix):
    cfg = fresh_postfix.config_dir
    command = "pipe flags=Rq user=nobody argv=/bin/cat -o mode=fast ${sender}"
    result = run_module("postfix_service", {"name": "filter", "type": "unix",
                                            "unprivileged": False, "chroot": False,
                                            "command": command, "config_dir": cfg})
    assert not result.get("failed"), result
    assert result["entry_after"].endswith("argv=/bin/cat -o mode=fast ${sender}")
    result = run_module("postconf", {"service": "filter/unix", "name": "syslog_name",
                                     "value": "postfix/my filter", "config_dir": cfg})
    assert not result.get("failed"), result
    entry = subprocess.run(["postconf", "-c", cfg, "-M", "filter/unix"], check=True,
                           capture_output=True, text=True).stdout
    assert entry.split(None, 7)[7].strip() == (
        "pipe -o {syslog_name=postfix/my filter} flags=Rq user=nobody argv=/bin/cat"
        " -o mode=fast ${sender}"), entry
    again = run_module("postfix_service", {"name": "filter", "type": "unix",
                                           "unprivileged": False, "chroot": False,
                                           "command": command, "config_dir": cfg})
    assert not again["changed"], again
    reload_alive(fresh_postfix)


def test_unbalanced_token_written_by_hand_does_not_break_reading(fresh_postfix):
    cfg = fresh_postfix.config_dir
    with open(os.path.join(cfg, "master.cf"), "a", encoding="utf-8") as fh:
        fh.write("127.0.0.1:%d inet n - n - - smtpd\n  -o syslog_name=postfix/{sub\n"
                 % free_port())
    for module, args in (("postfix_info", {}),
                         ("postconf", {"service": f"127.0.0.1:{fresh_postfix.ports['sasl']}"
                                                  "/inet", "name": "syslog_name",
                                       "value": "postfix/sasl2"}),
                         ("xclient_hosts", {"hosts": ["192.0.2.25"]})):
        result = run_module(module, dict(args, config_dir=cfg))
        assert not result.get("failed"), (module, result)


def test_check_mode_works_on_a_read_only_config_dir(config_dir_copy):
    """As a user who may only read the directory: a read-only bind mount (root would
    otherwise write anyway)."""
    before = digest(config_dir_copy)
    listing = sorted(os.listdir(config_dir_copy))
    code = ("import json,sys; sys.path.insert(0, %r); from run_module import run_module;"
            " print(json.dumps(run_module('xclient_hosts', {'hosts': ['192.0.2.25'],"
            " 'config_dir': %r}, check_mode=True, diff=True)))"
            % (os.path.join(ROOT, "tests", "harness"), config_dir_copy))
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c",
         'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" -c "$3"',
         "sh", config_dir_copy, sys.executable, code],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    import json
    result = json.loads(done.stdout)
    assert result["changed"] and not result.get("failed"), result
    assert "192.0.2.25" in result["diff"][0]["after"]
    assert digest(config_dir_copy) == before
    assert sorted(os.listdir(config_dir_copy)) == listing


def test_info_ipv6_loopback_finding_with_slash_32(fresh_postfix):
    cfg = fresh_postfix.config_dir
    subprocess.run(["postconf", "-c", cfg, "-P", "-e",
                    f"[::1]:{fresh_postfix.ports['authorized']}/inet/"
                    "smtpd_authorized_xclient_hosts=127.0.0.1/32"], check=True)
    result = run_module("postfix_info", {"config_dir": cfg})
    found = [f for f in result["findings"] if f["code"] == "ipv6-loopback-missing"]
    # exactly the IPv6 listener; the IPv4 one on the same port binds no IPv6 address
    assert [f["service"] for f in found] == [f"[::1]:{fresh_postfix.ports['authorized']}/inet"]


def test_override_with_balanced_braces_is_written_so_smtpd_reads_it(fresh_postfix):
    """A -o value holding an inline table: written as { name = value }, read back the same,
    and smtpd applies it (the REJECT comes from the inline table)."""
    cfg = fresh_postfix.config_dir
    port = fresh_postfix.ports["unauthorized"]
    # (a rule against one recipient, not the loopback client: the shadow's proof sends
    # from 127.0.0.1 to postmaster and would refuse a listener that rejects all its mail)
    value = "check_recipient_access inline:{ {blocked@example.net=REJECT inline-table-rule} }"
    args = {"service": f"127.0.0.1:{port}/inet", "name": "smtpd_client_restrictions",
            "value": value, "config_dir": cfg}
    result = run_module("postconf", args)
    assert result["changed"] and result["value_after"] == value, result
    assert not run_module("postconf", args)["changed"]
    reload_alive(fresh_postfix)
    replies = smtp_replies(port, (b"MAIL FROM:<a@example.org>",
                                  b"RCPT TO:<blocked@example.net>"), timeout=5)
    mail, rcpt = replies[-2:]
    assert mail == ["250 2.1.0 Ok"], mail
    assert len(rcpt) == 1 and rcpt[0].startswith("554 5.7.1 ") and \
        rcpt[0].endswith(": Recipient address rejected: inline-table-rule"), rcpt
