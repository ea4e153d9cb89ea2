# SPDX-License-Identifier: GPL-3.0-or-later
"""The verify role refuses, before it probes anything, a set-up whose cases it would run
twice: a backend called proxy or filter (the place names of a case's via), or two
backends of one name. One ansible-playbook run, no server (the ports are closed: a probe
that ran anyway would end in a connection error, not in the role's own message)."""

from __future__ import annotations

import yaml

import collection
from private_postfix import free_port

CASE = {"name": "blocked client", "via": "proxy", "mail_from": "a@example.org",
        "rcpt_to": ["postmaster@example.net"], "expect": {"rcpt": "reject"}}


# a looped assert fails with "One or more items failed"; the items say why
MESSAGE = ("{{ ((ansible_failed_result.results | default([]) | selectattr('failed', 'defined')"
           " | selectattr('failed') | map(attribute='msg') | list)"
           " or [ansible_failed_result.msg]) | join('; ') }}")


def attempt(name, backends):
    """One role run in a block whose rescue records the message it failed with."""
    role_vars = {"verify_proxy": {"server": "127.0.0.1", "port": free_port()},
                 "verify_filter": {"server": "127.0.0.1", "port": free_port()},
                 "verify_backends": backends, "verify_cases": [CASE],
                 "verify_audit": False, "verify_security_checks": False}
    task = {"name": name, "ansible.builtin.include_role": {"name": "mailops.xclient.verify"},
            "vars": role_vars}
    rescue = {"name": name + " refused", "ansible.builtin.debug": {"msg": MESSAGE}}
    return {"name": name, "block": [task], "rescue": [rescue]}


def test_backend_names_that_would_run_cases_twice_are_refused(installed_collection,
                                                              tmp_path):
    port = free_port()
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        attempt("named proxy", [{"name": "proxy", "server": "127.0.0.1", "port": port}]),
        attempt("named filter", [{"name": "filter", "server": "127.0.0.1", "port": port}]),
        attempt("named twice", [{"name": "mx", "server": "127.0.0.1", "port": port},
                                {"name": "mx", "server": "127.0.0.2", "port": port}]),
        attempt("no port", [{"name": "mx", "server": "127.0.0.1"}])]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(plays))
    done = collection.playbook(installed_collection, str(path), timeout=300)
    assert done.returncode == 0, done.tail()
    said = {t["task"].split(" : ")[-1][:-len(" refused")]: t["result"]["msg"]
            for t in done.tasks if t["task"].endswith(" refused")}
    assert "verify_backends[0].name: proxy is reserved for the cases that go through the" \
        " proxy" in said["named proxy"], said
    assert "verify_backends[0].name: filter is reserved" in said["named filter"], said
    assert "verify_backends[0].name: mx is the name of another backend too" in \
        said["named twice"], said
    assert "port" in said["no port"] and "verify_backends" in said["no port"], said
    # nothing was probed
    assert not [t for t in done.tasks if "Probe" in t["task"]
                and t["status"] != "skipped"], [t["task"] for t in done.tasks]


def test_ipv6_case_against_ipv4_only_postfix_is_a_configuration_error(installed_collection,
                                                                      ipv4_only_postfix,
                                                                      tmp_path):
    """The README's IPv6 quick-start case, run by the role against an IPv4-only Postfix:
    the case fails (501), and the audit, given the cases' addr values, says why."""
    inst = ipv4_only_postfix
    port = inst.ports["authorized"]
    case = {"name": "IPv6 client", "via": "mx-listener",
            "xclient": {"addr": "2001:db8::25", "name": "[TEMPUNAVAIL]"},
            "mail_from": "probe@example.org", "rcpt_to": ["postmaster@example.net"],
            "expect": {"xclient": "accepted"}}
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "verify", "ansible.builtin.include_role": {"name": "mailops.xclient.verify"},
         "vars": {"verify_backends": [{"name": "mx-listener", "server": "127.0.0.1",
                                       "port": port}],
                  # a case with xclient set to null (no identity) is fine too
                  "verify_cases": [case, {"name": "no identity", "via": "mx-listener",
                                          "xclient": None, "mail_from": "a@example.org",
                                          "expect": {"mail": "accepted"}}],
                  "verify_security_checks": False,
                  "verify_postfix_config_dir": inst.config_dir}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(plays))
    done = collection.playbook(installed_collection, str(path), timeout=300)
    (audit,) = done.named("Audit the Postfix configuration")
    found = {f["service"]: f for f in audit["result"]["findings"]
             if f["code"] == "ipv4-only-xclient"}
    assert found[f"127.0.0.1:{port}/inet"]["severity"] == "error", found
    (failed,) = done.named("Everything behaved as declared")
    assert failed["status"] == "failed"
    assert f"ipv4-only-xclient on 127.0.0.1:{port}/inet" in failed["result"]["msg"]
    assert "IPv6 client" in failed["result"]["msg"]


def test_a_refused_case_never_shows_its_login(installed_collection, tmp_path):
    """A case whose via names no place is refused by a looped assert: Ansible shows each
    failed item (the whole case, LOGIN included, even without -v) - the loop goes over
    the cases' positions, so only the name and via are said."""
    case = {"name": "login case", "via": "nowhere", "mail_from": "a@example.org",
            "rcpt_to": ["postmaster@example.net"],
            "xclient": {"addr": "192.0.2.1", "login": "s3cret-verify-login"}}
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "verify", "ansible.builtin.include_role": {"name": "mailops.xclient.verify"},
         "vars": {"verify_backends": [{"name": "mx", "server": "127.0.0.1",
                                       "port": free_port()}],
                  "verify_cases": [case], "verify_audit": False,
                  "verify_security_checks": False}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(plays))
    done = collection.playbook(installed_collection, str(path), timeout=300)
    assert done.returncode != 0, done.tail()
    seen = done.stdout + done.stderr + repr(done.tasks)
    assert "verify_cases[0] (login case).via: nowhere is not proxy" in seen, done.tail()
    assert "s3cret-verify-login" not in seen, done.tail()
