# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading and editing Postfix configuration through the ``postconf`` binary.

Postfix answers every question about its own files: which parameters exist, what is set
in main.cf, which services master.cf has and which ``-o`` overrides they carry. This file
only asks and parses the answers; the one piece of parsing we do ourselves is splitting a
master.cf entry as ``postconf -M`` prints it (canonical form, braces kept together), which
is needed to rewrite an entry whose ``-o`` value contains whitespace (``postconf -P -e``
refuses such values).
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

# run(argv) -> (rc, stdout, stderr); AnsibleModule.run_command fits.
Runner = Callable[[List[str]], Tuple[int, str, str]]

POSTCONF = "/usr/sbin/postconf"
POSTFIX = "/usr/sbin/postfix"
# run_on_tty: how long to read on once the output has decided the outcome (seconds).
DECIDED_GRACE = 0.2
DECIDED_POLL = 0.05

PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# A parameter reference in a value: $name, ${name}, $(name).
_REFERENCE = re.compile(r"\$(?:([A-Za-z][A-Za-z0-9_]*)|\{([A-Za-z][A-Za-z0-9_]*)\}"
                        r"|\(([A-Za-z][A-Za-z0-9_]*)\))")
SERVICE_TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")

# Parameters whose change needs "postfix stop; postfix start" rather than a reload.
RESTART_PARAMETERS = frozenset({
    "inet_interfaces", "inet_protocols", "queue_directory", "data_directory",
    "mail_owner", "setgid_group", "process_id_directory", "daemon_directory",
    "command_directory", "meta_directory", "shlib_directory", "config_directory",
    "import_environment", "export_environment", "multi_instance_enable",
})


def parse_settings(text: str) -> Dict[str, str]:
    """``name = value`` lines as postconf prints them -> {name: value}."""
    found: Dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(" =")
        if sep:
            found[name.strip()] = value.strip()
    return found


class PostconfError(Exception):
    """postconf failed or said something we cannot go on with."""


@dataclass
class ServiceEntry:
    """One master.cf service as ``postconf -M`` and ``postconf -P`` describe it."""

    name: str
    type: str
    private: str
    unprivileged: str
    chroot: str
    wakeup: str
    maxproc: str
    command: str
    args: List[str] = field(default_factory=list)  # after the command, -o pairs included
    options: Dict[str, str] = field(default_factory=dict)  # the -o overrides

    @property
    def key(self) -> str:
        return f"{self.name}/{self.type}"

    def line(self) -> str:
        return " ".join([self.name, self.type, self.private, self.unprivileged, self.chroot,
                         self.wakeup, self.maxproc, self.command] + self.args)

    def shown(self) -> str:
        """The entry as ``postconf -M`` prints it once written (``canonical_args``): the
        one rendering results use, whether the entry was just written or read back."""
        return " ".join([self.name, self.type, self.private, self.unprivileged, self.chroot,
                         self.wakeup, self.maxproc, self.command]
                        + canonical_args(self.args))


def split_service_key(service: str) -> Tuple[str, str]:
    """``127.0.0.1:10025/inet`` -> (``127.0.0.1:10025``, ``inet``); type defaults to inet."""
    name, sep, kind = service.rpartition("/")
    if not sep:
        name, kind = service, "inet"
    if not name or any(ch.isspace() for ch in name) or "=" in name:
        raise ValueError(f"{service!r} is not a master.cf service (like"
                         " 127.0.0.1:10025/inet or submission/inet)")
    if kind not in SERVICE_TYPES:
        raise ValueError(f"{service!r}: service type {kind!r} is not one of"
                         f" {', '.join(SERVICE_TYPES)}")
    return name, kind


def split_braced(text: str, *, commas: bool = False, strict: bool = False) -> List[str]:
    """Split a Postfix value on whitespace (and with ``commas`` on commas too), keeping
    ``{ ... }`` groups whole, as Postfix does both for master.cf arguments and for lists.

    A brace anywhere in a token opens a group, and no separator inside a group splits. A
    group that never closes (``syslog_name=postfix/{sub``) is what Postfix itself accepts
    when it reads: the rest of the text stays one item. With ``strict`` (text we are about
    to write) unbalanced braces are an error instead.
    """
    items: List[str] = []
    current = ""
    depth = 0
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth:
                depth -= 1
            elif strict:
                raise ValueError(f"a '}}' closes no '{{' in {text!r}")
        if depth == 0 and (ch.isspace() or (commas and ch == ",")):
            if current:
                items.append(current)
                current = ""
            continue
        current += ch
    if depth and strict:
        raise ValueError(f"unbalanced braces in {text!r}")
    if current.strip():
        items.append(current.strip())
    return items


def split_entry_args(text: str, strict: bool = False) -> List[str]:
    """master.cf arguments (after the command), ``{ ... }`` groups whole."""
    return split_braced(text, strict=strict)


def inet_families(inet_protocols: str) -> Tuple[bool, bool]:
    """(IPv4 on, IPv6 on) from inet_protocols: what smtpd binds, and which XCLIENT ADDR
    families it takes (an address of a family that is off gets 501 Bad ADDR syntax)."""
    protocols = inet_protocols.lower().replace(",", " ").split()
    return ("all" in protocols or "ipv4" in protocols,
            "all" in protocols or "ipv6" in protocols)


def bind_addresses(inet_interfaces: str, inet_protocols: str,
                   host: Callable[[str], List[str]]) -> List[str]:
    """What a port-only inet service binds, from inet_interfaces / inet_protocols;
    ``host(name)`` gives the addresses of one listed name or address."""
    v4, v6 = inet_families(inet_protocols)
    out: List[str] = []
    for item in split_braced(inet_interfaces, commas=True):
        if item == "all":
            out += (["0.0.0.0"] if v4 else []) + (["::"] if v6 else [])
        elif item == "loopback-only":
            out += (["127.0.0.1"] if v4 else []) + (["::1"] if v6 else [])
        else:
            out += host(item[1:-1] if item.startswith("[") else item)
    return out


def braces_balanced(text: str) -> bool:
    """Every ``}`` closes an earlier ``{`` and every ``{`` is closed."""
    depth = 0
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def option_token(name: str, value: str) -> str:
    """The ``-o`` argument for one override; braces when the value has whitespace or braces.

    Postfix strips one pair of outer braces and reads ``name = value`` inside, nested
    braces included. A value whose braces do not balance cannot be written so that smtpd
    reads it back (a stray ``}`` becomes an argument of its own and smtpd exits), so it is
    refused here.
    """
    if not braces_balanced(value):
        raise ValueError(f"the braces in {value!r} do not balance; Postfix would read a"
                         " stray brace as an argument of its own and the daemon would exit")
    if value == "" or any(ch.isspace() or ch in "{}" for ch in value):
        return f"{{ {name} = {value} }}".replace("=  }", "= }")
    return f"{name}={value}"


def parse_option_token(token: str) -> Tuple[str, str]:
    if token.startswith("{") and token.endswith("}"):
        token = token[1:-1].strip()
    name, sep, value = token.partition("=")
    if not sep:
        raise ValueError(f"-o argument {token!r} is not name=value")
    return name.strip(), value.strip()


def canonical_option(name: str, value: str) -> str:
    """A ``-o`` argument as ``postconf -M`` prints it: ``name=value``, in braces without
    the inner padding (``{name=value}``) when the value has whitespace."""
    token = f"{name}={value}"
    return f"{{{token}}}" if any(ch.isspace() for ch in value) else token


def canonical_args(args: Sequence[str]) -> List[str]:
    """Command arguments as ``postconf -M`` prints them, in their order: the daemon's ``-o``
    overrides (up to the first argument that is not an option, as in
    ``split_command_args``) in ``canonical_option`` form, every other ``{ ... }`` argument
    without its inner padding, the rest as it is."""
    out: List[str] = []
    options = True
    i = 0
    while i < len(args):
        arg = args[i]
        if options and arg == "-o" and i + 1 < len(args):
            token = args[i + 1]
            try:
                token = canonical_option(*parse_option_token(token))
            except ValueError:
                pass
            out += ["-o", token]
            i += 2
            continue
        options = options and arg.startswith("-") and arg != "-"
        if arg.startswith("{") and arg.endswith("}"):
            arg = "{" + arg[1:-1].strip() + "}"
        out.append(arg)
        i += 1
    return out


def split_command_args(args: Sequence[str]) -> Tuple[Dict[str, str], List[str], List[str]]:
    """(the ``-o`` overrides, the other daemon flags, the command's own arguments).

    The daemon reads options up to the first argument that is not one (as getopt does, and
    as ``postconf -P`` reports them): in ``pipe ... argv=/bin/filter -o mode=fast`` the
    ``-o`` belongs to the filter, not to Postfix.
    """
    opts: Dict[str, str] = {}
    flags: List[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-o" and i + 1 < len(args):
            try:
                name, value = parse_option_token(args[i + 1])
            except ValueError:
                flags += args[i:i + 2]
            else:
                opts[name] = " ".join(value.split())
            i += 2
        elif arg.startswith("-") and arg != "-":
            flags.append(arg)
            i += 1
        else:
            break
    return opts, flags, list(args[i:])


def join_command_args(opts: Dict[str, str], flags: Sequence[str],
                      rest: Sequence[str]) -> List[str]:
    out: List[str] = list(flags)
    for name, value in opts.items():
        out += ["-o", option_token(name, value)]
    return out + list(rest)


def set_entry_option(args: Sequence[str], name: str, value: Optional[str]) -> List[str]:
    """Command arguments with the ``-o name=...`` override set (or removed for None).

    Only the daemon's own options (before the first non-option argument) are touched."""
    opts, flags, rest = split_command_args(args)
    if value is None:
        opts.pop(name, None)
    else:
        opts[name] = value
    return join_command_args(opts, flags, rest)


class Postconf:
    """postconf and postfix for one config directory."""

    def __init__(self, run: Runner, config_dir: str, postconf: str = POSTCONF,
                 postfix: str = POSTFIX) -> None:
        self.run = run
        self.config_dir = config_dir
        self.postconf_bin = postconf
        self.postfix_bin = postfix

    def _postconf(self, *args: str) -> str:
        argv = [self.postconf_bin, "-c", self.config_dir] + list(args)
        rc, out, err = self.run(argv)
        if rc != 0:
            raise PostconfError(f"{' '.join(argv)} failed: {(err or out).strip()}")
        return out

    # ------------------------------------------------------------------ main.cf
    def unknown(self, names: List[str]) -> List[str]:
        """Which of these parameters Postfix does not know; one postconf call for all.

        (Each postconf call that reads a main.cf written less than about two seconds ago
        waits for it to settle, so reading many names one by one after an edit is slow.)"""
        if not names:
            return []
        argv = [self.postconf_bin, "-c", self.config_dir, "-h"] + list(names)
        rc, _out, err = self.run(argv)
        if rc != 0:
            raise PostconfError(f"{' '.join(argv)} failed: {err.strip()}")
        said = set(re.findall(r"warning: (\S+): unknown parameter", err))
        return [n for n in names if n in said]

    def effective(self, name: str) -> str:
        return self._postconf("-h", name).rstrip("\n")

    def explicit(self, name: str) -> Optional[str]:
        """The value set in main.cf, or None when main.cf does not set it."""
        out = self._postconf("-n", name)
        prefix = f"{name} ="
        for line in out.splitlines():
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        return None

    def explicit_many(self, names: List[str]) -> Dict[str, Optional[str]]:
        """``explicit`` for several parameters in one postconf call."""
        out = self._postconf("-n", *names) if names else ""
        found: Dict[str, Optional[str]] = dict.fromkeys(names)
        for line in out.splitlines():
            name, sep, value = line.partition(" =")
            if sep and name in found:
                found[name] = value.strip()
        return found

    def explicit_all(self) -> Dict[str, Optional[str]]:
        """Every parameter main.cf sets, as written (``postconf -n``)."""
        found: Dict[str, Optional[str]] = {}
        for line in self._postconf("-n").splitlines():
            name, sep, value = line.partition(" =")
            if sep:
                found[name.strip()] = value.strip()
        return found

    def expanded_all(self) -> Dict[str, str]:
        """Every parameter's effective value, ``$name`` references expanded
        (``postconf -x``, one call)."""
        return parse_settings(self._postconf("-x"))

    def expand_text(self, text: str) -> str:
        """``text`` with its ``$name`` / ``${name}`` / ``$(name)`` references replaced by the
        parameters' expanded values (one ``postconf -x`` call); text without ``$`` as it
        is. A conditional form (``${name?value}``) is left as written."""
        names = sorted(set(_REFERENCE.findall(text)) - {""})
        flat = {n for group in names for n in group if n}
        if not flat:
            return text
        values = parse_settings(self._postconf("-x", *sorted(flat)))

        def one(match: "re.Match[str]") -> str:
            name = next(g for g in match.groups() if g)
            return values.get(name, match.group(0))
        return _REFERENCE.sub(one, text)

    def expanded(self, name: str) -> str:
        """The effective value with ``$name`` references expanded (``postconf -x``)."""
        return self._postconf("-x", "-h", name).rstrip("\n")

    def set_main(self, name: str, value: str) -> None:
        self._postconf("-e", f"{name} = {value}")

    def set_main_many(self, values: Dict[str, str]) -> None:
        """Several main.cf parameters, one ``postconf -e`` call each, in the order given.

        A parameter main.cf already sets is replaced in place; a new one is appended. One
        call with several new parameters appends them in the order of Postfix's hash table,
        which changes from run to run (so a check-mode diff and the real diff would differ
        in line order); one call each appends them in the order given. (Writing does not
        wait for main.cf to settle, only reading does.)"""
        for name, value in values.items():
            self._postconf("-e", f"{name} = {value}")

    def remove_main(self, *names: str) -> None:
        if names:
            self._postconf("-X", *names)

    def map_types(self) -> List[str]:
        return self._postconf("-m").split()

    # ------------------------------------------------------------------ master.cf
    def services(self) -> List[ServiceEntry]:
        entries = []
        for line in self._postconf("-M").splitlines():
            fields = line.split(None, 8)
            if len(fields) < 8:
                continue
            args = split_entry_args(fields[8]) if len(fields) > 8 else []
            name, type_, private, unpriv, chroot, wakeup, maxproc, command = fields[:8]
            entries.append(ServiceEntry(name, type_, private, unpriv, chroot, wakeup, maxproc,
                                        command, args=args))
        by_key = {e.key: e for e in entries}
        for line in self._postconf("-P").splitlines():
            key, sep, value = line.partition(" = ")
            if not sep:
                key, value = line.rstrip(" ="), ""
            service, _sep, param = key.rpartition("/")
            if service in by_key:
                by_key[service].options[param] = value
        return entries

    def service(self, service: str) -> Optional[ServiceEntry]:
        for entry in self.services():
            if entry.key == service:
                return entry
        return None

    def set_service_entry(self, entry: ServiceEntry) -> None:
        self._postconf("-M", "-e", f"{entry.key} = {entry.line()}")

    def remove_service_entry(self, service: str) -> None:
        self._postconf("-M", "-X", service)

    def set_service_param(self, service: str, name: str, value: str) -> None:
        if not braces_balanced(value):
            raise PostconfError(f"{name}: the braces in {value!r} do not balance; Postfix"
                                " would read a stray brace as an argument of its own and the"
                                " daemon would exit")
        if value and not any(ch.isspace() or ch in "{}" for ch in value):
            self._postconf("-P", "-e", f"{service}/{name}={value}")
            return
        entry = self.service(service)
        if entry is None:
            raise PostconfError(f"master.cf has no service {service}")
        entry.args = set_entry_option(entry.args, name, value)
        self.set_service_entry(entry)

    def remove_service_param(self, service: str, name: str) -> None:
        self._postconf("-P", "-X", f"{service}/{name}")

    # ------------------------------------------------------------------ postfix
    def check(self) -> Tuple[bool, str]:
        """``postfix check`` for this config dir: (ok, what it said)."""
        rc, text = run_on_tty([self.postfix_bin, "-c", self.config_dir, "check"])
        ok = rc == 0 and "fatal:" not in text
        return ok, text


def run_on_tty(argv: List[str], timeout: float = 120.0,
               decided: Optional[Callable[[bytes], bool]] = None,
               started: Optional[Callable[[Optional[int]], None]] = None
               ) -> Tuple[int, str]:
    """Run a command with stderr on a pseudo-terminal; return (rc, what it printed).

    postfix(1) writes its messages to stderr only when stderr is a terminal (otherwise they
    go to syslog or maillog_file alone), and the reason a check failed is exactly what the
    user needs to see. So this one command does not go through run_command.

    ``decided(output so far)``, asked while the command runs (at least every
    DECIDED_POLL seconds): True once the command has failed, whatever it prints next (for
    ``postfix start``: the master's or postfix-script's ``fatal:`` line on the terminal or
    in its log). The command then runs in a process group of its own; what follows within
    DECIDED_GRACE seconds is read, the group is killed and waited for (Postfix sleeps a
    second after a fatal message in each of its processes, time nobody needs to wait),
    and rc is 1. ``started(pgid)`` is told the group while it runs and None after, so that
    a signal handler can end it.
    """
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
            argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
            close_fds=True, env=dict(os.environ, LC_ALL="C"),
            start_new_session=decided is not None)
    finally:
        os.close(slave)
    if started is not None:
        started(proc.pid)
    chunks: List[bytes] = []
    deadline = time.monotonic() + timeout
    decided_at: Optional[float] = None
    timed_out = ended_well = False
    try:
        while True:
            if decided_at is None and decided is not None and decided(b"".join(chunks)):
                decided_at = time.monotonic()
                deadline = min(deadline, decided_at + DECIDED_GRACE)
            left = deadline - time.monotonic()
            if left <= 0:
                if decided_at is None:
                    proc.kill()
                    chunks.append(b"\n(timed out)")
                    timed_out = True
                break
            poll = 1.0 if decided is None or decided_at is not None else DECIDED_POLL
            ready, _w, _x = select.select([master], [], [], min(left, poll))
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        if decided is not None and decided_at is None and decided(b"".join(chunks)):
            decided_at = time.monotonic()  # decided by its last words
        ended_well = decided_at is None and not timed_out
    finally:
        os.close(master)
        if decided is not None and not ended_well:
            end_group(proc.pid)
        if started is not None:
            started(None)
    rc = proc.wait()
    return (1 if decided_at is not None else rc), _tty_text(chunks)


def end_group(pgid: int, timeout: float = 5.0) -> None:
    """Kill the process group ``pgid`` and wait (at most ``timeout`` seconds) until none of
    its processes runs any more (a zombie waiting for its parent counts as ended)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.01)


def group_members(pgid: int) -> List[int]:
    """The processes of group ``pgid`` that are not zombies (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            found.append(int(entry))
    return found


def _tty_text(chunks: List[bytes]) -> str:
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n").strip()
