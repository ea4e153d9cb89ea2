# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    Expectation,
    ProbeInputError,
    parse_case,
    parse_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    judge,
    xclient_outcome,
)

BASE = {"name": "c", "xclient": {"addr": "192.0.2.66"}, "mail_from": "p@example.org",
        "rcpt_to": ["postmaster@example.net"]}


def case(**over):
    raw = dict(BASE)
    raw.update(over)
    return raw


def stage(code, enhanced=None, text="", **extra):
    out = {"code": code, "enhanced": enhanced, "text": text}
    out.update(extra)
    return out


def test_defaults():
    spec = parse_case(0, case())
    assert spec.xclient_commands == ["XCLIENT ADDR=192.0.2.66"]
    assert spec.expect["xclient"].value == "accepted"
    assert "rcpt" not in spec.expect


def test_declared_helo_is_used_for_the_second_ehlo():
    spec = parse_case(0, case(xclient={"addr": "192.0.2.1", "helo": "client.example"}))
    assert spec.helo == "client.example"
    spec = parse_case(0, case(xclient={"addr": "192.0.2.1", "helo": "[UNAVAILABLE]"}))
    assert spec.helo is None


def test_issue_example_cases_parse():
    specs = parse_cases([
        {"name": "blocked network is refused at RCPT",
         "xclient": {"addr": "192.0.2.66", "name": "spam.example"},
         "mail_from": "probe@example.org", "rcpt_to": ["postmaster@example.net"],
         "expect": {"xclient": "accepted", "rcpt": "reject"}},
        {"name": "this host may not use XCLIENT", "expect": {"xclient": "not_offered"}},
    ])
    assert [s.xclient is None for s in specs] == [False, True]
    assert specs[1].expect["xclient"].value == "not_offered"


@pytest.mark.parametrize("raw,needle", [
    ([], "cases: the list is empty"),
    ("x", "cases: must be a list"),
    ([case(), case()], "cases[1] (c): name: the same name"),
    ([case(name="")], "cases[0]: name"),
    ([case(colour=1)], "cases[0] (c): colour: unknown key; known: data, expect,"),
    ([case(xclient={"addr": "300.1.1.1"})], "cases[0] (c): xclient.addr:"),
    ([case(xclient={"proto": "LMTP"})], "cases[0] (c): xclient.proto: 'LMTP' is not one of"),
    ([case(xclient={"port": 70000})], "cases[0] (c): xclient.port:"),
    ([case(xclient={"frobnicate": 1})], "cases[0] (c): xclient.frobnicate: unknown"),
    ([case(xclient="192.0.2.1")], "cases[0] (c): xclient: '192.0.2.1' must be a dictionary"),
    ([case(expect={"rcpt": "maybe"})], "cases[0] (c): expect.rcpt: 'maybe' is not one of"),
    ([case(expect={"xclient": "reject"})], "expect.xclient: 'reject' is not one of"),
    ([case(expect={"rcpt": 999})], "expect.rcpt: 999"),
    ([case(expect={"rcpt": "6.1.1"})], "expect.rcpt: '6.1.1'"),
    ([case(expect={"bounce": "accept"})], "cases[0] (c): expect.bounce: unknown key; known:"
     " connect, data, mail, rcpt, text, xclient"),
    ([case(expect={"rcpt": ["accept", "reject"]})], "one entry per rcpt_to (1), got 2"),
    ([case(expect={"text": "("})], "expect.text: not a valid regular expression"),
    ([case(expect={"rcpt": {"status": "reject", "txt": "x"}})], "unknown keys ['txt']"),
    ([case(mail_from="bad\r\nRSET")], "mail_from: 'bad\\r\\nRSET' must not contain"),
    ([case(rcpt_to=["no-at-sign"])], "rcpt_to[0]: 'no-at-sign' is not an address"),
    ([case(rcpt_to=[""])], "rcpt_to[0]: must not be empty"),
    ([case(rcpt_to=["a@example.net", 7])], "cases[0] (c): rcpt_to[1]: 7 must be a string"),
    ([case(data=1)], "cases[0] (c): data: 1 must be a string"),
    ([case(xclient={"name": True})], "cases[0] (c): xclient.name: True must be a string"),
    ([case(xclient={"addr": "192.0.2.1", "ADDR": "192.0.2.2"})],
     "cases[0] (c): xclient.ADDR: ADDR is given twice (also as addr)"),
    ([case(mail_from=None)], "mail_from: is required when rcpt_to is given"),
    ([case(force_xclient="maybe")], "cases[0] (c): force_xclient: 'maybe' must be true or false"),
    ([case(rcpt_to={"a": 1})], "cases[0] (c): rcpt_to: {'a': 1} must be a list"),
    ([{"xclient": {"addr": "192.0.2.1"}}], "cases[0]: name: is required"),
    ([case(expect="reject")], "cases[0] (c): expect: 'reject' must be a dictionary"),
    ([case(rcpt_to=[], data="x")], "data: needs at least one rcpt_to"),
    ([{"name": "n", "expect": {"xclient": "accepted"}}], "needs an xclient identity"),
    ([case(expect={"xclient": "offered"})], "'offered' is for cases without xclient"),
    ([{"name": "n", "expect": {"rcpt": "reject"}}], "expect.rcpt: needs rcpt_to"),
    ([case(helo="two words")], "helo: 'two words' is not a HELO name"),
    ([42], "cases[0]: case: must be a dictionary"),
    ([case(source_address="localhost")], "source_address: 'localhost' is not an IP"),
])
def test_bad_input_names_case_and_field(raw, needle):
    with pytest.raises(ProbeInputError) as info:
        parse_cases(raw)
    assert needle in str(info.value)


@pytest.mark.parametrize("value,code,enhanced,ok", [
    ("accept", 250, "2.1.5", True), ("accept", 354, None, True), ("accept", 554, "5.7.1", False),
    ("reject", 554, "5.7.1", True), ("reject", 450, "4.7.1", False),
    ("tempfail", 450, "4.7.25", True), ("tempfail", 250, None, False),
    ("554", 554, "5.7.1", True), ("554", 550, "5.7.1", False),
    ("5.7.1", 554, "5.7.1", True), ("5.7.1", 554, "5.1.1", False),
    ("any", None, None, True), ("reject", None, None, False),
])
def test_expectation_matching(value, code, enhanced, ok):
    assert Expectation(value).matches_reply(code, enhanced, "") is ok


def test_judge_pass_and_mismatch_messages():
    spec = parse_case(0, case(expect={"rcpt": "reject"}))
    good = {"xclient": stage(220, outcome="accepted"), "mail": stage(250, "2.1.0"),
            "rcpt": [stage(554, "5.7.1", "blocked")]}
    assert judge(spec, good) == []
    bad = dict(good, rcpt=[stage(250, "2.1.5", "Ok")])
    assert judge(spec, bad) == ["rcpt postmaster@example.net: expected reject, got 250 2.1.5 Ok"]


def test_judge_not_reached_and_refused():
    spec = parse_case(0, case(expect={"rcpt": "reject"}))
    stages = {"xclient": stage(550, "5.7.0", "Error: insufficient authorization",
                               outcome="refused")}
    problems = judge(spec, stages)
    assert problems[0] == ("xclient: expected accepted, got refused"
                           " (550 5.7.0 Error: insufficient authorization)")
    assert problems[1] == "rcpt postmaster@example.net: expected reject, got not reached"


def test_judge_xclient_code_and_text():
    spec = parse_case(0, case(expect={"xclient": {"status": "550", "text": "insufficient"}}))
    assert judge(spec, {"xclient": stage(550, "5.7.0", "Error: insufficient authorization",
                                         outcome="refused")}) == []
    assert judge(spec, {"xclient": stage(501, "5.5.4", "Bad ADDR syntax",
                                         outcome="refused")})


def test_judge_per_recipient_list_and_top_level_text():
    spec = parse_case(0, case(rcpt_to=["a@example.net", "b@elsewhere.org"],
                              expect={"rcpt": ["accept", "reject"], "text": "Relay access"}))
    stages = {"xclient": stage(220, outcome="accepted"), "mail": stage(250),
              "rcpt": [stage(250, "2.1.5", "Ok"),
                       stage(554, "5.7.1", "<b@elsewhere.org>: Relay access denied")]}
    assert judge(spec, stages) == []
    stages["rcpt"][1] = stage(554, "5.7.1", "Client host rejected")
    assert judge(spec, stages) == [
        "text: expected /Relay access/ in the decisive reply, got 554 5.7.1 Client host rejected"]


def test_judge_offered_without_identity():
    spec = parse_case(0, {"name": "n", "expect": {"xclient": "offered"}})
    assert judge(spec, {"xclient": {"outcome": "offered"}}) == []
    assert judge(spec, {"xclient": {"outcome": "not_offered"}}) == [
        "xclient: expected offered, got not_offered"]


def test_judge_skipped_data_in_check_mode_is_not_a_failure():
    spec = parse_case(0, case(data="Subject: x\n\nbody\n", expect={"data": "accept"}))
    stages = {"xclient": stage(220, outcome="accepted"), "mail": stage(250),
              "rcpt": [stage(250)], "data": {"skipped": "check mode"}}
    assert judge(spec, stages) == []


# ------------------------------------------------------------------ issue 11

from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (  # noqa: E402
    check_host,
    check_timeout,
)


@pytest.mark.parametrize("code,enhanced,word", [
    (220, None, "accepted"), (250, "2.0.0", "accepted"),
    (550, "5.7.0", "refused"), (501, "5.5.4", "refused"), (503, "5.5.1", "refused"),
    (502, "5.5.2", "refused"), (500, None, "refused"),
    (554, "5.7.1", "rejected"), (550, "5.7.1", "rejected"), (550, None, "rejected"),
    (450, "4.7.1", "deferred"), (451, "4.3.0", "deferred"),
])
def test_xclient_outcome_words(code, enhanced, word):
    assert xclient_outcome(code, enhanced) == word


def test_rejected_and_deferred_are_expectation_words():
    (spec,) = parse_cases([{"name": "r", "xclient": {"addr": "192.0.2.1"},
                            "expect": {"xclient": "rejected"}}])
    assert judge(spec, {"xclient": {"outcome": "rejected", "code": 554}}) == []
    assert judge(spec, {"xclient": {"outcome": "refused", "code": 550}}) == [
        "xclient: expected rejected, got refused (550)"]
    with pytest.raises(ProbeInputError, match="'deferred' needs an xclient identity"):
        parse_cases([{"name": "d", "expect": {"xclient": "deferred"}}])


def test_declared_helo_is_the_greeting_whatever_the_key_case():
    (spec,) = parse_cases([{"name": "h", "xclient": {"HELO": "x+41y.example"}}])
    assert spec.helo == "x+41y.example" and spec.greet_after_xclient
    assert spec.xclient_commands == ["XCLIENT HELO=x+2B41y.example"]
    (spec,) = parse_cases([{"name": "u", "xclient": {"HELO": "[unavailable]"}}])
    assert spec.helo is None and not spec.greet_after_xclient
    with pytest.raises(ProbeInputError, match=r"xclient\.helo: 'a b' must not contain ' '"):
        parse_cases([{"name": "s", "xclient": {"helo": "a b"}}])
    with pytest.raises(ProbeInputError, match="HELO is given twice"):
        parse_cases([{"name": "t", "xclient": {"helo": "a", "HELO": "b"}}])


@pytest.mark.parametrize("value", ["mx1..example.net", "a" * 64 + ".example", "", "x\0y",
                                   ".", "-a.example", "a" * 250 + ".example"])
def test_check_host_refuses(value):
    with pytest.raises(ProbeInputError, match="^server: "):
        check_host("server", value)


@pytest.mark.parametrize("value", ["mx1.example.net", "127.0.0.1", "::1", "[::1]",
                                   "localhost", "mx1.example.net.", "bücher.example"])
def test_check_host_accepts(value):
    assert check_host("server", value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e300, 0, -1, "x", None])
def test_check_timeout_refuses(value):
    with pytest.raises(ProbeInputError, match="^timeout: "):
        check_timeout("timeout", value)
