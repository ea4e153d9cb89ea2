#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postfix_service
short_description: Manage one Postfix master.cf service entry (a listener)
version_added: 0.1.0
description:
  - Creates, updates or removes one C(master.cf) service entry with its C(-o) overrides,
    through C(postconf -M). Every other entry and every comment stays as it was.
  - Same safety contract as M(mailops.xclient.postconf) - the edit is made on a copy,
    the file is replaced atomically, C(postfix check) runs, and a failure restores
    C(main.cf) and C(master.cf) byte for byte.
author:
  - mailops.xclient contributors (@mailops)
options:
  name:
    description:
      - Service name, for an C(inet) service the listen address - C(127.0.0.1:10025),
        C([::1]:10025), C(10025) or a service name such as C(submission).
    type: str
    required: true
  type:
    description: Service type.
    type: str
    choices: [inet, unix, unix-dgram, fifo, pass]
    default: inet
  private:
    description:
      - Private service (column 3), reachable only through the mail system's private
        directory.
      - Omitted, it is C(n) for C(inet) (Postfix's own C(-) default means C(y), and the
        master process exits on the next reload with C(inet service cannot be private),
        taking every listener down) and C(-) (private) for the other types.
      - V(true) with O(type=inet) is refused before anything is written.
    type: bool
  unprivileged:
    description:
      - Runs as the mail owner (column 4); omitted means C(-) (yes) for every type.
      - V(false) is refused for C(smtpd), C(postscreen), C(tlsproxy) and C(dnsblog), which
        exit when started with root privileges.
    type: bool
  chroot:
    description: Runs chrooted (column 5); omitted means C(-) (the compiled-in default).
    type: bool
  wakeup:
    description: Wake-up time (column 6), such as C(60) or C(1000?); omitted means C(-).
    type: str
  maxproc:
    description: Process limit (column 7); omitted means C(-) (C(default_process_limit)).
    type: str
  command:
    description:
      - Command and its arguments (column 8 on), such as C(smtpd). Required with
        O(state=present).
      - The command is a program name in C(daemon_directory) (Postfix runs
        C(daemon_directory/COMMAND)); anything else is refused.
      - For C(pipe) and C(spawn) everything after C(argv=) is the external command's, a
        C(-o) there included; only C(-o) overrides before the first non-option argument
        are Postfix's.
    type: str
  options:
    description:
      - The C(-o name=value) overrides to set. Values may contain spaces and balanced
        braces (C(inline:{ 192.0.2.1=OK })); they are written as C({ name = value }) then.
        A value whose braces do not balance is refused.
      - Overrides already on the entry that are not named here stay, unless
        O(purge_options=true); so M(mailops.xclient.xclient_hosts) can manage the
        entry's authorized list next to this module.
    type: dict
    default: {}
  purge_options:
    description: Remove the C(-o) overrides not named in O(options).
    type: bool
    default: false
  state:
    description: V(present) creates or updates the entry, V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - Allow O(state=absent) to remove a service Postfix itself needs. Those are the
        services C(main.cf) names - the value of every C(*_service_name) parameter
        (C(cleanup), C(qmgr), C(pickup), C(rewrite), C(bounce), C(defer), C(trace),
        C(verify), C(proxymap), C(proxywrite), C(flush), C(showq), C(error), C(scache),
        C(tlsmgr), C(postlog), ...), every transport a C(*_transport) parameter or
        C(content_filter) routes mail to (C(smtp), C(relay), C(local), C(virtual), ...),
        and C(anvil) and C(retry) - asked of C(postconf -x) for the instance, so renamed
        services count too. Without such a service mail stops or is deferred for ever while
        every listener still answers; C(postfix check) passes it.
      - C(inet) listeners are never protected.
      - The removal is still tried on a shadow first (O(shadow)); where mail needs the
        service, mail stops there too and the change is refused, so removing it anyway
        also takes O(shadow=false).
    type: bool
    default: false
  allow_unbound:
    description:
      - Accept an C(inet) listener address this host does not have yet (a virtual IP that
        comes up later). Without it such an address is refused, since the master process
        exits on reload when it cannot bind.
    type: bool
    default: false
extends_documentation_fragment:
  - mailops.xclient.attributes
  - mailops.xclient.config_dir
  - mailops.xclient.config_dir.edit
  - mailops.xclient.config_dir.allow_broad
notes:
  - "Defaults per O(type) (columns left out): C(inet) - private C(n), unprivileged C(-)
    (y), chroot C(-), wakeup C(-) (never), maxproc C(-) (C(default_process_limit));
    C(unix), C(unix-dgram), C(fifo), C(pass) - every column C(-) (private y, unprivileged
    y)."
  - "Before anything is written, a pre-flight check refuses what C(postfix check) lets
    through but Postfix dies of: a listener on an address this host lacks (see
    O(allow_unbound)) or on a port another process holds, two listeners on one address
    and port, a command not in C(daemon_directory), a lookup table in O(options) that is
    missing, not built or does not parse (asked of C(postmap)). The message names the
    field and C(main.cf) / C(master.cf) stay byte-identical."
seealso:
  - module: mailops.xclient.xclient_hosts
"""

EXAMPLES = r"""
- name: A dedicated listener for the nginx XCLIENT proxy
  mailops.xclient.postfix_service:
    name: 127.0.0.1:10025
    type: inet
    private: false
    chroot: false
    command: smtpd
    options:
      syslog_name: postfix/proxy
      smtpd_authorized_xclient_hosts: 127.0.0.1, [::1]
      smtpd_client_restrictions: permit_mynetworks, reject
  notify: Reload postfix

- name: A content filter's return path (unix service, a pipe to an external command)
  mailops.xclient.postfix_service:
    name: filter
    type: unix
    unprivileged: false
    chroot: false
    maxproc: "10"
    command: pipe flags=Rq user=nobody argv=/bin/cat -o mode=fast ${sender}

- name: The content filter is gone (a backup of master.cf is kept)
  mailops.xclient.postfix_service:
    name: filter
    type: unix
    state: absent
    backup: true
"""

RETURN = r"""
entry_before:
  description: The entry as C(postconf -M) printed it before, null if there was none.
  returned: always
  type: str
entry_after:
  description:
    - The entry after, null if removed; in the same rendering as RV(entry_before) (as
      C(postconf -M) prints it once written, C(-o {name=value}) when the value has
      whitespace), so a rerun's RV(entry_before) equals this value exactly.
  returned: always
  type: str
reload_needed:
  description: C(postfix reload) makes the change take effect.
  returned: always
  type: bool
backup_file:
  description: Per changed file, the backup made with O(backup=true).
  returned: when a backup was made
  type: dict
shadow:
  description:
    - The change tried on a shadow instance before anything was written (option
      O(shadow)); the keys C(proved), C(seconds) and C(listeners), as documented for
      RV(mailops.xclient.postconf#module:shadow).
  returned: when a changed file was tried on a shadow
  type: dict
  sample: {proved: true, seconds: 0.42, listeners: [{service: 127.0.0.1:10025/inet, ok: true}]}
"""

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._config_module import (
    ConfigModule,
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


def problem_field(key: str, locator: Locator) -> Optional[str]:
    if locator[0] == "entry" and locator[1] == key:
        return COLUMN_FIELD.get(locator[2])
    if locator[0] == "option" and locator[1] == key:
        return f"options.{locator[2]}"
    return None


def main() -> None:
    run = ConfigModule(dict(
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
    ), required_if=[("state", "present", ["command"])])
    p = run.params
    with run.errors():
        name = check_columns(p)
        options = entry_options(p["options"] or {})
        private = default_flags(p["type"], p["private"])
        desired = desired_entry(p, name, private, options) if p["state"] == "present" \
            else None
    key = f"{name}/{p['type']}"
    run.edit(lambda pc, _entry: apply(pc, key, desired, p["purge_options"], p["force"]),
             field=functools.partial(problem_field, key), allow_unbound=p["allow_unbound"],
             allow_broad=p["allow_broad"])


if __name__ == "__main__":
    main()
