# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: verify_report
short_description: Check results as a readable table, one line per row
version_added: 0.1.0
author:
  - mailops.xclient contributors (@mailops)
description:
  - Renders result rows (cases of M(mailops.xclient.xclient_probe) with a C(group), and
    postfix_info findings as rows) as table lines - group, case, result, and what was
    expected and got, or what the replies were. The same rows as the C(report) of
    M(mailops.xclient.xclient_probe), with a group column.
options:
  _input:
    description: Result rows.
    type: list
    elements: dict
    required: true
  format:
    description:
      - V(lines) for the table as text lines (with a header line), V(rows) for one
        dictionary per row with C(group), C(name), C(result) (V(passed), V(FAILED) or
        V(ERROR)) and C(detail), in the order given.
    type: str
    choices: [lines, rows]
    default: lines
"""

EXAMPLES = r"""
- name: Show the table
  ansible.builtin.debug:
    msg: "{{ verify_results | mailops.xclient.verify_report }}"
"""

RETURN = r"""
_value:
  description: Table lines, or one dictionary per row with O(format=rows).
  type: list
  elements: raw
"""

from typing import Any, Dict, Iterable, List, Mapping, Union

from ansible.errors import AnsibleFilterError
from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    render_table,
    table_row,
)
from ansible_collections.mailops.xclient.plugins.plugin_utils._jinja_plugin import filters_of


def _row(result: Mapping[str, Any]) -> Dict[str, str]:
    group, name, verdict, detail = table_row(result)
    return {"group": group, "name": name, "result": verdict, "detail": detail}


def verify_report(rows: Iterable[Mapping[str, Any]], format: str = "lines"
                  ) -> Union[List[str], List[Dict[str, str]]]:
    rows = list(rows or [])
    if format == "rows":
        return [_row(r) for r in rows]
    if format != "lines":
        raise AnsibleFilterError(f"verify_report: format must be lines or rows, not {format!r}")
    return render_table(rows, groups=True, max_name=60)


FilterModule = filters_of(verify_report)
