#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postfix_info
short_description: Report a Postfix instance's XCLIENT setup and its pitfalls
version_added: 0.1.0
description:
  - Reads (never changes) a Postfix configuration through C(postconf) and reports the
    version, the C(main.cf) XCLIENT and XFORWARD settings, and every smtpd listener in
    C(master.cf) with its I(effective) authorized list (C(main.cf) merged with its C(-o)
    overrides), listen addresses, whether postscreen fronts it, and its SASL settings.
  - Returns RV(findings), each with a severity, the listener and the fix, for these
    pitfalls - a listener on IPv6 that authorizes C(127.0.0.1) but not C([::1]); XCLIENT
    authorized for more than single hosts on a listener reachable beyond loopback;
    postscreen where XCLIENT is expected; C(smtpd_discard_ehlo_keywords) hiding XCLIENT
    while it stays authorized; Postfix versions whose C(permit_sasl_authenticated) ignores
    XCLIENT LOGIN unless SASL is enabled on the listener; C(smtpd_forbid_unauth_pipelining)
    on a listener fed by a proxy (the default from Postfix 3.10 on); and, where an XCLIENT
    LOGIN counts as SASL authentication (3.7.12, 3.8.7, 3.9.1, 3.10 and later, or SASL on
    the listener), C(permit_sasl_authenticated) in the listener's relay restrictions while
    XCLIENT is authorized for more than single hosts (code C(login-relay-exposure)); and
    an IPv4-only Postfix (C(inet_protocols)) on a listener that authorizes XCLIENT, which
    answers C(XCLIENT ADDR=IPV6:...) with C(501 5.5.4 Bad ADDR syntax) (code
    C(ipv4-only-xclient) - an error when O(client_addresses) holds an IPv6 address,
    information otherwise).
author:
  - mailops.xclient contributors (@mailops)
options:
  login_expected:
    description:
      - Listeners (C(NAME/TYPE)) that receive XCLIENT LOGIN from a proxy. The LOGIN pitfall
        is an error there, information elsewhere.
    type: list
    elements: str
    default: []
  client_addresses:
    description:
      - Client addresses that will be sent to this Postfix as XCLIENT ADDR - the C(addr)
        of probe cases, the networks of the clients a proxy or filter fronts. An IPv6 one
        (V(2001:db8::25), V(IPV6:2001:db8::25), V(2001:db8::/32)) makes an IPv4-only
        Postfix an error finding (C(ipv4-only-xclient)) instead of information. Values
        that are not addresses are ignored.
    type: list
    elements: str
    default: []
  fail_on:
    description: Fail the task when a finding has this severity or a worse one.
    type: str
    choices: [never, error, warning]
    default: never
extends_documentation_fragment:
  - mailops.xclient.attributes
  - mailops.xclient.attributes.read_only
  - mailops.xclient.config_dir
"""

EXAMPLES = r"""
- name: Audit the XCLIENT setup
  mailops.xclient.postfix_info:
    fail_on: error
  register: postfix

- name: Show the listeners that accept XCLIENT
  ansible.builtin.debug:
    msg: "{{ postfix.services | selectattr('xclient_hosts') | map(attribute='service') }}"

- name: Would a proxy's XCLIENT LOGIN count on this listener (an error finding if not)
  mailops.xclient.postfix_info:
    login_expected: [127.0.0.1:10025/inet]
  register: login_audit

- name: Probes will send IPv6 client addresses - an IPv4-only Postfix is an error
  mailops.xclient.postfix_info:
    config_dir: /etc/postfix
    client_addresses: ["2001:db8::25", 192.0.2.66]
  register: ipv6_audit
"""

RETURN = r"""
version:
  description: Postfix version (C(mail_version)).
  returned: always
  type: str
  sample: 3.7.11
config_dir:
  description: The configuration directory read.
  returned: always
  type: str
main:
  description: XCLIENT-related C(main.cf) settings (effective values).
  returned: always
  type: dict
  contains:
    smtpd_authorized_xclient_hosts:
      description: Hosts allowed XCLIENT, as a list.
      type: list
      elements: str
    smtpd_authorized_xforward_hosts:
      description: Hosts allowed XFORWARD, as a list.
      type: list
      elements: str
    inet_interfaces:
      description: C(inet_interfaces) as Postfix reads it.
      type: str
      sample: loopback-only
    inet_protocols:
      description: C(inet_protocols) as Postfix reads it - V(ipv4) means no listener
        takes an IPv6 connection, see the C(ipv4-only-xclient) finding.
      type: str
      sample: all
    smtpd_sasl_auth_enable:
      description: Whether SASL is on by default.
      type: bool
    smtpd_tls_auth_only:
      description: Whether SASL is offered only after STARTTLS by default.
      type: bool
    smtpd_discard_ehlo_keywords:
      description: EHLO keywords hidden by default (an XCLIENT here hides it from the proxy).
      type: str
    smtpd_forbid_unauth_pipelining:
      description: Whether pipelining before EHLO is refused by default (yes from 3.10).
      type: bool
services:
  description: Every smtpd or postscreen service with its effective settings.
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: C(NAME/TYPE).
      type: str
      sample: 127.0.0.1:10025/inet
    name:
      description: The service name, the first field of its C(master.cf) entry.
      type: str
      sample: 127.0.0.1:10025
    type:
      description: The service type - V(inet), V(unix), V(pass) and so on.
      type: str
    command:
      description: The daemon, V(smtpd) or V(postscreen).
      type: str
    listen:
      description: Addresses it binds (empty for unix services).
      type: list
      elements: str
    xclient_hosts:
      description: Effective authorized list.
      type: list
      elements: str
    xclient_hosts_from:
      description: C(main.cf) or C(master.cf).
      type: str
    xforward_hosts:
      description: Effective C(smtpd_authorized_xforward_hosts).
      type: list
      elements: str
    sasl_enabled:
      description: Effective C(smtpd_sasl_auth_enable).
      type: bool
    tls_auth_only:
      description: Effective C(smtpd_tls_auth_only).
      type: bool
    discard_ehlo_keywords:
      description: Effective C(smtpd_discard_ehlo_keywords), lower case.
      type: list
      elements: str
    forbid_unauth_pipelining:
      description: Effective C(smtpd_forbid_unauth_pipelining).
      type: bool
    relay_permits_sasl:
      description: C(permit_sasl_authenticated) is in the effective relay or recipient
        restrictions - an XCLIENT LOGIN may then relay.
      type: bool
    fronted_by_postscreen:
      description: A pass service behind postscreen.
      type: bool
    options:
      description: The C(-o name=value) options of its C(master.cf) entry.
      type: dict
      sample: {syslog_name: postfix/proxy}
login_ignored_without_sasl:
  description:
    - Whether this Postfix version ignores XCLIENT LOGIN for C(permit_sasl_authenticated)
      unless SASL is enabled on the listener (before 3.7.12, 3.8.7, 3.9.1).
  returned: always
  type: bool
findings:
  description: Pitfalls found.
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description: Short name of the pitfall.
      type: str
    severity:
      description: V(error), V(warning) or V(info).
      type: str
    service:
      description: The listener concerned.
      type: str
    message:
      description: What is wrong.
      type: str
    fix:
      description: What to do.
      type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailops.xclient.plugins.module_utils._module_glue import (
    CONFIG_DIR_SPEC,
    FieldError,
    parse_service,
    postconf_for,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    PostconfError,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_audit import (
    findings,
    gather,
    login_ignored_without_sasl,
)

RANK = {"info": 0, "warning": 1, "error": 2}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=CONFIG_DIR_SPEC,
            login_expected=dict(type="list", elements="str", default=[]),
            client_addresses=dict(type="list", elements="str", default=[]),
            fail_on=dict(type="str", default="never", choices=["never", "error", "warning"]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        expected = [parse_service(svc, f"login_expected[{i}]")
                    for i, svc in enumerate(p["login_expected"])]
        facts = gather(postconf_for(module, p["config_dir"]))
    except (FieldError, PostconfError) as exc:
        module.fail_json(msg=str(exc))
    found = findings(facts, expected, p["client_addresses"])
    out = dict(changed=False, findings=found,
               login_ignored_without_sasl=login_ignored_without_sasl(facts["version"]),
               **facts)
    if p["fail_on"] != "never":
        bad = [f for f in found if RANK[f["severity"]] >= RANK[p["fail_on"]]]
        if bad:
            module.fail_json(msg=f"{len(bad)} finding(s) of severity {p['fail_on']} or worse:"
                             " " + "; ".join(f"[{f['severity']}] {f['service']}: {f['message']}"
                                             for f in bad), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
