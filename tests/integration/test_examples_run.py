# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every YAML example runs as written: each task of README.md and of every module's
EXAMPLES, against a private Postfix instance, through ansible-playbook from an installed
build. Only the config directory, hosts (server, a case's source address) and ports are
substituted (and site files: the CA file of the probe's TLS example, the messages and
the quarantine Maildir of the inject examples, which are written here). After each example Postfix must
survive a reload proven by postfix_instance. An example that cannot run is a bug in
the example.
"""

from __future__ import annotations

import ast
import json
import os
import re

import pytest
import yaml

import collection
from collection import ROOT
from private_postfix import free_port, running_instance

MODULES_DIR = os.path.join(ROOT, "plugins", "modules")
# Modules whose examples create what later examples use come first.
MODULE_ORDER = ["postfix_service", "xclient_hosts", "postconf", "postfix_info",
                "postfix_instance", "xclient_probe"]
CONFIG_MODULES = {"postconf", "postfix_service", "xclient_hosts", "postfix_info",
                  "postfix_instance"}
EXAMPLE_PORTS = (10025, 10026)
# The many-hosts examples: mx's address, and the groups of the README's lab inventory. A
# play for those groups needs several hosts: here it is checked against that inventory
# (syntax, every host pattern matches); `make lab-test` (tests/integration/test_lab.py)
# runs the complete playbook it is taken from, playbooks/lab_scenario.yml.
MX_ADDRESS = "198.51.100.10"
LAB_GROUPS = {"mta", "edges", "filters", "clients"}
# Example ports that name a listener authorized for XCLIENT from this host.
AUTHORIZED_PORTS = (10027,)
MESSAGE = """\
Return-Path: <sender@example.org>
Received: from client.example (client.example [203.0.113.7])
\tby mx.isp.example (Postfix) with ESMTP id 4ABC
\tfor <postmaster@example.net>; Wed, 25 Nov 2026 20:00:00 +0000
From: sender@example.org
To: postmaster@example.net
Subject: example

body
"""


def module_examples(name):
    path = os.path.join(MODULES_DIR, f"{name}.py")
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXAMPLES":
            return yaml.safe_load(node.value.value)
    raise AssertionError(f"{name} has no EXAMPLES")


def readme_blocks():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def sources():
    out = [(f"README.md block {i + 1}", block) for i, block in enumerate(readme_blocks())]
    names = sorted(f[:-3] for f in os.listdir(MODULES_DIR)
                   if f.endswith(".py") and not f.startswith("_"))
    ordered = [n for n in MODULE_ORDER if n in names] + [n for n in names
                                                         if n not in MODULE_ORDER]
    out += [(f"{n} EXAMPLES", module_examples(n)) for n in ordered]
    return out


SOURCES = sources()


def module_of(task):
    for key in task:
        if key.startswith("mailops.xclient."):
            return key.split(".")[-1], key
    return None, None


class Substitute:
    """The only things changed in an example: config dir, hosts, ports (and a CA file)."""

    def __init__(self, inst, ports, files):
        self.inst = inst
        self.ports = ports  # example port -> instance port
        self.files = files  # example site file -> the one written for the test

    def text(self, value):
        value = re.sub(r"/etc/postfix(-test)?(?![\w-])", self.inst.config_dir, value)
        # the examples' Postfix host (mx in the many-hosts inventory) is this host here
        value = value.replace(MX_ADDRESS, "127.0.0.1")
        for old, new in self.files.items():
            value = value.replace(old, new)
        for old, new in self.ports.items():
            value = re.sub(rf"(?<=:){old}(?!\d)", str(new), value)
        return value

    def tree(self, value):
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.tree(v) for v in value]
        if isinstance(value, dict):
            return {k: self.tree(v) for k, v in value.items()}
        return value

    def task(self, task):
        task = self.tree(task)
        if task.get("delegate_to") == "mx":
            task["delegate_to"] = "localhost"
        short, key = module_of(task)
        if short is None:
            return task
        args = task[key] = dict(task[key] or {})
        if short in CONFIG_MODULES:
            args["config_dir"] = self.inst.config_dir
        if short == "xclient_inject" and isinstance(args.get("port"), int):
            args["port"] = self.ports.get(args["port"], args["port"])
        if short == "xclient_probe":
            args["server"] = "127.0.0.1"
            tls = args.get("tls", "none")
            args["port"] = self.inst.ports["starttls" if tls == "starttls" else
                                           "smtps" if tls == "smtps" else "authorized"]
            if "ca_file" in args:
                args["ca_file"] = self.inst.cert_file
            if "server_name" in args:
                args["server_name"] = self.inst.hostname
            # another address of the probing host: one the instance does not authorize
            for case in args.get("cases", []):
                if "source_address" in case:
                    case["source_address"] = "127.0.0.2"
        return task


def as_play(block, sub, name):
    """A README block (a playbook or a task list) or EXAMPLES -> one play on localhost."""
    if isinstance(block, list) and block and "hosts" in block[0]:
        play = dict(block[0])
        tasks, handlers = play.get("tasks", []), play.get("handlers", [])
    else:
        tasks, handlers = (block if isinstance(block, list) else [block]), []
    handlers = [sub.task(h) for h in handlers]
    if not any(h.get("name") == "Reload postfix" for h in handlers):
        handlers.append({"name": "Reload postfix", "mailops.xclient.postfix_instance": {
            "config_dir": sub.inst.config_dir, "state": "reloaded"}})
    return {
        "name": name, "hosts": "localhost", "gather_facts": False,
        "tasks": [sub.task(t) for t in tasks],
        "handlers": handlers,
        "post_tasks": [{"name": "Postfix survived the example",
                        "mailops.xclient.postfix_instance": {
                            "config_dir": sub.inst.config_dir, "state": "reloaded",
                            "timeout": 15}}],
    }


def site_files(base):
    """The messages the inject examples name: a file and a quarantine Maildir."""
    message = os.path.join(base, "message.eml")
    with open(message, "w", encoding="utf-8") as fh:
        fh.write(MESSAGE)
    maildir = os.path.join(base, "quarantine")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    with open(os.path.join(maildir, "new", "1.example"), "w", encoding="utf-8") as fh:
        fh.write("X-Xclient-Inject-Envelope-From: <sender@example.org>\n"
                 "X-Xclient-Inject-Envelope-To: <postmaster@example.net>\n" + MESSAGE)
    return {"/var/lib/xclient-inject/quarantine": maildir, "/tmp/message.eml": message}


@pytest.fixture(scope="module")
def example_postfix():
    with running_instance("xclient-pf-examples-", ipv6=True) as inst:
        ports = {p: free_port() for p in EXAMPLE_PORTS}
        ports.update({p: inst.ports["authorized"] for p in AUTHORIZED_PORTS})
        yield inst, ports, site_files(inst.base)


def test_every_module_has_examples():
    """Each module's EXAMPLES is a task list, and every one of its tasks but the set-up
    ones shows that module."""
    examples = {s.split()[0]: b for s, b in SOURCES if s.endswith(" EXAMPLES")}
    assert sorted(examples) == sorted(f[:-3] for f in os.listdir(MODULES_DIR)
                                      if f.endswith(".py") and not f.startswith("_"))
    for name, block in examples.items():
        assert isinstance(block, list) and block, name
        shown = [module_of(task)[0] for task in block]
        assert name in shown, (name, shown)


def lab_inventory():
    """The README's many-hosts inventory block."""
    found = [b for _s, b in SOURCES if isinstance(b, dict) and "all" in b]
    assert len(found) == 1, "the README shows one many-hosts inventory"
    return found[0]


def check_against_lab_inventory(installed_collection, tmp_path, block):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(lab_inventory()))
    if isinstance(block, dict):  # the inventory itself: Ansible reads it, the groups exist
        done = collection.run(installed_collection,
                              ["ansible-inventory", "-i", str(inventory), "--list"],
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        listed = json.loads(done.stdout)
        assert LAB_GROUPS <= set(listed), listed
        return
    play_path = tmp_path / "play.yml"
    play_path.write_text(yaml.safe_dump(block))
    done = collection.run(installed_collection, ["ansible-playbook", "-i", str(inventory),
                                                 "--syntax-check", str(play_path)],
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Could not match supplied host pattern" not in done.stdout + done.stderr


def is_many_hosts(block):
    if isinstance(block, dict) and "all" in block:
        return True
    return (isinstance(block, list) and bool(block) and isinstance(block[0], dict)
            and str(block[0].get("hosts", "")) in LAB_GROUPS)


def is_ee_definition(block):
    """The README's execution environment definition (ansible-builder): not Ansible
    content. scripts/ee-check.sh (make test) builds its context with this collection."""
    return isinstance(block, dict) and "version" in block and "dependencies" in block


def check_ee_definition(block):
    """It installs this collection from Galaxy, with the ansible-core and ansible-runner
    the tests pin (ee-check.sh asserts the same, and builds it)."""
    deps = block["dependencies"]
    assert deps["galaxy"] == {"collections": [{"name": "mailops.xclient"}]}, deps
    pins = set()
    for name in os.listdir(os.path.join(ROOT, "requirements")):
        if name.startswith("core-py") or name == "test.txt":
            with open(os.path.join(ROOT, "requirements", name), encoding="utf-8") as fh:
                pins.update(line.strip() for line in fh)
    assert deps["ansible_core"]["package_pip"] in pins, deps
    assert deps["ansible_runner"]["package_pip"] in pins, deps


@pytest.mark.parametrize("source", range(len(SOURCES)), ids=[s for s, _b in SOURCES])
def test_example_runs_as_written(installed_collection, example_postfix, tmp_path,
                                 source):
    inst, ports, files = example_postfix
    name, block = SOURCES[source]
    if is_many_hosts(block):
        check_against_lab_inventory(installed_collection, tmp_path, block)
        return
    if is_ee_definition(block):
        check_ee_definition(block)
        return
    play = as_play(block, Substitute(inst, ports, files), name)
    path = tmp_path / "example.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    done = collection.playbook(installed_collection, str(path))
    assert done.returncode == 0, json.dumps(play, indent=1)[:3000] + "\n" + done.tail(5000)
    stats = done.host_stats()
    assert (stats["failures"], stats["unreachable"]) == (0, 0), stats
    # every task of the example ran (none skipped), and Postfix came back after it
    ran = [t["task"] for t in done.tasks if t["status"] != "skipped"]
    assert [t["task"] for t in done.statuses("skipped")] == [], done.tail()
    assert ran[-1] == "Postfix survived the example", ran
