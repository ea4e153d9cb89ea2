# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Property (issue 20): one reply per command, checked everywhere. Against a server that
sends one reply late, doubled or early at any stage of the dialogue - the greeting,
EHLO, XCLIENT, the EHLO after it, MAIL, each RCPT, DATA's 354, the message, RSET, QUIT -
the case ends as an error, never as a pass or an ordinary failure; against the same
server without the fault, never as an error.

The server here is a FAKE DESYNC SERVER (a real Postfix does not get out of step on
demand): it plays an ordinary dialogue with replies drawn per stage, and at one drawn
reply it misbehaves:

- ``doubled``: that reply twice, in one write;
- ``late``: that reply again, a moment late - sent with the reply to the next command,
  in one write (the stale copy first: a client that does not count reads it as the
  next command's answer, e.g. MAIL's 250 taken for the RCPT reply while the real 554 is
  passed over);
- ``early``: with that reply, in the same write, a reply to the command that has not
  been sent yet (e.g. a 250 right behind DATA's 354), and then no reply to it.

Each fault goes out in one write, so what the client can see does not depend on timing.

`make test` draws the same examples every run (tests/conftest.py); to look for new
failures: MAILOPS_XCLIENT_EXPLORE=1 DESYNC_EXAMPLES=5000 python3 -m pytest -s
tests/integration/test_probe_desync_property.py"""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter
from typing import Any, Dict, Optional

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    parse_case,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_runner import (
    ProbeTarget,
    run_case,
)

import fake_smtp_fault_server as fake

EHLO = b"250-fake.test\r\n250-XCLIENT NAME ADDR HELO\r\n250 8BITMIME\r\n"
REPLIES = {  # stage -> the replies the server may draw for it
    "xclient": [b"220 fake.test ESMTP\r\n", b"550 5.7.0 Error: insufficient authorization\r\n",
                b"554 5.7.1 <x[192.0.2.9]>: Client host rejected: Access denied\r\n"],
    "helo": [EHLO, b"501 5.5.2 <bad_helo>: Helo command rejected: Invalid name\r\n"],
    "mail": [b"250 2.1.0 Ok\r\n", b"553 5.7.1 <a@example.org>: Sender address rejected\r\n"],
    "rcpt": [b"250 2.1.5 Ok\r\n", b"554 5.7.1 <b@example.net>: Relay access denied\r\n",
             b"450 4.7.1 <b@example.net>: Recipient address rejected: later\r\n"],
    "data": [b"354 End data with <CR><LF>.<CR><LF>\r\n", b"554 5.5.1 Error: no valid recipients\r\n"],
    "message": [b"250 2.0.0 Ok: queued as 4ABCDEF\r\n", b"451 4.3.0 Error: queue file write error\r\n"],
}
EARLY = b"250 2.0.0 Ok\r\n"  # a reply to a command not yet sent
FIGURES: Counter = Counter()


class Plan:
    """What the fake server answers in the next connection, and where it misbehaves."""

    def __init__(self, choice: Dict[str, int], fault: str, at: int) -> None:
        self.choice = choice
        self.fault = fault  # none, doubled, late, early
        self.at = at  # index of the faulty reply (0: the greeting)
        self.fired: Optional[str] = None  # the stage whose reply misbehaved

    def reply(self, stage: str, nth: int = 0) -> bytes:
        if stage in ("greeting", "ehlo"):
            return b"220 fake.test ESMTP\r\n" if stage == "greeting" else EHLO
        if stage == "rset":
            return b"250 2.0.0 Ok\r\n"
        if stage == "quit":
            return b"221 2.0.0 Bye\r\n"
        if stage == "rcpt":
            return REPLIES["rcpt"][(self.choice["rcpt"] + nth) % len(REPLIES["rcpt"])]
        return REPLIES[stage][self.choice[stage] % len(REPLIES[stage])]


class DesyncServer:
    """FAKE: plays ``plan`` for each connection (one case at a time)."""

    def __init__(self) -> None:
        self.plan: Optional[Plan] = None
        self.done = threading.Event()
        self.server = fake.FakeSmtpFaultServer(self._script)
        self.port = self.server.port

    def close(self) -> None:
        self.server.close()

    def _script(self, conn: socket.socket) -> None:
        plan = self.plan
        assert plan is not None
        try:
            self._dialogue(conn, plan)
        finally:
            self.done.set()

    def _dialogue(self, conn: socket.socket, plan: Plan) -> None:
        buf = bytearray()
        index = 0
        pending_late = b""  # a stale copy to send before the next reply
        withheld = False  # "early" already answered the next command
        in_data = False
        rcpts = 0

        def send(stage: str, reply: bytes) -> None:
            nonlocal index, pending_late, withheld
            out = pending_late + reply
            pending_late = b""
            if index == plan.at and plan.fault != "none":
                plan.fired = stage
                if plan.fault == "doubled":
                    out += reply
                elif plan.fault == "late":
                    pending_late = reply
                elif plan.fault == "early":
                    out += EARLY
                    withheld = True
            index += 1
            conn.sendall(out)

        send("greeting", plan.reply("greeting"))
        xclient_seen = False
        while True:
            if in_data:
                end = buf.find(b"\r\n.\r\n")
                if end < 0 and not buf.startswith(b".\r\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                    continue
                del buf[:(end + 5) if end >= 0 else 3]
                in_data = False
                stage, reply = "message", plan.reply("message")
            else:
                end = buf.find(b"\r\n")
                if end < 0:
                    chunk = conn.recv(65536)
                    if not chunk:
                        if pending_late:  # the stale copy still goes out
                            conn.sendall(pending_late)
                        return
                    buf += chunk
                    continue
                line = bytes(buf[:end])
                del buf[:end + 2]
                verb = line.split(b" ", 1)[0].upper().decode("ascii", "replace")
                stage = {"EHLO": "helo" if xclient_seen else "ehlo", "HELO": "helo",
                         "XCLIENT": "xclient", "MAIL": "mail", "RCPT": "rcpt",
                         "DATA": "data", "RSET": "rset", "QUIT": "quit"}.get(verb, "rset")
                if stage == "xclient":
                    xclient_seen = True
                reply = plan.reply(stage, rcpts)
                if stage == "rcpt":
                    rcpts += 1
                if stage == "data" and reply.startswith(b"354"):
                    in_data = True
            if withheld:  # "early": this command had its answer already
                withheld = False
                index += 1
                continue
            send(stage, reply)
            if stage == "quit":
                if pending_late:  # late after QUIT: nothing follows, it comes now
                    conn.sendall(pending_late)
                return


def expectation(code: bytes) -> str:
    return {b"2": "accepted", b"3": "accepted", b"4": "deferred", b"5": "rejected"}[code[:1]]


def check_one(server: DesyncServer, shape: Dict[str, Any], plan: Plan) -> None:
    rcpt_to = ["b@example.net", "c@example.net"][:shape["rcpts"]]
    raw: Dict[str, Any] = {"name": "desync", "mail_from": "a@example.org", "rcpt_to": rcpt_to}
    if shape["xclient"]:
        raw["xclient"] = {"addr": "192.0.2.9", "helo": "bad_helo"}
        outcome = plan.reply("xclient")
        raw["expect"] = {"xclient": "accepted" if outcome.startswith(b"220")
                         else "refused" if b"insufficient" in outcome else "rejected"}
    else:
        raw["expect"] = {}
    # expect what the server will say, so that a reply taken out of step would pass
    raw["expect"]["rcpt"] = expectation(plan.reply("rcpt"))
    if shape["data"]:
        raw["data"] = "Subject: desync\n\nbody\n"
    spec = parse_case(0, raw)
    server.plan = plan
    server.done.clear()
    result = run_case(spec, ProbeTarget(server="127.0.0.1", port=server.port, timeout=10,
                                        helo="probe.test"), transcript_mode="all")
    assert server.done.wait(15), "the fake server never ended the session"
    if plan.fired:
        FIGURES[f"{plan.fault} at {plan.fired}"] += 1
        FIGURES["faults"] += 1
        assert result["status"] == "error", (plan.fault, plan.fired, result)
        assert any(word in result["error"] for word in (
            "nobody asked for", "out of step", "cannot answer")), result["error"]
    else:
        FIGURES["clean"] += 1
        assert result["status"] != "error", result
        FIGURES[f"clean {result['status']}"] += 1


SHAPE = st.fixed_dictionaries({"xclient": st.booleans(), "rcpts": st.integers(1, 2),
                               "data": st.booleans()})
PLAN = st.builds(Plan, st.fixed_dictionaries({k: st.integers(0, 2) for k in REPLIES}),
                 st.sampled_from(["none", "doubled", "late", "early"]), st.integers(0, 11))
EXAMPLES = int(os.environ.get("DESYNC_EXAMPLES", "250"))
ALL_OK = {"xclient": 0, "helo": 0, "mail": 0, "rcpt": 0, "data": 0, "message": 0}
FULL = {"xclient": True, "rcpts": 1, "data": True}


def test_a_reply_out_of_step_anywhere_is_an_error():
    server = DesyncServer()
    FIGURES.clear()

    @settings(max_examples=EXAMPLES)  # the rest: the profile in tests/conftest.py
    @given(SHAPE, PLAN)
    # The two false passes: MAIL's 250 again, late, taken for the RCPT reply
    # while the real 554 is passed over (it showed only at RSET, where quit() swallowed
    # it); and a 250 right behind DATA's 354 taken for the message's reply.
    @example(FULL, Plan(dict(ALL_OK, rcpt=1), "late", 4))
    @example(FULL, Plan(ALL_OK, "early", 6))
    @example(FULL, Plan(dict(ALL_OK, helo=1), "late", 3))
    def prop(shape, plan):
        check_one(server, shape, plan)

    # and always: each fault at every reply of a full dialogue (greeting, EHLO, XCLIENT,
    # EHLO, MAIL, RCPT, DATA, message, RSET, QUIT = replies 0 to 9)
    for fault in ("doubled", "late", "early"):
        for at in range(10):
            prop = example(FULL, Plan(ALL_OK, fault, at))(prop)

    try:
        prop()
    finally:
        server.close()
    print(f"desync property: {dict(sorted(FIGURES.items()))}")
    assert FIGURES["faults"] >= EXAMPLES // 3 and FIGURES["clean"] >= 10, FIGURES
    for fault in ("doubled", "late", "early"):
        for stage in ("greeting", "ehlo", "xclient", "helo", "mail", "rcpt", "data",
                      "message", "rset", "quit"):
            assert FIGURES[f"{fault} at {stage}"] >= 1, (fault, stage, FIGURES)
