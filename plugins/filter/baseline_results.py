# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: baseline_results
short_description: Verdicts that changed from an xclient_probe baseline, as failed result rows
version_added: 0.2.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - Turns the RV(mailops.xclient.xclient_probe#module:baseline.changes) of an
    M(mailops.xclient.xclient_probe) result into result rows shaped like its cases, one
    failed row per case and stage whose verdict changed, for reports (the verify role).
options:
  _input:
    description: The registered result of M(mailops.xclient.xclient_probe) (no rows
      when it has no baseline).
    type: dict
    required: true
  group:
    description: The rows' group.
    type: str
    default: baseline
"""

EXAMPLES = r"""
- name: Changed verdicts as report rows
  ansible.builtin.debug:
    msg: "{{ probe | mailops.xclient.baseline_results('proxy') | mailops.xclient.verify_report }}"
"""

RETURN = r"""
_value:
  description: The result rows.
  type: list
  elements: dict
"""

from typing import Any, List, Mapping

from ansible_collections.mailops.xclient.plugins.module_utils._baseline import (
    change_results,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    CaseResult,
)
from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import filters_of


def baseline_results(result: Mapping[str, Any], group: str = "baseline") -> List[CaseResult]:
    baseline = (result or {}).get("baseline") or {}
    return change_results(baseline.get("changes") or [], group)


FilterModule = filters_of(baseline_results)
