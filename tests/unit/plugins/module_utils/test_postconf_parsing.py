# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    ServiceEntry,
    bind_addresses,
    option_token,
    parse_option_token,
    set_entry_option,
    split_braced,
    split_command_args,
    split_entry_args,
    split_service_key,
)


def test_split_entry_args_keeps_braces_together():
    assert split_entry_args("-o syslog_name=x -o {a=1, [::1]}  -o { b = c d }") == [
        "-o", "syslog_name=x", "-o", "{a=1, [::1]}", "-o", "{ b = c d }"]
    assert split_entry_args("flags=R user=x argv=/bin/cat ${recipient}") == [
        "flags=R", "user=x", "argv=/bin/cat", "${recipient}"]
    with pytest.raises(ValueError, match="unbalanced"):
        split_entry_args("-o {a=b", strict=True)
    with pytest.raises(ValueError, match="closes no"):
        split_entry_args("-o {a=b} }", strict=True)


def test_split_entry_args_reads_what_postfix_reads():
    # A brace that never closes (postfix check passes it) must not make reading fail.
    assert split_entry_args("-o syslog_name=postfix/{sub -o a=b") == [
        "-o", "syslog_name=postfix/{sub -o a=b"]
    assert split_entry_args("-o x=inline:{ a=OK, { b = OK } } -o y=1") == [
        "-o", "x=inline:{ a=OK, { b = OK } }", "-o", "y=1"]


def test_option_token_refuses_stray_brace_and_braces_balanced_values():
    with pytest.raises(ValueError, match="do not balance"):
        option_token("smtpd_recipient_restrictions", "permit_mynetworks, reject }")
    assert option_token("a", "inline:{b=OK}") == "{ a = inline:{b=OK} }"


def test_pipe_argv_belongs_to_the_command():
    args = ["flags=Rq", "user=nobody", "argv=/usr/local/bin/filter", "-o", "mode=fast",
            "${sender}"]
    assert split_command_args(args) == ({}, [], args)
    assert set_entry_option(args, "syslog_name", "postfix/f") == [
        "-o", "syslog_name=postfix/f"] + args
    assert split_command_args(["-v", "-o", "a=1", "argv=x", "-o", "b=2"]) == (
        {"a": "1"}, ["-v"], ["argv=x", "-o", "b=2"])


@pytest.mark.parametrize("name,value,token", [
    ("a", "b", "a=b"), ("a", "x, y", "{ a = x, y }"), ("a", "", "{ a = }"),
])
def test_option_token_round_trip(name, value, token):
    assert option_token(name, value) == token
    assert parse_option_token(token) == (name, value)


def test_parse_option_token_canonical_form():
    assert parse_option_token("{smtpd_authorized_xclient_hosts=127.0.0.1, [::1]}") == (
        "smtpd_authorized_xclient_hosts", "127.0.0.1, [::1]")
    with pytest.raises(ValueError):
        parse_option_token("novalue")


def test_set_entry_option():
    args = ["-o", "syslog_name=x", "-o", "{a = 1 2}"]
    assert set_entry_option(args, "a", "3 4") == ["-o", "syslog_name=x", "-o", "{ a = 3 4 }"]
    assert set_entry_option(args, "a", None) == ["-o", "syslog_name=x"]
    assert set_entry_option(args, "b", "v w") == ["-o", "syslog_name=x", "-o", "{ a = 1 2 }",
                                                  "-o", "{ b = v w }"]
    assert set_entry_option(["flags=R", "argv=x"], "b", "1") == ["-o", "b=1", "flags=R",
                                                                 "argv=x"]


@pytest.mark.parametrize("given,expected", [
    ("127.0.0.1:10025/inet", ("127.0.0.1:10025", "inet")),
    ("127.0.0.1:10025", ("127.0.0.1:10025", "inet")),
    ("[::1]:10025/inet", ("[::1]:10025", "inet")),
    ("postlog/unix-dgram", ("postlog", "unix-dgram")),
])
def test_split_service_key(given, expected):
    assert split_service_key(given) == expected


@pytest.mark.parametrize("bad", ["smtp/tcp", "/inet", "a b/inet", "x=y/inet"])
def test_split_service_key_errors(bad):
    with pytest.raises(ValueError):
        split_service_key(bad)


def test_service_entry_line():
    e = ServiceEntry("127.0.0.1:10025", "inet", "n", "-", "n", "-", "-", "smtpd",
                     ["-o", "a=b"])
    assert e.key == "127.0.0.1:10025/inet"
    assert e.line() == "127.0.0.1:10025 inet n - n - - smtpd -o a=b"


def test_split_braced_one_splitter_for_arguments_and_lists():
    # master.cf arguments split on whitespace only; lists on commas too
    assert split_braced("a,b {c, d} e") == ["a,b", "{c, d}", "e"]
    assert split_braced("a,b {c, d} e", commas=True) == ["a", "b", "{c, d}", "e"]
    assert split_braced(" ,, ", commas=True) == []
    # a brace that never closes keeps the rest in one item, as Postfix reads it
    assert split_braced("a, inline:{ b, c ", commas=True) == ["a", "inline:{ b, c"]


def test_bind_addresses_asks_host_for_each_listed_name():
    asked = []

    def host(name):
        asked.append(name)
        return [f"addr-of-{name}"]

    assert bind_addresses("all, [::1], mx.example", "ipv4", host) == [
        "0.0.0.0", "addr-of-::1", "addr-of-mx.example"]
    assert asked == ["::1", "mx.example"]
    assert bind_addresses("loopback-only", "ipv6", host) == ["::1"]
    assert bind_addresses("loopback-only", "ipv4, ipv6", host) == ["127.0.0.1", "::1"]
