# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postfix_instance on the harness's private Postfix, whose listeners include STARTTLS and
SMTPS: every one of them, the wrapper-mode TLS one included, must greet after a reload.

States, check mode, kill -9, last-known-good, rollback and bad input are tested by the
ansible-test integration target tests/integration/targets/postfix_instance
(scripts/integration-targets.sh)."""

from __future__ import annotations

import os
import stat

from run_module import run_module

LKG = ".mailops-xclient-last-known-good"


def instance(inst, state, check_mode=False, **extra):
    return run_module("postfix_instance", dict(extra, config_dir=inst.config_dir,
                                               state=state, timeout=extra.get("timeout", 30)),
                      check_mode=check_mode)


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def test_healthy_reload_proves_every_listener_and_keeps_one_lkg_copy(fresh_postfix):
    result = instance(fresh_postfix, "reloaded")
    assert result["changed"] and not result.get("failed"), result
    assert result["action"] == "reload" and result["service_manager"] == "postfix"
    assert "smtps" in fresh_postfix.ports and "starttls" in fresh_postfix.ports
    by_port = {a["port"]: a for a in result["listeners"] if a["address"] == "127.0.0.1"}
    assert set(fresh_postfix.ports.values()) <= set(by_port)
    # Mail flows on every listener but [::1]: the instance's rules reject an IPv6 client
    # without a reverse name (reject_unknown_client_hostname), before the reload as after
    # it, so the proof does not blame the files for it.
    refused = [a for a in result["listeners"] if not a["ok"]]
    assert [a["address"] for a in refused] == ["::1"] * len(refused), refused
    assert all("cannot find your hostname" in a["reply"] for a in refused), refused
    assert all(by_port[p]["ok"] for p in fresh_postfix.ports.values())
    # the wrapper-mode listener greeted over TLS, with the instance's banner
    assert by_port[fresh_postfix.ports["smtps"]]["transcript"][0].startswith(
        f"S: 220 {fresh_postfix.hostname} ESMTP"), by_port[fresh_postfix.ports["smtps"]]
    lkg = os.path.join(fresh_postfix.config_dir, LKG)
    for name in ("main.cf", "master.cf"):
        path = os.path.join(lkg, name)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert read(path) == read(os.path.join(fresh_postfix.config_dir, name))
    instance(fresh_postfix, "reloaded")
    assert sorted(os.listdir(lkg)) == ["main.cf", "master.cf"]  # one copy, not a pile
