# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which access rules hold, judged by a probe run of their derived cases: the coverage of
access_cases put together with xclient_probe's case results (the coverage_report filter).

A rule holds when every case of it behaved as its action says. A rule whose case did not
is *shadowed or overridden*: reported by name with what decided instead - the rule the
evaluation model expected to decide that identity when Postfix's verdict is that rule's,
otherwise Postfix's own reply.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

_CODE_WORD = {2: "accept", 3: "accept", 4: "tempfail", 5: "reject"}


def observed(result: Mapping[str, Any]) -> Tuple[str, str]:
    """(reject|tempfail|accept|none|error, the reply that decided) of one case result."""
    if result.get("error"):
        return "error", str(result["error"])
    stages = result.get("stages") or {}
    xclient = stages.get("xclient") or {}
    outcome = xclient.get("outcome")
    if outcome in ("rejected", "deferred"):
        return ("reject" if outcome == "rejected" else "tempfail"), _reply("xclient", xclient)
    if outcome in ("refused", "not_offered"):
        return "error", _reply("xclient", xclient)
    mail = stages.get("mail")
    if mail and mail.get("code") and mail["code"] // 100 in (4, 5):
        return _CODE_WORD[mail["code"] // 100], _reply("mail", mail)
    rcpt = stages.get("rcpt") or []
    if rcpt and rcpt[0].get("code"):
        return _CODE_WORD.get(rcpt[0]["code"] // 100, "none"), _reply("rcpt", rcpt[0])
    return "none", ""


def _reply(stage: str, reply: Mapping[str, Any]) -> str:
    parts = [stage, str(reply.get("code") or ""), reply.get("enhanced") or "",
             (reply.get("text") or "").split("\n")[0]]
    return " ".join(p for p in parts if p)


def _results_by_name(probe: Any) -> Dict[str, Mapping[str, Any]]:
    cases = probe.get("cases") if isinstance(probe, Mapping) else probe
    if not isinstance(cases, Sequence):
        raise ValueError("the probe result has no cases (register the xclient_probe task"
                         " and pass it, or its cases)")
    return {c["name"]: c for c in cases if isinstance(c, Mapping) and "name" in c}


def coverage_report(coverage: Any, probe: Any) -> Dict[str, Any]:
    """Rows with status ``holds``, ``shadowed``, ``error``, ``not run`` or ``not covered``;
    the shadowed rules; totals; one summary line and a table as text lines."""
    rows_in = coverage.get("coverage") if isinstance(coverage, Mapping) else coverage
    if not isinstance(rows_in, Sequence) or isinstance(rows_in, str):
        raise ValueError("coverage: give the access_cases result or its coverage rows")
    results = _results_by_name(probe)
    rows: List[Dict[str, Any]] = []
    shadowed: List[Dict[str, Any]] = []
    for row_in in rows_in:
        row = dict(row_in)
        names = row.get("cases") or []
        predicted = row.get("predicted") or {}
        if not names:
            row["status"] = "not covered"
            rows.append(row)
            continue
        status, findings, notes = "holds", [], []
        for name in names:
            result = results.get(name)
            if result is None:
                status = "not run" if status == "holds" else status
                continue
            got, reply = observed(result)
            guess = predicted.get(name) or {}
            expected = guess.get("expected") or row.get("expectation") or "none"
            if got == "error":
                status = "error" if status != "shadowed" else status
                findings.append({"case": name, "expected": expected, "got": got,
                                 "reply": reply, "decided_by": None})
                continue
            if result.get("passed"):
                other = guess.get("rule")
                if other and other != row.get("rule") and expected != "none":
                    notes.append(f"{name}: same verdict, but the model expects {other} to"
                                 " decide it first")
                continue
            decider: Optional[str] = guess.get("rule")
            if decider == row.get("rule") or guess.get("outcome") != got:
                decider = None
            finding = {"rule": row.get("rule"), "case": name, "expected": expected,
                       "got": got, "reply": reply,
                       "decided_by": decider or f"a rule the model does not see; Postfix"
                                                f" answered: {reply or got}"}
            findings.append(finding)
            shadowed.append(finding)
            status = "shadowed"
        row["status"] = status
        row["findings"] = findings
        row["notes"] = notes
        rows.append(row)
    count = {s: sum(1 for r in rows if r["status"] == s)
             for s in ("holds", "shadowed", "error", "not run", "not covered")}
    unconditional = sum(1 for r in rows if (r.get("not_covered") or "").startswith("no case:"))
    coverable = len(rows) - unconditional
    covered = coverable - (count["not covered"] - unconditional)
    totals = dict(rules=len(rows), coverable=coverable, covered=covered,
                  holds=count["holds"], shadowed=count["shadowed"], errors=count["error"],
                  not_run=count["not run"], not_covered=count["not covered"] - unconditional)
    line = (f"coverage: {covered} of {coverable} rules covered, {count['shadowed']}"
            " shadowed")
    lines = [line]
    for row in rows:
        if row["status"] == "shadowed":
            for f in row["findings"]:
                lines.append(f"SHADOWED {row['rule']}: expected {f['expected']}, got"
                             f" {f['got']} - decided by {f['decided_by']}")
        elif row["status"] in ("error", "not run"):
            lines.append(f"{row['status'].upper()} {row['rule']}")
        elif row["status"] == "not covered" and not (row.get("not_covered") or ""
                                                     ).startswith("no case:"):
            lines.append(f"NOT COVERED {row['rule']}: {row.get('not_covered')}")
    return {"rows": rows, "shadowed": shadowed, "totals": totals, "line": line,
            "lines": lines}
