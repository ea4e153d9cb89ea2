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
  - Renders result rows (probe cases with a C(group), and findings) as table lines - group,
    case, result, and what was expected and got, or what the reply was.
options:
  _input:
    description: Result rows.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Show the table
  ansible.builtin.debug:
    msg: "{{ verify_results | mailops.xclient.verify_report }}"
"""

RETURN = r"""
_value:
  description: Table lines.
  type: list
  elements: str
"""


# What each XCLIENT outcome word of xclient_probe means, for readers of the table.
XCLIENT_OUTCOMES = {
    "accepted": "the identity is in force",
    "refused": "Postfix refused the command (authorization or syntax)",
    "rejected": "the identity was applied, then rejected by the restrictions",
    "deferred": "the identity was applied, then deferred by the restrictions",
    "not_offered": "XCLIENT is not offered to this client",
    "offered": "XCLIENT is offered",
}


def xclient_detail(xc):
    """``xclient rejected 554 (the identity was applied, then ...)``."""
    outcome = xc.get("outcome")
    note = XCLIENT_OUTCOMES.get(outcome)
    return (f"xclient {outcome}" + (f" {xc['code']}" if xc.get("code") else "")
            + (f" ({note})" if note and outcome not in ("accepted", "offered") else ""))


def _detail(row):
    if row.get("error"):
        return row["error"]
    stages = row.get("stages") or {}
    if row.get("mismatches"):
        xc = stages.get("xclient") or {}
        note = XCLIENT_OUTCOMES.get(xc.get("outcome") or "")
        explain = any(m.startswith("xclient:") for m in row["mismatches"]) and note
        return "; ".join(row["mismatches"]) + (f" ({xc['outcome']}: {note})" if explain
                                               else "")
    parts = []
    xc = stages.get("xclient")
    if xc:
        parts.append(xclient_detail(xc))
    for rcpt in stages.get("rcpt") or []:
        text = (rcpt.get("text") or "").split("\n")[0]
        parts.append(f"rcpt {rcpt.get('code')} {text}".strip())
    data = stages.get("data")
    if data and data.get("code"):
        parts.append(f"data {data['code']} {(data.get('text') or '').split(chr(10))[0]}")
    return ", ".join(parts)


def verify_report(rows):
    rows = list(rows or [])
    if not rows:
        return []
    width = min(max(len(str(r.get("name", ""))) for r in rows), 60)
    lines = [f"{'GROUP':<12} {'CASE':<{width}}  {'RESULT':<6}  DETAIL"]
    for r in rows:
        verdict = "passed" if r.get("passed") else ("ERROR" if r.get("error") else "FAILED")
        lines.append(f"{str(r.get('group', '')):<12} {str(r.get('name', ''))[:width]:<{width}}"
                     f"  {verdict:<6}  {_detail(r)}")
    return lines


class FilterModule:
    def filters(self):
        return {"verify_report": verify_report}
