#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xclient_hosts
short_description: Manage who may send XCLIENT (or XFORWARD) to Postfix
version_added: 0.1.0
description:
  - Manages C(smtpd_authorized_xclient_hosts) (or C(smtpd_authorized_xforward_hosts)), in
    C(main.cf) or, with O(service), as the C(-o) override of one listener in C(master.cf).
  - Works on the I(effective) list. For a listener without its own override that is the
    C(main.cf) list, so adding a host to one listener starts from what it allows today.
  - Normalizes every pattern (IPv6 written C([::1]) and C([2001:db8::]/32), names lower
    case) and never lists the same pattern twice.
  - Validates every pattern before anything is written. Networks with host bits set,
    C(/file/name) files that do not exist, table types Postfix does not support
    (C(postconf -m)) and indexed tables without their database file are errors.
  - Refuses, unless O(allow_broad=true), patterns that authorize the world or a wide slice
    of it, since XCLIENT lets the client choose which address Postfix's rules see.
  - Postfix uses the first pattern that matches, so C(!pattern) entries are placed before
    the others. A negation that contradicts a pattern of the list, or excludes an
    address no pattern of the list matches, is refused with the reason.
  - Reads lists the way Postfix does, braces included (C(inline:{ a=OK, { b = OK } })
    stays one pattern).
  - Before anything is written, every table in the new list is opened by Postfix
    (C(postmap -q)); a table that is missing, not built or does not parse is refused, and
    so is a C(proxy:) table, since C(proxy_read_maps) does not list
    C(smtpd_authorized_xclient_hosts) tables by default (the listener would fail with
    C(proxymap service is not configured for table)).
  - Edits go through the same safe path as M(mailops.xclient.postconf) - a copy first,
    atomic replacement, C(postfix check), byte-for-byte rollback on failure.
author:
  - mailops.xclient contributors (@mailops)
options:
  hosts:
    description:
      - Patterns as in postconf(5) C(smtpd_authorized_xclient_hosts) - address, network,
        hostname, C(.domain), C(/file/name), C(type:table), C(!pattern). A plain IPv6
        address or network is accepted and written in brackets.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) adds the hosts, V(absent) removes them, V(exact) makes the list exactly
        O(hosts).
    type: str
    choices: [present, absent, exact]
    default: present
  service:
    description:
      - The listener, as C(NAME/TYPE) in master.cf (for example C(127.0.0.1:10025/inet)).
        Omitted, the C(main.cf) setting is managed, which applies to every listener without
        its own override.
      - With a service, removing the last host writes an empty override, so the listener
        does not fall back to the C(main.cf) list.
    type: str
  kind:
    description: V(xclient) manages C(smtpd_authorized_xclient_hosts), V(xforward)
      C(smtpd_authorized_xforward_hosts).
    type: str
    choices: [xclient, xforward]
    default: xclient
  allow_broad:
    description:
      - Allow patterns that authorize a wide slice of the world - C(0.0.0.0/0), C(::/0),
        C(static:) tables, IPv4 networks wider than /16, IPv6 wider than /48, a whole
        top-level C(.domain), also inside a C(/file/name) list.
    type: bool
    default: false
extends_documentation_fragment:
  - mailops.xclient.attributes
  - mailops.xclient.config_dir
  - mailops.xclient.config_dir.edit
seealso:
  - module: mailops.xclient.postconf
  - module: mailops.xclient.postfix_info
  - module: mailops.xclient.xclient_probe
"""

EXAMPLES = r"""
- name: Only the nginx proxy may send XCLIENT, and only to its own listener
  mailops.xclient.xclient_hosts:
    service: 127.0.0.1:10025/inet
    hosts: [127.0.0.1, "::1"]
    state: exact
  notify: Reload postfix

- name: The monitoring host may test access rules on every listener
  mailops.xclient.xclient_hosts:
    hosts: [192.0.2.25]

- name: A content filter network may send XFORWARD
  mailops.xclient.xclient_hosts:
    kind: xforward
    hosts: [198.51.100.0/28]
"""

RETURN = r"""
parameter:
  description: The parameter managed.
  returned: always
  type: str
  sample: smtpd_authorized_xclient_hosts
scope:
  description: C(main.cf) or the service.
  returned: always
  type: str
  sample: 127.0.0.1:10025/inet
hosts_before:
  description: The effective list before, normalized.
  returned: always
  type: list
  elements: str
hosts_after:
  description: The effective list after, normalized.
  returned: always
  type: list
  elements: str
reload_needed:
  description: Postfix must be reloaded for the change to take effect.
  returned: always
  type: bool
backup_file:
  description: Per changed file, the backup made with O(backup=true).
  returned: when a backup was made
  type: dict
"""

import os
from typing import Dict, List

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailops.xclient.plugins.module_utils._host_patterns import (
    PatternError,
    broad_reason,
    file_patterns,
    merge,
    normalize,
    split_list,
)
from ansible_collections.mailops.xclient.plugins.module_utils._module_glue import (
    BACKUP_SPEC,
    CONFIG_DIR_SPEC,
    apply_edit,
    edit_outcome,
    postconf_for,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    PostconfError,
    split_service_key,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_config_edit import (
    ConfigEditError,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    PreflightError,
)

PARAMETERS = {"xclient": "smtpd_authorized_xclient_hosts",
              "xforward": "smtpd_authorized_xforward_hosts"}


def lenient(patterns, map_types):
    """Normalize what is already configured; keep what no longer parses as it is."""
    out = []
    for raw in patterns:
        try:
            out.append(normalize(raw, exists=lambda p: True, map_types=map_types))
        except PatternError:
            out.append(raw)
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="list", elements="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent", "exact"]),
            service=dict(type="str"),
            kind=dict(type="str", default="xclient", choices=["xclient", "xforward"]),
            allow_broad=dict(type="bool", default=False),
            config_dir=CONFIG_DIR_SPEC,
            backup=BACKUP_SPEC,
        ),
        supports_check_mode=True,
    )
    p = module.params
    param = PARAMETERS[p["kind"]]
    service = None
    if p["service"]:
        try:
            service = "/".join(split_service_key(p["service"]))
        except ValueError as exc:
            module.fail_json(msg=f"service: {exc}")
    if p["state"] != "exact" and not p["hosts"]:
        module.fail_json(msg="hosts: give at least one pattern")

    real = postconf_for(module, p["config_dir"])
    try:
        map_types = real.map_types()
        given = []
        for i, raw in enumerate(p["hosts"]):
            if raw is None or not str(raw).strip():
                module.fail_json(msg=f"hosts[{i}]: empty pattern")
            if len(split_list(str(raw))) != 1:
                module.fail_json(msg=f"hosts[{i}]: {raw!r} holds more than one pattern; give"
                                 " one pattern per list item")
            try:
                pattern = normalize(str(raw), exists=os.path.exists, map_types=map_types)
            except PatternError as exc:
                module.fail_json(msg=f"hosts[{i}]: {exc}")
            given.append((i, pattern))
        if p["state"] != "absent" and not p["allow_broad"]:
            for i, pattern in given:
                inside = [pattern]
                if pattern.startswith("/"):
                    with open(pattern, encoding="utf-8", errors="replace") as fh:
                        inside = lenient(file_patterns(fh.read()), map_types)
                for one in inside:
                    reason = broad_reason(one)
                    if reason:
                        where = f" (in {pattern})" if one != pattern else ""
                        module.fail_json(msg=f"hosts[{i}]: {one}{where} is {reason}; XCLIENT"
                                         " lets such clients claim any identity. Set"
                                         " allow_broad: true if you mean it")
        hosts = [pattern for _i, pattern in given]
        if service and real.service(service) is None:
            module.fail_json(msg=f"service: master.cf in {p['config_dir']} has no"
                             f" service {service}")
    except PostconfError as exc:
        module.fail_json(msg=str(exc))

    lists: Dict[str, List[str]] = {}

    def edit(pc) -> None:
        # Read, merge and write under the lock, on the work copy: a concurrent run that
        # finished a moment ago is seen, so no update is lost.
        override = None
        if service:
            entry = pc.service(service)
            if entry is None:
                raise PostconfError(f"service: master.cf has no service {service}")
            override = entry.options.get(param)
        current_raw = override if override is not None else pc.effective(param)
        before = lenient(split_list(current_raw), map_types)
        after = merge(before, hosts, p["state"])
        lists.update(before=before, after=after)
        if after == before:
            return  # also when a listener's main.cf list already is what it should have
        if service:
            pc.set_service_param(service, param, ",".join(after))
        elif after:
            pc.set_main(param, ", ".join(after))
        elif pc.explicit(param) is not None:
            pc.remove_main(param)

    try:
        result = apply_edit(module, real, edit, p["backup"],
                            field=lambda loc: "hosts" if loc[-1] == param else None)
    except PatternError as exc:
        module.fail_json(msg=f"hosts: {exc}")
    except (ConfigEditError, PostconfError, PreflightError) as exc:
        module.fail_json(msg=str(exc))
    before, after = lists["before"], lists["after"]
    out = edit_outcome(module, result)
    out.update(parameter=param, scope=service or "main.cf", hosts_before=before,
               hosts_after=after, reload_needed=result.changed)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
