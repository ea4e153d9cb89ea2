# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Key paths of a module result and of its RETURN documentation, to compare the two."""

from __future__ import annotations

from typing import Any, Mapping, Set


def returned_paths(value: Any, prefix: str = "") -> Set[str]:
    """Every key path of a result: ``cases.stages.rcpt.recipient`` (lists are walked)."""
    if isinstance(value, list):
        return set().union(*(returned_paths(v, prefix) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    out: Set[str] = set()
    for key, sub in value.items():
        out |= {prefix + key} | returned_paths(sub, prefix + key + ".")
    return out


def documented_paths(doc: Mapping[str, Any], prefix: str = "") -> Set[str]:
    """Every key path a RETURN block documents (walking ``contains``)."""
    out: Set[str] = set()
    for key, entry in doc.items():
        out |= {prefix + key} | documented_paths(entry.get("contains") or {}, prefix + key + ".")
    return out
