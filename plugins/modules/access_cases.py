#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: access_cases
short_description: Derive a probe case for every access rule of a Postfix listener
version_added: 0.2.0
description:
  - Reads (never changes) the I(effective) restriction lists of one smtpd listener -
    C(smtpd_client_restrictions), C(smtpd_helo_restrictions), C(smtpd_sender_restrictions),
    C(smtpd_relay_restrictions), C(smtpd_recipient_restrictions) and the
    C(smtpd_restriction_classes) they name - as Postfix resolves them, C(main.cf) merged
    with the listener's C(-o) overrides (asked of C(postconf -o ... -x)).
  - Returns RV(cases), ready to pass to M(mailops.xclient.xclient_probe) as they are - one
    or more per rule that depends on who the client is or what it sends - and
    RV(coverage), one row per rule with the case names or why it is not covered.
  - Table rules - every entry of C(check_client_access),
    C(check_reverse_client_hostname_access), C(check_helo_access), C(check_sender_access)
    and C(check_recipient_access) tables of type C(cidr), C(hash), C(lmdb), C(btree),
    C(texthash) (the source file next to the indexed file is read), C(inline), C(static),
    C(regexp) and C(pcre). The identity reaches that entry - for a C(cidr) network an address
    inside it that no other entry of the table catches (TEST-NET where the network leaves
    the choice), for a domain key the domain and, when C(parent_domain_matches_subdomains)
    includes C(smtpd_access_maps), a subdomain. For a C(regexp)/C(pcre) pattern the identity
    is derived from a plain literal pattern or taken from O(samples), and kept only when
    C(postmap -q) says that it reaches exactly that entry.
  - Built-in restrictions - C(permit_mynetworks), C(reject_unknown_client_hostname) and
    C(reject_unknown_reverse_client_hostname) (C([UNAVAILABLE]) and C([TEMPUNAVAIL])),
    C(reject_invalid_helo_hostname), C(reject_non_fqdn_helo_hostname),
    C(reject_non_fqdn_sender), C(reject_non_fqdn_recipient), C(reject_unauth_destination)
    and C(permit_sasl_authenticated) (XCLIENT LOGIN; not covered on Postfix versions that
    ignore it unless SASL is on for the listener).
  - DNS lists, C(reject_unknown_sender_domain), policy services and milters are rows
    marked "not covered offline". A restriction or table this module cannot read is a row
    saying why, never a failure.
  - Each case expects the rule's own action - C(REJECT) and 5xx V(reject), C(DEFER),
    C(DEFER_IF_*) and 4xx V(tempfail), C(OK) V(accept), C(DUNNO) nothing - at the stage it
    belongs to (with C(smtpd_delay_reject=no) a client rule at C(XCLIENT), a sender rule
    at C(MAIL), and a HELO rule that refuses is a row, not a case - its reply is the one to
    C(EHLO), which the probe does not judge).
  - A model of smtpd's evaluation order names, per case, the rule expected to decide it
    (RV(coverage[].predicted)); the filter P(mailops.xclient.coverage_report#filter) puts
    this together with the probe's results and reports every rule whose case did not
    behave as its action says as shadowed or overridden, with what decided instead.
author:
  - mailops.xclient contributors (@mailops)
options:
  service:
    description: The smtpd listener (C(NAME/TYPE)), as in C(master.cf).
    type: str
    default: smtp/inet
  samples:
    description:
      - Identities to try per C(regexp)/C(pcre) pattern, keyed by the pattern as written in
        the table (with delimiters and flags, for example C(/^mx[0-9]+\.example\.net$/)).
        Each sample is kept only when C(postmap -q) says it reaches that entry.
    type: dict
    default: {}
  mail_from:
    description: Envelope sender of the cases that do not test the sender. Default a
      reserved address no sender rule catches.
    type: str
  rcpt_to:
    description: Recipient of the cases that do not test the recipient. Default
      C(postmaster@) the first of C(relay_domains) or C(mydestination).
    type: str
extends_documentation_fragment:
  - mailops.xclient.attributes
  - mailops.xclient.attributes.read_only
  - mailops.xclient.config_dir
notes:
  - Run the cases with M(mailops.xclient.xclient_probe) from a host in the listener's
    C(smtpd_authorized_xclient_hosts), with
    O(mailops.xclient.xclient_probe#module:fail_on_mismatch) off, and pass both results
    to P(mailops.xclient.coverage_report#filter).
seealso:
  - module: mailops.xclient.xclient_probe
  - plugin: mailops.xclient.coverage_report
    plugin_type: filter
"""

EXAMPLES = r"""
- name: A case for every access rule of the injection listener
  mailops.xclient.access_cases:
    service: 127.0.0.1:10027/inet
    samples:
      "/^mx[0-9]+\\.spam\\.example$/": [mx1.spam.example]
  register: derived

- name: The same listener of another instance, the cases with this envelope
  mailops.xclient.access_cases:
    config_dir: /etc/postfix-test
    service: 127.0.0.1:10027/inet
    mail_from: probe@example.org
    rcpt_to: [postmaster@example.net]

- name: Run them (failures are findings, not errors)
  mailops.xclient.xclient_probe:
    server: 127.0.0.1
    port: 10027
    cases: "{{ derived.cases }}"
    fail_on_mismatch: false
  register: probe

- name: Rules that do not behave as their action says
  ansible.builtin.set_fact:
    coverage: "{{ derived.coverage | mailops.xclient.coverage_report(probe) }}"

- name: Each shadowed or not covered rule, and what decided instead
  ansible.builtin.debug:
    msg: "{{ coverage.lines }}"  # assert coverage.shadowed | length == 0 to fail on one
"""

RETURN = r"""
service:
  description: The listener read.
  returned: always
  type: str
  sample: 127.0.0.1:10025/inet
overrides:
  description: The listener's C(-o) overrides of the settings read.
  returned: always
  type: dict
  sample: {smtpd_client_restrictions: "permit_mynetworks, reject"}
delay_reject:
  description: The effective C(smtpd_delay_reject).
  returned: always
  type: bool
baseline:
  description: The identity every case starts from (only the field under test changes).
  returned: always
  type: dict
  sample: {addr: 192.0.2.10, name: probe-client.example, helo: probe-client.example,
           reverse_name: probe-client.example, mail_from: probe@example.org,
           rcpt: postmaster@example.net}
cases:
  description: Cases for M(mailops.xclient.xclient_probe), in rule order.
  returned: always
  type: list
  elements: dict
  sample:
    - name: "recipient[2] check_client_access 198.51.100.0/24 (198.51.100.1)"
      xclient: {addr: 198.51.100.1, name: probe-client.example}
      mail_from: probe@example.org
      rcpt_to: [postmaster@example.net]
      expect: {rcpt: reject}
coverage:
  description: One row per rule (a table check has one row per entry).
  returned: always
  type: list
  elements: dict
  contains:
    rule:
      description: The rule's name - list, position, restriction, table, entry.
      type: str
      sample: "smtpd_recipient_restrictions[2] check_client_access
        cidr:/etc/postfix/client.cidr 198.51.100.0/24"
    list:
      description: The restriction list, or the restriction class.
      type: str
    position:
      description: 1-based position in the list.
      type: int
    restriction:
      description: The restriction.
      type: str
    table:
      description: The table (C(type:name)), or the argument of the restriction.
      type: str
    entry:
      description: The table entry's key or pattern.
      type: str
    action:
      description: The table entry's result.
      type: str
    expectation:
      description: V(reject), V(tempfail), V(accept) or V(none).
      type: str
    stage:
      description: V(client), V(helo), V(sender) or V(recipient) - the list's stage.
      type: str
    cases:
      description: Names of the cases for this rule.
      type: list
      elements: str
    not_covered:
      description: Why the rule has no case (null when it has).
      type: str
    predicted:
      description: Per case name, what the evaluation model expects to decide it -
        C(outcome), C(rule) (null when the rule's own action is the expected outcome
        or nothing decides), C(expected) (the identity is the case's own).
      type: dict
totals:
  description: C(rules), C(coverable) (rules that depend on the client), C(covered),
    C(not_covered), C(cases), C(predicted_shadowed).
  returned: always
  type: dict
  sample: {rules: 14, coverable: 13, covered: 12, not_covered: 1, cases: 16,
           predicted_shadowed: 1}
predicted_shadowed:
  description: Rules the model already expects another rule to decide for (the probe
    run and P(mailops.xclient.coverage_report#filter) confirm or refute it).
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailops.xclient.plugins.module_utils._access_model import (
    AccessRulesError,
)
from ansible_collections.mailops.xclient.plugins.module_utils._access_rules import (
    access_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._module_glue import (
    CONFIG_DIR_SPEC,
    FieldError,
    parse_service,
    postconf_for,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    PostconfError,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=CONFIG_DIR_SPEC,
            service=dict(type="str", default="smtp/inet"),
            samples=dict(type="dict", default={}),
            mail_from=dict(type="str"),
            rcpt_to=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    samples = {}
    for pattern, values in p["samples"].items():
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            module.fail_json(msg=f"samples: the samples of {pattern!r} must be a list of"
                             " strings")
        samples[pattern] = values
    postmap = module.get_bin_path("postmap", required=True, opt_dirs=["/usr/sbin"])

    def run_stdin(argv, data):
        return module.run_command(argv, data=data, binary_data=True,
                                  environ_update={"LC_ALL": "C"})

    try:
        service = parse_service(p["service"])
        if not os.path.isdir(p["config_dir"]):
            raise FieldError("config_dir", f"{p['config_dir']} is not a directory")
        result = access_cases(postconf_for(module, p["config_dir"]), service, postmap,
                              run_stdin, samples=samples, mail_from=p["mail_from"],
                              rcpt=p["rcpt_to"])
    except (FieldError, AccessRulesError, PostconfError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
