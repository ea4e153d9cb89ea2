#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postfix_whatif
short_description: Show which clients a Postfix change would treat differently, before it is applied
version_added: 0.2.0
description:
  - Starts two shadows of the Postfix instance in O(config_dir) - private copies with their
    own queue and data directories, listeners moved to free loopback ports, every transport
    discarding - one of the live files as they are and one with the proposed O(change), runs
    the same probe cases on both, and returns every case whose verdict differs
    (RV(changes)).
  - The proposed change is made on the copy by the same edits as
    M(mailops.xclient.postconf) (O(change.settings), with O(change.service) as C(-o)
    overrides) and M(mailops.xclient.postfix_service) (O(change.services)); a table named
    in O(change.tables) gets the new content in the copy only (built with C(postmap) for
    indexed types) and the copy's references point at it.
  - The cases are O(cases) (as M(mailops.xclient.xclient_probe) takes them) and, with
    O(derive) (the default when O(cases) is empty), those M(mailops.xclient.access_cases)
    derives from both configurations, one per identity.
  - The live instance is never touched - no file in O(config_dir) is written, no reload or
    signal, no connection to its listeners, no mail queued there. Both shadows are removed
    (processes and directories) when the task ends, fails or is interrupted.
  - On both shadows, and only there, the listener O(service) also lets the probe's loopback
    address (C(127.0.0.1), C([::1])) send XCLIENT, so every case can take its identity.
    Nothing else of the access rules differs from the live files.
  - With O(expect_changes) the task fails when a verdict changes for a case it does not
    name - so a play can apply a change only if nothing else changes.
author:
  - mailops.xclient contributors (@mailops)
options:
  change:
    description: The proposed change.
    type: dict
    required: true
    suboptions:
      settings:
        description:
          - Parameters as M(mailops.xclient.postconf) O(mailops.xclient.postconf#module:settings)
            takes them - in C(main.cf), or with O(change.service) as C(-o) overrides of
            that service.
        type: dict
        default: {}
      service:
        description: The master.cf service (C(NAME/TYPE)) whose C(-o) overrides
          O(change.settings) are.
        type: str
      services:
        description:
          - master.cf entries, each a dict of the options of
            M(mailops.xclient.postfix_service) (C(name), C(type), C(command), C(options),
            C(state) ...).
        type: list
        elements: dict
        default: []
      tables:
        description:
          - New content per lookup table, keyed by the table's absolute path as the
            configuration names it (C($config_directory) expanded). The path must be one the
            proposed configuration references; the shadow gets its own copy.
        type: dict
        default: {}
  cases:
    description:
      - Probe cases, as M(mailops.xclient.xclient_probe)
        O(mailops.xclient.xclient_probe#module:cases) takes them (their C(expect) is not
        judged - the verdicts are compared).
    type: list
    elements: dict
    default: []
  derive:
    description:
      - Also run the cases M(mailops.xclient.access_cases) derives for O(service) from the
        live and from the proposed configuration (one case per identity).
      - When not set, V(true) if O(cases) is empty (a change alone is previewed on every
        rule), else V(false).
    type: bool
  service:
    description: The smtpd listener (C(NAME/TYPE)) the cases run against.
    type: str
    default: smtp/inet
  expect_changes:
    description:
      - The changes the task expects - case names, or identities (dicts of XCLIENT
        attributes such as C(addr), C(name), C(helo), or C(mail_from), C(rcpt_to)); an
        identity names a change when every field given equals the case's.
      - When given, the task fails if any verdict changes for a case not named here. V([])
        means no verdict may change.
    type: list
    elements: raw
  timeout:
    description: Seconds each shadow may take to start, and each case.
    type: float
    default: 60
extends_documentation_fragment:
  - mailops.xclient.attributes
  - mailops.xclient.attributes.read_only
  - mailops.xclient.config_dir
notes:
  - Needs root - it starts two Postfix masters (become).
  - A proposed change that does not start fails the task with Postfix's own words; the
    pre-flight findings of the config modules (RV(preflight)) are returned as they are.
  - Check mode runs it fully - it changes nothing either way.
seealso:
  - module: mailops.xclient.access_cases
  - module: mailops.xclient.postconf
  - module: mailops.xclient.postfix_service
"""

EXAMPLES = r"""
- name: Which clients would a narrower mynetworks treat differently?
  mailops.xclient.postfix_whatif:
    change:
      settings:
        mynetworks: 127.0.0.1/32
    service: 127.0.0.1:10027/inet
    derive: true
  register: whatif

- name: Show them
  ansible.builtin.debug:
    msg: "{{ whatif.changed_cases }}"

- name: A REJECT line in a cidr table - apply it only if nothing else changes
  mailops.xclient.postfix_whatif:
    change:
      tables:
        /etc/postfix/client_access.cidr: |
          192.0.2.0/24 REJECT test network
    service: 127.0.0.1:10027/inet
    cases:
      - name: the network
        xclient: {addr: 192.0.2.7}
        mail_from: probe@example.org
        rcpt_to: [postmaster@example.net]
      - name: a neighbour
        xclient: {addr: 203.0.113.7}
        mail_from: probe@example.org
        rcpt_to: [postmaster@example.net]
    expect_changes:
      - addr: 192.0.2.7
"""

RETURN = r"""
changes:
  description: One row per case and stage whose verdict differs.
  returned: always
  type: list
  elements: dict
  contains:
    case:
      description: The case's name.
      type: str
    identity:
      description: What the case sent - XCLIENT attributes (LOGIN masked), HELO, envelope.
      type: dict
    stage:
      description: V(xclient), V(mail), V(rcpt), V(data) or V(error).
      type: str
    before:
      description: The verdict on the live configuration (XCLIENT outcome, reply code(s)).
      type: raw
    after:
      description: The verdict with the change.
      type: raw
  sample:
    - case: the network
      identity: {xclient: {ADDR: 192.0.2.7}, mail_from: probe@example.org,
                 rcpt_to: [postmaster@example.net]}
      stage: rcpt
      before: [250]
      after: [554]
changed_cases:
  description: The names of the cases whose verdict changes (one per client).
  returned: always
  type: list
  elements: str
unchanged:
  description: How many cases keep their verdict.
  returned: always
  type: int
cases:
  description: How many cases ran (on each shadow).
  returned: always
  type: int
unexpected:
  description: The changes O(expect_changes) does not name.
  returned: with O(expect_changes)
  type: list
  elements: dict
expected_unchanged:
  description:
    - The entries of O(expect_changes) that name no change - the proposed change does not
      do for those cases what the play expected. Also said in a warning; the task does not
      fail for them (it fails only for changes not named).
  returned: with O(expect_changes)
  type: list
  elements: raw
  sample: [{addr: 192.0.2.8}]
preflight:
  description: The pre-flight findings of the proposed configuration (the config modules'
    checks - types, tables, listeners), and what could not be checked.
  returned: always
  type: list
  elements: str
coverage:
  description: The coverage of both configurations as M(mailops.xclient.access_cases)
    derives it - C(before) and C(after), each with C(totals), C(rows) and
    C(predicted_shadowed).
  returned: when cases were derived (O(derive))
  type: dict
seconds:
  description: Seconds spent deriving (C(derive)), starting both shadows (C(start)) and
    running the cases on both at once (C(probe)).
  returned: always
  type: dict
  sample: {start: 1.9, probe: 0.4}
label:
  description: The change in a few words - C(NAME=VALUE) per setting, C(KEY set) or
    C(KEY removed) per service, C(FILE +ADDED -REMOVED) entries per table.
  returned: always
  type: str
  sample: "client_access.cidr +1 -0 (203.0.113.0/24 REJECT)"
line:
  description: One line for a report - C(whatif - CHANGE -> N clients change verdict).
  returned: always
  type: str
  sample: "whatif: mynetworks=127.0.0.1/32 -> 2 clients change verdict"
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.mailops.xclient.plugins.module_utils._access_model import (
    AccessRulesError,
)
from ansible_collections.mailops.xclient.plugins.module_utils._baseline import describe
from ansible_collections.mailops.xclient.plugins.module_utils._module_glue import (
    CONFIG_DIR_SPEC,
    FieldError,
    parse_service,
    postconf_for,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    PostconfError,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    ProbeInputError,
    check_timeout,
    parse_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._service_edit import (
    ARGUMENT_SPEC as SERVICE_SPEC,
)
from ansible_collections.mailops.xclient.plugins.module_utils._service_edit import (
    REQUIRED_IF as SERVICE_REQUIRED_IF,
)
from ansible_collections.mailops.xclient.plugins.module_utils._service_edit import (
    planned,
)
from ansible_collections.mailops.xclient.plugins.module_utils._settings_edit import (
    check_known,
    wanted_settings,
)
from ansible_collections.mailops.xclient.plugins.module_utils._whatif import (
    ProposedChange,
    ServiceChange,
    WhatIfError,
    check_expect,
    check_tables,
    listed,
    not_seen,
    read_text,
    run_whatif,
)


def _prefixed(exc: FieldError, prefix: str) -> FieldError:
    return FieldError(f"{prefix}{exc.field}", str(exc).split(": ", 1)[1])


def proposed(raw, live) -> ProposedChange:
    """The change option, checked; FieldError naming change.FIELD."""
    service = parse_service(raw["service"], "change.service") if raw.get("service") else None
    change = ProposedChange(service=service, tables=check_tables(raw.get("tables")))
    for i, item in enumerate(raw.get("services") or []):
        where = f"change.services[{i}]"
        result = ArgumentSpecValidator(SERVICE_SPEC, required_if=SERVICE_REQUIRED_IF) \
            .validate(dict(item))
        if result.error_messages:
            raise FieldError(where, "; ".join(result.error_messages))
        p = result.validated_parameters
        try:
            key, desired = planned(p)
        except FieldError as exc:
            raise _prefixed(exc, f"{where}.") from None
        change.services.append(ServiceChange(key, desired, p["purge_options"], p["force"]))
    if raw.get("settings"):
        try:
            wanted, field = wanted_settings({"settings": raw["settings"], "state": "present",
                                             "service": service, "name": None,
                                             "value": None})
            check_known(live, wanted, field)
        except FieldError as exc:
            raise _prefixed(exc, "change.") from None
        change.settings = wanted
    if change.empty():
        raise FieldError("change", "give settings, services or tables to try")
    return change


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=CONFIG_DIR_SPEC,
            change=dict(type="dict", required=True, options=dict(
                settings=dict(type="dict", default={}),
                service=dict(type="str"),
                services=dict(type="list", elements="dict", default=[]),
                tables=dict(type="dict", default={}),
            )),
            cases=dict(type="list", elements="dict", default=[]),
            derive=dict(type="bool"),
            service=dict(type="str", default="smtp/inet"),
            expect_changes=dict(type="list", elements="raw"),
            timeout=dict(type="float", default=60),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        if not os.path.isdir(p["config_dir"]):
            raise FieldError("config_dir", f"{p['config_dir']} is not a directory")
        service = parse_service(p["service"])
        timeout = check_timeout("timeout", p["timeout"])
        expect = check_expect(p["expect_changes"])
        specs = parse_cases(p["cases"]) if p["cases"] else []
        derive = (not specs) if p["derive"] is None else p["derive"]
        if not specs and not derive:
            raise FieldError("cases", "give cases, or derive: true")
        live = postconf_for(module, p["config_dir"])
        change = proposed(p["change"], live)
    except (FieldError, ProbeInputError, PostconfError) as exc:
        module.fail_json(msg=str(exc))
    if os.geteuid() != 0:
        module.fail_json(msg="postfix_whatif starts two Postfix masters (the shadows): run"
                         " it as root (become: true)")
    postmap = module.get_bin_path("postmap", required=True, opt_dirs=["/usr/sbin"])

    def run_stdin(argv, data):
        return module.run_command(argv, data=data, binary_data=True,
                                  environ_update={"LC_ALL": "C"})

    try:
        outcome = run_whatif(live, change, specs, service=service, derive=derive,
                             postmap=postmap, run_stdin=run_stdin, timeout=timeout,
                             clock=time.monotonic)
    except (FieldError, ProbeInputError, PostconfError, AccessRulesError,
            WhatIfError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:  # a work copy or shadow directory could not be made
        module.fail_json(msg=f"the what-if could not be made (nothing of the live instance"
                         f" was touched): {exc}")
    label = change.label(read_text)
    result = dict(outcome.result(), changed=False, label=label,
                  line=f"whatif: {label} -> {len(outcome.result()['changed_cases'])} clients"
                  " change verdict")
    if expect is not None:
        unexpected = [c for c in outcome.changes if not listed(c, expect)]
        result["unexpected"] = unexpected
        result["expected_unchanged"] = not_seen(outcome.changes, expect)
        if result["expected_unchanged"]:
            module.warn(f"{len(result['expected_unchanged'])} entr(y/ies) of expect_changes"
                        " name no verdict that changes: " + ", ".join(
                            str(e) for e in result["expected_unchanged"][:10]))
        if unexpected:
            module.fail_json(msg=f"{len(unexpected)} verdict(s) would change that"
                             " expect_changes does not name:\n" + "\n".join(
                                 describe(unexpected[:20])), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
