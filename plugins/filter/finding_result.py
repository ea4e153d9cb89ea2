# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: finding_result
short_description: A postfix_info finding as a failed check result
version_added: 0.1.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - Turns one finding of M(mailops.xclient.postfix_info) into a result row shaped like the
    cases of M(mailops.xclient.xclient_probe), group C(postfix_info), for reports.
options:
  _input:
    description: A finding.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Errors as results
  ansible.builtin.debug:
    msg: >-
      {{ info.findings | selectattr('severity', 'equalto', 'error')
      | map('mailops.xclient.finding_result') }}
"""

RETURN = r"""
_value:
  description: The result row.
  type: dict
"""


from typing import Any, Mapping

from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    CaseResult,
    check_result,
)
from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import filters_of


def finding_result(finding: Mapping[str, Any]) -> CaseResult:
    return check_result("postfix_info", f"{finding.get('code')} on {finding.get('service')}",
                        [f"{finding.get('message')} Fix: {finding.get('fix')}"])


FilterModule = filters_of(finding_result)
