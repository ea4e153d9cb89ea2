# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The input of every Jinja2 test plugin of the collection (plugins/test): any value."""

    DOCUMENTATION = r"""
options:
  _input:
    description: The value to test.
    type: raw
    required: true
"""
