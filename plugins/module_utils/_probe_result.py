# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The result of a probe stage and of a probe case: one definition for all who read it.

The runner builds stages only with ``reply_stage`` / ``unsent_xclient_stage`` /
``skipped_stage``; ``judge`` compares them with what a case expects; ``case_result`` is
the serialized form the module returns (its RETURN documents exactly these keys);
``table_row`` / ``render_table`` render a case as a line of the report, for the module,
the verify role (filters verify_report, finding_result) and its JUnit file alike.

Results are plain dictionaries at run time (TypedDicts): they go to JSON unchanged and a
10,000-case run holds nothing twice. Pure functions, stdlib only.
"""

from __future__ import annotations

import re
import sys
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypedDict,
)

from ansible_collections.mailops.xclient.plugins.module_utils._bounded_regex import (
    bounded_search,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_reply import Reply

if TYPE_CHECKING:  # only for the annotations: _probe_cases imports this module
    from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
        CaseSpec,
        Expectation,
    )

# ---------------------------------------------------------------------- the words

# Stages a case can expect something of, in the order of the session. ``helo`` is the
# greeting after an accepted XCLIENT (the HELO Postfix checks for the new identity).
STAGES = ("connect", "xclient", "helo", "mail", "rcpt", "data")
# Stages every case goes through the same way (only help to explain a failure, unless the
# case expects something of them).
GREETING_STAGES = ("connect", "ehlo", "helo")
# One vocabulary for every stage. The reply words and the reply classes each one stands
# for; a configuration error (see is_config_error) is none of them, only ``config_error``.
REPLY_WORDS: Dict[str, Tuple[int, ...]] = {
    "accepted": (2, 3),
    "rejected": (5,),
    "deferred": (4,),
}
CONFIG_ERROR = "config_error"
# The words of earlier releases, still understood (deprecated: use the new word).
WORD_ALIASES: Dict[str, str] = {"accept": "accepted", "reject": "rejected",
                                "tempfail": "deferred"}
# The outcome of the xclient stage, and what each means for a reader of the report.
XCLIENT_OUTCOMES: Dict[str, str] = {
    "accepted": "the identity is in force",
    "refused": "Postfix refused the command (authorization or syntax)",
    "rejected": "the identity was applied, then rejected by the restrictions",
    "deferred": "the identity was applied, then deferred by the restrictions",
    CONFIG_ERROR: "the server's configuration is broken (4.3.5 Server configuration"
                  " error): no rule is working",
    "not_offered": "XCLIENT is not offered to this client",
    "offered": "XCLIENT is offered",
}
ANY = "any"
STAGE_EXPECT_WORDS = (*REPLY_WORDS, CONFIG_ERROR, ANY)
XCLIENT_EXPECT_WORDS = (*XCLIENT_OUTCOMES, ANY)
# Outcomes that only a sent XCLIENT can have; "offered" only a case that sends none.
SENT_OUTCOMES = ("accepted", "refused", "rejected", "deferred", CONFIG_ERROR)
CONFIG_NOTE = "a configuration problem on the server (no rule is working)"
_CONFIG_TEXT = re.compile(r"\bserver configuration (error|problem)\b", re.IGNORECASE)
# Postfix's own refusals of the XCLIENT command (smtpd.c xclient_cmd and the command
# parser): the identity was not applied. Anything else - the text of a restriction, an
# access table, a policy service - comes after the identity was applied.
_COMMAND_REFUSAL = re.compile(
    r"^(Error: |Syntax: |Bad (XCLIENT|[A-Z_]+ syntax))"
    r"|\b(command (not recognized|unrecognized|not implemented)|unrecognized command)\b",
    re.IGNORECASE)
STATUSES = ("passed", "failed", "error")
# How each status reads in a report row.
VERDICTS = {"passed": "passed", "failed": "FAILED", "error": "ERROR"}


# ---------------------------------------------------------------------- the shapes

class StageResult(TypedDict, total=False):
    """One stage. A stage not run on purpose has only ``skipped``."""

    code: Optional[int]  # the reply code; None for an XCLIENT that was not sent
    enhanced: Optional[str]  # RFC 3463 status code, when the reply has one
    text: str  # reply text without codes; first line only for ehlo and helo
    outcome: str  # xclient only: one of XCLIENT_OUTCOMES
    attributes: Optional[List[str]]  # xclient of a case without identity: advertised
    recipient: str  # rcpt entries: the recipient this reply is for
    skipped: str  # why the stage was not run (data in check mode, helo after [UNAVAILABLE])


# Stage name (connect, ehlo, xclient, helo, mail, data) -> StageResult; rcpt -> a list
# of StageResult, one per recipient. Stages not reached are absent.
Stages = Dict[str, Any]


class _CaseResultKeys(TypedDict):
    name: str
    passed: bool
    status: str  # one of STATUSES
    error: Optional[str]
    mismatches: List[str]
    stages: Stages
    elapsed_ms: float


class CaseResult(_CaseResultKeys, total=False):
    """One case, as the module returns it (RETURN ``cases``)."""

    transcript: List[str]  # per the transcript option
    group: str  # added by the verify role: where the case went (proxy, filter, ...)
    judged: bool  # present (false) only on a case that expected nothing: not judged


# ---------------------------------------------------------------------- building stages

def _shared(text: Optional[str]) -> Optional[str]:
    # Most replies are the same for many cases (banner, "Ok", the same rejection): share
    # one string object among them, so a 10,000-case result does not hold 10,000 copies.
    return sys.intern(text) if text is not None and len(text) <= 200 else text


def reply_stage(reply: Reply, first_line: bool = False, outcome: Optional[str] = None,
                recipient: Optional[str] = None) -> StageResult:
    """A stage the server answered. ``first_line`` for EHLO/HELO: the keywords are the
    same for every case (the run reports them once, as ``xclient_attributes``) and are in
    the transcript; repeating them per case would make a 10,000-case result much larger."""
    text = (reply.lines[0] if reply.lines else "") if first_line else reply.text
    stage: StageResult = {"code": reply.code, "enhanced": _shared(reply.enhanced),
                          "text": _shared(text) or ""}
    if outcome is not None:
        stage["outcome"] = outcome
    if recipient is not None:
        stage["recipient"] = recipient
    return stage


def unsent_xclient_stage(outcome: str, text: str,
                         attributes: Optional[Sequence[str]] = None,
                         with_attributes: bool = False) -> StageResult:
    """The xclient stage when no XCLIENT went out: ``offered`` / ``not_offered``.
    ``with_attributes`` (cases without identity) reports what EHLO advertised."""
    stage: StageResult = {"outcome": outcome, "code": None, "enhanced": None, "text": text}
    if with_attributes:
        stage["attributes"] = None if attributes is None else list(attributes)
    return stage


def skipped_stage(reason: str) -> StageResult:
    return {"skipped": reason}


def is_config_error(code: Optional[int], enhanced: Optional[str], text: str) -> bool:
    """Whether a reply says the server's configuration is broken: Postfix's ``451 4.3.5
    Server configuration error`` (a misspelled restriction, a table it cannot open).
    Such a reply is not a policy decision: it satisfies no word but ``config_error``."""
    if code is None or code // 100 not in (4, 5):
        return False
    return (enhanced or "").endswith(".3.5") or bool(_CONFIG_TEXT.search(text or ""))


def xclient_outcome(code: int, enhanced: Optional[str], text: str = "") -> str:
    """The outcome word for the server's reply to XCLIENT (see XCLIENT_OUTCOMES),
    decided by what Postfix did, whatever the code: ``refused`` when Postfix refused the
    command itself (its own ``Error:``/``Syntax:``/``Bad ... syntax`` replies - not
    authorized, bad syntax, a transaction in progress), ``rejected``/``deferred`` when
    the identity was applied and a restriction answered (``smtpd_delay_reject=no``;
    such a reply can be a 501 or 504 too, e.g. a HELO check)."""
    if code // 100 == 2:
        return "accepted"
    first = text.split("\n", 1)[0] if text else ""
    if is_config_error(code, enhanced, first):
        return CONFIG_ERROR
    if (code == 550 and enhanced == "5.7.0") or _COMMAND_REFUSAL.search(first):
        return "refused"
    return "rejected" if code // 100 == 5 else "deferred"


# ---------------------------------------------------------------------- judging

def _got(stage: Optional[Mapping[str, Any]]) -> str:
    """How a stage reads in a mismatch line."""
    if stage is None:
        return "not reached"
    if stage.get("skipped"):
        return f"skipped ({stage['skipped']})"
    parts = [str(stage.get("code") or ""), stage.get("enhanced") or "",
             (stage.get("text") or "").split("\n")[0]]
    reply = " ".join(p for p in parts if p)
    if is_config_error(stage.get("code"), stage.get("enhanced"), stage.get("text") or ""):
        reply += f" - {CONFIG_NOTE}"
    if "outcome" in stage:
        return f"{stage['outcome']} ({reply})" if reply else stage["outcome"]
    return reply


def _reply_matches(exp: Expectation, stage: Optional[Mapping[str, Any]],
                   deadline: Optional[float]) -> bool:
    return stage is not None and not stage.get("skipped") and exp.matches_reply(
        stage.get("code"), stage.get("enhanced"), stage.get("text") or "", deadline)


def xclient_matches(exp: Expectation, stage: Mapping[str, Any],
                    deadline: Optional[float] = None) -> bool:
    outcome = stage["outcome"]
    if exp.value == ANY:
        ok = True
    elif exp.value in XCLIENT_OUTCOMES:
        ok = outcome == exp.value or (exp.value == "offered" and outcome == "accepted")
    else:  # a code
        ok = stage.get("code") is not None and _reply_matches(exp, stage, deadline)
    if ok and exp.text is not None:
        ok = bounded_search(exp.text, stage.get("text") or "", deadline)
    return ok


def _judge_rcpt(spec: CaseSpec, exp: Any, got: Optional[List[StageResult]],
                deadline: Optional[float], problems: List[str]) -> Optional[StageResult]:
    """Mismatches of the rcpt stage into ``problems``; returns the decisive reply."""
    results = got or []
    exps = exp if isinstance(exp, list) else [exp] * max(len(spec.rcpt_to), 1)
    decisive = None
    for i, one in enumerate(exps):
        if one.is_any():
            continue
        reply = results[i] if i < len(results) else None
        decisive = reply
        label = f"rcpt {spec.rcpt_to[i]}" if i < len(spec.rcpt_to) else "rcpt"
        if not _reply_matches(one, reply, deadline):
            problems.append(f"{label}: expected {one.describe()}, got {_got(reply)}")
    return decisive


def judge(spec: CaseSpec, stages: Stages, deadline: Optional[float] = None) -> List[str]:
    """Mismatches between what the case expects and what each stage got ([] = passed).

    Regular expressions run against server-controlled text; none runs past ``deadline``
    (time.monotonic()): _bounded_regex.RegexTimeout is raised instead. A stage skipped on
    purpose (DATA in check mode) is not judged; the result says so (see ``detail``)."""
    problems: List[str] = []
    decisive = None
    for stage in STAGES:
        exp = spec.expect.get(stage)
        if exp is None:
            continue
        got = stages.get(stage)
        if stage == "rcpt":
            decisive = _judge_rcpt(spec, exp, got, deadline, problems) or decisive
            continue
        if isinstance(exp, list) or exp.is_any() or (got is not None and got.get("skipped")):
            continue
        decisive = got
        matches = xclient_matches if stage == "xclient" and got is not None \
            else _reply_matches
        if got is None or not matches(exp, got, deadline):
            problems.append(f"{stage}: expected {exp.describe()}, got {_got(got)}")
    if spec.text is not None:
        text = (decisive or {}).get("text") or ""
        if decisive is None or not bounded_search(spec.text, text, deadline):
            problems.append(f"text: expected /{spec.text.pattern}/ in the decisive reply,"
                            f" got {_got(decisive)}")
    return problems


# ---------------------------------------------------------------------- serializing

def _mask(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` with every secret replaced by ********, in every string it holds."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "********")
        return value
    if isinstance(value, list):
        return [_mask(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v, secrets) for k, v in value.items()}
    return value


def case_result(name: str, stages: Stages, error: Optional[str], mismatches: List[str],
                started: float, transcript: Optional[List[str]] = None,
                transcript_mode: str = "failures", expected: Iterable[str] = (),
                secrets: Sequence[str] = ()) -> CaseResult:
    """The case as the module returns it. A passed case leaves out the greeting stages
    it had no expectation on (``expected``) unless ``transcript_mode`` is ``all``; the
    transcript is kept per ``transcript_mode``; every secret is masked everywhere."""
    passed = error is None and not mismatches
    if passed and transcript_mode != "all":
        # What a passed case proves is in the stages it judged; the greetings are the
        # same for every case and only help to explain a failure.
        for stage in GREETING_STAGES:
            if stage not in expected:
                stages.pop(stage, None)
    result: CaseResult = {
        "name": name,
        "passed": passed,
        "status": "passed" if passed else ("error" if error else "failed"),
        "error": error,
        "mismatches": mismatches,
        "stages": stages,
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
    }
    if transcript is not None and (transcript_mode == "all" or not passed):
        result["transcript"] = transcript
    return _mask(result, secrets) if secrets else result


def check_result(group: str, name: str, mismatches: Sequence[str] = ()) -> CaseResult:
    """A result row for a check that is not a probe case (a postfix_info finding):
    failed with ``mismatches``, passed without."""
    failed = bool(mismatches)
    return {"group": group, "name": name, "passed": not failed,
            "status": "failed" if failed else "passed", "error": None,
            "mismatches": list(mismatches), "stages": {}, "elapsed_ms": 0.0}


def status_of(result: Mapping[str, Any]) -> str:
    """A row's status; rows built by hand (``passed`` / ``error`` only) get theirs from
    those two keys."""
    status = result.get("status")
    if status in STATUSES:
        return str(status)
    return "passed" if result.get("passed") else "error" if result.get("error") else "failed"


def summarize(results: Iterable[Mapping[str, Any]]) -> Dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for r in results:
        counts[status_of(r)] += 1
    return {"total": sum(counts.values()), "passed": counts["passed"],
            "failed": counts["failed"], "errors": counts["error"]}


# ---------------------------------------------------------------------- rendering

def _first_line(text: Optional[str]) -> str:
    return (text or "").split("\n")[0]


def xclient_detail(stage: Mapping[str, Any]) -> str:
    """``xclient rejected 554 (the identity was applied, then ...)``."""
    outcome = stage.get("outcome") or ""
    note = XCLIENT_OUTCOMES.get(outcome)
    return (f"xclient {outcome}" + (f" {stage['code']}" if stage.get("code") else "")
            + (f" ({note})" if note and outcome not in ("accepted", "offered") else ""))


def _reply_detail(label: str, stage: Mapping[str, Any]) -> str:
    parts = [label, str(stage.get("code")), stage.get("enhanced") or "",
             _first_line(stage.get("text"))]
    return " ".join(p for p in parts if p)


# A skipped stage's reason ends so when the case expected something of it (the report
# row then says so: the case passed without that expectation being judged).
NOT_JUDGED = "not judged"
NOTHING_EXPECTED = "nothing expected (the case has no expect): not judged"


def detail(result: Mapping[str, Any], nothing_expected: bool = False) -> str:
    """What a report row says of a case: the error; the mismatches (with what the
    xclient outcome means, when a mismatch is about it); or, for a passed case, the
    replies that decided it, what was skipped, and whether it expected anything at all."""
    if result.get("error"):
        return str(result["error"])
    stages = result.get("stages") or {}
    xc = stages.get("xclient") or {}
    mismatches = result.get("mismatches") or []
    if mismatches:
        note = XCLIENT_OUTCOMES.get(xc.get("outcome") or "")
        explain = note and any(m.startswith("xclient:") for m in mismatches)
        return "; ".join(mismatches) + (f" ({xc['outcome']}: {note})" if explain else "")
    parts = [NOTHING_EXPECTED] if nothing_expected else []
    parts += [xclient_detail(xc)] if xc else []
    for stage in ("helo", "mail", "rcpt", "data"):
        entries = stages.get(stage)
        for one in entries if isinstance(entries, list) else [entries] if entries else []:
            if NOT_JUDGED in (one.get("skipped") or ""):
                parts.append(f"{stage} skipped ({one['skipped']})")
            elif one.get("code") is not None and (stage != "helo" or one["code"] // 100 != 2):
                parts.append(_reply_detail(stage, one))
    return ", ".join(parts)


def verdict(result: Mapping[str, Any]) -> str:
    """``passed``, ``FAILED`` or ``ERROR``."""
    return VERDICTS[status_of(result)]


def printable(text: str) -> str:
    """``text`` on one line: control characters (a name or a reply holding a line break)
    shown escaped, so one row stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else
                   ("\\x%02x" % ord(c) if ord(c) < 0x100 else "\\u%04x" % ord(c))
                   for c in text)


def table_row(result: Mapping[str, Any]) -> Tuple[str, str, str, str]:
    """(group, case, result, detail) of one case; a case with ``judged: false`` (it
    expected nothing) says so."""
    return (printable(str(result.get("group") or "")), printable(str(result["name"])),
            verdict(result), printable(detail(result, result.get("judged") is False)))


def render_table(results: Iterable[Mapping[str, Any]], only_problems: bool = False,
                 groups: bool = False, max_name: Optional[int] = None) -> List[str]:
    """The report: a header and one line per case (``only_problems``: per case that did
    not pass); a GROUP column first with ``groups``. Columns are aligned; names are shown
    in full (with ``max_name``, a longer name is cut and ends in ``...``, never silently).
    No lines when there is no row."""
    rows = [table_row(r) for r in results
            if not (only_problems and r["passed"])]
    if not rows:
        return []
    if max_name is not None:
        cut = max(max_name, 4)
        rows = [(g, n if len(n) <= cut else n[:cut - 3] + "...", w, t)
                for g, n, w, t in rows]
    width = max(len("CASE"), *(len(row[1]) for row in rows))
    gwidth = max(12, *(len(row[0]) + 1 for row in rows)) if groups else 0
    head = f"{'GROUP':<{gwidth}} " if groups else ""
    lines = [f"{head}{'CASE':<{width}}  {'RESULT':<6}  DETAIL"]
    for group, name, word, text in rows:
        head = f"{group:<{gwidth}} " if groups else ""
        lines.append(f"{head}{name:<{width}}  {word:<6}  {text}".rstrip())
    return lines
