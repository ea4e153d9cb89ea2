# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The DATA payload: line endings, dot-stuffing, refused messages, 8BITMIME / SMTPUTF8."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.mailops.xclient.plugins.module_utils._smtp_data import (
    MAX_LINE_OCTETS,
    ExtensionMissing,
    MessageError,
    mail_parameters,
    prepare_message,
)

BOTH = {"8BITMIME": [], "SMTPUTF8": [], "PIPELINING": []}


def test_line_endings_become_crlf_and_last_line_is_terminated():
    p = prepare_message("a\nb\r\nc\rd")
    assert p.payload == b"a\r\nb\r\nc\r\nd\r\n"
    assert p.lines == 4
    assert not p.needs_8bitmime and not p.needs_smtputf8


def test_bare_cr_is_a_line_break_not_sent_alone():
    p = prepare_message(b"Subject: x\r\n\r\nbody\rmore\r\n")
    assert b"\r" not in p.payload.replace(b"\r\n", b"")


def test_dot_stuffing():
    p = prepare_message(".\n..x\nnormal\n.")
    assert p.payload == b"..\r\n...x\r\nnormal\r\n..\r\n"


def test_empty_message():
    assert prepare_message("").payload == b""
    assert prepare_message("\n").payload == b"\r\n"


def test_nul_refused_with_line_number():
    with pytest.raises(MessageError, match=r"line 2 contains a NUL") as info:
        prepare_message("Subject: x\nbo\0dy\n")
    assert info.value.line == 2


def test_long_line_refused_998_accepted():
    assert prepare_message("x" * MAX_LINE_OCTETS).lines == 1
    with pytest.raises(MessageError, match=r"line 3 is 5000 octets; SMTP allows at most 998"):
        prepare_message("a\n\n" + "y" * 5000 + "\n")
    # octets, not characters: 500 two-octet characters are 1000 octets
    with pytest.raises(MessageError, match="1000 octets"):
        prepare_message("\n" + "é" * 500)


def test_lone_surrogate_is_an_error_not_a_traceback():
    with pytest.raises(MessageError, match="not valid text"):
        prepare_message("x\udcff")


def test_eight_bit_body_and_header():
    body = prepare_message("Subject: x\n\nGrüße\n")
    assert body.needs_8bitmime and not body.needs_smtputf8
    head = prepare_message("Subject: Grüße\n\nbody\n")
    assert head.needs_8bitmime and head.needs_smtputf8


def test_mail_parameters():
    ascii_ = prepare_message("Subject: x\n\nbody\n")
    body8 = prepare_message("Subject: x\n\nGrüße\n")
    head8 = prepare_message("Subject: Grüße\n\nx\n")
    assert mail_parameters(BOTH, ascii_) == []
    assert mail_parameters({}, ascii_) == []
    assert mail_parameters({}, None, ["a@example.org"]) == []
    assert mail_parameters(BOTH, body8) == ["BODY=8BITMIME"]
    assert mail_parameters(BOTH, head8) == ["BODY=8BITMIME", "SMTPUTF8"]
    assert mail_parameters(BOTH, None, ["jörg@example.org"]) == ["BODY=8BITMIME", "SMTPUTF8"]
    with pytest.raises(ExtensionMissing, match="8BITMIME") as info:
        mail_parameters({"SMTPUTF8": []}, body8)
    assert info.value.extension == "8BITMIME"
    with pytest.raises(ExtensionMissing, match="headers have non-ASCII.*SMTPUTF8"):
        mail_parameters({"8BITMIME": []}, head8)
    with pytest.raises(ExtensionMissing, match="envelope address"):
        mail_parameters({"8BITMIME": []}, ascii_, ["jörg@example.org"])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\0",
                                      blacklist_categories=("Cs",)), max_size=240))
def test_payload_is_well_formed_smtp_for_any_text(text):
    p = prepare_message(text)
    assert p.payload == b"" or p.payload.endswith(b"\r\n")
    lines = p.payload.split(b"\r\n")[:-1]
    assert len(lines) == p.lines
    for line in lines:
        assert b"\r" not in line and b"\n" not in line
        assert len(line) <= MAX_LINE_OCTETS + 1  # +1: a stuffed dot
        assert line != b"."  # never the terminator inside the message
    # undoing the stuffing gives the text with normalized line endings back
    unstuffed = b"".join((l[1:] if l.startswith(b".") else l) + b"\n" for l in lines)
    normal = text.replace("\r\n", "\n").replace("\r", "\n").encode()
    if normal and not normal.endswith(b"\n"):
        normal += b"\n"
    assert unstuffed == normal
    assert p.needs_8bitmime == (not text.isascii())
