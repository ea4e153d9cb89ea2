# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Received: headers as real MTAs write them -> the identity XCLIENT hands Postfix."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._received import (
    Identity,
    ReceivedError,
    header_fields,
    identity_for,
    parse_received,
    received_by_host,
    received_headers,
    trusted_received,
)

U = "[UNAVAILABLE]"

CASES = {
    # Postfix: from HELO (NAME [ADDR])
    "postfix": (
        "from mail.example.org (mail.example.org [192.0.2.10]) by mx.example.net (Postfix)"
        " with ESMTPS id 4Nq2Yk0Z3Jz9sWq for <bob@example.net>; Tue, 24 Nov 2026 10:00:00"
        " +0100 (CET)",
        Identity("192.0.2.10", "mail.example.org", "mail.example.org", "ESMTP")),
    "postfix helo differs": (
        "from laptop.local (dsl-7.isp.example [198.51.100.7]) by mx.example.net (Postfix)"
        " with ESMTP id 4Nq2Yk; Tue, 24 Nov 2026 10:00:00 +0100",
        Identity("198.51.100.7", "dsl-7.isp.example", "laptop.local", "ESMTP")),
    "postfix unknown": (
        "from helo.example (unknown [203.0.113.5]) by mx.example.net (Postfix) with SMTP"
        " id 4Nq; Tue, 24 Nov 2026 10:00:00 +0100",
        Identity("203.0.113.5", U, "helo.example", "SMTP")),
    "postfix ipv6": (
        "from mail6.example.org (mail6.example.org [IPv6:2001:db8:0:0::25]) by"
        " mx.example.net (Postfix) with ESMTPSA id 4Nq; Tue, 24 Nov 2026 10:00:00 +0100",
        Identity("2001:db8::25", "mail6.example.org", "mail6.example.org", "ESMTP")),
    "postfix sasl header": (
        "from client.example (unknown [192.0.2.44]) (Authenticated sender: alice) by"
        " mx.example.net (Postfix) with ESMTPSA id 4Nq; Tue, 24 Nov 2026 10:00:00 +0100",
        Identity("192.0.2.44", U, "client.example", "ESMTP")),
    # Sendmail
    "sendmail": (
        "from helo.example.org (host.example.org [192.0.2.20]) by mx.example.net"
        " (8.17.1.9/8.17.1.9) with ESMTP id 3AOA0Oxx012345 for <bob@example.net>;"
        " Tue, 24 Nov 2026 10:00:00 +0100",
        Identity("192.0.2.20", "host.example.org", "helo.example.org", "ESMTP")),
    "sendmail no reverse name": (
        "from helo.example.org ([192.0.2.21]) by mx.example.net (8.17.1.9/8.17.1.9) with"
        " SMTP id 3AOA0Oxx; Tue, 24 Nov 2026 10:00:00 +0100",
        Identity("192.0.2.21", U, "helo.example.org", "SMTP")),
    "sendmail ident and may be forged": (
        "from helo.example (user@forged.example [192.0.2.22] (may be forged)) by"
        " mx.example.net (8.15.2/8.15.2) with ESMTP id x; Tue, 24 Nov 2026 10:00:00 +0100",
        Identity("192.0.2.22", U, "helo.example", "ESMTP")),
    "sendmail ipv6": (
        "from helo.example (host6.example [IPv6:2001:db8::20]) by mx.example.net"
        " (8.17.1.9/8.17.1.9) with ESMTP id x; Tue, 24 Nov 2026 10:00:00 +0100",
        Identity("2001:db8::20", "host6.example", "helo.example", "ESMTP")),
    # Exim
    "exim helo and port": (
        "from mail.example.org ([192.0.2.30]:54321 helo=smtp.example.org) by mx.example.net"
        " with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.96) (envelope-from"
        " <a@example.org>) id 1tA2b3-000Cde-1F for bob@example.net; Tue, 24 Nov 2026"
        " 10:00:00 +0100",
        Identity("192.0.2.30", "mail.example.org", "smtp.example.org", "ESMTP")),
    "exim helo same as name": (
        "from mail.example.org ([192.0.2.31]) by mx.example.net with esmtp (Exim 4.96)"
        " (envelope-from <a@example.org>) id 1tA2b3-000Cde-1F; Tue, 24 Nov 2026 10:00:00"
        " +0100",
        Identity("192.0.2.31", "mail.example.org", "mail.example.org", "ESMTP")),
    "exim no reverse name": (
        "from [192.0.2.32] (port=40000 helo=pc.example) by mx.example.net with smtp"
        " (Exim 4.96) (envelope-from <a@example.org>) id 1tA2b3-000Cde-1F; Tue, 24 Nov"
        " 2026 10:00:00 +0100",
        Identity("192.0.2.32", U, "pc.example", "SMTP")),
    "exim ipv6 with port": (
        "from mail6.example.org ([2001:db8::30]:25000 helo=smtp6.example.org) by"
        " mx.example.net with esmtpsa (Exim 4.96) id 1tA2b3; Tue, 24 Nov 2026 10:00:00"
        " +0100",
        Identity("2001:db8::30", "mail6.example.org", "smtp6.example.org", "ESMTP")),
    # Microsoft Exchange (on premises and Exchange Online)
    "exchange": (
        "from smtp.example.org (192.0.2.40) by EXCH01.corp.example.net (10.1.2.3) with"
        " Microsoft SMTP Server (version=TLS1_2,"
        " cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.2.1258.12; Tue, 24 Nov 2026"
        " 10:00:00 +0100",
        Identity("192.0.2.40", U, "smtp.example.org", "ESMTP")),
    "exchange online ipv6": (
        "from AM6PR04MB1234.eurprd04.prod.outlook.example (2001:db8:20b::1) by"
        " AM6PR04MB5678.eurprd04.prod.outlook.example (2001:db8:20b::2) with Microsoft SMTP"
        " Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id"
        " 15.20.6631.19 via Frontend Transport; Tue, 24 Nov 2026 09:00:00 +0000",
        Identity("2001:db8:20b::1", U, "AM6PR04MB1234.eurprd04.prod.outlook.example",
                 "ESMTP")),
    # Gmail: trailing dots
    "gmail": (
        "from mail-sor-f41.google.example (mail-sor-f41.google.example. [192.0.2.41]) by"
        " mx.google.example with SMTPS id x1sor123.2026.11.24.01.00.00 for"
        " <bob@example.net> (Google Transport Security); Tue, 24 Nov 2026 01:00:00 -0800 (PST)",
        Identity("192.0.2.41", "mail-sor-f41.google.example", "mail-sor-f41.google.example",
                 "ESMTP")),
    "gmail bare ipv6": (
        "from mail-ej1-x62f.google.example (mail-ej1-x62f.google.example."
        " [2001:db8:4864:20::62f]) by mx.google.example with ESMTPS id"
        " a1si2.2026.11.24.01.00.00 for <bob@example.net> (version=TLS1_3"
        " cipher=TLS_AES_128_GCM_SHA256 bits=128/128); Tue, 24 Nov 2026 01:00:00 -0800 (PST)",
        Identity("2001:db8:4864:20::62f", "mail-ej1-x62f.google.example",
                 "mail-ej1-x62f.google.example", "ESMTP")),
    "gmail address literal helo": (
        "from [192.168.1.2] ([203.0.113.9]) by smtp.gmail.example with ESMTPSA id"
        " a1sm2.2026.11.24.01.00.00 (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384"
        " bits=256/256); Tue, 24 Nov 2026 01:00:00 -0800 (PST)",
        Identity("203.0.113.9", U, "[192.168.1.2]", "ESMTP")),
    # qmail
    "qmail": (
        "from unknown (HELO mail.example.org) (192.0.2.50) by mx.example.net with SMTP;"
        " 24 Nov 2026 09:00:00 -0000",
        Identity("192.0.2.50", U, "mail.example.org", "SMTP")),
    "qmail with name and remoteinfo": (
        "from host.example.org (HELO helo.example.org) (user@192.0.2.51) by mx.example.net"
        " with ESMTPA; 24 Nov 2026 09:00:00 -0000",
        Identity("192.0.2.51", "host.example.org", "helo.example.org", "ESMTP")),
    "qmail helo same as name": (
        "from host.example.org (192.0.2.52) by mx.example.net with SMTP; 24 Nov 2026"
        " 09:00:00 -0000",
        Identity("192.0.2.52", "host.example.org", "host.example.org", "SMTP")),
    "ipv4-mapped ipv6": (
        "from h.example (unknown [IPv6:::ffff:192.0.2.60]) by mx.example.net (Postfix) with"
        " ESMTP id 1; Tue, 24 Nov 2026 10:00:00 +0100",
        Identity("192.0.2.60", U, "h.example", "ESMTP")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_formats(name):
    header, expected = CASES[name]
    assert parse_received(header) == expected


@pytest.mark.parametrize("header, why", [
    ("by mx.example.net (Postfix, from userid 0) id 4Nq2; Tue, 24 Nov 2026 10:00:00 +0100",
     "no 'from' part"),
    ("from localhost by mx.example.net (Postfix) with ESMTP id 1; Tue, 24 Nov 2026",
     "no client address"),
    ("(qmail 1234 invoked by uid 89); 24 Nov 2026 09:00:00 -0000", "no 'from' part"),
    ("from helo.example (unknown [999.1.2.3]) by mx.example.net; Tue, 24 Nov 2026",
     "no client address"),
    ("garbage", "no 'from' part"),
    ("", "no 'from' part"),
])
def test_unparsable(header, why):
    with pytest.raises(ReceivedError, match=why):
        parse_received(header)


def test_unknown_protocol_word_gives_esmtp_and_missing_with_too():
    assert parse_received("from h ([192.0.2.1]) by mx with LMTP id x; d").proto == "ESMTP"
    assert parse_received("from h (n.example [192.0.2.1]) by mx; d").proto == "ESMTP"


def test_invalid_reverse_name_becomes_unavailable():
    ident = parse_received("from h (bad_name!.example [192.0.2.1]) by mx.example.net with"
                           " ESMTP id 1; d")
    assert ident == Identity("192.0.2.1", U, "h", "ESMTP")


MESSAGE = (
    b"Return-Path: <alice@example.org>\r\n"
    b"Delivered-To: bob@upstream.example\r\n"
    b"Received: from mx.upstream.example by store.upstream.example (Dovecot) with LMTP"
    b" id abc; Tue, 24 Nov 2026 10:00:02 +0100\r\n"
    b"Received: from mail.example.org (mail.example.org [192.0.2.10])\r\n"
    b"\tby mx.upstream.example (Postfix) with ESMTP id 4Nq2\r\n"
    b"\tfor <bob@upstream.example>; Tue, 24 Nov 2026 10:00:01 +0100\r\n"
    b"Received: from forged.example (trusted.example [198.51.100.99]) by mx.upstream.example"
    b" (Postfix) with ESMTP id FORGED; Tue, 24 Nov 2026 09:00:00 +0100\r\n"
    b"Subject: hi\r\n"
    b"\r\n"
    b"Received: from body.example (body.example [203.0.113.1]) by x; not a header\r\n")


def test_header_fields_unfold_and_stop_at_the_body():
    fields = header_fields(MESSAGE)
    assert [n for n, _v in fields] == ["Return-Path", "Delivered-To", "Received", "Received",
                                       "Received", "Subject"]
    assert fields[3][1] == ("from mail.example.org (mail.example.org [192.0.2.10])\tby"
                            " mx.upstream.example (Postfix) with ESMTP id 4Nq2\tfor"
                            " <bob@upstream.example>; Tue, 24 Nov 2026 10:00:01 +0100")
    assert len(received_headers(MESSAGE)) == 3


def test_header_fields_bare_lf_and_mbox_line():
    msg = b"From alice@example.org Tue Nov 24 10:00:00 2026\nReceived: from a ([192.0.2.1])\n by b; d\nSubject: x\n\nbody\n"
    assert header_fields(msg) == [("Received", "from a ([192.0.2.1]) by b; d"),
                                  ("Subject", "x")]


def test_trust_rule_topmost_matching_by_host():
    ident, header = identity_for(MESSAGE, r"mx\.upstream\.example")
    assert ident == Identity("192.0.2.10", "mail.example.org", "mail.example.org", "ESMTP")
    assert header.startswith("Received: from mail.example.org (mail.example.org")
    assert "\n" not in header and "\r" not in header


def test_trust_rule_ignores_headers_above_and_below():
    # Above: the upstream's internal LMTP hop (no client address); below: a forged header
    # with a matching 'by' that must never be used.
    headers = received_headers(MESSAGE)
    assert trusted_received(headers, r"mx\.upstream\.example") == headers[1]
    # the whole host name must match, not a part of it
    with pytest.raises(ReceivedError, match="no Received: header has a 'by' host"):
        trusted_received(headers, r"upstream\.example")
    # a case-insensitive match, trailing dot ignored
    upper = "from a ([192.0.2.1]) by MX.Upstream.Example. with SMTP; d"
    assert trusted_received([upper], r"mx\.upstream\.example") == upper


def test_without_pattern_the_topmost_header():
    headers = received_headers(MESSAGE)
    assert trusted_received(headers) == headers[0]
    # here that is the upstream's LMTP hop, which records no client: hence --received-by
    with pytest.raises(ReceivedError, match="records no client address"):
        identity_for(MESSAGE)


def test_no_received_header():
    with pytest.raises(ReceivedError, match="no Received: header"):
        identity_for(b"Subject: x\r\n\r\nbody\r\n")


def test_by_host():
    assert received_by_host(CASES["postfix"][0]) == "mx.example.net"
    assert received_by_host(CASES["gmail"][0]) == "mx.google.example"
    assert received_by_host("from a ([192.0.2.1])") is None


def test_semicolon_inside_a_comment_is_not_the_date():
    ident = parse_received("from h (n.example [192.0.2.1]) (x; y) by mx.example.net with SMTP"
                           " id 1; Tue, 24 Nov 2026")
    assert ident == Identity("192.0.2.1", "n.example", "h", "SMTP")


def test_huge_header_refused():
    with pytest.raises(ReceivedError, match="longer than"):
        parse_received("from h ([192.0.2.1]) " + "x" * 20000)
