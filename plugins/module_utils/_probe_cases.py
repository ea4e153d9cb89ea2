# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Probe cases: the shape of a case, and the semantic checks of what the user declared.

The shape (keys, types, choices) is defined once, as the argument spec of one case
(``case_options``): xclient_probe declares it, so Ansible checks it and ansible-doc lists
it. Python callers (the injector's tests, the benchmarks) get the same spec checked by
``parse_case`` (``_shape``: strictly, without Ansible's conversions); the module passes
``shape_checked=True`` and is not checked twice. What no argument spec can say - addresses,
xtext, lengths, regular expressions, how the fields fit together - is checked here, in small
functions. Every error names the case and the field (``cases[3] (name): xclient.addr: ...``)
and is raised before any connection is made.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Pattern, Sequence, Tuple, Union

from ansible_collections.mailops.xclient.plugins.module_utils._bounded_regex import (
    bounded_search,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    ANY,
    CONFIG_ERROR,
    REPLY_WORDS,
    SENT_OUTCOMES,
    STAGE_EXPECT_WORDS,
    STAGES,
    WORD_ALIASES,
    XCLIENT_EXPECT_WORDS,
    is_config_error,
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
    ATTRIBUTES,
    PROTOCOLS,
    TEMPUNAVAIL,
    UNAVAILABLE,
    XclientValueError,
    build_commands,
    normalize_attributes,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xtext import encode

_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$", re.ASCII)
MAX_TIMEOUT = 86400.0  # seconds
# Attribute values that are free text or a number ([UNAVAILABLE] for the ports).
_RAW_ATTRIBUTES = ("port", "destport")


class ProbeInputError(ValueError):
    """Bad input in a case; the message names case and field."""


# ---------------------------------------------------------------------- the shape

def _xclient_option(key: str, wire: str) -> Dict[str, Any]:
    option: Dict[str, Any] = {"type": "raw" if key in _RAW_ATTRIBUTES else "str",
                              "aliases": [wire]}
    if key == "proto":
        option["choices"] = [*PROTOCOLS, *(p.lower() for p in PROTOCOLS)]
    if key == "login":
        # A secret: no_log masks it in the whole result; the probe masks it (also its
        # xtext form) in transcripts and in replies that quote it.
        option["no_log"] = True
    return option


def case_options() -> Dict[str, Any]:
    """The argument spec of one case (xclient_probe's ``cases[]``): the one shape check."""
    return dict(
        name=dict(type="str", required=True),
        xclient=dict(type="dict", options={key: _xclient_option(key, wire)
                                           for key, wire in ATTRIBUTES.items()}),
        helo=dict(type="str"),
        source_address=dict(type="str"),
        force_xclient=dict(type="bool", default=False),
        mail_from=dict(type="str"),
        rcpt_to=dict(type="list", elements="str"),
        data=dict(type="str"),
        # A stage's value is a word, a reply code or {status, text}: no fixed choices.
        expect=dict(type="dict", options=dict(
            {stage: dict(type="raw") for stage in STAGES}, text=dict(type="str"))),
    )


_CASE_OPTIONS = case_options()
_TYPES: Dict[str, Tuple[Tuple[type, ...], str]] = {
    "str": ((str, int, float), "a string"),
    "bool": ((bool, str, int), "true or false"),
    "list": ((list, tuple, str), "a list"),
    "dict": ((Mapping,), "a dictionary"),
}
# Booleans as Ansible spells them (its type bool takes these too).
_TRUE = ("yes", "on", "1", "true", "y", "t")
_FALSE = ("no", "off", "0", "false", "n", "f")


def _kind(value: Any) -> str:
    """What a value is, in a user's words (the value itself is not shown: it may be a
    LOGIN)."""
    if isinstance(value, Mapping):
        return "a dictionary"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a string" if isinstance(value, str) else f"a {type(value).__name__}"


def _is_a(value: Any, types: Tuple[type, ...]) -> bool:
    return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)


def _converted(value: Any, kind: str, path: str) -> Any:
    """The conversions Ansible makes and nothing more: a number where a string is
    expected, ``yes``/``no`` for a boolean, ``a,b`` for a list. Never a list or a
    dictionary turned into text."""
    if kind == "str" and not isinstance(value, str):
        return str(value)
    if kind == "bool" and not isinstance(value, bool):
        word = str(value).strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ProbeInputError(f"{path}: {value!r} must be true or false")
    if kind == "list" and isinstance(value, str):
        return value.split(",")
    return value


def _shape_value(value: Any, option: Mapping[str, Any], path: str) -> Any:
    """One value against its option: type, list elements, choices, suboptions. The
    value is never shown when it is about ``xclient`` (it may hold a LOGIN)."""
    kind = option.get("type", "str")
    wanted, words = _TYPES.get(kind, ((object,), ""))
    secret = path.startswith("xclient")
    shown = "" if secret else f"{value!r} "
    if not _is_a(value, wanted):
        raise ProbeInputError(f"{path}: {shown}must be {words}, not {_kind(value)}"
                              + (" (the value is not shown: it may hold a LOGIN)"
                                 if secret else ""))
    value = _converted(value, kind, path)
    if "elements" in option:
        element = {"type": option["elements"]}
        return [_shape_value(v, element, f"{path}[{i}]") for i, v in enumerate(value)]
    if "choices" in option and value not in option["choices"]:
        raise ProbeInputError(f"{path}: {shown}is not one of"
                              f" {', '.join(option['choices'])}")
    if "options" in option:
        return _shape(value, option["options"], path + ".")
    return value


_ALIASES: Dict[int, Tuple[Mapping[str, Any], Dict[str, str]]] = {}


def _aliases(options: Mapping[str, Any]) -> Dict[str, str]:
    """alias -> key of one options level, made once per level (the cache holds the level
    itself, so its id cannot be reused by another)."""
    cached = _ALIASES.get(id(options))
    if cached is not None and cached[0] is options:
        return cached[1]
    found = {alias: key for key, opt in options.items() for alias in opt.get("aliases", [])}
    _ALIASES[id(options)] = (options, found)
    return found


def _shape(raw: Mapping[str, Any], options: Mapping[str, Any], prefix: str
           ) -> Dict[str, Any]:
    """``raw`` checked against the argument spec ``options`` - the checks Ansible makes
    for the module, strictly (no conversions) - with aliases resolved and options not set
    left out. ProbeInputError names the field by its path (``expect.rcp: ...``)."""
    aliases = _aliases(options)
    out: Dict[str, Any] = {}
    for key, value in raw.items():
        name = aliases.get(key, key)
        if name not in options:
            raise ProbeInputError(f"{prefix}{key}: unknown key; known:"
                                  f" {', '.join(sorted(options))}")
        if value is None:
            continue
        if name in out or (name != key and name in raw and raw[name] is not None):
            raise ProbeInputError(f"{prefix}{key}: given twice (also as {name}); give it"
                                  " once")
        out[name] = _shape_value(value, options[name], prefix + key)
    for name, opt in options.items():
        if opt.get("required") and name not in out:
            raise ProbeInputError(f"{prefix}{name}: is required")
    return out


def _name_of(raw: Any) -> Optional[str]:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    return name if isinstance(name, str) else None


def _checked_shape(index: int, raw: Any) -> Dict[str, Any]:
    """One case checked against its argument spec (see ``_shape``), or ProbeInputError
    naming case and field."""
    if not isinstance(raw, Mapping):
        raise _err(index, None, "case: must be a dictionary")
    try:
        return _shape(raw, _CASE_OPTIONS, "")
    except ProbeInputError as exc:
        raise _err(index, _name_of(raw), str(exc)) from None


def explain_cases(cases: Any) -> Optional[str]:
    """The first shape problem of a list of cases, naming case and field; for the module,
    whose argument spec found a problem that Ansible reports without saying which case."""
    for index, raw in enumerate(cases if isinstance(cases, list) else []):
        try:
            _checked_shape(index, raw)
        except ProbeInputError as exc:
            return str(exc)
    return None


# ---------------------------------------------------------------------- expectations

@dataclass
class Expectation:
    """What one stage must answer: a word, a reply code or an enhanced code; and a regex."""

    value: str = ANY
    text: Optional[Pattern] = None

    def __post_init__(self) -> None:
        self.value = WORD_ALIASES.get(self.value, self.value)  # the words of 0.x

    def describe(self) -> str:
        return self.value + (f" /{self.text.pattern}/" if self.text else "")

    def is_any(self) -> bool:
        return self.value == ANY and self.text is None

    def matches_reply(self, code: Optional[int], enhanced: Optional[str], text: str,
                      deadline: Optional[float] = None) -> bool:
        if not self._status_matches(code, enhanced, text or ""):
            return False
        return self.text is None or bounded_search(self.text, text or "", deadline)

    def _status_matches(self, code: Optional[int], enhanced: Optional[str],
                        text: str) -> bool:
        if self.value == ANY:
            return True
        if code is None:
            return False
        if self.value == CONFIG_ERROR:
            return is_config_error(code, enhanced, text)
        if self.value in REPLY_WORDS:
            # a broken configuration (4.3.5) is no policy decision: only config_error,
            # its code or its enhanced code match it
            return code // 100 in REPLY_WORDS[self.value] \
                and not is_config_error(code, enhanced, text)
        if self.value.isdigit():
            return code == int(self.value)
        return enhanced == self.value


StageExpectation = Union[Expectation, List[Expectation]]


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
    expect: Dict[str, StageExpectation] = field(default_factory=dict)
    text: Optional[Pattern] = None  # expect.text: regex on the decisive stage's reply
    source_address: Optional[str] = None  # connect from here instead of the module's
    force_xclient: bool = False  # send XCLIENT even when the server does not offer it
    # False when the declared HELO is [UNAVAILABLE] / [TEMPUNAVAIL]: no HELO/EHLO after
    # XCLIENT, MAIL follows the new greeting (any greeting would set a HELO name).
    greet_after_xclient: bool = True

    def label(self) -> str:
        return f"cases[{self.index}] ({self.name})"

    def expects_nothing(self) -> bool:
        """True for a case that judges nothing (no expect, no xclient to default one):
        the report says so rather than calling it passed silently."""
        return not self.expect and self.text is None

    def secrets(self) -> List[str]:
        """Values to mask wherever they appear: the LOGIN, as given and as xtext."""
        login = (self.xclient or {}).get("LOGIN")
        if not login or login == UNAVAILABLE:
            return []
        return sorted({login, encode(login)}, key=len, reverse=True)


# ---------------------------------------------------------------------- semantic checks

def _err(index: int, name: Optional[str], message: str) -> ProbeInputError:
    """``cases[3] (name): field: message``."""
    who = f"cases[{index}]" + (f" ({name})" if name else "")
    return ProbeInputError(f"{who}: {message}")


@dataclass
class _At:
    """Where a value comes from: raises errors naming the case and the field."""

    index: int
    name: Optional[str]

    def where(self, fieldname: str) -> str:
        """``cases[3] (name): field``."""
        return f"cases[{self.index}]" + (f" ({self.name})" if self.name else "") \
            + f": {fieldname}"

    def error(self, fieldname: str, message: str) -> ProbeInputError:
        return ProbeInputError(f"{self.where(fieldname)}: {message}")


def _regex(at: _At, fieldname: str, value: Any) -> Pattern:
    if not isinstance(value, str):
        raise at.error(fieldname, "must be a regular expression string")
    try:
        return re.compile(value)
    except re.error as exc:
        raise at.error(fieldname, f"not a valid regular expression: {exc}") from None


def _status_word(at: _At, fieldname: str, value: Any, words: Sequence[str]) -> str:
    """A word of ``words``, a reply code (200-599) or an enhanced code (like 5.7.1)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise at.error(fieldname, f"{value!r} is not an expectation")
    word = str(value).strip().lower()
    word = WORD_ALIASES.get(word, word)  # accept, reject, tempfail: the words of 0.x
    if word in words or _ENHANCED.match(word) or (
            word.isascii() and word.isdigit() and len(word) == 3 and 200 <= int(word) <= 599):
        return word
    raise at.error(fieldname, f"{value!r} is not one of {', '.join(words)}, a reply code"
                   " like 554 or an enhanced code like 5.7.1")


def _stage_expectation(at: _At, stage: str, value: Any) -> Expectation:
    """``accept`` / ``554`` / ``{status: 5.7.1, text: regex}``."""
    fieldname = f"expect.{stage}"
    text = None
    if isinstance(value, Mapping):
        unknown = set(value) - {"status", "text"}
        if unknown:
            raise at.error(fieldname, f"unknown keys {sorted(unknown)}; use status and text")
        if "text" in value:
            text = _regex(at, fieldname + ".text", value["text"])
        value = value.get("status", ANY)
    words = XCLIENT_EXPECT_WORDS if stage == "xclient" else STAGE_EXPECT_WORDS
    return Expectation(_status_word(at, fieldname, value, words), text)


def _address(at: _At, fieldname: str, value: Any) -> str:
    if not isinstance(value, str):
        raise at.error(fieldname, f"{value!r} must be a string")
    problem = word_problem(value) if value else None
    if problem:
        raise at.error(fieldname, f"{value!r} {problem}")
    if any(ch in value for ch in "<>"):
        raise at.error(fieldname, f"{value!r} must not contain < or >")
    # An address without a domain (foo) is what Postfix accepts too, and what
    # reject_non_fqdn_sender / reject_non_fqdn_recipient are there to judge.
    return value


def _name(index: int, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err(index, None, "name: every case needs a name")
    return value


def _xclient(at: _At, raw: Optional[Mapping[str, Any]]
             ) -> Tuple[Optional[Dict[str, str]], List[str]]:
    """The attributes as they go on the wire, and the XCLIENT commands."""
    if raw is None:
        return None, []
    # The spec keeps the upper-case aliases next to the options and gives options not
    # set as None: the options that are set.
    given = {k: v for k, v in raw.items() if k in ATTRIBUTES and v is not None}
    try:
        attributes = normalize_attributes(given)
        return attributes, build_commands(attributes)
    except XclientValueError as exc:
        raise at.error(exc.field, exc.message) from None


def _greeting(at: _At, helo: Optional[str], xclient: Optional[Mapping[str, str]]
              ) -> Tuple[Optional[str], bool]:
    """The EHLO name after XCLIENT, and whether to greet at all: after XCLIENT with a
    declared HELO, the HELO Postfix checks is exactly the declared one - greet with it, or
    not at all for [UNAVAILABLE] / [TEMPUNAVAIL]."""
    if helo is not None:
        check_helo(at.where("helo"), helo)
    declared = (xclient or {}).get("HELO")
    if declared in (UNAVAILABLE, TEMPUNAVAIL):
        if helo is not None:
            raise at.error("helo", f"xclient.helo is {declared}: the probe sends no"
                           " HELO/EHLO after XCLIENT, so helo cannot be used")
        return None, False
    if declared is not None and helo is not None and helo != declared:
        raise at.error("helo", f"{helo!r} differs from xclient.helo {declared!r}; after"
                       " XCLIENT the probe greets with the declared HELO")
    return declared if declared is not None else helo, True


def _recipients(at: _At, raw: Any, mail_from: Optional[str]) -> List[str]:
    if raw is None:
        return []
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise at.error("rcpt_to", "must be a list of addresses")
    rcpt_to = [_address(at, f"rcpt_to[{i}]", r) for i, r in enumerate(raw)]
    for i, rcpt in enumerate(rcpt_to):
        if not rcpt:
            raise at.error(f"rcpt_to[{i}]", "must not be empty")
    if rcpt_to and mail_from is None:
        raise at.error("mail_from", "is required when rcpt_to is given")
    return rcpt_to


def _message(at: _At, raw: Optional[str], rcpt_to: List[str]) -> Optional[DataPayload]:
    if raw is None:
        return None
    if not rcpt_to:
        raise at.error("data", "needs at least one rcpt_to")
    try:
        return prepare_message(raw)
    except MessageError as exc:
        raise at.error("data", str(exc)) from None


def _expectations(at: _At, raw: Mapping[str, Any], rcpt_count: int
                  ) -> Dict[str, StageExpectation]:
    expect: Dict[str, StageExpectation] = {}
    for stage in STAGES:
        value = raw.get(stage)
        if value is None:
            continue
        if stage == "rcpt" and isinstance(value, list):
            if len(value) != rcpt_count:
                raise at.error("expect.rcpt", f"a list needs one entry per rcpt_to"
                               f" ({rcpt_count}), got {len(value)}")
            expect[stage] = [_stage_expectation(at, f"rcpt[{i}]", v)
                             for i, v in enumerate(value)]
        else:
            expect[stage] = _stage_expectation(at, stage, value)
    return expect


def _xclient_expectation(at: _At, expect: Dict[str, StageExpectation],
                         sends: bool) -> None:
    """Default ``accepted`` when XCLIENT is sent; outcomes only a sent (or an unsent)
    XCLIENT can have."""
    xc = expect.get("xclient")
    if sends and xc is None:
        expect["xclient"] = Expectation("accepted")
    elif not sends and isinstance(xc, Expectation) and xc.value in SENT_OUTCOMES:
        raise at.error("expect.xclient", f"{xc.value!r} needs an xclient identity to send;"
                       " without one use offered or not_offered")
    elif sends and isinstance(xc, Expectation) and xc.value == "offered":
        raise at.error("expect.xclient", "'offered' is for cases without xclient; with an"
                       " identity use accepted, refused, rejected or deferred")


_MISSING = {
    "helo": "needs xclient (the helo stage is the greeting after XCLIENT) with a HELO"
            " the probe greets with (not [UNAVAILABLE] or [TEMPUNAVAIL])",
    "mail": "needs mail_from",
    "rcpt": "needs rcpt_to",
    "data": "needs data (the message to send)",
}


def _reachable(at: _At, expect: Mapping[str, StageExpectation],
               has: Mapping[str, bool]) -> None:
    """No expectation on a stage the case never gets to."""
    for stage, present in has.items():
        exp = expect.get(stage)
        if exp is not None and not present and not (
                isinstance(exp, Expectation) and exp.is_any()):
            raise at.error(f"expect.{stage}", _MISSING[stage])


def parse_case(index: int, raw: Any, shape_checked: bool = False) -> CaseSpec:
    """One case as given by the user -> CaseSpec. ``shape_checked``: ``raw`` comes from
    the module, whose argument spec checked its shape already."""
    case = raw if shape_checked else _checked_shape(index, raw)
    name = _name(index, case.get("name"))
    at = _At(index, name)
    xclient, commands = _xclient(at, case.get("xclient"))
    helo, greet = _greeting(at, case.get("helo"), xclient)
    force = bool(case.get("force_xclient"))
    if force and xclient is None:
        raise at.error("force_xclient", "needs an xclient identity to send")
    source = case.get("source_address")
    if source is not None:
        source = check_source_address(at.where("source_address"), source)
    mail_from = case.get("mail_from")
    if mail_from is not None:
        mail_from = _address(at, "mail_from", mail_from)
    rcpt_to = _recipients(at, case.get("rcpt_to"), mail_from)
    data = _message(at, case.get("data"), rcpt_to)
    expect_raw = case.get("expect") or {}
    expect = _expectations(at, expect_raw, len(rcpt_to))
    _xclient_expectation(at, expect, xclient is not None)
    _reachable(at, expect, {"mail": mail_from is not None, "rcpt": bool(rcpt_to),
                            "data": data is not None,
                            "helo": xclient is not None and greet})
    text = expect_raw.get("text")
    return CaseSpec(index=index, name=name, xclient=xclient, xclient_commands=commands,
                    helo=helo, mail_from=mail_from, rcpt_to=rcpt_to, data=data,
                    expect=expect, source_address=source, force_xclient=force,
                    text=None if text is None else _regex(at, "expect.text", text),
                    greet_after_xclient=greet)


def parse_cases(cases: Any, shape_checked: bool = False) -> List[CaseSpec]:
    """Every case (see ``parse_case``); names must be unique."""
    if not isinstance(cases, Sequence) or isinstance(cases, (str, bytes)):
        raise ProbeInputError("cases: must be a list of cases")
    if not cases:
        raise ProbeInputError("cases: the list is empty; give at least one case")
    specs = [parse_case(i, raw, shape_checked) for i, raw in enumerate(cases)]
    seen: Dict[str, int] = {}
    for spec in specs:
        if spec.name in seen:
            raise ProbeInputError(f"{spec.label()}: name: the same name as"
                                  f" cases[{seen[spec.name]}]; names must be unique")
        seen[spec.name] = spec.index
    return specs


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
