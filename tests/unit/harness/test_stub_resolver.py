# SPDX-License-Identifier: GPL-3.0-or-later
"""The stub resolver's answer: NXDOMAIN with the query's id and question."""

from __future__ import annotations

import socket
import struct

from stub_resolver import StubResolver, nxdomain_reply

# A PTR query for 10.0.0.127.in-addr.arpa, id 0x1234, RD set.
QNAME = b"".join(bytes([len(p)]) + p for p in b"10.0.0.127.in-addr.arpa".split(b".")) + b"\0"
QUERY = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + QNAME + struct.pack("!HH", 12, 1)


def test_nxdomain_reply_echoes_id_and_question():
    reply = nxdomain_reply(QUERY)
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", reply[:12])
    assert (qid, qd, an, ns, ar) == (0x1234, 1, 0, 0, 0)
    assert flags & 0x8000 and flags & 0x000F == 3 and flags & 0x0100  # QR, NXDOMAIN, RD
    assert reply[12:] == QUERY[12:]


def test_nxdomain_reply_ignores_what_is_not_a_query():
    assert nxdomain_reply(b"short") is None
    assert nxdomain_reply(nxdomain_reply(QUERY)) is None  # a response
    assert nxdomain_reply(QUERY[:-3]) is None  # truncated question


def test_stub_answers_over_udp():
    stub = StubResolver()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(QUERY, (stub.address, 53))
            reply = sock.recvfrom(512)[0]
        assert reply == nxdomain_reply(QUERY) and stub.queries == 1
        assert stub.resolv_conf().startswith(f"nameserver {stub.address}\n")
    finally:
        stub.close()
