# SPDX-License-Identifier: GPL-3.0-or-later
"""xclient_inject and the xclient-inject command inject, by default, where the
fetch_inject role's injection listener is: the role's quarantine is re-injected without
naming a port (it was 127.0.0.1:25, a listener that rarely authorizes XCLIENT)."""

from __future__ import annotations

import os

import yaml

from ansible_collections.mailops.xclient.plugins.module_utils import _inject
from ansible_collections.mailops.xclient.plugins.modules import xclient_inject

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))


def role_default(name):
    with open(os.path.join(ROOT, "roles", "fetch_inject", "defaults", "main.yml"),
              encoding="utf-8") as fh:
        return yaml.safe_load(fh)[name]


def test_module_command_and_role_agree_on_the_injection_listener():
    options = yaml.safe_load(xclient_inject.DOCUMENTATION)["options"]
    role = (role_default("fetch_inject_listener_address"),
            role_default("fetch_inject_listener_port"))
    assert (options["server"]["default"], options["port"]["default"]) == role
    # the module's argument spec takes these; the command's options too
    assert (_inject.INJECT_SERVER, _inject.INJECT_PORT) == role
    assert (_inject.Target().server, _inject.Target().port) == role
    args = _inject._parser().parse_args(["postmaster@example.net"])
    assert (args.server, args.port) == role
