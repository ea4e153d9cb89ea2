# SPDX-License-Identifier: GPL-3.0-or-later
"""access_cases' logic: tables read, identities that reach each entry, expectations, the
evaluation model, coverage rows. Postfix's own postconf and postmap answer where the module
asks them (a config directory of its own, never /etc/postfix)."""
from __future__ import annotations

import os
import subprocess

import pytest
from ansible_collections.mailops.xclient.plugins.module_utils._access_model import (
    Oracle,
    action_outcome,
    build_model,
    effective_settings,
)
from ansible_collections.mailops.xclient.plugins.module_utils._access_rules import derive
from ansible_collections.mailops.xclient.plugins.module_utils._access_tables import (
    TableError,
    address_inside,
    parse_network,
    read_table,
    split_pattern,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import Postconf
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    parse_cases,
)

MAP_TYPES = ["cidr", "hash", "btree", "texthash", "regexp", "inline", "static", "lmdb"]


def run(argv, stdin=None):
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False,
                          env=dict(os.environ, LC_ALL="C"))
    return done.returncode, done.stdout, done.stderr


def settings(**values):
    base = {"mail_version": "3.10.1", "smtpd_delay_reject": "yes",
            "parent_domain_matches_subdomains": "smtpd_access_maps",
            "mynetworks": "127.0.0.0/8", "relay_domains": "example.net",
            "mydestination": "", "myhostname": "mx.example.net", "inet_protocols": "all",
            "smtpd_null_access_lookup_key": "<>", "unknown_client_reject_code": "450",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination"}
    base.update(values)
    return base


def derived(files=None, samples=None, oracle=True, **values):
    files = files or {}

    def reader(path):
        if path not in files:
            raise TableError(f"cannot read {path}: No such file or directory")
        return files[path]

    model = build_model(settings(**values), {}, "smtp/inet", MAP_TYPES,
                        Oracle("/usr/sbin/postmap", run) if oracle
                        else None, reader=reader)
    return derive(model, samples)


def rows_of(result, restriction=None):
    return [r for r in result["coverage"]
            if restriction is None or r["restriction"] == restriction]


def case(result, name):
    return next(c for c in result["cases"] if c["name"] == name)


def cases_of(result, row):
    return [case(result, n) for n in row["cases"]]


# ------------------------------------------------------------------ tables

@pytest.mark.parametrize("key,problem", [
    ("192.0.2.1/24", "non-null host address bits"),
    ("192.0.2.0/33", "not a network address"),
    ("nonsense", "not a network address"),
])
def test_bad_cidr_keys_are_named(key, problem):
    with pytest.raises(TableError, match=problem):
        parse_network(key)


def test_cidr_entry_gets_an_address_no_other_entry_catches():
    result = derived({"/t.cidr": "192.0.2.1/32 OK\n192.0.2.0/24 REJECT net\n"
                                 "192.0.2.0/25 DUNNO never reached\n"
                                 "0.0.0.0/0 REJECT everyone else\n"},
                     smtpd_client_restrictions="check_client_access cidr:/t.cidr")
    rows = rows_of(result, "check_client_access")
    by_entry = {r["entry"]: r for r in rows}
    net = cases_of(result, by_entry["192.0.2.0/24"])[0]
    # inside the /24, outside the /32 before it and the /25 after it
    assert net["xclient"]["addr"] == "192.0.2.128"
    assert net["expect"] == {"rcpt": "reject"}
    assert by_entry["192.0.2.0/25"]["not_covered"].startswith(
        "unreachable: every address of it is caught earlier in the table (by 192.0.2.0/24)")
    # "everyone else": from TEST-NET, not from the networks listed before it
    other = cases_of(result, by_entry["0.0.0.0/0"])[0]["xclient"]["addr"]
    assert other.startswith(("198.51.100.", "203.0.113."))
    assert cases_of(result, by_entry["192.0.2.1/32"])[0]["expect"] == {"rcpt": "accept"}


def test_address_inside_prefers_test_net():
    assert str(address_inside(parse_network("0.0.0.0/0"), [])) == "192.0.2.1"
    assert str(address_inside(parse_network("2001::/16"), [])) == "2001:db8::1"
    assert address_inside(parse_network("10.0.0.0/24"),
                          [parse_network("10.0.0.0/8")]) is None


def test_cidr_if_blocks_and_host_bits_are_rows_not_crashes():
    result = derived({"/t.cidr": "192.0.2.7/24 REJECT bad\nif 198.51.100.0/24\n"
                                 "198.51.100.9 REJECT inner\nendif\n"},
                     smtpd_client_restrictions="check_client_access cidr:/t.cidr")
    rows = rows_of(result, "check_client_access")
    assert "host address bits" in rows[0]["not_covered"]
    assert "if/endif" in rows[1]["not_covered"]


@pytest.mark.parametrize("pdms,expected", [
    ("smtpd_access_maps", {"blocked.example": ["blocked.example",
                                               "probe-sub.blocked.example"],
                           ".dot.example": []}),
    ("", {"blocked.example": ["blocked.example"],
          ".dot.example": ["probe-sub.dot.example"]}),
])
def test_hash_domain_keys_follow_parent_domain_matches_subdomains(pdms, expected):
    result = derived({"/access": "blocked.example REJECT\n.dot.example REJECT\n"},
                     parent_domain_matches_subdomains=pdms,
                     smtpd_client_restrictions="check_client_access hash:/access")
    for row in rows_of(result, "check_client_access"):
        names = [c["xclient"]["name"] for c in cases_of(result, row)]
        assert names == expected[row["entry"]]


def test_hash_address_and_net_prefix_keys():
    result = derived({"/access": "192.0.2.99 REJECT one\n198.51.100 REJECT net\n"
                                 "198.51.100.1 OK the first host\n"},
                     smtpd_client_restrictions="check_client_access hash:/access")
    by_entry = {r["entry"]: cases_of(result, r) for r in rows_of(result)}
    assert by_entry["192.0.2.99"][0]["xclient"]["addr"] == "192.0.2.99"
    # a host of the prefix that is not itself a key
    assert by_entry["198.51.100"][0]["xclient"]["addr"] == "198.51.100.2"


def test_sender_keys():
    result = derived({"/senders": "spam@example.org REJECT\nbad.example REJECT\n"
                                  "postmaster@ OK\n<> REJECT no bounces\n"},
                     smtpd_sender_restrictions="check_sender_access texthash:/senders")
    by_entry = {r["entry"]: [c["mail_from"] for c in cases_of(result, r)]
                for r in rows_of(result)}
    assert by_entry["spam@example.org"] == ["spam@example.org"]
    assert by_entry["bad.example"] == ["probe@bad.example", "probe@probe-sub.bad.example"]
    assert by_entry["postmaster@"] == ["postmaster@example.org"]
    assert by_entry["<>"] == [""]


def test_inline_and_static():
    result = derived(smtpd_helo_restrictions="check_helo_access inline:{ {bad.example ="
                     " REJECT helo blocked}, good.example=OK }, check_helo_access"
                     " static:{450 try later}")
    rows = rows_of(result, "check_helo_access")
    assert [r["entry"] for r in rows] == ["bad.example", "good.example", "*"]
    assert cases_of(result, rows[0])[0]["xclient"]["helo"] == "bad.example"
    assert cases_of(result, rows[2])[0]["expect"] == {"rcpt": "tempfail"}


@pytest.mark.parametrize("spec", ["hash:/etc/x/access.db", "proxy:btree:/etc/x/access"])
def test_indexed_table_reads_the_source_next_to_the_db(spec):
    table = read_table(spec, MAP_TYPES,
                       reader=lambda path: {"/etc/x/access": "a.example OK\n"}[path])
    assert [e.key for e in table.entries] == ["a.example"] and table.spec == spec


@pytest.mark.parametrize("spec,why", [
    ("mysql:/etc/postfix/mysql.cf", "entries not readable here"),
    ("pcre:/etc/postfix/x.pcre", "this Postfix does not support it"),
    ("hash:relative", "not an absolute path"),
    ("cidr:/missing", "cannot read /missing"),
])
def test_unreadable_tables_are_rows(spec, why):
    result = derived(smtpd_client_restrictions=f"check_client_access {spec}, permit")
    row = rows_of(result, "check_client_access")[0]
    assert row["cases"] == [] and why in row["not_covered"]


def test_unknown_restriction_is_a_row_and_the_model_sees_451():
    result = derived(smtpd_client_restrictions="permit_mynetwork, reject_unknown_client")
    row = rows_of(result, "permit_mynetwork")[0]
    assert row["not_covered"].startswith("unreadable restriction 'permit_mynetwork'")


# ------------------------------------------------------------------ patterns (postmap)

def test_pattern_literals_and_samples_checked_by_postmap(tmp_path):
    path = tmp_path / "helo.regexp"
    text = ("/^spam\\.example$/ REJECT literal\n/^mx[0-9]+\\.bad\\.example$/ REJECT sample\n"
            "!/^ok\\./ DUNNO negated\n/(a|b)\\.example$/ DEFER no sample\n")
    path.write_text(text)
    result = derived({str(path): text}, samples={
        "/^mx[0-9]+\\.bad\\.example$/": ["mx1.bad.example", "spam.example"]},
        smtpd_helo_restrictions=f"check_helo_access regexp:{path}")
    rows = rows_of(result)
    assert [c["xclient"]["helo"] for c in cases_of(result, rows[0])] == ["spam.example"]
    # spam.example reaches the first entry, not this one: postmap said so, it is dropped
    assert [c["xclient"]["helo"] for c in cases_of(result, rows[1])] == ["mx1.bad.example"]
    assert "negated" in rows[2]["not_covered"]
    assert "give samples" in rows[3]["not_covered"]


def test_split_pattern():
    assert split_pattern("/a b/i REJECT x y") == ("/a b/i", "a b", "REJECT x y", False)
    assert split_pattern("!#^a/b#  OK")[1:] == ("^a/b", "OK", True)
    with pytest.raises(TableError):
        split_pattern("/never closed REJECT")


# ------------------------------------------------------------------ expectations

@pytest.mark.parametrize("action,outcome", [
    ("REJECT text", "reject"), ("reject", "reject"), ("550 5.7.1 no", "reject"),
    ("DEFER", "tempfail"), ("450 later", "tempfail"), ("DEFER_IF_PERMIT x", "tempfail"),
    ("OK", "accept"), ("123", "accept"), ("DUNNO", "none"), ("WARN x", "none"),
    ("", "none"), ("PREPEND X-Foo: y", "none"),
])
def test_action_outcome(action, outcome):
    assert action_outcome(action, {"access_map_reject_code": "554",
                                   "access_map_defer_code": "450"})[0] == outcome


def test_reject_code_setting_decides_between_reject_and_tempfail():
    assert action_outcome("REJECT", {"access_map_reject_code": "450"})[0] == "tempfail"


def test_delay_reject_no_moves_client_and_sender_rules_to_their_stage():
    result = derived(smtpd_delay_reject="no",
                     smtpd_client_restrictions="check_client_access inline:{192.0.2.5=REJECT}",
                     smtpd_helo_restrictions="reject_non_fqdn_helo_hostname",
                     smtpd_sender_restrictions="check_sender_access inline:{a@b.example=DEFER}")
    helo = rows_of(result, "reject_non_fqdn_helo_hostname")[0]
    assert helo["cases"] == [] and "decided at HELO" in helo["not_covered"]
    assert [c["expect"] for c in result["cases"][:2]] == [
        {"xclient": "rejected"}, {"mail": "tempfail"}]


# ------------------------------------------------------------------ built-ins and the model

def test_permit_mynetworks_before_a_reject_entry_is_predicted_shadowed():
    result = derived(mynetworks="127.0.0.1/32 192.0.2.128/25",
                     smtpd_recipient_restrictions="permit_mynetworks, check_client_access"
                     " inline:{192.0.2.200=REJECT, 192.0.2.50=REJECT}")
    by_entry = {r["entry"]: r for r in rows_of(result, "check_client_access")}
    shadowed = by_entry["192.0.2.200"]
    assert list(shadowed["predicted"].values())[0]["rule"] == (
        "smtpd_recipient_restrictions[1] permit_mynetworks")
    assert result["predicted_shadowed"] == [shadowed["rule"]]
    assert list(by_entry["192.0.2.50"]["predicted"].values())[0]["rule"] == \
        by_entry["192.0.2.50"]["rule"]


def test_builtins_each_get_their_identity():
    result = derived(smtpd_recipient_restrictions=", ".join([
        "reject_non_fqdn_recipient", "reject_unknown_reverse_client_hostname",
        "reject_unknown_client_hostname", "reject_invalid_helo_hostname",
        "reject_non_fqdn_helo_hostname", "reject_non_fqdn_sender",
        "permit_sasl_authenticated", "reject_unknown_sender_domain",
        "reject_rbl_client zen.example", "check_policy_service inet:127.0.0.1:9", "permit"]),
        smtpd_milters="inet:127.0.0.1:8891")
    rows = {r["restriction"]: r for r in result["coverage"]}
    first = {k: cases_of(result, r)[0] for k, r in rows.items() if r["cases"]}
    assert first["reject_non_fqdn_recipient"]["rcpt_to"] == ["probe@probe-host"]
    # the relay rules would refuse that recipient first: it comes from mynetworks
    assert first["reject_non_fqdn_recipient"]["xclient"]["addr"] == "127.0.0.1"
    assert [c["xclient"]["reverse_name"] for c in cases_of(
        result, rows["reject_unknown_reverse_client_hostname"])] == [
        "[UNAVAILABLE]", "[TEMPUNAVAIL]"]
    assert [c["expect"]["rcpt"] for c in cases_of(
        result, rows["reject_unknown_client_hostname"])] == ["tempfail", "tempfail"]
    assert first["reject_invalid_helo_hostname"]["xclient"]["helo"] == "probe..invalid"
    assert first["reject_non_fqdn_helo_hostname"]["xclient"]["helo"] == "probe-client"
    assert first["reject_non_fqdn_sender"]["mail_from"] == "probe@probe-client"
    assert first["permit_sasl_authenticated"]["xclient"]["login"] == "probe-user"
    for name in ("reject_unknown_sender_domain", "reject_rbl_client",
                 "check_policy_service", "milter"):
        assert rows[name]["not_covered"].startswith("not covered offline")
    assert rows["permit"]["not_covered"].startswith("no case")
    assert result["totals"]["coverable"] == len(rows) - 1


def test_login_not_covered_where_postfix_ignores_it():
    result = derived(mail_version="3.7.11", smtpd_sasl_auth_enable="no",
                     smtpd_recipient_restrictions="permit_sasl_authenticated, reject")
    row = rows_of(result, "permit_sasl_authenticated")[0]
    assert "3.7.11 ignores XCLIENT LOGIN" in row["not_covered"]
    result = derived(mail_version="3.7.11", smtpd_sasl_auth_enable="yes",
                     smtpd_recipient_restrictions="permit_sasl_authenticated, reject")
    assert rows_of(result, "permit_sasl_authenticated")[0]["cases"]


def test_restriction_classes_are_followed():
    result = derived(**{
        "smtpd_restriction_classes": "strict, via_table",
        "class:strict": "check_helo_access inline:{bad.example=REJECT}, permit",
        "class:via_table": "reject_non_fqdn_sender",
        "smtpd_recipient_restrictions": "strict, check_client_access"
                                        " inline:{192.0.2.77=via_table}"})
    rows = {(r["list"], r["restriction"], r["entry"]): r for r in result["coverage"]}
    helo = rows[("strict", "check_helo_access", "bad.example")]
    assert cases_of(result, helo)[0]["xclient"]["helo"] == "bad.example"
    # the class named by a table entry: its case starts from that entry's identity
    sender = cases_of(result, rows[("via_table", "reject_non_fqdn_sender", None)])[0]
    assert sender["xclient"]["addr"] == "192.0.2.77"
    assert sender["expect"] == {"rcpt": "reject"}


def test_every_derived_case_is_a_valid_probe_case():
    result = derived({"/c.cidr": "192.0.2.0/24 REJECT\n[2001:db8::]/32 OK\n"},
                     smtpd_client_restrictions="check_client_access cidr:/c.cidr,"
                     " reject_unknown_client_hostname",
                     smtpd_helo_restrictions="reject_invalid_helo_hostname",
                     smtpd_recipient_restrictions="permit_sasl_authenticated,"
                     " reject_non_fqdn_recipient")
    specs = parse_cases(result["cases"])
    assert len(specs) == len(result["cases"]) == result["totals"]["cases"] > 0
    assert len({c["name"] for c in result["cases"]}) == len(result["cases"])


def test_ipv6_entries_not_covered_without_ipv6():
    result = derived({"/c.cidr": "[2001:db8::66]/128 REJECT\n", "/h": "2001:db8::7 OK\n"},
                     inet_protocols="ipv4",
                     smtpd_client_restrictions="check_client_access cidr:/c.cidr,"
                     " check_client_access hash:/h")
    assert ["inet_protocols" in r["not_covered"]
            for r in rows_of(result, "check_client_access")] == [True, True]


# ------------------------------------------------------------------ postconf

def test_effective_settings_merge_the_listeners_overrides(tmp_path):
    (tmp_path / "main.cf").write_text(
        "smtpd_client_restrictions = permit_mynetworks, reject\n"
        "smtpd_restriction_classes = strict\nstrict = reject_non_fqdn_sender\n"
        "mynetworks = 192.0.2.0/24\n")
    (tmp_path / "master.cf").write_text(
        "smtp inet n - n - - smtpd\n"
        "127.0.0.1:10025 inet n - n - - smtpd\n"
        "  -o { smtpd_client_restrictions = check_client_access inline:{ {a=b} }, strict }\n"
        "  -o mynetworks=$myhostname\n")
    pc = Postconf(run, str(tmp_path))
    main = effective_settings(pc, "smtp/inet")[0]
    assert main["smtpd_client_restrictions"] == "permit_mynetworks, reject"
    values, overrides = effective_settings(pc, "127.0.0.1:10025/inet")
    assert values["smtpd_client_restrictions"] == (
        "check_client_access inline:{ {a=b} }, strict")
    assert values["class:strict"] == "reject_non_fqdn_sender"
    assert "$" not in values["mynetworks"]  # expanded by postconf -x
    assert set(overrides) == {"smtpd_client_restrictions", "mynetworks"}


def test_cidr_index_agrees_with_a_scan_of_the_table():
    """The index (found by address or overlap without scanning) answers what a scan in
    file order answers, on tables drawn at random (seeded)."""
    import ipaddress
    import random

    from ansible_collections.mailops.xclient.plugins.module_utils._access_tables import (
        cidr_index,
        first_match,
        parse_cidr,
    )
    rnd = random.Random(21)
    for _round in range(8):
        lines = []
        for _i in range(60):
            base = rnd.choice([0xC0000200, 0xC6336400, 0x0A000000])  # 3 small areas
            plen = rnd.choice([0, 8, 16, 23, 24, 25, 30, 32])
            net = ipaddress.ip_network((base + rnd.randrange(512), plen), strict=False)
            lines.append(f"{net} REJECT")
        table = parse_cidr("\n".join(lines), "cidr:/t", "/t")
        index = cidr_index(table)
        for _probe in range(50):
            addr = ipaddress.ip_address(rnd.choice([0xC0000200, 0xC6336400, 0x0A000000])
                                        + rnd.randrange(512))
            scan = next((e for e in table.entries if addr in e.network), None)
            assert first_match(table, str(addr)) is scan
        for entry in table.entries:
            want = {(e.index, e.network) for e in table.entries
                    if e.network.overlaps(entry.network)
                    and e.index == min(x.index for x in table.entries
                                       if x.network == e.network)}
            assert set(index.overlapping(entry.network)) == want


def test_an_identity_the_probe_cannot_send_is_a_row_not_a_case():
    # a client hash key with an '@' (no hostname), a pattern sample with a space
    result = derived({"/access": "user@host.example REJECT\nok.example OK\n"},
                     samples={"/^a b$/": ["a b"]},
                     smtpd_client_restrictions="check_client_access hash:/access",
                     smtpd_helo_restrictions="check_helo_access inline:{{a b = REJECT}}")
    rows = {r["entry"]: r for r in rows_of(result) if r["entry"]}
    assert rows["user@host.example"]["cases"] == []
    assert "not one xclient_probe can send" in rows["user@host.example"]["not_covered"]
    assert "is not a hostname" in rows["user@host.example"]["not_covered"]
    assert rows["a b"]["cases"] == [] and "not one xclient_probe" in rows["a b"]["not_covered"]
    assert rows["ok.example"]["cases"]
    parse_cases(result["cases"])
