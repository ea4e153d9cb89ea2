# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: ip_network
short_description: Is the value an IPv4 or IPv6 network (or one address)?
version_added: 0.1.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - True when the value is a network in CIDR notation (C(192.0.2.0/24), C(2001:db8::/32),
    also C([2001:db8::]/32) as Postfix writes it) or one address, read exactly as
    C(xclient-inject --internal-network) and the C(internal_networks) option of
    M(mailops.xclient.xclient_inject) read it.
extends_documentation_fragment:
  - mailops.xclient.jinja_test
"""

EXAMPLES = r"""
- name: Stop early on an internal network that does not parse
  ansible.builtin.assert:
    that: item is mailops.xclient.ip_network
  loop: "{{ fetch_inject_mailboxes | map(attribute='internal_networks', default=[]) | flatten }}"
"""

RETURN = r"""
_value:
  description: Whether the value is a network.
  type: bool
"""

from ansible_collections.mailops.xclient.plugins.module_utils._received import (
    internal_networks,
)
from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import parses, tests_of


def ip_network(value) -> bool:
    return parses(internal_networks, [value])


TestModule = tests_of(ip_network)
