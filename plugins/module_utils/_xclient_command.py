# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The XCLIENT command: attribute validation and command building (Postfix XCLIENT_README).

Pure functions, stdlib only. Values are validated as Postfix's smtpd would, normalized
(IPv6 gets the ``IPV6:`` prefix, ``[UNAVAILABLE]`` upper-cased), xtext-encoded, and packed
into as few commands as the 512-octet command-line limit allows.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._smtp_session import (
    wire_problem,
    word_problem,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xtext import encode

# User-facing attribute key -> wire name.
ATTRIBUTES: Dict[str, str] = {
    "name": "NAME",
    "addr": "ADDR",
    "port": "PORT",
    "proto": "PROTO",
    "helo": "HELO",
    "login": "LOGIN",
    "destaddr": "DESTADDR",
    "destport": "DESTPORT",
    "reverse_name": "REVERSE_NAME",
}

# Wire order inside one command: HELO and PROTO first, NAME and ADDR last (XCLIENT_README
# note 1). When the attributes do not fit one command, DESTADDR/DESTPORT/PORT go in an
# earlier command: smtpd keeps them, but it resets HELO, PROTO and LOGIN whenever a later
# XCLIENT omits them, and re-checks authorization once NAME/ADDR change.
#
# REVERSE_NAME must come after NAME: measured on Postfix 3.7.11, a valid NAME also sets the
# reverse name, so "REVERSE_NAME=r NAME=n" leaves reverse_client_name=n, while
# "NAME=n REVERSE_NAME=r" gives r.
WIRE_ORDER = ["HELO", "PROTO", "LOGIN", "DESTADDR", "DESTPORT", "PORT", "NAME",
              "REVERSE_NAME", "ADDR"]
SPLITTABLE = ("DESTADDR", "DESTPORT", "PORT")

MAX_COMMAND = 512  # octets, including "XCLIENT" and CRLF (RFC 5321 4.5.3.1.4)
MAX_VALUE = 255  # octets of the encoded value; smtpd: "501 5.5.4 Error: attribute value too long"

PROTOCOLS = ("SMTP", "ESMTP")  # PROTO values

UNAVAILABLE = "[UNAVAILABLE]"
TEMPUNAVAIL = "[TEMPUNAVAIL]"

_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


class XclientValueError(ValueError):
    """An attribute value Postfix would refuse; ``field`` names the attribute."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _special(value: str, allowed: Tuple[str, ...]) -> Optional[str]:
    upper = value.upper()
    return upper if upper in allowed else None


def validate_hostname(field: str, value: str) -> str:
    special = _special(value, (UNAVAILABLE, TEMPUNAVAIL))
    if special:
        return special
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 255:
        raise XclientValueError(field, f"{value!r} is not a hostname (1 to 255 characters)")
    labels = name.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise XclientValueError(
                field, f"{value!r} is not a hostname (label {label!r}: letters, digits,"
                " '-' and '_', 1 to 63 characters, no leading or trailing '-');"
                f" use {UNAVAILABLE} or {TEMPUNAVAIL} for a failed lookup")
    if all(label.isdigit() for label in labels):
        raise XclientValueError(field, f"{value!r} is numeric; give a hostname, not an address")
    return name


def validate_address(field: str, value: str) -> str:
    """IPv4, IPv6 (plain or ``IPV6:``-prefixed) or [UNAVAILABLE] -> wire form."""
    if _special(value, (UNAVAILABLE,)):
        return UNAVAILABLE
    text = value.strip()
    if text.upper().startswith("IPV6:"):
        text = text[5:]
        if "." in text and ":" not in text:
            raise XclientValueError(field, f"{value!r}: IPV6: prefix on an IPv4 address")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise XclientValueError(
            field, f"{value!r} is not an IPv4 or IPv6 address (or {UNAVAILABLE})") from None
    if addr.version == 6:
        if getattr(addr, "scope_id", None):
            raise XclientValueError(field, f"{value!r}: a scoped IPv6 address is not allowed")
        return "IPV6:" + addr.compressed
    return str(addr)


def validate_port(field: str, value: object) -> str:
    if isinstance(value, bool):
        raise XclientValueError(field, f"{value!r} is not a port number")
    if isinstance(value, str) and _special(value, (UNAVAILABLE,)):
        return UNAVAILABLE
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise XclientValueError(field, f"{value!r} is not a port number (0 to 65535) or"
                                f" {UNAVAILABLE}")
    return str(int(text))


def validate_proto(field: str, value: str) -> str:
    upper = str(value).strip().upper()
    if upper not in PROTOCOLS:
        raise XclientValueError(field, f"{value!r} must be {' or '.join(PROTOCOLS)}")
    return upper


def validate_text(field: str, value: str) -> str:
    """LOGIN: any non-empty text without line breaks or NUL, or [UNAVAILABLE]."""
    if _special(value, (UNAVAILABLE,)):
        return UNAVAILABLE
    if value == "":
        raise XclientValueError(field, f"must not be empty (use {UNAVAILABLE} for none)")
    return value


def validate_helo(field: str, value: str) -> str:
    """HELO: [UNAVAILABLE] or [TEMPUNAVAIL] (then the probe sends no HELO/EHLO after
    XCLIENT), or one word the probe then also greets with, so the HELO Postfix checks is
    exactly the declared one."""
    special = _special(value, (UNAVAILABLE, TEMPUNAVAIL))
    if special:
        return special
    problem = word_problem(value)
    if problem:
        raise XclientValueError(field, f"{value!r} {problem}; the probe greets with the"
                                " declared HELO after XCLIENT")
    return value


# Wire name -> validator(field, value) -> the plain value for the wire.
_VALIDATORS: Dict[str, Callable[[str, Any], str]] = {
    "NAME": validate_hostname,
    "REVERSE_NAME": validate_hostname,
    "ADDR": validate_address,
    "DESTADDR": validate_address,
    "PORT": validate_port,
    "DESTPORT": validate_port,
    "PROTO": validate_proto,
    "HELO": validate_helo,
    "LOGIN": validate_text,
}


def normalize_attributes(attrs: Mapping[str, object]) -> Dict[str, str]:
    """Validate user attributes (keys as in ATTRIBUTES) -> {WIRE_NAME: plain value}.

    Raises XclientValueError naming the field (``xclient.<key>``).
    """
    if not attrs:
        raise XclientValueError("xclient", "give at least one attribute")
    out: Dict[str, str] = {}
    for key, value in attrs.items():
        field = f"xclient.{key}"
        wire = ATTRIBUTES.get(str(key).lower())
        if wire is None:
            raise XclientValueError(field, "unknown attribute; known: "
                                    + ", ".join(sorted(ATTRIBUTES)))
        if value is None:
            raise XclientValueError(field, "has no value")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise XclientValueError(field, f"{value!r} must be a string or a number")
        text = value if isinstance(value, str) else str(value)
        problem = wire_problem(text)
        if problem:
            raise XclientValueError(field, problem)
        plain = _VALIDATORS[wire](field, value if wire in ("PORT", "DESTPORT") else text)
        if len(encode(plain)) > MAX_VALUE:
            raise XclientValueError(field, f"is {len(encode(plain))} octets as xtext;"
                                    f" Postfix accepts at most {MAX_VALUE}")
        if wire in out:
            raise XclientValueError(field, f"{wire} is given twice (keys are not case"
                                    " sensitive)")
        out[wire] = plain
    return out


def _command(pairs: List[Tuple[str, str]]) -> str:
    return "XCLIENT " + " ".join(f"{name}={encode(value)}" for name, value in pairs)


def build_commands(attrs: Mapping[str, str]) -> List[str]:
    """Normalized attributes -> one or more XCLIENT command lines (without CRLF).

    One command when it fits in 512 octets; otherwise PORT/DESTADDR/DESTPORT are sent in an
    earlier command, the rest (which smtpd would reset if omitted) in the last one.
    """
    pairs = [(name, attrs[name]) for name in WIRE_ORDER if name in attrs]
    if not pairs:
        raise XclientValueError("xclient", "give at least one attribute")
    whole = _command(pairs)
    if len(whole) + 2 <= MAX_COMMAND:
        return [whole]
    early = [p for p in pairs if p[0] in SPLITTABLE]
    late = [p for p in pairs if p[0] not in SPLITTABLE]
    commands = [_command(early)] if early else []
    if late:
        commands.append(_command(late))
    for command in commands:
        if len(command) + 2 > MAX_COMMAND:
            raise XclientValueError(
                "xclient", "HELO, PROTO, LOGIN, NAME, REVERSE_NAME and ADDR take"
                f" {len(command) + 2}"
                f" octets as one XCLIENT command; the limit is {MAX_COMMAND}. Shorten them:"
                " they cannot be split, smtpd resets HELO and LOGIN when a later XCLIENT"
                " omits them")
    return commands


def xclient_commands(attrs: Mapping[str, object]) -> List[str]:
    """Validate and build in one step."""
    return build_commands(normalize_attributes(attrs))


def mask_login(command: str) -> str:
    """A command line with any LOGIN value masked, for transcripts and logs."""
    return re.sub(r"(?i)(\bLOGIN=)\S+", r"\1********", command)
