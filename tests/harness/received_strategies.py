# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hypothesis strategies for what a sender controls in a Received: header (the HELO, the
recipient in ``for``, an ident reply, headers of its own below the MX's), shared by the
unit property tests (headers written the way Postfix and Exim write them) and the
real-Postfix one."""

from __future__ import annotations

from hypothesis import strategies as st

DATE = "Tue, 24 Nov 2026 10:00:01 +0100 (CET)"
# Pieces of Received headers and addresses a sender would use to steer a reader.
TOKENS = [
    "by", "BY", "By", "from", "with", "id", "for", "via", "HELO", "EHLO", "helo=", "port=",
    "ident=", "(", ")", "[", "]", "<", ">", ";", ":", "@", '"', "\\", ".", "(localhost",
    "(exim ", "(Exim 4.96)", "(Postfix)", "(8.17.1/8.17.1)", "ESMTP", "SMTP", "esmtps",
    "unknown", "localhost", "verified", "(may be forged)", "softdnserr", "127.0.0.1",
    "[127.0.0.1]", "[IPv6:::1]", "::1", "192.0.2.66", "[192.0.2.66]", "[192.0.2.66]:25",
    "(192.0.2.66)", "(unknown [192.0.2.66])", "(localhost [127.0.0.1])",
    "(evil.example [192.0.2.66])", "mx.upstream.example", "mx.upstream.example.",
    "mx.upstream.test", "by mx.upstream.example (Postfix) with ESMTP id 4Nq2",
    "by mx.upstream.test (Postfix) with ESMTP id 4Nq2", "with SMTP id X", "for <a@b>",
    "with esmtp (Exim 4.96) id 1tA2b3-000Cde-1F", "(HELO x)", "(account a@b HELO x)",
    "Microsoft SMTP Server", "(CommuniGate Pro SMTP 6.3)", f"; {DATE}",
]
PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7e)
_piece = st.one_of(st.sampled_from(TOKENS), st.text(PRINTABLE, min_size=1, max_size=8))
# What a sender writes where the MTA records its words: pieces joined by blanks or not.
sender_text = st.lists(_piece, min_size=1, max_size=12).flatmap(
    lambda parts: st.sampled_from([" ", ""]).map(lambda sep: sep.join(parts)))
hostname = st.from_regex(r"\A[a-z](?:[a-z0-9-]{0,8}[a-z0-9])?"
                         r"(?:\.[a-z](?:[a-z0-9-]{0,8}[a-z0-9])?){1,3}\Z")
client_addr = st.one_of(st.sampled_from(["203.0.113.9", "198.51.100.7", "192.0.2.10"]),
                        st.integers(1, 254).map(lambda n: f"203.0.113.{n}"),
                        st.integers(1, 0xffff).map(lambda n: f"2001:db8::{n:x}"))
# Received headers of the sender's own, below the MX's.
forged_lower = st.lists(sender_text.map(lambda t: "from " + t), max_size=3)
