#!/usr/bin/python
# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

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
    description:
      - Private service (column 3), reachable only through the mail system's private
        directory.
      - Omitted, it is C(n) for C(inet) (Postfix's own C(-) default means C(y), and the
        master process exits on the next reload with C(inet service cannot be private),
        taking every listener down) and C(-) (private) for the other types.
      - V(true) with O(type=inet) is refused before anything is written.
    type: bool
  unprivileged:
    description:
      - Runs as the mail owner (column 4); omitted means C(-) (yes) for every type.
      - V(false) is refused for C(smtpd), C(postscreen), C(tlsproxy) and C(dnsblog), which
        exit when started with root privileges.
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
    description:
      - Command and its arguments (column 8 on), such as C(smtpd). Required with
        O(state=present).
      - The command is a program name in C(daemon_directory) (Postfix runs
        C(daemon_directory/COMMAND)); anything else is refused.
      - For C(pipe) and C(spawn) everything after C(argv=) is the external command's, a
        C(-o) there included; only C(-o) overrides before the first non-option argument
        are Postfix's.
    type: str
  options:
    description:
      - The C(-o name=value) overrides to set. Values may contain spaces and balanced
        braces (C(inline:{ 192.0.2.1=OK })); they are written as C({ name = value }) then.
        A value whose braces do not balance is refused.
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
  force:
    description:
      - Allow O(state=absent) to remove a service Postfix itself needs. Those are the
        services C(main.cf) names - the value of every C(*_service_name) parameter
        (C(cleanup), C(qmgr), C(pickup), C(rewrite), C(bounce), C(defer), C(trace),
        C(verify), C(proxymap), C(proxywrite), C(flush), C(showq), C(error), C(scache),
        C(tlsmgr), C(postlog), ...), every transport a C(*_transport) parameter or
        C(content_filter) routes mail to (C(smtp), C(relay), C(local), C(virtual), ...),
        and C(anvil) and C(retry) - asked of C(postconf -x) for the instance, so renamed
        services count too. Without such a service mail stops or is deferred for ever while
        every listener still answers; C(postfix check) passes it.
      - C(inet) listeners are never protected.
      - The removal is still tried on a shadow first (O(shadow)); where mail needs the
        service, mail stops there too and the change is refused, so removing it anyway
        also takes O(shadow=false).
    type: bool
    default: false
  allow_unbound:
    description:
      - Accept an C(inet) listener address this host does not have yet (a virtual IP that
        comes up later). Without it such an address is refused, since the master process
        exits on reload when it cannot bind.
    type: bool
    default: false
extends_documentation_fragment:
  - mailops.xclient.attributes
  - mailops.xclient.config_dir
  - mailops.xclient.config_dir.edit
  - mailops.xclient.config_dir.allow_broad
notes:
  - "Defaults per O(type) (columns left out): C(inet) - private C(n), unprivileged C(-)
    (y), chroot C(-), wakeup C(-) (never), maxproc C(-) (C(default_process_limit));
    C(unix), C(unix-dgram), C(fifo), C(pass) - every column C(-) (private y, unprivileged
    y)."
  - "Before anything is written, a pre-flight check refuses what C(postfix check) lets
    through but Postfix dies of: a listener on an address this host lacks (see
    O(allow_unbound)) or on a port another process holds, two listeners on one address
    and port, a command not in C(daemon_directory), a lookup table in O(options) that is
    missing, not built or does not parse (asked of C(postmap)). The message names the
    field and C(main.cf) / C(master.cf) stay byte-identical."
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

- name: A content filter's return path (unix service, a pipe to an external command)
  mailops.xclient.postfix_service:
    name: filter
    type: unix
    unprivileged: false
    chroot: false
    maxproc: "10"
    command: pipe flags=Rq user=nobody argv=/bin/cat -o mode=fast ${sender}

- name: The content filter is gone (a backup of master.cf is kept)
  mailops.xclient.postfix_service:
    name: filter
    type: unix
    state: absent
    backup: true
"""

RETURN = r"""
entry_before:
  description: The entry as C(postconf -M) printed it before, null if there was none.
  returned: always
  type: str
entry_after:
  description:
    - The entry after, null if removed; in the same rendering as RV(entry_before) (as
      C(postconf -M) prints it once written, C(-o {name=value}) when the value has
      whitespace), so a rerun's RV(entry_before) equals this value exactly.
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
shadow:
  description:
    - The change tried on a shadow instance before anything was written (option
      O(shadow)); the keys C(proved), C(seconds) and C(listeners), as documented for
      RV(mailops.xclient.postconf#module:shadow).
  returned: when a changed file was tried on a shadow
  type: dict
  sample: {proved: true, seconds: 0.42, listeners: [{service: 127.0.0.1:10025/inet, ok: true}]}
"""

import functools

from ansible_collections.mailops.xclient.plugins.module_utils._config_module import (
    ConfigModule,
)
from ansible_collections.mailops.xclient.plugins.module_utils._service_edit import (
    ARGUMENT_SPEC,
    REQUIRED_IF,
    apply,
    planned,
    problem_field,
)


def main() -> None:
    run = ConfigModule(ARGUMENT_SPEC, required_if=REQUIRED_IF)
    p = run.params
    with run.errors():
        key, desired = planned(p)
    run.edit(lambda pc, _entry: apply(pc, key, desired, p["purge_options"], p["force"]),
             field=functools.partial(problem_field, key), allow_unbound=p["allow_unbound"],
             allow_broad=p["allow_broad"])


if __name__ == "__main__":
    main()
