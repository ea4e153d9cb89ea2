#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postconf
short_description: Manage a Postfix parameter in main.cf or as a master.cf service override
version_added: 0.1.0
description:
  - Sets or removes one Postfix parameter, in C(main.cf) or, with O(service), as a C(-o)
    override of one C(master.cf) service.
  - All reading and writing goes through Postfix's own C(postconf) binary. The edit is made
    on a copy first; the real files are replaced atomically, C(postfix check) runs for the
    config directory, and if it fails both files are restored byte for byte.
  - Does not reload Postfix; it returns RV(reload_needed) and RV(restart_needed) for a
    handler to act on.
author:
  - mailops.xclient contributors (@mailops)
attributes:
  check_mode:
    support: full
    description: Predicts the change without writing.
  diff_mode:
    support: full
    description: Shows C(main.cf) / C(master.cf) before and after.
options:
  name:
    description: Parameter name, such as C(smtpd_authorized_xclient_hosts).
    type: str
    required: true
  value:
    description: The value. Required with O(state=present). No line breaks.
    type: str
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
  config_dir:
    description: Postfix configuration directory; another one than the default serves a
      private instance.
    type: path
    default: /etc/postfix
  backup:
    description: Keep a timestamped copy of each file that changes.
    type: bool
    default: false
notes:
  - Two runs on one host at the same time are serialized by a lock in O(config_dir).
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
"""

RETURN = r"""
value_before:
  description: The value set before (in main.cf or as the service override), null if unset.
  returned: always
  type: str
value_after:
  description: The value set after, null if unset.
  returned: always
  type: str
reload_needed:
  description: The change takes effect with C(postfix reload).
  returned: always
  type: bool
restart_needed:
  description: The change needs C(postfix stop; postfix start) (C(inet_interfaces), C(inet_protocols), ...).
  returned: always
  type: bool
backup_file:
  description: Per changed file, the backup made with O(backup=true).
  returned: when a backup was made
  type: dict
"""

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
    split_service_key,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_config_edit import (
    ConfigEditError,
    needs_restart,
)


def same_value(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return " ".join(a.split()) == " ".join(b.split())


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            value=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            service=dict(type="str"),
            config_dir=CONFIG_DIR_SPEC,
            backup=BACKUP_SPEC,
        ),
        required_if=[("state", "present", ["value"])],
        supports_check_mode=True,
    )
    p = module.params
    name, value, present = p["name"], p["value"], p["state"] == "present"
    if not PARAM_NAME.match(name):
        module.fail_json(msg=f"name: {name!r} is not a Postfix parameter name")
    if value is not None and any(ch in value for ch in "\r\n\0"):
        module.fail_json(msg=f"value: must not contain a line break or NUL ({name})")
    if value is not None:
        value = value.strip()
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
        if present and not real.is_known(name):
            module.fail_json(msg=f"name: Postfix does not know the parameter {name!r}"
                             f" (postconf -c {p['config_dir']} says: unknown parameter)")
    except PostconfError as exc:
        module.fail_json(msg=str(exc))

    seen = {}

    def edit(pc) -> None:
        # Decide under the lock, on the work copy.
        if service:
            entry = pc.service(service)
            if entry is None:
                raise PostconfError(f"service: master.cf has no service {service}")
            before = entry.options.get(name)
        else:
            before = pc.explicit(name)
        seen["before"] = before
        if present and not same_value(before, value):
            if service:
                pc.set_service_param(service, name, value)
            else:
                pc.set_main(name, value)
        elif not present and before is not None:
            if service:
                pc.remove_service_param(service, name)
            else:
                pc.remove_main(name)

    try:
        result = apply_edit(module, real, edit, p["backup"])
    except (ConfigEditError, PostconfError) as exc:
        module.fail_json(msg=str(exc))
    before = seen["before"]
    after = (value if not same_value(before, value) else before) if present else None
    out = edit_outcome(module, result)
    restart = result.changed and needs_restart([name])
    out.update(value_before=before, value_after=after, restart_needed=restart,
               reload_needed=result.changed and not restart)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
