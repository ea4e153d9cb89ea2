# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The too-broad guard of the XCLIENT / XFORWARD lists, judged on what a pattern
*effectively* authorizes: the one definition every module that writes such a list uses.

A client on the list may claim any identity (XCLIENT), so a list that matches the world,
or a wide slice of it, is refused unless the user opts in (``allow_broad``). Per pattern:

- an address or network: the prefix rules of ``_host_patterns.broad_reason``;
- a name or ``.domain``: refused when it is a public suffix (``.com``, ``.co.uk``,
  ``.github.io``) or has public suffixes below it (``.amazonaws.com``), by the Public
  Suffix List the host ships (``_public_suffix``);
- a ``/file/name`` list: its patterns, recursively;
- a ``type:table``: its entries where Postfix can list them - a ``cidr:`` file's networks
  (read), the keys of ``inline:``, ``hash:``, ``texthash:`` ... (``postmap -s``) - and, for
  every table this host can open locally (``regexp:`` and ``pcre:`` above all), Postfix's
  own answer for representative clients (``postmap -q``): TEST-NET addresses of both
  families, public-looking addresses and names drawn at random, and ``unknown`` (a client
  without a reverse name). A table that matches any public-looking client, ``unknown``,
  or documentation networks that lie in different /8 (IPv4) or /48 (IPv6) networks is
  wider than one site. ``static:`` and ``randmap:`` match every client. A table served by
  another server (``ldap:``, ``mysql:``, ``tcp:`` ...) cannot be judged without asking
  it, so it counts as broad too.

Negations (``!pattern``) only narrow a list and are not judged.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import subprocess
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._host_patterns import (
    PatternError,
    broad_reason,
    file_patterns,
    normalize,
    split_list,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    parse_settings,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    LOCAL_TABLE_TYPES,
    Locator,
    Problem,
)
from ansible_collections.mailops.xclient.plugins.module_utils._public_suffix import (
    PublicSuffixes,
)

XCLIENT_LISTS = ("smtpd_authorized_xclient_hosts", "smtpd_authorized_xforward_hosts")
EVERY_CLIENT = {"static": "a static: table matches every client",
                "randmap": "a randmap: table matches every client"}
# Documentation networks (RFC 5737, RFC 3849): one per /8 or /48; a table matching two of
# one family is wider than one site.
TEST_NETS_V4 = ("192.0.2.10", "198.51.100.10", "203.0.113.10")
TEST_NETS_V6 = ("2001:db8::10", "2001:db8:8000::10")
_TABLE = re.compile(r"^([a-z][a-z0-9_]*):(.+)$", re.S)
MAX_DEPTH = 8


def _public_v4(rng: random.Random) -> str:
    while True:
        addr = ipaddress.IPv4Address(rng.getrandbits(32))
        if addr.is_global and not addr.is_multicast:
            return str(addr)


def _public_v6(rng: random.Random) -> str:
    while True:
        addr = ipaddress.IPv6Address((0x2 << 124) | rng.getrandbits(124))  # 2000::/3
        if addr.is_global and addr not in ipaddress.ip_network("2001:db8::/32"):
            return str(addr)


def outside_probes(rng: Optional[random.Random] = None) -> List[str]:
    """Clients no XCLIENT list of one site should match: public-looking addresses of both
    families and names under public suffixes (drawn anew each run), and ``unknown``."""
    rng = rng or random.SystemRandom()
    label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _i in range(10))
    v4 = [_public_v4(rng) for _i in range(4)]
    return v4 + [_public_v6(rng) for _i in range(3)] + [
        f"mail.{label}.com", f"{label}.net", f"smtp.{label}.co.uk", f"{label}.com.au",
        f"{label}.de", "ec2-{}.compute-1.amazonaws.com".format(v4[0].replace(".", "-")),
        "unknown"]


class Judge:
    """Judges patterns for one instance. ``pc`` reads the config (``$name`` expansion),
    ``postmap`` is the binary, ``suffixes`` the public suffix list."""

    def __init__(self, pc: Postconf, postmap: str, suffixes: PublicSuffixes,
                 map_types: Sequence[str], probes: Optional[List[str]] = None) -> None:
        self.pc = pc
        self.postmap = postmap
        self.suffixes = suffixes
        self.map_types = list(map_types)
        self.probes = probes if probes is not None else outside_probes()

    # ------------------------------------------------------------------ patterns
    def reason(self, pattern: str) -> Optional[str]:
        """Why this pattern (as written in a list) authorizes too much, or None."""
        return self._pattern(pattern.strip(), 0, set())

    def _pattern(self, pattern: str, depth: int, seen: Set[str]) -> Optional[str]:
        if not pattern or pattern.startswith("!"):
            return None
        literal = broad_reason(pattern) if not pattern.startswith("/") else None
        if literal:
            return literal
        if pattern.startswith("$"):
            # $name in a list is the named parameter's list ($mynetworks), as Postfix
            # expands it
            expanded = self.pc.expand_text(pattern)
            if expanded == pattern or depth >= MAX_DEPTH:
                return None
            for one in split_list(expanded):
                why = self._pattern(one, depth + 1, seen)
                if why:
                    return f"{one} (from {pattern}) is {why}"
            return None
        if pattern.startswith("/"):
            return self._file(pattern, depth, seen)
        table = _TABLE.match(pattern)
        if table and table.group(1) in self.map_types:
            return self._table(table.group(1), table.group(2), depth, seen)
        try:
            ipaddress.ip_network(pattern.strip("[]").replace("]/", "/"), strict=False)
            return None  # an address or a narrow network
        except ValueError:
            return self._name(pattern)

    def _name(self, name: str) -> Optional[str]:
        if not name.startswith(".") and "." not in name.rstrip("."):
            return None  # one host's name (localhost, proxy), matched as a whole
        covered = self.suffixes.covers_suffix(name)
        if covered is None:
            return None
        if covered == name.strip(".").lower():
            what = "a top-level domain" if "." not in covered else "a public suffix"
            return (f"{what}: names under it belong to many unrelated owners (Public Suffix"
                    f" List{self._list_note()})")
        return (f"a domain above the public suffix {covered}: names under it belong to many"
                f" unrelated owners (Public Suffix List{self._list_note()})")

    def _list_note(self) -> str:
        return f" {self.suffixes.path}" if self.suffixes.path else " not found; built-in rules"

    def _file(self, path: str, depth: int, seen: Set[str]) -> Optional[str]:
        if depth >= MAX_DEPTH or path in seen:
            return None
        seen = seen | {path}
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                inside = file_patterns(fh.read())
        except OSError as exc:
            return f"cannot read {path} to judge it ({exc.strerror})"
        for one in inside:
            why = self._pattern(one, depth + 1, seen)
            if why:
                return f"{one} (in {path}) is {why}" if not why.startswith(one) else why
        return None

    # ------------------------------------------------------------------ tables
    def _table(self, kind: str, name: str, depth: int, seen: Set[str]) -> Optional[str]:
        if kind == "proxy":
            inner = _TABLE.match(name)
            return self._table(inner.group(1), inner.group(2), depth, seen) if inner else None
        if kind in EVERY_CLIENT:
            return EVERY_CLIENT[kind]
        if kind in ("unionmap", "pipemap"):
            parts = split_list(name.strip()[1:-1]) if name.strip().startswith("{") else []
            if kind == "pipemap":
                parts = parts[:1]  # a pipemap matches only what its first table matches
            for part in parts:
                why = self._pattern(part, depth + 1, seen)
                if why:
                    return f"{part} (in {kind}:) is {why}"
            return None
        if kind == "fail":
            return None
        if kind not in LOCAL_TABLE_TYPES:
            return (f"a {kind}: table is answered by another server, so what it authorizes"
                    " cannot be judged here")
        table = f"{kind}:{self.pc.expand_text(name)}" if kind != "inline" else f"{kind}:{name}"
        for key in self._keys(kind, table):
            why = self._key(kind, key)
            if why:
                return f"its entry {key} is {why}"
        return self._probe(table)

    def _keys(self, kind: str, table: str) -> List[str]:
        """The table's keys: a cidr file read, the others listed by ``postmap -s``."""
        if kind == "cidr":
            path = table.split(":", 1)[1]
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    lines = fh.read().splitlines()
            except OSError:
                return []
            keys = []
            for line in lines:
                words = line.split()
                if not words or line[0].isspace() or words[0].startswith("#"):
                    continue
                if words[0] in ("if", "endif"):
                    if words[0] == "if" and len(words) > 1:
                        keys.append(words[1])
                    continue
                keys.append(words[0])
            return keys
        if kind in ("regexp", "pcre"):
            return []
        rc, out, _err = self.pc.run([self.postmap, "-c", self.pc.config_dir, "-s", table])
        if rc != 0:
            return []
        return [line.split("\t", 1)[0].split(" ", 1)[0] for line in out.splitlines() if line]

    def _key(self, kind: str, key: str) -> Optional[str]:
        if key.startswith("!"):
            return None
        if kind == "cidr":
            text = key.strip("[]").replace("]/", "/")
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                return None
            return broad_reason(f"[{net.network_address}]/{net.prefixlen}" if net.version == 6
                                else f"{net.network_address}/{net.prefixlen}")
        try:
            ipaddress.ip_address(key.strip("[]"))
            return None
        except ValueError:
            pass
        plain = re.match(r"^\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$", key)
        return self._name(key) if plain else None

    def _probe(self, table: str) -> Optional[str]:
        """Ask Postfix what the table answers for representative clients."""
        keys = list(TEST_NETS_V4) + list(TEST_NETS_V6) + self.probes
        # postmap -q - reads the keys from stdin (one process for all of them), which the
        # module's runner cannot feed.
        proc = subprocess.run(  # pylint: disable=ansible-bad-function
            [self.postmap, "-c", self.pc.config_dir, "-q", "-", table],
            input="\n".join(keys) + "\n", capture_output=True, text=True, check=False,
            env=dict(os.environ, LC_ALL="C"), timeout=60)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
        if rc not in (0, 1) or "fatal:" in err:
            return None  # a table that does not open: the pre-flight check says why
        hits = {line.split("\t", 1)[0] for line in out.splitlines()}
        outside = [k for k in self.probes if k in hits]
        if outside:
            return (f"a table Postfix matches for clients no site's list should hold"
                    f" (postmap -q matched {', '.join(outside[:3])})")
        v4 = [k for k in TEST_NETS_V4 if k in hits]
        v6 = [k for k in TEST_NETS_V6 if k in hits]
        if len(v4) > 1 or len(v6) > 1:
            return (f"a table Postfix matches across networks far apart (postmap -q matched"
                    f" {', '.join(v4 + v6)})")
        return None


def added_patterns(before: str, after: str) -> List[str]:
    """Patterns of the list ``after`` that ``before`` does not have."""
    old = set(split_list(before))
    return [p for p in split_list(after) if p not in old]


def judge_list(judge: Judge, patterns: Sequence[str]) -> List[Tuple[str, str]]:
    """(pattern, reason) for every pattern that authorizes too much."""
    out = []
    for pattern in patterns:
        why = judge.reason(pattern)
        if why:
            out.append((pattern, why))
    return out


def refusal(pattern: str, why: str) -> str:
    text = why if why.startswith(pattern) else f"{pattern} is {why}"
    return (f"{text}; XCLIENT lets such clients claim any identity. Set allow_broad: true"
            " if you mean it")


def normalized(patterns: Sequence[str], exists: Callable[[str], bool],
               map_types: Sequence[str]) -> List[str]:
    """Patterns normalized as ``_host_patterns.normalize`` does; what does not parse stays
    as written (it is judged as it is)."""
    out = []
    for raw in patterns:
        try:
            out.append(normalize(raw, exists=exists, map_types=map_types))
        except PatternError:
            out.append(raw)
    return out


def _overrides(pc: Postconf) -> Dict[Tuple[str, str], str]:
    """Every ``-o`` XCLIENT/XFORWARD list of master.cf, expanded (``postconf -Px``)."""
    out: Dict[Tuple[str, str], str] = {}
    rc, text, _err = pc.run([pc.postconf_bin, "-c", pc.config_dir, "-Px"])
    for key, value in parse_settings(text if rc == 0 else "").items():
        service, _slash, name = key.rpartition("/")
        if name in XCLIENT_LISTS:
            out[(service, name)] = value
    return out


def broad_problems(live: Postconf, work: Postconf, make_judge: Callable[[], Judge]
                   ) -> List[Problem]:
    """The XCLIENT / XFORWARD lists after the edit from ``live`` to ``work``, expanded as
    Postfix reads them (so ``$mynetworks`` in the list counts, and an edit of
    ``mynetworks`` changes it), judged on the patterns they gained: main.cf's lists
    against main.cf's before, a listener's override against what that listener used
    before (its own override, else main.cf's list). ``make_judge`` is called only when
    such a list gained patterns."""
    names = list(XCLIENT_LISTS)

    def as_live(text: str) -> str:
        # $config_directory expands to the work copy's directory there
        return text.replace(work.config_dir, live.config_dir)
    main_before = {n: live.expanded(n) for n in names}
    main_after = {n: as_live(work.expanded(n)) for n in names}
    over_before = _overrides(live)
    over_after = {k: as_live(v) for k, v in _overrides(work).items()}
    gained: List[Tuple[Locator, List[str]]] = []
    for name in names:
        added = added_patterns(main_before[name], main_after[name])
        if added:
            gained.append((("param", name), added))
    for (service, name), value in sorted(over_after.items()):
        base = over_before.get((service, name), main_before[name])
        added = added_patterns(base, value)
        if added:
            gained.append((("option", service, name), added))
    if not gained:
        return []
    judge = make_judge()
    problems: List[Problem] = []
    for locator, added in gained:
        for pattern, why in judge_list(judge, added):
            problems.append(Problem(locator, refusal(pattern, why)))
    return problems
