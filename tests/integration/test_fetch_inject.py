# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fetch and inject on the real parts: an upstream private Postfix delivers into Maildirs
that a private Dovecot serves over POP3 and IMAP; fetchmail fetches and runs
xclient-inject as its MDA, which injects into a downstream private Postfix with XCLIENT.
Postfix's own records (its policy requests, its log) show which client it judged."""

from __future__ import annotations

import email
import json
import os
import shutil
import smtplib
import subprocess
import sys
import time

import pytest

import collection
from private_postfix import PrivatePostfix, free_port, new_base
from private_upstream import PrivateUpstream

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INJECT = os.path.join(ROOT, "roles", "fetch_inject", "files", "xclient-inject")
COLLECTIONS = collection.source_collections()
USER = "demo@upstream.test"
RCPT = "postmaster@example.net"
MX = r"mx\.upstream\.test"

ACCESS = """\
192.0.2.66/32   REJECT client 192.0.2.66 is blocked downstream
192.0.2.45/32   DEFER client 192.0.2.45 is deferred downstream
"""


@pytest.fixture(scope="module")
def upstream():
    up = PrivateUpstream(base=new_base("xclient-upstream-")).start()
    try:
        yield up
    finally:
        up.stop()
        shutil.rmtree(up.base, ignore_errors=True)


@pytest.fixture(scope="module")
def downstream():
    base = new_base("xclient-downstream-")
    os.makedirs(os.path.join(base, "etc"))
    access = os.path.join(base, "etc", "inject_access.cidr")
    with open(access, "w", encoding="utf-8") as fh:
        fh.write(ACCESS)
    inst = PrivatePostfix(base=base, tls=False, extra_main={
        "smtpd_recipient_restrictions": (
            "check_policy_service unix:private/policylog,"
            f" check_client_access cidr:{access}, permit_mynetworks,"
            " reject_unauth_destination"),
        "header_checks": f"regexp:{base}/etc/header_checks",
    })
    os.makedirs(inst.config_dir, exist_ok=True)
    with open(os.path.join(inst.config_dir, "header_checks"), "w", encoding="utf-8") as fh:
        # only the header downstream Postfix writes (the upstream's has the same first line)
        fh.write("/^Received: from [^ ]+ \\([^)]*\\)[[:space:]]+by probe-target\\.test / WARN\n")
    inst.start()
    inst.access_file = access
    try:
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fetcher(upstream, downstream):
    work = new_base("xclient-fetch-")
    try:
        yield Fetcher(work, upstream, downstream)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Fetcher:
    """fetchmail with xclient-inject as its MDA, one poll per call."""

    def __init__(self, work, upstream, downstream):
        self.work = work
        self.upstream = upstream
        self.downstream = downstream
        self.quarantine = os.path.join(work, "quarantine")

    def rc(self, protocol, port):
        mda = (f"env PYTHONPATH={COLLECTIONS} {sys.executable} {INJECT} --server 127.0.0.1"
               f" --port {port} --received-by '{MX.replace(chr(92), chr(92) * 2)}'"
               f" --on-reject quarantine:{self.quarantine} --state-dir {self.work}/state"
               f" --from %F -- {RCPT}")
        service = self.upstream.ports[protocol]
        path = os.path.join(self.work, "fetchmailrc")
        with open(path, "w", encoding="utf-8") as fh:
            # set invisible: no Received header of fetchmail's own on top (the first
            # header with an external client must be the upstream MX's)
            fh.write("set no bouncemail\nset invisible\n"
                     f"poll 127.0.0.1 service {service} protocol {protocol}\n"
                     f"  user \"{USER}\" there with password"
                     f" \"{self.upstream.users[USER]}\" is root here sslproto \"\"\n"
                     f"  mda \"{mda}\"\n")
        os.chmod(path, 0o600)
        return path

    def poll(self, protocol="pop3", port=None):
        port = port or self.downstream.ports["authorized"]
        rc = self.rc(protocol, port)
        done = subprocess.run(["fetchmail", "-f", rc, "--pidfile",
                               os.path.join(self.work, "pid"), "-i",
                               os.path.join(self.work, "ids")],
                              capture_output=True, text=True, timeout=120, check=False)
        return done

    def quarantined(self):
        new = os.path.join(self.quarantine, "new")
        return sorted(os.path.join(new, n) for n in os.listdir(new)) if os.path.isdir(new) else []


def send_upstream(upstream, source, helo, extra_headers="", body="hello\n"):
    msg = (f"From: alice@example.org\r\nTo: {USER}\r\n{extra_headers}"
           f"Subject: from {source}\r\nMessage-ID: <{time.time_ns()}@example.org>\r\n\r\n{body}")
    # The upstream records the TEST-NET client XCLIENT names (loopback is its own hops).
    with smtplib.SMTP("127.0.0.1", upstream.ports["smtp"], local_hostname="tester.test",
                      timeout=30) as smtp:
        smtp.ehlo()
        code, reply = smtp.docmd("XCLIENT", f"ADDR={source} NAME=[UNAVAILABLE]")
        assert code == 220, reply
        smtp.ehlo(helo)
        smtp.sendmail("alice@example.org", [USER], msg.encode("utf-8"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for path in upstream.messages(USER):
            with open(path, "rb") as fh:
                if f"Subject: from {source}".encode() in fh.read():
                    return path
        time.sleep(0.1)
    raise AssertionError(f"upstream did not deliver the message from {source}")


def requests_from(downstream, addr):
    return [r for r in downstream.policy_requests() if r.get("client_address") == addr]


def upstream_has(upstream, source):
    for path in upstream.messages(USER):
        with open(path, "rb") as fh:
            if f"Subject: from {source}".encode() in fh.read():
                return True
    return False


def test_message_arrives_downstream_as_the_upstream_client(upstream, downstream, fetcher):
    send_upstream(upstream, "192.0.2.5", "h5.client.test")
    done = fetcher.poll()
    assert done.returncode == 0, done.stdout + done.stderr
    (req,) = requests_from(downstream, "192.0.2.5")
    assert req["helo_name"] == "h5.client.test"
    assert req["client_name"] == "unknown" and req["protocol_name"] == "ESMTP"
    assert req["sender"] == "alice@example.org" and req["recipient"] == RCPT
    assert len(downstream.wait_for_log(r"client=unknown\[192\.0\.2\.5\]")) == 1
    # Postfix's own Received: header names the original client and its HELO
    assert len(downstream.wait_for_log(
        r"warning: header Received: from h5\.client\.test \(unknown \[192\.0\.2\.5\]\)")) == 1
    assert "accepted: addr=192.0.2.5 name=[UNAVAILABLE] helo=h5.client.test" in done.stdout + done.stderr
    assert not upstream_has(upstream, "192.0.2.5")
    # the injector's own address is never what Postfix judged
    assert not requests_from(downstream, "127.0.0.1")


def test_imap_fetch_too(upstream, downstream, fetcher):
    send_upstream(upstream, "192.0.2.6", "h6.client.test")
    done = fetcher.poll("imap")
    assert done.returncode == 0, done.stdout + done.stderr
    (req,) = requests_from(downstream, "192.0.2.6")
    assert req["helo_name"] == "h6.client.test"
    assert len(downstream.wait_for_log(r"client=unknown\[192\.0\.2\.6\]")) == 1


def test_blocked_client_is_quarantined_removed_upstream_and_never_loops(
        upstream, downstream, fetcher):
    send_upstream(upstream, "192.0.2.66", "spammer.test")
    done = fetcher.poll()
    assert done.returncode == 0, done.stdout + done.stderr
    rejects = downstream.wait_for_log(
        r"NOQUEUE: reject: RCPT from unknown\[192\.0\.2\.66\]: 554 5\.7\.1")
    assert len(rejects) == 1 and "helo=<spammer.test>" in rejects[0]
    (path,) = fetcher.quarantined()
    content = open(path, "rb").read()
    assert content.startswith(b"X-Xclient-Inject-Envelope-From: <alice@example.org>\r\n"
                              b"X-Xclient-Inject-Envelope-To: postmaster@example.net\r\n"
                              b"X-Xclient-Inject-Rejected: 554 5.7.1")
    assert b"Subject: from 192.0.2.66" in content
    assert "rejected (quarantined): addr=192.0.2.66" in done.stdout + done.stderr
    assert not upstream_has(upstream, "192.0.2.66")
    again = fetcher.poll()
    assert again.returncode == 1, again.stdout  # 1: no mail
    assert len(downstream.wait_for_log(r"reject: RCPT from unknown\[192\.0\.2\.66\]",
                                       timeout=1)) == 1
    assert len(fetcher.quarantined()) == 1


def test_4xx_leaves_it_upstream_and_a_later_poll_delivers(upstream, downstream, fetcher):
    send_upstream(upstream, "192.0.2.45", "h45.client.test")
    done = fetcher.poll()
    assert len(downstream.wait_for_log(r"reject: RCPT from unknown\[192\.0\.2\.45\]: 450")) == 1
    assert "deferred: addr=192.0.2.45" in done.stdout + done.stderr
    assert upstream_has(upstream, "192.0.2.45")
    assert not fetcher.quarantined()
    with open(downstream.access_file, "w", encoding="utf-8") as fh:
        fh.write(ACCESS.replace("192.0.2.45/32", "# 192.0.2.45/32"))
    downstream.reload()  # returns once the old smtpd processes are gone
    later = fetcher.poll()
    assert later.returncode == 0, later.stdout + later.stderr
    assert len(downstream.wait_for_log(r"client=unknown\[192\.0\.2\.45\]")) == 1
    assert not upstream_has(upstream, "192.0.2.45")
    with open(downstream.access_file, "w", encoding="utf-8") as fh:
        fh.write(ACCESS)
    downstream.reload()


def test_no_connection_leaves_it_upstream(upstream, downstream, fetcher):
    send_upstream(upstream, "192.0.2.46", "h46.client.test")
    done = fetcher.poll(port=free_port())
    assert "deferred: addr=192.0.2.46" in done.stdout + done.stderr and "cannot connect" in done.stderr
    assert upstream_has(upstream, "192.0.2.46")
    assert fetcher.poll().returncode == 0
    assert not upstream_has(upstream, "192.0.2.46")


def test_forged_received_headers_below_change_nothing(upstream, downstream, fetcher):
    forged = ("Received: from trusted.example (trusted.example [192.0.2.9]) by"
              " mx.upstream.test (Postfix) with ESMTP id FORGED; Tue, 24 Nov 2026 10:00:00"
              " +0100\r\n"
              "Received: from x (y [192.0.2.10]) by mx.upstream.test with SMTP; Tue, 24 Nov"
              " 2026\r\n")
    send_upstream(upstream, "192.0.2.7", "h7.client.test", extra_headers=forged)
    done = fetcher.poll()
    assert done.returncode == 0, done.stdout + done.stderr
    (req,) = requests_from(downstream, "192.0.2.7")
    assert req["helo_name"] == "h7.client.test"
    assert not requests_from(downstream, "192.0.2.9")
    assert not requests_from(downstream, "192.0.2.10")


def inject(args, message, timeout=60):
    # no retry records in the machine's /var/lib unless a test gives its own --state-dir
    return subprocess.run([sys.executable, INJECT, "--state-dir", "none", *args],
                          input=message,
                          env=dict(os.environ, PYTHONPATH=COLLECTIONS),
                          capture_output=True, timeout=timeout, check=False)


MESSAGE = (b"Return-Path: <carol@example.org>\r\n"
           b"Received: from h8.client.test (unknown [192.0.2.8])\r\n"
           b"\tby mx.upstream.test (Postfix) with SMTP id 1; Tue, 24 Nov 2026 10:00:00 +0100\r\n"
           b"Subject: direct\r\n\r\n.leading dot\r\nbody\r\n")


def as_client(addr, message=MESSAGE):
    """MESSAGE with another client in the MX's Received header (never a silent no-op: a
    loopback or internal_networks client would be the upstream's own hop, not a client)."""
    assert b"[192.0.2.8]" in message
    return message.replace(b"[192.0.2.8]", f"[{addr}]".encode())


def test_listener_refuses_xclient_from_any_other_host(downstream):
    port = str(downstream.ports["authorized"])
    done = inject(["--port", port, "--source-address", "127.0.0.2", RCPT], MESSAGE)
    assert done.returncode == 75
    assert b"does not offer XCLIENT to this host" in done.stderr
    assert not requests_from(downstream, "192.0.2.8")
    # and a listener where nobody is authorized
    done = inject(["--port", str(downstream.ports["unauthorized"]), RCPT], MESSAGE)
    assert done.returncode == 75 and b"does not offer XCLIENT" in done.stderr


def test_direct_injection_plain_smtp_return_path_and_dot(downstream):
    done = inject(["--port", str(downstream.ports["authorized"]), RCPT], MESSAGE)
    assert done.returncode == 0, done.stderr
    (req,) = requests_from(downstream, "192.0.2.8")
    assert req["protocol_name"] == "SMTP" and req["helo_name"] == "h8.client.test"
    assert req["sender"] == "carol@example.org"


def test_dry_run_prints_json_and_sends_nothing(downstream):
    before = len(downstream.log_lines())
    done = inject(["--dry-run", "--port", str(downstream.ports["authorized"]),
                   "--received-by", MX], MESSAGE)
    assert done.returncode == 0
    assert json.loads(done.stdout) == {
        "xclient": {"addr": "192.0.2.8", "name": "[UNAVAILABLE]", "helo": "h8.client.test",
                    "proto": "SMTP"},
        "received": "Received: from h8.client.test (unknown [192.0.2.8])\tby"
                    " mx.upstream.test (Postfix) with SMTP id 1; Tue, 24 Nov 2026 10:00:00"
                    " +0100"}
    time.sleep(0.5)
    assert downstream.connections_since(before) == []


def test_unparsed_tempfail_by_default_unavailable_on_request(downstream, tmp_path):
    port = str(downstream.ports["authorized"])
    message = b"Received: by mx.upstream.test (Postfix, from userid 0); d\r\nSubject: x\r\n\r\nb\r\n"
    done = inject(["--port", port, "--received-by", MX, RCPT], message)
    assert done.returncode == 75 and b"records an external client" in done.stderr
    done = inject(["--port", port, "--received-by", MX, "--unparsed", "unavailable", RCPT],
                  message)
    assert done.returncode == 0, done.stderr
    assert len(downstream.wait_for_log(r"client=unknown\[unknown\]")) == 1


def test_on_reject_discard_and_keep(downstream, tmp_path):
    port = str(downstream.ports["authorized"])
    blocked = MESSAGE.replace(b"192.0.2.8", b"192.0.2.66")
    assert inject(["--port", port, "--on-reject", "discard", RCPT], blocked).returncode == 0
    assert inject(["--port", port, "--on-reject", "keep", RCPT], blocked).returncode == 69
    bad = inject(["--port", port, "--on-reject", "elsewhere", RCPT], blocked)
    assert bad.returncode == 64 and b"--on-reject" in bad.stderr


def test_message_smtp_cannot_carry_is_quarantined(downstream, tmp_path):
    port = str(downstream.ports["authorized"])
    done = inject(["--port", port, "--on-reject", f"quarantine:{tmp_path}/q", RCPT],
                  MESSAGE + b"x" * 1200 + b"\r\n")
    assert done.returncode == 0 and b"stage=message" in done.stderr
    (name,) = os.listdir(tmp_path / "q" / "new")
    assert email.message_from_bytes((tmp_path / "q" / "new" / name).read_bytes())[
        "X-Xclient-Inject-Rejected"].startswith("SMTP cannot carry the message")


def test_eight_bit_message_goes_with_8bitmime(downstream):
    eight_bit = MESSAGE.replace(b"body", "Grüße".encode())
    done = inject(["--port", str(downstream.ports["authorized"]), RCPT],
                  eight_bit.replace(b"with SMTP", b"with ESMTP"))
    assert done.returncode == 0, done.stderr


def test_usage_errors_name_the_option():
    for args, word in ((["--port", "0", RCPT], b"--port"), ([], b"RECIPIENT"),
                       (["--received-by", "(", RCPT], b"--received-by"),
                       (["x y@example.net"], b"RECIPIENT"),
                       (["--max-age", "-1", RCPT], b"--max-age")):
        done = inject(args, MESSAGE)
        assert done.returncode == 64 and word in done.stderr, (args, done.stderr)
        assert b"Traceback" not in done.stderr


def test_module_reinjects_the_quarantine_check_real_check_real(downstream, tmp_path):
    from run_module import run_module  # pylint: disable=import-outside-toplevel
    port = downstream.ports["authorized"]
    quarantine = tmp_path / "q"
    blocked = MESSAGE.replace(b"192.0.2.8", b"192.0.2.66")
    assert inject(["--port", str(port), "--on-reject", f"quarantine:{quarantine}", RCPT],
                  blocked).returncode == 0
    (name,) = os.listdir(quarantine / "new")
    args = {"path": str(quarantine), "port": port, "received_by": MX}
    before = len(downstream.log_lines())
    dry = run_module("xclient_inject", args, check_mode=True)
    # check mode predicts the real run: it would send this message, so "changed"
    assert not dry.get("failed") and dry["changed"] is True, dry
    assert dry["summary"] == {"total": 1, "dry_run": 1}
    (msg,) = dry["messages"]
    assert msg["outcome"] == "dry_run" and msg["recipients"] == [RCPT]
    assert msg["sender"] == "carol@example.org"
    assert msg["xclient"] == {"addr": "192.0.2.66", "name": "[UNAVAILABLE]",
                              "helo": "h8.client.test", "proto": "SMTP"}
    time.sleep(0.3)
    assert downstream.connections_since(before) == []
    assert os.listdir(quarantine / "new") == [name]
    still = run_module("xclient_inject", args)
    assert still["failed"] and still["messages"][0]["outcome"] == "rejected", still
    assert os.listdir(quarantine / "new") == [name]
    with open(downstream.access_file, "w", encoding="utf-8") as fh:
        fh.write(ACCESS.replace("192.0.2.66/32", "# 192.0.2.66/32"))
    downstream.reload()  # returns once the old smtpd processes are gone
    try:
        real = run_module("xclient_inject", args)
        assert not real.get("failed") and real["changed"] is True, real
        assert real["messages"][0]["outcome"] == "accepted" and real["messages"][0]["removed"]
        assert real["summary"] == {"total": 1, "accepted": 1}
        assert len(downstream.wait_for_log(r"client=unknown\[192\.0\.2\.66\]")) == 1
        assert os.listdir(quarantine / "new") == []
        again = run_module("xclient_inject", args)
        assert again["changed"] is False and again["summary"] == {"total": 0}
        assert run_module("xclient_inject", args, check_mode=True)["changed"] is False
    finally:
        with open(downstream.access_file, "w", encoding="utf-8") as fh:
            fh.write(ACCESS)
        downstream.reload()


def test_module_bad_input_names_the_field(tmp_path):
    from run_module import run_module  # pylint: disable=import-outside-toplevel
    missing = run_module("xclient_inject", {"path": str(tmp_path / "nothing")})
    assert missing["failed"] and missing["msg"].startswith("path:")
    (tmp_path / "m.eml").write_bytes(MESSAGE)
    for args, field in (({"port": 0}, "port:"), ({"rcpt_to": ["a b@x"]}, "rcpt_to:"),
                        ({"received_by": "("}, "received_by:"), ({"helo": "a b"}, "helo:")):
        out = run_module("xclient_inject", dict({"path": str(tmp_path / "m.eml")}, **args))
        assert out["failed"] and out["msg"].startswith(field), out
    assert (tmp_path / "m.eml").read_bytes() == MESSAGE
    norcpt = run_module("xclient_inject", {"path": str(tmp_path / "m.eml")}, check_mode=True)
    assert norcpt["failed"] and norcpt["messages"][0]["outcome"] == "error"


def test_runs_straight_from_an_installed_collection(installed_collection, downstream):
    """PYTHONPATH=<collections dir> python3 <collection>/roles/fetch_inject/files/xclient-inject"""
    script = os.path.join(installed_collection, "ansible_collections", "mailops", "xclient",
                          "roles", "fetch_inject", "files", "xclient-inject")
    env = dict(os.environ, PYTHONPATH=installed_collection)
    done = subprocess.run(["python3", script, "--port", str(downstream.ports["authorized"]),
                           RCPT], input=MESSAGE.replace(b"192.0.2.8", b"192.0.2.11"),
                          env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert [r["recipient"] for r in requests_from(downstream, "192.0.2.11")] == [RCPT]
    # without the collection on the path: a clear message and 75, the mail stays upstream
    done = subprocess.run(["/usr/bin/python3", script, RCPT], input=MESSAGE,
                          env={"PATH": os.environ["PATH"]}, capture_output=True, timeout=60,
                          check=False)
    assert done.returncode == 75 and b"cannot load the mailops.xclient core" in done.stderr


class Getmail(Fetcher):
    """getmail6 with xclient-inject as its MDA_external destination, one run per call."""

    def rc(self, protocol, port):
        args = ["--server", "127.0.0.1", "--port", str(port), "--received-by", MX,
                "--on-reject", f"quarantine:{self.quarantine}", "--state-dir",
                f"{self.work}/state", "--from=%(sender)", "--", RCPT]
        path = os.path.join(self.work, "getmailrc")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"[retriever]\ntype = Simple{protocol.upper()}Retriever\n"
                     f"server = 127.0.0.1\nport = {self.upstream.ports[protocol]}\n"
                     f"username = {USER}\npassword = {self.upstream.users[USER]}\n"
                     "[destination]\ntype = MDA_external\n"
                     f"path = {self.work}/inject\n"
                     f"arguments = ({', '.join(json.dumps(a) for a in args)},)\n"
                     "ignore_stderr = true\nallow_root_commands = true\n"
                     "[options]\ndelete = true\nreceived = false\ndelivered_to = false\n")
        wrapper = os.path.join(self.work, "inject")
        with open(wrapper, "w", encoding="utf-8") as fh:
            fh.write(f"#!/bin/sh\nPYTHONPATH={COLLECTIONS} exec {sys.executable} {INJECT}"
                     " \"$@\"\n")
        os.chmod(wrapper, 0o755)
        return path

    def poll(self, protocol="pop3", port=None):
        port = port or self.downstream.ports["authorized"]
        rc = self.rc(protocol, port)
        state = os.path.join(self.work, "getmail")
        os.makedirs(state, exist_ok=True)
        return subprocess.run(["getmail", "--getmaildir", state, f"--rcfile={rc}"],
                              capture_output=True, text=True, timeout=120, check=False)


def test_getmail_delivers_as_the_upstream_client_defers_on_4xx_quarantines_5xx(
        upstream, downstream):
    work = new_base("xclient-getmail-")
    fetcher = Getmail(work, upstream, downstream)
    try:
        send_upstream(upstream, "192.0.2.12", "h12.client.test")
        send_upstream(upstream, "192.0.2.66", "spammer12.test")
        send_upstream(upstream, "192.0.2.45", "h45b.client.test")
        done = fetcher.poll()
        out = done.stdout + done.stderr
        (req,) = requests_from(downstream, "192.0.2.12")
        assert req["helo_name"] == "h12.client.test", out
        assert not upstream_has(upstream, "192.0.2.12")
        assert not upstream_has(upstream, "192.0.2.66")
        assert len(fetcher.quarantined()) == 1
        # 75 from the injector: getmail keeps the message upstream
        assert upstream_has(upstream, "192.0.2.45"), out
        with open(downstream.access_file, "w", encoding="utf-8") as fh:
            fh.write(ACCESS.replace("192.0.2.45/32", "# 192.0.2.45/32"))
        downstream.reload()
        fetcher.poll()
        assert not upstream_has(upstream, "192.0.2.45")
        assert [r["helo_name"] for r in requests_from(downstream, "192.0.2.45")][-1] == \
            "h45b.client.test"
    finally:
        with open(downstream.access_file, "w", encoding="utf-8") as fh:
            fh.write(ACCESS)
        downstream.reload()
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- issue 18: queue discipline
def test_two_runs_on_one_maildir_inject_each_message_exactly_once(downstream, tmp_path):
    """Two module processes started together on one Maildir of 30 messages: each message
    is injected once (the Maildir lock), neither run fails, the Maildir ends empty."""
    from run_module import module_command  # pylint: disable=import-outside-toplevel
    root = tmp_path / "md"
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    addrs = [f"198.51.100.{i}" for i in range(1, 31)]
    for i, addr in enumerate(addrs):
        (root / "new" / f"m{i:02d}").write_bytes(
            as_client(addr)
            .replace(b"Subject: direct", f"Subject: concurrent {i}".encode()))
    args = {"path": str(root), "port": downstream.ports["authorized"], "received_by": MX,
            "rcpt_to": [RCPT], "helo": "inject.example", "timeout": 30}
    runs, files = [], []
    for _i in range(2):
        argv, env, path = module_command("xclient_inject", args)
        files.append(path)
        runs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True))
    outs = []
    for proc, path in zip(runs, files):
        out, err = proc.communicate(timeout=300)
        os.unlink(path)
        outs.append(json.loads(out) if out.strip() else {"failed": True, "msg": err})
    assert all(not o.get("failed") for o in outs), outs
    accepted = sorted(m["path"] for o in outs for m in o["messages"]
                      if m["outcome"] == "accepted")
    assert len(accepted) == 30 and len(set(accepted)) == 30
    assert sum(o["summary"]["total"] for o in outs) == 30
    assert os.listdir(root / "new") == [] and os.listdir(root / "cur") == []
    assert len(downstream.wait_for_log(r"client=unknown\[198\.51\.100\.30\]")) == 1
    counts = {a: len(requests_from(downstream, a)) for a in addrs}
    assert set(counts.values()) == {1}, counts


def test_partial_delivery_keeps_the_refused_recipients_with_their_reasons(downstream,
                                                                          tmp_path):
    """Some recipients accepted, one refused: the file is not removed; it stays for the
    refused one alone, with Postfix's reply, and a later run sends it to nobody else."""
    from run_module import run_module  # pylint: disable=import-outside-toplevel
    root = tmp_path / "q"
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    elsewhere = "someone@elsewhere.example"  # not a relay domain: 554 Relay access denied
    stored = (b"X-Xclient-Inject-Envelope-From: <carol@example.org>\r\n"
              + f"X-Xclient-Inject-Envelope-To: {RCPT}, {elsewhere}\r\n".encode()
              + b"X-Xclient-Inject-Rejected: 450 earlier\r\n"
              + as_client("192.0.2.44"))
    (root / "new" / "m").write_bytes(stored)
    args = {"path": str(root), "port": downstream.ports["authorized"], "received_by": MX,
            "helo": "inject.example", "fail_on_rejected": False}
    out = run_module("xclient_inject", args)
    (msg,) = out["messages"]
    assert msg["outcome"] == "partial" and msg["accepted"] == [RCPT], out
    assert not msg["removed"] and msg["kept_for"] == [elsewhere]
    kept = (root / "new" / "m").read_bytes()
    assert kept.startswith(b"X-Xclient-Inject-Envelope-From: <carol@example.org>\r\n"
                           + f"X-Xclient-Inject-Envelope-To: {elsewhere}\r\n".encode()
                           + f"X-Xclient-Inject-Rejected: {elsewhere}: 554 5.7.1".encode())
    assert kept.endswith(as_client("192.0.2.44"))
    again = run_module("xclient_inject", args)
    assert again["messages"][0]["outcome"] == "rejected" and again["changed"] is False
    # delivered once to the accepted recipient; the refused one was tried twice
    assert [r["recipient"] for r in requests_from(downstream, "192.0.2.44")] == [RCPT]
    assert len(downstream.wait_for_log(r"client=unknown\[192\.0\.2\.44\]")) == 1
    rejects = r"reject: RCPT from unknown\[192\.0\.2\.44\]: 554 5\.7\.1 <someone@elsewhere"
    deadline = time.monotonic() + 30
    while len(downstream.wait_for_log(rejects)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(downstream.wait_for_log(rejects)) == 2


def test_quoted_local_parts_go_to_postfix_as_they_are(downstream):
    quoted = '"a b"@example.net'
    msg = as_client("192.0.2.13").replace(b"<carol@example.org>", b'<"c d"@example.org>')
    done = inject(["--port", str(downstream.ports["authorized"]), "--state-dir", "none",
                   "--", quoted], msg)
    assert done.returncode == 0, done.stderr
    (req,) = requests_from(downstream, "192.0.2.13")  # Postfix's internal form: unquoted
    assert (req["sender"], req["recipient"]) == ("c d@example.org", "a b@example.net")
    assert downstream.wait_for_log(r'from=<"c d"@example\.org>')


def test_ipv6_addr_refused_by_an_ipv4_only_postfix_is_quarantined_after_the_bound(
        downstream, tmp_path):
    """Postfix without IPv6 answers XCLIENT ADDR=IPV6:... with 501: retried, but only
    --max-attempts times, then quarantined with the reason."""
    msg = as_client("IPv6:2001:db8::8")
    args = ["--port", str(downstream.ports["authorized"]), "--state-dir",
            str(tmp_path / "state"), "--max-attempts", "2", "--on-reject",
            f"quarantine:{tmp_path}/q", RCPT]
    first = inject(args, msg)
    assert first.returncode == 75 and b"stage=xclient reply=\"501" in first.stderr, first.stderr
    second = inject(args, msg)
    assert second.returncode == 0 and b"gave up after 2 deferred attempts" in second.stderr
    (name,) = os.listdir(tmp_path / "q" / "new")
    why = email.message_from_bytes((tmp_path / "q" / "new" / name).read_bytes())[
        "X-Xclient-Inject-Rejected"]
    assert why.startswith("gave up after 2 deferred attempts") and "501" in why


def test_a_link_planted_in_the_quarantine_is_never_mailed(downstream, tmp_path):
    """A real run over a quarantine holding a good message, a symbolic link and a hard link
    to a 'secret' file that reads as a perfectly injectable message: only the good one goes
    to Postfix; the links are reported and left alone."""
    from run_module import run_module  # pylint: disable=import-outside-toplevel
    secret = tmp_path / "secret"
    secret.write_bytes(b"X-Xclient-Inject-Envelope-From: <carol@example.org>\r\n"
                       b"X-Xclient-Inject-Envelope-To: " + RCPT.encode() + b"\r\n"
                       + as_client("192.0.2.77"))
    root = tmp_path / "q"
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    (root / "new" / "good").write_bytes(secret.read_bytes().replace(b"[192.0.2.77]",
                                                                    b"[192.0.2.78]"))
    os.symlink(secret, root / "new" / "link")
    os.link(secret, root / "cur" / "hard")
    out = run_module("xclient_inject", {"path": str(root), "port": downstream.ports["authorized"],
                                        "received_by": MX, "helo": "inject.example",
                                        "fail_on_rejected": False})
    outcomes = {os.path.basename(m["path"]): (m["outcome"], m["stage"]) for m in out["messages"]}
    assert outcomes == {"good": ("accepted", "data"), "link": ("error", "file"),
                        "hard": ("error", "file")}, out
    assert len(downstream.wait_for_log(r"client=unknown\[192\.0\.2\.78\]")) == 1
    assert requests_from(downstream, "192.0.2.77") == []
    assert os.path.islink(root / "new" / "link") and (root / "cur" / "hard").exists()
