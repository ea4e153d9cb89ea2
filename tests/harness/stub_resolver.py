# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stub DNS resolver that answers "no such name" (NXDOMAIN) to every query.

A FAKE server, on purpose: the tests need Postfix to see "no such host" for client
addresses without a reverse name (reject_unknown_client_hostname answers 5xx then, and
4xx when the lookup merely fails). A real resolver gives that only when the machine's DNS
works; without one (an offline machine, a private network namespace) every lookup fails
temporarily instead. The private instance is started in a mount namespace of its own whose
/etc/resolv.conf names this stub, so its verdicts never depend on the machine's DNS.
Answers UDP only (glibc asks over TCP only after a truncated UDP answer, and ours never
is).
"""

from __future__ import annotations

import random
import socket
import struct
import threading
from typing import Optional


def nxdomain_reply(query: bytes) -> Optional[bytes]:
    """The NXDOMAIN answer to a DNS query (its id and question echoed), or None if the
    datagram is not a query we can answer."""
    if len(query) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000 or qdcount != 1:  # a response, or not exactly one question
        return None
    end = 12
    while end < len(query) and query[end] != 0:
        end += 1 + query[end]
    end += 5  # the root label, QTYPE, QCLASS
    if end > len(query):
        return None
    opcode_rd = flags & 0x7900  # opcode and RD copied
    reply_flags = 0x8000 | opcode_rd | 0x0080 | 3  # QR, RA, RCODE=NXDOMAIN
    return struct.pack("!HHHHHH", qid, reply_flags, 1, 0, 0, 0) + query[12:end]


class StubResolver:
    """NXDOMAIN for everything, on UDP port 53 of a loopback address of its own."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _attempt in range(50):
            self.address = "127.53.%d.%d" % (random.randint(0, 255), random.randint(1, 254))
            try:
                self.sock.bind((self.address, 53))
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free 127.53.x.y:53 for the stub resolver")
        self.queries = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            reply = nxdomain_reply(data)
            if reply is not None:
                self.queries += 1
                try:
                    self.sock.sendto(reply, peer)
                except OSError:  # closed by close() meanwhile
                    return

    def resolv_conf(self) -> str:
        # answers are immediate; the margin is for a busy machine that schedules the
        # replying thread late (a lost answer turns a 550 into a 450)
        return f"nameserver {self.address}\noptions attempts:2 timeout:3\n"

    def close(self) -> None:
        self.sock.close()
