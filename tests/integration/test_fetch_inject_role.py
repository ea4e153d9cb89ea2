# SPDX-License-Identifier: GPL-3.0-or-later
"""The fetch_inject role's own files, from an installed build: what it writes for fetchmail
and getmail read back by fetchmail's and getmail's own parsers, a non-default
fetch_inject_lib_dir, a second run that changes nothing, and bad variables refused by the
validate entry point naming the field. No package, listener or poller (test_demo_stack.py
runs the whole role end to end)."""

from __future__ import annotations

import configparser
import json
import netrc
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import collection

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.join(HERE, "playbooks", "fetch_inject_role.yml")
VALIDATE = os.path.join(HERE, "playbooks", "fetch_inject_validate.yml")
# blanks around it, a double quote, a backslash, a comment sign, a percent sign
PASSWORD = ' p"a\\ss #w%rd x22 '
USER = " user with blanks "


@pytest.fixture(scope="module")
def deployed(installed_collection):
    base = tempfile.mkdtemp(prefix="xclient-fetch-role-")
    extra = {"fetch_role_base": base, "fetch_role_password": PASSWORD}
    try:
        first = collection.playbook(installed_collection, DEPLOY, extra_vars=extra, timeout=600)
        second = collection.playbook(installed_collection, DEPLOY, extra_vars=extra,
                                     timeout=600)
        yield base, first, second
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_deploys_and_a_second_run_changes_nothing(deployed):
    _base, first, second = deployed
    assert first.returncode == 0, first.tail()
    assert second.returncode == 0, second.tail()
    assert [t["task"] for t in second.statuses("changed")] == []
    assert PASSWORD.strip() not in first.stdout + json.dumps(first.tasks)


def test_fetchmail_config_is_invisible_and_carries_the_password_as_it_is(deployed):
    base = deployed[0]
    rc = os.path.join(base, "fetchmail", "etc", "fetchmailrc")
    text = open(rc, encoding="utf-8").read()
    assert re.search(r"(?m)^set invisible$", text)
    dump = subprocess.run(["fetchmail", "-f", rc, "--configdump"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert dump.returncode == 0, dump.stderr
    # fetchmail's dump writes strings with \" and \\ escapes (json.dumps' form for ASCII)
    assert f'"password":{json.dumps(PASSWORD)}' in dump.stdout, dump.stdout
    assert f'"remote":{json.dumps(USER)}' in dump.stdout
    assert "'invisible':TRUE" in dump.stdout
    # the injector's arguments: retry records in the state dir, the bounds
    assert f"--state-dir {base}/fetchmail/state --max-attempts 30 --max-age 432000" in text


def test_getmail_login_goes_through_a_quoted_netrc(deployed):
    base = deployed[0]
    etc = os.path.join(base, "getmail", "etc", "getmail")
    rc = configparser.RawConfigParser()
    rc.read(os.path.join(etc, "mailbox-0.rc"))
    assert not rc.has_option("retriever", "password")
    assert rc.get("options", "use_netrc") == "true"
    netrc_file = rc.get("options", "netrc_file")
    assert netrc_file == os.path.join(etc, "mailbox-0.netrc")
    assert os.stat(netrc_file).st_mode & 0o777 == 0o600
    login = netrc.netrc(netrc_file).authenticators(rc.get("retriever", "server"))
    assert login == (USER, "", PASSWORD)
    # getmail itself reads both files and takes the login from the netrc
    state = os.path.join(base, "getmail", "dump-state")
    os.makedirs(state, exist_ok=True)
    dump = subprocess.run(["getmail", "--getmaildir", state,
                           f"--rcfile={os.path.join(etc, 'mailbox-0.rc')}", "--dump"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert dump.returncode == 0, dump.stdout + dump.stderr
    assert f'username="{USER}"' in dump.stdout, dump.stdout


@pytest.mark.parametrize("fetcher", ["fetchmail", "getmail"])
def test_injector_finds_its_core_in_a_non_default_lib_dir(deployed, fetcher):
    base = deployed[0]
    script = os.path.join(base, fetcher, "bin", "xclient-inject")
    lib = os.path.join(base, fetcher, "somewhere else", "lib")
    assert os.path.isfile(os.path.join(lib, "ansible_collections", "mailops", "xclient",
                                       "plugins", "module_utils", "_maildir.py"))
    done = subprocess.run([script, "--help"], env={"PATH": os.environ["PATH"]},
                          capture_output=True, text=True, timeout=60, check=False, cwd="/")
    assert done.returncode == 0, done.stderr
    assert "75 = try again later" in " ".join(done.stdout.split())


GOOD = {"server": "127.0.0.1", "user": "u", "password": "p", "tls": "none",
        "deliver_to": ["postmaster@example.net"], "received_by": r"mx\.isp\.example"}
CASES = [
    ("password line break", {"password": "secret\nset postmaster evil"},
     "fetch_inject_mailboxes[0].password: contains a line break"),
    ("user line break", {"user": "u\rx"}, "fetch_inject_mailboxes[0].user: contains a line break"),
    ("tls none remote", {"server": "pop.isp.example"},
     'fetch_inject_mailboxes[0].tls: none is only for a server on loopback'),
    ("tls none remote address", {"server": "192.0.2.7"},
     'fetch_inject_mailboxes[0].tls: none is only for a server on loopback'),
    ("bad received_by", {"received_by": "mx(["},
     'fetch_inject_mailboxes[0].received_by: "mx([" is not a regular expression'),
    ("good loopback", {}, None),
    # required (issue 18): refused naming the field, not a template error of the check
    ("no received_by", {"received_by": None}, "received_by"),
    ("good remote ssl",
     {"server": "pop.isp.example", "tls": "ssl", "password": " blanks kept "}, None),
]


def test_validate_refuses_bad_variables_naming_the_field(installed_collection):
    # an override of None leaves the field out (received_by is optional)
    cases = [{"name": name, "mailboxes": [{k: v for k, v in dict(GOOD, **override).items()
                                           if v is not None}]}
             for name, override, _needle in CASES]
    done = collection.playbook(installed_collection, VALIDATE,
                               extra_vars={"fetch_role_cases": cases}, timeout=600)
    assert done.returncode == 0, done.tail()
    said = [t["result"]["msg"] for t in done.tasks
            if t.get("status") == "ok" and str(t["result"].get("msg", "")).startswith(
                ("refused: ", "accepted: "))]
    assert len(said) == len(CASES), said
    for (name, _override, needle), msg in zip(CASES, said):
        if needle is None:
            assert msg == f"accepted: {name}", msg
        else:
            assert msg.startswith(f"refused: {name}: ") and needle in msg, (name, msg)
        assert "secret" not in msg and "set postmaster" not in msg
