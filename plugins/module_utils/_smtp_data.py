# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The message sent after DATA: from user text to the octets on the wire (RFC 5321 4.5.2,
4.5.3.1.6; RFC 6152 8BITMIME; RFC 6531 SMTPUTF8). Pure functions, stdlib only.

``prepare_message`` turns a message (str or bytes) into a ``DataPayload``:

- every line ending (CRLF, bare LF, bare CR) becomes CRLF, and the last line gets one;
- lines starting with "." get a second "." (dot-stuffing);
- a NUL octet, or a line longer than 998 octets, is refused with ``MessageError`` naming
  the line (SMTP cannot carry them; nothing is folded behind the user's back);
- whether the message needs 8BITMIME (any octet above 127) or SMTPUTF8 (a non-ASCII octet
  in the header section) is reported.

The terminating ``.`` line is NOT part of the payload: the session sends it
(``SmtpSession.data``). ``mail_parameters`` gives the ESMTP parameters for MAIL FROM
(``BODY=8BITMIME``, ``SMTPUTF8``) from what the server's EHLO offered, or raises
``ExtensionMissing`` when the message needs an extension the server does not offer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Mapping, Union

MAX_LINE_OCTETS = 998  # without CRLF (RFC 5321 4.5.3.1.6, RFC 5322 2.1.1)

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class MessageError(ValueError):
    """A message SMTP cannot carry. ``line`` is 1-based (0: the message as a whole)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


class ExtensionMissing(ValueError):
    """The message (or an address) needs an SMTP extension the server does not offer."""

    def __init__(self, extension: str, message: str) -> None:
        super().__init__(message)
        self.extension = extension


@dataclass(frozen=True)
class DataPayload:
    """A message ready for the wire (without the final ``.`` line)."""

    payload: bytes  # CRLF line endings, dot-stuffed, ends with CRLF (or empty)
    lines: int  # number of message lines
    needs_8bitmime: bool  # an octet above 127 somewhere
    needs_smtputf8: bool  # an octet above 127 in the header section

    @property
    def octets(self) -> int:
        return len(self.payload)


def prepare_message(message: Union[str, bytes]) -> DataPayload:
    """A message (str: sent as UTF-8; bytes: as given) -> DataPayload, or MessageError."""
    if isinstance(message, str):
        try:
            raw = message.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MessageError(f"not valid text at character {exc.start}: {exc.reason}")\
                from None
    elif isinstance(message, (bytes, bytearray)):
        raw = bytes(message)
    else:
        raise MessageError(f"must be text or bytes, not {type(message).__name__}")
    if b"\0" in raw:
        where = len(_LINE_BREAK.split(raw[:raw.index(b"\0")]))  # CR, LF or CRLF
        raise MessageError(f"line {where} contains a NUL octet, which SMTP cannot carry",
                           where)
    lines = _LINE_BREAK.split(raw)
    if lines and lines[-1] == b"":
        lines.pop()  # the message ended with a line break
    out: List[bytes] = []
    eight_bit = False
    utf8_header = False
    in_header = True
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_OCTETS:
            raise MessageError(
                f"line {number} is {len(line)} octets; SMTP allows at most"
                f" {MAX_LINE_OCTETS} per line: wrap it or use a transfer encoding"
                " (quoted-printable, base64)", number)
        if in_header and line == b"":
            in_header = False
        if not line.isascii():
            eight_bit = True
            if in_header:
                utf8_header = True
        out.append((b"." + line if line.startswith(b".") else line) + b"\r\n")
    return DataPayload(payload=b"".join(out), lines=len(lines),
                       needs_8bitmime=eight_bit, needs_smtputf8=utf8_header)


def needs_smtputf8_address(addresses: Iterable[str]) -> bool:
    """Whether any envelope address has a non-ASCII character (RFC 6531)."""
    return any(not address.isascii() for address in addresses)


def mail_parameters(keywords: Mapping[str, object], payload: Union[DataPayload, None] = None,
                    addresses: Iterable[str] = ()) -> List[str]:
    """ESMTP parameters for MAIL FROM: ``BODY=8BITMIME`` and/or ``SMTPUTF8`` when the
    message or an envelope address needs them.

    ``keywords`` are the EHLO keywords (upper case) the server offered. Raises
    ExtensionMissing naming the extension when one is needed and not offered.
    """
    smtputf8 = needs_smtputf8_address(addresses) or bool(payload and payload.needs_smtputf8)
    eight_bit = smtputf8 or bool(payload and payload.needs_8bitmime)
    params: List[str] = []
    if smtputf8 and "SMTPUTF8" not in keywords:
        what = ("the message headers have non-ASCII characters"
                if payload and payload.needs_smtputf8 else
                "an envelope address has non-ASCII characters")
        raise ExtensionMissing("SMTPUTF8", f"{what}, which needs SMTPUTF8; the server does"
                               " not offer it")
    if eight_bit:
        if "8BITMIME" not in keywords:
            raise ExtensionMissing("8BITMIME", "the message has 8-bit (non-ASCII) octets,"
                                   " which need 8BITMIME; the server does not offer it: use"
                                   " a 7-bit transfer encoding (quoted-printable, base64)")
        params.append("BODY=8BITMIME")
    if smtputf8:
        params.append("SMTPUTF8")
    return params
