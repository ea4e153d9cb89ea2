# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The master.cf services Postfix itself needs: removing one stops mail although the
master and every listener stay up (``postfix check`` passes it).

Postfix names them in its own parameters, so they are asked of ``postconf -x`` rather
than listed here:

- every ``*_service_name`` parameter (``cleanup_service_name = cleanup``,
  ``queue_service_name = qmgr``, ``rewrite_service_name = rewrite``, ``bounce``,
  ``defer``, ``trace``, ``verify``, ``proxymap``, ``proxywrite``, ``pickup``, ``flush``,
  ``showq``, ``error``, ``scache``, ``tlsmgr``, ``postlog``, ...): the internal services
  the daemons connect to, under whatever name this instance gives them;
- the transports main.cf routes mail to: every ``*_transport`` parameter
  (``default_transport``, ``relay_transport``, ``local_transport``, ...) and
  ``content_filter`` (the part before ``:``); without that service mail is deferred for
  ever;
- ``anvil`` and ``retry``, which Postfix's programs use under fixed names (postconf(5)
  has no parameter for them; master.cf(5) and Postfix's default master.cf list them).

Only non-``inet`` entries are core: an ``inet`` listener is the admin's to remove.
"""

from __future__ import annotations

import re
from typing import Dict, Mapping

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import Postconf

FIXED = {"anvil": "the connection-count service smtpd and postscreen use (fixed name)",
         "retry": "the service the queue manager uses for mail it must retry (fixed name)"}
_TRANSPORT_PARAM = re.compile(r"^([a-z0-9_]+_transport|content_filter)$")


def core_from(values: Mapping[str, str]) -> Dict[str, str]:
    """Service name -> why Postfix needs it, from ``postconf -x`` name/value pairs."""
    out: Dict[str, str] = dict(FIXED)
    for name, value in sorted(values.items()):
        value = value.strip()
        if not value:
            continue
        if name.endswith("_service_name"):
            out.setdefault(value, f"{name} names it")
        elif _TRANSPORT_PARAM.match(name):
            transport = value.split(":", 1)[0].strip()
            if transport and re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", transport):
                out.setdefault(transport, f"{name} = {value} routes mail to it")
    return out


def core_services(pc: Postconf) -> Dict[str, str]:
    """Core service names of the instance ``pc`` reads (one ``postconf -x`` call)."""
    return core_from(pc.expanded_all())


def core_reason(pc: Postconf, name: str, kind: str) -> str:
    """Why the service NAME/KIND must stay ("" when it may go)."""
    if kind == "inet":
        return ""
    return core_services(pc).get(name, "")
