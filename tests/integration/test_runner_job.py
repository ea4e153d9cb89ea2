# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The verify role and a probe play as AWX / Automation Controller runs them: through
ansible-runner (``ansible_runner.run`` with a private data directory, subprocess mode: no
TTY; artifacts and job events), against the lab's hosts (tests/lab/lab.py, 2 client hosts,
only mx deployed), the collection installed from its tarball as in an execution
environment, the secrets given as extra variables as a credential or a survey gives them.

One job that passes: every case's result is in the job events, each host's JUnit file is
written. One job where a case fails: the job fails, the event and the JUnit file say which
case. Neither job's events, nor any file in the private data directory but the extra
variables the secrets came in, holds the XCLIENT LOGIN or the mailbox password.
"""

from __future__ import annotations

import collections
import os
import secrets
import sys
import xml.etree.ElementTree as ET
from typing import Any, Dict, Iterator, List, Tuple

import ansible_runner
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import collection  # noqa: E402
import lab  # noqa: E402
import lab_test  # noqa: E402

JOB = os.path.join(ROOT, "playbooks", "lab_fleet_job.yml")
CLIENTS = ["client1", "client2"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """The lab with 2 client hosts and mx deployed; the collection installed from its tarball."""
    assert os.geteuid() == 0, "the lab needs root (network namespaces)"
    collections_path = collection.install(str(tmp_path_factory.mktemp("ee")))
    inventory = lab.up(len(CLIENTS))
    try:
        deploy = lab_test.playbook(inventory, "ssh", 1, "runner-deploy-mx",
                                   ["--tags", "deploy", "--limit", "mta"])
        assert lab_test.problems_of(deploy, ["mx"], False) == []
        yield {"inventory": inventory, "collections": collections_path,
               "hosts": lab.hosts(len(CLIENTS))}
    finally:
        lab.down()


def run_job(fleet: Dict[str, Any], data_dir: str,
            **extravars: Any) -> Tuple[Any, List[Dict[str, Any]]]:
    """One job through ansible-runner as AWX starts it; returns the runner and its events."""
    os.makedirs(data_dir)
    env = {k: v for k, v in lab_test.lab_env("ssh", len(CLIENTS)).items()
           if not k.startswith("ANSIBLE_STDOUT") and not k.startswith("ANSIBLE_CALLBACK")}
    env.update(ANSIBLE_COLLECTIONS_PATH=fleet["collections"],
               ANSIBLE_HOME=os.path.join(ROOT, "build", "ansible-home"), ANSIBLE_NOCOLOR="1")
    runner = ansible_runner.run(
        private_data_dir=data_dir, playbook=JOB, inventory=fleet["inventory"],
        extravars=extravars, envvars=env, forks=len(CLIENTS),
        quiet=True, settings={"suppress_ansible_output": True, "job_timeout": 600})
    return runner, list(runner.events)


def cases_in(value: Any) -> Iterator[Dict[str, Any]]:
    """Every probe case result (a dict with name, status and passed) inside an event's result."""
    if isinstance(value, dict):
        if {"name", "status", "passed"} <= value.keys():
            yield value
        for v in value.values():
            yield from cases_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from cases_in(v)


def case_results(events: List[Dict[str, Any]]) -> Dict[Tuple[str, str], bool]:
    out: Dict[Tuple[str, str], bool] = {}
    for e in events:
        data = e.get("event_data", {})
        if e["event"] in ("runner_on_ok", "runner_on_failed", "runner_item_on_ok",
                          "runner_item_on_failed"):
            for case in cases_in(data.get("res", {})):
                out[(data["host"], case["name"])] = case["passed"]
    return out


def expected_cases(fleet: Dict[str, Any], host: str) -> List[str]:
    addr = fleet["hosts"][host]
    return [f"{host} mails mx from {addr}",
            f"{host} may not send XCLIENT with a LOGIN to mx",
            f"mx-proxy-listener refuses XCLIENT from {addr}",
            f"mx-filter-listener refuses XCLIENT from {addr}"]


def junit(path: str) -> Tuple[Dict[str, str], Dict[str, str]]:
    """(the testsuites' counts, testcase name -> 'passed' or the failure message)."""
    root = ET.parse(path).getroot()
    cases = {}
    for tc in root.iter("testcase"):
        failure = tc.find("failure")
        cases[tc.get("name", "")] = "passed" if failure is None else failure.get("message", "")
    return dict(root.attrib), cases


def secret_scan(data_dir: str, events: List[Dict[str, Any]], found_in: str,
                secret_values: List[str]) -> Tuple[List[str], int]:
    """Where a secret appears: any file under the private data directory but the extra
    variables it was given in (``found_in``, which must hold them: the scan can see), and
    any event. Returns the 'file: secret' / 'event N: secret' lines and how many files it
    read."""
    hits, scanned = [], 0
    with open(found_in, "rb") as fh:
        given = fh.read()
    assert all(s.encode() in given for s in secret_values), "the secrets were not given"
    for top, _dirs, files in os.walk(data_dir):
        for name in files:
            path = os.path.join(top, name)
            if path == found_in:
                continue
            scanned += 1
            with open(path, "rb") as fh:
                blob = fh.read()
            hits += [f"{os.path.relpath(path, data_dir)}: {s[:12]}..." for s in secret_values
                     if s.encode() in blob]
    for i, e in enumerate(events):
        text = repr(e)
        hits += [f"event {i} ({e['event']}): {s[:12]}..." for s in secret_values if s in text]
    assert scanned > len(events), f"only {scanned} files scanned"  # every job event is a file
    return hits, scanned


def leak_free_job(fleet: Dict[str, Any], tmp_path: Any, **extravars: Any) -> Dict[str, Any]:
    """A job with a fresh LOGIN and mailbox password; asserts that neither appears in any
    event or file; returns the runner, its events, their counts and the JUnit directory."""
    login = "fleetLOGIN" + secrets.token_hex(12)
    password = "fleetMAILBOX" + secrets.token_hex(12)
    data_dir, junit_dir = str(tmp_path / "job"), str(tmp_path / "junit")
    os.makedirs(junit_dir)
    runner, events = run_job(fleet, data_dir, fleet_login=login, fleet_mailbox_password=password,
                             fleet_junit_dir=junit_dir, **extravars)
    counts = collections.Counter(e["event"] for e in events)
    given = os.path.join(data_dir, "env", "extravars")
    hits, scanned = secret_scan(data_dir, events, given, [login, password])
    assert hits == []
    print(f"\nrunner job: {runner.status}, rc {runner.rc}, {len(events)} events:"
          f" {dict(sorted(counts.items()))}; secrets in none of {scanned} files"
          f" and {len(events)} events")
    return {"runner": runner, "events": events, "counts": counts, "junit": junit_dir}


def stats_of(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    (stats,) = [e["event_data"] for e in events if e["event"] == "playbook_on_stats"]
    return stats


def test_runner_job_passes_and_leaks_nothing(fleet, tmp_path):
    job = leak_free_job(fleet, tmp_path)
    runner, events, counts = job["runner"], job["events"], job["counts"]
    assert (runner.status, runner.rc) == ("successful", 0), (counts, runner.stdout.read()[-4000:])
    assert counts["playbook_on_start"] == 1 and counts["playbook_on_stats"] == 1
    assert counts["runner_on_failed"] == 0 and counts["runner_on_unreachable"] == 0
    stats = stats_of(events)
    assert sorted(stats["ok"]) == CLIENTS and not stats["failures"] and not stats["dark"]
    got = case_results(events)
    for host in CLIENTS:
        want = expected_cases(fleet, host) + [f"{host} may not send XCLIENT to mx's proxy listener"]
        assert {name: got.get((host, name)) for name in want} == {name: True for name in want}
        attrs, cases = junit(os.path.join(job["junit"], f"{host}.xml"))
        assert (attrs["tests"], attrs["failures"], attrs["errors"]) == ("4", "0", "0"), attrs
        assert cases == {name: "passed" for name in expected_cases(fleet, host)}
    # The LOGIN went out (masked in the transcript the event carries).
    assert any("LOGIN=********" in repr(e) for e in events)


def test_runner_job_fails_with_a_failed_case(fleet, tmp_path):
    job = leak_free_job(fleet, tmp_path, fleet_wrong_host="client2")
    runner, events = job["runner"], job["events"]
    assert (runner.status, runner.rc) == ("failed", 2), job["counts"]
    assert stats_of(events)["failures"] == {"client2": 1}
    failed = [e["event_data"] for e in events if e["event"] == "runner_on_failed"]
    assert [(f["host"], f["task"].split(" : ")[-1]) for f in failed] == [
        ("client2", "Everything behaved as declared")]
    wrong = f"client2 mails mx from {fleet['hosts']['client2']}"
    assert wrong in failed[0]["res"]["msg"]
    got = case_results(events)
    assert got[("client2", wrong)] is False
    assert got[("client1", f"client1 mails mx from {fleet['hosts']['client1']}")] is True
    attrs, cases = junit(os.path.join(job["junit"], "client2.xml"))
    assert (attrs["tests"], attrs["failures"]) == ("4", "1"), attrs
    assert cases[wrong] != "passed" and "rcpt" in cases[wrong]
