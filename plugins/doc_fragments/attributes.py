# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The attributes every module of the collection documents. A module adds its own
    C(support) (and C(details)) for C(check_mode) and C(diff_mode), or takes one of the
    sections below."""

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

    # A module that edits main.cf / master.cf through mailops.xclient's safe edit path.
    CONFIG_EDIT = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: Predicts the change without writing.
  diff_mode:
    support: full
"""

    # A module that changes no file: it reads, or acts on something a diff cannot show.
    NO_DIFF = r"""
options: {}
attributes:
  diff_mode:
    support: none
"""
