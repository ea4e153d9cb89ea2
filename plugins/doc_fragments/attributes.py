# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The attributes every module of the collection documents. A module adds its own
    C(support) (and C(details)) for C(check_mode) and C(diff_mode), or takes a section
    below, or config_dir.EDIT."""

    # The descriptions of the attributes; every module extends this one.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return the changed status it predicts, without
      changing the target.
  diff_mode:
    description: Returns what changed (or would change in check mode) in diff mode.
  platform:
    description: Target systems the module runs on.
    support: full
    platforms: posix
"""

    # A module that only reads.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: Only reads.
  diff_mode:
    support: none
    details: Nothing changes, so there is no diff.
"""

    # A module that changes something a diff cannot show; it documents its own details.
    NO_DIFF = r"""
options: {}
attributes:
  diff_mode:
    support: none
"""
