# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 19's hazard table from real runs: every hazard, as a module call of the
collection, run with the code before the shadow work (``--before``, default 482dc93) and
with this checkout's HEAD (``--after``) against one running private Postfix.

    python3 tests/harness/hazard_before_after.py            # writes tests/harness/hazard_table.md
    python3 tests/harness/hazard_before_after.py --only value-true-boolean cidr-0.0.0.0/0

After a module that wrote, Postfix is reloaded the plain way (``postfix reload``), as a
user did, and judged with the *current* product's judge: ``postfix_instance``'s proof that
mail flows after a reload (``_postfix_instance.prove_alive``), then the same proof with a
message through every listener to its (discarding) transport (``_shadow.prove_mail_flows``
with ``send_data``), and for the XCLIENT-list hazards whether an outside identity may now
send XCLIENT. A refusal is checked for main.cf / master.cf byte-identical (sha256).
The instance is put back (files; stop and start where it was reloaded, which clears the
master's throttle) after each run. The pieces come from hazard_figures.py.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import hazard_figures  # noqa: E402  (puts the collection and tests/integration on sys.path)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (  # noqa: E402
    Postconf,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_instance import (  # noqa: E402
    Controls,
    fatal_lines,
    live_endpoints,
    log_offset,
    prove_alive,
    wait_settled,
)
from ansible_collections.mailops.xclient.plugins.module_utils._shadow import (  # noqa: E402
    failures,
    proof_domain,
    prove_mail_flows,
    unstamped,
)
from private_postfix import free_port, running_instance, smtp_replies  # noqa: E402
from run_module import module_command  # noqa: E402
from scratch_config import run as runner  # noqa: E402
from test_postfix_safety import write_tables  # noqa: E402

BEFORE = "482dc93"  # the last commit before the shadow work (c85d295 is its child)
TABLE = os.path.join(HERE, "hazard_table.md")
JUDGE_SECONDS = 8.0
FILES = ("main.cf", "master.cf")
OUTSIDE = "ADDR=203.0.113.7 NAME=outside.example"

Args = Callable[[Any, int], Dict[str, Any]]


@dataclass
class Hazard:
    """One hazard: module calls (the last is the one judged), where it comes from, and what
    more to judge."""

    id: str
    origin: str  # "issue" or "ours" (tests/integration/test_shadow_hazards.HAZARDS)
    calls: List[Tuple[str, Args]]
    check_mode: bool = False
    # judge XCLIENT on this listener ("authorized", "unauthorized", "new") as OUTSIDE-like
    xclient: Optional[str] = None
    identity: str = OUTSIDE
    prepare: Optional[str] = None  # a name in PREPARE
    plain_reload: bool = True  # reload after a write (not for postfix_instance itself)
    extra: Dict[str, Any] = field(default_factory=dict)


def t(inst, name):
    return os.path.join(inst.config_dir, "tables", name)


def key(inst, name="unauthorized"):
    return f"127.0.0.1:{inst.ports[name]}/inet"


def postconf(name, value, service=None):
    def args(inst, port):
        out = {"name": name, "value": value(inst) if callable(value) else value}
        if service:
            out["service"] = key(inst, service)
        return out
    return ("postconf", args)


def settings(values):
    return ("postconf", lambda i, p: {"settings": {k: v(i) if callable(v) else v
                                                   for k, v in values.items()}})


def service(**kw):
    return ("postfix_service", lambda i, p: dict(kw))


def hosts(items, where="authorized"):
    def args(inst, port):
        out = {"hosts": [h(inst) if callable(h) else h for h in items]}
        if where:
            out["service"] = key(inst, where)
        return out
    return ("xclient_hosts", args)


def reload_instance(timeout=10):
    return ("postfix_instance", lambda i, p: {"state": "reloaded", "timeout": timeout})


HAZARDS = [
    # ---------------------------------------------------------------- the issue's
    Hazard("value-true-boolean", "issue (ours: boolean-True)",
           [postconf("smtpd_helo_required", True)]),
    Hazard("time-not-a-time", "issue (ours: time-not-a-time)",
           [postconf("smtpd_timeout", "5 parsecs")]),
    Hazard("integer-not-a-number", "issue (ours: integer-not-a-number)",
           [postconf("smtpd_recipient_limit", "ten")]),
    Hazard("maxproc-2147483648", "issue",
           [service(name="smtp", type="unix", command="smtp", maxproc="2147483648")]),
    Hazard("wakeup-2147483648", "issue",
           [service(name="pickup", type="unix", command="pickup", wakeup="2147483648")]),
    Hazard("syslog-name-empty", "issue", [postconf("syslog_name", "", "unauthorized")]),
    Hazard("syslog-name-undefined", "issue",
           [postconf("syslog_name", "$undefined", "unauthorized")]),
    Hazard("misspelled-check_client_acces", "issue",
           [postconf("smtpd_client_restrictions",
                     lambda i: f"check_client_acces cidr:{t(i, 'good.cidr')}")]),
    Hazard("misspelled-permit_mynetwork", "issue",
           [postconf("smtpd_recipient_restrictions",
                     "permit_mynetwork, reject_unauth_destination")]),
    Hazard("table-type-pcre-not-installed", "issue",
           [postconf("smtpd_client_restrictions",
                     lambda i: f"check_client_access pcre:{t(i, 'client.pcre')}")]),
    Hazard("table-type-sqlite", "issue",
           [postconf("smtpd_client_restrictions",
                     lambda i: f"check_client_access sqlite:{t(i, 'access.sqlite')}")]),
    Hazard("table-type-mysql", "issue",
           [postconf("smtpd_client_restrictions",
                     lambda i: f"check_client_access mysql:{t(i, 'access.mysql')}")]),
    Hazard("missing-table-in-file-list", "issue",
           [postconf("mynetworks", lambda i: t(i, "nets"))]),
    Hazard("mynetworks-slash-33", "issue", [postconf("mynetworks", "127.0.0.1/33")]),
    Hazard("tls-encrypt-without-certificate", "issue",
           [settings({"smtpd_tls_security_level": "encrypt",
                      "smtpd_tls_cert_file": "/nonexistent.pem",
                      "smtpd_tls_key_file": "/nonexistent.pem"})]),
    Hazard("content-filter-transport-missing", "issue",
           [postconf("content_filter", "scan:[127.0.0.1]:10099")]),
    Hazard("remove-cleanup", "issue", [service(name="cleanup", type="unix", state="absent")]),
    Hazard("remove-qmgr", "issue", [service(name="qmgr", type="unix", state="absent")]),
    Hazard("inet-protocols-ipv4-with-[::1]-listener", "issue",
           [postconf("inet_protocols", "ipv4")]),
    Hazard("inet-protocols-ipv6-with-127.0.0.1-listeners", "issue (ours: same)",
           [postconf("inet_protocols", "ipv6")]),
    Hazard("instance-reload-bad-boolean-timeout-10", "issue",
           [reload_instance(10)], prepare="hand_edit_bad_boolean", plain_reload=False),
    Hazard("instance-reload-master-dies", "issue",
           [reload_instance(10)], prepare="hand_edit_inet_protocols", plain_reload=False),
    Hazard("instance-rollback-after-plain-reload-of-good-edit", "issue",
           [reload_instance(20)], prepare="good_edit_then_bad_hand_edit",
           plain_reload=False, extra={"kept": "smtpd_helo_required = yes"}),
    Hazard("postconf-xclient-0.0.0.0/0", "issue",
           [postconf("smtpd_authorized_xclient_hosts", "0.0.0.0/0")],
           xclient="unauthorized"),
    Hazard("postconf-xclient-static:all", "issue",
           [postconf("smtpd_authorized_xclient_hosts", "static:all")],
           xclient="unauthorized"),
    Hazard("postfix_service-option-xclient-0.0.0.0/0", "issue",
           [("postfix_service", lambda i, p: {
               "name": f"127.0.0.1:{p}", "command": "smtpd", "private": False,
               "chroot": False,
               "options": {"smtpd_authorized_xclient_hosts": "0.0.0.0/0"}})],
           xclient="new"),
    Hazard("xclient_hosts-cidr-table-0.0.0.0/0", "issue",
           [hosts([lambda i: f"cidr:{t(i, 'all.cidr')}"])], xclient="authorized"),
    Hazard("xclient_hosts-regexp-table-matching-all", "issue",
           [hosts([lambda i: f"regexp:{t(i, 'all.regexp')}"])], xclient="authorized"),
    Hazard("xclient_hosts-file-list-naming-such-table", "issue",
           [hosts([lambda i: t(i, "list")])], xclient="authorized"),
    Hazard("xclient_hosts-.co.uk", "issue", [hosts([".co.uk"])], xclient="authorized",
           identity="ADDR=203.0.113.7 NAME=mail.outside.co.uk"),
    Hazard("xclient_hosts-.com.au", "issue", [hosts([".com.au"])], xclient="authorized",
           identity="ADDR=203.0.113.7 NAME=mail.outside.com.au"),
    Hazard("xclient_hosts-.amazonaws.com", "issue", [hosts([".amazonaws.com"])],
           xclient="authorized",
           identity="ADDR=203.0.113.7 NAME=ec2-203-0-113-7.compute-1.amazonaws.com"),
    Hazard("xclient_hosts-negation-order", "issue", [hosts(["192.0.2.10"])],
           prepare="exception_before_negation", extra={"kept_xclient": "authorized"}),
    Hazard("xclient_hosts-hash:$config_directory/access", "issue",
           [hosts(["hash:$config_directory/access"])]),
    Hazard("symlinked-main.cf", "issue", [postconf("smtpd_helo_required", "yes")],
           prepare="symlink_main_cf"),
    Hazard("source_address-port-70000", "issue",
           [("source_address", lambda i, p: {"destination": "127.0.0.1", "port": 70000})]),
    Hazard("check-mode-as-non-root-existing-listener", "issue",
           [postconf("smtpd_helo_required", "yes", "unauthorized")], check_mode=True,
           extra={"as_nobody": True}),
    Hazard("check-mode-new-listener-then-xclient_hosts", "issue",
           [("postfix_service", lambda i, p: {"name": f"127.0.0.1:{p}", "command": "smtpd",
                                              "private": False, "chroot": False}),
            ("xclient_hosts", lambda i, p: {"service": f"127.0.0.1:{p}/inet",
                                            "hosts": ["127.0.0.1"]})], check_mode=True),
    # ---------------------------------------------------------------- ours
    Hazard("recipient-access-table-missing", "ours",
           [postconf("smtpd_recipient_restrictions",
                     "check_recipient_access hash:/nonexistent/rcpt, permit_mynetworks,"
                     " reject")]),
    Hazard("sender-access-pcre-missing", "ours",
           [postconf("smtpd_sender_restrictions",
                     "check_sender_access pcre:/nonexistent/s.pcre")]),
    Hazard("relay-restrictions-reject-all", "ours",
           [postconf("smtpd_relay_restrictions", "reject")]),
    Hazard("header-checks-missing", "ours",
           [postconf("header_checks", "regexp:/nonexistent/header_checks")]),
    Hazard("transport-maps-missing", "ours",
           [postconf("transport_maps", "hash:/nonexistent/transport")]),
    Hazard("virtual-alias-maps-missing", "ours",
           [postconf("virtual_alias_maps", "hash:/nonexistent/virtual")]),
    Hazard("local-transport-missing", "ours",
           [settings({"local_transport": "nosuch", "default_transport": "nosuch",
                      "relay_transport": "nosuch"})]),
    Hazard("message-size-limit-tiny", "ours", [postconf("message_size_limit", "10")]),
    Hazard("milter-down-tempfail", "ours",
           [settings({"smtpd_milters": "inet:127.0.0.1:1",
                      "milter_default_action": "tempfail"})]),
    Hazard("helo-restrictions-reject-all", "ours (new here)",
           [postconf("smtpd_helo_restrictions", "reject")]),
    Hazard("sasl-dovecot-socket-missing", "ours (new here)",
           [settings({"smtpd_sasl_auth_enable": "yes", "smtpd_sasl_type": "dovecot",
                      "smtpd_sasl_path": "private/no-such-auth"})]),
    Hazard("data-restrictions-reject-all", "ours (new here)",
           [postconf("smtpd_data_restrictions", "reject")]),
    Hazard("before-queue-filter-down", "ours (new here)",
           [postconf("smtpd_proxy_filter", "127.0.0.1:1")]),
    Hazard("qmgr-active-limit-zero", "ours (new here)",
           [postconf("qmgr_message_active_limit", "0")]),
    Hazard("policy-service-down", "ours (new here)",
           [postconf("smtpd_recipient_restrictions",
                     "check_policy_service inet:127.0.0.1:1, permit_mynetworks,"
                     " reject_unauth_destination")]),
]


# ------------------------------------------------------------------ the instance
def sha(config_dir):
    out = {}
    for name in FILES:
        with open(os.path.join(config_dir, name), "rb") as fh:
            out[name] = hashlib.sha256(fh.read()).hexdigest()
    return out


def add_tables(inst):
    """The tables and files the hazards name (made once, part of the pristine listing)."""
    write_tables(inst)  # test_postfix_safety's: bad.cidr, good.cidr, unbuilt, bad.regexp
    files = {"all.cidr": "0.0.0.0/0 OK\n", "all.regexp": "/./ OK\n",
             "list": f"cidr:{t(inst, 'all.cidr')}\n", "client.pcre": "/^192\\.0\\.2\\./ OK\n",
             "nets": "hash:/nonexistent/mailops-xclient-table\n127.0.0.1/32\n"}
    for name, text in files.items():
        with open(t(inst, name), "w", encoding="utf-8") as fh:
            fh.write(text)
    access = os.path.join(inst.config_dir, "access")
    with open(access, "w", encoding="utf-8") as fh:
        fh.write("127.0.0.1 OK\n")
    subprocess.run(["postmap", "-c", inst.config_dir, f"hash:{access}"], check=True)


def snapshot(inst):
    files = {n: open(os.path.join(inst.config_dir, n), "rb").read() for n in FILES}
    return files, set(os.listdir(inst.config_dir))


def restore(inst, pristine, restart):
    """Put the pristine files back (a symlink replaced by the file), remove what a run
    left in the config dir (last-known-good, rejected copies, backups); stop and start
    when the instance was reloaded on other files."""
    files, listing = pristine
    cfg = inst.config_dir
    for entry in set(os.listdir(cfg)) - listing:
        path = os.path.join(cfg, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    for name, data in files.items():
        path = os.path.join(cfg, name)
        if os.path.islink(path):
            os.unlink(path)
        with open(path, "wb") as fh:
            fh.write(data)
        os.chmod(path, 0o644)
    shutil.rmtree(os.path.join(inst.base, "kept"), ignore_errors=True)
    # a message a run left (deferred to a missing transport, stuck without qmgr) would
    # make the next run's log say what this one did
    subprocess.run(["postsuper", "-c", cfg, "-d", "ALL"], capture_output=True, check=False)
    if restart or not inst.running():
        hazard_figures.restart_clean(inst)


# ------------------------------------------------------------------ preparations
def hand_edit(inst, *settings_):
    subprocess.run(["postconf", "-c", inst.config_dir, "-e", *settings_], check=True)


def seed_lkg(inst, tree):
    """A proven reload by postfix_instance of the revision under test: last-known-good."""
    res = hazard_figures.run(tree, "postfix_instance", {"config_dir": inst.config_dir,
                                                        "state": "reloaded", "timeout": 20})
    if res.get("failed"):
        raise RuntimeError(f"postfix_instance did not reload the pristine files: {res}")


def prepare_hand_edit_bad_boolean(inst, tree):
    seed_lkg(inst, tree)
    hand_edit(inst, "smtpd_helo_required = True")


def prepare_hand_edit_inet_protocols(inst, tree):
    seed_lkg(inst, tree)
    hand_edit(inst, "inet_protocols = ipv6")


def prepare_good_edit_then_bad_hand_edit(inst, tree):
    """last-known-good from postfix_instance; then a good edit by postconf of the revision
    that went live by a plain reload; then a bad edit by hand."""
    seed_lkg(inst, tree)
    res = hazard_figures.run(tree, "postconf", {"config_dir": inst.config_dir,
                                                "name": "smtpd_helo_required",
                                                "value": "yes"})
    if res.get("failed"):
        raise RuntimeError(f"the good edit failed: {res}")
    inst.reload()
    hand_edit(inst, "smtpd_recipient_limit = ten")


def prepare_exception_before_negation(inst, tree):
    """The authorized listener allows 127.0.0.1 explicitly before excluding 127.0.0.0/8."""
    subprocess.run(["postconf", "-c", inst.config_dir, "-P", "-e",
                    f"{key(inst, 'authorized')}/smtpd_authorized_xclient_hosts="
                    "127.0.0.1,!127.0.0.0/8,[::1]"], check=True)
    inst.reload()


def prepare_symlink_main_cf(inst, tree):
    kept = os.path.join(inst.base, "kept")
    os.makedirs(kept, exist_ok=True)
    shutil.move(os.path.join(inst.config_dir, "main.cf"), os.path.join(kept, "main.cf"))
    os.symlink(os.path.join(kept, "main.cf"), os.path.join(inst.config_dir, "main.cf"))


PREPARE: Dict[str, Callable[[Any, str], None]] = {
    "hand_edit_bad_boolean": prepare_hand_edit_bad_boolean,
    "hand_edit_inet_protocols": prepare_hand_edit_inet_protocols,
    "good_edit_then_bad_hand_edit": prepare_good_edit_then_bad_hand_edit,
    "exception_before_negation": prepare_exception_before_negation,
    "symlink_main_cf": prepare_symlink_main_cf,
}


def run_as_nobody(tree, module, args, check_mode):
    """The module run as the user nobody (a user who may read the config, as in check
    mode without become)."""
    argv, env, path = module_command(module, args, check_mode, collections=tree)
    os.chmod(path, 0o644)
    os.chmod(tree, 0o755)  # mkdtemp's
    try:
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               *argv], env=dict(env, HOME="/tmp"), cwd="/",
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        os.unlink(path)
    try:
        return json.loads(done.stdout)
    except ValueError:
        text = done.stdout + done.stderr
        return {"failed": True, "msg": text[-300:], "traceback": "Traceback" in text}


# ------------------------------------------------------------------ the judge
# In a proof's words (Proof.words): an answer, a log line that refuses, a message's fate.
ANSWER = re.compile(r"((?:(?:MAIL FROM|RCPT TO):<[^>]*>|EHLO after STARTTLS|EHLO|STARTTLS"
                    r"|end of DATA|DATA) answered \d{3}.*?|greeting \d{3}.*?"
                    r"|the STARTTLS handshake failed: .*?"
                    r"|TimeoutError.*?|the Postfix master process is not running)"
                    r"(?= \((?:\d|\[)|; |$)")
LOG_WORDS = re.compile(r"([\w-]+: (?:fatal|panic|warning): .*?)(?= \((?:\d|\[)|; |$)")
FATE = re.compile(r"the test message was not delivered: .*?(status=\w+ \([^)]*\))")
SHADOW_SAID = re.compile(r"mail does not flow there(?:, so Postfix was not \w+ with them)?: ")
STAMP = re.compile(r"\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ ")


def postfix_words(text, baseline=frozenset()):
    """Postfix's own words in a proof's or a module's message: the first answer that
    refused (not one in ``baseline``, which the pristine instance gives too), the first
    log line that refuses, a message's fate; else the text."""
    text = re.sub(r"\[\d+\]:", ":", STAMP.sub("", text))
    answers = [m.group(1) for m in ANSWER.finditer(text)
               if re.sub(r":\d+\]", "]", m.group(1)) not in baseline]
    answers = [a for a in answers if not a.startswith("TimeoutError")] or answers
    found = answers[:1] + [m.group(1) for m in (LOG_WORDS.search(text), FATE.search(text))
                           if m]
    return "; ".join(dict.fromkeys(found)) if found else text


def refusal(msg, baseline):
    """A module's refusal for the table: the shadow's findings in Postfix's words."""
    said = SHADOW_SAID.search(msg)
    if said:
        return "on a shadow: " + postfix_words(msg[said.end():], baseline)
    return msg


def xclient_offered(port, identity=None):
    """Whether the listener offers XCLIENT to 127.0.0.1 and, after ``XCLIENT identity``,
    to that identity (authorization is re-checked against the new identity)."""
    commands: Tuple[bytes, ...] = ()
    if identity:
        commands = (f"XCLIENT {identity}".encode("ascii"), b"EHLO probe.test")
    try:
        replies = smtp_replies(port, commands, timeout=5)
    except OSError:
        return False
    if identity:
        return replies[2][0].startswith("220") and \
            any(line[4:].startswith("XCLIENT") for line in replies[3])
    return any(line[4:].startswith("XCLIENT") for line in replies[1])


def mail_verdict(inst, log, baseline, said="", seconds=JUDGE_SECONDS):
    """'' when mail flows (the current product's judge), else why not in Postfix's words
    (``said``: what the reload printed)."""
    controls = Controls(Postconf(runner, inst.config_dir))
    since = time.time() - seconds
    alive, _steps, why = prove_alive(controls, seconds, True, log, baseline)
    if not alive:
        fatal = [unstamped(line) for line in fatal_lines(controls.pc, log, since, said)]
        return "; ".join([why] + [f for f in fatal[:2] if f not in why])
    # the same proof with a message through every listener to its transport
    pc = controls.pc
    mark = log_offset(pc)

    def lines():
        with open(mark[0] or "", "rb") as fh:
            fh.seek(mark[1])
            return fh.read().decode("utf-8", "replace").splitlines()

    proof = prove_mail_flows(live_endpoints(pc), seconds, proof_domain(pc), log=lines,
                             send_data=True)
    if failures(proof) - baseline:
        return "with a message: " + proof.words()
    return ""


def outcome(inst, case, tree, baseline):
    """One run of ``case`` with the collection in ``tree``: (outcome, seconds, restart)."""
    port = free_port()
    cfg = inst.config_dir
    if case.prepare:
        PREPARE[case.prepare](inst, tree)
    before = sha(cfg)
    pc = Postconf(runner, cfg)
    log = log_offset(pc)
    began = time.monotonic()
    result: Dict[str, Any] = {}
    for module, make_args in case.calls:
        args = dict(make_args(inst, port))
        if module != "source_address":
            args["config_dir"] = cfg
        if case.extra.get("as_nobody"):
            result = run_as_nobody(tree, module, args, case.check_mode)
        else:
            result = hazard_figures.run(tree, module, args, check_mode=case.check_mode)
        if result.get("failed"):
            break
    seconds = time.monotonic() - began
    raw = str(result.get("exception") or result.get("msg", ""))
    msg = " ".join(raw.split())
    if result.get("traceback") or "Traceback" in raw or result.get("exception"):
        last = [line for line in raw.splitlines() if line.strip()][-1:]
        return f"traceback: {' '.join(last).strip()[-160:]}", seconds, False
    changed_files = sha(cfg) != before
    if case.plain_reload is False and "rolled back" in msg:
        verdict = mail_verdict(inst, log, baseline)
        words = postfix_words(msg, baseline)[:200]
        claim = ("last-known-good did not come up either" if "did not come up either" in msg
                 else "mail flows on last-known-good")
        after = ("mail flows" if not verdict
                 else f"mail STOPPED: {postfix_words(verdict, baseline)}")
        kept = case.extra.get("kept")
        if kept and kept not in open(os.path.join(cfg, "main.cf"), encoding="utf-8").read():
            after += f"; the good edit ({kept}) was REVERTED"
        return (f"rolled back after {seconds:.0f} s (timeout: {args.get('timeout')} s):"
                f" {words}; the module says: {claim}; then {after}", seconds, True)
    if result.get("failed"):
        # (not judged: a refusal changed nothing; on the instance-* rows the user's hand
        # edit stays on disk, and whether an idle smtpd of before serves the next client
        # or a new one that reads it is a matter of timing)
        state = "files byte-identical" if not changed_files else "files CHANGED"
        return (f"refused, {state}: {refusal(msg, baseline)[:200]}", seconds,
                case.plain_reload is False)
    if case.check_mode:
        return ("check mode: would write (changed)" if result.get("changed")
                else "check mode: no change"), seconds, False
    if module == "source_address":
        return f"answered: {result.get('address')}", seconds, False
    if not changed_files and not result.get("changed"):
        return "not written (unchanged)", seconds, False
    said = ""
    if case.plain_reload:
        old = inst.children()
        done = inst.postfix("reload", check=False)
        said = done.stdout + done.stderr
        wait_settled(Controls(pc), old, time.monotonic() + 10)
    verdict = mail_verdict(inst, log, baseline, said)
    if verdict:
        return (f"written{wrote(result)}, mail STOPPED: {postfix_words(verdict, baseline)[:240]}",
                seconds, True)
    bad, good = [], []
    if case.xclient:
        where = port if case.xclient == "new" else inst.ports[case.xclient]
        if xclient_offered(where, case.identity):
            bad.append(f"XCLIENT open to an outside client ({case.identity})")
        else:
            good.append(f"XCLIENT refused to {case.identity}")
    if case.extra.get("kept_xclient"):
        if xclient_offered(inst.ports[case.extra["kept_xclient"]]):
            good.append("the explicitly allowed 127.0.0.1 may still send XCLIENT")
        else:
            bad.append("the explicitly allowed 127.0.0.1 may no longer send XCLIENT")
    if case.prepare == "symlink_main_cf":
        if os.path.islink(os.path.join(cfg, "main.cf")):
            good.append("main.cf is still the symlink")
        else:
            bad.append("main.cf symlink replaced by a regular file")
    if bad:
        return f"written{wrote(result)}, mail flows but " + "; ".join(bad), seconds, True
    return f"written{wrote(result)}, mail flows" + "".join(f"; {g}" for g in good), \
        seconds, True


def wrote(result):
    """What a config module wrote, when it says (postconf's value_after)."""
    value = result.get("value_after")
    return f" `{value}`" if isinstance(value, str) and len(value) < 60 else ""


# ------------------------------------------------------------------ the table
def machine():
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kib = int(fh.readline().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/etc/debian_version", encoding="ascii") as fh:
            debian = f"Debian {fh.read().strip()}"
    except OSError:
        debian = platform.platform()
    version = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True,
                             text=True, check=False).stdout.strip()
    return (f"{debian}, {os.cpu_count()} cores{mem}, Postfix {version}, Python"
            f" {platform.python_version()} (the `python` kind of /work/.library/env)")


KINDS = (("did not come up either", "rolled back, said not up"),
         ("rolled back", "rolled back"), ("traceback", "traceback"),
         ("mail STOPPED", "written, mail stopped"), ("XCLIENT open", "written, XCLIENT open"),
         ("may no longer", "written, an allowed client revoked"),
         ("symlink replaced", "written, symlink replaced"),
         ("refused, files byte-identical", "refused, files identical"),
         ("refused", "refused, files CHANGED"), ("written", "written, mail flows"),
         ("check mode: would write", "check mode would write"))


def tally(rows, rev):
    """How many rows of column ``rev`` end each way."""
    counts: Dict[str, int] = {}
    for row in rows:
        kind = next((name for needle, name in KINDS if needle in row[rev]), "other")
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def write_table(path, rows, revs, command, elapsed):
    before, after = revs
    lines = [
        "# Issue 19: hazards before and after, from real runs",
        "",
        f"Generated by `{command}` on"
        f" {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"
        f" in {elapsed:.0f} s; machine: {machine()}.",
        "",
        "Each hazard is a module call of the collection against one running private Postfix"
        " (tests/harness/private_postfix.py, loopback ports). Before = the collection at"
        f" {before}, after = {after}"
        f" ({provenance(before, after)}). After a"
        " module that wrote, Postfix was reloaded the plain way (`postfix reload`), as a"
        " user did, and judged by the current product: postfix_instance's mail-flows proof"
        " (EHLO, STARTTLS where offered, MAIL FROM:<>, RCPT TO:<postmaster@...> on every"
        " smtpd listener, no new fatal/unknown/configuration-error log line), then the same"
        " proof with a message to its transport; for XCLIENT lists whether an outside"
        " identity (XCLIENT ADDR=203.0.113.7 NAME=...) is then offered XCLIENT. A refusal"
        " is checked for main.cf and master.cf byte-identical (sha256). The instance is put"
        " back (files, stop and start) after each run. The `instance-*` rows run"
        " postfix_instance itself on a hand edit (no plain reload).",
        "",
        f"{len(rows)} hazards ({sum(r['origin'].startswith('issue') for r in rows)} of the"
        f" issue, {sum(r['origin'].startswith('ours') for r in rows)} of our own)."
        f" Before: {tally(rows, before)}. After: {tally(rows, after)}.",
        "",
        f"| hazard | origin | before ({before}) | after ({after}) |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(f"| `{cell(row['id'])}` | {row['origin']} | {cell(row[before])}"
                     f" | {cell(row[after])} |")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def git(*argv):
    return subprocess.run(["git", "-C", ROOT, *argv], check=True, capture_output=True,
                          text=True).stdout.strip()


def provenance(before, after):
    """What ``before`` is in history and where ``after``'s plugins/ last changed, for the
    table's header."""
    shadow_commits = git("log", "--reverse", "--format=%h", f"{before}..{after}", "--",
                         "plugins/module_utils/_shadow.py").splitlines()
    first = shadow_commits[0] if shadow_commits else ""
    fork = git("rev-parse", "--short", git("merge-base", before, first)) if first else ""
    same = fork and not git("diff", "--stat", fork, before, "--", "plugins/modules",
                            "plugins/module_utils")
    said = (f"the shadow work began with {git('log', '-1', '--format=%h %s', first)[:60]}..."
            f" on {fork}; {before}'s plugins/modules and module_utils are those of {fork}"
            if same else f"{before}'s modules differ from the fork point {fork}")
    plugins = git("log", "-1", "--format=%h", after, "--", "plugins")
    return f"{said}; the after column's plugins/ last changed in {plugins}"


def short(rev):
    return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", rev], check=True,
                          capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("--only", nargs="*", help="hazard ids (default: all)")
    parser.add_argument("--table", default=TABLE, help="markdown file to write")
    parser.add_argument("--json", help="also write the rows as JSON here")
    opts = parser.parse_args()
    revs = (short(opts.before), short(opts.after))
    trees = {rev: hazard_figures.collection_tree(rev) for rev in revs}
    cases = [h for h in HAZARDS if not opts.only or h.id in opts.only]
    began = time.monotonic()
    rows: List[Dict[str, Any]] = []
    try:
        with running_instance("hazard-ba-", ipv6=True, tls=False) as inst:
            add_tables(inst)
            pristine = snapshot(inst)
            pc = Postconf(runner, inst.config_dir)
            baseline: Set[str] = failures(prove_mail_flows(live_endpoints(pc), 10,
                                                           proof_domain(pc)))
            print(json.dumps({"baseline": sorted(baseline)}), flush=True)
            for case in cases:
                row: Dict[str, Any] = {"id": case.id, "origin": case.origin}
                for rev in revs:
                    try:
                        said, seconds, restart = outcome(inst, case, trees[rev], baseline)
                    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                        said, seconds, restart = f"harness error: {exc}", 0.0, True
                    row[rev] = said
                    row[f"{rev}_seconds"] = round(seconds, 1)
                    restore(inst, pristine, restart)
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        for tree in trees.values():
            shutil.rmtree(tree, ignore_errors=True)
    elapsed = time.monotonic() - began
    command = "python3 tests/harness/hazard_before_after.py" + "".join(
        f" {a}" for a in sys.argv[1:])
    write_table(opts.table, rows, revs, command, elapsed)
    if opts.json:
        with open(opts.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    print(f"{len(rows)} hazards in {elapsed:.0f} s; table: {opts.table}")


if __name__ == "__main__":
    main()
