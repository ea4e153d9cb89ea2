# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Patterns of ``smtpd_authorized_xclient_hosts`` / ``_xforward_hosts`` (postconf(5)):
network/netmask, IPv4/IPv6 address, hostname, ``.domain``, ``/file/name``, ``type:table``,
and ``!pattern``. Parsing, normalization, and the "too broad" rule. Pure functions: file
existence and the known table types come in as arguments.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Callable, Iterable, List, Optional, Sequence

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import split_braced

# Table types whose table is a file with a suffix Postfix adds (postmap output).
INDEXED_SUFFIX = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb", "cdb": ".cdb",
                  "dbm": ".dir", "sdbm": ".dir"}
# Table types read straight from the named file.
FILE_TABLES = {"cidr", "pcre", "regexp", "texthash"}
# Table types that name a configuration file when given an absolute path.
CONFIG_FILE_TABLES = {"ldap", "mysql", "pgsql", "sqlite", "memcache", "mongodb"}

MIN_IPV4_PREFIX = 16
MIN_IPV6_PREFIX = 48

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_TABLE = re.compile(r"^([a-z][a-z0-9_]*):(.+)$")


class PatternError(ValueError):
    """A pattern that does not parse or cannot work; the message says why."""


def split_list(value: str) -> List[str]:
    """A Postfix list value -> patterns: commas and/or whitespace separate them, except
    inside braces (``inline:{ a=OK, { b = OK } }`` is one pattern), as Postfix reads it.
    A brace that never closes keeps the rest of the value in one item, as in Postfix."""
    return split_braced(value, commas=True)


def _ip_pattern(text: str) -> Optional[str]:
    """IPv4/IPv6 address or network -> Postfix form, or None if it is not one."""
    raw = text
    bracketed = re.match(r"^\[([0-9A-Fa-f:.]+)\](/\d+)?$", text)
    if bracketed:
        text = bracketed.group(1) + (bracketed.group(2) or "")
    if not re.match(r"^[0-9A-Fa-f:.]+(/\d+)?$", text) or not re.search(r"[.:]", text):
        return None
    if re.match(r"^[0-9A-Fa-f.]+(/\d+)?$", text) and not re.match(r"^[\d.]+(/\d+)?$", text):
        return None  # a hostname made of hex letters, like "bad.cafe"
    try:
        if "/" in text:
            try:
                net = ipaddress.ip_network(text, strict=True)
            except ValueError as exc:
                if "host bits set" in str(exc):
                    loose = ipaddress.ip_network(text, strict=False)
                    raise PatternError(f"{raw!r} has host bits set; the network is"
                                       f" {_format_net(loose)}") from None
                raise
            return _format_net(net)
        addr = ipaddress.ip_address(text)
    except PatternError:
        raise
    except ValueError:
        if bracketed or ":" in text or re.match(r"^[\d./]+$", text):
            raise PatternError(f"{raw!r} is not a valid IP address or network") from None
        return None
    return f"[{addr.compressed}]" if addr.version == 6 else str(addr)


def _format_net(net) -> str:
    if net.version == 6:
        return f"[{net.network_address.compressed}]/{net.prefixlen}"
    return f"{net.network_address}/{net.prefixlen}"


def normalize(pattern: str, *, exists: Callable[[str], bool],
              map_types: Iterable[str]) -> str:
    """One pattern -> its normalized form; raise PatternError."""
    text = pattern.strip()
    if not text:
        raise PatternError("empty pattern")
    if text.startswith("!"):
        inner = text[1:]
        if inner.startswith("!") or not inner:
            raise PatternError(f"{pattern!r}: '!' must be followed by one pattern")
        return "!" + normalize(inner, exists=exists, map_types=map_types)
    if any(ch in text for ch in "\r\n\0{}") or " " in text:
        raise PatternError(f"{pattern!r} contains characters a pattern cannot have")
    if text.startswith("/"):
        if not exists(text):
            raise PatternError(f"{text}: the file does not exist")
        return text
    ip = _ip_pattern(text)
    if ip is not None:
        return ip
    table = _TABLE.match(text)
    if table:
        return _table(text, table.group(1), table.group(2), exists, set(map_types))
    return _hostname(text)


def _table(text: str, kind: str, name: str, exists: Callable[[str], bool],
           types: set) -> str:
    if kind not in types:
        raise PatternError(f"{text!r}: table type {kind!r} is not supported by this Postfix"
                           f" (postconf -m lists: {', '.join(sorted(types))})")
    if kind == "proxy":
        inner = _TABLE.match(name)
        if not inner:
            raise PatternError(f"{text!r}: proxy: needs a table, like proxy:hash:/path")
        return "proxy:" + _table(name, inner.group(1), inner.group(2), exists, types)
    if kind in INDEXED_SUFFIX:
        if not name.startswith(("/", "$")):  # $config_directory/... is expanded by exists
            raise PatternError(f"{text!r}: give the table as an absolute path")
        if not exists(name + INDEXED_SUFFIX[kind]):
            raise PatternError(f"{text!r}: {name}{INDEXED_SUFFIX[kind]} does not exist"
                               f" (run postmap {kind}:{name})")
    elif kind in FILE_TABLES or (kind in CONFIG_FILE_TABLES and name.startswith("/")):
        if not name.startswith(("/", "$")):  # $config_directory/... is expanded by exists
            raise PatternError(f"{text!r}: give the table as an absolute path")
        if not exists(name):
            raise PatternError(f"{text!r}: {name} does not exist")
    return f"{kind}:{name}"


def _hostname(text: str) -> str:
    name = text.lower().rstrip(".")
    body = name[1:] if name.startswith(".") else name
    labels = body.split(".") if body else []
    if not labels or len(body) > 253 or not all(_LABEL.match(label) for label in labels):
        raise PatternError(f"{text!r} is not an address, network, hostname, .domain,"
                           " /file/name or type:table")
    if all(label.isdigit() for label in labels):
        raise PatternError(f"{text!r} is not a valid IP address")
    return name


def broad_reason(pattern: str) -> Optional[str]:
    """Why a normalized pattern authorizes the world or a wide slice of it (None: fine)."""
    if pattern.startswith("!"):
        return None
    while pattern.startswith("proxy:"):
        pattern = pattern[len("proxy:"):]
    if pattern.startswith("static:"):
        return "a static: table matches every client"
    match = re.match(r"^\[?([0-9a-f:.]+)\]?/(\d+)$", pattern)
    if match:
        prefix = int(match.group(2))
        if prefix == 0:
            return "every address"
        if ":" in match.group(1):
            if prefix < MIN_IPV6_PREFIX:
                return f"an IPv6 network wider than /{MIN_IPV6_PREFIX}"
        elif prefix < MIN_IPV4_PREFIX:
            return f"an IPv4 network wider than /{MIN_IPV4_PREFIX}"
        return None
    if pattern.startswith(".") and "." not in pattern[1:]:
        return "a whole top-level domain"
    return None


def file_patterns(text: str) -> List[str]:
    """The patterns in a /file/name list: comments and blank lines dropped."""
    out: List[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        out.extend(split_list(line))
    return out


def is_single_host(pattern: str) -> bool:
    """An address (or a /32, /128 network): nothing broader than one machine."""
    if pattern.startswith("!"):
        return True
    if re.match(r"^(\d+\.){3}\d+(/32)?$", pattern):
        return True
    return bool(re.match(r"^\[[0-9a-f:.]+\](/128)?$", pattern))


def _as_network(pattern: str):
    """A normalized address or network pattern as an ip_network, else None."""
    text = re.sub(r"^\[([^\]]+)\]", r"\1", pattern)
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _contains(pattern: str, address: str) -> bool:
    """Whether an address/network pattern matches an address pattern (both normalized)."""
    outer, inner = _as_network(pattern), _as_network(address)
    if outer is None or inner is None:
        return pattern == address
    return inner.version == outer.version and inner.subnet_of(outer)


def merge(current: Sequence[str], hosts: Sequence[str], state: str) -> List[str]:
    """New list: ``present`` adds, ``absent`` removes, ``exact`` sets; no duplicates.

    The patterns already there keep their order: Postfix stops at the first pattern that
    matches, so an explicitly allowed exception before a negation
    (``192.0.2.10, !192.0.2.0/28, 192.0.2.0/24``) stays allowed. New positive patterns go
    at the end. A new ``!pattern`` goes just before the first pattern that matches what
    it excludes (for addresses and networks), else before the first positive pattern, so
    it takes effect without revoking an earlier exception. A negation of a pattern the
    list also allows as such is refused (PatternError), since one of the two would be a
    no-op.
    """
    if state == "exact":
        base: List[str] = []
    else:
        base = list(current)
    if state == "absent":
        drop = set(hosts)
        return _unique(p for p in base if p not in drop)
    combined = _unique(list(base) + list(hosts))
    negations = [p for p in combined if p.startswith("!")]
    positives = [p for p in combined if not p.startswith("!")]
    for neg in negations:
        target = neg[1:]
        if target in positives:
            raise PatternError(f"{neg} and {target} are both in the list; Postfix uses"
                               " whichever comes first, so one of them would do nothing."
                               " Remove one")
    only_addresses = all(_as_network(p) is not None for p in positives)
    for neg in [n for n in negations if n in hosts]:
        if only_addresses and _as_network(neg[1:]) is not None \
                and not any(_contains(p, neg[1:]) for p in positives):
            raise PatternError(f"{neg}: no pattern in the list matches {neg[1:]}, so"
                               " excluding it does nothing (Postfix allows only what a"
                               " later pattern matches)")
    out = _unique(base)
    for pattern in _unique(hosts):
        if pattern in out:
            continue
        if not pattern.startswith("!"):
            out.append(pattern)
            continue
        target = pattern[1:]
        comparable = _as_network(target) is not None
        at = next((i for i, p in enumerate(out) if not p.startswith("!")
                   and (not comparable or _as_network(p) is None or _contains(p, target))),
                  len(out))
        out.insert(at, pattern)
    return out


def _unique(patterns: Iterable[str]) -> List[str]:
    seen = set()
    out = []
    for p in patterns:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out
