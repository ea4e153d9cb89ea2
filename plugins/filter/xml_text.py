# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: xml_text
short_description: Any text as XML 1.0 character data or attribute value
version_added: 0.1.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - Escapes C(&), C(<), C(>), C(") and C(') as entities, and writes every character XML 1.0
    cannot hold at all (control characters other than tab, line feed and carriage return,
    lone surrogates, U+FFFE and U+FFFF) as visible text - C(\x07), C(\uFFFE) - so that a
    reply or a name holding them still makes a well-formed document.
  - The verify role writes its JUnit report with it; SMTP replies are server-controlled
    bytes.
options:
  _input:
    description: The text; other values are converted to text first.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: A JUnit message that stays well-formed whatever the server answered
  ansible.builtin.copy:
    dest: /tmp/reply.xml
    content: '<failure message="{{ reply | mailops.xclient.xml_text }}"/>'
"""

RETURN = r"""
_value:
  description: The escaped text.
  type: str
"""

import re
from typing import Any

from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import filters_of

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
# Everything outside XML 1.0's Char production, and the five markup characters.
_ESCAPE = re.compile("[&<>\"'\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape(match: "re.Match[str]") -> str:
    char = match.group()
    if char in _ENTITIES:
        return _ENTITIES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04X}"


def xml_text(value: Any) -> str:
    return _ESCAPE.sub(_escape, value if isinstance(value, str) else str(value))


FilterModule = filters_of(xml_text)
