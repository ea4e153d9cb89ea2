# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Key paths of a module result and of its RETURN documentation, to compare the two: the
one definition used by every test that checks "returned keys == documented keys"."""

from __future__ import annotations

import ast
import os
from typing import Any, Dict, Mapping, Optional, Set

from ansible.module_utils.common.yaml import yaml_load

# What Ansible or AnsibleModule adds to any result (the common return values), not the
# module's own: not documented in RETURN.
COMMON = frozenset({"changed", "failed", "msg", "invocation", "warnings", "deprecations",
                    "diff", "skipped", "exception", "rc", "_ansible_no_log",
                    "_ansible_verbose_always", "_ansible_verbose_override", "ansible_facts"})


def returned_paths(value: Any, prefix: str = "",
                   doc: Optional[Mapping[str, Any]] = None) -> Set[str]:
    """Every key path of a result: ``cases.stages.rcpt.recipient`` (lists are walked).
    With ``doc`` (a RETURN block), a documented dictionary without ``contains`` (free-form
    data such as a listener's options) is a leaf: its keys are values, not structure."""
    if isinstance(value, list):
        return set().union(*(returned_paths(v, prefix, doc) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    out: Set[str] = set()
    for key, sub in value.items():
        out.add(prefix + key)
        if doc is None:
            out |= returned_paths(sub, prefix + key + ".")
        elif key in doc and doc[key].get("contains"):
            out |= returned_paths(sub, prefix + key + ".", doc[key]["contains"])
        elif key not in doc:
            out |= returned_paths(sub, prefix + key + ".", {})
    return out


def documented_paths(doc: Mapping[str, Any], prefix: str = "") -> Set[str]:
    """Every key path a RETURN block documents (walking ``contains``)."""
    out: Set[str] = set()
    for key, entry in doc.items():
        out |= {prefix + key} | documented_paths(entry.get("contains") or {}, prefix + key + ".")
    return out


def module_return(path: str) -> Dict[str, Any]:
    """The RETURN block of a module file, read without importing it."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "RETURN"
                and isinstance(node.value, ast.Constant)):
            return yaml_load(node.value.value) or {}
    raise AssertionError(f"{os.path.basename(path)} has no RETURN")


def undocumented(result: Mapping[str, Any], doc: Mapping[str, Any]) -> Set[str]:
    """The key paths of a module's result that its RETURN does not document (the common
    return values left out)."""
    own = {k: v for k, v in result.items() if k not in COMMON}
    return returned_paths(own, doc=doc) - documented_paths(doc)
