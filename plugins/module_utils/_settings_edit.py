# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The edit of the postconf module - parameters of main.cf, or -o overrides of one
master.cf service - as a function of a work copy (``apply``), so postfix_whatif makes the
very same edit on a shadow copy."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._config_module import (
    FieldError,
    setting_text,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    ServiceEntry,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_config_edit import (
    needs_restart,
)

# The field an error about a parameter names: field(name, "name" | "value").
Field = Callable[[str, str], str]
Wanted = Dict[str, Optional[str]]  # name -> value, None to remove


def same_value(a: Optional[str], b: Optional[str]) -> bool:
    if a is None or b is None:
        return a is b
    return " ".join(a.split()) == " ".join(b.split())


def name_field(_name: str, part: str) -> str:
    return part


def settings_field(name: str, _part: str) -> str:
    return f"settings.{name}"


def wanted_settings(p: Dict[str, Any]) -> Tuple[Wanted, Field]:
    """The parameters to manage as Postfix text (None with state=absent), and the field an
    error about a parameter names. Raises FieldError."""
    present = p["state"] == "present"
    field: Field = name_field
    if p["settings"] is None:
        if present and p["value"] is None:
            raise FieldError("value", f"required with name ({p['name']}) and state=present")
        given: Dict[str, Any] = {p["name"]: p["value"] if present else None}
    elif not p["settings"]:
        raise FieldError("settings", "give at least one parameter")
    else:
        # an empty YAML value (``relay_domains:``) is an empty setting, never a removal
        given = {str(k): (("" if v is None else v) if present else None)
                 for k, v in p["settings"].items()}
        field = settings_field
    wanted = {name: setting_text(name, value, override=bool(p["service"]),
                                 field=functools.partial(field, name))
              for name, value in given.items()}
    return wanted, field


@dataclass
class SettingsChange:
    """The values set before and after; ``single`` is the name given with O(name)."""

    before: Dict[str, Optional[str]]
    after: Dict[str, Optional[str]]
    single: Optional[str]

    def result(self, changed: bool) -> Dict[str, Any]:
        names = [n for n in self.before if not same_value(self.before[n], self.after[n])]
        restart = changed and needs_restart(names)
        out: Dict[str, Any] = dict(changed_names=names, restart_needed=restart,
                                   reload_needed=changed and not restart)
        if self.single is None:
            out.update(values_before=self.before, values_after=self.after)
        else:
            out.update(value_before=self.before[self.single],
                       value_after=self.after[self.single])
        return out


def apply(pc: Postconf, entry: Optional[ServiceEntry], wanted: Wanted,
          single: Optional[str]) -> SettingsChange:
    """Read everything first, then write (postconf waits for a freshly written main.cf to
    settle before reading it)."""
    if entry is not None:
        before = {name: entry.options.get(name) for name in wanted}
    else:
        before = pc.explicit_many(list(wanted))
    to_set = {n: v for n, v in wanted.items() if v is not None and not same_value(before[n], v)}
    to_remove = [n for n, v in wanted.items() if v is None and before[n] is not None]
    if entry is not None:
        for name, value in to_set.items():
            pc.set_service_param(entry.key, name, value)
        for name in to_remove:
            pc.remove_service_param(entry.key, name)
    else:
        pc.set_main_many(to_set)
        pc.remove_main(*to_remove)
    after = {n: before[n] if v is not None and same_value(before[n], v) else v
             for n, v in wanted.items()}
    return SettingsChange(before, after, single)


def check_known(real: Postconf, wanted: Wanted, field: Field) -> None:
    for name in real.unknown(list(wanted)):
        raise FieldError(field(name, "name"), f"Postfix does not know the parameter {name!r}"
                         f" (postconf -c {real.config_dir} says: unknown parameter)")
