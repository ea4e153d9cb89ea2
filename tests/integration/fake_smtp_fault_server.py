# SPDX-License-Identifier: GPL-3.0-or-later
"""A FAKE SMTP server, used only to inject faults a real Postfix will not produce on
demand: a tarpit, malformed or truncated replies, a close in the middle of a session.
Never used to stand in for Postfix's behaviour."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, List


class FakeSmtpFaultServer:
    """Listens on 127.0.0.1; ``script(conn)`` plays one fault per connection."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        self.script = script
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            self.script(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._accept.join(2)


def read_command(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = conn.recv(1)
        if not chunk:
            raise OSError("client went away")
        data += chunk
    return data.decode().strip()


def ehlo_ok(conn: socket.socket) -> None:
    conn.sendall(b"220 fake.test ESMTP fault injector\r\n")
    read_command(conn)
    conn.sendall(b"250-fake.test\r\n250-XCLIENT NAME ADDR\r\n250 8BITMIME\r\n")


def tarpit(conn: socket.socket) -> None:
    """Greets, then trickles the EHLO reply one byte every 0.3 s, forever."""
    conn.sendall(b"220 fake.test ESMTP tarpit\r\n")
    read_command(conn)
    for ch in b"250-fake.test\r\n" * 1000:
        conn.sendall(bytes([ch]))
        time.sleep(0.3)


def silent(conn: socket.socket) -> None:
    """Accepts and never says anything."""
    time.sleep(8)


def malformed(conn: socket.socket) -> None:
    ehlo_ok(conn)
    read_command(conn)  # XCLIENT
    conn.sendall(b"2x0 what is this\r\n")


def truncated(conn: socket.socket) -> None:
    ehlo_ok(conn)
    read_command(conn)
    conn.sendall(b"220 fake.test ESMT")  # and close mid-line


def closes_after_xclient(conn: socket.socket) -> None:
    ehlo_ok(conn)
    read_command(conn)
    conn.sendall(b"220 fake.test ESMTP\r\n")
    read_command(conn)  # EHLO, then hang up without a word


def endless_reply(conn: socket.socket) -> None:
    conn.sendall(b"220 fake.test ESMTP\r\n")
    read_command(conn)
    conn.sendall(b"250-" + b"x" * 100000)


# ----------------------------------------------------------------- issue 11: faults a real
# Postfix will not produce on demand (desync, 421, hostile reply text).

def hold(conn: socket.socket, seconds: float = 8) -> None:
    """Keep the connection open and say nothing more (a client waiting would hang)."""
    conn.settimeout(seconds)
    try:
        while conn.recv(512):
            pass
    except OSError:
        pass


def desync_two_greetings(conn: socket.socket) -> None:
    """XCLIENT answered with two 220 lines in one write, RCPT with 550: a client that
    does not count replies reads every later reply one step late (RCPT 'gets' 250)."""
    ehlo_ok(conn)
    read_command(conn)  # XCLIENT
    conn.sendall(b"220 fake.test ESMTP\r\n220 fake.test ESMTP again\r\n")
    _shifted_rest(conn)


def desync_late_extra(conn: socket.socket) -> None:
    """The same, but the extra 220 comes a moment later, after the client sent EHLO."""
    ehlo_ok(conn)
    read_command(conn)  # XCLIENT
    conn.sendall(b"220 fake.test ESMTP\r\n")
    time.sleep(0.2)
    conn.sendall(b"220 fake.test ESMTP again\r\n")
    _shifted_rest(conn)


def _shifted_rest(conn: socket.socket) -> None:
    for reply in (b"250-fake.test\r\n250 8BITMIME\r\n",  # EHLO
                  b"250 2.1.0 Ok\r\n",  # MAIL
                  b"550 5.7.1 rejected\r\n",  # RCPT
                  b"250 2.0.0 Ok\r\n", b"221 2.0.0 Bye\r\n"):
        read_command(conn)
        conn.sendall(reply)


def greeting_421(conn: socket.socket) -> None:
    conn.sendall(b"421 4.3.2 fake.test Service shutting down\r\n")
    hold(conn)


def rcpt_421(conn: socket.socket) -> None:
    ehlo_ok(conn)
    read_command(conn)  # XCLIENT
    conn.sendall(b"220 fake.test ESMTP\r\n")
    read_command(conn)  # EHLO
    conn.sendall(b"250 fake.test\r\n")
    read_command(conn)  # MAIL
    conn.sendall(b"250 2.1.0 Ok\r\n")
    read_command(conn)  # RCPT
    conn.sendall(b"421 4.4.2 fake.test Error: timeout exceeded\r\n")
    hold(conn)


def hostile_rcpt_text(conn: socket.socket) -> None:
    """RCPT answered with a text made to make a backtracking regex run for minutes."""
    ehlo_ok(conn)
    read_command(conn)
    conn.sendall(b"220 fake.test ESMTP\r\n")
    read_command(conn)
    conn.sendall(b"250 fake.test\r\n")
    read_command(conn)
    conn.sendall(b"250 2.1.0 Ok\r\n")
    read_command(conn)
    conn.sendall(b"550 5.7.1 " + b"a" * 40 + b"!\r\n")
    hold(conn, 3)


def unicode_digit_code(conn: socket.socket) -> None:
    """A reply code of Unicode digits (Python's isdigit() says yes, int() says no)."""
    conn.sendall("²²² fake.test\r\n".encode())
    hold(conn, 3)


def first_silent_then_rcpt_550() -> Callable[[socket.socket], None]:
    """The first connection gets nothing (its case runs into its timeout); every later one
    an ordinary dialogue whose RCPT is refused with a known text."""
    counter = [0]
    lock = threading.Lock()

    def script(conn: socket.socket) -> None:
        with lock:
            counter[0] += 1
            first = counter[0] == 1
        if first:
            hold(conn, 4)
            return
        ehlo_ok(conn)
        read_command(conn)  # XCLIENT
        conn.sendall(b"220 fake.test ESMTP\r\n")
        for reply in (b"250 fake.test\r\n", b"250 2.1.0 Ok\r\n",
                      b"550 5.7.1 blocked by fake policy\r\n", b"250 2.0.0 Ok\r\n",
                      b"221 2.0.0 Bye\r\n"):
            read_command(conn)
            conn.sendall(reply)
    return script


def idle_421(conn: socket.socket) -> None:
    """A 421 sent unasked after the EHLO reply, as Postfix does for an idle client."""
    conn.sendall(b"220 fake.test ESMTP\r\n")
    read_command(conn)
    conn.sendall(b"250-fake.test\r\n250 XCLIENT NAME ADDR\r\n"
                 b"421 4.4.2 fake.test Error: timeout exceeded\r\n")
    hold(conn, 4)
