# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The access rules of one smtpd listener as smtpd evaluates them (for access_cases).

The effective restriction lists come from ``postconf`` (main.cf merged with the listener's
``-o`` overrides: ``postconf -o ... -x``), the table entries from ``_access_tables``, and
whether a regexp/pcre pattern matches from ``postmap -q`` (``Oracle``). ``build_model``
turns them into coverage rows (``Rule``) and evaluation steps; ``predict`` walks the steps
in smtpd's order for one identity and says which rule decides it and how - a model, so
that a case which does not behave as its rule says can be reported with what decided
instead. Outside deciders (DNS, policy services, milters) are assumed to say nothing.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._access_tables import (
    PATTERN_TYPES,
    Entry,
    Table,
    TableError,
    first_match,
    logical_lines,
    parse_network,
    read_table,
    split_pattern,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    PostconfError,
    split_braced,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_audit import (
    login_counts,
)

Identity = Dict[str, Any]  # xclient attributes (lower case), mail_from, rcpt
# run(argv, stdin) -> (rc, stdout, stderr)
StdinRunner = Callable[[List[str], str], Tuple[int, str, str]]

LISTS = ("smtpd_client_restrictions", "smtpd_helo_restrictions",
         "smtpd_sender_restrictions", "smtpd_relay_restrictions",
         "smtpd_recipient_restrictions")
LIST_STAGE = {"smtpd_client_restrictions": "client", "smtpd_helo_restrictions": "helo",
              "smtpd_sender_restrictions": "sender", "smtpd_relay_restrictions": "recipient",
              "smtpd_recipient_restrictions": "recipient"}
SETTINGS = LISTS + (
    "smtpd_restriction_classes", "smtpd_delay_reject", "parent_domain_matches_subdomains",
    "mynetworks", "relay_domains", "mydestination", "myhostname", "mail_version",
    "smtpd_sasl_auth_enable", "smtpd_null_access_lookup_key", "smtpd_milters",
    "non_smtpd_milters", "access_map_reject_code", "access_map_defer_code", "reject_code",
    "defer_code", "unknown_client_reject_code", "invalid_hostname_reject_code",
    "non_fqdn_reject_code", "relay_domains_reject_code", "inet_protocols")

TABLE_CHECKS = {
    "check_client_access": "client", "check_reverse_client_hostname_access": "reverse",
    "check_helo_access": "helo", "check_sender_access": "sender",
    "check_recipient_access": "recipient"}
# Restrictions whose outcome depends on the identity and that a case can reach offline.
BUILTINS = {
    "permit_mynetworks", "reject_unknown_client_hostname", "reject_unknown_client",
    "reject_unknown_reverse_client_hostname", "reject_invalid_helo_hostname",
    "reject_invalid_hostname", "reject_non_fqdn_helo_hostname", "reject_non_fqdn_hostname",
    "reject_non_fqdn_sender", "reject_non_fqdn_recipient", "reject_unauth_destination",
    "permit_sasl_authenticated"}
# Decided by DNS, a policy server or another outside party: reported, not covered.
OFFLINE = {
    "reject_unknown_sender_domain", "reject_unknown_recipient_domain",
    "reject_unknown_helo_hostname", "reject_unknown_hostname", "reject_rbl_client",
    "reject_rhsbl_client", "reject_rhsbl_sender", "reject_rhsbl_helo",
    "reject_rhsbl_recipient", "reject_rhsbl_reverse_client", "permit_dnswl_client",
    "permit_rhswl_client", "check_policy_service", "reject_unverified_sender",
    "reject_unverified_recipient", "reject_unlisted_sender", "reject_unlisted_recipient",
    "permit_mx_backup", "reject_rbl", "reject_maps_rbl"}
UNCONDITIONAL = {"permit": "accept", "reject": "reject", "defer": "tempfail",
                 "defer_if_permit": "none", "defer_if_reject": "none",
                 "warn_if_reject": "none", "sleep": "none"}
NOT_MODELLED = {
    "reject_unauth_pipelining", "permit_auth_destination", "permit_tls_clientcerts",
    "permit_tls_all_clientcerts", "reject_plaintext_session", "reject_sender_login_mismatch",
    "reject_authenticated_sender_login_mismatch", "reject_known_sender_login_mismatch",
    "reject_unauthenticated_sender_login_mismatch", "reject_multi_recipient_bounce",
    "reject_non_fqdn_helo", "permit_naked_ip_address", "reject_unknown_address",
    "check_address_map", "reject_unauth_destination_hold"}
TAKES_ARGUMENT = re.compile(r"^(check_\w+_access|check_policy_service|reject_rbl_client|"
                            r"reject_rhsbl_\w+|permit_dnswl_client|permit_rhswl_client|"
                            r"sleep|check_\w+_(mx|ns|a)_access)$")


class AccessRulesError(ValueError):
    """Bad input or a Postfix answer we cannot go on with; the message names the option."""


# ------------------------------------------------------------------ settings

def _parse_assignments(out: str) -> Dict[str, str]:
    found: Dict[str, str] = {}
    for line in out.splitlines():
        name, sep, value = line.partition(" =")
        if sep:
            found[name.strip()] = value.strip()
    return found


def effective_settings(pc: Postconf, service: str) -> Tuple[Dict[str, str], Dict[str, str]]:
    """(effective values for the listener, its -o overrides): postconf with ``-o`` for each
    override, ``-x`` to expand. Restriction classes are read the same way."""
    entry = pc.service(service)
    if entry is None:
        raise AccessRulesError(f"service: master.cf has no service {service}")
    if entry.command != "smtpd":
        raise AccessRulesError(f"service: {service} runs {entry.command}, not smtpd")
    overrides = dict(entry.options)
    base = [pc.postconf_bin, "-c", pc.config_dir]
    for name, value in overrides.items():
        base += ["-o", f"{name}={value}"]

    def ask(names: Sequence[str]) -> Dict[str, str]:
        rc, out, err = pc.run(base + ["-x"] + list(names))
        if rc != 0:
            raise PostconfError(f"postconf failed: {(err or out).strip()}")
        return _parse_assignments(out)

    values = ask(SETTINGS)
    classes = [c for c in split_braced(values.get("smtpd_restriction_classes", ""),
                                       commas=True) if re.match(r"^\w+$", c)]
    if classes:
        values.update({f"class:{k}": v for k, v in ask(classes).items()})
    return values, overrides


# ------------------------------------------------------------------ rules

@dataclass
class Rule:
    """One restriction of one list (a table check has one Rule per entry)."""

    list_name: str
    position: int
    restriction: str
    stage: str
    table: Optional[str] = None
    entry: Optional[str] = None
    action: Optional[str] = None
    expectation: Optional[str] = None  # reject, tempfail, accept, none
    cases: List[str] = field(default_factory=list)
    not_covered: Optional[str] = None
    via: Optional[str] = None  # how a class was reached

    @property
    def label(self) -> str:
        text = f"{self.list_name}[{self.position}] {self.restriction}"
        if self.table:
            text += f" {self.table}"
        if self.entry is not None:
            text += f" {self.entry}"
        return text

    def row(self) -> Dict[str, Any]:
        return {"list": self.list_name, "position": self.position,
                "restriction": self.restriction,
                "table": self.table, "entry": self.entry, "action": self.action,
                "expectation": self.expectation, "stage": self.stage,
                "cases": list(self.cases), "not_covered": self.not_covered,
                "rule": self.label}


def code_outcome(code: str) -> str:
    return "reject" if code.strip().startswith("5") else "tempfail"


def action_outcome(action: str, settings: Mapping[str, str]) -> Tuple[str, Optional[str]]:
    """(reject|tempfail|accept|none|class, class name) for an access table result."""
    words = action.split()
    if not words:
        return "none", None
    word = words[0]
    upper = word.upper()
    if upper in ("REJECT",):
        return code_outcome(settings.get("access_map_reject_code", "554")), None
    if upper == "DEFER":
        return code_outcome(settings.get("access_map_defer_code", "450")), None
    if upper in ("DEFER_IF_PERMIT", "DEFER_IF_REJECT"):
        return "tempfail", None
    if upper == "OK" or word.isdigit() and not re.match(r"^[45]\d\d$", word):
        return "accept", None
    if re.match(r"^[45]\d\d$", word):
        return code_outcome(word), None
    if upper in ("DUNNO", "WARN", "INFO", "PREPEND", "HOLD", "DISCARD", "FILTER",
                 "REDIRECT", "BCC"):
        return "none", None
    if f"class:{word}" in settings:
        return "class", word
    lower = word.lower()
    if lower in UNCONDITIONAL:
        return UNCONDITIONAL[lower] if lower != "reject" else code_outcome(
            settings.get("reject_code", "554")), None
    return "none", None


# ------------------------------------------------------------------ identity model

def _domain_chain(name: str, pdms: bool) -> List[str]:
    labels = name.lower().rstrip(".").split(".")
    keys = [".".join(labels)]
    for i in range(1, len(labels)):
        parent = ".".join(labels[i:])
        keys.append(parent if pdms else "." + parent)
    return keys


def addr_chain(addr: str) -> List[str]:
    keys = [addr.lower()]
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return keys
    if ip.version == 4:
        octets = addr.split(".")
        keys += [".".join(octets[:n]) for n in (3, 2, 1)]
    return keys


def _address_chain(address: str, pdms: bool, null_key: str) -> List[str]:
    if address == "":
        return [null_key.lower()]
    local, sep, domain = address.lower().rpartition("@")
    if not sep:
        return [address.lower()]
    return [address.lower()] + _domain_chain(domain, pdms) + [local + "@"]


def lookup_fields(check: str, ident: Identity) -> List[Tuple[str, str]]:
    """(field, value) in the order smtpd looks them up for a table check."""
    if check == "client":
        out = []
        if ident.get("name") not in (None, "[UNAVAILABLE]", "[TEMPUNAVAIL]"):
            out.append(("name", ident["name"]))
        return out + [("addr", ident["addr"])]
    if check == "reverse":
        out = []
        if ident.get("reverse_name") not in (None, "[UNAVAILABLE]", "[TEMPUNAVAIL]"):
            out.append(("reverse_name", ident["reverse_name"]))
        return out + [("addr", ident["addr"])]
    if check == "helo":
        return [("helo", ident["helo"])] if ident.get("helo") else []
    if check == "sender":
        return [("mail_from", ident["mail_from"])]
    return [("rcpt", ident["rcpt"])]


class Oracle:
    """Which entry of a regexp/pcre table a key reaches, asked of ``postmap -q -`` on a
    copy whose results are the entry numbers: one postmap call per table and batch."""

    def __init__(self, postmap: str, run: Optional[StdinRunner]) -> None:
        self.postmap = postmap
        self.run = run
        self.cache: Dict[Tuple[str, str], Optional[int]] = {}
        self.errors: Dict[str, str] = {}

    def prefetch(self, table: Table, keys: Sequence[str]) -> None:
        todo = sorted({k for k in keys if (table.spec, k) not in self.cache and k
                       and not any(ch.isspace() for ch in k)})
        if not todo or self.run is None or table.spec in self.errors:
            for key in todo:
                self.cache[(table.spec, key)] = None
            return
        tmp = tempfile.mkdtemp(prefix="access-cases-")
        try:
            path = os.path.join(tmp, "table")
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(numbered_copy(table))
            rc, out, err = self.run([self.postmap, "-q", "-", f"{table.type}:{path}"],
                                    "\n".join(todo) + "\n")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if rc not in (0, 1) or "fatal:" in err:
            self.errors[table.spec] = (err or out).strip().replace(path, table.name)
        found: Dict[str, int] = {}
        for line in out.splitlines():
            key, _sep, value = line.partition("\t")
            if value.startswith("ENTRY") and value[5:].isdigit():
                found[key] = int(value[5:])
        for key in todo:
            self.cache[(table.spec, key)] = found.get(key)

    def lookup(self, table: Table, key: str) -> Optional[int]:
        if (table.spec, key) not in self.cache:
            self.prefetch(table, [key])
        return self.cache.get((table.spec, key))


def numbered_copy(table: Table) -> str:
    """The pattern table with each entry's result replaced by ENTRY<index> (if/endif kept,
    lines that are no entry left out, as Postfix skips them)."""
    by_line = {e.line: e for e in table.entries}
    out = []
    for number, line in logical_lines(table.text):
        word = line.split(None, 1)[0].lower()
        if word in ("if", "endif"):
            out.append(line)
            continue
        entry = by_line.get(number)
        if entry is None:
            continue
        try:
            written = split_pattern(line)[0]
        except TableError:
            continue
        out.append(f"{written} ENTRY{entry.index}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ derivation

@dataclass
class TableRule:
    check: str
    table: Optional[Table]
    rules: List[Rule]


@dataclass
class Model:
    """Everything read: settings, rules in evaluation order, tables."""

    settings: Dict[str, str]
    overrides: Dict[str, str]
    service: str
    rules: List[Rule] = field(default_factory=list)
    # evaluation: per list, the steps in order; a step is (kind, data)
    lists: Dict[str, List[Tuple[str, Any]]] = field(default_factory=dict)
    classes: Dict[str, List[Tuple[str, Any]]] = field(default_factory=dict)
    oracle: Optional[Oracle] = None
    pdms: bool = True
    mynetworks: List[Any] = field(default_factory=list)  # networks, or None for unknown
    local_domains: Set[str] = field(default_factory=set)
    login_counts: bool = True
    ipv6: bool = True

    @property
    def delay_reject(self) -> bool:
        return self.settings.get("smtpd_delay_reject", "yes").lower() in ("yes", "true", "1")


def list_items(value: str) -> List[str]:
    return split_braced(value, commas=True)


def build_model(settings: Dict[str, str], overrides: Dict[str, str], service: str,
                map_types: Sequence[str], oracle: Optional[Oracle],
                reader: Optional[Callable[[str], str]] = None) -> Model:
    model = Model(settings, overrides, service, oracle=oracle)
    model.pdms = "smtpd_access_maps" in settings.get("parent_domain_matches_subdomains", "")
    for token in list_items(settings.get("mynetworks", "")):
        try:
            model.mynetworks.append(parse_network(token))
        except TableError:
            model.mynetworks.append(None)
    for name in ("relay_domains", "mydestination", "myhostname"):
        for token in list_items(settings.get(name, "")):
            if ":" not in token and not token.startswith("/"):
                model.local_domains.add(token.lower())
    protocols = settings.get("inet_protocols", "all").replace(",", " ").split()
    model.ipv6 = "all" in protocols or "ipv6" in protocols
    sasl = settings.get("smtpd_sasl_auth_enable", "no").lower() in ("yes", "true", "1")
    model.login_counts = login_counts(settings.get("mail_version", ""), sasl)
    kwargs: Dict[str, Any] = {} if reader is None else {"reader": reader}
    tables: Dict[str, Any] = {}

    def table_for(spec: str) -> Any:
        if spec not in tables:
            try:
                tables[spec] = read_table(spec, map_types, **kwargs)
            except TableError as exc:
                tables[spec] = exc
        return tables[spec]

    def walk(list_name: str, value: str, stage: str, via: Optional[str],
             seen: Tuple[str, ...]) -> List[Tuple[str, Any]]:
        steps: List[Tuple[str, Any]] = []
        words = list_items(value)
        position = 0
        i = 0
        while i < len(words):
            word = words[i]
            lower = word.lower()
            position += 1
            arg = None
            if TAKES_ARGUMENT.match(lower) and i + 1 < len(words):
                arg = words[i + 1]
                i += 1
            i += 1
            rule = Rule(list_name, position, lower, stage, table=arg, via=via)
            if lower in TABLE_CHECKS and arg is not None:
                table = table_for(arg)
                if isinstance(table, TableError):
                    rule.not_covered = f"unreadable table: {table}"
                    model.rules.append(rule)
                    continue
                entry_rules = []
                for entry in table.entries:
                    erule = Rule(list_name, position, lower, stage, table=arg,
                                 entry=entry.key, action=entry.value, via=via)
                    outcome, cls = action_outcome(entry.value, settings)
                    erule.expectation = "none" if outcome == "class" else outcome
                    if entry.problem:
                        erule.not_covered = entry.problem
                    model.rules.append(erule)
                    entry_rules.append(erule)
                    if cls and cls not in seen:
                        model.classes.setdefault(cls, walk(
                            f"{cls}", settings.get(f"class:{cls}", ""), stage,
                            f"{erule.label}", seen + (cls,)))
                if not table.entries:
                    rule.not_covered = "the table has no entries"
                    model.rules.append(rule)
                steps.append(("table", TableRule(TABLE_CHECKS[lower], table, entry_rules)))
                continue
            model.rules.append(rule)
            if f"class:{word}" in settings and word not in seen:
                rule.not_covered = ("no case: a restriction class; its rules are rows under"
                                    " its name")
                model.classes.setdefault(word, walk(word, settings[f"class:{word}"], stage,
                                                    rule.label, seen + (word,)))
                steps.append(("class", word))
            elif lower in BUILTINS:
                steps.append(("builtin", rule))
            elif lower in OFFLINE:
                rule.not_covered = "not covered offline (decided by DNS or an outside service)"
                steps.append(("offline", rule))
            elif lower in UNCONDITIONAL:
                rule.expectation = action_outcome(lower, settings)[0]
                rule.not_covered = "no case: does not depend on who the client is"
                steps.append(("unconditional", rule))
            elif re.match(r"^check_\w+_(mx|ns|a)_access$", lower):
                rule.not_covered = "not covered offline (decided by DNS)"
                steps.append(("offline", rule))
            elif lower in NOT_MODELLED:
                rule.not_covered = f"restriction {lower}: not modelled by access_cases"
                steps.append(("offline", rule))
            else:
                rule.not_covered = (f"unreadable restriction {word!r}: not one Postfix knows"
                                    " (smtpd answers 451 4.3.5 to every recipient)")
                steps.append(("broken", rule))
        return steps

    for list_name in LISTS:
        model.lists[list_name] = walk(list_name, settings.get(list_name, ""),
                                      LIST_STAGE[list_name], None, ())
    milters = settings.get("smtpd_milters", "").strip()
    if milters:
        model.rules.append(Rule("smtpd_milters", 1, "milter", "data", table=milters,
                                not_covered="not covered offline (a milter decides)"))
    return model


# ------------------------------------------------------------------ evaluation model

@dataclass
class Decision:
    outcome: str  # reject, tempfail, accept, unknown
    rule: Optional[Rule]
    stage: str
    # list -> the rule that ended it with a permit (OK, permit_mynetworks, ...)
    permits: Dict[str, Rule] = field(default_factory=dict)


def _table_match(model: Model, trule: TableRule, ident: Identity) -> Optional[Entry]:
    table = trule.table
    if table is None:
        return None
    for fieldname, value in lookup_fields(trule.check, ident):
        if value is None:
            continue
        if table.type == "cidr":
            if fieldname == "addr":
                hit = first_match(table, value)
                if hit is not None:
                    return hit
            continue
        if table.type == "static":
            return table.entries[0]
        if table.type in PATTERN_TYPES:
            if model.oracle is None:
                continue
            index = model.oracle.lookup(table, value)
            if index is not None:
                return table.entries[index]
            continue
        if fieldname in ("mail_from", "rcpt"):
            keys = _address_chain(value, model.pdms,
                                  model.settings.get("smtpd_null_access_lookup_key", "<>"))
        elif fieldname == "addr":
            keys = addr_chain(value)
        else:
            keys = _domain_chain(value, model.pdms)
        index_of = _key_index(table)
        for key in keys:
            if key in index_of:
                return table.entries[index_of[key]]
    return None


def _key_index(table: Table) -> Dict[str, int]:
    """Key -> index of the first entry with that key (made once per table)."""
    if table.key_index is None:
        table.key_index = {}
        for entry in table.entries:
            table.key_index.setdefault(entry.key.lower(), entry.index)
    return table.key_index


def _valid_hostname(name: str) -> bool:
    if name.startswith("[") and name.endswith("]"):
        return True
    return bool(re.match(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]"
                         r"[A-Za-z0-9_-]{0,62})*\.?$", name)) and ".." not in name and all(
        not label.endswith("-") for label in name.rstrip(".").split("."))


def _fqdn(domain: str) -> bool:
    return "." in domain.strip(".")


def _builtin(model: Model, rule: Rule, ident: Identity) -> Optional[str]:
    """reject/tempfail/accept when the built-in restriction decides, None when it does
    not, "unknown" when the model cannot tell."""
    s = model.settings
    name = rule.restriction
    if name == "permit_mynetworks":
        try:
            addr = ipaddress.ip_address(ident["addr"])
        except ValueError:
            return "unknown"
        unknown = False
        for net in model.mynetworks:
            if net is None:
                unknown = True
            elif net.version == addr.version and addr in net:
                return "accept"
        return "unknown" if unknown else None
    if name in ("reject_unknown_client_hostname", "reject_unknown_client"):
        if ident.get("name") == "[TEMPUNAVAIL]":
            return "tempfail"
        if ident.get("name") == "[UNAVAILABLE]":
            return code_outcome(s.get("unknown_client_reject_code", "450"))
        return None
    if name == "reject_unknown_reverse_client_hostname":
        if ident.get("reverse_name") == "[TEMPUNAVAIL]":
            return "tempfail"
        if ident.get("reverse_name") == "[UNAVAILABLE]":
            return code_outcome(s.get("unknown_client_reject_code", "450"))
        return None
    helo = ident.get("helo")
    if name in ("reject_invalid_helo_hostname", "reject_invalid_hostname"):
        if helo and not _valid_hostname(helo):
            return code_outcome(s.get("invalid_hostname_reject_code", "501"))
        return None
    if name in ("reject_non_fqdn_helo_hostname", "reject_non_fqdn_hostname"):
        if helo and not helo.startswith("[") and _valid_hostname(helo) and not _fqdn(helo):
            return code_outcome(s.get("non_fqdn_reject_code", "504"))
        return None
    if name in ("reject_non_fqdn_sender", "reject_non_fqdn_recipient"):
        address = ident.get("mail_from" if name.endswith("sender") else "rcpt") or ""
        domain = address.rpartition("@")[2]
        if address and not _fqdn(domain):
            return code_outcome(s.get("non_fqdn_reject_code", "504"))
        return None
    if name == "reject_unauth_destination":
        domain = (ident.get("rcpt") or "").rpartition("@")[2].lower()
        if domain in model.local_domains or any(
                d.startswith(".") and domain.endswith(d) or model.pdms and
                domain.endswith("." + d) for d in model.local_domains):
            return None
        if any(":" in t or t.startswith("/") for n in ("relay_domains", "mydestination")
               for t in list_items(s.get(n, ""))):
            return "unknown"
        return code_outcome(s.get("relay_domains_reject_code", "554"))
    if name == "permit_sasl_authenticated":
        return "accept" if ident.get("login") and model.login_counts else None
    return "unknown"


def _run_steps(model: Model, steps: List[Tuple[str, Any]], ident: Identity,
               depth: int = 0) -> Tuple[Optional[str], Optional[Rule]]:
    """(reject|tempfail|accept|unknown, or None when the list goes on to its end; the
    rule that decided)."""
    for kind, data in steps:
        if kind == "table":
            entry = _table_match(model, data, ident)
            if entry is None:
                continue
            rule = data.rules[entry.index]
            outcome, cls = action_outcome(entry.value, model.settings)
            if cls is not None and depth < 8:
                got, by = _run_steps(model, model.classes.get(cls, []), ident, depth + 1)
                if got is not None:
                    return got, by
                continue
            if outcome in ("reject", "tempfail", "accept"):
                return outcome, rule
            continue
        if kind == "class":
            if depth < 8:
                got, by = _run_steps(model, model.classes.get(data, []), ident, depth + 1)
                if got is not None:
                    return got, by
            continue
        if kind == "builtin":
            got = _builtin(model, data, ident)
            if got is not None:
                return got, data
            continue
        if kind == "unconditional":
            outcome = data.expectation
            if outcome in ("reject", "tempfail", "accept"):
                return outcome, data
            continue
        if kind == "broken":
            return "tempfail", data
    return None, None


def predict(model: Model, ident: Identity) -> Decision:
    """Which rule the model expects to decide this identity, and how: the lists in
    smtpd's order (client, helo, sender, relay, recipient), a reject or defer ends all,
    a permit ends its own list. Outside deciders (DNS, policy services) are assumed to
    say nothing."""
    permits: Dict[str, Rule] = {}
    for list_name in LISTS:
        got, rule = _run_steps(model, model.lists.get(list_name, []), ident)
        if got in ("reject", "tempfail", "unknown"):
            return Decision(got, rule, LIST_STAGE[list_name], permits)
        if got == "accept" and rule is not None:
            permits[list_name] = rule
    return Decision("accept", None, "recipient", permits)


def prefetch(model: Model, idents: Sequence[Identity]) -> None:
    """Ask postmap, one call per pattern table, about every value these identities
    look up there."""
    if model.oracle is None:
        return
    for trule in _table_rules(model):
        table = trule.table
        if table is None or table.type not in PATTERN_TYPES:
            continue
        keys = [value for ident in idents for _f, value in lookup_fields(trule.check, ident)
                if value is not None]
        model.oracle.prefetch(table, keys)


def _table_rules(model: Model) -> List[TableRule]:
    out = []
    for steps in list(model.lists.values()) + list(model.classes.values()):
        out += [data for kind, data in steps if kind == "table"]
    return out
