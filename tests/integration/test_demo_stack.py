# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles end to end: the demo playbook (Postfix + nginx XCLIENT proxy + proxsmtp XCLIENT
filter, verified) on its own loopback ports and directory, from an installed build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import parse_cases
from ansible_collections.mailops.xclient.plugins.module_utils._probe_runner import (
    ProbeTarget,
    run_cases,
)
import collection
from collection import ROOT
from private_postfix import free_port
from test_benchmarks_smoke import run_quick

DEMO = os.path.join(ROOT, "playbooks", "demo.yml")


def demo_vars(base):
    return {"demo_base": base, "demo_install": False,
            "demo_proxy_port": free_port(), "demo_filter_port": free_port(),
            "demo_auth_port": free_port(), "demo_postfix_proxy_port": free_port(),
            "demo_postfix_filter_port": free_port(), "demo_postfix_inject_port": free_port(),
            "demo_upstream_smtp_port": free_port(), "demo_upstream_pop3_port": free_port(),
            "demo_upstream_imap_port": free_port()}


def play(collections, extra, *args):
    return collection.playbook(collections, DEMO, *args, extra_vars=extra, timeout=900,
                               env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})


def stop(base):
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo-stop.sh")], check=False,
                   env=dict(os.environ, DEMO_BASE=base), capture_output=True)


@pytest.fixture(scope="module")
def stack(installed_collection):
    base = tempfile.mkdtemp(prefix="xclient-demo-test-", dir="/var/tmp")
    shutil.rmtree(base)  # the check-mode run must find nothing and create nothing
    extra = demo_vars(base)
    runs = {"check": play(installed_collection, extra, "--check")}
    runs["check_left"] = os.path.exists(base)
    runs["first"] = play(installed_collection, extra)
    runs["second"] = play(installed_collection, extra)
    try:
        yield base, extra, runs
    finally:
        stop(base)
        shutil.rmtree(base, ignore_errors=True)


def test_check_mode_first_run_changes_nothing_on_disk(stack):
    _base, _extra, runs = stack
    assert runs["check"].returncode == 0, runs["check"].tail()
    assert runs["check_left"] is False


def test_first_run_deploys_and_verifies(stack):
    base, extra, runs = stack
    first = runs["first"]
    assert first.returncode == 0, first.tail(5000)
    stats = first.host_stats()
    assert (stats["failures"], stats["unreachable"]) == (0, 0), stats
    # the verify role's final assertion ran (was not skipped) and held
    assert [t["status"] for t in first.named("Everything behaved as declared")] == ["ok"]
    # the coverage line (issue 21): every access rule of the proxy listener has a case,
    # and they hold
    coverage = [t["result"]["msg"] for t in first.named("Access rule coverage")]
    assert [lines[0] for lines in coverage] == [
        "coverage: 6 of 6 rules covered, 0 shadowed"], coverage
    # and one what-if (issue 21): the REJECT line it previews changes one client's verdict
    whatif = [t["result"]["msg"] for t in first.named("What-if")]
    assert whatif == ["whatif: client_access.cidr +1 -0 (203.0.113.0/24 REJECT) -> 1 clients"
                      " change verdict"], whatif
    # the verify role recorded its verdict baselines (the second run compares with them
    # and changes nothing: test_second_run_changes_nothing)
    recorded = set(os.listdir(os.path.join(base, "verify-baseline")))
    assert {"proxy.json", "filter.json"} <= recorded, recorded
    with open(os.path.join(base, "endpoints"), encoding="utf-8") as fh:
        assert fh.read().splitlines() == [
            f"proxy: 127.0.0.1:{extra['demo_proxy_port']}",
            f"filter: 127.0.0.1:{extra['demo_filter_port']}",
            f"maillog: {base}/postfix/maillog",
            f"upstream: 127.0.0.1:{extra['demo_upstream_smtp_port']}",
            "upstream_rcpt: demo@upstream.test",
            f"fetch_now: kill -USR1 \"$(head -n1 {base}/fetch/state/fetchmail.pid)\""]


def queued_mail(result):
    """The cases of a probe result (or of its loop items) whose message the server
    accepted: mail was queued."""
    items = result.get("results") or [result]
    return [c["name"] for r in items for c in r.get("cases", [])
            if (((c.get("stages") or {}).get("data") or {}).get("code") or 0) // 100 == 2]


# The demo sends mail on every run, on purpose: the verify role's filter case and the two
# upstream messages carry data. A probe that queues mail reports changed (issue 20): that
# is true, not drift. Everything else - files, services, baselines - is unchanged.
SENDS_MAIL = {
    "Probe through the filter - verify_concurrency cases at a time, each up to"
    " verify_timeout seconds; cases: 2": 1,
    "Send to the upstream provider as two clients, each with its own HELO": 2,
}


def test_second_run_changes_nothing(stack):
    second = stack[2]["second"]
    assert second.returncode == 0, second.tail()
    changed = second.statuses("changed")
    assert sorted(t["task"].split(" : ")[-1] for t in changed) == sorted(SENDS_MAIL)
    for t in changed:
        name = t["task"].split(" : ")[-1]
        # changed because it queued mail, and only that: no baseline file was written
        assert len(queued_mail(t["result"])) == SENDS_MAIL[name], t["result"]
        assert (t["result"].get("baseline") or {}).get("action", "compared") == "compared"
    assert second.host_stats()["changed"] == len(SENDS_MAIL)


def test_postfix_decides_and_logs_as_the_original_client(stack):
    base = stack[0]
    log = open(os.path.join(base, "postfix", "maillog"), encoding="utf-8").read()
    # through nginx: ADDR and NAME ([UNAVAILABLE] without a resolver -> unknown)
    assert "postfix/proxy/smtpd" in log
    assert "NOQUEUE: reject: RCPT from unknown[127.0.0.66]: 554 5.7.1" in log
    assert "client=unknown[127.0.0.10]" in log
    # through proxsmtp: ADDR only, so the filter's own name with the client's address
    assert "NOQUEUE: reject: RCPT from localhost[127.0.0.66]: 554 5.7.1" in log
    assert "client=localhost[127.0.0.10]" in log
    # the proxy's and filter's own address (127.0.0.1) was never what Postfix judged
    assert "reject: RCPT from localhost[127.0.0.1]" not in log


def test_message_through_filter_arrives_with_the_filter_header(stack):
    base = stack[0]
    log = open(os.path.join(base, "postfix", "maillog"), encoding="utf-8").read()
    assert "warning: header X-Filtered-By: proxsmtp-xclient from localhost[127.0.0.10]" in log
    assert "relay=none" in log and "status=sent (demo)" in log


def test_backends_refuse_xclient_from_others(stack):
    _base, extra, _runs = stack
    for port in (extra["demo_postfix_proxy_port"], extra["demo_postfix_filter_port"],
                 extra["demo_postfix_inject_port"]):
        (r,) = run_cases(parse_cases([{
            "name": "impostor", "source_address": "127.0.0.2", "force_xclient": True,
            "xclient": {"addr": "192.0.2.1"}, "expect": {"xclient": "refused"}}]),
            ProbeTarget(server="127.0.0.1", port=port, helo="t.test"))
        assert r["passed"], r
        assert (r["stages"]["xclient"]["code"], r["stages"]["xclient"]["enhanced"]) == (
            550, "5.7.0")


def test_fetched_mail_enters_postfix_as_the_upstream_client(stack):
    """Upstream Postfix -> Dovecot -> fetchmail -> xclient-inject -> the demo's Postfix."""
    base = stack[0]
    log = open(os.path.join(base, "postfix", "maillog"), encoding="utf-8").read()
    inject = [ln for ln in log.splitlines() if "postfix/inject/smtpd" in ln]
    # two demo runs: each sends one accepted and one blocked message
    assert sum("client=unknown[192.0.2.10]" in ln for ln in inject) == 2
    rejects = [ln for ln in inject if "reject: RCPT from unknown[192.0.2.66]: 554 5.7.1" in ln]
    assert len(rejects) == 2 and all("helo=<client66.demo.test>" in ln for ln in rejects)
    # No message entered as the loopback client. The mail-flows proof's sessions (postfix
    # role starts and reloads: RCPT TO:<postmaster@example.net> from 127.0.0.1, never DATA)
    # open a queue file too, but no message: only queue ids with a message-id are mail.
    mail = set(re.findall(r": ([0-9A-F]{6,}): message-id=", log))
    assert "127.0.0.1]" not in " ".join(
        ln for ln in inject
        if "client=" in ln and re.search(r": ([0-9A-F]{6,}): client=", ln)
        and re.search(r": ([0-9A-F]{6,}): client=", ln).group(1) in mail)
    assert mail, "no message-id line in the demo's log"
    quarantine = os.path.join(base, "fetch", "state", "quarantine", "new")
    assert len(os.listdir(quarantine)) == 2
    upstream_new = os.path.join(base, "upstream", "postfix", "mail", "upstream.test", "demo",
                                "Maildir", "new")
    assert os.listdir(upstream_new) == []
    upstream_log = open(os.path.join(base, "upstream", "postfix", "maillog"),
                        encoding="utf-8").read()
    assert upstream_log.count("status=sent (delivered to maildir)") == 4
    # the fetch configuration holds the password: only its owner reads it
    assert os.stat(os.path.join(base, "fetch", "etc", "fetchmailrc")).st_mode & 0o777 == 0o600
    assert "demo-secret" not in stack[2]["first"].stdout + json.dumps(stack[2]["first"].tasks)


def test_junit_report(stack):
    base = stack[0]
    root = ET.parse(os.path.join(base, "verify-junit.xml")).getroot()
    assert root.tag == "testsuites"
    # the demo's four cases (two through each hop), the security check of each of the two
    # backend listeners, and the audit of the Postfix configuration
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "0", "0")
    suites = {s.get("name"): [c.get("name") for c in s.findall("testcase")]
              for s in root.findall("testsuite")}
    assert suites == {
        "proxy": ["via proxy from 127.0.0.66 is rejected as 127.0.0.66",
                  "via proxy from 127.0.0.10 is accepted"],
        "filter": ["via filter from 127.0.0.66 is rejected as 127.0.0.66",
                   "via filter from 127.0.0.10 is accepted and delivered"],
        "security": ["postfix-proxy-listener refuses XCLIENT from 127.0.0.2",
                     "postfix-filter-listener refuses XCLIENT from 127.0.0.2"],
        "postfix_info": ["no findings of severity error"]}


BAD = [
    ({"nginx_proxy_listeners": [{"address": "not-an-ip", "port": 2525}]},
     "nginx_proxy_listeners[0].address"),
    ({"postfix_xclient_listeners": [{"name": "proxy", "address": "10.0.0.300", "port": 10025}]},
     "postfix_xclient_listeners[0].address"),
    ({"nginx_proxy_tls_certificate": "/nonexistent/cert.pem",
      "nginx_proxy_tls_certificate_key": "/nonexistent/key.pem"},
     "nginx_proxy_tls_certificate: /nonexistent/cert.pem does not exist"),
    ({"clash": True}, "both use port"),
    ({"fetch_inject_mailboxes": [{"server": "127.0.0.1", "user": "u", "password": "p"}]},
     "deliver_to"),
    ({"fetch_inject_listener_address": "localhost"}, "fetch_inject_listener_address"),
    ({"fetch_inject_mailboxes": [{"server": "127.0.0.1", "user": "u", "password": "p",
                                  "deliver_to": ["postmaster@example.net"],
                                  "received_by": "("}]},
     "fetch_inject_mailboxes[0].received_by"),
    # the identity comes only from the MX's header: without received_by no header is trusted
    ({"fetch_inject_mailboxes": [{"server": "127.0.0.1", "user": "u", "password": "p",
                                  "deliver_to": ["postmaster@example.net"]}]},
     "missing required arguments: received_by"),
    ({"fetch_inject_mailboxes": [{"server": "127.0.0.1", "user": "u", "password": "p",
                                  "deliver_to": ["postmaster@example.net"],
                                  "received_by": "mx", "internal_networks": ["192.0.2.0/33"]}]},
     'fetch_inject_mailboxes[].internal_networks: \\"192.0.2.0/33\\" is not a network'),
]


@pytest.mark.parametrize("override,needle", BAD, ids=[n for _o, n in BAD])
def test_bad_variables_stop_the_play_before_any_change(installed_collection, override,
                                                       needle):
    base = tempfile.mkdtemp(prefix="xclient-demo-bad-", dir="/var/tmp")
    shutil.rmtree(base)
    extra = demo_vars(base)
    if override.pop("clash", False):
        extra["demo_filter_port"] = extra["demo_proxy_port"]
    extra.update(override)
    done = play(installed_collection, extra)
    assert done.returncode == 2, done.tail()
    # a validation failed (the last failed task: a rescue may say why the one before
    # failed), and it names the variable; nothing changed before it
    failed = done.statuses("failed")[-1]
    assert needle in json.dumps(failed["result"]), (failed, done.tail())
    assert not os.path.exists(base)
    assert [t["task"] for t in done.statuses("changed")] == []
    assert (done.host_stats()["changed"], done.host_stats()["failures"]) == (0, 1)


def test_proxy_throughput_benchmark_runs_on_this_stack(stack):
    """The proxy_throughput benchmark's --quick form (the benchmarks' smoke test, in
    test_benchmarks_smoke.py for the others) on the stack this module deployed, last: it
    deploys nothing, and leaves the stack as it found it."""
    base, extra, _runs = stack
    result = run_quick("proxy_throughput", "--stack-vars", json.dumps(extra))
    assert result["deployed"] is False
    # --quick: per size (2), 20 warm-up messages and one run of 60 on each of the 4 paths;
    # every one of them arrived
    assert (result["messages_per_run"], result["runs"]) == (60, 1)
    assert result["messages_delivered"] == result["messages_sent"] == 2 * (20 + 4 * 60)
    for size in ("small", "100k"):
        rates = result["messages_per_s"][size]
        assert set(rates) == {"direct", "proxy", "filter", "filter_hop"}
        assert all(rate > 0 for rate in rates.values())
        assert set(result["ratios"][size]) == {"proxy_over_direct", "filter_over_direct",
                                               "filter_hop_over_direct"}
    # the stack is still there, and the benchmark's extra filter has exited
    assert os.path.exists(os.path.join(base, "postfix", "maillog"))
    hop = os.path.join(base, "proxsmtp", "hop.conf")
    left = subprocess.run(["pgrep", "-f", hop], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == "", f"the filter_hop proxsmtpd still runs: {left.stdout}"
    assert not os.path.exists(hop)
