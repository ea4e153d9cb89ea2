# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""No module's EXAMPLES teach an XCLIENT list the guard would refuse (postfix_service's
example once set it to 0.0.0.0/0): every XCLIENT/XFORWARD list in every module's EXAMPLES,
judged by the guard's literal rules and the host's Public Suffix List."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Iterator, List, Tuple

import yaml

from ansible_collections.mailops.xclient.plugins import modules
from ansible_collections.mailops.xclient.plugins.module_utils._host_patterns import (
    broad_reason,
    split_list,
)
from ansible_collections.mailops.xclient.plugins.module_utils._public_suffix import load
from ansible_collections.mailops.xclient.plugins.module_utils._xclient_guard import (
    XCLIENT_LISTS,
)


def lists_in(task: Any) -> Iterator[str]:
    """XCLIENT list values anywhere in a task's arguments; not those of a task that says
    it is broad on purpose (allow_broad: true), which shows that option."""
    if isinstance(task, dict):
        if task.get("allow_broad") is True:
            return
        for key, value in task.items():
            if key in XCLIENT_LISTS and isinstance(value, str):
                yield value
            elif key == "name" and value in XCLIENT_LISTS and "value" in task:
                yield str(task["value"])
            elif key == "hosts" and isinstance(value, list):
                yield ", ".join(str(v) for v in value)
            else:
                yield from lists_in(value)
    elif isinstance(task, list):
        for item in task:
            yield from lists_in(item)


def examples() -> List[Tuple[str, str]]:
    out = []
    for info in pkgutil.iter_modules(modules.__path__):
        module = importlib.import_module(f"{modules.__name__}.{info.name}")
        for value in lists_in(yaml.safe_load(module.EXAMPLES)):
            out.append((info.name, value))
    return out


def test_examples_set_no_broad_xclient_list() -> None:
    found = examples()
    assert any(name == "postfix_service" for name, _v in found)
    assert any(name == "xclient_hosts" for name, _v in found)
    suffixes = load()
    for name, value in found:
        for pattern in split_list(value):
            assert broad_reason(pattern) is None, (name, pattern)
            if pattern[:1].isalpha() or pattern.startswith("."):
                assert suffixes.covers_suffix(pattern) is None, (name, pattern)
