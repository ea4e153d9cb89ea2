# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The client identity an upstream MTA recorded in its ``Received:`` header.

Pure functions, stdlib only. ``header_fields`` splits a message's header section;
``trusted_received`` picks the one ``Received:`` header to trust (the header-trust rule);
``parse_received`` turns it into an ``Identity`` (address, reverse name, HELO, protocol)
ready for XCLIENT.

The header-trust rule: every MTA on the way *prepends* its ``Received:`` header, so the
headers read top to bottom go from the last hop back to what the sender wrote. With
``by_pattern`` the topmost header whose ``by`` host matches it (the upstream MX) is used:
headers above it are the upstream's own internal hops (content filters, Dovecot LMTP), and
headers below it came from the sending side, which can write anything. Without a pattern
the topmost header is used, which is right only when the upstream MX delivers straight into
the mailbox.

Formats understood (``from`` part of the header):

- Postfix, Sendmail, Gmail: ``from HELO (NAME [ADDR])``; ``unknown`` or no name, or
  Sendmail's ``(may be forged)``, mean no verified name; Gmail writes names with a trailing
  dot; Sendmail may put ``user@`` (ident) before the name;
- Exim: ``from NAME ([ADDR]:PORT helo=HELO)`` or ``from [ADDR] (port=PORT helo=HELO)``; no
  ``helo=`` means the HELO was the name (or the address);
- qmail: ``from NAME (HELO HELO) (ADDR)``, ``from unknown (HELO HELO) (user@ADDR)``;
- Microsoft Exchange: ``from HELO (ADDR) by ... with Microsoft SMTP Server``; Exchange does
  not record a reverse name.

Addresses: IPv4, IPv6 with or without the ``IPv6:`` prefix; IPv4-mapped IPv6 becomes IPv4.
The ``with`` protocol becomes PROTO: ``ESMTP``, ``ESMTPS``, ``ESMTPSA``, ``UTF8SMTP...``
and Gmail's ``SMTPS`` give ``ESMTP``; plain ``SMTP`` gives ``SMTP``; anything else (or none)
gives ``ESMTP``, which is what the injector's own EHLO would make it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass
from typing import List, Optional, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._xclient_command import (
    UNAVAILABLE,
    XclientValueError,
    validate_hostname,
)

# A header line that long is not a header a real MTA wrote: refuse it rather than scan it.
MAX_HEADER = 16384
_CLAUSES = ("from", "by", "via", "with", "id", "for")
_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")
_HELO_QMAIL = re.compile(r"^HELO\s+(\S+)$", re.IGNORECASE)
_NAME_ADDR = re.compile(r"^(?:\S+@)?(\S+)\s+\[([^\]\s]+)\](?::\d+)?(.*)$", re.DOTALL)
_ADDR_FIRST = re.compile(r"^\[([^\]\s]+)\](:\d+)?(.*)$", re.DOTALL)
_EXIM_ITEM = re.compile(r"\b(helo|port|ident)=(\S+)", re.IGNORECASE)


class ReceivedError(ValueError):
    """A Received header that does not say who the client was."""


@dataclass(frozen=True)
class Identity:
    """Who the upstream MTA says the client was; values in XCLIENT's terms."""

    addr: str  # plain IPv4 or IPv6 text, or [UNAVAILABLE]
    name: str  # verified reverse name, or [UNAVAILABLE]
    helo: str
    proto: str  # SMTP or ESMTP

    def as_dict(self) -> dict:
        return asdict(self)

    def xclient(self) -> dict:
        """Attributes for _xclient_command.normalize_attributes."""
        return {"addr": self.addr, "name": self.name, "helo": self.helo, "proto": self.proto}

    def describe(self) -> str:
        return f"addr={self.addr} name={self.name} helo={self.helo} proto={self.proto}"


UNAVAILABLE_IDENTITY = Identity(addr=UNAVAILABLE, name=UNAVAILABLE, helo=UNAVAILABLE,
                                proto="ESMTP")


# ---------------------------------------------------------------------------- headers
def header_fields(message: bytes) -> List[Tuple[str, str]]:
    """(name, unfolded value) of each header field, in order, up to the first empty line.

    Values are decoded as UTF-8 with invalid octets replaced; line breaks of folded fields
    are removed (RFC 5322 2.2.3), the whitespace after them kept."""
    fields: List[Tuple[str, str]] = []
    name: Optional[str] = None
    parts: List[bytes] = []
    for number, raw in enumerate(re.split(rb"\r\n|\n|\r", message)):
        if raw[:1] in (b" ", b"\t") and name is not None:
            parts.append(raw)
            continue
        if name is not None:
            fields.append((name, _join(parts)))
            name = None
        if number == 0 and raw.startswith(b"From "):
            continue  # an mbox separator line
        match = _FIELD_NAME.match(raw)
        if not match:  # the empty line, or something that is no header: the end
            break
        name = match.group(1).decode("ascii")
        parts = [raw[match.end():]]
    if name is not None:
        fields.append((name, _join(parts)))
    return fields


def _join(parts: List[bytes]) -> str:
    return b"".join(parts).decode("utf-8", "replace").strip()


def received_headers(message: bytes) -> List[str]:
    """The values of the Received: fields, topmost first."""
    return [value for name, value in header_fields(message) if name.lower() == "received"]


def trusted_received(headers: List[str], by_pattern: Optional[str] = None) -> str:
    """The Received header value to trust (see the module docstring), or ReceivedError."""
    if not headers:
        raise ReceivedError("the message has no Received: header")
    if by_pattern is None:
        return headers[0]
    rx = re.compile(by_pattern, re.IGNORECASE)
    for value in headers:
        by = received_by_host(value)
        if by is not None and rx.fullmatch(by):
            return value
    raise ReceivedError(f"no Received: header has a 'by' host matching {by_pattern!r}"
                        f" (the message has {len(headers)})")


# ---------------------------------------------------------------------------- tokens
def _items(text: str) -> List[Tuple[str, str]]:
    """Top-level items: ("word", text) or ("comment", text inside the parentheses)."""
    items: List[Tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "(":
            depth, j = 0, i
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            items.append(("comment", text[i + 1:j].strip()))
            i = j + 1
            continue
        j = i
        closer = None
        while j < n:
            c = text[j]
            if closer:
                if c == closer:
                    closer = None
            elif c == "[":
                closer = "]"
            elif c == "<":
                closer = ">"
            elif c.isspace() or c == "(":
                break
            j += 1
        items.append(("word", text[i:j]))
        i = j
    return items


def _clauses(value: str) -> dict:
    """Clause keyword -> list of items; the date after the last top-level ';' dropped."""
    if len(value) > MAX_HEADER:
        raise ReceivedError(f"the Received: header is longer than {MAX_HEADER} characters")
    items = _items(_strip_date(value))
    clauses: dict = {}
    current: Optional[str] = None
    for kind, text in items:
        if kind == "word" and text.lower() in _CLAUSES and text.lower() not in clauses:
            current = text.lower()
            clauses[current] = []
        elif current is not None:
            clauses[current].append((kind, text))
    return clauses


def _strip_date(value: str) -> str:
    depth = 0
    cut = len(value)
    for index, ch in enumerate(value):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == ";" and depth == 0:
            cut = index
    return value[:cut]


def received_by_host(value: str) -> Optional[str]:
    """The host name of the ``by`` clause, without a trailing dot; None if there is none."""
    try:
        by = _clauses(value).get("by") or []
    except ReceivedError:
        return None
    words = [text for kind, text in by if kind == "word"]
    return words[0].rstrip(".") if words else None


# ---------------------------------------------------------------------------- parsing
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
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        if getattr(addr, "scope_id", None):
            return None
    return addr.compressed


def _name(text: Optional[str]) -> str:
    """A reverse name as XCLIENT NAME: a valid host name, else [UNAVAILABLE]."""
    if not text or text.lower() == "unknown" or plain_address(text) is not None:
        return UNAVAILABLE
    try:
        return validate_hostname("name", text)
    except XclientValueError:
        return UNAVAILABLE


def _proto(with_items: List[Tuple[str, str]]) -> str:
    words = [text for kind, text in with_items if kind == "word"]
    if not words:
        return "ESMTP"
    word = words[0].upper()
    if word == "SMTP":
        return "SMTP"
    return "ESMTP"


def _from_clause(items: List[Tuple[str, str]], exim: bool, exchange: bool
                 ) -> Tuple[str, str, str]:
    """(addr, name, helo) from the items of the ``from`` clause."""
    if not items or items[0][0] != "word":
        raise ReceivedError("the 'from' part names no host")
    first = items[0][1]
    comments = [text for kind, text in items[1:] if kind == "comment"]
    flat = " ".join(comments)
    # qmail: (HELO name) then (ADDR) or (user@ADDR).
    qmail_helo = next((m.group(1) for m in map(_HELO_QMAIL.match, comments) if m), None)
    for comment in comments:
        if comment.startswith("["):
            continue
        bare = comment.rsplit("@", 1)[-1] if "@" in comment else comment
        addr = plain_address(bare) if " " not in bare else None
        if addr is not None:
            if exchange:  # Exchange: "from HELO (ADDR)", no reverse name recorded
                return addr, UNAVAILABLE, first
            return addr, _name(first), qmail_helo or first
    exim_items = {m.group(1).lower(): m.group(2) for m in _EXIM_ITEM.finditer(flat)}
    first_addr = plain_address(first) if first.startswith("[") else None
    for comment in comments:
        match = _NAME_ADDR.match(comment)
        if match and not comment.startswith("["):
            addr = plain_address(match.group(2))
            if addr is None:
                continue
            forged = "may be forged" in match.group(3).lower()
            return addr, UNAVAILABLE if forged else _name(match.group(1)), first
        match = _ADDR_FIRST.match(comment)
        if match:
            addr = plain_address(match.group(1))
            if addr is None:
                continue
            if exim or exim_items or match.group(2):
                # Exim: the first word is the verified name (or the address); helo= only
                # when the HELO differed from it.
                name = UNAVAILABLE if first_addr else _name(first)
                return addr, name, exim_items.get("helo", first)
            # Sendmail without a reverse name: "from HELO ([ADDR])".
            return addr, UNAVAILABLE, first
    if first_addr is not None:
        # Exim without a reverse name: "from [ADDR] (port=N helo=HELO)" or nothing more.
        return first_addr, UNAVAILABLE, exim_items.get("helo", first)
    raise ReceivedError("the 'from' part records no client address")


def parse_received(value: str) -> Identity:
    """One Received header value -> Identity, or ReceivedError saying what is missing."""
    clauses = _clauses(value)
    if "from" not in clauses:
        raise ReceivedError("the header has no 'from' part (a hop inside the upstream"
                            " host, not a network client)")
    whole = value.lower()
    exchange = "microsoft smtp" in " ".join(
        text for _kind, text in clauses.get("with", [])).lower()
    exim = "(exim " in whole
    addr, name, helo = _from_clause(clauses["from"], exim=exim, exchange=exchange)
    if not helo or any(ch in helo for ch in "\r\n\0 "):
        helo = UNAVAILABLE
    return Identity(addr=addr, name=name, helo=helo, proto=_proto(clauses.get("with", [])))


def identity_for(message: bytes, by_pattern: Optional[str] = None) -> Tuple[Identity, str]:
    """The trusted header of a message, parsed: (Identity, the header unfolded)."""
    value = trusted_received(received_headers(message), by_pattern)
    return parse_received(value), "Received: " + value
