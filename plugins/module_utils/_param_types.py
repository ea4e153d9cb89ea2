# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Values typed by what Postfix expects of each parameter, asked of Postfix.

``postconf -d`` prints every parameter's default, and a default's shape tells the type
Postfix reads the parameter as (``postconf -dx``, so ``${stress?{10}:{300}}s`` reads
``300s``):

- ``yes`` / ``no``: a boolean. Postfix accepts yes or no in any case; anything else
  (``True``, what Ansible makes of a YAML ``true`` given as a string) is fatal for every
  daemon that reads it ("bad boolean configuration").
- a number with a unit (``300s``, ``5d``): a time, written as a number with an optional
  unit ``s``, ``m``, ``h``, ``d`` or ``w``; in seconds it must fit an ``int``.
- a number: an integer that must fit an ``int`` (a ``long`` for the few size parameters
  Postfix reads as one) - Postfix stops with "bad numerical configuration" otherwise.

Parameters whose default looks like a number but that take other values too are told by
the name suffixes Postfix itself uses for them (``*_feedback`` takes ``1/concurrency``,
``*_tcp_port`` a service name) and ``compatibility_level`` (``3.6``). Parameters Postfix
derives from master.cf service names (``relay_destination_concurrency_limit``) are typed
the same way, since ``postconf -d`` on the edited copy lists them.

The check looks at the values the edit writes, ``$name`` references expanded by Postfix
(``postconf -x``, ``postconf -Px`` for ``-o`` overrides), so ``-o smtpd_helo_required=$x``
with ``x`` undefined is refused too.
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    parse_settings,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    Locator,
    Problem,
)

INT_MAX = 2 ** 31 - 1
LONG_MAX = 2 ** 63 - 1
# Parameters Postfix reads as a C long (sizes in bytes): the rest are int.
LONG_PARAMETERS = frozenset({"message_size_limit", "mailbox_size_limit",
                             "virtual_mailbox_limit", "queue_minfree", "lmdb_map_size"})
# Number-shaped defaults of parameters that take other values too.
NOT_NUMBER_SUFFIXES = ("_feedback", "_tcp_port")
NOT_NUMBER = frozenset({"compatibility_level", "mail_release_date", "process_id"})
TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_TIME = re.compile(r"^(\d+)([smhdw]?)$")
_INT = re.compile(r"^[-+]?\d+$")


def classify(name: str, default: str) -> Optional[str]:
    """``"bool"``, ``"time"``, ``"int"`` or None (any text) from the expanded default."""
    default = default.strip()
    if default in ("yes", "no"):
        return "bool"
    if name in NOT_NUMBER or name.endswith(NOT_NUMBER_SUFFIXES):
        return None
    if re.match(r"^\d+[smhdw]$", default):
        return "time"
    if _INT.match(default):
        return "int"
    return None


def value_problem(kind: Optional[str], name: str, value: str) -> Optional[str]:
    """Why Postfix would not read ``value`` as ``name``'s type (None: fine)."""
    text = value.strip()
    if kind == "bool":
        if text.lower() not in ("yes", "no"):
            return (f"{name} is a boolean: write yes or no (true/false in YAML), not"
                    f" {value!r}; Postfix stops every daemon that reads it ('bad boolean"
                    " configuration')")
    elif kind == "time":
        match = _TIME.match(text)
        if not match:
            return (f"{name} is a time: a number with an optional unit s, m, h, d or w"
                    f" (like 300s), not {value!r}")
        seconds = int(match.group(1)) * TIME_UNITS.get(match.group(2) or "s", 1)
        if seconds > INT_MAX:
            return f"{name} = {value}: the time is out of range (at most {INT_MAX}s)"
    elif kind == "int":
        if not _INT.match(text):
            return f"{name} is an integer, not {value!r}"
        limit = LONG_MAX if name in LONG_PARAMETERS else INT_MAX
        if abs(int(text)) > limit:
            return (f"{name} = {value} is out of range (at most {limit}); Postfix stops with"
                    " 'bad numerical configuration'")
    return None


def _changed(before: Mapping[str, Optional[str]], after: Mapping[str, Optional[str]]
             ) -> List[str]:
    return [k for k, v in after.items() if v is not None and before.get(k) != v]


def defaults(pc: Postconf, names: List[str]) -> Dict[str, str]:
    """The expanded defaults of these parameters (``postconf -dx``, one call); unknown
    parameters are left out."""
    if not names:
        return {}
    _rc, out, _err = pc.run([pc.postconf_bin, "-c", pc.config_dir, "-dx"] + sorted(set(names)))
    return parse_settings(out)


def type_problems(before: Postconf, after: Postconf) -> List[Problem]:
    """Values the edit from ``before`` to ``after`` writes that Postfix cannot read as the
    parameter's type."""
    checks: List[Tuple[Locator, str, str]] = []  # (where, parameter, value as written)
    main_after = after.explicit_all()
    main_names = _changed(before.explicit_all(), main_after)
    old = {e.key: e.options for e in before.services()}
    for entry in after.services():
        for name in _changed(old.get(entry.key, {}), entry.options):
            checks.append((("option", entry.key, name), name, entry.options[name]))
    checks += [(("param", name), name, main_after[name] or "") for name in main_names]
    if not checks:
        return []
    kinds = {n: classify(n, d) for n, d in defaults(after, [n for _l, n, _v in checks]).items()}
    if not any(kinds.values()):
        return []
    main_values = parse_settings(after.run(
        [after.postconf_bin, "-c", after.config_dir, "-xn"] + sorted(set(main_names)))[1]
    ) if main_names else {}
    options = parse_settings(after.run([after.postconf_bin, "-c", after.config_dir, "-Px"])[1]) \
        if len(checks) > len(main_names) else {}
    problems: List[Problem] = []
    for locator, name, written in checks:
        kind = kinds.get(name)
        if kind is None:
            continue
        if locator[0] == "param":
            value = main_values.get(name, "")
        else:
            value = options.get(f"{locator[1]}/{name}", "")
        said = value_problem(kind, name, value)
        if said:
            if "$" in written:
                said += f" ({written!r} expands to {value!r})"
            problems.append(Problem(locator, said))
    return problems
