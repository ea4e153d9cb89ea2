# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What ``postfix check`` lets through and Postfix then dies of: the pre-flight check.

Every module that writes runs this on the edited work copy, before the atomic move. It
compares the work copy with the live configuration and looks only at what the edit
changes (a new or changed master.cf entry, a main.cf value or ``-o`` override that
differs), so an old problem elsewhere never blocks an unrelated edit.

Each check is one that was seen to stop the master or a daemon on Postfix 3.7 while
``postfix check`` passed:

- an ``inet`` service that is private (master exits: "inet service cannot be private");
- a listener on an address this host does not have, or on a port another process holds
  (master exits on reload when bind() fails);
- two listeners on one address and port (Postfix binds both with SO_REUSEPORT and splits
  the connections between two configurations);
- a command that is not in ``daemon_directory`` (master always runs
  ``daemon_directory/command``; the daemon never starts);
- smtpd or postscreen with ``unprivileged`` off (the daemon refuses to run as root);
- a stray brace in an argument (smtpd exits with "unexpected command-line argument");
- a lookup table that is missing, not built or does not parse, asked of Postfix itself
  with ``postmap -q`` (its warnings and fatal errors are the answer), and ``proxy:``
  tables that ``proxy_read_maps`` does not list ("proxymap service is not configured").
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._host_patterns import (
    split_list,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    SERVICE_TYPES,
    Postconf,
    PostconfError,
    ServiceEntry,
    bind_addresses,
    braces_balanced,
)

# Daemons that refuse to run unless they run as mail_owner (master.cf unprivileged = y).
NEEDS_UNPRIVILEGED = frozenset({"smtpd", "postscreen", "tlsproxy", "dnsblog"})
# Table types postmap can open without contacting another server.
LOCAL_TABLE_TYPES = frozenset({"cidr", "pcre", "regexp", "texthash", "hash", "btree", "lmdb",
                               "cdb", "dbm", "sdbm", "inline", "static", "fail"})
# A table reference inside a Postfix value: type:name, optionally behind proxy:.
_TABLE = re.compile(r"^(proxy:)?([a-z][a-z0-9_]*):(.+)$", re.S)
# Tokens after which type:name is an endpoint, not a table.
_ENDPOINT_BEFORE = frozenset({"check_policy_service"})
# Parameters that change which addresses a port-only listener binds.
_LISTEN_PARAMS = ("inet_interfaces", "inet_protocols")

# A locator says which part of the edit a problem is about; each module turns it into
# the name of its own field (see Problem.locator).
Locator = Tuple[str, ...]


@dataclass
class Problem:
    """One reason Postfix would not survive the edit.

    ``locator`` is ``("entry", service, column)`` for a master.cf column (``name``, ``type``,
    ``private``, ``unprivileged``, ``command``, ``args``), ``("option", service, param)``
    for a ``-o`` override, ``("param", param)`` for a main.cf parameter.
    """

    locator: Locator
    message: str


class PreflightError(Exception):
    """The edit would break Postfix; nothing was written."""

    def __init__(self, problems: List[Problem], message: str) -> None:
        super().__init__(message)
        self.problems = problems


# --------------------------------------------------------------------- tables
def tables_in(value: str, map_types: Iterable[str]) -> List[str]:
    """The ``type:name`` lookup tables a value refers to (``proxy:`` kept)."""
    known = set(map_types)
    out: List[str] = []
    previous = ""
    for item in split_list(value):
        match = _TABLE.match(item)
        if match and match.group(2) in known and previous not in _ENDPOINT_BEFORE:
            out.append(item)
        previous = item
    return out


def table_problem(pc: Postconf, postmap: str, table: str, proxy_read_maps: List[str],
                  live: Optional[Postconf] = None) -> Optional[str]:
    """Why Postfix could not use this table, or None. Asks postmap. ``live`` (default
    ``pc``) expands ``$name`` in the table's name: on a work copy ``$config_directory``
    would name the copy's directory."""
    match = _TABLE.match(table)
    if not match:
        return None
    proxied, kind, _name = match.groups()
    inner = table[len("proxy:"):] if proxied else table
    if proxied and table not in proxy_read_maps:
        return (f"{table}: proxymap serves only the tables listed in proxy_read_maps, and"
                f" {inner} is not listed there (Postfix would fail with 'proxymap service is"
                " not configured for table'); use the table without proxy: or add it to"
                " proxy_read_maps")
    if kind not in LOCAL_TABLE_TYPES:
        return None  # a server-backed table: postmap would query the server
    # Postfix expands $name in a table's name (hash:$config_directory/access); postmap
    # is given the name as Postfix will open it.
    argv = [postmap, "-c", pc.config_dir, "-q", "127.0.0.1",
            (live or pc).expand_text(inner)]
    _rc, _out, err = pc.run(argv)
    said = [line.strip() for line in err.splitlines()
            if "fatal:" in line or "warning:" in line]
    if said:
        return f"{table}: postmap says: {'; '.join(said)}"
    return None


# --------------------------------------------------------------------- listeners
def _endpoint(name: str) -> Tuple[str, str]:
    """``[::1]:25`` -> (``::1``, ``25``); ``25`` -> (``""``, ``25``)."""
    host, sep, port = name.rpartition(":")
    if not sep:
        return "", name
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def _port_number(port: str) -> Optional[int]:
    if port.isdigit():
        return int(port)
    try:
        return socket.getservbyname(port, "tcp")
    except OSError:
        return None


def _resolve(host: str) -> List[str]:
    try:
        return [ipaddress.ip_address(host).compressed]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    return sorted({ipaddress.ip_address(str(i[4][0]).partition("%")[0]).compressed for i in infos})


def interface_addresses(inet_interfaces: str, inet_protocols: str) -> List[str]:
    """What a port-only inet service binds, host names resolved."""
    return bind_addresses(inet_interfaces, inet_protocols, _resolve)


def _wildcard(addr: str) -> bool:
    return addr in ("0.0.0.0", "::")


def _overlaps(a: str, b: str) -> bool:
    """Two bind addresses that cannot both listen on one port (one covers the other)."""
    if a == b:
        return True
    fam_a, fam_b = ":" in a, ":" in b
    if _wildcard(a) and (fam_a == fam_b or a == "::"):
        return True
    if _wildcard(b) and (fam_a == fam_b or b == "::"):
        return True
    return False


def address_on_host(addr: str) -> bool:
    """Whether this host has the address (bind() to it with port 0 succeeds)."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((addr, 0))
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                return False
            raise
    return True


def _proc_listeners() -> List[Tuple[str, int, str]]:
    """(address, port, socket inode) of every listening TCP socket (this netns)."""
    out = []
    for path, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            with open(path, encoding="ascii") as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A = LISTEN
                continue
            hexaddr, hexport = fields[1].split(":")
            raw = bytes.fromhex(hexaddr)
            # /proc prints the address as host-order 32-bit words
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            addr = ipaddress.ip_address(raw)
            if v6 and isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
                addr = addr.ipv4_mapped
            out.append((addr.compressed, int(hexport, 16), fields[9]))
    return out


def _socket_inodes(pid: int) -> Set[str]:
    inodes: Set[str] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for fd in names:
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _owner(inode: str) -> str:
    """The process holding a socket, as ``name (pid N)``, best effort."""
    for pid in os.listdir("/proc"):
        if pid.isdigit() and inode in _socket_inodes(int(pid)):
            try:
                with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
                    return f"{fh.read().strip()} (pid {pid})"
            except OSError:
                return f"pid {pid}"
    return "another process"


def master_pid(pc: Postconf) -> Optional[int]:
    """The running master of this instance, from queue_directory/pid/master.pid."""
    try:
        queue = pc.effective("queue_directory")
        with open(os.path.join(queue, "pid", "master.pid"), encoding="ascii") as fh:
            pid = int(fh.read().strip())
        with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
            if fh.read().strip() != "master":
                return None
        return pid
    except (OSError, ValueError, PostconfError):
        return None


@dataclass
class Listener:
    service: str
    addresses: List[str]
    port: Optional[int]
    explicit_host: str  # the host written in the service name ("" for port only)


def listeners(entries: Iterable[ServiceEntry], main: Dict[str, str]) -> List[Listener]:
    out = []
    for entry in entries:
        if entry.type != "inet":
            continue
        host, port = _endpoint(entry.name)
        addresses = (_resolve(host) if host else
                     interface_addresses(main["inet_interfaces"], main["inet_protocols"]))
        out.append(Listener(entry.key, addresses, _port_number(port), host))
    return out


# --------------------------------------------------------------------- the check
def _entry_problems(entry: ServiceEntry, daemon_dir: str) -> List[Problem]:
    key = entry.key
    out: List[Problem] = []
    if entry.type not in SERVICE_TYPES:
        out.append(Problem(("entry", key, "type"),
                           f"{key}: service type {entry.type!r} is not one of"
                           f" {', '.join(SERVICE_TYPES)}; master would refuse to start"))
    if entry.type == "inet" and entry.private in ("y", "-"):
        out.append(Problem(("entry", key, "private"),
                           f"{key}: an inet service cannot be private (the master.cf"
                           f" column reads {entry.private!r}, and '-' means y); master exits"
                           " with 'inet service cannot be private'. Set private: false"))
    if entry.command in NEEDS_UNPRIVILEGED and entry.unprivileged == "n":
        out.append(Problem(("entry", key, "unprivileged"),
                           f"{key}: {entry.command} refuses to run with root privileges"
                           " (unprivileged n); it would exit at every connection"))
    path = os.path.join(daemon_dir, entry.command)
    if "/" in entry.command or not (os.path.isfile(path) and os.access(path, os.X_OK)):
        out.append(Problem(("entry", key, "command"),
                           f"{key}: command {entry.command!r} is not a program in"
                           f" daemon_directory ({daemon_dir}); master runs"
                           f" {daemon_dir}/{entry.command} and it would never start"))
    for arg in entry.args:
        if arg == "}" or not braces_balanced(arg):
            out.append(Problem(("entry", key, "args"),
                               f"{key}: argument {arg!r} has braces that do not balance;"
                               " the daemon would exit ('unexpected command-line"
                               " argument')"))
    return out


def _changed_values(before: Mapping[str, Optional[str]], after: Mapping[str, Optional[str]]
                    ) -> Dict[str, str]:
    return {k: v for k, v in after.items() if v is not None and before.get(k) != v}


class _LiveSockets:
    """The host's listening TCP sockets, read once when first needed, minus our master's.

    A user who is not root (check mode) cannot read the master's ``/proc/PID/fd``, so it
    cannot tell the master's sockets from another process's. Then a socket on an address
    and port the *live* master.cf listens on is taken to be the master's own, and a note
    says so (``notes``)."""

    def __init__(self, live: Postconf, notes: Optional[List[str]] = None) -> None:
        self.live = live
        self.pid = master_pid(live)
        # Not root and no master found: the pid file may just be unreadable.
        self.blind = self.pid is None and os.geteuid() != 0
        self.ours: Set[str] = set()
        if self.pid:
            try:
                os.listdir(f"/proc/{self.pid}/fd")
            except OSError:
                self.blind = True
            else:
                self.ours = _socket_inodes(self.pid)
        self.notes = notes if notes is not None else []
        self._all: Optional[List[Tuple[str, int, str]]] = None
        self._live_listeners: Optional[List[Listener]] = None

    def _live_holds(self, addr: str, port: int) -> bool:
        if self._live_listeners is None:
            main = {n: self.live.effective(n) for n in _LISTEN_PARAMS}
            self._live_listeners = listeners(self.live.services(), main)
        return any(lst.port == port and any(_overlaps(addr, a) for a in lst.addresses)
                   for lst in self._live_listeners)

    def holder(self, addr: str, port: int) -> Optional[Tuple[str, str]]:
        """(address, owner) of another process's socket on ``addr`` port ``port``."""
        if self._all is None:
            self._all = _proc_listeners()
        for laddr, lport, inode in self._all:
            if lport == port and _overlaps(addr, laddr) and inode not in self.ours:
                if self.blind and self._live_holds(laddr, port):
                    seen = (f"/proc/{self.pid}/fd is not readable by this user" if self.pid
                            else "its pid file is not readable by this user")
                    note = (f"could not tell whether port {port} on {laddr} is held by this"
                            f" instance's master: {seen}; taken to be the master's own, since"
                            " the live master.cf listens there. Run as root to check it")
                    if note not in self.notes:
                        self.notes.append(note)
                    continue
                return laddr, _owner(inode)
        return None


def _clash(lst: Listener, all_listeners: List[Listener]) -> Optional[str]:
    for other in all_listeners:
        if other is lst or other.port != lst.port:
            continue
        shared = [a for a in lst.addresses for b in other.addresses if _overlaps(a, b)]
        if shared:
            return (f"{lst.service}: {other.service} listens on the same address and port"
                    f" ({shared[0]} port {lst.port}); Postfix would split the connections"
                    " between the two")
    return None


def _listener_problems(lst: Listener, all_listeners: List[Listener], sockets: _LiveSockets,
                       allow_unbound: bool) -> List[str]:
    if lst.port is None or not 0 < lst.port < 65536:
        return [f"{lst.service}: the port is not a number or a known service name"]
    if not lst.addresses:
        return [] if allow_unbound else [
            f"{lst.service}: {lst.explicit_host} does not resolve to an address; set"
            " allow_unbound: true if it will"]
    clash = _clash(lst, all_listeners)
    out = [clash] if clash else []
    for addr in lst.addresses:
        if not _wildcard(addr) and not address_on_host(addr):
            if not allow_unbound:
                out.append(f"{lst.service}: this host has no address {addr}; master would"
                           " exit on reload (bind: Cannot assign requested address). Set"
                           " allow_unbound: true for an address that comes up later")
            continue
        held = sockets.holder(addr, lst.port)
        if held:
            out.append(f"{lst.service}: port {lst.port} on {held[0]} is already used by"
                       f" {held[1]}; master would exit on reload (bind: Address already in"
                       " use)")
    return out


def _table_problems(before: Postconf, after: Postconf, postmap: str,
                    old: Dict[str, ServiceEntry], changed: List[ServiceEntry]
                    ) -> List[Problem]:
    """Lookup tables in the values the edit writes."""
    map_types = after.map_types()
    read_maps = split_list(after.expanded("proxy_read_maps"))
    checks: List[Tuple[Locator, str]] = []
    for entry in changed:
        before_opts = old[entry.key].options if entry.key in old else {}
        for name, value in _changed_values(before_opts, entry.options).items():
            checks.append((("option", entry.key, name), value))
    for name, value in _changed_values(before.explicit_all(), after.explicit_all()).items():
        checks.append((("param", name), value))
    problems: List[Problem] = []
    seen: Dict[str, Optional[str]] = {}
    for locator, value in checks:
        for table in tables_in(value, map_types):
            if table not in seen:
                seen[table] = table_problem(after, postmap, table, read_maps, before)
            if seen[table]:
                problems.append(Problem(locator, seen[table] or ""))
    return problems


def preflight(before: Postconf, after: Postconf, postmap: str,
              allow_unbound: bool = False, notes: Optional[List[str]] = None
              ) -> List[Problem]:
    """Problems the edit from ``before`` (live config) to ``after`` (work copy) brings."""
    old = {e.key: e for e in before.services()}
    new_entries = after.services()
    main_after = {n: after.effective(n) for n in ["daemon_directory", *_LISTEN_PARAMS]}
    listen_changed = any(before.effective(n) != main_after[n] for n in _LISTEN_PARAMS)
    changed = [e for e in new_entries
               if e.key not in old or old[e.key].line() != e.line()
               or (listen_changed and e.type == "inet" and not _endpoint(e.name)[0])]
    problems: List[Problem] = []
    for entry in changed:
        problems += _entry_problems(entry, main_after["daemon_directory"])
    changed_keys = {e.key for e in changed}
    all_listeners = listeners(new_entries, main_after)
    sockets = _LiveSockets(before, notes)
    for lst in all_listeners:
        if lst.service in changed_keys:
            problems += [Problem(("entry", lst.service, "name"), message) for message in
                         _listener_problems(lst, all_listeners, sockets, allow_unbound)]
    return problems + _table_problems(before, after, postmap, old, changed)


def describe(problems: List[Problem], field: Callable[[Locator], str]) -> str:
    """One message naming each field, in the module's own words."""
    return "; ".join(f"{field(p.locator)}: {p.message}" for p in problems)


def generic_field(locator: Locator) -> str:
    if locator[0] == "entry":
        return f"master.cf {locator[1]} ({locator[2]})"
    if locator[0] == "option":
        return f"master.cf {locator[1]} -o {locator[2]}"
    return f"main.cf {locator[1]}"
