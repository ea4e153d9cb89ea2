# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A probe case for every access rule of one smtpd listener (the access_cases module).

Each rule of the model (``_access_model``) that depends on who the client is or what it
sends gets cases - an identity that reaches it, from a baseline identity no rule catches,
and its own action as the expectation at the stage it belongs to - and every rule gets a
coverage row. The model's prediction for each case goes with it, for ``_coverage_report``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._access_model import (
    LISTS,
    SETTINGS,
    Identity,
    Model,
    Oracle,
    Rule,
    StdinRunner,
    TableRule,
    addr_chain,
    build_model,
    code_outcome,
    effective_settings,
    list_items,
    predict,
    prefetch,
)
from ansible_collections.mailops.xclient.plugins.module_utils._access_tables import (
    PATTERN_TYPES,
    TEST_NETS,
    Entry,
    Table,
    address_inside,
    cidr_index,
    split_pattern,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import Postconf
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    ProbeInputError,
    parse_case,
)

BASE_NAMES = ("probe-client.example", "probe-client.test", "client.invalid")
BASE_SENDERS = ("probe@example.org", "probe@example.com", "probe@probe.test")


def _literal(bare: str) -> Optional[str]:
    """The text a simple pattern matches (``^mail\\.example\\.com$`` -> mail.example.com),
    None when it is not a plain literal."""
    body = bare
    if body.startswith("^"):
        body = body[1:]
    if body.endswith("$") and not body.endswith("\\$"):
        body = body[:-1]
    out = ""
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in ".-@_+":
            out += body[i + 1]
            i += 2
            continue
        if ch.isalnum() or ch in "-_@":
            out += ch
            i += 1
            continue
        return None
    return out or None


class Deriver:
    def __init__(self, model: Model, samples: Mapping[str, Sequence[str]],
                 base: Identity) -> None:
        self.model = model
        self.samples = samples
        self.base = base
        self.cases: List[Dict[str, Any]] = []
        self.predicted: Dict[str, Dict[str, Any]] = {}
        self.pending: List[Tuple[str, Identity, Rule, str]] = []
        self.identity_of: Dict[str, Identity] = {}
        self.refused: Dict[int, str] = {}  # id(rule) -> why the probe would refuse its case
        self.names: Set[str] = set()

    # -- naming and output
    def _name(self, rule: Rule, detail: str) -> str:
        short = rule.list_name.replace("smtpd_", "").replace("_restrictions", "")
        base = f"{short}[{rule.position}] {rule.restriction}"
        if rule.entry is not None:
            base += f" {rule.entry}"
        if detail:
            base += f" ({detail})"
        name, n = base, 2
        while name in self.names:
            name, n = f"{base} #{n}", n + 1
        self.names.add(name)
        return name

    def add(self, rule: Rule, ident: Identity, detail: str = "") -> None:
        if (rule.stage == "helo" and not self.model.delay_reject
                and rule.expectation in ("reject", "tempfail")):
            rule.not_covered = ("decided at HELO (smtpd_delay_reject=no), a reply"
                                " xclient_probe does not judge")
            return
        name = self._name(rule, detail)
        case: Dict[str, Any] = {"name": name}
        xclient = {k: ident[k] for k in ("addr", "name", "reverse_name", "helo", "login")
                   if ident.get(k)}
        case["xclient"] = xclient
        case["mail_from"] = ident["mail_from"]
        case["rcpt_to"] = [ident["rcpt"]]
        expectation = rule.expectation or "none"
        expect: Dict[str, Any] = {}
        if expectation != "none":
            stage = "rcpt"
            if not self.model.delay_reject and expectation != "accept":
                if rule.stage == "client":
                    stage = "xclient"
                elif rule.stage == "sender":
                    stage = "mail"
            if stage == "xclient":
                expect["xclient"] = "rejected" if expectation == "reject" else "deferred"
            else:
                expect[stage] = expectation
        case["expect"] = expect
        try:  # what xclient_probe would refuse is no case ("ready to pass as they are")
            parse_case(len(self.cases), case)
        except ProbeInputError as exc:
            self.names.discard(name)
            self.refused.setdefault(id(rule), str(exc).split(": ", 1)[-1])
            return
        self.cases.append(case)
        rule.cases.append(name)
        self.pending.append((name, ident, rule, expectation))
        self.identity_of[name] = ident

    def finish(self) -> None:
        """The model's prediction for every case (pattern tables asked in one batch)."""
        prefetch(self.model, [ident for _n, ident, _r, _e in self.pending])
        for name, ident, rule, expectation in self.pending:
            decision = predict(self.model, ident)
            decider = decision.rule
            if decision.outcome == "accept" and expectation != "accept":
                decider = decision.permits.get(rule.list_name) or next(
                    iter(decision.permits.values()), None)
            self.predicted[name] = {
                "outcome": decision.outcome,
                "rule": decider.label if decider is not None else None,
                "expected": expectation}

    def reaching(self, rule: Rule, **changes: Any) -> Identity:
        """The baseline with ``changes``; when the model expects an earlier rule to decide
        that identity, the same from a mynetworks address or with a LOGIN (which an
        earlier permit in another list may need to let it through), if that reaches the
        rule."""
        first = self.with_(**changes)
        variants = [first]
        inside = [address_inside(n, []) for n in self.model.mynetworks if n is not None]
        if inside and inside[0] is not None and "addr" not in changes:
            variants.append(dict(first, addr=str(inside[0])))
        if self.model.login_counts and "login" not in changes:
            variants.append(dict(first, login="probe-user"))
        prefetch(self.model, variants)
        for ident in variants:
            decision = predict(self.model, ident)
            if decision.rule is rule:
                return ident
        return first

    def with_(self, **changes: Any) -> Identity:
        ident = dict(self.base)
        ident.update(changes)
        return ident

    # -- per rule kind
    def builtin(self, rule: Rule) -> None:
        s = self.model.settings
        name = rule.restriction
        if name == "permit_mynetworks":
            rule.expectation = "accept"
            nets = [n for n in self.model.mynetworks if n is not None]
            for net in nets:
                addr = address_inside(net, [])
                if addr is not None:
                    self.add(rule, self.with_(addr=str(addr)), str(net))
                    return
            rule.not_covered = "mynetworks has no network or address to take a client from"
            return
        if name in ("reject_unknown_client_hostname", "reject_unknown_client"):
            rule.expectation = code_outcome(s.get("unknown_client_reject_code", "450"))
            self.add(rule, self.reaching(rule, name="[UNAVAILABLE]"), "[UNAVAILABLE]")
            saved = rule.expectation
            rule.expectation = "tempfail"
            self.add(rule, self.reaching(rule, name="[TEMPUNAVAIL]"), "[TEMPUNAVAIL]")
            rule.expectation = saved
            return
        if name == "reject_unknown_reverse_client_hostname":
            rule.expectation = code_outcome(s.get("unknown_client_reject_code", "450"))
            self.add(rule, self.reaching(rule, reverse_name="[UNAVAILABLE]"), "[UNAVAILABLE]")
            saved = rule.expectation
            rule.expectation = "tempfail"
            self.add(rule, self.reaching(rule, reverse_name="[TEMPUNAVAIL]"), "[TEMPUNAVAIL]")
            rule.expectation = saved
            return
        if name in ("reject_invalid_helo_hostname", "reject_invalid_hostname"):
            rule.expectation = code_outcome(s.get("invalid_hostname_reject_code", "501"))
            self.add(rule, self.reaching(rule, helo="probe..invalid"), "helo probe..invalid")
            return
        if name in ("reject_non_fqdn_helo_hostname", "reject_non_fqdn_hostname"):
            rule.expectation = code_outcome(s.get("non_fqdn_reject_code", "504"))
            self.add(rule, self.reaching(rule, helo="probe-client"), "helo probe-client")
            return
        if name == "reject_non_fqdn_sender":
            rule.expectation = code_outcome(s.get("non_fqdn_reject_code", "504"))
            self.add(rule, self.reaching(rule, mail_from="probe@probe-client"),
                     "probe@probe-client")
            return
        if name == "reject_non_fqdn_recipient":
            rule.expectation = code_outcome(s.get("non_fqdn_reject_code", "504"))
            self.add(rule, self.reaching(rule, rcpt="probe@probe-host"), "probe@probe-host")
            return
        if name == "reject_unauth_destination":
            rule.expectation = code_outcome(s.get("relay_domains_reject_code", "554"))
            self.add(rule, self.reaching(rule, rcpt="probe@relay-test.example"),
                     "probe@relay-test.example")
            return
        if name == "permit_sasl_authenticated":
            if not self.model.login_counts:
                rule.not_covered = (
                    f"Postfix {s.get('mail_version', '?')} ignores XCLIENT LOGIN for"
                    " permit_sasl_authenticated unless smtpd_sasl_auth_enable=yes on the"
                    " listener")
                return
            rule.expectation = "accept"
            self.add(rule, self.with_(login="probe-user", rcpt="probe@relay-test.example"),
                     "LOGIN, relay")
            return

    def table_rules(self, trule: TableRule) -> None:
        table = trule.table
        if table is None:
            return
        if table.type == "cidr":
            self._cidr(trule, table)
        elif table.type == "static":
            rule = trule.rules[0]
            if rule.not_covered is None:
                self.add(rule, dict(self.base), "every client")
        elif table.type in PATTERN_TYPES:
            self._patterns(trule, table)
        else:
            self._keyed(trule, table)

    def _cidr(self, trule: TableRule, table: Table) -> None:
        if trule.check not in ("client", "reverse"):
            for rule in trule.rules:
                rule.not_covered = rule.not_covered or (
                    f"a cidr table in check_{trule.check}_access: looked up with no address")
            return
        index = cidr_index(table)
        for entry, rule in _with_rules(table, trule):
            if rule.not_covered is not None or entry.network is None:
                continue
            overlapping = index.overlapping(entry.network)
            near = [(i, n) for i, n in overlapping if n != entry.network]
            earlier = [n for i, n in near if i < entry.index]
            same = [i for i, n in overlapping if n == entry.network]
            if same and min(same) < entry.index:
                rule.not_covered = ("unreachable: the same network is listed earlier in the"
                                    " table")
                continue
            # outside every earlier entry (they would catch it first) and, where the
            # network leaves room, every more specific one listed later (so that a later
            # change there does not move the case)
            specific = [n for i, n in near if i > entry.index
                        and n.prefixlen > entry.network.prefixlen]
            addr = address_inside(entry.network, earlier + specific) or address_inside(
                entry.network, earlier)
            if addr is None:
                blocker = next((str(n) for i, n in sorted(near, key=lambda x: x[0])
                                if i < entry.index
                                and n.supernet_of(entry.network)),  # type: ignore[arg-type]
                               None)
                rule.not_covered = (f"unreachable: every address of it is caught earlier in"
                                    f" the table (by {blocker})") if blocker else (
                    "unreachable: earlier entries catch every address of it")
                continue
            if addr.version == 6 and not self.model.ipv6:
                rule.not_covered = ("an IPv6 entry: inet_protocols has no ipv6, so smtpd"
                                    " refuses an IPv6 XCLIENT ADDR")
                continue
            self.add(rule, self.with_(addr=str(addr)), str(addr))

    def _keyed(self, trule: TableRule, table: Table) -> None:
        keys = {e.key.lower() for e in table.entries}
        seen: Set[str] = set()
        for entry, rule in _with_rules(table, trule):
            key = entry.key.lower()
            if rule.not_covered is not None:
                continue
            if key in seen:
                rule.not_covered = "unreachable: the same key appears earlier in the table"
                continue
            seen.add(key)
            for ident, detail in self._keyed_identities(trule.check, key, keys):
                self.add(rule, ident, detail)
            if not rule.cases and ":" in key and "@" not in key and not self.model.ipv6:
                rule.not_covered = ("an IPv6 entry: inet_protocols has no ipv6, so smtpd"
                                    " refuses an IPv6 XCLIENT ADDR")
            elif not rule.cases:
                rule.not_covered = rule.not_covered or (
                    f"no identity of check_{trule.check}_access reaches key {key!r}")

    def _keyed_identities(self, check: str, key: str, keys: Set[str]
                          ) -> List[Tuple[Identity, str]]:
        pdms = self.model.pdms
        out: List[Tuple[Identity, str]] = []
        is_addr = bool(re.match(r"^[0-9.]+$", key)) or ":" in key and "@" not in key
        if check in ("client", "reverse"):
            field_name = "name" if check == "client" else "reverse_name"
            if is_addr:
                if ":" in key and not self.model.ipv6:
                    return []
                if re.match(r"^\d+(\.\d+){3}$", key) or ":" in key:
                    out.append((self.with_(addr=key), key))
                else:
                    octets = key.split(".")
                    for last in range(1, 255):
                        addr = ".".join(octets + ["1"] * (3 - len(octets)) + [str(last)]) \
                            if len(octets) < 4 else key
                        if not set(addr_chain(addr)[: 4 - len(octets)]) & keys:
                            out.append((self.with_(addr=addr), addr))
                            break
                return out
            if key.startswith("."):
                if pdms:
                    return out
                sub = "probe-sub" + key
                out.append((self.with_(**{field_name: sub}), sub))
                return out
            out.append((self.with_(**{field_name: key}), key))
            if pdms:
                sub = "probe-sub." + key
                if sub not in keys:
                    out.append((self.with_(**{field_name: sub}), f"subdomain {sub}"))
            return out
        if check == "helo":
            if key.startswith("."):
                return [] if pdms else [(self.with_(helo="probe-sub" + key), "subdomain")]
            out.append((self.with_(helo=key), key))
            if pdms and "probe-sub." + key not in keys:
                out.append((self.with_(helo="probe-sub." + key), "subdomain"))
            return out
        field_name = "mail_from" if check == "sender" else "rcpt"
        null_key = self.model.settings.get("smtpd_null_access_lookup_key", "<>").lower()
        if check == "sender" and key == null_key:
            return [(self.with_(mail_from=""), "null sender")]
        if key.endswith("@"):
            domain = self.base[field_name].rpartition("@")[2]
            return [(self.with_(**{field_name: key + domain}), key + domain)]
        if "@" in key:
            return [(self.with_(**{field_name: key}), key)]
        if key.startswith("."):
            return [] if pdms else [(self.with_(**{field_name: "probe@probe-sub" + key}),
                                     "subdomain")]
        out.append((self.with_(**{field_name: "probe@" + key}), "probe@" + key))
        if pdms and "probe-sub." + key not in keys:
            out.append((self.with_(**{field_name: "probe@probe-sub." + key}), "subdomain"))
        return out

    def _patterns(self, trule: TableRule, table: Table) -> None:
        oracle = self.model.oracle
        field_for = {"client": "name", "reverse": "reverse_name", "helo": "helo",
                     "sender": "mail_from", "recipient": "rcpt"}[trule.check]
        wanted: List[Tuple[Rule, Entry, List[str]]] = []
        for entry, rule in _with_rules(table, trule):
            if rule.not_covered is not None:
                continue
            given = list(self.samples.get(entry.key, []))
            candidates = given[:]
            if not given:
                bare = split_pattern(entry.key)[1]
                lit = _literal(bare)
                if lit is not None:
                    candidates = [lit]
                    if trule.check in ("sender", "recipient") and "@" not in lit:
                        candidates += ["probe@" + lit, lit + "@example.org"]
            wanted.append((rule, entry, candidates))
        if oracle is not None:
            oracle.prefetch(table, [c for _r, _e, cands in wanted for c in cands])
        for rule, entry, candidates in wanted:
            if oracle is None or table.spec in oracle.errors:
                rule.not_covered = ("postmap could not check samples: "
                                    + (oracle.errors.get(table.spec, "no postmap")
                                       if oracle else "no postmap"))
                continue
            good = [c for c in candidates if oracle.lookup(table, c) == entry.index]
            if not candidates:
                rule.not_covered = ("no identity derived safely from this pattern; give"
                                    " samples for it (option samples)")
                continue
            if not good:
                rule.not_covered = (f"no sample reaches this entry (postmap -q:"
                                    f" {', '.join(candidates)})")
                continue
            for sample in good[:1] if entry.key not in self.samples else good:
                field_now = field_for
                if field_for == "name" and _is_ip(sample):
                    field_now = "addr"
                if field_for == "reverse_name" and _is_ip(sample):
                    field_now = "addr"
                self.add(rule, self.with_(**{field_now: sample}), sample)


def _with_rules(table: Table, trule: TableRule) -> List[Tuple[Entry, Rule]]:
    """Each entry of the table with its coverage row (one row per entry)."""
    return [(entry, trule.rules[entry.index]) for entry in table.entries]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _shown(ident: Identity) -> Dict[str, Any]:
    return {k: v for k, v in ident.items() if v is not None and k != "login"}


def _pick_base(model: Model, mail_from: Optional[str], rcpt: Optional[str]) -> Identity:
    """An identity no client, HELO or sender rule catches (by the model), from TEST-NET
    addresses and reserved names."""
    domains = [d for d in list_items(model.settings.get("relay_domains", ""))
               if ":" not in d and not d.startswith("/") and not d.startswith(".")]
    domains += [d for d in list_items(model.settings.get("mydestination", ""))
                if ":" not in d and not d.startswith("/")]
    domain = domains[0] if domains else model.settings.get("myhostname", "localhost")
    candidates_addr = [str(net.network_address + n) for net in TEST_NETS[:3]
                       for n in (10, 77, 123, 200)]
    ident: Identity = {"addr": candidates_addr[0], "name": BASE_NAMES[0],
                       "reverse_name": BASE_NAMES[0], "helo": BASE_NAMES[0],
                       "mail_from": mail_from if mail_from is not None else BASE_SENDERS[0],
                       "rcpt": rcpt if rcpt is not None else f"postmaster@{domain}"}

    senders = [mail_from] if mail_from is not None else list(BASE_SENDERS)
    trials = [dict(ident, addr=addr, name=name, reverse_name=name, helo=name, mail_from=sender)
              for addr in candidates_addr for name in BASE_NAMES for sender in senders]
    prefetch(model, trials)
    for trial in trials:
        if predict(model, trial).outcome in ("accept", "unknown"):
            return trial
    return ident


def derive(model: Model, samples: Optional[Mapping[str, Sequence[str]]] = None,
           mail_from: Optional[str] = None, rcpt: Optional[str] = None) -> Dict[str, Any]:
    """Cases, coverage rows and totals for the model."""
    base = _pick_base(model, mail_from, rcpt)
    deriver = Deriver(model, samples or {}, base)

    def visit(steps: List[Tuple[str, Any]], seen: Tuple[str, ...]) -> None:
        for kind, data in steps:
            if kind == "table":
                deriver.table_rules(data)
            elif kind == "builtin":
                deriver.builtin(data)
            elif kind == "class" and data not in seen:
                visit(model.classes.get(data, []), seen + (data,))
        # classes reached through table entries
    for list_name in LISTS:
        visit(model.lists.get(list_name, []), ())
    for cls, steps in model.classes.items():
        if any(r.list_name == cls and r.cases for r in model.rules):
            continue
        # a class named as a table result: its cases start from that entry's identity
        via = next((r.via for r in model.rules if r.list_name == cls and r.via), None)
        entry_rule = next((r for r in model.rules if r.label == via and r.cases), None)
        if entry_rule is not None:
            deriver.base = deriver.identity_of[entry_rule.cases[0]]
        visit(steps, (cls,))
        deriver.base = base
    deriver.finish()
    for rule in model.rules:
        if not rule.cases and id(rule) in deriver.refused:
            rule.not_covered = (f"the identity that reaches it is not one xclient_probe can"
                                f" send: {deriver.refused[id(rule)]}")
    rows = [r.row() for r in model.rules]
    for row in rows:
        row["predicted"] = {n: deriver.predicted[n] for n in row["cases"]}
        if not row["cases"] and row["not_covered"] is None:
            row["not_covered"] = "no identity derived"
    coverable = [r for r in rows if not (r["not_covered"] or "").startswith("no case:")]
    covered = [r for r in coverable if r["cases"]]
    predicted_shadowed = [r["rule"] for r in rows if any(
        p["rule"] is not None and p["rule"] != r["rule"] and p["expected"] != "none"
        for p in r["predicted"].values())]
    totals = {"rules": len(rows), "coverable": len(coverable), "covered": len(covered),
              "not_covered": len(coverable) - len(covered), "cases": len(deriver.cases),
              "predicted_shadowed": len(predicted_shadowed)}
    return {"cases": deriver.cases, "coverage": rows, "totals": totals,
            "baseline": _shown(base), "predicted_shadowed": predicted_shadowed}


def access_cases(pc: Postconf, service: str, postmap: str, run_stdin: Optional[StdinRunner],
                 samples: Optional[Mapping[str, Sequence[str]]] = None,
                 mail_from: Optional[str] = None, rcpt: Optional[str] = None,
                 reader: Optional[Callable[[str], str]] = None) -> Dict[str, Any]:
    """The access_cases result for one listener: cases, coverage, totals, baseline."""
    settings, overrides = effective_settings(pc, service)
    model = build_model(settings, overrides, service, pc.map_types(),
                        Oracle(postmap, run_stdin), reader=reader)
    result = derive(model, samples, mail_from, rcpt)
    result["service"] = service
    result["overrides"] = {k: v for k, v in overrides.items() if k in SETTINGS}
    result["delay_reject"] = model.delay_reject
    return result
