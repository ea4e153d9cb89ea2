# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The edit of the postfix_service module - one master.cf entry - as functions of the
options and a work copy (``apply``), so postfix_whatif makes the very same edit on a
shadow copy."""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._config_module import (
    FieldError,
    setting_text,
)
from ansible_collections.mailops.xclient.plugins.module_utils._core_services import (
    core_reason,
)
from ansible_collections.mailops.xclient.plugins.module_utils._param_types import INT_MAX
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    SERVICE_TYPES,
    Postconf,
    ServiceEntry,
    join_command_args,
    split_command_args,
    split_entry_args,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    Locator,
)

# The field a pre-flight problem is about, in this module's words.
COLUMN_FIELD = {"name": "name", "type": "type", "private": "private",
                "unprivileged": "unprivileged", "command": "command", "args": "command"}


def flag(value: Optional[bool]) -> str:
    return "-" if value is None else ("y" if value else "n")


def validate_inet_name(name: str) -> None:
    """host:port, [v6]:port, port or a service name."""
    host, sep, port = name.rpartition(":")
    if not sep:
        host, port = "", name
    if not (port.isdigit() and 0 < int(port) <= 65535) \
            and not re.match(r"^[a-z][a-z0-9-]*$", port):
        raise ValueError(f"port {port!r} is not 1 to 65535 or a service name")
    if host:
        text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            addr = ipaddress.ip_address(text)
            if addr.version == 6 and text == host:
                raise ValueError(f"write an IPv6 address in brackets: [{text}]:{port}")
        except ValueError as exc:
            if "brackets" in str(exc):
                raise
            if not re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", host):
                raise ValueError(f"host {host!r} is not an address or hostname") from None


def split_options(args: List[str]) -> Tuple[Dict[str, str], List[str]]:
    """(-o overrides as a dict, everything else) of an argument list; see
    split_command_args for where Postfix's options end."""
    opts, flags, rest = split_command_args(args)
    return opts, flags + rest


def default_flags(kind: str, private: Optional[bool]) -> str:
    """Column 3 for the type: inet is never private; None keeps Postfix's ``-``."""
    if kind == "inet":
        if private:
            raise FieldError("private", "an inet service cannot be private: the master process"
                             " exits on the next reload ('inet service cannot be private')"
                             " and every listener goes down. Leave private out or set false")
        return "n"
    return flag(private)


def option_field(key: str, _part: str) -> str:
    return f"options.{key}"


def entry_options(options: Dict[str, Any]) -> Dict[str, str]:
    """O(options) as the -o overrides to write; FieldError naming options.NAME."""
    out = {}
    for key, value in options.items():
        text = setting_text(str(key), "" if value is None else value, override=True,
                            field=functools.partial(option_field, str(key)))
        out[str(key)] = " ".join((text or "").split())
    return out


def check_columns(p: Dict[str, Any]) -> str:
    """The service name, checked with the columns; FieldError naming the option."""
    name = p["name"].strip()
    if not name or any(ch.isspace() for ch in name) or "/" in name:
        raise FieldError("name", f"{p['name']!r} is not a service name")
    if p["type"] == "inet":
        try:
            validate_inet_name(name)
        except ValueError as exc:
            raise FieldError("name", f"{name}: {exc}") from None
    if p["wakeup"] is not None and not re.match(r"^(-|\d+\??)$", p["wakeup"]):
        raise FieldError("wakeup", f"{p['wakeup']!r} must be seconds, optionally with ?, or -")
    if p["maxproc"] is not None and not re.match(r"^(-|\d+)$", str(p["maxproc"])):
        raise FieldError("maxproc", f"{p['maxproc']!r} must be a number or -")
    for column in ("wakeup", "maxproc"):
        number = str(p[column] or "-").rstrip("?")
        if number != "-" and int(number) > INT_MAX:
            raise FieldError(column, f"{p[column]} is out of range (at most {INT_MAX}); the"
                             " master process would stop reading master.cf")
    return name


def desired_entry(p: Dict[str, Any], name: str, private: str, options: Dict[str, str]
                  ) -> ServiceEntry:
    """The entry O(state=present) asks for; FieldError naming command."""
    command = (p["command"] or "").strip()
    if not command or any(ch in command for ch in "\r\n\0"):
        raise FieldError("command", "give the command and its arguments on one line")
    try:
        words = split_entry_args(command, strict=True)
    except ValueError as exc:
        raise FieldError("command", str(exc)) from None
    if "/" in words[0]:
        raise FieldError("command", f"{words[0]!r}: give the program name in daemon_directory"
                         " (Postfix runs daemon_directory/COMMAND), not a path")
    cmd_opts, cmd_flags, cmd_rest = split_command_args(words[1:])
    cmd_opts.update(options)
    return ServiceEntry(name, p["type"], private, flag(p["unprivileged"]), flag(p["chroot"]),
                        p["wakeup"] or "-", str(p["maxproc"] or "-"), words[0],
                        join_command_args(cmd_opts, cmd_flags, cmd_rest))


def same(a: ServiceEntry, b: ServiceEntry) -> bool:
    fields = ("private", "unprivileged", "chroot", "wakeup", "maxproc", "command")
    if any(getattr(a, f) != getattr(b, f) for f in fields):
        return False
    return split_options(a.args) == split_options(b.args)


def merged(current: ServiceEntry, wanted: ServiceEntry) -> ServiceEntry:
    """``wanted`` plus the overrides of ``current`` it does not name."""
    have, _flags, _rest = split_command_args(current.args)
    want, flags, rest = split_command_args(wanted.args)
    keep = {k: v for k, v in have.items() if k not in want}
    keep.update(want)
    return ServiceEntry(wanted.name, wanted.type, wanted.private, wanted.unprivileged,
                        wanted.chroot, wanted.wakeup, wanted.maxproc, wanted.command,
                        join_command_args(keep, flags, rest))


@dataclass
class EntryChange:
    """The entry before, and the one written (None when removed or nothing written)."""

    before: Optional[ServiceEntry]
    target: Optional[ServiceEntry]

    def result(self, changed: bool) -> Dict[str, Any]:
        after = self.target if changed else self.before
        return dict(entry_before=self.before.shown() if self.before else None,
                    entry_after=after.shown() if after else None, reload_needed=changed)


def apply(pc: Postconf, key: str, desired: Optional[ServiceEntry], purge: bool,
          force: bool = False) -> EntryChange:
    """Decide under the lock, on the work copy."""
    current = pc.service(key)
    if desired is None:
        if current is not None:
            why = "" if force else core_reason(pc, current.name, current.type)
            if why:
                raise FieldError("state", f"{key} is a service Postfix itself needs ({why});"
                                 " without it mail stops or is deferred for ever while every"
                                 " listener still answers. Set force: true if you mean it")
            pc.remove_service_entry(key)
        return EntryChange(current, None)
    target = desired if current is None or purge else merged(current, desired)
    if current is None or not same(current, target):
        pc.set_service_entry(target)
    return EntryChange(current, target)


# The module's options (the driver adds config_dir, backup and shadow); postfix_whatif
# checks each of its change.services against the same spec.
ARGUMENT_SPEC: Dict[str, Any] = dict(
    name=dict(type="str", required=True),
    type=dict(type="str", default="inet", choices=list(SERVICE_TYPES)),
    private=dict(type="bool"),
    unprivileged=dict(type="bool"),
    chroot=dict(type="bool"),
    wakeup=dict(type="str"),
    maxproc=dict(type="str"),
    command=dict(type="str"),
    options=dict(type="dict", default={}),
    purge_options=dict(type="bool", default=False),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    allow_unbound=dict(type="bool", default=False),
    force=dict(type="bool", default=False),
    allow_broad=dict(type="bool", default=False),
)
REQUIRED_IF = [("state", "present", ["command"])]


def planned(p: Dict[str, Any]) -> Tuple[str, Optional[ServiceEntry]]:
    """The service key and the entry the options ask for (None: state=absent), checked;
    FieldError naming the option."""
    name = check_columns(p)
    options = entry_options(p["options"] or {})
    private = default_flags(p["type"], p["private"])
    desired = desired_entry(p, name, private, options) if p["state"] == "present" else None
    return f"{name}/{p['type']}", desired


def problem_field(key: str, locator: Locator) -> Optional[str]:
    if locator[0] == "entry" and locator[1] == key:
        return COLUMN_FIELD.get(locator[2])
    if locator[0] == "option" and locator[1] == key:
        return f"options.{locator[2]}"
    return None
