# SPDX-License-Identifier: GPL-3.0-or-later
"""The shadow (plugins/module_utils/_shadow.py) on hazards that `postfix check` passes and
a `220` from every listener would call alive: each must be refused on the shadow in
Postfix's own words, with the files byte-identical; a harmless edit must pass.

One private instance's config (not started: a shadow needs none running) serves every
case; each case edits a copy, as the config modules' work copy. The config modules' own
wiring (refused before writing, files byte-identical, option shadow) is tested at the end
with real module runs."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from typing import Dict, List, Tuple

import pytest
from ansible_collections.mailops.xclient.plugins.module_utils._shadow import (
    SHADOW_PREFIX,
    shadow_proof,
)
from private_postfix import PrivatePostfix, new_base
from run_module import run_module
from scratch_config import run

POSTCONF = "/usr/sbin/postconf"


@pytest.fixture(scope="module")
def config():
    """A private instance's config, written, never started."""
    base = new_base("xclient-shadow-")
    inst = PrivatePostfix(base=base, tls=True, ipv6=False, policy_logger=False,
                          ports={"authorized": 10025, "unauthorized": 10026,
                                 "sasl": 10027, "starttls": 10028, "smtps": 10029})
    inst.write_config()
    with open(os.path.join(base, "nets"), "w", encoding="ascii") as fh:
        fh.write("hash:/nonexistent/mailops-xclient-table\n127.0.0.1/32\n")
    yield inst
    shutil.rmtree(base, ignore_errors=True)


# (id, main.cf settings, master.cf -M/-P edits, Postfix's words the refusal must quote).
# The issue's hazards first, then ours.
HAZARDS = [
    ("misspelled-check_client_acces",
     {"smtpd_client_restrictions": "check_client_acces cidr:/etc/hosts"}, [],
     "unknown smtpd restriction"),
    ("misspelled-permit_mynetwork",
     {"smtpd_recipient_restrictions": "permit_mynetwork, reject_unauth_destination"}, [],
     "unknown smtpd restriction"),
    ("table-type-sqlite", {"smtpd_client_restrictions":
                           "check_client_access sqlite:/etc/postfix/access.sqlite"}, [],
     "Server configuration error"),
    ("table-type-mysql", {"smtpd_client_restrictions":
                          "check_client_access mysql:/etc/postfix/access.mysql"}, [],
     "Server configuration error"),
    ("missing-table-in-file-list", {"mynetworks": "BASE/nets"}, [], "nonexistent"),
    ("mynetworks-slash-33", {"mynetworks": "127.0.0.1/33"}, [], "Temporary lookup failure"),
    ("tls-encrypt-without-certificate",
     {"smtpd_tls_security_level": "encrypt", "smtpd_tls_cert_file": "/nonexistent.pem",
      "smtpd_tls_key_file": "/nonexistent.pem"}, [], "TLS not available"),
    ("content-filter-transport-missing", {"content_filter": "scan:[127.0.0.1]:10099"}, [],
     "mail transport unavailable"),
    ("syslog-name-empty", {}, [("-P", "127.0.0.1:10025/inet/syslog_name=")], "syslog_name"),
    ("syslog-name-undefined", {}, [("-P", "127.0.0.1:10025/inet/syslog_name=$undefined")],
     "syslog_name"),
    ("maxproc-2147483648", {},  # postconf -F refuses to write it; an editor does not
     [("text", r"(?m)^(smtp\s+unix(?:\s+\S+){4}\s+)\S+", r"\g<1>2147483648")], "fatal"),
    ("wakeup-2147483648", {}, [("-F", "pickup/unix/wakeup=2147483648")], "fatal"),
    ("inet-protocols-ipv6-for-ipv4-listeners", {"inet_protocols": "ipv6"}, [], "fatal"),
    # ours
    ("boolean-True", {"smtpd_helo_required": "True"}, [], "bad boolean"),
    ("time-not-a-time", {"smtpd_timeout": "5 parsecs"}, [], "fatal"),
    ("integer-not-a-number", {"smtpd_recipient_limit": "ten"}, [], "fatal"),
    ("recipient-access-table-missing",
     {"smtpd_recipient_restrictions": "check_recipient_access hash:/nonexistent/rcpt,"
                                      " permit_mynetworks, reject"}, [], "nonexistent/rcpt"),
    ("sender-access-pcre-missing",
     {"smtpd_sender_restrictions": "check_sender_access pcre:/nonexistent/s.pcre"}, [],
     "nonexistent/s.pcre"),
    ("relay-restrictions-reject-all", {"smtpd_relay_restrictions": "reject"}, [],
     "Access denied"),
    ("header-checks-missing", {"header_checks": "regexp:/nonexistent/header_checks"}, [],
     "nonexistent/header_checks"),
    ("transport-maps-missing", {"transport_maps": "hash:/nonexistent/transport"}, [],
     "nonexistent/transport"),
    ("virtual-alias-maps-missing", {"virtual_alias_maps": "hash:/nonexistent/virtual"}, [],
     "nonexistent/virtual"),
    ("local-transport-missing", {"local_transport": "nosuch", "default_transport": "nosuch",
                                 "relay_transport": "nosuch"}, [],
     "mail transport unavailable"),
    ("message-size-limit-tiny", {"message_size_limit": "10"}, [], "552"),
    ("milter-down-tempfail", {"smtpd_milters": "inet:127.0.0.1:1",
                              "milter_default_action": "tempfail"}, [], "4"),
]


def _work_copy(inst: PrivatePostfix, main: Dict[str, str], master: List[Tuple[str, ...]]
               ) -> str:
    work = tempfile.mkdtemp(prefix="xclient-shadow-work-")
    for name in ("main.cf", "master.cf"):
        shutil.copy2(os.path.join(inst.config_dir, name), os.path.join(work, name))
    for key, value in main.items():
        value = value.replace("BASE", inst.base)
        subprocess.run([POSTCONF, "-c", work, "-e", f"{key} = {value}"], check=True)
    for flag, edit, *repl in master:
        if flag == "text":
            path = os.path.join(work, "master.cf")
            with open(path, encoding="utf-8") as fh:
                text = re.sub(edit, repl[0], fh.read(), count=1)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            continue
        subprocess.run([POSTCONF, "-c", work, flag, "-e", edit], check=True)
    return work


def _digest(directory: str) -> str:
    h = hashlib.sha256()
    for name in ("main.cf", "master.cf"):
        with open(os.path.join(directory, name), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


def _no_shadow_left(parent: str) -> None:
    left = [e for e in os.listdir(parent) if e.startswith(SHADOW_PREFIX)]
    assert not left, f"shadow directories left: {left}"


def test_a_harmless_edit_lets_mail_flow(config):
    work = _work_copy(config, {"smtpd_helo_required": "yes"}, [])
    try:
        proof, log = shadow_proof(work, run, 30, links_from=config.config_dir,
                                  base_parent=config.base)
    finally:
        shutil.rmtree(work)
    assert proof.ok, (proof.words(), log[-20:])
    assert [s.endpoint.service for s in proof.steps] == [
        f"127.0.0.1:{p}/inet" for p in (10025, 10026, 10027, 10028, 10029)]
    assert all(s.queue_id for s in proof.steps)  # a message through every listener
    assert any("-- TLS" in line for line in proof.steps[3].transcript)  # STARTTLS done
    assert any("status=sent" in line for line in log)
    _no_shadow_left(config.base)


@pytest.mark.parametrize("case", HAZARDS, ids=[h[0] for h in HAZARDS])
def test_hazard_is_refused_on_the_shadow_in_postfixs_words(config, case):
    _id, main, master, words = case
    work = _work_copy(config, main, master)
    before = _digest(work), _digest(config.config_dir)
    try:
        proof, log = shadow_proof(work, run, 30, links_from=config.config_dir,
                                  base_parent=config.base)
    finally:
        after = _digest(work), _digest(config.config_dir)
        shutil.rmtree(work)
    said = proof.words(limit=50)
    print(f"\nHAZARD {_id}: {said}")
    assert not proof.ok
    assert words in said, (said, log[-30:])
    assert before == after
    _no_shadow_left(config.base)


def test_config_module_refuses_before_writing_and_shadow_false_writes(config):
    """postconf: refused with the files byte-identical (check mode too); shadow: false
    writes (its documented risk); a harmless change passes and is last-known-good."""
    d = config.config_dir
    bad = {"name": "smtpd_recipient_restrictions",
           "value": "permit_mynetwork, reject_unauth_destination", "config_dir": d}
    before = _digest(d)
    for check_mode in (True, False):
        res = run_module("postconf", bad, check_mode=check_mode)
        assert res.get("failed"), res
        assert "tried on a shadow" in res["msg"] and "unknown smtpd restriction" in res["msg"]
        assert "nothing was written" in res["msg"]
        assert _digest(d) == before
    res = run_module("postconf", {"name": "smtpd_helo_required", "value": "yes",
                                  "config_dir": d})
    assert res["changed"] and res["shadow"]["proved"], res
    lkg = os.path.join(d, ".mailops-xclient-last-known-good", "main.cf")
    with open(lkg, "rb") as a, open(os.path.join(d, "main.cf"), "rb") as b:
        assert a.read() == b.read()
    res = run_module("postconf", dict(bad, shadow=False))
    assert res["changed"] and "shadow" not in res, res
    assert re.search(r"permit_mynetwork,", open(os.path.join(d, "main.cf")).read())
