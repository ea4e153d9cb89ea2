#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postconf
short_description: Manage Postfix parameters in main.cf or as master.cf service overrides
version_added: 0.1.0
description:
  - Sets or removes one Postfix parameter (O(name), O(value)) or several at once
    (O(settings)), in C(main.cf) or, with O(service), as C(-o) overrides of one
    C(master.cf) service.
  - Several parameters given with O(settings) are one edit, checked once and rolled back
    together. Prefer it over a loop, because Postfix waits until a freshly written
    C(main.cf) is about two seconds old before C(postfix check) reads it, so each changed
    item of a loop costs that wait.
  - All reading and writing goes through Postfix's own C(postconf) binary. The edit is made
    on a copy first; the real files are replaced atomically, C(postfix check) runs for the
    config directory, and if it fails both files are restored byte for byte.
  - Does not reload Postfix; it returns RV(reload_needed) and RV(restart_needed) for a
    handler to act on.
author:
  - mailops.xclient contributors (@mailops)
options:
  name:
    description:
      - Parameter name, such as C(smtpd_authorized_xclient_hosts).
      - One of O(name) and O(settings) is required.
    type: str
  value:
    description: The value. Required with O(name) and O(state=present). No line breaks.
    type: str
  settings:
    description:
      - Several parameters as a dict of name and value, applied as one edit. With O(state=absent)
        the names are removed and the values are ignored.
      - Numbers are written as they are; V(true) / V(false) as C(yes) / C(no).
    type: dict
  state:
    description: V(present) sets the value, V(absent) removes the setting.
    type: str
    choices: [present, absent]
    default: present
  service:
    description:
      - A master.cf service as C(NAME/TYPE), for example C(127.0.0.1:10025/inet) or
        C(submission/inet). The parameter then is a C(-o) override of that service.
      - The service must exist.
    type: str
extends_documentation_fragment:
  - mailops.xclient.attributes
  - mailops.xclient.config_dir
  - mailops.xclient.config_dir.edit
notes:
  - Two runs on one host at the same time are serialized by a lock on O(config_dir).
  - "Before anything is written, a pre-flight check refuses values Postfix would die of
    although C(postfix check) passes them: a lookup table that is missing, not built
    (C(hash:) without C(.db)) or does not parse (asked of C(postmap -q)), a C(proxy:)
    table that C(proxy_read_maps) does not list, and for a O(service) override a value
    whose braces do not balance."
seealso:
  - module: mailops.xclient.xclient_hosts
  - module: mailops.xclient.postfix_service
"""

EXAMPLES = r"""
- name: Make XCLIENT tests fast on a test instance
  mailops.xclient.postconf:
    name: in_flow_delay
    value: "0"
    config_dir: /etc/postfix-test
  notify: Reload postfix

- name: Own syslog name for the proxy listener
  mailops.xclient.postconf:
    service: 127.0.0.1:10025/inet
    name: syslog_name
    value: postfix/xclient

- name: Back to the default
  mailops.xclient.postconf:
    name: smtpd_discard_ehlo_keywords
    state: absent

- name: Restrictions and limits in one edit, one check
  mailops.xclient.postconf:
    settings:
      smtpd_helo_required: true
      smtpd_client_connection_count_limit: 20
      smtpd_recipient_restrictions: >-
        check_client_access cidr:/etc/postfix/client_access.cidr,
        permit_mynetworks, reject_unauth_destination
  notify: Reload postfix
"""

RETURN = r"""
value_before:
  description: The value set before (in main.cf or as the service override), null if unset.
  returned: with O(name)
  type: str
value_after:
  description: The value set after, null if unset.
  returned: with O(name)
  type: str
values_before:
  description: Per parameter of O(settings), the value set before, null if unset.
  returned: with O(settings)
  type: dict
values_after:
  description: Per parameter of O(settings), the value set after, null if unset.
  returned: with O(settings)
  type: dict
changed_names:
  description: The parameters whose setting changed.
  returned: always
  type: list
  elements: str
reload_needed:
  description: The change takes effect with C(postfix reload).
  returned: always
  type: bool
restart_needed:
  description: The change needs C(postfix stop; postfix start) (C(inet_interfaces),
    C(inet_protocols), ...).
  returned: always
  type: bool
backup_file:
  description: Per changed file, the backup made with O(backup=true).
  returned: when a backup was made
  type: dict
"""

from typing import Any, Callable, Dict, Optional, Tuple

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
    PostconfError,
    braces_balanced,
    split_service_key,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_config_edit import (
    ConfigEditError,
    needs_restart,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    PreflightError,
)


def same_value(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return " ".join(a.split()) == " ".join(b.split())


def setting_value(value: Any) -> str:
    """A YAML value as Postfix writes it: true/false as yes/no, numbers as they are."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def wanted_settings(p: Dict[str, Any]
                    ) -> Tuple[Dict[str, Optional[str]], Callable[[str, str], str]]:
    """The parameters to manage, name -> value (None with state=absent), and the field an
    error about a parameter's name or value names: ``field(name, "name" | "value")``."""
    if p["settings"] is not None:
        if not p["settings"]:
            raise ValueError("settings: give at least one parameter")
        wanted = {str(k): (setting_value(v) if p["state"] == "present" else None)
                  for k, v in p["settings"].items()}
        return wanted, lambda name, _part: f"settings.{name}"
    return ({p["name"]: p["value"] if p["state"] == "present" else None},
            lambda _name, part: part)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str"),
            value=dict(type="str"),
            settings=dict(type="dict"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            service=dict(type="str"),
            config_dir=CONFIG_DIR_SPEC,
            backup=BACKUP_SPEC,
        ),
        required_one_of=[("name", "settings")],
        mutually_exclusive=[("name", "settings"), ("value", "settings")],
        required_by={"value": "name"},
        supports_check_mode=True,
    )
    p = module.params
    present = p["state"] == "present"
    if p["name"] is not None and present and p["value"] is None:
        module.fail_json(msg=f"value: required with name ({p['name']}) and state=present")
    try:
        wanted, field = wanted_settings(p)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    for name, value in list(wanted.items()):
        if not PARAM_NAME.match(name):
            module.fail_json(msg=f"{field(name, 'name')}: {name!r} is not a Postfix"
                             " parameter name")
        if value is not None and any(ch in value for ch in "\r\n\0"):
            module.fail_json(msg=f"{field(name, 'value')}: must not contain a line break"
                             f" or NUL ({name})")
        if value is not None and p["service"] and not braces_balanced(value):
            module.fail_json(msg=f"{field(name, 'value')}: the braces in {value!r} do not"
                             " balance; as a -o override Postfix would read the stray brace"
                             " as an argument of its own and the daemon would exit")
        if value is not None:
            wanted[name] = value.strip()
    service = None
    if p["service"]:
        try:
            service = "/".join(split_service_key(p["service"]))
        except ValueError as exc:
            module.fail_json(msg=f"service: {exc}")

    real = postconf_for(module, p["config_dir"])
    try:
        if service and real.service(service) is None:
            module.fail_json(msg=f"service: master.cf in {p['config_dir']} has no service"
                             f" {service}; it has: "
                             + ", ".join(e.key for e in real.services()))
        for name in real.unknown(list(wanted)) if present else []:
            module.fail_json(msg=f"{field(name, 'name')}: Postfix does not know the parameter"
                             f" {name!r} (postconf -c {p['config_dir']} says: unknown"
                             " parameter)")
    except PostconfError as exc:
        module.fail_json(msg=str(exc))

    before: Dict[str, Optional[str]] = {}

    def edit(pc) -> None:
        # Decide under the lock, on the work copy: read everything first, then write.
        # (postconf waits for a freshly written main.cf to settle before reading it.)
        if service:
            entry = pc.service(service)
            if entry is None:
                raise PostconfError(f"service: master.cf has no service {service}")
            before.update({name: entry.options.get(name) for name in wanted})
        else:
            before.update(pc.explicit_many(list(wanted)))
        to_set = {n: v for n, v in wanted.items()
                  if v is not None and not same_value(before[n], v)}
        to_remove = [n for n, v in wanted.items() if v is None and before[n] is not None]
        if service:
            for name, value in to_set.items():
                pc.set_service_param(service, name, value)
            for name in to_remove:
                pc.remove_service_param(service, name)
        else:
            pc.set_main_many(to_set)
            pc.remove_main(*to_remove)

    def problem_field(locator):
        name = locator[-1]
        ours = (locator[0] == "option" and locator[1] == service) or \
            (locator[0] == "param" and not service)
        return field(name, "value") if ours and name in wanted else None

    try:
        result = apply_edit(module, real, edit, p["backup"], field=problem_field)
    except (ConfigEditError, PostconfError, PreflightError) as exc:
        module.fail_json(msg=str(exc))
    after = {name: (value if value is None or not same_value(before[name], value)
                    else before[name]) for name, value in wanted.items()}
    changed_names = [n for n in wanted if not same_value(before[n], after[n])]
    out = edit_outcome(module, result)
    restart = result.changed and needs_restart(changed_names)
    out.update(changed_names=changed_names, restart_needed=restart,
               reload_needed=result.changed and not restart)
    if p["settings"] is not None:
        out.update(values_before=before, values_after=after)
    else:
        out.update(value_before=before[p["name"]], value_after=after[p["name"]])
    module.exit_json(**out)


if __name__ == "__main__":
    main()
