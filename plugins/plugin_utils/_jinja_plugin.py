# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The glue every Jinja2 test and filter plugin of the collection shares: the class Ansible
looks for in a test plugin (``TestModule``) or a filter plugin (``FilterModule``), each
mapping its one function under the function's name, and a test that is "does this parse"."""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple, Type

Function = Callable[..., Any]


def _named(function: Function) -> Dict[str, Function]:
    return {function.__name__: function}


def tests_of(function: Function) -> Type[Any]:
    """The ``TestModule`` class of a test plugin whose one test is ``function``, under its
    name (the plugin file's name)."""

    class TestModule:
        def tests(self) -> Dict[str, Function]:
            return _named(function)

    return TestModule


def filters_of(function: Function) -> Type[Any]:
    """The ``FilterModule`` class of a filter plugin whose one filter is ``function``, under
    its name (the plugin file's name)."""

    class FilterModule:
        def filters(self) -> Dict[str, Function]:
            return _named(function)

    return FilterModule


def parses(parse: Callable[[Any], Any], value: Any,
           errors: Tuple[Type[BaseException], ...] = (ValueError,)) -> bool:
    """True when ``parse(value)`` returns, false when it raises one of ``errors``: a test
    built on the parser the product itself reads the value with."""
    try:
        parse(value)
    except errors:
        return False
    return True
