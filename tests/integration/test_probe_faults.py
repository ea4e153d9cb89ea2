# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults: each case ends as an error with a clear message inside its timeout, and the
other cases go on. Server-side faults come from FakeSmtpFaultServer (fault injection only);
the healthy cases in the same run go to the real private Postfix."""

from __future__ import annotations

import time

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import parse_cases
from ansible_collections.mailops.xclient.plugins.module_utils._probe_runner import (
    ProbeTarget,
    run_case,
    run_cases,
)
from private_postfix import PrivatePostfix, free_port, running_instance

import fake_smtp_fault_server as fake

CASE = {"name": "fault", "xclient": {"addr": "192.0.2.50"}, "mail_from": "p@example.org",
        "rcpt_to": ["postmaster@example.net"], "expect": {"rcpt": "accept"}}


def run_against(script, timeout=2.0):
    server = fake.FakeSmtpFaultServer(script)
    try:
        spec = parse_cases([CASE])[0]
        started = time.monotonic()
        result = run_case(spec, ProbeTarget(server="127.0.0.1", port=server.port,
                                            timeout=timeout, helo="probe.test"))
        return result, time.monotonic() - started
    finally:
        server.close()


@pytest.mark.parametrize("script,needle", [
    (fake.tarpit, "timed out after 2s waiting for the reply to EHLO"),
    (fake.silent, "timed out after 2s reading the greeting"),
    (fake.malformed, "malformed reply waiting for the reply to XCLIENT: not an SMTP reply"),
    (fake.truncated, "server closed the connection waiting for the reply to XCLIENT,"
                     " in the middle of a line"),
    (fake.closes_after_xclient, "server closed the connection waiting for the reply to EHLO"),
    (fake.endless_reply, "line longer than 4096"),
])
def test_server_faults_end_as_errors_within_timeout(script, needle):
    result, elapsed = run_against(script)
    assert result["status"] == "error"
    assert not result["passed"]
    assert needle in result["error"]
    assert elapsed < 2.0 + 3.0  # ends at the 2 s timeout, not later
    assert result["transcript"]  # failures keep their transcript


def test_connection_refused_is_an_error():
    port = free_port()  # nothing listens there
    spec = parse_cases([CASE])[0]
    result = run_case(spec, ProbeTarget(server="127.0.0.1", port=port, timeout=2))
    assert result["status"] == "error"
    assert result["error"].startswith(f"cannot connect to 127.0.0.1:{port}")
    assert "refused" in result["error"].lower()


def test_unreachable_source_address_is_an_error():
    spec = parse_cases([CASE])[0]
    result = run_case(spec, ProbeTarget(server="127.0.0.1", port=free_port(), timeout=2,
                                        source_address="192.0.2.1"))
    assert result["status"] == "error"
    assert "from 192.0.2.1" in result["error"]


def test_faulty_cases_do_not_stop_healthy_ones(postfix_instance):
    server = fake.FakeSmtpFaultServer(fake.tarpit)
    try:
        healthy = parse_cases([dict(CASE, name=f"ok-{i}",
                                    xclient={"addr": f"192.0.2.{150 + i}"}) for i in range(6)])
        target = ProbeTarget(server="127.0.0.1", port=postfix_instance.ports["authorized"],
                             timeout=5, helo="probe.test")
        tarpit_target = ProbeTarget(server="127.0.0.1", port=server.port, timeout=1.5)
        started = time.monotonic()
        # A tarpitted case and healthy cases share one pool of 3 workers.
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(3) as pool:
            bad = pool.submit(run_case, parse_cases([CASE])[0], tarpit_target)
            good = run_cases(healthy, target, concurrency=2)
            bad = bad.result()
        assert bad["status"] == "error" and "timed out" in bad["error"]
        assert [r["status"] for r in good] == ["passed"] * 6
        assert time.monotonic() - started < 15  # healthy cases not held up by the tarpit
    finally:
        server.close()


def test_progress_is_reported_while_cases_run(monkeypatch):
    # issue 20: anything that can take more than a few seconds says so (the module logs
    # these calls); here every done session is reported (PROGRESS_EVERY = 0)
    from ansible_collections.mailops.xclient.plugins.module_utils import _probe_runner

    monkeypatch.setattr(_probe_runner, "PROGRESS_EVERY", 0.0)
    server = fake.FakeSmtpFaultServer(fake.first_silent_then_rcpt_550())
    calls = []
    try:
        specs = parse_cases([dict(CASE, name=f"p{i}", expect={"rcpt": "rejected"})
                             for i in range(4)])
        run_cases(specs, ProbeTarget(server="127.0.0.1", port=server.port, timeout=1.0,
                                     helo="probe.test"), concurrency=2,
                  progress=lambda done, total: calls.append((done, total)))
    finally:
        server.close()
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)], calls


def _rcpt_answered_then_421(rcpt_reply):
    """FAKE: MAIL 250; the RCPT 'reply' is ``rcpt_reply`` with a 421 behind it in one
    write, then the server closes."""
    def script(conn):
        fake.ehlo_ok(conn)
        fake.read_command(conn)  # MAIL
        conn.sendall(b"250 2.1.0 Ok\r\n")
        fake.read_command(conn)  # RCPT
        conn.sendall(rcpt_reply + b"421 4.7.0 fake.test Error: closing\r\n")
    return script


@pytest.mark.parametrize("rcpt_reply,expect,status", [
    # MAIL's 250 again, late, taken for the RCPT reply while the real answer, a 421, is
    # passed over at RSET: a desync, never a pass
    (b"250 2.1.0 Ok\r\n", "accepted", "error"),
    # Postfix's own "too many errors": an error reply, then 421 unasked - the case stands
    (b"554 5.7.1 <b@example.net>: Relay access denied\r\n", "rejected", "passed"),
])
def test_a_421_behind_the_last_reply(rcpt_reply, expect, status):
    server = fake.FakeSmtpFaultServer(_rcpt_answered_then_421(rcpt_reply))
    try:
        (r,) = run_cases(parse_cases([{"name": "c", "mail_from": "a@example.org",
                                       "rcpt_to": ["b@example.net"],
                                       "expect": {"rcpt": expect}}]),
                         ProbeTarget(server="127.0.0.1", port=server.port, timeout=10,
                                     helo="probe.test"))
    finally:
        server.close()
    assert r["status"] == status, r
    if status == "error":
        assert "421" in r["error"] and "out of step" in r["error"], r["error"]


class _TooManyErrors(PrivatePostfix):
    """A real Postfix that closes after one error: smtpd_hard_error_limit=1."""

    def listeners(self):
        lines = super().listeners()
        at = lines.index(f"127.0.0.1:{self.ports['authorized']} inet n - n - - smtpd")
        return lines[:at + 1] + ["  -o smtpd_hard_error_limit=1",
                                 "  -o smtpd_error_sleep_time=0"] + lines[at + 1:]


def test_postfix_closing_after_too_many_errors_leaves_the_verdict():
    # real Postfix: 554 at RCPT, then "421 4.7.0 ... Error: too many errors" unasked
    with running_instance("xclient-pf-errlimit-", cls=_TooManyErrors) as inst:
        (r,) = run_cases(parse_cases([{
            "name": "relay", "xclient": {"addr": "192.0.2.9"}, "mail_from": "a@example.org",
            "rcpt_to": ["x@elsewhere.example"], "expect": {"rcpt": "rejected"}}]),
            ProbeTarget(server="127.0.0.1", port=inst.ports["authorized"], timeout=10,
                        helo="probe.test"), transcript_mode="all")
    assert r["status"] == "passed", r
    assert any("Error: too many errors" in line for line in r["transcript"]), r["transcript"]
