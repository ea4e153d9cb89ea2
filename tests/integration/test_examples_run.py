# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every YAML example runs as written: each task of README.md, of every role's README and of
every module's EXAMPLES, against a private Postfix instance, through ansible-playbook from an installed
build. Only the config directory, hosts (server, a case's source address) and ports are
substituted (and site files: the CA file of the probe's TLS example, the messages and
the quarantine Maildir of the inject examples, which are written here). After each example Postfix must
survive a reload proven by postfix_instance. An example that cannot run is a bug in
the example.

A play that applies one of our roles to its hosts (installs packages, runs the machine's
own daemons) is not run here: it would change this machine. Each is listed in ROLE_PLAYS
with where the role runs instead, and is checked as far as that is possible without
running it: Ansible parses the play for its hosts, and every variable it gives a role is
one of that role's options, with a valid value (the role's meta/argument_specs.yml).
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
from ansible_collections.mailops.xclient.plugins.module_utils._inject import (
    quarantine_message,
)
from key_paths import module_return, undocumented
from private_postfix import free_port, running_instance

MODULES_DIR = os.path.join(ROOT, "plugins", "modules")
# Modules whose examples create what later examples use come first.
# postfix_info before xclient_hosts: the latter's allow_broad example leaves a broad
# XCLIENT list that postfix_info's fail_on: error rightly refuses on Postfix 3.10 (LOGIN
# counts there, so that network could relay).
MODULE_ORDER = ["postfix_service", "postfix_info", "xclient_hosts", "postconf",
                "postfix_instance", "xclient_probe"]
CONFIG_MODULES = {"postconf", "postfix_service", "xclient_hosts", "postfix_info",
                  "postfix_instance", "access_cases", "postfix_whatif"}
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
\tby mx1.isp.example (Postfix) with ESMTP id 4ABC
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


def readme_blocks(path="README.md"):
    text = open(os.path.join(ROOT, path), encoding="utf-8").read()
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]


ROLES = sorted(os.listdir(os.path.join(ROOT, "roles")))
DEMO_RUNS = ("runs on private ports and directories in tests/integration/test_demo_stack.py"
             " (playbooks/demo.yml)")
# The plays that apply a role to their hosts: not run here (see above), and why.
ROLE_PLAYS = {
    "README.md block 6": "fetch_inject polls a real ISP mailbox; " + DEMO_RUNS,
    "roles/fetch_inject/README.md block 1": "polls a real ISP mailbox; " + DEMO_RUNS,
    "roles/nginx_proxy/README.md block 1": "installs and runs nginx; " + DEMO_RUNS,
    "roles/postfix/README.md block 1": "deploys the machine's own Postfix; " + DEMO_RUNS,
    "roles/proxsmtp_filter/README.md block 1": "installs and runs proxsmtp; " + DEMO_RUNS,
    "roles/verify/README.md block 1": "needs the deployed stack it verifies; " + DEMO_RUNS,
}


def sources():
    out = [(f"README.md block {i + 1}", block) for i, block in enumerate(readme_blocks())]
    for role in ROLES:
        path = f"roles/{role}/README.md"
        out += [(f"{path} block {i + 1}", block)
                for i, block in enumerate(readme_blocks(path))]
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
            # keys too: postfix_whatif's change.tables is keyed by the table's path
            return {self.tree(k): self.tree(v) for k, v in value.items()}
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
                            "timeout": 30}}],
    }


def site_files(base):
    """The messages the inject examples name: a file and a quarantine Maildir."""
    message = os.path.join(base, "message.eml")
    with open(message, "w", encoding="utf-8") as fh:
        fh.write(MESSAGE)
    maildir = os.path.join(base, "quarantine")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    # as the injector writes its quarantine (Envelope-To: bare RFC 5321 addresses)
    with open(os.path.join(maildir, "new", "1.example"), "wb") as fh:
        fh.write(quarantine_message(MESSAGE.encode(), "sender@example.org",
                                    ["postmaster@example.net"],
                                    "554 5.7.1 <postmaster@example.net>: refused"))
    return {"/var/lib/xclient-inject/quarantine": maildir, "/tmp/message.eml": message,
            "/var/lib/mailops/verdicts.json": os.path.join(base, "verdicts.json")}


@pytest.fixture(scope="module")
def example_postfix():
    with running_instance("xclient-pf-examples-", ipv6=True) as inst:
        ports = {p: free_port() for p in EXAMPLE_PORTS}
        ports.update({p: inst.ports["authorized"] for p in AUTHORIZED_PORTS})
        yield inst, ports


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


def role_plays(block):
    """The plays of a block that apply roles."""
    if not isinstance(block, list):
        return []
    return [play for play in block if isinstance(play, dict) and "hosts" in play
            and play.get("roles")]


def check_role_play(installed_collection, tmp_path, block):
    """Ansible parses the play for its own hosts; every variable given to one of our roles
    is an option of that role and valid there."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    for play in role_plays(block):
        for entry in play["roles"]:
            name = entry if isinstance(entry, str) else entry.get("role", entry.get("name"))
            role = name.split(".")[-1]
            assert name == f"mailops.xclient.{role}" and role in ROLES, name
            given = dict(play.get("vars") or {})
            given.update((entry.get("vars") or {}) if isinstance(entry, dict) else {})
            with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"),
                      encoding="utf-8") as fh:
                spec = yaml.safe_load(fh)["argument_specs"]["main"]["options"]
            result = ArgumentSpecValidator(spec).validate(given)
            assert result.error_messages == [], (role, result.error_messages)
    hosts = sorted({str(p["hosts"]) for p in block if isinstance(p, dict) and "hosts" in p})
    play_path = tmp_path / "play.yml"
    play_path.write_text(yaml.safe_dump(block))
    done = collection.run(installed_collection, ["ansible-playbook", "-i",
                                                 ",".join(hosts) + ",", "--syntax-check",
                                                 str(play_path)], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def role_vars_play(name, block):
    """A role README block that only sets that role's variables, as a play applying the
    role with them (so it is checked like the role plays), else None."""
    parts = name.split("/")
    if not (parts[0] == "roles" and isinstance(block, dict) and block):
        return None
    role = parts[1]
    if not all(str(key).startswith(role + "_") for key in block):
        return None
    return [{"hosts": "localhost", "roles": [{"role": f"mailops.xclient.{role}",
                                              "vars": block}]}]


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
    inst, ports = example_postfix
    # fresh messages for each example: one that injects them must not leave the next with
    # an empty quarantine (that would pass without doing anything)
    site = tmp_path / "site"
    site.mkdir()
    os.chmod(tmp_path, 0o755)
    files = site_files(str(site))
    name, block = SOURCES[source]
    if is_many_hosts(block):
        check_against_lab_inventory(installed_collection, tmp_path, block)
        return
    if is_ee_definition(block):
        check_ee_definition(block)
        return
    vars_play = role_vars_play(name, block)
    if vars_play:
        check_role_play(installed_collection, tmp_path, vars_play)
        return
    assert bool(role_plays(block)) == (name in ROLE_PLAYS), (
        f"{name}: a play that applies a role is listed in ROLE_PLAYS with the reason it"
        " is not run here; nothing else is")
    if name in ROLE_PLAYS:
        check_role_play(installed_collection, tmp_path, block)
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
    # what each of our modules returned is documented in its RETURN
    for task in play["tasks"]:
        short, _key = module_of(task)
        if short is None:
            continue
        doc = module_return(os.path.join(MODULES_DIR, f"{short}.py"))
        for recorded in done.named(task.get("name", "")):
            assert undocumented(recorded["result"], doc) == set(), (name, task["name"])
            if short == "xclient_inject":  # it injected (or would), also without failing
                outcomes = {m["outcome"] for m in recorded["result"]["messages"]}
                assert outcomes and outcomes <= {"accepted", "dry_run"}, recorded
