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
    of it, since XCLIENT lets the client choose which address Postfix's rules see. They
    are judged on what they I(effectively) match - see O(allow_broad). The same guard runs
    in M(mailops.xclient.postconf) and M(mailops.xclient.postfix_service) when they write
    an XCLIENT or XFORWARD list.
  - Postfix uses the first pattern that matches. The patterns already in the list keep
    their order (an exception allowed before a negation stays allowed); new ones go at the
    end, and a new C(!pattern) just before the first pattern that matches what it
    excludes. A negation that contradicts a pattern of the list, or excludes an address
    no pattern of the list matches, is refused with the reason.
  - Table and file names may use C($name) references (C(hash:$config_directory/access));
    Postfix expands them (C(postconf -x)) before the file is looked for.
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
      - Allow patterns that authorize a wide slice of the world. Without it they are
        refused, judged on the I(effective) list - C(0.0.0.0/0), C(::/0), IPv4 networks
        wider than /16, IPv6 wider than /48;
      - a name or C(.domain) that is a public suffix (C(.com), C(.co.uk), C(.com.au),
        C(.github.io)) or lies above one (C(.amazonaws.com)), by the Public Suffix List of
        the managed host (C(/usr/share/publicsuffix/public_suffix_list.dat), Debian and
        Ubuntu package C(publicsuffix), Fedora C(publicsuffix-list); the
        C(mailops.xclient.postfix) role installs it). Without the list only top-level
        domains and common country registries (C(co.uk), C(com.au), ...) are known, and
        the module warns;
      - C(/file/name) lists, read recursively;
      - tables by their entries - a C(cidr:) file's networks, the keys of C(inline:),
        C(hash:), C(texthash:) ... tables (C(postmap -s)) - and by Postfix's own answer for
        representative clients (C(postmap -q)) - TEST-NET addresses of both families,
        public-looking addresses and names drawn at random each run, and C(unknown) (a
        client without a reverse name). A table that matches a public-looking client,
        C(unknown), or documentation networks in different /8 (IPv4) or /48 (IPv6)
        networks is refused; so are C(regexp:) / C(pcre:) tables matching everything;
      - C(static:) and C(randmap:) tables (every client), and tables answered by another
        server (C(ldap:), C(mysql:), C(tcp:) ...), whose answers cannot be judged here.
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

- name: A whole lab network may test rules on the loopback-only listener (broad, on purpose)
  mailops.xclient.xclient_hosts:
    config_dir: /etc/postfix-test
    service: 127.0.0.1:10025/inet
    hosts: ["2001:db8::/32"]
    allow_broad: true
    backup: true
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
service_missing:
  description: Check mode only - the O(service) does not exist (yet); the change is
    predicted, not checked (see the check mode attribute).
  returned: in check mode, when the service does not exist
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

import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional

from ansible_collections.mailops.xclient.plugins.module_utils._config_module import (
    ConfigModule,
    FieldError,
    service_key,
)
from ansible_collections.mailops.xclient.plugins.module_utils._host_patterns import (
    PatternError,
    merge,
    normalize,
    split_list,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    ServiceEntry,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xclient_guard import (
    Judge,
    refusal,
)

PARAMETERS = {"xclient": "smtpd_authorized_xclient_hosts",
              "xforward": "smtpd_authorized_xforward_hosts"}


def lenient(patterns: Iterable[str], map_types: List[str]) -> List[str]:
    """Normalize what is already configured; keep what no longer parses as it is."""
    out = []
    for raw in patterns:
        try:
            out.append(normalize(raw, exists=lambda p: True, map_types=map_types))
        except PatternError:
            out.append(raw)
    return out


def given_hosts(hosts: List[Any], map_types: List[str],
                exists: Callable[[str], bool] = os.path.exists) -> List[str]:
    """The patterns given, normalized; FieldError naming hosts[i]. ``exists`` sees file
    names with ``$name`` references expanded (``hash:$config_directory/access``)."""
    out = []
    for i, raw in enumerate(hosts):
        if raw is None or not str(raw).strip():
            raise FieldError(f"hosts[{i}]", "empty pattern")
        if len(split_list(str(raw))) != 1:
            raise FieldError(f"hosts[{i}]", f"{raw!r} holds more than one pattern; give one"
                             " pattern per list item")
        try:
            out.append(normalize(str(raw), exists=exists, map_types=map_types))
        except PatternError as exc:
            raise FieldError(f"hosts[{i}]", str(exc)) from None
    return out


def refuse_broad(hosts: List[str], judge: Judge) -> None:
    """FieldError for a pattern that authorizes the world or a wide slice of it, judged
    on what it effectively matches (``_xclient_guard``)."""
    for i, pattern in enumerate(hosts):
        why = judge.reason(pattern)
        if why:
            raise FieldError(f"hosts[{i}]", refusal(pattern, why))


@dataclass
class HostsChange:
    param: str
    scope: str
    before: List[str]
    after: List[str]

    def result(self, changed: bool) -> Dict[str, Any]:
        return dict(parameter=self.param, scope=self.scope, hosts_before=self.before,
                    hosts_after=self.after, reload_needed=changed)


def apply(pc: Postconf, entry: Optional[ServiceEntry], param: str, hosts: List[str],
          state: str, map_types: List[str]) -> HostsChange:
    """Read, merge and write under the lock: a concurrent run that finished a moment ago
    is seen, so no update is lost."""
    override = entry.options.get(param) if entry is not None else None
    before = lenient(split_list(override if override is not None else pc.effective(param)),
                     map_types)
    try:
        after = merge(before, hosts, state)
    except PatternError as exc:
        raise FieldError("hosts", str(exc)) from None
    change = HostsChange(param, entry.key if entry else "main.cf", before, after)
    if after == before:
        return change  # also when a listener's main.cf list already is what it should have
    if entry is not None:
        pc.set_service_param(entry.key, param, ",".join(after))
    elif after:
        pc.set_main(param, ", ".join(after))
    elif pc.explicit(param) is not None:
        pc.remove_main(param)
    return change


def main() -> None:
    run = ConfigModule(dict(
        hosts=dict(type="list", elements="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent", "exact"]),
        service=dict(type="str"),
        kind=dict(type="str", default="xclient", choices=["xclient", "xforward"]),
        allow_broad=dict(type="bool", default=False),
    ))
    p = run.params
    param = PARAMETERS[p["kind"]]
    with run.errors():
        service = service_key(p["service"])
        if p["state"] != "exact" and not p["hosts"]:
            raise FieldError("hosts", "give at least one pattern")
        map_types = run.real.map_types()
        hosts = given_hosts(p["hosts"], map_types,
                            lambda path: os.path.exists(run.real.expand_text(path)))
        if p["state"] != "absent" and not p["allow_broad"]:
            refuse_broad(hosts, run.judge(run.real, run.postmap))
    # The hosts given are all this edit can add, and they were judged above (naming
    # hosts[i]), so the driver's own guard of the written list is not needed again.
    run.edit(lambda pc, entry: apply(pc, entry, param, hosts, p["state"], map_types),
             service=service, field=lambda loc: "hosts" if loc[-1] == param else None,
             allow_broad=True)


if __name__ == "__main__":
    main()
