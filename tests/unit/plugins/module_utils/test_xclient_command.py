# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.mailops.xclient.plugins.module_utils._xclient_command import (
    MAX_COMMAND,
    XclientValueError,
    build_commands,
    mask_login,
    normalize_attributes,
    xclient_commands,
)


def test_all_nine_attributes_in_wire_order():
    commands = xclient_commands({
        "addr": "192.0.2.10", "name": "client.example", "port": 4711, "proto": "esmtp",
        "helo": "helo.example", "login": "alice@example.org", "destaddr": "198.51.100.25",
        "destport": "25", "reverse_name": "rev.example"})
    assert commands == [
        "XCLIENT HELO=helo.example PROTO=ESMTP LOGIN=alice@example.org"
        " DESTADDR=198.51.100.25 DESTPORT=25 PORT=4711 NAME=client.example"
        " REVERSE_NAME=rev.example ADDR=192.0.2.10"]


@pytest.mark.parametrize("given,wire", [
    ("2001:db8::1", "IPV6:2001:db8::1"),
    ("IPv6:2001:DB8:0:0::1", "IPV6:2001:db8::1"),
    ("[2001:db8::1]", "IPV6:2001:db8::1"),
    ("::1", "IPV6:::1"),
    ("192.0.2.1", "192.0.2.1"),
    ("[unavailable]", "[UNAVAILABLE]"),
])
def test_addresses_are_normalized(given, wire):
    assert normalize_attributes({"addr": given}) == {"ADDR": wire}
    assert normalize_attributes({"destaddr": given}) == {"DESTADDR": wire}


@pytest.mark.parametrize("value,wire", [
    ("[unavailable]", "[UNAVAILABLE]"), ("[TempUnavail]", "[TEMPUNAVAIL]"),
    ("mx.example.", "mx.example"), ("a_b.example", "a_b.example"),
])
def test_names(value, wire):
    assert normalize_attributes({"name": value}) == {"NAME": wire}
    assert normalize_attributes({"reverse_name": value}) == {"REVERSE_NAME": wire}


def test_values_are_xtext_encoded():
    assert xclient_commands({"login": "john doe+x=y", "helo": "[UNAVAILABLE]"}) == [
        "XCLIENT HELO=[UNAVAILABLE] LOGIN=john+20doe+2Bx+3Dy"]


@pytest.mark.parametrize("attrs,field,needle", [
    ({"color": "red"}, "xclient.color", "unknown attribute"),
    ({"addr": "999.1.1.1"}, "xclient.addr", "not an IPv4 or IPv6"),
    ({"addr": "2001:db8::g"}, "xclient.addr", "not an IPv4 or IPv6"),
    ({"addr": "IPV6:192.0.2.1"}, "xclient.addr", "IPV6: prefix on an IPv4"),
    ({"addr": "fe80::1%eth0"}, "xclient.addr", "scoped"),
    ({"destaddr": "mx.example"}, "xclient.destaddr", "not an IPv4 or IPv6"),
    ({"addr": ""}, "xclient.addr", "not an IPv4 or IPv6"),
    ({"port": 65536}, "xclient.port", "0 to 65535"),
    ({"port": -1}, "xclient.port", "0 to 65535"),
    ({"destport": "http"}, "xclient.destport", "0 to 65535"),
    ({"port": True}, "xclient.port", "must be a string or a number"),
    ({"proto": "LMTP"}, "xclient.proto", "SMTP or ESMTP"),
    ({"name": "bad name.example"}, "xclient.name", "not a hostname"),
    ({"name": "-x.example"}, "xclient.name", "not a hostname"),
    ({"name": "192.0.2.1"}, "xclient.name", "numeric"),
    ({"name": "a" * 64 + ".example"}, "xclient.name", "not a hostname"),
    ({"reverse_name": "x..example"}, "xclient.reverse_name", "not a hostname"),
    ({"helo": "evil\r\nRCPT TO:<x@y>"}, "xclient.helo", "CR, LF or NUL"),
    ({"login": "a\nb"}, "xclient.login", "CR, LF or NUL"),
    ({"login": ""}, "xclient.login", "must not be empty"),
    ({"helo": "h" * 256}, "xclient.helo", "at most 255"),
    ({"login": " " * 90}, "xclient.login", "at most 255"),
    ({"helo": None}, "xclient.helo", "no value"),
    ({"helo": ["a"]}, "xclient.helo", "string or a number"),
    ({}, "xclient", "at least one attribute"),
])
def test_validation_errors_name_the_field(attrs, field, needle):
    with pytest.raises(XclientValueError) as info:
        normalize_attributes(attrs)
    assert info.value.field == field
    assert needle in str(info.value)
    assert str(info.value).startswith(field + ":")


def test_long_values_are_split_keeping_resettable_attributes_last():
    attrs = normalize_attributes({"helo": "h" * 230, "login": "l" * 230, "port": 1,
                                  "destaddr": "2001:db8::25", "destport": 25,
                                  "addr": "192.0.2.1", "name": "n.example"})
    commands = build_commands(attrs)
    assert len(commands) == 2
    assert commands[0] == "XCLIENT DESTADDR=IPV6:2001:db8::25 DESTPORT=25 PORT=1"
    assert commands[1].startswith("XCLIENT HELO=hhh")
    assert commands[1].endswith("NAME=n.example ADDR=192.0.2.1")
    assert all(len(c) + 2 <= MAX_COMMAND for c in commands)


def test_too_long_for_one_command_is_an_error():
    attrs = normalize_attributes({"helo": "h" * 250, "login": "l" * 250, "addr": "192.0.2.1"})
    with pytest.raises(XclientValueError, match="cannot be split"):
        build_commands(attrs)


def test_mask_login():
    assert mask_login("XCLIENT LOGIN=alice ADDR=192.0.2.1") == \
        "XCLIENT LOGIN=******** ADDR=192.0.2.1"
    assert mask_login("XCLIENT ADDR=192.0.2.1") == "XCLIENT ADDR=192.0.2.1"


@given(st.ip_addresses())
def test_any_ip_address_builds_a_valid_command(ip):
    (command,) = xclient_commands({"addr": str(ip)})
    value = command.split("ADDR=", 1)[1]
    assert value == (str(ip) if ip.version == 4 else "IPV6:" + ip.compressed)
    assert "\r" not in command and "\n" not in command


@given(st.text(min_size=1, max_size=20).filter(lambda s: not any(c in s for c in "\r\n\0")))
def test_any_login_is_encoded_into_one_token(login):
    (command,) = xclient_commands({"login": login})
    assert command.count(" ") == 1  # "XCLIENT LOGIN=..." : no space leaks into the value
