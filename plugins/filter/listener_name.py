# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: listener_name
short_description: The master.cf service name of an inet listener
version_added: 0.1.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - Turns a dictionary with C(address) and C(port) into the master.cf service name,
    C(127.0.0.1:10025) or, for IPv6, C([::1]:10025).
options:
  _input:
    description: A dictionary with C(address) and C(port).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: The proxy listener's service
  ansible.builtin.debug:
    msg: "{{ {'address': '::1', 'port': 10025} | mailops.xclient.listener_name }}/inet"
"""

RETURN = r"""
_value:
  description: The service name.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import filters_of


def listener_name(listener) -> str:
    try:
        address = str(listener["address"]).strip("[]")
        port = int(listener["port"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"listener_name needs address and port: {exc}") from None
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


FilterModule = filters_of(listener_name)
