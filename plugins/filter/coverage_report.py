# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: coverage_report
short_description: Which access rules hold, which are shadowed - access_cases coverage
  judged by an xclient_probe run of its cases
version_added: 0.2.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - Puts the RV(mailops.xclient.access_cases#module:coverage) of
    M(mailops.xclient.access_cases) together with the result of
    M(mailops.xclient.xclient_probe) run on its cases (best with
    O(mailops.xclient.xclient_probe#module:fail_on_mismatch=false)).
  - A rule I(holds) when each of its cases behaved as the rule's action says. A rule
    whose case did not is I(shadowed or overridden) - an earlier rule decided first (for
    example C(permit_mynetworks) before a REJECT entry), or a later one took the verdict
    away - and is reported by name with what decided instead - the rule the evaluation
    model of M(mailops.xclient.access_cases) expected to decide that identity when
    Postfix's verdict is that rule's, otherwise Postfix's own reply.
options:
  _input:
    description: The registered result of M(mailops.xclient.access_cases), or its
      C(coverage) rows.
    type: raw
    required: true
  probe:
    description: The registered result of M(mailops.xclient.xclient_probe), or its
      C(cases).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Coverage and shadowed rules
  ansible.builtin.debug:
    msg: "{{ (derived | mailops.xclient.coverage_report(probe)).lines }}"
"""

RETURN = r"""
_value:
  description:
    - C(rows) - the coverage rows with C(status) (V(holds), V(shadowed), V(error),
      V(not run), V(not covered)), C(findings) and C(notes);
    - C(shadowed) - one entry per case that did not behave as its rule says -
      C(rule), C(case), C(expected), C(got), C(reply), C(decided_by);
    - C(totals) - C(rules), C(coverable), C(covered), C(holds), C(shadowed), C(errors),
      C(not_run), C(not_covered);
    - "C(line) - the summary line, C(coverage: N of M rules covered, K shadowed);"
    - C(lines) - that line, then one line per shadowed, failed or uncovered rule.
  type: dict
"""

from typing import Any, Dict

from ansible.errors import AnsibleFilterError
from ansible_collections.mailops.xclient.plugins.module_utils._coverage_report import (
    coverage_report as _coverage_report,
)
from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import filters_of


def coverage_report(coverage: Any, probe: Any) -> Dict[str, Any]:
    try:
        return _coverage_report(coverage, probe)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError(f"coverage_report: {exc}") from None


FilterModule = filters_of(coverage_report)
