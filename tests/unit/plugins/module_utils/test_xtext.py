# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.mailops.xclient.plugins.module_utils._xtext import (
    XtextError,
    decode,
    decode_bytes,
    encode,
    encode_bytes,
)


@pytest.mark.parametrize("plain,encoded", [
    ("alice@example.org", "alice@example.org"),
    ("x+41y", "x+2B41y"),
    ("a=b", "a+3Db"),
    ("john doe", "john+20doe"),
    ("tab\there", "tab+09here"),
    ("[UNAVAILABLE]", "[UNAVAILABLE]"),
    ("IPV6:2001:db8::1", "IPV6:2001:db8::1"),
    ("é", "+C3+A9"),
    ("", ""),
])
def test_encode_known_values(plain, encoded):
    assert encode(plain) == encoded
    assert decode(encoded) == plain


def test_encode_uses_upper_case_hex():
    assert encode_bytes(b"\xfe\x7f") == "+FE+7F"


@pytest.mark.parametrize("bad", ["+4", "+4g", "+zz", "a b", "a=b", "+", "\x7f", "ä"])
def test_decode_rejects_invalid_xtext(bad):
    with pytest.raises(XtextError):
        decode(bad)


def test_decode_rejects_lower_case_hex():
    with pytest.raises(XtextError):
        decode("+2b")


@given(st.binary(max_size=300))
def test_bytes_round_trip(raw):
    text = encode_bytes(raw)
    assert all(0x21 <= ord(c) <= 0x7E for c in text)
    assert "=" not in text
    assert decode_bytes(text) == raw


@given(st.text(max_size=200))
def test_text_round_trip(value):
    assert decode(encode(value)) == value
