# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cases_via
short_description: The probe cases that go through one place, ready for xclient_probe
version_added: 0.1.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - From a list of probe cases that each name where they go (C(via)), returns those for
    one place, without the C(via) key.
options:
  _input:
    description: Cases, each a dictionary with C(via).
    type: list
    elements: dict
    required: true
  via:
    description: The place - proxy, filter or a backend name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Probe through the proxy
  mailops.xclient.xclient_probe:
    server: 127.0.0.1
    port: 2525
    cases: "{{ verify_cases | mailops.xclient.cases_via('proxy') }}"
"""

RETURN = r"""
_value:
  description: The cases for that place, without C(via).
  type: list
  elements: dict
"""

from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import filters_of


def cases_via(cases, via):
    return [{k: v for k, v in case.items() if k != "via"}
            for case in cases or [] if case.get("via") == via]


FilterModule = filters_of(cases_via)
