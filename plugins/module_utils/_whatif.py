# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What-if: the verdicts a proposed Postfix change would change, before it is applied.

Two shadows (``_shadow``) of the live instance are started - one of the live files as
they are, one with the proposed change made on a copy by the very edits the config
modules make (``_settings_edit``, ``_service_edit``) and with the proposed table
contents - the same probe cases run on both (``_probe_runner``), and the verdicts are
compared as a baseline is (``_baseline.compare``). The live instance is only read: no
file of its config directory is written, no signal or reload, no connection to it.

The one difference both shadows get (identically): the listener under test also lets
the loopback address the probe connects from send XCLIENT, so every case can take its
identity. Nothing else of the access rules is touched.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._access_model import (
    StdinRunner,
)
from ansible_collections.mailops.xclient.plugins.module_utils._access_rules import (
    access_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._baseline import (
    compare,
    identity_of,
    record,
)
from ansible_collections.mailops.xclient.plugins.module_utils._module_glue import (
    FieldError,
)
from ansible_collections.mailops.xclient.plugins.module_utils._param_types import (
    type_problems,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    PostconfError,
    ServiceEntry,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    Problem,
    generic_field,
    preflight,
    tables_in,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    CaseSpec,
    parse_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    CaseResult,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_runner import (
    ProbeTarget,
    run_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._service_edit import (
    apply as apply_service,
)
from ansible_collections.mailops.xclient.plugins.module_utils._settings_edit import (
    Wanted,
)
from ansible_collections.mailops.xclient.plugins.module_utils._settings_edit import (
    apply as apply_settings,
)
from ansible_collections.mailops.xclient.plugins.module_utils._shadow import (
    SHADOW_PREFIX,
    Shadow,
    ShadowError,
    date_back,
    log_problems,
    proof_domain,
    prove_mail_flows,
    removal_on_signals,
    unstamped,
)

WORK_PREFIX = SHADOW_PREFIX + "whatif-"
XCLIENT_HOSTS = "smtpd_authorized_xclient_hosts"
# What the probe connects from, added to the listener's XCLIENT list on both shadows.
LOOPBACK_CLIENTS = "127.0.0.1, [::1]"
# Table types postmap builds an indexed file of.
INDEXED_TYPES = frozenset({"hash", "btree", "lmdb", "cdb", "dbm", "sdbm"})
TABLES_DIR = "tables"
PROBE_HELO = "probe.example"
CONCURRENCY = 10
# Seconds the proposed shadow's listener has to show that it serves.
PROOF_TIMEOUT = 10.0
# Identity fields expect_changes may name besides the XCLIENT attributes.
IDENTITY_FIELDS = ("mail_from", "rcpt_to", "helo", "source_address")


class WhatIfError(Exception):
    """The what-if could not be made; the message quotes Postfix where Postfix said why.
    Nothing of the live instance was touched and every shadow is removed."""


@dataclass
class ServiceChange:
    """One change.services item: the entry key and what postfix_service would write."""

    key: str
    desired: Optional[ServiceEntry]
    purge: bool = False
    force: bool = False


@dataclass
class ProposedChange:
    """The parsed ``change`` option."""

    settings: Wanted = field(default_factory=dict)
    service: Optional[str] = None  # settings are -o overrides of this service
    services: List[ServiceChange] = field(default_factory=list)
    tables: Dict[str, str] = field(default_factory=dict)  # absolute path -> content

    def empty(self) -> bool:
        return not (self.settings or self.services or self.tables)

    def label(self, read: Optional[Callable[[str], Optional[str]]] = None) -> str:
        """A short name of the change (the ``whatif:`` line); ``read(path)`` gives a
        table's live content (None: unknown)."""
        parts = []
        where = f" ({self.service})" if self.service else ""
        parts += [f"{k}={v}{where}" if v is not None else f"-{k}{where}"
                  for k, v in self.settings.items()]
        parts += [f"{s.key} {'removed' if s.desired is None else 'set'}"
                  for s in self.services]
        parts += [table_summary(p, new, read) for p, new in self.tables.items()]
        return "; ".join(parts) or "no change"


def table_summary(path: str, new: str,
                  read: Optional[Callable[[str], Optional[str]]] = None) -> str:
    """``NAME +N -M`` (entries added and removed; comments and blank lines left out), or
    ``table PATH`` when the live content is unknown. One added entry is shown."""
    old = read(path) if read is not None else None
    if old is None:
        return f"table {path}"

    def entries(text: str) -> List[str]:
        return [" ".join(line.split()) for line in text.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]

    before, after = entries(old), entries(new)
    added = [e for e in after if e not in before]
    removed = [e for e in before if e not in after]
    shown = f" ({added[0]})" if len(added) == 1 and not removed else ""
    return f"{os.path.basename(path)} +{len(added)} -{len(removed)}{shown}"


def read_text(path: str) -> Optional[str]:
    """A live file's text, None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def check_tables(raw: Any) -> Dict[str, str]:
    """change.tables: absolute path -> content (text); FieldError naming the path."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise FieldError("change.tables", "must be a dict of table path and new content")
    out = {}
    for path, content in raw.items():
        where = f"change.tables.{path}"
        if not isinstance(path, str) or not os.path.isabs(path):
            raise FieldError(where, "give the table's absolute path, as the configuration"
                             " names it")
        if not isinstance(content, str):
            raise FieldError(where, "the new content must be text (the table's source"
                             " file, one entry a line)")
        if "\0" in content:
            raise FieldError(where, "the content must not contain NUL")
        out[os.path.normpath(path)] = content if content.endswith("\n") or not content \
            else content + "\n"
    return out


def check_expect(raw: Any) -> Optional[List[Any]]:
    """expect_changes: case names (text) or identities (dicts of identity fields)."""
    if raw is None:
        return None
    out: List[Any] = []
    for i, item in enumerate(raw):
        where = f"expect_changes[{i}]"
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping) and item:
            out.append({str(k).lower(): v for k, v in item.items()})
        else:
            raise FieldError(where, "give a case name or an identity (a dict such as"
                             " {addr: 192.0.2.7} or {mail_from: a@example.org})")
    return out


def _matches(identity: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    xclient = {k.lower(): v for k, v in (identity.get("xclient") or {}).items()}
    for key, value in wanted.items():
        if key in IDENTITY_FIELDS:
            have = identity.get(key)
            if key == "rcpt_to" and isinstance(value, str):
                value = [value]
        else:
            have = xclient.get(key)
        if have is None or (str(have).lower() != str(value).lower()
                            if not isinstance(have, list) else have != value):
            return False
    return True


def listed(change: Mapping[str, Any], expect: Sequence[Any]) -> bool:
    """Whether a change row is named by expect_changes (its case name, or an identity
    whose every given field equals the case's)."""
    for item in expect:
        if isinstance(item, str):
            if item == change["case"]:
                return True
        elif _matches(change["identity"], item):
            return True
    return False


def not_seen(changes: Sequence[Mapping[str, Any]], expect: Sequence[Any]) -> List[Any]:
    """The expect_changes entries that name no change: the change does not do (for those
    cases) what the play expected of it."""
    return [item for item in expect if not any(listed(c, [item]) for c in changes)]


# ------------------------------------------------------------------ the copies
def work_copy(live: Postconf, base_parent: Optional[str] = None) -> Postconf:
    """A private copy of the live config directory: main.cf and master.cf copied, every
    other entry linked (as a shadow links them), so ``postconf -c`` on it reads what the
    live instance reads. Nothing is written in the live directory."""
    work = tempfile.mkdtemp(prefix=WORK_PREFIX, dir=base_parent)
    os.chmod(work, 0o755)
    live_dir = os.path.realpath(live.config_dir)
    for entry in os.listdir(live_dir):
        src = os.path.join(live_dir, entry)
        if entry in ("main.cf", "master.cf"):
            shutil.copyfile(src, os.path.join(work, entry))
        elif not entry.startswith(".mailops-xclient-"):
            os.symlink(src, os.path.join(work, entry))
    date_back(os.path.join(work, "main.cf"))
    return Postconf(live.run, work, postconf=live.postconf_bin, postfix=live.postfix_bin)


def _live_path(work: Postconf, live_dir: str, path: str) -> str:
    """A table path as the live instance names it: one under the copy's directory (a
    ``$config_directory`` reference) is the live directory's entry."""
    path = os.path.normpath(path)
    prefix = work.config_dir.rstrip("/") + "/"
    return os.path.join(live_dir, path[len(prefix):]) if path.startswith(prefix) else path


def _references(pc: Postconf) -> List[Tuple[Optional[str], str, str]]:
    """(service or None for main.cf, parameter, value as written) of every setting."""
    out: List[Tuple[Optional[str], str, str]] = [
        (None, k, v) for k, v in pc.explicit_all().items() if v]
    for entry in pc.services():
        out += [(entry.key, k, v) for k, v in entry.options.items() if v]
    return out


def swap_tables(pc: Postconf, live_dir: str, tables: Mapping[str, str], postmap: str
                ) -> None:
    """Write the proposed table contents into the copy (``tables/``), build the indexed
    ones with postmap and point every reference of the copy at them. FieldError naming a
    path the configuration does not reference."""
    if not tables:
        return
    map_types = pc.map_types()
    tables_dir = os.path.join(pc.config_dir, TABLES_DIR)
    os.mkdir(tables_dir, 0o755)
    new_path = {path: os.path.join(tables_dir, f"{i}-{os.path.basename(path)}")
                for i, path in enumerate(sorted(tables))}
    for path, dest in new_path.items():
        with open(dest, "w", encoding="utf-8") as fh:
            fh.write(tables[path])
        os.chmod(dest, 0o644)
    found: Dict[str, set] = {p: set() for p in tables}
    main_values: Dict[str, str] = {}
    for service, name, value in _references(pc):
        text = value
        for ref in tables_in(value, map_types):
            inner = ref[len("proxy:"):] if ref.startswith("proxy:") else ref
            kind, _sep, rest = inner.partition(":")
            path = _live_path(pc, live_dir, pc.expand_text(rest))
            if path in tables:
                found[path].add(kind)
                text = text.replace(ref, ref[:len(ref) - len(rest)] + new_path[path])
        if text != value:
            if service is None:
                main_values[name] = text
            else:
                pc.set_service_param(service, name, text)
    if main_values:
        pc.set_main_many(main_values)
    for path, kinds in found.items():
        if not kinds:
            raise FieldError(f"change.tables.{path}", "the proposed configuration does not"
                             " reference this table (give the path as main.cf or a -o"
                             " override names it, $config_directory expanded)")
        for kind in sorted(kinds & INDEXED_TYPES):
            rc, out, err = pc.run([postmap, "-c", pc.config_dir, f"{kind}:{new_path[path]}"])
            if rc != 0:
                raise FieldError(f"change.tables.{path}", "postmap refused the new content: "
                                 + (err or out).strip())
    date_back(os.path.join(pc.config_dir, "main.cf"))


def apply_change(pc: Postconf, live_dir: str, change: ProposedChange, postmap: str) -> None:
    """The proposed change on the copy ``pc``: services first (so settings may name a new
    one), then settings, then tables - the config modules' own edits."""
    for i, item in enumerate(change.services):
        try:
            apply_service(pc, item.key, item.desired, item.purge, item.force)
        except FieldError as exc:
            raise FieldError(f"change.services[{i}].{exc.field}",
                             str(exc).split(": ", 1)[1]) from None
    if change.settings:
        entry = None
        if change.service is not None:
            entry = pc.service(change.service)
            if entry is None:
                raise FieldError("change.service", f"master.cf has no service"
                                 f" {change.service} (after change.services)")
        apply_settings(pc, entry, change.settings, None)
    date_back(os.path.join(pc.config_dir, "main.cf"))
    swap_tables(pc, live_dir, change.tables, postmap)


def authorize_loopback(pc: Postconf, service: str) -> None:
    """The listener lets the probe's loopback address send XCLIENT (an -o override of its
    effective list plus LOOPBACK_CLIENTS); nothing else changes."""
    entry = pc.service(service)
    if entry is None:
        raise FieldError("service", f"master.cf has no service {service}")
    if entry.type != "inet" or entry.command != "smtpd":
        raise FieldError("service", f"{service} is not an smtpd inet listener (it runs"
                         f" {entry.command}); name the smtpd listener the cases are for")
    value = entry.options.get(XCLIENT_HOSTS)
    if value is None:
        value = pc.explicit(XCLIENT_HOSTS) or ""
    pc.set_service_param(service, XCLIENT_HOSTS,
                         f"{value}, {LOOPBACK_CLIENTS}" if value.strip() else LOOPBACK_CLIENTS)
    date_back(os.path.join(pc.config_dir, "main.cf"))


def proposed_findings(live: Postconf, work: Postconf, postmap: str) -> List[str]:
    """The pre-flight findings of the proposed copy (the config modules' checks)."""
    notes: List[str] = []
    problems: List[Problem] = []
    try:
        problems = type_problems(live, work)
        problems += preflight(live, work, postmap, notes=notes)
    except PostconfError as exc:
        notes.append(f"postconf cannot read the proposed configuration: {exc}")
    return [f"{generic_field(p.locator)}: {p.message}" for p in problems] + notes


# ------------------------------------------------------------------ cases
def merged_cases(given: Sequence[CaseSpec], derived: Sequence[Sequence[Mapping[str, Any]]]
                 ) -> List[CaseSpec]:
    """The given cases (parsed), then each derived case whose identity none before has (a
    derived name already taken gets `` (N)``); each case parsed once, indexed in order."""
    out = list(given)
    seen = {json.dumps(identity_of(s), sort_keys=True) for s in out}
    names = {s.name for s in out}
    for cases in derived:
        if not cases:
            continue
        for spec in parse_cases(list(cases)):
            key = json.dumps(identity_of(spec), sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            name, n = spec.name, 2
            while name in names:
                name, n = f"{spec.name} ({n})", n + 1
            names.add(name)
            out.append(dataclasses.replace(spec, name=name))
    return [dataclasses.replace(spec, index=i) if spec.index != i else spec
            for i, spec in enumerate(out)]


@dataclass
class Outcome:
    changes: List[Dict[str, Any]]
    unchanged: int
    cases: int
    findings: List[str]
    coverage: Optional[Dict[str, Any]] = None
    seconds: Dict[str, float] = field(default_factory=dict)

    def result(self) -> Dict[str, Any]:
        changed_cases = list(dict.fromkeys(c["case"] for c in self.changes))
        out: Dict[str, Any] = {"changes": self.changes, "changed_cases": changed_cases,
                               "unchanged": self.unchanged, "cases": self.cases,
                               "preflight": self.findings, "seconds": self.seconds}
        if self.coverage is not None:
            out["coverage"] = self.coverage
        return out


def _coverage(derived: Mapping[str, Any]) -> Dict[str, Any]:
    return {"totals": derived["totals"], "rows": derived["coverage"],
            "predicted_shadowed": derived["predicted_shadowed"]}


def _serving(shadow: Shadow, service: str, timeout: float) -> Optional[str]:
    """Postfix's words when the listener ``service`` of a started shadow does not serve
    (a daemon that dies of the config: master is up, smtpd is not), else None. A refusal
    in SMTP (a rule of the change refusing the proof's client) is a verdict, not this."""
    mark = len(shadow.log_lines())
    endpoints = [e for e in shadow.endpoints if e.service == service]
    proof = prove_mail_flows(endpoints, timeout, proof_domain(shadow.pc),
                             log=lambda: shadow.log_lines()[mark:])
    broken = [s.why for s in proof.steps if not s.ok and not re.search(r"\b\d{3}\b", s.why)]
    said = died(shadow.log_lines()[mark:])
    return "; ".join(said or broken) or None


def died(lines: Sequence[str]) -> List[str]:
    """The lines of a shadow's log that say a daemon died of the configuration."""
    return list(dict.fromkeys(unstamped(line) for line in log_problems(list(lines))
                              if "fatal:" in line or "panic:" in line))


def _probe(shadow: Shadow, service: str, specs: List[CaseSpec], timeout: float,
           out: List[List[CaseResult]]) -> None:
    endpoint = next(e for e in shadow.endpoints if e.service == service)
    target = ProbeTarget(server=endpoint.address, port=endpoint.port, helo=PROBE_HELO,
                         timeout=timeout)
    out.append(run_cases(specs, target, concurrency=CONCURRENCY, transcript_mode="none"))


def run_whatif(live: Postconf, change: ProposedChange, cases: Sequence[CaseSpec],
               *, service: str, derive: bool, postmap: str,
               run_stdin: Optional[StdinRunner], timeout: float,
               clock: Callable[[], float], base_parent: Optional[str] = None) -> Outcome:
    """Both shadows, the cases on both, the verdicts compared; everything this made is
    removed before returning or raising (also on SIGTERM / SIGINT / SIGHUP)."""
    live_dir = os.path.realpath(live.config_dir)
    seconds: Dict[str, float] = {}
    with ExitStack() as stack:
        before = work_copy(live, base_parent)
        stack.callback(shutil.rmtree, before.config_dir, True)
        after = work_copy(live, base_parent)
        stack.callback(shutil.rmtree, after.config_dir, True)
        try:
            apply_change(after, live_dir, change, postmap)
        except PostconfError as exc:
            raise WhatIfError(f"change: the change cannot be made: {exc}") from None
        findings = proposed_findings(live, after, postmap)
        # The cases are derived before the XCLIENT list is widened (it is no rule).
        derived: List[Dict[str, Any]] = []
        if derive:
            t = clock()
            for pc in (before, after):
                derived.append(access_cases(pc, service, postmap, run_stdin))
            seconds["derive"] = round(clock() - t, 2)
        for pc in (before, after):
            authorize_loopback(pc, service)
        specs = merged_cases(cases, [d["cases"] for d in derived])
        if not specs:
            raise FieldError("cases", "no case to run: give cases, or derive: true on a"
                             " listener with access rules")
        t = clock()
        shadows = []
        for pc in (before, after):
            shadow = Shadow(pc.config_dir, live.run, links_from=live_dir,
                            postconf=live.postconf_bin, postfix=live.postfix_bin,
                            base_parent=base_parent)
            stack.callback(shadow.remove)
            stack.enter_context(removal_on_signals(shadow))
            shadows.append(shadow)
        # Both start at once: most of a start is waiting for postfix start and master.
        failed: List[Optional[Exception]] = [None, None]

        def start(i: int) -> None:
            try:
                shadows[i].start(timeout)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                failed[i] = exc  # raised in the main thread, below

        threads = [threading.Thread(target=start, args=(i,), daemon=True) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for i, which in enumerate(("the live configuration", "the proposed change")):
            error = failed[i]
            if isinstance(error, ShadowError):
                raise WhatIfError(f"{which} does not start on a shadow (a private copy on"
                                  f" loopback ports; the live instance was not touched):"
                                  f" {error}") from None
            if error is not None:
                raise error
        said = _serving(shadows[1], service, min(timeout, PROOF_TIMEOUT))
        if said:
            raise WhatIfError("the proposed change does not work on a shadow (a private copy"
                              " on loopback ports; the live instance was not touched):"
                              f" {said}")
        seconds["start"] = round(clock() - t, 2)
        t = clock()
        results: List[List[CaseResult]] = []
        other: List[List[CaseResult]] = []
        worker = threading.Thread(target=_probe, args=(shadows[1], service, specs, timeout,
                                                       other), daemon=True)
        worker.start()
        _probe(shadows[0], service, specs, timeout, results)
        worker.join()
        if not other:
            raise WhatIfError("the cases could not be run on the proposed shadow")
        seconds["probe"] = round(clock() - t, 2)
        new = [line for line in died(shadows[1].log_lines())
               if line not in died(shadows[0].log_lines())]
        if new:
            raise WhatIfError("a daemon died of the proposed change on its shadow while the"
                              " cases ran (the live instance was not touched): "
                              + "; ".join(new[:5]))
        diff = compare(record(specs, results[0]), record(specs, other[0]))
    coverage = None
    if derive:
        coverage = {"before": _coverage(derived[0]), "after": _coverage(derived[1])}
    return Outcome(diff["changes"], diff["unchanged"], len(specs), findings, coverage,
                   seconds)
