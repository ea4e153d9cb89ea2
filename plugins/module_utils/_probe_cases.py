# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Probe cases: validating what the user declared, and judging what Postfix answered.

Pure functions, stdlib only. Every error names the case and the field, and is raised
before any connection is made.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Pattern, Sequence, Union

from ansible_collections.mailops.xclient.plugins.module_utils._bounded_regex import (
    bounded_search,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_data import (
    DataPayload,
    MessageError,
    prepare_message,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_session import (
    wire_problem,
    word_problem,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xclient_command import (
    _LABEL,
    TEMPUNAVAIL,
    UNAVAILABLE,
    XclientValueError,
    build_commands,
    normalize_attributes,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xtext import encode

STAGE_WORDS = {
    "accept": (2, 3),
    "reject": (5,),
    "tempfail": (4,),
}
# XCLIENT outcomes: accepted (the new identity is in force: Postfix greeted with 220);
# refused (Postfix refused the command itself: not authorized 550 5.7.0, syntax and
# sequence errors 500-504); rejected / deferred (the identity was applied, then the
# restrictions refused it: smtpd_delay_reject=no, 5xx / 4xx); not_offered / offered (the
# EHLO keyword).
XCLIENT_WORDS = ("accepted", "refused", "rejected", "deferred", "not_offered", "offered",
                 "any")
STAGES = ("connect", "xclient", "mail", "rcpt", "data")
_CASE_KEYS = {"name", "xclient", "mail_from", "rcpt_to", "data", "expect", "helo",
              "source_address", "force_xclient"}
_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$", re.ASCII)
MAX_TIMEOUT = 86400.0  # seconds


class ProbeInputError(ValueError):
    """Bad input in a case; the message names case and field."""


@dataclass
class Expectation:
    """What one stage must answer: a word, a reply code or an enhanced code; and a regex."""

    value: str = "any"
    text: Optional[Pattern] = None

    def describe(self) -> str:
        return self.value + (f" /{self.text.pattern}/" if self.text else "")

    def is_any(self) -> bool:
        return self.value == "any" and self.text is None

    def matches_reply(self, code: Optional[int], enhanced: Optional[str], text: str,
                      deadline: Optional[float] = None) -> bool:
        if not self._status_matches(code, enhanced):
            return False
        return self.text is None or bounded_search(self.text, text or "", deadline)

    def _status_matches(self, code: Optional[int], enhanced: Optional[str]) -> bool:
        if self.value == "any":
            return True
        if code is None:
            return False
        if self.value in STAGE_WORDS:
            return code // 100 in STAGE_WORDS[self.value]
        if self.value.isdigit():
            return code == int(self.value)
        return enhanced == self.value


@dataclass
class CaseSpec:
    index: int
    name: str
    xclient: Optional[Dict[str, str]]  # normalized wire attributes
    xclient_commands: List[str]
    helo: Optional[str]  # EHLO name after XCLIENT (the declared HELO, if any)
    mail_from: Optional[str]
    rcpt_to: List[str]
    data: Optional[DataPayload]  # the message, ready for the wire
    expect: Dict[str, Union[Expectation, List[Expectation]]] = field(default_factory=dict)
    text: Optional[Pattern] = None  # expect.text: regex on the decisive stage's reply
    source_address: Optional[str] = None  # connect from here instead of the module's
    force_xclient: bool = False  # send XCLIENT even when the server does not offer it
    # False when the declared HELO is [UNAVAILABLE] / [TEMPUNAVAIL]: no HELO/EHLO after
    # XCLIENT, MAIL follows the new greeting (any greeting would set a HELO name).
    greet_after_xclient: bool = True

    def label(self) -> str:
        return f"cases[{self.index}] ({self.name})"

    def secrets(self) -> List[str]:
        """Values to mask wherever they appear: the LOGIN, as given and as xtext."""
        login = (self.xclient or {}).get("LOGIN")
        if not login or login == UNAVAILABLE:
            return []
        return sorted({login, encode(login)}, key=len, reverse=True)


def _err(index: int, name: Optional[str], fieldname: str, message: str) -> ProbeInputError:
    who = f"cases[{index}]" + (f" ({name})" if name else "")
    return ProbeInputError(f"{who}: {fieldname}: {message}")


def _regex(index: int, name: str, fieldname: str, value: Any) -> Pattern:
    if not isinstance(value, str):
        raise _err(index, name, fieldname, "must be a regular expression string")
    try:
        return re.compile(value)
    except re.error as exc:
        raise _err(index, name, fieldname, f"not a valid regular expression: {exc}") from None


def _stage_expectation(index: int, name: str, stage: str, value: Any) -> Expectation:
    fieldname = f"expect.{stage}"
    text = None
    if isinstance(value, Mapping):
        unknown = set(value) - {"status", "text"}
        if unknown:
            raise _err(index, name, fieldname, f"unknown keys {sorted(unknown)}; use status"
                       " and text")
        if "text" in value:
            text = _regex(index, name, fieldname + ".text", value["text"])
        value = value.get("status", "any")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _err(index, name, fieldname, f"{value!r} is not an expectation")
    word = str(value).strip().lower()
    words = XCLIENT_WORDS if stage == "xclient" else tuple(STAGE_WORDS) + ("any",)
    if word in words:
        return Expectation(word, text)
    if word.isascii() and word.isdigit() and len(word) == 3 and 200 <= int(word) <= 599:
        return Expectation(word, text)
    if _ENHANCED.match(word):
        return Expectation(word, text)
    raise _err(index, name, fieldname, f"{value!r} is not one of {', '.join(words)}, a reply"
               " code like 554 or an enhanced code like 5.7.1")


def _address(index: int, name: str, fieldname: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _err(index, name, fieldname, f"{value!r} must be a string")
    problem = word_problem(value) if value else None
    if problem:
        raise _err(index, name, fieldname, f"{value!r} {problem}")
    if any(ch in value for ch in "<>"):
        raise _err(index, name, fieldname, f"{value!r} must not contain < or >")
    if value and "@" not in value:
        raise _err(index, name, fieldname, f"{value!r} is not an address like user@domain"
                   " (empty means the null sender)")
    return value


def parse_case(index: int, raw: Any) -> CaseSpec:
    """Validate one case as given by the user."""
    if not isinstance(raw, Mapping):
        raise _err(index, None, "case", "must be a dictionary")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _err(index, None, "name", "every case needs a name")
    unknown = set(raw) - _CASE_KEYS
    if unknown:
        raise _err(index, name, "case", f"unknown keys {sorted(unknown)}; known:"
                   f" {', '.join(sorted(_CASE_KEYS))}")

    xclient = None
    commands: List[str] = []
    if raw.get("xclient") is not None:
        if not isinstance(raw["xclient"], Mapping):
            raise _err(index, name, "xclient", "must be a dictionary of attributes")
        try:
            xclient = normalize_attributes(raw["xclient"])
            commands = build_commands(xclient)
        except XclientValueError as exc:
            raise _err(index, name, exc.field, exc.message) from None

    helo = raw.get("helo")
    if helo is not None:
        problem = word_problem(helo) if isinstance(helo, str) else "must be a string"
        if problem:
            raise _err(index, name, "helo", f"{helo!r} is not a HELO name: {problem}")
    # After XCLIENT with a declared HELO, the HELO Postfix checks is exactly the declared
    # one: greet with it, or not at all for [UNAVAILABLE] / [TEMPUNAVAIL].
    greet = True
    declared = (xclient or {}).get("HELO")
    if declared in (UNAVAILABLE, TEMPUNAVAIL):
        if helo is not None:
            raise _err(index, name, "helo", f"xclient.helo is {declared}: the probe sends no"
                       " HELO/EHLO after XCLIENT, so helo cannot be used")
        greet = False
    elif declared is not None:
        if helo is not None and helo != declared:
            raise _err(index, name, "helo", f"{helo!r} differs from xclient.helo"
                       f" {declared!r}; after XCLIENT the probe greets with the declared"
                       " HELO")
        helo = declared

    if raw.get("force_xclient") and xclient is None:
        raise _err(index, name, "force_xclient", "needs an xclient identity to send")
    source = raw.get("source_address")
    if source is not None:
        try:
            source = str(ipaddress.ip_address(str(source).strip()))
        except ValueError:
            raise _err(index, name, "source_address", f"{source!r} is not an IP address") \
                from None
    mail_from = raw.get("mail_from")
    if mail_from is not None:
        mail_from = _address(index, name, "mail_from", mail_from)
    rcpt_raw = raw.get("rcpt_to") or []
    if isinstance(rcpt_raw, str):
        rcpt_raw = [rcpt_raw]
    if not isinstance(rcpt_raw, Sequence):
        raise _err(index, name, "rcpt_to", "must be a list of addresses")
    rcpt_to = [_address(index, name, f"rcpt_to[{i}]", r) for i, r in enumerate(rcpt_raw)]
    for i, rcpt in enumerate(rcpt_to):
        if not rcpt:
            raise _err(index, name, f"rcpt_to[{i}]", "must not be empty")
    if rcpt_to and mail_from is None:
        raise _err(index, name, "mail_from", "is required when rcpt_to is given")
    data = raw.get("data")
    if data is not None:
        if not isinstance(data, str):
            raise _err(index, name, "data", "must be the message text")
        if not rcpt_to:
            raise _err(index, name, "data", "needs at least one rcpt_to")
        try:
            data = prepare_message(data)
        except MessageError as exc:
            raise _err(index, name, "data", str(exc)) from None

    expect_raw = raw.get("expect") or {}
    if not isinstance(expect_raw, Mapping):
        raise _err(index, name, "expect", "must be a dictionary")
    unknown = set(expect_raw) - set(STAGES) - {"text"}
    if unknown:
        raise _err(index, name, "expect", f"unknown keys {sorted(unknown)}; known:"
                   f" {', '.join(STAGES)}, text")
    expect: Dict[str, Union[Expectation, List[Expectation]]] = {}
    for stage in STAGES:
        if stage not in expect_raw:
            continue
        value = expect_raw[stage]
        if stage == "rcpt" and isinstance(value, list):
            if len(value) != len(rcpt_to):
                raise _err(index, name, "expect.rcpt", f"a list needs one entry per"
                           f" rcpt_to ({len(rcpt_to)}), got {len(value)}")
            expect[stage] = [_stage_expectation(index, name, f"rcpt[{i}]", v)
                             for i, v in enumerate(value)]
        else:
            expect[stage] = _stage_expectation(index, name, stage, value)
    xc = expect.get("xclient")
    if xclient is not None and xc is None:
        expect["xclient"] = Expectation("accepted")
    elif xclient is None and isinstance(xc, Expectation) \
            and xc.value in ("accepted", "refused", "rejected", "deferred"):
        raise _err(index, name, "expect.xclient", f"{xc.value!r} needs an xclient identity"
                   " to send; without one use offered or not_offered")
    elif xclient is not None and isinstance(xc, Expectation) and xc.value == "offered":
        raise _err(index, name, "expect.xclient", "'offered' is for cases without xclient;"
                   " with an identity use accepted, refused, rejected or deferred")
    for stage in ("mail", "rcpt", "data"):
        if stage in expect and not _has_stage(stage, mail_from, rcpt_to, data):
            exp = expect[stage]
            if not (isinstance(exp, Expectation) and exp.is_any()):
                raise _err(index, name, f"expect.{stage}", _MISSING[stage])
    text = _regex(index, name, "expect.text", expect_raw["text"]) \
        if "text" in expect_raw else None
    return CaseSpec(index=index, name=name, xclient=xclient, xclient_commands=commands,
                    helo=helo, mail_from=mail_from, rcpt_to=rcpt_to, data=data,
                    expect=expect, text=text, source_address=source,
                    force_xclient=bool(raw.get("force_xclient")),
                    greet_after_xclient=greet)


_MISSING = {
    "mail": "needs mail_from",
    "rcpt": "needs rcpt_to",
    "data": "needs data (the message to send)",
}


def _has_stage(stage: str, mail_from, rcpt_to, data) -> bool:
    return {"mail": mail_from is not None, "rcpt": bool(rcpt_to),
            "data": data is not None}[stage]


def parse_cases(cases: Any) -> List[CaseSpec]:
    if not isinstance(cases, Sequence) or isinstance(cases, (str, bytes)):
        raise ProbeInputError("cases: must be a list of cases")
    if not cases:
        raise ProbeInputError("cases: the list is empty; give at least one case")
    specs = [parse_case(i, raw) for i, raw in enumerate(cases)]
    seen: Dict[str, int] = {}
    for spec in specs:
        if spec.name in seen:
            raise ProbeInputError(f"{spec.label()}: name: the same name as"
                                  f" cases[{seen[spec.name]}]; names must be unique")
        seen[spec.name] = spec.index
    return specs


# ---------------------------------------------------------------------- judging

def _got(result: Optional[Mapping[str, Any]]) -> str:
    """How a stage result reads in a mismatch line."""
    if result is None:
        return "not reached"
    if result.get("skipped"):
        return f"skipped ({result['skipped']})"
    parts = [str(result.get("code") or ""), result.get("enhanced") or "",
             (result.get("text") or "").split("\n")[0]]
    reply = " ".join(p for p in parts if p)
    if "outcome" in result:
        return f"{result['outcome']} ({reply})" if reply else result["outcome"]
    return reply


def xclient_matches(exp: Expectation, result: Mapping[str, Any],
                    deadline: Optional[float] = None) -> bool:
    outcome = result["outcome"]
    if exp.value == "any":
        ok = True
    elif exp.value in XCLIENT_WORDS:
        ok = outcome == exp.value or (exp.value == "offered" and outcome == "accepted")
    else:  # a code
        ok = result.get("code") is not None and exp.matches_reply(
            result.get("code"), result.get("enhanced"), result.get("text") or "", deadline)
    if ok and exp.text is not None:
        ok = bounded_search(exp.text, result.get("text") or "", deadline)
    return ok


def xclient_outcome(code: int, enhanced: Optional[str]) -> str:
    """The outcome word for Postfix's reply to XCLIENT (see XCLIENT_WORDS)."""
    if code // 100 == 2:
        return "accepted"
    if 500 <= code <= 504 or (code == 550 and enhanced == "5.7.0"):
        return "refused"
    return "rejected" if code // 100 == 5 else "deferred"


def judge(spec: CaseSpec, stages: Mapping[str, Any],
          deadline: Optional[float] = None) -> List[str]:
    """Mismatches between what the case expects and what each stage got ([] = passed).

    Regular expressions run against server-controlled text; none runs past ``deadline``
    (time.monotonic()): _bounded_regex.RegexTimeout is raised instead."""
    problems: List[str] = []
    decisive = None
    for stage in STAGES:
        exp = spec.expect.get(stage)
        if exp is None:
            continue
        result = stages.get(stage)
        if stage == "rcpt":
            results = result or []
            exps = exp if isinstance(exp, list) else [exp] * max(len(spec.rcpt_to), 1)
            for i, one in enumerate(exps):
                got = results[i] if i < len(results) else None
                if one.is_any():
                    continue
                decisive = got
                label = f"rcpt {spec.rcpt_to[i]}" if i < len(spec.rcpt_to) else "rcpt"
                if got is None or not one.matches_reply(
                        got.get("code"), got.get("enhanced"), got.get("text") or "",
                        deadline):
                    problems.append(f"{label}: expected {one.describe()}, got {_got(got)}")
            continue
        if isinstance(exp, list) or exp.is_any():
            continue
        if result is not None and result.get("skipped"):
            continue  # e.g. DATA in check mode: nothing to judge
        decisive = result
        if result is None:
            problems.append(f"{stage}: expected {exp.describe()}, got not reached")
        elif stage == "xclient":
            if not xclient_matches(exp, result, deadline):
                problems.append(f"xclient: expected {exp.describe()}, got {_got(result)}")
        elif not exp.matches_reply(result.get("code"), result.get("enhanced"),
                                   result.get("text") or "", deadline):
            problems.append(f"{stage}: expected {exp.describe()}, got {_got(result)}")
    if spec.text is not None:
        text = (decisive or {}).get("text") or ""
        if decisive is None or not bounded_search(spec.text, text, deadline):
            problems.append(f"text: expected /{spec.text.pattern}/ in the decisive reply,"
                            f" got {_got(decisive)}")
    return problems


# ---------------------------------------------------------------------- target options

def check_host(fieldname: str, value: Any) -> str:
    """An IP address or a DNS name (labels of 1 to 63 letters, digits, '-', '_')."""
    if not isinstance(value, str) or not value:
        raise ProbeInputError(f"{fieldname}: {value!r} is not a host name or IP address")
    problem = wire_problem(value)
    if problem:
        raise ProbeInputError(f"{fieldname}: {problem}")
    text = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ProbeInputError(
            f"{fieldname}: {value!r} is not a host name or IP address (labels of 1 to 63"
            " letters, digits, '-' or '_', separated by single dots; 253 characters at most)")
    return value


def check_timeout(fieldname: str, value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ProbeInputError(f"{fieldname}: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT:
        raise ProbeInputError(f"{fieldname}: {value!r} must be a number of seconds above 0"
                              f" and at most {MAX_TIMEOUT:g}")
    return seconds


def check_helo(fieldname: str, value: Any) -> str:
    problem = word_problem(value) if isinstance(value, str) else "must be a string"
    if problem:
        raise ProbeInputError(f"{fieldname}: {value!r} is not a HELO name: {problem}")
    return value


def check_source_address(fieldname: str, value: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ProbeInputError(f"{fieldname}: {value!r} is not an IP address") from None
