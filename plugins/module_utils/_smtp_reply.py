# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SMTP replies (RFC 5321 section 4.2) with enhanced status codes (RFC 3463), and EHLO
keywords including the XCLIENT attribute list. Pure functions, stdlib only."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

# Longest reply line we accept: RFC 5321 allows 512 octets; be generous, but bounded so a
# hostile server cannot make us buffer without end.
MAX_LINE = 4096
MAX_LINES = 200

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?= |$)", re.ASCII)


class MalformedReply(ValueError):
    """The server sent something that is not an SMTP reply."""


@dataclass
class Reply:
    """One complete (possibly multi-line) reply."""

    code: int
    lines: List[str] = field(default_factory=list)  # text after "NNN-" / "NNN "
    enhanced: Optional[str] = None

    @property
    def text(self) -> str:
        """The reply text without codes; lines joined with newlines."""
        return "\n".join(self.lines_without_enhanced())

    def lines_without_enhanced(self) -> List[str]:
        if not self.enhanced:
            return list(self.lines)
        out = []
        for line in self.lines:
            if line.startswith(self.enhanced):
                line = line[len(self.enhanced):].lstrip(" ")
            out.append(line)
        return out

    @property
    def klass(self) -> int:
        """2, 3, 4 or 5."""
        return self.code // 100

    def render(self) -> str:
        """One-line rendering, e.g. ``554 5.7.1 Relay access denied``."""
        first = self.lines[0] if self.lines else ""
        return f"{self.code} {first}".rstrip()


def split_line(line: str) -> Tuple[int, bool, str]:
    """Split one reply line into (code, is_last, text); raise MalformedReply."""
    if len(line) > MAX_LINE:
        raise MalformedReply(f"reply line longer than {MAX_LINE} characters")
    if len(line) < 3 or not (line[:3].isascii() and line[:3].isdigit()):
        raise MalformedReply(f"not an SMTP reply line: {line[:80]!r}")
    code = int(line[:3])
    if not 200 <= code <= 599:
        raise MalformedReply(f"reply code {code} out of range: {line[:80]!r}")
    if len(line) == 3:
        return code, True, ""
    sep = line[3]
    if sep not in (" ", "-"):
        raise MalformedReply(f"bad separator after reply code: {line[:80]!r}")
    return code, sep == " ", line[4:]


def enhanced_code(code: int, text: str) -> Optional[str]:
    """The RFC 3463 status code that starts ``text``, if its class matches ``code``."""
    match = _ENHANCED.match(text)
    if not match or int(match.group(1)) != code // 100:
        return None
    return match.group(0)


def parse_reply(lines: List[str]) -> Reply:
    """Parse the lines of one complete reply (without CRLF)."""
    if not lines:
        raise MalformedReply("empty reply")
    reader = ReplyReader()
    for index, line in enumerate(lines):
        reply = reader.feed(line)
        if (reply is not None) != (index == len(lines) - 1):
            raise MalformedReply("continuation lines do not end with a final line")
    return reply  # type: ignore[return-value]  # the last feed returned it


class ReplyReader:
    """Collects reply lines one at a time; ``feed`` returns a Reply when one completes.

    Each line is split and checked once, as it arrives."""

    def __init__(self) -> None:
        self._code: Optional[int] = None
        self._texts: List[str] = []

    def feed(self, line: str) -> Optional[Reply]:
        code, last, text = split_line(line)
        if self._code is None:
            self._code = code
        elif code != self._code:
            raise MalformedReply(f"reply code changed from {self._code} to {code} mid-reply")
        self._texts.append(text)
        if len(self._texts) > MAX_LINES:
            raise MalformedReply(f"reply longer than {MAX_LINES} lines")
        if not last:
            return None
        texts, self._texts, self._code = self._texts, [], None
        return Reply(code=code, lines=texts, enhanced=enhanced_code(code, texts[0]))


def ehlo_keywords(reply: Reply) -> Dict[str, List[str]]:
    """EHLO extensions: upper-case keyword -> parameters. The first line is the greeting."""
    keywords: Dict[str, List[str]] = {}
    for line in reply.lines[1:]:
        words = line.split()
        if words:
            keywords[words[0].upper()] = words[1:]
    return keywords


def xclient_attributes(keywords: Dict[str, List[str]]) -> Optional[List[str]]:
    """The attribute names advertised with XCLIENT (upper case), or None if not offered."""
    if "XCLIENT" not in keywords:
        return None
    return [word.upper() for word in keywords["XCLIENT"]]
