# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The client identity the trusted upstream MX recorded in its ``Received:`` header.

Pure functions, stdlib only. ``header_fields`` splits a message's header section;
``trusted_identity`` walks the ``Received:`` headers and picks the one to trust;
``_received_grammars`` reads a header with the grammar of the MTA that wrote it; the result
is an ``Identity`` (address, verified name, HELO, protocol) ready for XCLIENT.

The trust path (the model of SpamAssassin's ``trusted_networks``/``internal_networks`` and
rspamd's received-header walk, in our own code). Every MTA on the way *prepends* its
header, so read top to bottom they go from the last hop back to what the sender wrote:

1. Headers whose client is *internal* are the provider's own hops and are skipped: a
   loopback client (``127.0.0.0/8``, ``::1``: a content filter such as amavis re-injecting,
   a local LMTP hop), or one in ``internal_networks`` (the provider's other hosts, named by
   the user). A header with no client at all (it does not start with ``from``, or names
   only a host: Postfix's pickup, Dovecot's LMTP, qmail's ``invoked by uid``) is skipped
   too, but only when it has no address anywhere.
2. The first header with an external client **must** be one the trusted MX wrote: its
   ``by`` host matches ``received_by`` as a whole (case-insensitive). Otherwise nothing is
   injected - never a lower header, which the sender can write.
3. That header must read the same every way its writer's grammar can read it (see
   ``_received_grammars``), over SMTP. The address and the verified name come only from
   the places the MTA writes them; a name it did not verify is ``[UNAVAILABLE]``.

Any other case raises ``ReceivedError``, and the message is not injected (tempfail or
quarantine by the caller's policy). Without ``received_by`` (only for a mailbox the MX
delivers into straight, on the command line or in the module) the first external header
is trusted whoever wrote it.

The ``with`` protocol becomes PROTO: plain ``SMTP`` gives ``SMTP``, every other SMTP
variant (``ESMTPS``, ``ESMTPSA``, ``UTF8SMTP``, Exchange's ``Microsoft SMTP Server``...)
gives ``ESMTP``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, replace
from typing import List, Optional, Sequence, Tuple, Union

from ansible_collections.mailops.xclient.plugins.module_utils._received_grammars import (
    MAX_HEADER,
    Record,
    plain_address,
    read_received,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xclient_command import (
    UNAVAILABLE,
    XclientValueError,
    validate_hostname,
)

__all__ = ["MAX_HEADER", "Identity", "Network", "ReceivedError", "UNAVAILABLE_IDENTITY",
           "header_fields", "identity_for", "internal_networks", "parse_received",
           "plain_address", "received_headers", "trusted_identity"]

_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
# Something that looks like an address: a header holding one records a client.
_ADDRESS_LIKE = re.compile(r"\[[^\]]*\]|\b\d{1,3}(?:\.\d{1,3}){3}\b|[0-9A-Fa-f]*:[0-9A-Fa-f]*:")
# A hop that records no client: "from HOST by HOST" (Dovecot's LMTP, Postfix-style hops of
# other programs), where no client part stands between "from HOST" and the writer's "by".
_NO_CLIENT_HOP = re.compile(r"from\s+[^\s()\[\]]+\s+by\s+[^\s()\[\];,]+(?:\s|$)",
                            re.IGNORECASE)
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class ReceivedError(ValueError):
    """No Received header can be trusted to say who the client was."""


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

    Lines end at CRLF or LF, never at a bare CR. Values are decoded as UTF-8 with invalid
    octets replaced; line breaks of folded fields are removed (RFC 5322 2.2.3), the
    whitespace after them kept."""
    fields: List[Tuple[str, str]] = []
    name: Optional[str] = None
    parts: List[bytes] = []
    # Only CRLF or LF ends a line (RFC 5322 2.2): a bare CR is data, as the MTA that wrote
    # it and the mailbox that stored it treat it. Read as a line break, a CR a sender got
    # into the MX's header (its HELO) would end that header where the sender chose.
    for number, raw in enumerate(re.split(rb"\r?\n", message)):
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


# ---------------------------------------------------------------------------- networks
def internal_networks(values: Optional[Sequence[str]]) -> List[Network]:
    """The user's internal networks (CIDR or single addresses) -> networks; ValueError
    naming the bad entry. Loopback is always internal and need not be listed."""
    networks: List[Network] = []
    for value in values or []:
        text = str(value).strip()
        if text.startswith("[") and "]" in text:  # [::1]/128 as Postfix writes it
            text = text[1:].replace("]", "", 1)
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not a network (CIDR such as 192.0.2.0/24 or"
                             " 2001:db8::/32, or one address)") from None
    return networks


def _internal(addr: str, networks: Sequence[Network]) -> bool:
    ip = ipaddress.ip_address(addr)
    return any(ip.version == net.version and ip in net for net in (*_LOOPBACK, *networks))


# ---------------------------------------------------------------------------- the walk
def _no_client(value: str) -> bool:
    """A hop with no network client: no "from" part, or "from HOST by ..." with no address
    anywhere (Postfix pickup, Dovecot LMTP, qmail's "invoked by uid")."""
    if not re.match(r"from\s", value, re.IGNORECASE):
        return True
    before_date = value.rsplit(";", 1)[0]
    return (re.match(r"from\s+[^\s()\[\]]+\s+by\s", value, re.IGNORECASE) is not None
            and _ADDRESS_LIKE.search(before_date) is None)


def _agreed(value: str, where: str) -> Optional[Record]:
    """The one reading of a header, None when it has none, ReceivedError when its
    readings disagree."""
    try:
        records = read_received(value)
    except ValueError as exc:
        raise ReceivedError(f"{where}: {exc}") from None
    if not records:
        return None
    if _NO_CLIENT_HOP.match(value):
        # "from HOST by HOST ..." is a hop with no client (Dovecot's LMTP, which records
        # the sender's envelope-from): a client part after it is the sender's text.
        raise ReceivedError(f"{where} reads in more than one way (a hop with no client,"
                            f" and {records[0].addr} by {records[0].by}): part of it imitates"
                            " a Received header (the sender's HELO, envelope sender or"
                            " recipient); nothing is injected")
    keys = {(r.addr, r.name, r.by.lower(), r.smtp) for r in records}
    if len(keys) > 1:
        seen = ", ".join(sorted({f"{r.addr} by {r.by}" for r in records}))
        raise ReceivedError(f"{where} reads in more than one way ({seen}): part of it"
                            " imitates a Received header (the sender's HELO or recipient);"
                            " nothing is injected")
    first = records[0]
    helos = {r.helo for r in records}
    protos = {r.proto.upper() for r in records}
    return replace(first, helo=first.helo if len(helos) == 1 else None,
                   proto=first.proto if len(protos) == 1 else "ESMTP")


def trusted_identity(headers: List[str], received_by: Optional[str] = None,
                     networks: Sequence[Network] = ()) -> Tuple[Identity, str]:
    """(Identity, the trusted header value) by the trust path of the module docstring;
    ReceivedError saying why no header can be trusted."""
    if not headers:
        raise ReceivedError("the message has no Received: header")
    mx = re.compile(received_by, re.IGNORECASE) if received_by is not None else None
    for number, value in enumerate(headers, 1):
        where = f"Received: header {number} (from the top)"
        record = _agreed(value, where)
        if record is None:
            if _no_client(value):
                continue
            raise ReceivedError(f"{where} records a client in a form no known MTA writes:"
                                " it cannot be read, and lower headers are never used")
        if _internal(record.addr, networks):
            continue
        if mx is not None and not mx.fullmatch(record.by):
            raise ReceivedError(
                f"{where} is the first with an external client ({record.addr}), but its"
                f" 'by' host {record.by!r} is not the trusted MX (received_by"
                f" {received_by!r}); lower headers are never used (if {record.addr} is one"
                " of the provider's own hosts, add its network to internal_networks)")
        if not record.smtp:
            raise ReceivedError(f"{where}: the client used {record.proto or 'no protocol'},"
                                " not SMTP")
        if mx is not None and record.helo is not None and _imitates(record.helo, mx):
            raise ReceivedError(f"{where}: the client's HELO imitates the trusted MX's"
                                " header; nothing is injected")
        return _identity(record), value
    raise ReceivedError(f"none of the {len(headers)} Received: headers records an external"
                        " client (all are the upstream's own hops: no client, loopback or"
                        " internal_networks)")


def _imitates(helo: str, mx: "re.Pattern[str]") -> bool:
    return any(mx.fullmatch(word.rstrip(".")) for word in
               re.findall(r"\bby\s+([^\s();,]+)", helo, re.IGNORECASE))


def _identity(record: Record) -> Identity:
    helo = record.helo.strip() if record.helo else record.helo  # blanks of a fold
    if not helo or any(ch.isspace() or ord(ch) < 32 or ch == "\x7f" for ch in helo):
        helo = UNAVAILABLE
    return Identity(addr=record.addr, name=_name(record.name), helo=helo,
                    proto="SMTP" if record.proto.upper() == "SMTP" else "ESMTP")


def _name(text: Optional[str]) -> str:
    """A verified name as XCLIENT NAME: a valid host name, else [UNAVAILABLE]."""
    if not text or text.lower() == "unknown" or plain_address(text) is not None:
        return UNAVAILABLE
    try:
        return validate_hostname("name", text)
    except XclientValueError:
        return UNAVAILABLE


def parse_received(value: str) -> Identity:
    """One header value read on its own (no trust walk) -> Identity, or ReceivedError."""
    record = _agreed(value, "the Received: header")
    if record is None:
        raise ReceivedError("the Received: header records no client address in a form a"
                            " known MTA writes")
    if not record.smtp:
        raise ReceivedError(f"the client used {record.proto or 'no protocol'}, not SMTP")
    return _identity(record)


def identity_for(message: bytes, received_by: Optional[str] = None,
                 networks: Sequence[Network] = ()) -> Tuple[Identity, str]:
    """The trusted header of a message, read: (Identity, the header unfolded)."""
    identity, value = trusted_identity(received_headers(message), received_by, networks)
    return identity, "Received: " + value
