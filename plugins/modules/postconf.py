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
    description:
      - The value. Required with O(name) and O(state=present). No line breaks.
      - A YAML boolean is written C(yes) / C(no), a number as written.
      - Checked against the type Postfix reads the parameter as (see the notes).
    type: raw
  settings:
    description:
      - Several parameters as a dict of name and value, applied as one edit. With O(state=absent)
        the names are removed and the values are ignored.
      - Numbers are written as they are; V(true) / V(false) as C(yes) / C(no).
      - A parameter C(main.cf) (or the service's entry) already sets keeps its place; new
        ones are added at the end in the order of O(settings) as written in the task, so
        check mode, the real run and every host get the same lines in the same order.
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
  - mailops.xclient.config_dir.allow_broad
notes:
  - Two runs on one host at the same time are serialized by a lock on O(config_dir).
  - "Before anything is written, a pre-flight check refuses values Postfix would die of
    although C(postfix check) passes them: a lookup table that is missing, not built
    (C(hash:) without C(.db)) or does not parse (asked of C(postmap -q)), a C(proxy:)
    table that C(proxy_read_maps) does not list, and for a O(service) override a value
    whose braces do not balance."
  - "Values are typed by what Postfix expects, asked of Postfix: a parameter whose default
    (C(postconf -d)) is C(yes)/C(no) takes only C(yes) or C(no) (a YAML boolean is written
    so; the text C(True) would stop every daemon), one whose default is a time (C(300s))
    a number with an optional unit C(s m h d w), one whose default is a number an integer
    in range. C($name) references are expanded by Postfix before the check. A value of the
    wrong type is refused naming the field, before anything is written."
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
      O(shadow)) - whether mail was proven to flow there, how long it took, and on which
      listeners.
  returned: when a changed file was tried on a shadow
  type: dict
  contains:
    proved:
      description: Whether mail was proven to flow on the shadow (false - it was not tried;
        a warning says why).
      type: bool
      sample: true
    seconds:
      description: Seconds the proof took on the shadow.
      type: float
      returned: when proved
      sample: 0.42
    listeners:
      description: The shadow's smtpd listeners and whether mail flowed through each.
      type: list
      elements: dict
      returned: when proved
      contains:
        service:
          description: The C(master.cf) service, C(NAME/TYPE), as on the live instance.
          type: str
          sample: 127.0.0.1:10025/inet
        ok:
          description: Whether mail flowed through it.
          type: bool
          sample: true
"""

from typing import Optional

from ansible_collections.mailops.xclient.plugins.module_utils._config_module import (
    ConfigModule,
    service_key,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    Locator,
)
from ansible_collections.mailops.xclient.plugins.module_utils._settings_edit import (
    apply,
    check_known,
    wanted_settings,
)


def main() -> None:
    run = ConfigModule(
        dict(name=dict(type="str"), value=dict(type="raw"), settings=dict(type="dict"),
             state=dict(type="str", default="present", choices=["present", "absent"]),
             service=dict(type="str"), allow_broad=dict(type="bool", default=False)),
        required_one_of=[("name", "settings")],
        mutually_exclusive=[("name", "settings"), ("value", "settings")],
        required_by={"value": "name"},
    )
    p = run.params
    with run.errors():
        wanted, field = wanted_settings(p)
        service = service_key(p["service"])
        if p["state"] == "present":
            check_known(run.real, wanted, field)

    def problem_field(locator: Locator) -> Optional[str]:
        ours = (locator[0] == "option" and locator[1] == service) or \
            (locator[0] == "param" and not service)
        return field(locator[-1], "value") if ours and locator[-1] in wanted else None

    run.edit(lambda pc, entry: apply(pc, entry, wanted, p["name"]), service=service,
             field=problem_field, allow_broad=p["allow_broad"])


if __name__ == "__main__":
    main()
