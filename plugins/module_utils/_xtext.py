# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""xtext (RFC 1891 section 5), the encoding of XCLIENT attribute values.

xtext = *( xchar / hexchar ); xchar is any octet from 0x21 to 0x7E except "+" and "=";
hexchar is "+" followed by two upper-case hexadecimal digits. Pure functions, stdlib only.
"""

from __future__ import annotations

_HEX = "0123456789ABCDEF"


class XtextError(ValueError):
    """A string that is not valid xtext."""


def encode_bytes(raw: bytes) -> str:
    """Encode octets as xtext."""
    out = []
    for octet in raw:
        if 0x21 <= octet <= 0x7E and octet not in (0x2B, 0x3D):  # not "+" or "="
            out.append(chr(octet))
        else:
            out.append("+" + _HEX[octet >> 4] + _HEX[octet & 0x0F])
    return "".join(out)


def encode(value: str) -> str:
    """Encode a text value (UTF-8 octets) as xtext."""
    return encode_bytes(value.encode("utf-8", "surrogateescape"))


def decode_bytes(text: str) -> bytes:
    """Decode xtext to octets; raise XtextError on anything RFC 1891 does not allow."""
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "+":
            pair = text[i + 1:i + 3]
            if len(pair) != 2 or any(c not in _HEX for c in pair):
                raise XtextError(f"bad hexchar {text[i:i + 3]!r} at offset {i}")
            out.append(int(pair, 16))
            i += 3
            continue
        code = ord(ch)
        if not 0x21 <= code <= 0x7E or ch == "=":
            raise XtextError(f"character {ch!r} at offset {i} must be encoded")
        out.append(code)
        i += 1
    return bytes(out)


def decode(text: str) -> str:
    """Decode xtext to text (UTF-8; undecodable octets kept as surrogate escapes)."""
    return decode_bytes(text).decode("utf-8", "surrogateescape")
