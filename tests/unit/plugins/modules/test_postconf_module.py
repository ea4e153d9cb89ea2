# SPDX-License-Identifier: GPL-3.0-or-later
"""postconf's reading of its options: what each parameter is set to, or removed."""

from __future__ import annotations

from typing import Any, Dict

from ansible_collections.mailops.xclient.plugins.modules.postconf import wanted_settings


def params(**over: Any) -> Dict[str, Any]:
    return dict({"name": None, "value": None, "settings": None, "state": "present",
                 "service": None}, **over)


def test_an_empty_settings_value_is_an_empty_setting_not_a_removal() -> None:
    wanted, _field = wanted_settings(params(settings={"relay_domains": None, "mynetworks": ""}))
    assert wanted == {"relay_domains": "", "mynetworks": ""}


def test_state_absent_removes_every_named_setting() -> None:
    given = params(settings={"relay_domains": "x", "mynetworks": None}, state="absent")
    wanted, _field = wanted_settings(given)
    assert wanted == {"relay_domains": None, "mynetworks": None}
