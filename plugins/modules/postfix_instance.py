#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postfix_instance
short_description: Start, stop, reload or restart Postfix and prove it survived (or roll back)
version_added: 0.1.0
description:
  - Brings one Postfix instance (O(config_dir)) to O(state), then proves it is alive - the
    master process runs (C(postfix status)) and, with O(wait_listeners), mail flows on
    every C(inet) smtpd or postscreen listener of the instance within O(timeout).
  - Alive means that mail flows - on every smtpd listener (and through postscreen where it
    fronts one) C(EHLO), C(STARTTLS) where offered, C(MAIL FROM:<>) and
    C(RCPT TO:<postmaster@DOMAIN>) are answered 2xx (no message is sent), and no C(fatal:),
    C(panic:), C(warning:) ... C(unknown) or C(Server configuration error) line appears in
    C(maillog_file) - not merely that a listener says C(220).
  - O(timeout) bounds the whole run, shadow included. The proof of the running instance
    before the action gets at most a third of it (and 10 s), the shadow half of what is
    left (both take about a second unless listeners hang); with O(rollback=true) the action
    and its proof get half of the rest, and a rollback the other half. A stop or start once
    begun is let finish and a rollback's proof gets at least 2 s, so a short O(timeout)
    (under about 30 s) may be passed by those few seconds when listeners hang.
  - After every start, reload or restart that ends alive, keeps a last-known-good copy of
    C(main.cf) and C(master.cf) under O(config_dir) (C(.mailops-xclient-last-known-good/),
    mode 0600, one copy that is replaced, not a growing pile). Before there is one, the
    first edit by M(mailops.xclient.postconf), M(mailops.xclient.postfix_service) or
    M(mailops.xclient.xclient_hosts) keeps the files as they were, when the running master
    started after they were last written (so it runs exactly those).
  - If the master died or a listener does not answer and O(rollback=true), the rejected
    files are kept aside as C(main.cf.rejected-TIMESTAMP) and C(master.cf.rejected-TIMESTAMP),
    last-known-good is put back, Postfix is started (or reloaded) again and proven alive,
    and the task B(fails) with Postfix's own fatal message (from C(maillog_file), the
    journal, or what C(postfix) printed) and RV(rolled_back=true).
  - Uses systemd (C(systemctl ... postfix)) for the default instance (C(/etc/postfix)) on a
    host booted with systemd, else C(postfix -c CONFIG_DIR start|stop|reload).
author:
  - mailops.xclient contributors (@mailops)
attributes:
  check_mode:
    support: full
    details: Changes nothing and says what it would do.
  diff_mode:
    details: Reports no diff; the config modules show the file changes.
options:
  state:
    description:
      - V(started) starts Postfix when it is not running (no change when it runs);
        V(stopped) stops it; V(reloaded) reloads it (starts it when it is not running);
        V(restarted) stops and starts it. Every state but V(stopped) is then proven alive.
    type: str
    choices: [started, stopped, reloaded, restarted]
    default: started
  wait_listeners:
    description: Prove that mail flows on every C(inet) smtpd/postscreen listener (else
      only that the master runs).
    type: bool
    default: true
  timeout:
    description: Seconds the whole run may take (the shadow, the action, the proof and a
      rollback).
    type: int
    default: 30
  rollback:
    description:
      - Put last-known-good back when Postfix does not come up alive, then stop and start
        Postfix on it (a stop/start clears the master's throttle of a crashed service,
        which a reload would keep for about 60 seconds).
    type: bool
    default: true
  shadow:
    description:
      - Before a start, reload or restart loads files that are not last-known-good, run
        them on a shadow of the instance - a private copy with its own queue and data
        directories, its listeners on free loopback ports, every transport discarding -
        and refuse (nothing is reloaded, the files stay as they are) unless mail flows
        there. Runs in check mode too (it changes nothing live); needs root. Costs about
        a second.
      - V(false) skips it. Risk - a change that stops mail while every listener still
        answers (a misspelled restriction, a table the host cannot open) then reaches the
        live instance, and is caught only by the proof after the reload, which rolls back.
    type: bool
    default: true
  service_manager:
    description:
      - V(auto) uses systemd for the default instance (C(/etc/postfix)) on a host booted
        with systemd, else the C(postfix) command; V(systemd) always the C(postfix) unit
        (default instance only); V(command) always C(postfix -c CONFIG_DIR ...).
    type: str
    choices: [auto, systemd, command]
    default: auto
extends_documentation_fragment:
  - mailops.xclient.attributes
  - mailops.xclient.attributes.no_diff
  - mailops.xclient.config_dir
seealso:
  - module: mailops.xclient.postfix_service
  - module: mailops.xclient.postconf
"""

EXAMPLES = r"""
- name: Reload Postfix and prove every smtpd listener answers
  mailops.xclient.postfix_instance:
    state: reloaded

- name: A private instance runs (no change when it does); a config it cannot run stays put
  mailops.xclient.postfix_instance:
    config_dir: /etc/postfix-test
    state: started
    service_manager: command
    rollback: false
    timeout: 20
"""

RETURN = r"""
action:
  description: What was (or in check mode would be) run - start, stop, reload, restart, or null.
  returned: always
  type: str
service_manager:
  description: V(systemd) or V(postfix).
  returned: always
  type: str
state:
  description: The state asked for (O(state)).
  returned: always
  type: str
  sample: reloaded
shadow:
  description: The shadow run before loading the files - C(proved), C(seconds), C(words)
    (Postfix's answers when mail does not flow).
  returned: when files that are not last-known-good were to be loaded
  type: dict
listeners:
  description: Per smtpd listener, the address and port probed, whether mail flows
    (C(ok)), the answer that refused it (C(reply)) and the C(transcript).
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: The C(master.cf) service, C(NAME/TYPE).
      type: str
      sample: 127.0.0.1:10025/inet
    address:
      description: The address probed.
      type: str
      sample: 127.0.0.1
    port:
      description: The port probed.
      type: int
      sample: 10025
    ok:
      description: Whether mail flows through it (C(EHLO), C(STARTTLS) where offered,
        C(MAIL FROM:<>), C(RCPT TO:<postmaster@...>) answered 2xx; no message is sent).
      type: bool
    reply:
      description: The last server line, or the answer that refused it.
      type: str
      sample: 250 2.1.5 Ok
    transcript:
      description: The proof's dialogue with the listener, one line per entry.
      type: list
      elements: str
      sample: ["<<< 220 mx.example.net ESMTP Postfix", ">>> EHLO mx.example.net"]
rolled_back:
  description: Last-known-good was put back because Postfix did not come up alive.
  returned: always
  type: bool
rejected_files:
  description: Where the rejected main.cf and master.cf were kept.
  returned: when rolled back
  type: list
  elements: str
fatal:
  description: Postfix's own fatal messages read after the failed action.
  returned: on failure
  type: list
  elements: str
preflight:
  description:
    - On failure, what the pre-flight check of the config modules finds in the rejected
      files compared with last-known-good (the master's own message at start-up often
      reaches no log).
  returned: on failure
  type: list
  elements: str
last_known_good:
  description: The directory holding the last-known-good copy.
  returned: on success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailops.xclient.plugins.module_utils._module_glue import (
    CONFIG_DIR_SPEC,
    postconf_for,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_instance import (
    STATES,
    Controls,
    InstanceError,
    is_default_instance,
    manage,
    uses_systemd,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=CONFIG_DIR_SPEC,
            state=dict(type="str", default="started", choices=list(STATES)),
            wait_listeners=dict(type="bool", default=True),
            timeout=dict(type="int", default=30),
            rollback=dict(type="bool", default=True),
            shadow=dict(type="bool", default=True),
            service_manager=dict(type="str", default="auto",
                                 choices=["auto", "systemd", "command"]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["timeout"] < 1:
        module.fail_json(msg=f"timeout: {p['timeout']} must be at least 1 second")
    real = postconf_for(module, p["config_dir"])
    manager = p["service_manager"]
    if manager == "systemd" and not is_default_instance(p["config_dir"]):
        module.fail_json(msg=f"service_manager: systemd manages only the default instance"
                         f" (/etc/postfix), not {p['config_dir']}")
    systemd = manager == "systemd" or (manager == "auto" and uses_systemd(p["config_dir"]))
    systemctl = module.get_bin_path("systemctl", required=True) if systemd else None
    postmap = module.get_bin_path("postmap", opt_dirs=["/usr/sbin"])
    try:
        result = manage(Controls(real, systemctl, postmap), p["state"],
                        check_mode=module.check_mode,
                        timeout=p["timeout"], wait_listeners=p["wait_listeners"],
                        rollback=p["rollback"], shadow=p["shadow"])
    except InstanceError as exc:
        module.fail_json(msg=str(exc), **dict({"changed": True}, **exc.result))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
