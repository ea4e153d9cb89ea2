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
    port when their addresses are equal or either is a wildcard (C(0.0.0.0), C(::)) or
    unset.
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

from ansible.errors import AnsibleFilterError

WILDCARDS = {"", "0.0.0.0", "::", "*", None}


def _entries(name, value):
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        out = []
        for i, item in enumerate(value):
            out += [(f"{name}[{i}]", a, p) for _n, a, p in _entries(name, item)]
        return out
    if isinstance(value, dict):
        if "port" not in value:
            raise AnsibleFilterError(f"port_clashes: {name} has no port")
        return [(name, str(value.get("address") or "").strip("[]"), int(value["port"]))]
    return [(name, "", int(value))]


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
            if addr_a == addr_b or addr_a in WILDCARDS or addr_b in WILDCARDS:
                out.append(f"{who_a} and {who_b} both use port {port_a}")
    return out


class FilterModule:
    def filters(self):
        return {"port_clashes": port_clashes}
