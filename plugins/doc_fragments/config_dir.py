# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The Postfix configuration directory option (module_utils._module_glue.CONFIG_DIR_SPEC)
    and, for the modules that edit the files in it, the backup and shadow options (EDIT,
    BACKUP_SPEC) and, for those that edit any parameter, allow_broad (ALLOW_BROAD)."""

    DOCUMENTATION = r"""
options:
  config_dir:
    description: Postfix configuration directory (with C(main.cf) and C(master.cf)); another
      one than the default serves a private instance.
    type: path
    default: /etc/postfix
"""

    # The modules that edit main.cf / master.cf through the safe edit path
    # (module_utils._config_module.ConfigModule): the backup option and their check/diff
    # support.
    EDIT = r"""
options:
  backup:
    description: Keep a timestamped copy of each file that changes.
    type: bool
    default: false
  shadow:
    description:
      - Before anything is written (and in check mode too), run the changed files on a
        shadow of the instance - a private copy with its own queue and data directories,
        listeners on free loopback ports, every transport discarding, no signal to the live
        master - and refuse the change, files byte-identical, with Postfix's own words,
        unless mail flows there - on every smtpd listener C(EHLO), C(STARTTLS) where
        offered, C(MAIL FROM:<>), C(RCPT TO:<postmaster@DOMAIN>) answered 2xx, a test
        message reaching its (discarding) transport, and no C(fatal:), C(panic:),
        C(warning:) ... C(unknown) or C(Server configuration error) in the shadow's log. A
        failure the current files have already does not block the change (a warning says
        so). A change that passes refreshes the last-known-good copy that
        M(mailops.xclient.postfix_instance) rolls back to. Needs root (else a warning and
        no shadow); costs about a second.
      - V(false) skips it. Risk - a change that stops mail while every listener still
        answers C(220) (a misspelled restriction, a table type the host cannot open, a
        missing transport) is written; only the proof after the next reload by
        M(mailops.xclient.postfix_instance) catches it, live.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details:
      - Predicts the change without writing. Works for a user who may only read the config
        directory; such a user cannot see which sockets the running master holds, so a
        listener's port is taken to be the master's own where the live C(master.cf)
        listens on it, and a warning says so.
      - A C(service) that does not exist in check mode (an earlier task of the play creates
        it, and its check mode created nothing) is reported as a predicted change with
        C(service_missing=true) and a warning that it could not be checked, rather than
        as an error. Outside check mode it is an error naming C(service).
      - "Refused before anything is written, in check mode too: values of the wrong type
        for the parameter (asked of C(postconf -d)), and XCLIENT / XFORWARD lists that
        authorize too much (see O(mailops.xclient.xclient_hosts#module:allow_broad)).
        A C(main.cf) or C(master.cf) that is a symlink is edited through the link."
  diff_mode:
    support: full
    details: Shows each file that changes (C(main.cf), C(master.cf)) before and after.
"""

    # The modules that edit any parameter (postconf, postfix_service): the guard on
    # XCLIENT / XFORWARD lists that xclient_hosts applies (module_utils._xclient_guard).
    ALLOW_BROAD = r"""
options:
  allow_broad:
    description:
      - Allow an XCLIENT or XFORWARD list (C(smtpd_authorized_xclient_hosts),
        C(smtpd_authorized_xforward_hosts)) that authorizes the world or a wide slice of
        it. Without it the patterns this task adds to such a list are judged as
        M(mailops.xclient.xclient_hosts) judges them, on what they effectively match (see
        its O(mailops.xclient.xclient_hosts#module:allow_broad)), and the edit is refused.
    type: bool
    default: false
"""
