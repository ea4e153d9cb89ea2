# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: loopback_host
short_description: Does the value name this host's loopback interface?
version_added: 0.1.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - True for a loopback address (C(127.0.0.0/8), C(::1), also in brackets or IPv4-mapped)
    and for the names C(localhost) and C(localhost.) (case-insensitive). Any other name is
    false - whether it resolves to loopback is not asked, so the answer never depends on DNS.
extends_documentation_fragment:
  - mailops.xclient.jinja_test
"""

EXAMPLES = r"""
- name: Plain-text POP3 only on loopback
  ansible.builtin.assert:
    that: item.tls != 'none' or item.server is mailops.xclient.loopback_host
  loop: "{{ mailboxes }}"
"""

RETURN = r"""
_value:
  description: Whether the value names the loopback interface.
  type: bool
"""

import ipaddress

from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import tests_of


def loopback_host(value) -> bool:
    if not isinstance(value, str):
        return False
    text = value.strip()
    if text.lower() in ("localhost", "localhost."):
        return True
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


TestModule = tests_of(loopback_host)
