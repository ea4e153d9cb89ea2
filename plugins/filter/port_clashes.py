# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: port_clashes
short_description: Listeners of a stack that would bind the same port
version_added: 0.1.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - Takes a dictionary from variable name to what that variable makes a service bind - a
    port number, a dictionary with C(port) (and C(address)), or a list of such - and
    returns one message per clash, naming both variables. Two listeners clash on the same
    port when their addresses are equal (compared as addresses - V(2001:db8::1) and
    V([2001:DB8:0::1]) are one) or either is a wildcard (C(0.0.0.0), C(::)) or unset.
  - A port that is not a number from 1 to 65535 is an error naming the variable.
options:
  _input:
    description: Variable name to port, listener or list of listeners.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: No two parts of the stack bind the same port
  ansible.builtin.assert:
    that: clashes == []
    fail_msg: "{{ clashes | join('; ') }}"
  vars:
    clashes: >-
      {{ {'nginx_proxy_listeners': nginx_proxy_listeners,
          'nginx_proxy_auth_http_port': nginx_proxy_auth_http_port}
         | mailops.xclient.port_clashes }}
"""

RETURN = r"""
_value:
  description: Messages, empty when nothing clashes.
  type: list
  elements: str
"""

import ipaddress
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import filters_of

WILDCARDS = {"", "0.0.0.0", "::", "*"}


def _port(where, value):
    """A TCP port number 1-65535 from an int or a string of digits."""
    text = str(value).strip() if isinstance(value, (int, str)) else ""
    if (isinstance(value, bool) or not re.fullmatch(r"[0-9]{1,5}", text)
            or not 1 <= int(text) <= 65535):
        raise AnsibleFilterError(
            f"port_clashes: {where}: {value!r} is not a port number (1-65535)")
    return int(text)


def _address(where, value):
    """The canonical spelling of an address: ``2001:DB8::0:1`` and ``[2001:db8::1]`` are
    one address; a wildcard is ``""``; a host name is kept, lower-cased."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AnsibleFilterError(f"port_clashes: {where}: {value!r} is not an address")
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        text = str(ipaddress.ip_address(text))
    except ValueError:
        text = text.lower()
    return "" if text in WILDCARDS else text


def _entries(name, value):
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        out = []
        for i, item in enumerate(value):
            out += _entries(f"{name}[{i}]", item)
        return out
    if isinstance(value, dict):
        if "port" not in value:
            raise AnsibleFilterError(f"port_clashes: {name} has no port")
        return [(name, _address(f"{name}.address", value.get("address")),
                 _port(f"{name}.port", value["port"]))]
    return [(name, "", _port(name, value))]


def port_clashes(sources) -> list:
    if not isinstance(sources, dict):
        raise AnsibleFilterError("port_clashes expects a dictionary")
    entries = []
    for name, value in sources.items():
        entries += _entries(str(name), value)
    out = []
    for i, (who_a, addr_a, port_a) in enumerate(entries):
        for who_b, addr_b, port_b in entries[i + 1:]:
            if port_a != port_b:
                continue
            if addr_a == addr_b or not addr_a or not addr_b:
                out.append(f"{who_a} and {who_b} both use port {port_a}")
    return out


FilterModule = filters_of(port_clashes)
