# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: ip_address
short_description: Is the value an IPv4 or IPv6 address?
version_added: 0.1.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - True when the value is one IPv4 or IPv6 address (no brackets, no prefix length).
extends_documentation_fragment:
  - mailops.xclient.jinja_test
"""

EXAMPLES = r"""
- name: Stop early on a listener address that does not parse
  ansible.builtin.assert:
    that: item.address is mailops.xclient.ip_address
  loop: "{{ postfix_xclient_listeners }}"
"""

RETURN = r"""
_value:
  description: Whether the value is an IP address.
  type: bool
"""

import ipaddress

from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import parses, tests_of


def ip_address(value) -> bool:
    return parses(ipaddress.ip_address, str(value))


TestModule = tests_of(ip_address)
