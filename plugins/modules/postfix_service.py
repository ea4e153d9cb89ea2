#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

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
attributes:
  check_mode:
    support: full
    description: Predicts the change without writing.
  diff_mode:
    support: full
    description: Shows C(master.cf) before and after.
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
    description: Private service (column 3); omitted means Postfix's default (C(-)).
    type: bool
  unprivileged:
    description: Runs as the mail owner (column 4); omitted means C(-).
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
    description: Command and its arguments (column 8 on), such as C(smtpd). Required with
      O(state=present).
    type: str
  options:
    description:
      - The C(-o name=value) overrides to set. Values may contain spaces.
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
  config_dir:
    description: Postfix configuration directory.
    type: path
    default: /etc/postfix
  backup:
    description: Keep a timestamped copy of each file that changes.
    type: bool
    default: false
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
"""

RETURN = r"""
entry_before:
  description: The entry as C(postconf -M) printed it before, null if there was none.
  returned: always
  type: str
entry_after:
  description: The entry after, null if removed.
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
"""

import ipaddress
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailops.xclient.plugins.module_utils._module_glue import (
    BACKUP_SPEC,
    CONFIG_DIR_SPEC,
    apply_edit,
    edit_outcome,
    postconf_for,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    PARAM_NAME,
    SERVICE_TYPES,
    PostconfError,
    ServiceEntry,
    option_token,
    parse_option_token,
    split_entry_args,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_config_edit import (
    ConfigEditError,
)


def flag(value) -> str:
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


def split_options(args):
    """(-o overrides as a dict, the other arguments) of an argument list."""
    opts, rest, i = {}, [], 0
    while i < len(args):
        if args[i] == "-o" and i + 1 < len(args):
            name, value = parse_option_token(args[i + 1])
            opts[name] = " ".join(value.split())
            i += 2
        else:
            rest.append(args[i])
            i += 1
    return opts, rest


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
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
            config_dir=CONFIG_DIR_SPEC,
            backup=BACKUP_SPEC,
        ),
        required_if=[("state", "present", ["command"])],
        supports_check_mode=True,
    )
    p = module.params
    name, kind = p["name"].strip(), p["type"]
    if not name or any(ch.isspace() for ch in name) or "/" in name:
        module.fail_json(msg=f"name: {p['name']!r} is not a service name")
    if kind == "inet":
        try:
            validate_inet_name(name)
        except ValueError as exc:
            module.fail_json(msg=f"name: {name}: {exc}")
    if p["wakeup"] is not None and not re.match(r"^(-|\d+\??)$", p["wakeup"]):
        module.fail_json(msg=f"wakeup: {p['wakeup']!r} must be seconds, optionally with ?,"
                         " or -")
    if p["maxproc"] is not None and not re.match(r"^(-|\d+)$", str(p["maxproc"])):
        module.fail_json(msg=f"maxproc: {p['maxproc']!r} must be a number or -")
    options = {}
    for key, value in (p["options"] or {}).items():
        if not PARAM_NAME.match(str(key)):
            module.fail_json(msg=f"options.{key}: not a Postfix parameter name")
        text = "" if value is None else str(value)
        if isinstance(value, bool):
            text = "yes" if value else "no"
        if any(ch in text for ch in "\r\n\0{}"):
            module.fail_json(msg=f"options.{key}: must not contain line breaks or braces")
        options[str(key)] = " ".join(text.split())
    desired = None
    if p["state"] == "present":
        command = (p["command"] or "").strip()
        if not command or any(ch in command for ch in "\r\n\0"):
            module.fail_json(msg="command: give the command and its arguments on one line")
        try:
            words = split_entry_args(command)
        except ValueError as exc:
            module.fail_json(msg=f"command: {exc}")
        cmd_opts, cmd_rest = split_options(words[1:])
        cmd_opts.update(options)
        args = []
        for key, value in cmd_opts.items():
            args += ["-o", option_token(key, value)]
        desired = ServiceEntry(name, kind, flag(p["private"]), flag(p["unprivileged"]),
                               flag(p["chroot"]), p["wakeup"] or "-", str(p["maxproc"] or "-"),
                               words[0], args + cmd_rest)
    key = f"{name}/{kind}"

    real = postconf_for(module, p["config_dir"])

    def same(a: ServiceEntry, b: ServiceEntry) -> bool:
        fields = ("private", "unprivileged", "chroot", "wakeup", "maxproc", "command")
        if any(getattr(a, f) != getattr(b, f) for f in fields):
            return False
        return split_options(a.args) == split_options(b.args)

    def merged(current: ServiceEntry, wanted: ServiceEntry) -> ServiceEntry:
        """``wanted`` plus the overrides of ``current`` it does not name."""
        if p["purge_options"]:
            return wanted
        have, _rest = split_options(current.args)
        want, rest = split_options(wanted.args)
        keep = {k: v for k, v in have.items() if k not in want}
        args = []
        for k, v in list(keep.items()) + list(want.items()):
            args += ["-o", option_token(k, v)]
        return ServiceEntry(wanted.name, wanted.type, wanted.private, wanted.unprivileged,
                            wanted.chroot, wanted.wakeup, wanted.maxproc, wanted.command,
                            args + rest)

    seen = {}

    def edit(pc) -> None:
        # Decide under the lock, on the work copy.
        current = pc.service(key)
        seen["current"] = current
        if desired is None:
            if current is not None:
                pc.remove_service_entry(key)
            return
        target = desired if current is None else merged(current, desired)
        seen["target"] = target
        if current is None or not same(current, target):
            pc.set_service_entry(target)

    try:
        result = apply_edit(module, real, edit, p["backup"])
    except (ConfigEditError, PostconfError) as exc:
        module.fail_json(msg=str(exc))
    current = seen["current"]
    out = edit_outcome(module, result)
    after = seen.get("target") if result.changed else current
    out.update(entry_before=current.line() if current else None,
               entry_after=after.line() if after else None, reload_needed=result.changed)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
