# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Access tables as smtpd reads them, for deriving probe cases: the entries of a
``cidr:``, ``hash:``/``lmdb:``/``btree:``/``texthash:``, ``inline:``, ``static:`` and
``regexp:``/``pcre:`` table, and which entry a given lookup key reaches.

Only the entries are read here (the source text next to an indexed table); whether a
pattern matches is asked of Postfix (``postmap -q``, see ``_access_rules``). A table we
cannot read is a ``TableError`` with the reason, never a crash.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    split_braced,
)

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

INDEXED_TYPES = ("hash", "lmdb", "btree", "cdb", "dbm", "sdbm")
KEYED_TYPES = INDEXED_TYPES + ("texthash",)
PATTERN_TYPES = ("regexp", "pcre")
READABLE_TYPES = KEYED_TYPES + PATTERN_TYPES + ("cidr", "inline", "static")

# Addresses for documentation (RFC 5737, RFC 3849): derived identities come from these
# wherever a rule leaves the choice.
TEST_NETS: Tuple[Network, ...] = (
    ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32"))


class TableError(ValueError):
    """A table that cannot be read for deriving cases; the message says why."""


@dataclass
class Entry:
    """One entry of a table: its key (a network, a lookup key or a pattern) and result."""

    index: int  # 0-based position among the table's entries
    key: str
    value: str
    line: int = 0  # line in the source file (0 for inline/static)
    network: Optional[Network] = None  # cidr
    negated: bool = False  # regexp/pcre "!/pattern/"
    problem: Optional[str] = None  # why Postfix would not use it as written


@dataclass
class Table:
    """A table named in a restriction (``type:name``) and its entries."""

    spec: str
    type: str
    name: str
    entries: List[Entry] = field(default_factory=list)
    source: Optional[str] = None  # the file the entries were read from
    text: str = ""  # regexp/pcre: the source text (for the postmap probes)
    key_index: Optional[Dict[str, int]] = field(default=None, repr=False)
    cidr_index: Optional["CidrIndex"] = field(default=None, repr=False)


def split_spec(spec: str) -> Tuple[str, str]:
    kind, sep, name = spec.partition(":")
    if not sep or not kind.isalnum():
        raise TableError(f"{spec!r} is not a type:name table")
    return kind, name


def logical_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, line) with Postfix's rules: '#' comments and blank lines skipped, a
    line starting with whitespace continues the previous one."""
    current: Optional[Tuple[int, str]] = None
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if raw[0].isspace() and current is not None:
            current = (current[0], current[1] + " " + raw.strip())
            continue
        if current is not None:
            yield current
        current = (number, raw.strip())
    if current is not None:
        yield current


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return fh.read()
    except OSError as exc:
        raise TableError(f"cannot read {path}: {exc.strerror}") from None


def parse_network(text: str) -> Network:
    """A cidr table key (``192.0.2.0/24``, ``[2001:db8::]/32``, ``192.0.2.1``)."""
    addr, sep, length = text.partition("/")
    if addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
    try:
        net = ipaddress.ip_network(f"{addr}/{length}" if sep else addr, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            raise TableError(f"{text}: non-null host address bits (Postfix skips this"
                             " entry)") from None
        raise TableError(f"{text}: not a network address ({exc})") from None
    return net


def parse_cidr(text: str, spec: str, source: str) -> Table:
    table = Table(spec, "cidr", source, source=source)
    depth = 0
    for number, line in logical_lines(text):
        word, _sep, rest = line.partition(" ")
        if word.lower() == "if":
            depth += 1
            continue
        if word.lower() == "endif":
            depth = max(0, depth - 1)
            continue
        entry = Entry(len(table.entries), word, rest.strip(), line=number)
        if depth:
            entry.problem = "inside an if/endif block (not modelled)"
        else:
            try:
                entry.network = parse_network(word)
            except TableError as exc:
                entry.problem = str(exc)
        table.entries.append(entry)
    return table


def parse_keyed(text: str, spec: str, source: str, kind: str) -> Table:
    table = Table(spec, kind, source, source=source)
    for number, line in logical_lines(text):
        parts = line.split(None, 1)
        key = parts[0]
        table.entries.append(Entry(len(table.entries), key.lower() if kind != "texthash"
                                   else key, parts[1] if len(parts) > 1 else "", line=number))
    return table


def parse_inline(spec: str) -> Table:
    body = spec.partition(":")[2].strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise TableError(f"{spec}: inline table without braces")
    table = Table(spec, "inline", spec)
    for item in split_braced(body[1:-1], commas=True):
        if item.startswith("{") and item.endswith("}"):
            item = item[1:-1].strip()
        key, sep, value = item.partition("=")
        if not sep:
            raise TableError(f"{spec}: {item!r} is not key=value")
        table.entries.append(Entry(len(table.entries), key.strip().lower(), value.strip()))
    return table


def parse_static(spec: str) -> Table:
    value = spec.partition(":")[2].strip()
    if value.startswith("{") and value.endswith("}"):
        value = value[1:-1].strip()
    return Table(spec, "static", spec, entries=[Entry(0, "*", value)])


_FLAGS = re.compile(r"^[A-Za-z]*$")


def split_pattern(line: str) -> Tuple[str, str, str, bool]:
    """``[!]/pattern/flags result`` -> (pattern as written with delimiters and flags,
    the bare pattern, the result, negated). TableError when it is not one."""
    negated = line.startswith("!")
    body = line[1:] if negated else line
    if not body:
        raise TableError(f"{line!r}: no pattern")
    delim = body[0]
    i = 1
    while i < len(body):
        if body[i] == "\\":
            i += 2
            continue
        if body[i] == delim:
            break
        i += 1
    if i >= len(body):
        raise TableError(f"{line!r}: the pattern is not closed by {delim!r}")
    rest = body[i + 1:]
    flags, _sep, result = rest.partition(" ")
    if not _FLAGS.match(flags):
        raise TableError(f"{line!r}: unexpected text after the pattern")
    written = line[:len(line) - len(rest) + len(flags)]
    return written, body[1:i], result.strip(), negated


def parse_patterns(text: str, spec: str, source: str, kind: str) -> Table:
    table = Table(spec, kind, source, source=source, text=text)
    depth = 0
    for number, line in logical_lines(text):
        word = line.split(None, 1)[0].lower()
        if word == "if":
            depth += 1
            continue
        if word == "endif":
            depth = max(0, depth - 1)
            continue
        try:
            written, _bare, result, negated = split_pattern(line)
        except TableError as exc:
            table.entries.append(Entry(len(table.entries), line, "", line=number,
                                       problem=str(exc)))
            continue
        entry = Entry(len(table.entries), written, result, line=number, negated=negated)
        if negated:
            entry.problem = "a negated pattern (!/.../) has no single matching identity"
        table.entries.append(entry)
    return table


def read_table(spec: str, map_types: Sequence[str],
               reader: Callable[[str], str] = _read) -> Table:
    """The entries of the table ``type:name``; TableError when this cannot be done."""
    kind, name = split_spec(spec)
    kind = kind.lower()
    if kind == "proxy":  # proxymap serves the same table: read the table itself
        table = read_table(name, map_types, reader)
        table.spec = spec
        return table
    if kind not in READABLE_TYPES:
        raise TableError(f"table type {kind}: entries not readable here (readable:"
                         f" {', '.join(READABLE_TYPES)})")
    if kind not in map_types and kind not in ("inline", "static", "texthash"):
        raise TableError(f"table type {kind}: this Postfix does not support it"
                         " (postconf -m)")
    if kind == "inline":
        return parse_inline(spec)
    if kind == "static":
        return parse_static(spec)
    if not name.startswith("/"):
        raise TableError(f"{spec}: not an absolute path")
    if kind == "cidr":
        return parse_cidr(reader(name), spec, name)
    if kind in PATTERN_TYPES:
        return parse_patterns(reader(name), spec, name, kind)
    if kind in INDEXED_TYPES and name.endswith(".db"):
        name = name[:-3]
    return parse_keyed(reader(name), spec, name, kind)


# ------------------------------------------------------------------ addresses

def _merged(nets: Sequence[Network], version: int) -> List[Tuple[int, int]]:
    """The networks of one IP version as sorted, merged integer ranges."""
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in nets
                   if n.version == version)
    out: List[Tuple[int, int]] = []
    for low, high in spans:
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def _first_free(low: int, high: int, taken: Sequence[Tuple[int, int]]) -> Optional[int]:
    """The lowest integer in [low, high] that no range of ``taken`` holds."""
    current = low
    for start, end in taken:
        if end < current:
            continue
        if start > current:
            break
        current = end + 1
        if current > high:
            return None
    return current if current <= high else None


def _free_host(low: int, high: int, taken: Sequence[Tuple[int, int]]) -> Optional[int]:
    """A free address of [low, high], not its first or last one when there is room."""
    if high - low >= 2:
        found = _first_free(low + 1, high - 1, taken)
        if found is not None:
            return found
    return _first_free(low, high, taken)


def address_inside(net: Network, avoid: Sequence[Network]) -> Optional[Address]:
    """An address of ``net`` that no network of ``avoid`` holds, from TEST-NET where
    ``net`` leaves the choice; None when ``avoid`` covers all of it."""
    taken = _merged(avoid, net.version)
    low, high = int(net.network_address), int(net.broadcast_address)
    for test_net in TEST_NETS:
        if test_net.version == net.version and test_net.overlaps(net):
            found = _free_host(max(low, int(test_net.network_address)),
                               min(high, int(test_net.broadcast_address)), taken)
            if found is not None:
                return _address(found, net.version)
    found = _free_host(low, high, taken)
    return None if found is None else _address(found, net.version)


def _address(value: int, version: int) -> Address:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


class CidrIndex:
    """The usable networks of a cidr table, found by address or by overlap without
    scanning the table: per (IP version, prefix length), network -> first entry index,
    and the sorted network starts."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.first: Dict[Tuple[int, int], Dict[int, int]] = {}
        self.starts: Dict[Tuple[int, int], List[int]] = {}
        for entry in entries:
            net = entry.network
            if net is None or entry.problem is not None:
                continue
            key: Tuple[int, int] = (int(net.version), net.prefixlen)
            self.first.setdefault(key, {}).setdefault(int(net.network_address), entry.index)
        for known, nets in self.first.items():
            self.starts[known] = sorted(nets)

    def containing(self, addr: Address) -> List[int]:
        """Indexes of the first entry of every network that holds ``addr``."""
        out = []
        bits = addr.max_prefixlen
        for (version, plen), nets in self.first.items():
            if version != addr.version:
                continue
            start = int(addr) >> (bits - plen) << (bits - plen) if plen else 0
            if start in nets:
                out.append(nets[start])
        return out

    def overlapping(self, net: Network) -> List[Tuple[int, Network]]:
        """(first entry index, network) of every listed network that overlaps ``net``."""
        out: List[Tuple[int, Network]] = []
        bits = net.max_prefixlen
        low, high = int(net.network_address), int(net.broadcast_address)
        for (version, plen), nets in self.first.items():
            if version != net.version:
                continue
            if plen <= net.prefixlen:
                start = low >> (bits - plen) << (bits - plen) if plen else 0
                if start in nets:
                    out.append((nets[start], ipaddress.ip_network((start, plen))))
                continue
            starts = self.starts[(version, plen)]
            for start in starts[bisect.bisect_left(starts, low):
                                bisect.bisect_right(starts, high)]:
                out.append((nets[start], ipaddress.ip_network((start, plen))))
        return out


def cidr_index(table: Table) -> CidrIndex:
    if table.cidr_index is None:
        table.cidr_index = CidrIndex(table.entries)
    return table.cidr_index


def first_match(table: Table, address: str) -> Optional[Entry]:
    """The cidr entry a lookup of ``address`` reaches (first match in file order)."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return None
    hits = cidr_index(table).containing(addr)
    return table.entries[min(hits)] if hits else None
