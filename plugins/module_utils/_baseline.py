# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verdict baselines for xclient_probe: record what Postfix answered per case and stage,
and compare a later run with the record - one row per case and stage whose verdict
changed (case, identity, stage, before, after).

A verdict is what the server answered, not whether the case passed: the XCLIENT outcome
(``accepted``, ``rejected``, ...) and the reply codes of MAIL, each RCPT and DATA, or
``error`` for a case that could not be run. The identity is what the case sent (XCLIENT
attributes with LOGIN masked, HELO, envelope), so a case redefined under the same name is
reported as such instead of as a verdict change.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    CaseSpec,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    CaseResult,
    check_result,
)

FORMAT = 1
MASK = "********"
STAGES = ("xclient", "mail", "rcpt", "data")


class BaselineError(ValueError):
    """The baseline file cannot be read or written; the message names the option."""


def identity_of(spec: CaseSpec) -> Dict[str, Any]:
    xclient = dict(spec.xclient or {})
    if xclient.get("LOGIN"):
        xclient["LOGIN"] = MASK
    out: Dict[str, Any] = {"xclient": xclient, "mail_from": spec.mail_from,
                           "rcpt_to": list(spec.rcpt_to)}
    if spec.helo:
        out["helo"] = spec.helo
    if spec.source_address:
        out["source_address"] = spec.source_address
    return out


def verdict_of(result: Mapping[str, Any]) -> Dict[str, Any]:
    """Per stage the server's answer: the XCLIENT outcome, reply codes for the rest."""
    if result.get("error") and not result.get("stages"):
        return {"error": "error"}
    stages = result.get("stages") or {}
    out: Dict[str, Any] = {}
    xclient = stages.get("xclient")
    if xclient:
        out["xclient"] = xclient.get("outcome")
    for stage in ("mail", "data"):
        reply = stages.get(stage)
        if reply:
            out[stage] = reply.get("code") if "skipped" not in reply else "skipped"
    if stages.get("rcpt"):
        out["rcpt"] = [r.get("code") for r in stages["rcpt"]]
    if result.get("error"):
        out["error"] = "error"
    return out


def record(specs: Sequence[CaseSpec], results: Sequence[Mapping[str, Any]]
           ) -> Dict[str, Any]:
    cases = {}
    for spec in specs:
        result = results[spec.index]
        cases[spec.name] = {"identity": identity_of(spec), "verdict": verdict_of(result)}
    return {"format": FORMAT, "cases": cases}


def compare(before: Mapping[str, Any], after: Mapping[str, Any]) -> Dict[str, Any]:
    """changes (one row per case and stage whose verdict differs), unchanged (count),
    added / removed / redefined (case names)."""
    old, new = before.get("cases", {}), after.get("cases", {})
    changes: List[Dict[str, Any]] = []
    unchanged = 0
    redefined = []
    for name, now in new.items():
        then = old.get(name)
        if then is None:
            continue
        if then.get("identity") != now.get("identity"):
            redefined.append(name)
            continue
        rows = _stage_changes(name, now["identity"], then.get("verdict", {}),
                              now.get("verdict", {}))
        changes += rows
        unchanged += not rows
    return {"changes": changes, "unchanged": unchanged,
            "added": [n for n in new if n not in old],
            "removed": [n for n in old if n not in new], "redefined": redefined}


def _stage_changes(name: str, identity: Mapping[str, Any], then: Mapping[str, Any],
                   now: Mapping[str, Any]) -> List[Dict[str, Any]]:
    rows = []
    for stage in STAGES + ("error",):
        if then.get(stage) != now.get(stage):
            rows.append({"case": name, "identity": dict(identity), "stage": stage,
                         "before": then.get(stage), "after": now.get(stage)})
    return rows


def load(path: str) -> Optional[Dict[str, Any]]:
    """The recorded baseline, None when the file does not exist."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BaselineError(f"baseline: cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(
            data.get("cases"), dict):
        raise BaselineError(f"baseline: {path} is not a verdict baseline of this"
                            f" collection (format {FORMAT})")
    return data


def save(path: str, data: Mapping[str, Any]) -> None:
    """Write atomically (a temporary file in the same directory, then rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".baseline-", dir=directory)
    except OSError as exc:
        raise BaselineError(f"baseline: cannot write in {directory}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise BaselineError(f"baseline: cannot write {path}: {exc.strerror}") from None


def describe(changes: Iterable[Mapping[str, Any]]) -> List[str]:
    return [f"{c['case']}: {c['stage']} {c['before']} -> {c['after']}" for c in changes]


def check_baseline(path: str, update: bool, check_mode: bool = False
                   ) -> Optional[Dict[str, Any]]:
    """The recorded baseline (None when there is none yet), read before any case runs;
    BaselineError when it cannot be read or would not be writable (check mode writes
    nothing, so there the place need not exist yet)."""
    then = load(path)
    directory = os.path.dirname(os.path.abspath(path))
    if (then is None or update) and not check_mode and not os.access(directory, os.W_OK):
        raise BaselineError(f"baseline: cannot write in {directory} (missing or not"
                            " writable)")
    return then


def apply_baseline(path: str, update: bool, then: Optional[Dict[str, Any]],
                   now: Dict[str, Any], check_mode: bool) -> Dict[str, Any]:
    """Record ``now`` when there is no baseline yet (or with ``update``), else compare
    with ``then`` (from check_baseline): the result's ``baseline`` and whether the file
    changes (in check mode: would)."""
    report: Dict[str, Any] = {"path": path}
    if then is None:
        report.update(action="recorded", changes=[], unchanged=0, added=list(now["cases"]),
                      removed=[], redefined=[], changed=True)
    else:
        report.update(compare(then, now), action="compared")
        report["changed"] = bool(update and then != now)
        if report["changed"]:
            report["action"] = "compared and updated"
    if report["changed"] and not check_mode:
        save(path, now)
    return report


def change_results(changes: Iterable[Mapping[str, Any]], group: str) -> List[CaseResult]:
    """Each changed verdict as a failed result row (for the verify role's report)."""
    return [check_result(group, f"{c['case']} ({c['stage']})",
                         [f"verdict changed from the baseline: {c['stage']} {c['before']}"
                          f" -> {c['after']}"]) for c in changes]
