# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: audit_results
short_description: The findings of postfix_info as check results
version_added: 0.1.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - Turns the findings of M(mailops.xclient.postfix_info) into result rows shaped like the
    cases of M(mailops.xclient.xclient_probe), group C(postfix_info) - one failed row per
    finding of severity C(error) (see P(mailops.xclient.finding_result#filter)), or one
    passed row when there is none.
options:
  _input:
    description: The findings.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: The audit as results
  ansible.builtin.debug:
    msg: "{{ info.findings | mailops.xclient.audit_results }}"
"""

RETURN = r"""
_value:
  description: The result rows.
  type: list
  elements: dict
"""

from typing import Any, Iterable, List, Mapping

from ansible_collections.mailops.xclient.plugins.filter.finding_result import finding_result
from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    CaseResult,
    check_result,
)
from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import filters_of


def audit_results(findings: Iterable[Mapping[str, Any]]) -> List[CaseResult]:
    errors = [f for f in findings or [] if f.get("severity") == "error"]
    if not errors:
        return [check_result("postfix_info", "no findings of severity error")]
    return [finding_result(f) for f in errors]


FilterModule = filters_of(audit_results)
