# SPDX-License-Identifier: GPL-3.0-or-later
"""The module as users run it: ansible-playbook against localhost, from an installed build
of the collection (ansible-galaxy collection build + install: the session fixture
``installed_collection`` of tests/conftest.py), not from the source tree."""

from __future__ import annotations

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
