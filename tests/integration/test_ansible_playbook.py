# SPDX-License-Identifier: GPL-3.0-or-later
"""The module as users run it: ansible-playbook against localhost, from an installed build
of the collection (ansible-galaxy collection build + install: the session fixture
``installed_collection`` of tests/conftest.py), not from the source tree."""

from __future__ import annotations

import json
import os

import collection
from private_postfix import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE_PLAYBOOK = os.path.join(HERE, "playbooks", "probe_module.yml")


def test_ansible_doc_renders_from_installed_build(installed_collection):
    done = collection.run(installed_collection, ["ansible-doc", "mailops.xclient.xclient_probe"])
    assert done.returncode == 0, done.stderr
    # loaded from the installed copy, not from the source tree
    assert f"> MODULE mailops.xclient.xclient_probe ({installed_collection}/" in done.stdout
    assert "fail_on_mismatch" in done.stdout and "concurrency" in done.stdout


def test_probe_playbook(installed_collection, postfix_instance):
    extra = {"authorized_port": postfix_instance.ports["authorized"],
             "unauthorized_port": postfix_instance.ports["unauthorized"],
             "closed_port": free_port()}
    done = collection.playbook(installed_collection, PROBE_PLAYBOOK, extra_vars=extra,
                               timeout=300)
    assert done.returncode == 0, done.tail()
    stats = done.host_stats()
    assert (stats["failures"], stats["unreachable"], stats["ignored"]) == (0, 0, 2), stats
    # the two deliberate failures, and why they failed (the play asserts on the details)
    ignored = {t["task"]: t["result"]["msg"] for t in done.statuses("ignored")}
    assert set(ignored) == {"A case whose expectation does not hold fails the task",
                            "Bad input fails before connecting, naming case and field"}
    assert ignored["A case whose expectation does not hold fails the task"].startswith(
        "1 of 2 cases did not behave as expected"), ignored
    assert ignored["Bad input fails before connecting, naming case and field"].startswith(
        "cases[0] (bad address): xclient.addr:"), ignored
    (rules,) = done.named("Access rules hold for these client identities")
    assert rules["status"] == "ok"
    assert [(c["name"], c["passed"]) for c in rules["result"]["cases"]] == [
        ("blocked network is refused at RCPT", True), ("a good client is accepted", True)]


VERIFY_BAD_CASE = """\
- name: The verify role's case check
  hosts: localhost
  gather_facts: false
  roles:
    - role: mailops.xclient.verify
      vars:
        verify_proxy: {server: 127.0.0.1, port: 9}
        verify_cases:
          - {name: with a login, via: proxy, xclient: {addr: 192.0.2.1, login: %s},
             expect: {xclient: accepted}}
          - {name: goes nowhere, via: nowhere, expect: {rcpt: accept}}
"""


def test_verify_role_case_check_names_the_case_and_keeps_the_login_out(installed_collection,
                                                                       tmp_path):
    """A case naming no target fails before any probe, naming the case; the check's result
    holds no case (its loop went over whole cases, so every callback and AWX job event
    showed each case's xclient.login)."""
    login = "verifyLOGIN" + os.urandom(8).hex()
    play = tmp_path / "verify_bad_case.yml"
    play.write_text(VERIFY_BAD_CASE % login, encoding="utf-8")
    done = collection.playbook(installed_collection, str(play), "-v", timeout=300)
    assert done.returncode == 2, done.tail()
    (check,) = done.named("Cases name a place to go through")
    assert check["status"] == "failed"
    msgs = [r.get("msg", "") for r in check["result"]["results"]]
    assert msgs[0] == "All assertions passed"
    assert msgs[1].startswith(
        "verify_cases[1] (goes nowhere).via: nowhere is not proxy, filter"), msgs
    assert not done.named("Probe through the proxy")
    assert login not in json.dumps(done.tasks) and login not in done.stdout + done.stderr
