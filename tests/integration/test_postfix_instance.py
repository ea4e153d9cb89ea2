# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postfix_instance on a real private Postfix: proof of life, last-known-good, rollback."""

from __future__ import annotations

import glob
import os
import signal
import stat
import time

from private_postfix import free_port
from run_module import run_module

LKG = ".mailops-xclient-last-known-good"


def instance(inst, state, check_mode=False, **extra):
    return run_module("postfix_instance", dict(extra, config_dir=inst.config_dir,
                                               state=state, timeout=extra.get("timeout", 15)),
                      check_mode=check_mode)


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def test_healthy_reload_proves_every_listener_and_keeps_one_lkg_copy(fresh_postfix):
    result = instance(fresh_postfix, "reloaded")
    assert result["changed"] and not result.get("failed"), result
    assert result["action"] == "reload" and result["service_manager"] == "postfix"
    ports = {a["port"] for a in result["listeners"] if a["ok"]}
    assert set(fresh_postfix.ports.values()) <= ports  # smtps included (greeted over TLS)
    lkg = os.path.join(fresh_postfix.config_dir, LKG)
    for name in ("main.cf", "master.cf"):
        path = os.path.join(lkg, name)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert read(path) == read(os.path.join(fresh_postfix.config_dir, name))
    instance(fresh_postfix, "reloaded")
    assert sorted(os.listdir(lkg)) == ["main.cf", "master.cf"]  # one copy, not a pile


def test_hand_broken_master_cf_is_rolled_back(fresh_postfix):
    cfg = fresh_postfix.config_dir
    assert not instance(fresh_postfix, "reloaded").get("failed")
    good = read(os.path.join(cfg, "master.cf"))
    port = free_port()
    # as a user's manual edit would: an inet listener left private ('-')
    broken = good + f"127.0.0.1:{port} inet - - n - - smtpd\n".encode()
    with open(os.path.join(cfg, "master.cf"), "wb") as fh:
        fh.write(broken)
    result = instance(fresh_postfix, "reloaded", timeout=8)
    assert result.get("failed") and result["rolled_back"] is True, result
    assert "inet service cannot be private" in result["msg"], result["msg"]
    assert f"127.0.0.1:{port}/inet" in result["msg"]
    rejected = glob.glob(os.path.join(cfg, "master.cf.rejected-*"))
    assert len(rejected) == 1 and read(rejected[0]) == broken
    assert read(os.path.join(cfg, "master.cf")) == good
    assert fresh_postfix.running()
    answers = result["listeners"]
    assert answers and all(a["ok"] for a in answers), answers


def test_smtpd_that_dies_at_connect_is_rolled_back_with_its_fatal_message(fresh_postfix):
    cfg = fresh_postfix.config_dir
    assert not instance(fresh_postfix, "reloaded").get("failed")
    good = read(os.path.join(cfg, "master.cf"))
    port = free_port()
    broken = good + (f"127.0.0.1:{port} inet n - n - - smtpd\n"
                     "  -o {smtpd_recipient_restrictions=permit_mynetworks, reject} }\n"
                     ).encode()
    with open(os.path.join(cfg, "master.cf"), "wb") as fh:
        fh.write(broken)
    result = instance(fresh_postfix, "reloaded", timeout=8)
    assert result.get("failed") and result["rolled_back"], result
    assert "unexpected command-line argument: }" in result["msg"], result["msg"]
    assert read(os.path.join(cfg, "master.cf")) == good


def test_rollback_false_leaves_the_files(fresh_postfix):
    cfg = fresh_postfix.config_dir
    assert not instance(fresh_postfix, "reloaded").get("failed")
    with open(os.path.join(cfg, "master.cf"), "a", encoding="utf-8") as fh:
        fh.write(f"127.0.0.1:{free_port()} inet - - n - - smtpd\n")
    broken = read(os.path.join(cfg, "master.cf"))
    result = instance(fresh_postfix, "reloaded", rollback=False, timeout=5)
    assert result.get("failed") and not result["rolled_back"], result
    assert read(os.path.join(cfg, "master.cf")) == broken


def test_kill_9_then_started(fresh_postfix):
    pidfile = os.path.join(fresh_postfix.queue_dir, "pid", "master.pid")
    pid = int(open(pidfile, encoding="ascii").read())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while fresh_postfix.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    # the children of the killed master still hold the listening sockets for a moment
    result = instance(fresh_postfix, "started", timeout=20)
    assert result["changed"] and result["action"] == "start", result
    assert not result.get("failed"), result
    assert fresh_postfix.running()
    assert all(a["ok"] for a in result["listeners"])


def test_started_is_idempotent_and_check_mode_changes_nothing(fresh_postfix):
    result = instance(fresh_postfix, "started")
    assert not result["changed"] and result["action"] is None, result
    assert all(a["ok"] for a in result["listeners"])
    predicted = instance(fresh_postfix, "stopped", check_mode=True)
    assert predicted["changed"] and predicted["action"] == "stop", predicted
    assert fresh_postfix.running()
    assert not os.path.exists(os.path.join(fresh_postfix.config_dir, LKG))


def test_stopped_then_check_mode_start_then_start(fresh_postfix):
    result = instance(fresh_postfix, "stopped")
    assert result["changed"] and not fresh_postfix.running(), result
    assert not instance(fresh_postfix, "stopped")["changed"]
    predicted = instance(fresh_postfix, "started", check_mode=True)
    assert predicted["changed"] and predicted["action"] == "start"
    assert not fresh_postfix.running()
    result = instance(fresh_postfix, "restarted")
    assert result["changed"] and result["action"] == "start" and fresh_postfix.running()


def test_bad_timeout_names_the_field(fresh_postfix):
    result = instance(fresh_postfix, "reloaded", timeout=0)
    assert result.get("failed") and result["msg"].startswith("timeout:"), result


def test_first_edit_seeds_last_known_good_so_the_first_reload_can_roll_back(fresh_postfix):
    """No reload through postfix_instance yet: the first config-module edit keeps the files
    the running master started with, so a reload that fails afterwards has something to
    go back to."""
    cfg = fresh_postfix.config_dir
    original = {n: read(os.path.join(cfg, n)) for n in ("main.cf", "master.cf")}
    assert not os.path.exists(os.path.join(cfg, LKG))
    result = run_module("xclient_hosts", {"hosts": ["192.0.2.25"], "config_dir": cfg})
    assert result["changed"], result
    for name, data in original.items():
        assert read(os.path.join(cfg, LKG, name)) == data
    with open(os.path.join(cfg, "master.cf"), "a", encoding="utf-8") as fh:
        fh.write(f"127.0.0.1:{free_port()} inet - - n - - smtpd\n")
    result = instance(fresh_postfix, "reloaded", timeout=8)
    assert result.get("failed") and result["rolled_back"], result
    assert read(os.path.join(cfg, "master.cf")) == original["master.cf"]
    assert fresh_postfix.running()
