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
    ([case(xclient={"proto": "LMTP"})], "cases[0] (c): xclient.proto: is not one of"),
    ([case(xclient={"port": 70000})], "cases[0] (c): xclient.port:"),
    ([case(xclient={"frobnicate": 1})], "cases[0] (c): xclient.frobnicate: unknown"),
    ([case(xclient="192.0.2.1")], "cases[0] (c): xclient: must be a dictionary, not a string"),
    ([case(expect={"rcpt": "maybe"})], "cases[0] (c): expect.rcpt: 'maybe' is not one of"),
    ([case(expect={"xclient": "bounced"})], "expect.xclient: 'bounced' is not one of"),
    ([case(expect={"rcpt": 999})], "expect.rcpt: 999"),
    ([case(expect={"rcpt": "6.1.1"})], "expect.rcpt: '6.1.1'"),
    ([case(expect={"bounce": "accept"})], "cases[0] (c): expect.bounce: unknown key; known:"
     " connect, data, helo, mail, rcpt, text, xclient"),
    ([case(expect={"rcpt": ["accept", "reject"]})], "one entry per rcpt_to (1), got 2"),
    ([case(expect={"text": "("})], "expect.text: not a valid regular expression"),
    ([case(expect={"rcpt": {"status": "reject", "txt": "x"}})], "unknown keys ['txt']"),
    ([case(mail_from="bad\r\nRSET")], "mail_from: 'bad\\r\\nRSET' must not contain"),
    ([case(rcpt_to=["<no>"])], "rcpt_to[0]: '<no>' must not contain < or >"),
    ([case(rcpt_to=[""])], "rcpt_to[0]: must not be empty"),
    ([case(rcpt_to=["a@example.net", ["b@example.net"]])],
     "cases[0] (c): rcpt_to[1]: ['b@example.net'] must be a string, not a list"),
    ([case(data=["line 1", "line 2"])], "cases[0] (c): data: ['line 1', 'line 2'] must be a"
     " string, not a list"),
    ([case(mail_from=["a@example.org"])], "cases[0] (c): mail_from: ['a@example.org'] must"
     " be a string, not a list"),
    ([case(xclient={"name": True})], "cases[0] (c): xclient.name: must be a string, not a"
     " boolean"),
    ([case(xclient={"addr": "192.0.2.1", "ADDR": "192.0.2.2"})],
     "cases[0] (c): xclient.ADDR: given twice (also as addr)"),
    ([case(xclient={"addr": "192.0.2.1", "ADDR": "192.0.2.1"})],
     "cases[0] (c): xclient.ADDR: given twice (also as addr)"),
    ([case(xclient={"ADDR": "192.0.2.1", "addr": "192.0.2.1"})],
     "cases[0] (c): xclient.ADDR: given twice (also as addr)"),
    ([case(expect={"helo": "rejected"}, xclient=None)], "expect.helo: needs xclient"),
    ([case(expect={"helo": "rejected"}, xclient={"helo": "[UNAVAILABLE]"})],
     "expect.helo: needs xclient"),
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
    ("accepted", 250, "2.1.5", True), ("rejected", 554, "5.7.1", True),
    ("deferred", 450, "4.7.1", True), ("deferred", 554, "5.7.1", False),
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
    assert judge(spec, bad) == ["rcpt postmaster@example.net: expected rejected, got 250 2.1.5 Ok"]


def test_judge_not_reached_and_refused():
    spec = parse_case(0, case(expect={"rcpt": "reject"}))
    stages = {"xclient": stage(550, "5.7.0", "Error: insufficient authorization",
                               outcome="refused")}
    problems = judge(spec, stages)
    assert problems[0] == ("xclient: expected accepted, got refused"
                           " (550 5.7.0 Error: insufficient authorization)")
    assert problems[1] == "rcpt postmaster@example.net: expected rejected, got not reached"


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


@pytest.mark.parametrize("code,enhanced,text,word", [
    (220, None, "mx ESMTP", "accepted"), (250, "2.0.0", "Ok", "accepted"),
    (550, "5.7.0", "Error: insufficient authorization", "refused"),
    (501, "5.5.4", "Syntax: XCLIENT attribute=value...", "refused"),
    (501, "5.5.4", "Bad ADDR syntax: 300.1.1.1", "refused"),
    (501, "5.5.4", "Bad XCLIENT attribute name: FOO", "refused"),
    (501, "5.5.4", "Error: attribute value too long", "refused"),
    (503, "5.5.1", "Error: MAIL transaction in progress", "refused"),
    (502, "5.5.2", "Error: command not recognized", "refused"),
    (500, None, "Command unrecognized", "refused"),
    (554, "5.7.1", "<unknown[192.0.2.66]>: Client host rejected: Access denied", "rejected"),
    (550, "5.7.1", "blocked", "rejected"), (550, None, "no", "rejected"),
    (450, "4.7.1", "Client host rejected: cannot find your hostname", "deferred"),
    (451, "4.3.0", "try later", "deferred"),
    # issue 20: with smtpd_delay_reject=no a HELO check in the client restrictions answers
    # XCLIENT with 501/504 after the identity was applied: rejected, not refused
    (501, "5.5.2", "<bad_helo>: Helo command rejected: Invalid name", "rejected"),
    (504, "5.5.2", "<nodots>: Helo command rejected: need fully-qualified hostname",
     "rejected"),
    (500, None, "<x>: Client host rejected: custom code", "rejected"),
    # a broken configuration is its own outcome
    (451, "4.3.5", "Server configuration error", "config_error"),
    (451, None, "Server configuration problem", "config_error"),
])
def test_xclient_outcome_words(code, enhanced, text, word):
    assert xclient_outcome(code, enhanced, text) == word


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
    with pytest.raises(ProbeInputError, match="HELO: given twice"):
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


# ------------------------------------------------------------------ issue 20

@pytest.mark.parametrize("value,code,enhanced,text,ok", [
    # 451 4.3.5 is a broken configuration, not a policy's deferral
    ("tempfail", 451, "4.3.5", "Server configuration error", False),
    ("deferred", 451, "4.3.5", "Server configuration error", False),
    ("deferred", 451, None, "Server configuration problem", False),
    ("config_error", 451, "4.3.5", "Server configuration error", True),
    ("config_error", 450, "4.7.1", "Client host rejected", False),
    ("451", 451, "4.3.5", "Server configuration error", True),  # asked for by code
    ("4.3.5", 451, "4.3.5", "Server configuration error", True),
    ("tempfail", 451, "4.3.0", "try again later", True),
])
def test_config_error_is_its_own_outcome(value, code, enhanced, text, ok):
    assert Expectation(value).matches_reply(code, enhanced, text) is ok


def test_config_error_mismatch_says_configuration_problem():
    spec = parse_case(0, case(expect={"rcpt": "tempfail"}))
    stages = {"xclient": stage(220, outcome="accepted"), "mail": stage(250),
              "rcpt": [stage(451, "4.3.5", "Server configuration error")]}
    (problem,) = judge(spec, stages)
    assert "expected deferred" in problem and "configuration problem" in problem


@pytest.mark.parametrize("old,new", [("accept", "accepted"), ("reject", "rejected"),
                                     ("tempfail", "deferred")])
def test_one_vocabulary_old_words_are_aliases(old, new):
    for stage_name in ("connect", "mail", "rcpt"):
        spec = parse_case(0, case(expect={stage_name: old}))
        assert spec.expect[stage_name].value == new
    spec = parse_case(0, case(expect={"xclient": old}))
    assert spec.expect["xclient"].value == new


def test_helo_stage_is_expected_and_judged():
    spec = parse_case(0, case(xclient={"addr": "192.0.2.1", "helo": "bad_helo"},
                              expect={"helo": "rejected", "rcpt": "rejected"}))
    stages = {"xclient": stage(220, outcome="accepted"),
              "helo": stage(501, "5.5.2", "<bad_helo>: Helo command rejected"),
              "mail": stage(250), "rcpt": [stage(554, "5.7.1", "no")]}
    assert judge(spec, stages) == []
    stages["helo"] = stage(250, None, "mx")
    assert judge(spec, stages) == ["helo: expected rejected, got 250 mx"]


def test_unqualified_addresses_are_accepted_as_postfix_does():
    spec = parse_case(0, case(mail_from="foo", rcpt_to=["postmaster"]))
    assert spec.mail_from == "foo" and spec.rcpt_to == ["postmaster"]


def test_no_xclient_value_is_ever_echoed():
    secret = "s3cret-login"
    for bad in (f"ADDR=192.0.2.1 LOGIN={secret} NAME", [f"LOGIN={secret}"]):
        with pytest.raises(ProbeInputError) as info:
            parse_case(0, case(xclient=bad))
        assert secret not in str(info.value) and "xclient" in str(info.value)
    for login in ([secret], {"x": secret}, True):
        with pytest.raises(ProbeInputError) as info:
            parse_case(0, case(xclient={"addr": "192.0.2.1", "login": login}))
        assert secret not in str(info.value) and "xclient.login" in str(info.value)


def test_a_case_without_expectation_says_so():
    assert parse_case(0, {"name": "n", "mail_from": "a@b.example",
                          "rcpt_to": ["c@d.example"]}).expects_nothing()
    assert not parse_case(0, case()).expects_nothing()  # xclient: accepted by default
    assert not parse_case(0, {"name": "n", "expect": {"connect": "any"}}).expects_nothing()


@pytest.mark.parametrize("value,name", [("[127.0.0.1]", "127.0.0.1"), ("[::1]", "::1"),
                                        ("mx1.example.net.", "mx1.example.net"),
                                        ("mx1.example.net", "mx1.example.net")])
def test_server_name_is_used_as_normalised(value, name):
    from ansible_collections.mailops.xclient.plugins.module_utils._smtp_session import (
        SmtpSession,
    )
    assert SmtpSession("127.0.0.1", 25, server_name=value).server_name == name
    assert SmtpSession(value, 25).server_name == name
