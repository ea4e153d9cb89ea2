# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The Postfix configuration directory option (module_utils._module_glue.CONFIG_DIR_SPEC)
    and, for the modules that edit the files in it, the backup option (BACKUP_SPEC)."""

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
