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
    details: Predicts the change without writing.
  diff_mode:
    support: full
    details: Shows each file that changes (C(main.cf), C(master.cf)) before and after.
"""
