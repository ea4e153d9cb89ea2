# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What one ``Received:`` header says, read with the grammar of the MTA that wrote it.

Pure functions, stdlib only; ``_received`` walks the headers and decides which one to trust.

Every MTA writes its header from fixed text of its own (the words ``by``, ``with``, ``id``,
its name in a comment, brackets around the address it saw) and a few fields the *sender*
chose: the HELO/EHLO argument (Postfix and qmail record it whole, spaces and parentheses
included), the ``for`` recipient, Exim's ``envelope-from``, an ident reply. A reader that
goes left to right can be steered by those fields (``EHLO by`` hid Postfix's own ``by``).
So each grammar here is the writer's *whole* header as a pattern: the client part the MTA
wrote in its fixed positions (address, verified name), then its own tail up to the date. A
grammar is tried at every place its client part could start, and every place where the rest
of the header fits is a reading. ``read_received`` returns all readings; ``_received``
accepts a header only when they all agree. The MTA's own client part always fits its
grammar, so text a sender adds can only add readings that disagree, and a header with
disagreeing readings is never used: the sender can make a message wait, never choose its
identity.

Which names are *verified* (may become XCLIENT NAME, which ``check_client_access`` and
``reject_unknown_client_hostname`` trust): Postfix's name (``unknown`` when the forward
lookup does not confirm it), Sendmail's name unless it adds ``(may be forged)``, Exim's
first word before ``([ADDR]``, CommuniGate's ``verified`` name. Every other name (qmail's
TCPREMOTEHOST, Gmail's, Exchange's none, generic ``(NAME [ADDR])`` of MTAs that do not say
whether they verified it, ``softdnserr``) is *not verified*.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Callable, List, Optional, Pattern

# A header that long is not one a real MTA wrote (an SMTP command line, HELO included, is at
# most 2048 octets in Postfix, 512 in RFC 5321): refuse it rather than scan it.
MAX_HEADER = 4096

_ADDR = r"(?:\d{1,3}(?:\.\d{1,3}){3}|(?:IPv6:)?[0-9A-Fa-f]*:[0-9A-Fa-f:.]*)"
_HOST = r"[^\s()\[\];,]+"
_BY = r"\s*\bby\s+(?P<by>[^\s();,]+?)\.?"
_FOR = r"(?:\s+for\s.*)?"
_END = r"(?:\s*;[^;]*)?\s*"
# A comment an MTA adds between the client and "by" (TLS, authentication): one level of
# nesting, quoted strings (a certificate's CN) kept whole.
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_COMMENT = (r"\((?:[^()\"\\]|\\.|" + _QUOTED + r"|\((?:[^()\"\\]|\\.|" + _QUOTED
            + r")*\))*\)")
_COMMENTS = r"(?:\s*" + _COMMENT + r")*"
_MTA_COMMENT = r"\([^()]*(?:\([^()]*\)[^()]*)*\)"
_HELO_REGION = r"from\s+(?P<helo>.*?)\s*"
_EXIM = r"\([^()]*\bExim\b[^()]*(?:\([^()]*\)[^()]*)?\)"
_EXIM_TLS = r"(?:\s+\([^()]*\))?(?:\s+tls\s+\S+)?"

# "with" words of hops that are not an SMTP client: web mail, POP/IMAP downloads, LMTP
# deliveries, local submission, ecelerity's internal stream. Many MTAs write no "with".
_NOT_SMTP = re.compile(r"HTTPS?U?|POP3?S?|IMAPS?|LMTPS?A?|local|spool|NNFMP|ECSTREAM|"
                       r"UUCP|BSMTP|webmail", re.IGNORECASE)


@dataclass(frozen=True)
class Record:
    """One reading of a header: what its writer recorded about the client."""

    family: str
    addr: str  # plain IPv4 / IPv6 text
    name: Optional[str]  # the verified name, or None
    helo: Optional[str]  # the HELO as recorded, or None when none was recorded
    proto: str  # the "with" word as written
    by: str  # the writer's host name
    start: int  # where the client part starts in the header
    client_end: int  # where it ends
    by_start: int  # where the writer's host name starts

    def key(self) -> tuple:
        return (self.addr, self.name, self.helo, self.proto.upper(), self.by.lower())

    @property
    def smtp(self) -> bool:
        """Whether the writer received it over SMTP (not HTTP, POP3, LMTP, local...)."""
        return _NOT_SMTP.fullmatch(self.proto) is None


def plain_address(text: str) -> Optional[str]:
    """IPv4 / IPv6 text as MTAs write it ([...], IPv6: prefix) -> plain text, or None."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text[:5].lower() == "ipv6:":
        text = text[5:]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if addr.version == 6:
        mapped = getattr(addr, "ipv4_mapped", None)
        if mapped is not None:
            return str(mapped)
        if getattr(addr, "scope_id", None):
            return None
    return addr.compressed


@dataclass(frozen=True)
class _Grammar:
    family: str
    prefix: Pattern[str]  # fullmatch of header[:start]
    client: Pattern[str]  # fullmatch of header[start:]
    starts: str  # characters the client part can start with ("" = right after "from ")
    build: Callable[["re.Match[str]", "re.Match[str]"], Optional[tuple]]


def _g(family: str, prefix: str, client: str, starts: str,
       build: Callable[["re.Match[str]", "re.Match[str]"], Optional[tuple]]) -> _Grammar:
    flags = re.IGNORECASE | re.DOTALL
    return _Grammar(family, re.compile(prefix, flags), re.compile(client, flags), starts,
                    build)


def _grp(m: "re.Match[str]", *names: str) -> Optional[str]:
    for name in names:
        if name in m.re.groupindex and m.group(name) is not None:
            return m.group(name)
    return None


def _verified(name: Optional[str]) -> Optional[str]:
    if name is None or name.lower() == "unknown":
        return None
    return name


# Each build returns (addr text, verified name or None, helo or None, proto, by).
def _build_helo_first(verified: bool):
    def build(pre, m):
        name = _grp(m, "name")
        if verified and _grp(m, "forged"):
            name = None
        return (_grp(m, "addr"), _verified(name) if verified else None, _grp(pre, "helo"),
                _grp(m, "proto") or "", m.group("by"))
    return build


def _build_exim(pre, m):
    name = _grp(m, "name")
    addr = _grp(m, "addr", "addr2")
    # "helo=" comes before "ident=" (the ident server's answer: anything, so the items
    # are read as any text up to the ")" before "by")
    # (MailAnyone's Exim writes "HELO name")
    found = re.search(r"(?:^|\s)(?:helo=|HELO\s+)(\S*)", _grp(m, "items", "items2") or "")
    helo = found.group(1) if found else None
    if helo is None:  # Exim leaves helo= out when it was the name (or the address)
        helo = name if name is not None else f"[{addr}]"
    return (addr, name, helo, _grp(m, "proto", "proto2"), m.group("by"))


def _build_qmail(pre, m):
    return (m.group("addr"), None, pre.group("helo"), m.group("proto"), m.group("by"))


def _build_qmail_no_helo(pre, m):
    # qmail leaves "(HELO ...)" out when the HELO was the remote host name it looked up.
    return (m.group("addr"), None, m.group("name"), m.group("proto"), m.group("by"))


def _build_communigate(pre, m):
    if m.group("svc").upper() != "SMTP":
        return None  # WebUser, XIMSS...: not an SMTP client
    name = _grp(m, "vname")
    helo = _grp(m, "helo")
    if name is not None:
        helo = name  # "NAME ([ADDR] verified)": the HELO was that name
    return (_grp(m, "addr", "addr2", "addr3"), name, helo, m.group("proto"), m.group("by"))


def _build_unverified_inner_helo(pre, m):
    return (m.group("addr"), None, _grp(m, "helo"), m.group("proto"), m.group("by"))


def _build_generic(pre, m):
    with_word = re.search(r"\b(?:with|via)\s+(?:\([^()]*\)\s+)?([^\s;()]+)",
                          m.group("rest"), re.IGNORECASE)
    proto = with_word.group(1) if with_word else ""
    helo = _grp(pre, "helo")
    return (m.group("addr"), None, helo if helo else None, proto, m.group("by"))


def _build_generic_bracket_first(pre, m):
    addr = _grp(m, "addr", "addr2")
    helo = _grp(m, "helo", "helo2")
    if helo is None:
        helo = f"[{addr}]"  # "from [ADDR] by": the client greeted with its address
    generic = _build_generic(pre, m)
    return (addr, None, helo or None, generic[3], m.group("by"))


_GRAMMARS = [
    # Postfix: from HELO (NAME [ADDR]) (TLS, auth comments) by HOST (Postfix) with P id Q
    _g("postfix", _HELO_REGION,
       r"(?P<c>\((?P<name>" + _HOST + r")\s\[(?P<addr>" + _ADDR + r")\]\))" + _COMMENTS + _BY
       + r"\s+\((?![0-9])[^()]*\)\s+with\s+(?P<proto>[A-Za-z0-9]+)\s+id\s+[A-Za-z0-9]+"
       + _FOR + _END, "(", _build_helo_first(True)),
    # Sendmail: from HELO (ident@NAME [ADDR] (may be forged)) by HOST (8.x/8.x) with P id Q
    _g("sendmail", _HELO_REGION,
       r"(?P<c>\((?:[^\[\]]{0,512}?@)?(?:(?P<name>" + _HOST + r")\s)?\[(?P<addr>" + _ADDR
       + r")\](?P<forged>\s\(may be forged\))?\))" + _COMMENTS + _BY
       + r"\s+\([0-9][^()]*\)\s+with\s+(?P<proto>\S+)\s+id\s+\S+(?:\s+" + _COMMENT + r")?"
       + _FOR + _END, "(", _build_helo_first(True)),
    # Exim: from NAME ([ADDR]:PORT helo=H ident=I) | from [ADDR] (port=N helo=H)
    _g("exim", r"from\s+",
       r"(?P<c>(?P<name>" + _HOST + r")\s+\(\[(?P<addr>" + _ADDR
       + r")\](?::\d+)?(?P<items>(?:\s.*?)?)\)"
       + r"|\[(?P<addr2>" + _ADDR + r")\](?::\d+)?(?:\s+\((?P<items2>.*?)\))?)" + _BY
       # "with P (TLS) tls CIPHER (Exim V)", or from Exim 4.95 on "(Exim V) with P ..."
       + r"(?:\s+\(envelope-from\s+<.*>\))?(?:\s+with\s+(?P<proto>\S+)" + _EXIM_TLS + r"\s+"
       + _EXIM + r"|\s+" + _EXIM + r"\s+with\s+(?P<proto2>\S+)" + _EXIM_TLS + r")"
       + r"(?:\s+\(envelope-from\s+<.*>\))?(?:\s+id\s+\S+)?" + _FOR + _END, "",
       _build_exim),
    # Exchange 2007+ / Exchange Online: from HELO (ADDR) by HOST (ADDR) with Microsoft SMTP Server
    _g("exchange", _HELO_REGION,
       r"(?P<c>\((?P<addr>" + _ADDR + r")\))" + _BY + r"(?:\s+\(" + _ADDR + r"\))?\s+with\s+"
       r"(?P<proto>Microsoft\s+SMTP\s+Server)(?:\s+\([^()]*\))?\s+id\s+[0-9.]+"
       r"(?:\s+via\s+[A-Za-z ]+?)?" + _END, "(", _build_helo_first(False)),
    # Exchange 2000/2003 (IIS SMTP): from HELO ([ADDR]) by HOST with Microsoft SMTPSVC(...)
    _g("exchange-smtpsvc", _HELO_REGION,
       r"(?P<c>\(\[(?P<addr>" + _ADDR + r")\](?:\s+(?:unverified|RDNS failed))?\))" + _BY
       + r"\s+with\s+(?P<proto>Microsoft\s+SMTPSVC)\([0-9.]+\)" + _END, "(",
       _build_helo_first(False)),
    # qmail (and Yahoo): from NAME (HELO helo) (ident@ADDR) by HOST with P
    _g("qmail", r"from\s+(?P<name>[^\s()]+)\s+\((?:HELO|EHLO|LHLO)\s?(?P<helo>.*)",
       r"(?P<c>\)\s+\((?:.*@)?\[?(?P<addr>" + _ADDR + r")\]?\))(?:\s+\(envelope-sender\s+<.*>\))?"
       + _BY + r"(?:\s+\([^()]*\))?\s+with\s+(?:\([^()]*\)\s+)?(?P<proto>[^\s;]+)" + _FOR
       + _END, ")", _build_qmail),
    _g("qmail", r"from\s+",
       r"(?P<c>(?P<name>[^\s()]+)\s+\((?:[^()\s]*@)?\[?(?P<addr>" + _ADDR + r")\]?\))" + _BY
       + r"(?:\s+\([^()]*\))?\s+with\s+(?:\([^()]*\)\s+)?(?P<proto>[^\s;]+)" + _FOR + _END,
       "", _build_qmail_no_helo),
    # CommuniGate Pro: from NAME ([ADDR] verified) | from [ADDR] (account A HELO helo)
    _g("communigate", r"from\s+",
       r"(?P<c>(?P<vname>" + _HOST + r")\s+\(\[(?P<addr>" + _ADDR + r")\]\s+verified\)"
       + r"|\[(?P<addr2>" + _ADDR + r")\](?:\s+\((?:account\s+[^\s()]+)?\s*"
       + r"(?:HELO\s(?P<helo>.*?))?\))?"
       + r"|" + _HOST + r"\s+\(\[(?P<addr3>" + _ADDR + r")\]\))" + _BY
       + r"\s+\(CommuniGate\s+Pro\s+(?P<svc>\S+)\s[^()]*\)\s+with\s+(?P<proto>\S+)"
       + r"(?:\s+id\s+\S+)?" + _FOR + _END, "", _build_communigate),
    # Message Systems ecelerity: from ([ADDR:PORT] helo=H) by HOST (ecelerity ...)
    _g("ecelerity", r"from\s+",
       r"(?P<c>(?:[^\s()]+\s+)?\(\[(?P<addr>" + _ADDR + r"):\d+\](?:\s+helo=(?P<helo>.*?))?\))"
       + _BY + r"\s+\(ecelerity\s[^()]*(?:\([^()]*\)[^()]*)*\)\s+with\s+(?P<proto>\S+)"
       + r"\s+id\s+\S+" + _FOR + _END, "", _build_unverified_inner_helo),
    # ZMailer: from NAME ([ADDR]:PORT "EHLO helo" ident: "x") by HOST with P id X
    _g("zmailer", r"from\s+",
       r"(?P<c>[^\s()]+\s+\(\[(?P<addr>" + _ADDR + r")\](?::\d+)?\s+\"(?:HELO|EHLO)\s"
       + r"(?P<helo>.*?)\"(?:\s+ident:\s+\".*?\")?(?:\s+rhost-flags-[A-Z-]+)?\))" + _BY
       + r"\s+with\s+(?P<proto>\S+)(?:\s+id\s+\S+)?(?:\s+\(ORCPT\s+<.*>\))?" + _FOR + _END, "",
       _build_unverified_inner_helo),
    # GMX: from NAME (EHLO helo) [ADDR] by HOST (mpNNN) with P
    _g("gmx", r"from\s+[^\s()]+\s+\((?:HELO|EHLO)\s(?P<helo>.*)",
       r"(?P<c>\)\s+\[(?P<addr>" + _ADDR + r")\])"
       + _BY + r"\s+\([^()]*\)\s+with\s+(?P<proto>[^\s;]+)" + _FOR + _END, ")",
       _build_helo_first(False)),
    # fetchmail's own header (without "set invisible"): from SERVER [ADDR] by HOST with POP3
    # (fetchmail-V): the server it downloaded from, not an SMTP client.
    _g("fetchmail", r"from\s+",
       r"(?P<c>[^\s()\[\]]+\s+\[(?P<addr>" + _ADDR + r")\])" + _BY
       + r"\s+with\s+(?P<proto>\S+)\s+\(fetchmail-[^()]*\)" + _FOR + _END, "",
       _build_unverified_inner_helo),
    # Every other MTA writing "from HELO ([NAME] [ADDR]) ... by HOST ..." (Gmail, Oracle /
    # Sun Messaging Server, InterMail, MailEnable, Mirapoint, XMail, Scalix...): the
    # address is read, the name is not trusted as verified.
    _g("generic", _HELO_REGION,
       r"(?P<c>\((?:(?!(?:HELO|EHLO|LHLO)\s)" + _HOST + r"\s+)?\[(?P<addr>" + _ADDR
       + r")\](?::\d+)?(?:\s+(?:verified|unverified|\(may be forged\)))?\))" + _COMMENTS + _BY
       + r"(?P<rest>(?:[\s;,(].*)?)",
       "(", _build_generic),
    # ... "from [ADDR] (HELO helo) by", "from [ADDR] (helo=helo) by", "from [ADDR] by"
    # (Nemesis, MailAnyone, iomart) and "from NAME ([ADDR]:PORT helo=helo) by" (Exim-like).
    _g("generic", r"from\s+",
       r"(?P<c>\[(?P<addr>" + _ADDR + r")\](?:\s+\((?:HELO\s|helo=)(?P<helo>.*?)\))?"
       r"|(?:" + _HOST + r"\s+)?\(\[(?P<addr2>" + _ADDR + r")\](?::\d+)?\s+"
       r"helo=(?P<helo2>[^\s()]+)\))" + _BY + r"(?P<rest>(?:[\s;,(].*)?)", "",
       _build_generic_bracket_first),
    _g("generic", _HELO_REGION,
       r"(?P<c>\(\s*\[?(?P<addr>" + _ADDR + r")\]?(?::\d+)?\))" + _COMMENTS + _BY
       + r"(?P<rest>(?:[\s;,(].*)?)", "(", _build_generic),
]


_BY_HOST = r"[^\s();,]+\s+"
_KNOWN_TAILS = [re.compile(_BY_HOST + tail, re.IGNORECASE | re.DOTALL) for tail in (
    r"\(Postfix\b",
    r"\([0-9]+\.[0-9]+\.[0-9]+[^()/]*/[^()]*\)\s+with\s",  # Sendmail 8.x.y/8.x.y
    r"(?:\(envelope-from\s+<.*?>\)\s+)?(?:with\s+\S+(?:\s+\([^()]*\))?(?:\s+tls\s+\S+)?\s+)?"
    r"\([^()]*\bExim\b",
    r"(?:\([^()]*\)\s+)?with\s+Microsoft\s+SMTP",
    r"\(CommuniGate\s+Pro\b",
    r"\(ecelerity\b",
    r"\(mp\d+\)\s+with\s",  # GMX
)]


def read_received(value: str) -> List[Record]:
    """Every reading of one header value (unfolded, without ``Received:``), in order of
    where the client part starts; one reading per place (the first grammar that fits)."""
    if len(value) > MAX_HEADER:
        raise ValueError(f"the header is longer than {MAX_HEADER} characters")
    if not re.match(r"from\s", value, re.IGNORECASE):
        return []
    after_from = re.match(r"from\s+", value, re.IGNORECASE)
    first = after_from.end() if after_from else 5
    records: List[Record] = []
    for start in range(first, len(value)):
        ch = value[start]
        for grammar in _GRAMMARS:
            if grammar.starts:
                if ch not in grammar.starts:
                    continue
            elif start != first:
                continue
            record = _try(grammar, value, start)
            if record is not None:
                records.append(record)
                break
    # The generic grammars read MTAs we have no grammar for. Where the text after "by HOST"
    # is the fixed text of an MTA we do have one for, a generic reading is that MTA's
    # header read wrongly (its own grammar did not fit: a sender put something it could
    # not parse in its client part), never a reading to use.
    records = [r for r in records if r.family != "generic"
               or not any(t.match(value, r.by_start) for t in _KNOWN_TAILS)]
    # A reading that starts inside another's client part, with the same address and the
    # same "by", is that client part read by a looser grammar ("([ADDR])" inside Exim's
    # "NAME ([ADDR])"). Only with the same "by": a client part that runs on past another
    # reading's "by" (Exim's items, up to a "by" in the recipient) has swallowed a whole
    # client part - the MTA's own - and the two readings disagree.
    return [b for b in records
            if not any(a is not b and a.start <= b.start and b.client_end <= a.client_end
                       and a.addr == b.addr and a.by_start == b.by_start for a in records)]


def _try(grammar: _Grammar, value: str, start: int) -> Optional[Record]:
    m = grammar.client.fullmatch(value, start)
    if m is None:
        return None
    pre = grammar.prefix.fullmatch(value, 0, start)
    if pre is None:
        return None
    built = grammar.build(pre, m)
    if built is None:
        return None
    addr_text, name, helo, proto, by = built
    addr = plain_address(addr_text or "")
    if addr is None:
        return None
    if name is not None:
        name = name.rstrip(".") or None
    return Record(grammar.family, addr, name, helo, proto or "", by.rstrip("."), start,
                  m.end("c"), m.start("by"))
