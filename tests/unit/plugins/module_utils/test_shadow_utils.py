# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure parts of _shadow, and last-known-good seeding from the master's pid file (the
shadow itself runs real Postfix in tests/integration/test_shadow_hazards.py)."""

from __future__ import annotations

import os
import socket
import time

from ansible_collections.mailops.xclient.plugins.module_utils import _postfix_instance
from ansible_collections.mailops.xclient.plugins.module_utils._shadow import (
    Endpoint,
    Proof,
    Step,
    log_problems,
    proof_domain,
    prove_mail_flows,
    shadow_name,
)


def test_log_problems_pick_postfixs_refusals_only():
    lines = [
        "Dec 03 08:22:28 h postfix/smtpd[1]: connect from localhost[127.0.0.1]",
        'Dec 03 08:22:28 h postfix/smtpd[1]: warning: unknown smtpd restriction: "x"',
        "Dec 03 08:22:28 h postfix/smtpd[1]: fatal: bad boolean configuration: a = True",
        "Dec 03 08:22:28 h postfix/qmgr[2]: warning: connect to transport private/scan: No",
        "Dec 03 08:22:28 h postfix/smtpd[1]: disconnect from localhost[127.0.0.1]",
    ]
    assert log_problems(lines) == lines[1:4]


def test_words_group_listeners_and_drop_stamps():
    a, b = Endpoint("a/inet", "127.0.0.1", 1), Endpoint("b/inet", "127.0.0.1", 2)
    proof = Proof(steps=[Step(a, False, why="RCPT answered 451"),
                         Step(b, False, why="RCPT answered 451")],
                  log_problems=['Dec 03 08:22:28 h postfix/auth/smtpd[9]: warning: unknown'
                                ' smtpd restriction: "x"'])
    assert not proof.ok
    assert proof.words() == ('RCPT answered 451 (a/inet, b/inet); smtpd: warning: unknown'
                             ' smtpd restriction: "x"')
    assert Proof(steps=[Step(a, True)]).ok and not Proof().ok


def test_shadow_names_keep_the_address_family():
    name, addr = shadow_name("[::1]:25", v6=True)
    assert name.startswith("[::1]:") and addr == "::1"
    name, addr = shadow_name("192.0.2.1:25", v6=True)
    assert name.startswith("127.0.0.1:") and addr == "127.0.0.1"
    name, addr = shadow_name("smtp", v6=True)
    assert name.isdigit() and addr is None


class _PC:
    def __init__(self, config_dir, queue):
        self.config_dir, self.queue = config_dir, queue

    def effective(self, name):
        assert name == "queue_directory"
        return self.queue


def test_seed_lkg_compares_with_the_master_pid_file_time(tmp_path, monkeypatch):
    """Files written 0.3 s before the master started are what it runs: seeded. The old
    rule (btime, whole seconds, plus the process's start ticks) could put the start before
    them and refused to seed - the postfix_instance target failed on a pristine tree."""
    conf, queue = tmp_path / "etc", tmp_path / "queue"
    (queue / "pid").mkdir(parents=True)
    conf.mkdir()
    for name in ("main.cf", "master.cf"):
        (conf / name).write_text(name)
    pidfile = queue / "pid" / "master.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    # After this process's own start: the old rule read the start of the pid's process.
    started = time.time() + 100.7
    for name in ("main.cf", "master.cf"):
        os.utime(conf / name, (started - 0.3, started - 0.3))
    os.utime(pidfile, (started, started))
    monkeypatch.setattr(_postfix_instance, "master_pid", lambda pc: os.getpid())
    pc = _PC(str(conf), str(queue))
    assert _postfix_instance.master_started_at(pc) == started
    assert _postfix_instance.seed_lkg(pc)
    assert _postfix_instance.has_lkg(str(conf))


def test_seed_lkg_refuses_files_newer_than_the_master(tmp_path, monkeypatch):
    conf, queue = tmp_path / "etc", tmp_path / "queue"
    (queue / "pid").mkdir(parents=True)
    conf.mkdir()
    for name in ("main.cf", "master.cf"):
        (conf / name).write_text(name)
        os.utime(conf / name, (1_700_000_001.0, 1_700_000_001.0))
    pidfile = queue / "pid" / "master.pid"
    pidfile.write_text("1\n")
    os.utime(pidfile, (1_700_000_000.9, 1_700_000_000.9))
    monkeypatch.setattr(_postfix_instance, "master_pid", lambda pc: 1)
    assert not _postfix_instance.seed_lkg(_PC(str(conf), str(queue)))


class _Settings:
    """A Postconf stand-in: expanded() of a fixed main.cf (unset parameters are empty)."""

    def __init__(self, **values: str) -> None:
        self.values = values

    def expanded(self, name: str) -> str:
        return self.values.get(name, "")


def test_proof_domain_is_one_the_instance_accepts_mail_for():
    # The lab's mx: relay-only (mydestination empty, relay_domains example.net); it
    # refuses postmaster@myhostname as relaying, so the proof must ask for example.net.
    assert proof_domain(_Settings(myhostname="mx.lab.test", mydestination="",
                                  relay_domains="example.net")) == "example.net"
    assert proof_domain(_Settings(myhostname="h.example", mydestination="h.example, localhost",
                                  relay_domains="example.net")) == "h.example"
    assert proof_domain(_Settings(myhostname="h.example", mydestination="localhost",
                                  relay_domains="hash:/etc/postfix/relay",
                                  virtual_alias_domains="alias.example")) == "alias.example"
    assert proof_domain(_Settings(myhostname="h.example")) == "h.example"


def test_a_silent_listener_is_abandoned_once_a_daemon_died():
    """A listener whose smtpd died of the files answers nothing, ever (the master throttles
    it): the proof stops waiting when the fatal line is in the log, instead of spending the
    listener's whole share of the timeout. A listening socket nobody accepts on stands in
    for the throttled service (the kernel completes the handshake, nothing answers)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]

        def log():
            return ["Dec 03 08:22:28 h postfix/smtpd[1]: fatal: bad boolean configuration:"
                    " smtpd_helo_required = True"]

        endpoints = [Endpoint("a/inet", "127.0.0.1", port), Endpoint("b/inet", "127.0.0.1", port)]
        # without abandoning, the first listener ends by its own share of the timeout
        # ("TimeoutError: timed out"), which fails the assertions below
        proof = prove_mail_flows(endpoints, 3600, "example.net", log=log)
    assert not proof.ok
    first, second = proof.steps
    assert first.why == "no reply: a Postfix daemon died (below)", first.why
    assert second.why.startswith("not tried after smtpd: fatal: bad boolean"), second.why
    assert proof.log_problems == ["Dec 03 08:22:28 h postfix/smtpd[1]: fatal: bad boolean"
                                  " configuration: smtpd_helo_required = True"]
    assert "bad boolean configuration" in proof.words()
