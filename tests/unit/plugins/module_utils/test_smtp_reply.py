# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._smtp_reply import (
    MAX_LINE,
    MalformedReply,
    ReplyReader,
    ehlo_keywords,
    enhanced_code,
    parse_reply,
    split_line,
    xclient_attributes,
)

EHLO = [
    "250-probe-target.test",
    "250-PIPELINING",
    "250-SIZE 10240000",
    "250-ETRN",
    "250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT",
    "250-ENHANCEDSTATUSCODES",
    "250 CHUNKING",
]


def test_single_line_reply_with_enhanced_code():
    reply = parse_reply(["554 5.7.1 <spam.example[192.0.2.66]>: Client host rejected: blocked"])
    assert reply.code == 554
    assert reply.enhanced == "5.7.1"
    assert reply.text == "<spam.example[192.0.2.66]>: Client host rejected: blocked"
    assert reply.klass == 5
    assert reply.render().startswith("554 5.7.1 <spam")


def test_greeting_has_no_enhanced_code():
    reply = parse_reply(["220 probe-target.test ESMTP private-test-instance"])
    assert reply.enhanced is None
    assert reply.text == "probe-target.test ESMTP private-test-instance"


def test_enhanced_code_class_must_match_reply_code():
    assert enhanced_code(250, "5.7.1 odd") is None
    assert enhanced_code(450, "4.7.25 Client host rejected") == "4.7.25"
    assert enhanced_code(250, "2.1.5x") is None


def test_multi_line_reply_and_ehlo_keywords():
    reply = parse_reply(EHLO)
    assert reply.code == 250
    assert len(reply.lines) == 7
    keywords = ehlo_keywords(reply)
    assert keywords["SIZE"] == ["10240000"]
    assert "PROBE-TARGET.TEST" not in keywords
    assert xclient_attributes(keywords) == ["NAME", "ADDR", "PROTO", "HELO", "REVERSE_NAME",
                                            "PORT", "LOGIN", "DESTADDR", "DESTPORT"]


def test_xclient_not_offered():
    keywords = ehlo_keywords(parse_reply(["250-host", "250 PIPELINING"]))
    assert xclient_attributes(keywords) is None


def test_lower_case_keywords_are_normalized():
    keywords = ehlo_keywords(parse_reply(["250-host", "250 xclient name addr"]))
    assert xclient_attributes(keywords) == ["NAME", "ADDR"]


def test_bare_code_line():
    assert split_line("250") == (250, True, "")


@pytest.mark.parametrize("lines,needle", [
    ([], "empty"),
    (["25"], "not an SMTP reply"),
    (["abc hello"], "not an SMTP reply"),
    (["250_hello"], "separator"),
    (["250-a", "251 b"], "changed"),
    (["250-a", "250-b"], "final line"),
    (["250 a", "250 b"], "final line"),
    (["150 what"], "out of range"),
    (["250 " + "x" * MAX_LINE], "longer"),
])
def test_malformed_replies(lines, needle):
    with pytest.raises(MalformedReply, match=needle):
        parse_reply(lines)


def test_reader_completes_on_final_line():
    reader = ReplyReader()
    assert reader.feed(EHLO[0]) is None
    for line in EHLO[1:-1]:
        assert reader.feed(line) is None
    reply = reader.feed(EHLO[-1])
    assert reply is not None and reply.code == 250 and len(reply.lines) == 7
    # the reader is ready for the next reply
    assert reader.feed("221 2.0.0 Bye").code == 221


def test_reader_bounds_reply_length():
    reader = ReplyReader()
    with pytest.raises(MalformedReply, match="lines"):
        for _count in range(1000):
            reader.feed("250-spam")
