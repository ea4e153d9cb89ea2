# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module returns exactly what its RETURN documents: the key paths of its results
(runs that together reach every documented key, against one private Postfix instance)
equal RETURN's, the common return values (changed, msg, ...) left out. The comparison is
tests/harness/key_paths.py, the one also used by xclient_probe's own documentation test
and, on each example's result, by tests/integration/test_examples_run.py.

A documented key that only a failure or a rollback returns is named in RARE with what
returns it (the ansible-test target of that module asserts on it)."""

from __future__ import annotations

import os

import pytest

from collection import ROOT
from key_paths import COMMON, documented_paths, module_return, returned_paths, undocumented
from run_module import run_module

MODULES_DIR = os.path.join(ROOT, "plugins", "modules")
MODULES = sorted(f[:-3] for f in os.listdir(MODULES_DIR)
                 if f.endswith(".py") and not f.startswith("_"))
# Documented keys returned only when something went wrong (checked where that happens).
RARE = {
    "postfix_instance": {
        # a rollback: the ansible-test target postfix_instance (tasks/rollback.yml)
        "rejected_files": "a rollback", "fatal": "a failed start or reload",
        "preflight": "a failed start or reload",
        # files that are not last-known-good loaded: the target postfix_instance
        "shadow": "files not yet proven loaded",
    },
    # check mode on a service that an earlier task of the play creates (the README's pair)
    "postconf": {"service_missing": "check mode, the service not created yet"},
    "xclient_hosts": {"service_missing": "check mode, the service not created yet"},
}
MESSAGE = ("Return-Path: <sender@example.org>\n"
           "Received: from client.example (client.example [203.0.113.7])\n"
           "\tby mx.isp.example (Postfix) with ESMTP id 4ABC\n"
           "\tfor <postmaster@example.net>; Wed, 25 Nov 2026 20:00:00 +0000\n"
           "From: sender@example.org\nTo: postmaster@example.net\nSubject: x\n\nbody\n")


def runs(inst, base):
    """module -> [(args, check_mode)], in an order that leaves the instance running."""
    message = os.path.join(base, "message.eml")
    with open(message, "w", encoding="utf-8") as fh:
        fh.write(MESSAGE)
    cfg = {"config_dir": inst.config_dir}
    listener = "127.0.0.1:%d" % inst.ports["authorized"]
    cidr = os.path.join(inst.config_dir, "client_access.cidr")
    return {
        "postconf": [(dict(cfg, name="in_flow_delay", value="0s", backup=True), False),
                     (dict(cfg, settings={"smtpd_helo_required": True}), True)],
        "postfix_service": [(dict(cfg, name="127.0.0.1:2", type="inet", command="smtpd",
                                  allow_unbound=True, backup=True), True),
                            (dict(cfg, name="filter", type="unix", command="pipe flags=Rq"
                                  " user=nobody argv=/bin/cat", backup=True), False),
                            (dict(cfg, name="filter", type="unix", state="absent"), False)],
        "xclient_hosts": [(dict(cfg, service=listener + "/inet", hosts=["192.0.2.25"],
                                backup=True), False)],
        "postfix_info": [(dict(cfg, login_expected=[listener + "/inet"]), False)],
        "access_cases": [(dict(cfg, service=listener + "/inet"), False),
                         (dict(cfg, service=listener + "/inet"), True)],
        "postfix_whatif": [(dict(cfg, service=listener + "/inet", derive=True, change={
            "tables": {cidr: open(cidr, encoding="utf-8").read() + "192.0.2.1/32 REJECT x\n"}},
            cases=[{"name": "c", "xclient": {"addr": "192.0.2.1"},
                    "mail_from": "a@example.org", "rcpt_to": ["postmaster@example.net"]}],
            expect_changes=[{"addr": "192.0.2.1"}]), True)],
        "postfix_instance": [(dict(cfg, state="reloaded", timeout=30), False),
                             (dict(cfg, state="started"), True)],
        "source_address": [({"destination": "127.0.0.1"}, False)],
        "xclient_inject": [({"path": message, "port": inst.ports["authorized"],
                             "rcpt_to": ["postmaster@example.net"],
                             "received_by": r"mx\.isp\.example"}, True),
                           ({"path": message, "port": inst.ports["authorized"],
                             "rcpt_to": ["postmaster@example.net"],
                             "received_by": r"mx\.isp\.example", "remove_injected": True},
                            False)],
        "xclient_probe": [({"server": "127.0.0.1", "port": inst.ports["authorized"],
                            "transcript": "all", "cases": [
                                {"name": "c", "xclient": {"addr": "192.0.2.1"},
                                 "mail_from": "a@example.org",
                                 "rcpt_to": ["postmaster@example.net"],
                                 "data": "Subject: x\n\nbody\n",
                                 "expect": {"rcpt": "accept"}},
                                {"name": "no identity", "expect": {"xclient": "offered"}},
                                {"name": "expects nothing", "mail_from": "a@example.org",
                                 "rcpt_to": ["postmaster@example.net"]},
                                {"name": "no HELO",
                                 "xclient": {"addr": "192.0.2.1", "helo": "[UNAVAILABLE]"},
                                 "mail_from": "a@example.org",
                                 "rcpt_to": ["postmaster@example.net"]}]}, True),
                          ({"server": "127.0.0.1", "port": inst.ports["authorized"],
                            "cases": [{"name": "queued", "xclient": {"addr": "192.0.2.1"},
                                       "mail_from": "a@example.org",
                                       "rcpt_to": ["postmaster@example.net"],
                                       "data": "Subject: x\n\nbody\n"}]}, False),
                          ({"server": "127.0.0.1", "port": inst.ports["authorized"],
                            "baseline": os.path.join(base, "verdicts.json"),
                            "cases": [{"name": "recorded", "xclient": {"addr": "192.0.2.1"},
                                       "mail_from": "a@example.org",
                                       "rcpt_to": ["postmaster@example.net"]}]}, False)],
    }


@pytest.fixture(scope="module")
def results(ipv4_only_postfix, tmp_path_factory):
    inst = ipv4_only_postfix
    base = str(tmp_path_factory.mktemp("return-documented"))
    return {module: [run_module(module, args, check_mode=check) for args, check in calls]
            for module, calls in runs(inst, base).items()}


def test_every_module_is_run(results):
    assert sorted(results) == MODULES


@pytest.mark.parametrize("module", MODULES)
def test_returned_keys_are_the_documented_keys(results, module):
    doc = module_return(os.path.join(MODULES_DIR, f"{module}.py"))
    got = results[module]
    for result in got:
        assert not result.get("failed"), (module, result.get("msg"))
        assert undocumented(result, doc) == set(), module
    returned = set().union(*(returned_paths({k: v for k, v in r.items() if k not in COMMON},
                                            doc=doc) for r in got))
    rare = set(RARE.get(module, {}))
    assert documented_paths(doc) - rare - returned == set(), module
