# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: python_regex
short_description: Is the value a Python regular expression?
version_added: 0.1.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - True when the value is a string that Python's C(re) module compiles - what the
    C(xclient-inject) command and the C(xclient_inject) module do with C(received_by).
  - Lets a role's validation name the variable, before anything changes, instead of
    failing later inside a template or C(set_fact).
extends_documentation_fragment:
  - mailops.xclient.jinja_test
"""

EXAMPLES = r"""
- name: Each received_by is a regular expression
  ansible.builtin.assert:
    that: item is mailops.xclient.python_regex
    fail_msg: "received_by: not a regular expression"
  loop: "{{ patterns }}"
"""

RETURN = r"""
_value:
  description: Whether the value compiles as a Python regular expression.
  type: bool
"""

import re

from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import parses, tests_of


def python_regex(value) -> bool:
    return isinstance(value, str) and parses(re.compile, value,
                                             (re.error, RecursionError, OverflowError))


TestModule = tests_of(python_regex)
