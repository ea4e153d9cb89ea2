# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.mailops.xclient.plugins.module_utils._host_patterns import (
    PatternError,
    broad_reason,
    file_patterns,
    is_single_host,
    merge,
    normalize,
    split_list,
)

FILES = {"/etc/postfix/xclient.db", "/etc/postfix/xclient.cidr", "/etc/postfix/list",
         "/etc/ldap-xclient.cf"}
TYPES = ["btree", "cidr", "hash", "inline", "ldap", "proxy", "static", "texthash"]


def norm(text):
    return normalize(text, exists=FILES.__contains__, map_types=TYPES)


@pytest.mark.parametrize("given,expected", [
    ("127.0.0.1", "127.0.0.1"),
    ("::1", "[::1]"),
    ("[::1]", "[::1]"),
    ("2001:DB8::1", "[2001:db8::1]"),
    ("2001:db8::/48", "[2001:db8::]/48"),
    ("[2001:db8:0:0::]/48", "[2001:db8::]/48"),
    ("192.0.2.0/24", "192.0.2.0/24"),
    ("192.0.2.7/32", "192.0.2.7/32"),
    ("MX.Example.NET.", "mx.example.net"),
    (".example.net", ".example.net"),
    ("bad.cafe", "bad.cafe"),
    ("/etc/postfix/list", "/etc/postfix/list"),
    ("hash:/etc/postfix/xclient", "hash:/etc/postfix/xclient"),
    ("cidr:/etc/postfix/xclient.cidr", "cidr:/etc/postfix/xclient.cidr"),
    ("proxy:hash:/etc/postfix/xclient", "proxy:hash:/etc/postfix/xclient"),
    ("ldap:/etc/ldap-xclient.cf", "ldap:/etc/ldap-xclient.cf"),
    ("!192.0.2.9", "!192.0.2.9"),
    ("!::1", "![::1]"),
])
def test_normalize(given, expected):
    assert norm(given) == expected


@pytest.mark.parametrize("bad,needle", [
    ("192.0.2.1/24", "host bits set; the network is 192.0.2.0/24"),
    ("2001:db8::1/32", "host bits set; the network is [2001:db8::]/32"),
    ("999.0.0.1", "not a valid IP address"),
    ("1.2.3", "not a valid IP address"),
    ("[::1]/129", "not a valid IP address"),
    ("[mx.example]", "not an address, network"),
    ("/etc/postfix/missing", "the file does not exist"),
    ("hash:/etc/postfix/missing", "missing.db does not exist (run postmap"),
    ("hash:relative", "absolute path"),
    ("cidr:/etc/postfix/missing.cidr", "does not exist"),
    ("pcre:/etc/postfix/x.pcre", "table type 'pcre' is not supported"),
    ("proxy:nothing", "proxy: needs a table"),
    ("under score!.example", "characters a pattern cannot have"),
    ("-bad.example", "not an address, network"),
    ("!!192.0.2.1", "'!' must be followed by one pattern"),
    ("!", "'!' must be followed"),
    ("", "empty pattern"),
])
def test_normalize_errors(bad, needle):
    with pytest.raises(PatternError, match=re.escape(needle)):
        norm(bad)


@pytest.mark.parametrize("pattern,broad", [
    ("0.0.0.0/0", True), ("[::]/0", True), ("static:all", True), ("10.0.0.0/8", True),
    ("172.16.0.0/15", True), ("172.16.0.0/16", False), ("[2001:db8::]/32", True),
    ("[2001:db8::]/48", False), (".com", True), (".example.com", False),
    ("127.0.0.1", False), ("!0.0.0.0/0", False), ("hash:/etc/x", False),
])
def test_broad(pattern, broad):
    assert (broad_reason(pattern) is not None) is broad


@pytest.mark.parametrize("pattern,single", [
    ("127.0.0.1", True), ("[::1]", True), ("192.0.2.7/32", True), ("[2001:db8::1]/128", True),
    ("192.0.2.0/31", False), ("proxy.example", False), ("hash:/x", False),
])
def test_single_host(pattern, single):
    assert is_single_host(pattern) is single


def test_merge():
    assert merge(["127.0.0.1"], ["[::1]", "127.0.0.1"], "present") == ["127.0.0.1", "[::1]"]
    assert merge(["127.0.0.1", "[::1]"], ["[::1]"], "absent") == ["127.0.0.1"]
    assert merge(["127.0.0.1"], ["192.0.2.1", "192.0.2.1"], "exact") == ["192.0.2.1"]
    assert merge(["a.example"], [], "exact") == []


def test_split_list_and_file_patterns():
    expected = ["127.0.0.1", "[::1]", "192.0.2.0/24"]
    assert split_list(" 127.0.0.1,[::1]  ,\n\t192.0.2.0/24 ") == expected
    assert file_patterns("# proxies\n127.0.0.1 [::1]\n\n10.0.0.0/8 # office\n") == [
        "127.0.0.1", "[::1]", "10.0.0.0/8"]


@given(st.ip_addresses())
def test_addresses_normalize_idempotently(ip):
    once = norm(str(ip))
    assert norm(once) == once
    assert once == (str(ip) if ip.version == 4 else f"[{ip.compressed}]")
    assert is_single_host(once)


@given(st.one_of(st.ip_addresses(v=4).map(lambda a: (a, 32)),
                 st.ip_addresses(v=6).map(lambda a: (a, 128))),
       st.data())
def test_networks_normalize_idempotently(addr_bits, data):
    addr, bits = addr_bits
    prefix = data.draw(st.integers(0, bits))
    net = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
    once = norm(str(net))
    assert norm(once) == once
    assert norm(once.replace("[", "").replace("]", "")) == once
    threshold = 16 if net.version == 4 else 48
    assert (broad_reason(once) is not None) is (prefix < threshold)


def test_split_list_keeps_brace_groups_whole():
    value = "inline:{ 127.0.0.1=OK, { 127.0.0.3 = OK } }, 127.0.0.2 [::1]"
    assert split_list(value) == ["inline:{ 127.0.0.1=OK, { 127.0.0.3 = OK } }", "127.0.0.2",
                                 "[::1]"]
    # a brace that never closes keeps the rest together instead of failing
    assert split_list("a, {b, c") == ["a", "{b, c"]


def test_proxy_static_is_broad():
    assert broad_reason("proxy:static:all") == "a static: table matches every client"


def test_negations_go_before_what_they_exclude():
    assert merge(["127.0.0.0/24"], ["!127.0.0.1"], "present") == [
        "!127.0.0.1", "127.0.0.0/24"]
    assert merge([], ["127.0.0.0/24", "!127.0.0.5"], "exact") == [
        "!127.0.0.5", "127.0.0.0/24"]


def test_existing_order_is_kept_so_an_allowed_exception_stays_allowed():
    # 192.0.2.10 is explicitly allowed before the /28 is excluded from the /24; adding a
    # host used to move the negation to the front, which revoked 192.0.2.10.
    current = ["192.0.2.10", "!192.0.2.0/28", "192.0.2.0/24"]
    assert merge(current, ["198.51.100.1"], "present") == current + ["198.51.100.1"]
    assert merge(current, ["!192.0.2.128/28"], "present") == [
        "192.0.2.10", "!192.0.2.0/28", "!192.0.2.128/28", "192.0.2.0/24"]
    assert merge(current, ["192.0.2.10"], "absent") == ["!192.0.2.0/28", "192.0.2.0/24"]
    assert merge([], current, "exact") == current
    assert merge(["a.example", "b.example"], ["!c.example"], "present") == [
        "!c.example", "a.example", "b.example"]


@pytest.mark.parametrize("current,hosts", [
    (["127.0.0.1"], ["!127.0.0.1"]),           # contradiction
    (["192.0.2.0/28"], ["!198.51.100.1"]),     # excludes nothing the list allows
])
def test_negations_that_do_nothing_are_refused(current, hosts):
    with pytest.raises(PatternError):
        merge(current, hosts, "present")


def test_a_table_named_with_a_parameter_reference_is_looked_for_expanded():
    seen = []

    def exists(path):
        seen.append(path)
        return True
    assert normalize("hash:$config_directory/access", exists=exists,
                     map_types=["hash"]) == "hash:$config_directory/access"
    assert seen == ["$config_directory/access.db"]  # the caller's exists expands it
