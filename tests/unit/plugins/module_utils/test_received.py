# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Received: headers as real MTAs write them -> the identity XCLIENT hands Postfix; the
trust path (internal hops skipped, the first external header must be the trusted MX's,
never a lower one); the defects of issue 18, each with the header that showed it."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._received import (
    Identity,
    ReceivedError,
    header_fields,
    identity_for,
    internal_networks,
    parse_received,
    received_headers,
    trusted_identity,
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
    # Gmail: trailing dots. Gmail does not say that it checked the name against the address:
    # not a verified name (NAME is what reject_unknown_client_hostname trusts).
    "gmail": (
        "from mail-sor-f41.google.example (mail-sor-f41.google.example. [192.0.2.41]) by"
        " mx.google.example with SMTPS id x1sor123.2026.11.24.01.00.00 for"
        " <bob@example.net> (Google Transport Security); Tue, 24 Nov 2026 01:00:00 -0800 (PST)",
        Identity("192.0.2.41", U, "mail-sor-f41.google.example", "ESMTP")),
    "gmail bare ipv6": (
        "from mail-ej1-x62f.google.example (mail-ej1-x62f.google.example."
        " [2001:db8:4864:20::62f]) by mx.google.example with ESMTPS id"
        " a1si2.2026.11.24.01.00.00 for <bob@example.net> (version=TLS1_3"
        " cipher=TLS_AES_128_GCM_SHA256 bits=128/128); Tue, 24 Nov 2026 01:00:00 -0800 (PST)",
        Identity("2001:db8:4864:20::62f", U, "mail-ej1-x62f.google.example", "ESMTP")),
    "gmail address literal helo": (
        "from [192.168.1.2] ([203.0.113.9]) by smtp.gmail.example with ESMTPSA id"
        " a1sm2.2026.11.24.01.00.00 (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384"
        " bits=256/256); Tue, 24 Nov 2026 01:00:00 -0800 (PST)",
        Identity("203.0.113.9", U, "[192.168.1.2]", "ESMTP")),
    # qmail: the name is tcpserver's TCPREMOTEHOST, a reverse lookup nobody confirmed
    # (unless tcpserver -p): not a verified name.
    "qmail": (
        "from unknown (HELO mail.example.org) (192.0.2.50) by mx.example.net with SMTP;"
        " 24 Nov 2026 09:00:00 -0000",
        Identity("192.0.2.50", U, "mail.example.org", "SMTP")),
    "qmail with name and remoteinfo": (
        "from host.example.org (HELO helo.example.org) (user@192.0.2.51) by mx.example.net"
        " with ESMTPA; 24 Nov 2026 09:00:00 -0000",
        Identity("192.0.2.51", U, "helo.example.org", "ESMTP")),
    "qmail helo same as name": (
        "from host.example.org (192.0.2.52) by mx.example.net with SMTP; 24 Nov 2026"
        " 09:00:00 -0000",
        Identity("192.0.2.52", U, "host.example.org", "SMTP")),
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
     "records no client"),
    ("from localhost by mx.example.net (Postfix) with ESMTP id 1; Tue, 24 Nov 2026",
     "records no client"),
    ("(qmail 1234 invoked by uid 89); 24 Nov 2026 09:00:00 -0000", "records no client"),
    ("from helo.example (unknown [999.1.2.3]) by mx.example.net (Postfix) with ESMTP id 1;"
     " Tue, 24 Nov 2026", "records no client"),
    ("garbage", "records no client"),
    ("", "records no client"),
    # not SMTP: a web mail user, a fetchmail download
    ("from [192.0.2.7] by webmail.example.net (via HTTP); Tue, 11 Nov 2014 20:32:34 +0100",
     "not SMTP"),
    ("from 192.0.2.8 (NaSMail authenticated user j) by webmail.example.net with HTTP; Fri, 30"
     " Mar 2012 12:39:58 +0100 (BST)", "records no client"),
])
def test_unparsable(header, why):
    with pytest.raises(ReceivedError, match=why):
        parse_received(header)


def test_protocol_words():
    assert parse_received("from h ([192.0.2.1]) by mx with ESMTPSA id x; d").proto == "ESMTP"
    assert parse_received("from h ([192.0.2.1]) by mx with SMTP id x; d").proto == "SMTP"
    with pytest.raises(ReceivedError, match="LMTP, not SMTP"):
        parse_received("from h ([192.0.2.1]) by mx with LMTP id x; d")
    assert parse_received("from h (n.example [192.0.2.1]) by mx; d").proto == "ESMTP"


def test_invalid_reverse_name_becomes_unavailable():
    ident = parse_received("from h (bad_name!.example [192.0.2.1]) by mx.example.net"
                           " (Postfix) with ESMTP id 1; d")
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
MX = r"mx\.upstream\.example"


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


def test_trust_path_skips_the_lmtp_hop_and_never_reads_below():
    ident, header = identity_for(MESSAGE, MX)
    assert ident == Identity("192.0.2.10", "mail.example.org", "mail.example.org", "ESMTP")
    assert header.startswith("Received: from mail.example.org (mail.example.org")
    assert "\n" not in header and "\r" not in header
    # without received_by: the first header with an external client, whoever wrote it
    assert identity_for(MESSAGE)[0] == ident


def test_the_whole_by_host_must_match_case_insensitive_trailing_dot_ignored():
    headers = received_headers(MESSAGE)
    with pytest.raises(ReceivedError, match="is not the trusted MX"):
        trusted_identity(headers, r"upstream\.example")
    upper = "from a (a.example [192.0.2.1]) by MX.Upstream.Example. (Postfix) with SMTP id 1; d"
    assert trusted_identity([upper], MX)[0].addr == "192.0.2.1"


def test_no_received_header():
    with pytest.raises(ReceivedError, match="no Received: header"):
        identity_for(b"Subject: x\r\n\r\nbody\r\n")


def test_semicolon_inside_a_comment_is_not_the_date():
    ident = parse_received("from h (n.example [192.0.2.1]) (x; y) by mx.example.net"
                           " (Postfix) with SMTP id 1; Tue, 24 Nov 2026")
    assert ident == Identity("192.0.2.1", "n.example", "h", "SMTP")


def test_huge_header_refused():
    with pytest.raises(ReceivedError, match="longer than"):
        parse_received("from h ([192.0.2.1]) " + "x" * 20000)


# ---------------------------------------------------------------------------- the trust path
T = (" by mx.upstream.example (Postfix) with ESMTP id 4Nq2Yk0Z3Jz for <bob@upstream.example>;"
     " Tue, 24 Nov 2026 10:00:01 +0100")
# What a sender writes below the MX's header: a loopback client that permit_mynetworks
# would relay for. Every defect below injected it (or another identity the sender chose).
FORGED = ("from localhost (localhost [127.0.0.1]) by mx.upstream.example (Postfix) with ESMTP"
          " id FORGED; Tue, 24 Nov 2026 09:00:00 +0100")


def _message(*headers):
    return b"".join(b"Received: " + h.encode() + b"\r\n" for h in (*headers, FORGED)) + (
        b"Subject: x\r\n\r\nbody\r\n")


# Each failed on the code before issue 18 (it gave the identity in the comment).
DEFECTS = {
    # EHLO by: the MX's own header was unreadable, the forged one below was used
    "EHLO by": ("from by (unknown [203.0.113.9])" + T,
                Identity("203.0.113.9", U, "by", "ESMTP")),  # was localhost[127.0.0.1]
    "EHLO BY": ("from BY (unknown [203.0.113.9])" + T,
                Identity("203.0.113.9", U, "BY", "ESMTP")),  # was localhost[127.0.0.1]
    "EHLO (localhost": ("from (localhost (unknown [203.0.113.9])" + T,
                        Identity("203.0.113.9", U, "(localhost", "ESMTP")),  # was localhost
    "EHLO (exim": ("from (exim (unknown [203.0.113.9])" + T,
                   Identity("203.0.113.9", U, "(exim", "ESMTP")),  # was localhost
    # qmail-ldap with a HELO address literal: the literal became ADDR, "HELO" the NAME
    "qmail HELO [127.0.0.1]": (
        "from unknown (HELO [127.0.0.1]) ([203.0.113.9]) (envelope-sender <a@example.org>) by"
        " mx.upstream.example (qmail-ldap-1.03) with SMTP for <bob@upstream.example>; 28 Nov"
        " 2003 20:44:45 -0000",
        Identity("203.0.113.9", U, "[127.0.0.1]", "SMTP")),  # was 127.0.0.1, name HELO
    # "(exim " anywhere (here the recipient) made the HELO a verified name
    "(exim in the recipient, sendmail": (
        "from evil.example ([203.0.113.9]) by mx.upstream.example (8.17.1/8.17.1) with ESMTP"
        " id 3AOA0Oxx for <\"(exim \"@upstream.example>; Tue, 24 Nov 2026 10:00:00 +0100",
        Identity("203.0.113.9", U, "evil.example", "ESMTP")),  # was NAME=evil.example
    "(exim in the recipient, gmail": (
        "from evil.example ([203.0.113.9]) by mx.upstream.example with ESMTPSA id a1sm2 for"
        " <\"(exim \"@upstream.example> (version=TLS1_3); Tue, 24 Nov 2026 01:00:00 -0800",
        Identity("203.0.113.9", U, "evil.example", "ESMTP")),  # was NAME=evil.example
    # names nobody verified
    "softdnserr": (
        "from m165.example (softdnserr [::ffff:203.0.113.165]) by mx.upstream.example with"
        " esmtp; Sun, 17 Aug 2003 19:30:42 +0300",
        Identity("203.0.113.165", U, "m165.example", "ESMTP")),  # was NAME=softdnserr
    "qmail name is not verified": (
        "from helo.example (203.0.113.52) by mx.upstream.example with SMTP; 24 Nov 2026"
        " 09:00:00 -0000",
        Identity("203.0.113.52", U, "helo.example", "SMTP")),  # was NAME=helo.example
    "communigate HELO": (
        "from [203.0.113.50] (HELO greetings.example) by mx.upstream.example (CommuniGate Pro"
        " SMTP 5.1.3) with SMTP id 1946 for x@upstream.example; Fri, 08 Dec 2006 08:40:46"
        " -0800",
        Identity("203.0.113.50", U, "greetings.example", "SMTP")),  # HELO was lost
    "gmx": (
        "from stgt.example (EHLO user588a01834c) [203.0.113.163] by mx.upstream.example"
        " (mp033) with SMTP; 23 Nov 2012 19:06:20 +0100",
        Identity("203.0.113.163", U, "user588a01834c", "SMTP")),  # was not read
}


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_issue_18_defects(name):
    header, expected = DEFECTS[name]
    assert identity_for(_message(header), MX)[0] == expected


def test_content_filter_loopback_hop_is_skipped():
    """amavis re-injecting over loopback on the upstream MX: its header names the MX too;
    every message was localhost[127.0.0.1] (permit_mynetworks: an open relay)."""
    msg = _message("from localhost (localhost [127.0.0.1])" + T,
                   "from mail.example.org (mail.example.org [192.0.2.10])" + T)
    assert identity_for(msg, MX)[0] == Identity("192.0.2.10", "mail.example.org",
                                                "mail.example.org", "ESMTP")
    ipv6 = _message("from localhost (localhost [IPv6:::1])" + T,
                    "from mail.example.org (unknown [2001:db8::10])" + T)
    assert identity_for(ipv6, MX)[0].addr == "2001:db8::10"


def test_internal_networks_are_skipped_and_only_they():
    """A filter on another host of the provider (198.51.100.0/24 here)."""
    hop = ("from filter.upstream.example (filter.upstream.example [198.51.100.25])" + T)
    msg = _message(hop, "from mail.example.org (mail.example.org [192.0.2.10])" + T)
    assert identity_for(msg, MX)[0].addr == "198.51.100.25"
    nets = internal_networks(["198.51.100.0/24", "[2001:db8:1::]/48"])
    assert identity_for(msg, MX, nets)[0].addr == "192.0.2.10"
    with pytest.raises(ValueError, match="'10.0.0.300/8' is not a network"):
        internal_networks(["10.0.0.300/8"])


def test_first_external_header_not_the_mx_is_never_passed():
    """fetchmail's own header on top (no `set invisible`), or an MX pattern that does not
    match: the message waits; the forged header below is never used."""
    top = ("from pop.upstream.example [192.0.2.110] by localhost with POP3 (fetchmail-6.4.37)"
           " for <bob@example.net> (single-drop); Tue, 24 Nov 2026 10:00:05 +0100")
    with pytest.raises(ReceivedError, match="'localhost' is not the trusted MX"):
        identity_for(_message(top, "from a (a.example [192.0.2.10])" + T), MX)
    # from a POP server on loopback it is an internal hop like any other
    local = top.replace("192.0.2.110", "127.0.0.1")
    assert identity_for(_message(local, "from a (a.example [192.0.2.10])" + T), MX)[0].addr \
        == "192.0.2.10"
    other = ("from a (a.example [192.0.2.10]) by relay.example.org (Postfix) with ESMTP id 1;"
             " Tue, 24 Nov 2026 10:00:01 +0100")
    with pytest.raises(ReceivedError, match="'relay.example.org' is not the trusted MX"):
        identity_for(_message(other), MX)


def test_all_hops_internal_means_no_client():
    msg = _message("from localhost (localhost [127.0.0.1])" + T)
    with pytest.raises(ReceivedError, match="records an external client"):
        identity_for(msg, MX)


@pytest.mark.parametrize("helo", [
    "x (unknown [192.0.2.66]) by mx.upstream.example (Postfix) with ESMTP id X for",
    "x (HELO [127.0.0.1])",
    "x (good.example [203.0.113.9])",  # the sender's own address, a name of its choice
])
def test_a_header_that_reads_two_ways_is_refused(helo):
    header = f"from {helo} (unknown [203.0.113.9])" + T
    with pytest.raises(ReceivedError, match="more than one way"):
        identity_for(_message(header), MX)


def test_helo_imitating_the_mx_is_refused():
    header = "from x by mx.upstream.example (unknown [203.0.113.9])" + T
    # (read first as a hop with no client, "from x by HOST", and a client part after it)
    with pytest.raises(ReceivedError, match="imitates"):
        identity_for(_message(header), MX)


# A HELO that opens an Exim client part ("NAME ([ADDR]") and a recipient that closes it with
# an Exim tail: Exim's items ran over the Postfix MX's own "(NAME [ADDR]) by ... (Postfix)",
# and the reading that held it was dropped as a looser reading of the same client part - the
# sender chose a *verified* NAME for its own address (review of issue 18).
@pytest.mark.parametrize("mx_name", ["unknown", "dsl-9.isp.example"])
def test_an_exim_client_part_swallowing_the_mx_s_own_is_refused(mx_name):
    header = ("from good.partner.example ([203.0.113.9] (" + mx_name + " [203.0.113.9]) by"
              " mx.upstream.example (Postfix) with ESMTP id 4AbC for <\"user+x) by"
              " mx.upstream.example (Exim 4.96) with esmtp id y\"@upstream.example>;"
              " Tue, 24 Nov 2026 10:00:00 +0100")
    with pytest.raises(ReceivedError, match="more than one way"):
        identity_for(_message(header), MX)


def test_a_bare_cr_in_the_mx_s_header_does_not_end_it():
    """Only CRLF or LF ends a line (RFC 5322 2.2); a CR an MTA kept in a HELO is data. Read
    as a line break, 'X:' after it swallowed the MX's own client part and the sender's
    forged header below became the first one (review of issue 18)."""
    msg = (b"Received: from x by y\rX: (dsl-9.isp.example [203.0.113.9]) by"
           b" mx.upstream.example (Postfix) with ESMTP id Q for <bob@upstream.example>;"
           b" Tue, 24 Nov 2026 10:00:01 +0100\r\n"
           b"Received: from h (trusted.example [192.0.2.1]) by mx.upstream.example (Postfix)"
           b" with ESMTP id F; Tue, 24 Nov 2026 10:00:00 +0100\r\n"
           b"Subject: s\r\n\r\nbody\r\n")
    assert [n for n, _v in header_fields(msg)] == ["Received", "Received", "Subject"]
    # "from x by y" then a client part: it reads two ways, never the forged header below
    with pytest.raises(ReceivedError, match="more than one way"):
        identity_for(msg, MX)


def test_a_client_part_in_the_envelope_sender_of_a_hop_with_no_client_is_refused():
    """Dovecot's LMTP hop ("from HOST by HOST with LMTP ... (envelope-from <...>)") records
    no client but the sender's envelope sender: a quoted local part imitating a Postfix
    client part was its only reading, external and by the MX - the sender chose ADDR and a
    verified NAME (review of issue 18)."""
    msg = (b"Received: from mx.upstream.example\r\n\tby imap.upstream.example with LMTP\r\n"
           b"\tid 6Bz5JYo8a2W8JQAA0J78UA\r\n"
           b"\t(envelope-from <\"x (trusted.example [192.0.2.1]) by mx.upstream.example"
           b" (Postfix) with ESMTP id Q for y\"@attacker.example>)\r\n"
           b"\tfor <bob@upstream.example>; Tue, 24 Nov 2026 10:00:02 +0100\r\n"
           b"Received: from h (unknown [203.0.113.9]) by mx.upstream.example (Postfix) with"
           b" ESMTP id F for <bob@upstream.example>; Tue, 24 Nov 2026 10:00:00 +0100\r\n"
           b"Subject: s\r\n\r\nbody\r\n")
    with pytest.raises(ReceivedError, match="more than one way"):
        identity_for(msg, MX)
    honest = msg.replace(b'"x (trusted.example [192.0.2.1]) by mx.upstream.example'
                         b' (Postfix) with ESMTP id Q for y"', b"alice")
    ident, _header = identity_for(honest, MX)
    assert (ident.addr, ident.name) == ("203.0.113.9", U)
