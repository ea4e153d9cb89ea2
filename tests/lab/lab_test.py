# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""make lab-test HOSTS=N: lab up -> scenario over ssh -> the same over paramiko (a second
run: changed=0 on every host) -> faults (an unreachable client, an edge mx does not
authorize) -> checks on a copy of mx's maillog -> lab down. The last line printed is one
JSON object; the exit status is 0 only when everything passed.

The scenario runs from this source tree (build/source-collections links it as
mailops.xclient) through scripts/collection.sh. Playbook output is kept in build/lab/;
per-host stats and failures are read from what Ansible recorded, not from the recap text.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import collection  # noqa: E402
import lab  # noqa: E402

OUT = os.path.join(ROOT, "build", "lab")
PLAYBOOK = os.path.join(ROOT, "playbooks", "lab_scenario.yml")


def paramiko_missing() -> str:
    """Why the paramiko connection cannot run here, or "" when it can. It exists in
    ansible-core up to 2.20 (deprecated from 2.19) and was removed in 2.21."""
    import importlib.util
    from ansible import __version__ as core
    if importlib.util.find_spec("ansible.plugins.connection.paramiko_ssh") is None:
        return f"unavailable: ansible-core {core} has no paramiko connection"
    if importlib.util.find_spec("paramiko") is None:
        return "unavailable: the paramiko library is not installed"
    return ""


def lab_env(connection: str, forks: int, pipelining: bool = True,
            control_persist: bool = True) -> Dict[str, str]:
    """What the lab adds to the environment scripts/collection.sh sets up: forks, the ssh
    options, where Ansible keeps its temporary files and control sockets."""
    env = {
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_CALLBACK_FORMAT_PRETTY": "0",
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_PIPELINING": "1" if pipelining else "0",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": os.path.join(lab.BASE, "cp"),
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_LOCAL_TEMP": os.path.join(lab.BASE, "control-tmp"),
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_TIMEOUT": "20",
    }
    if connection == "ssh" and not control_persist:
        env["ANSIBLE_SSH_ARGS"] = "-o ControlMaster=no"
    if connection == "paramiko":
        env["ANSIBLE_PARAMIKO_LOOK_FOR_KEYS"] = "0"
    return env


def playbook(inventory: str, connection: str, forks: int, log_name: str,
             extra: Optional[List[str]] = None, **env_kw: Any) -> Dict[str, Any]:
    """Runs the scenario from the source tree; returns {'rc', 'stats', 'seconds',
    'failures': {host: [msg]}, 'stderr_tail'} - stats and failures as Ansible recorded
    them (tests/harness/callback_plugins/playbook_results.py), not read from the recap."""
    started = time.monotonic()
    run = collection.playbook(collection.SOURCE, PLAYBOOK, "-e", f"ansible_connection={connection}",
                              *(extra or []), inventory=inventory, connection=connection,
                              env=lab_env(connection, forks, **env_kw), timeout=None)
    seconds = round(time.monotonic() - started, 2)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, log_name + ".log"), "w", encoding="utf-8") as fh:
        fh.write(run.stdout + run.stderr)
    return {"rc": run.returncode, "stats": run.stats, "seconds": seconds,
            "failures": run.failure_messages(), "stderr_tail": run.stderr[-2000:],
            "changed_without_mail": changed_without_mail(run.tasks)}


def queued_mail(result: Dict[str, Any]) -> int:
    """Cases of a probe result (or of its loop items) whose message the server accepted."""
    items = result.get("results") or [result]
    return sum(1 for r in items for c in r.get("cases", [])
               if (((c.get("stages") or {}).get("data") or {}).get("code") or 0) // 100 == 2)


def changed_without_mail(tasks: List[Dict[str, Any]]) -> Dict[str, List[str]]:
    """host -> the changed tasks that did not queue mail. A probe case with a message
    queues mail on every run and says so (changed, issue 20); anything else that changes
    on a second run is a defect."""
    out: Dict[str, List[str]] = {}
    for t in tasks:
        if t["status"] == "changed" and not queued_mail(t.get("result") or {}):
            out.setdefault(t["host"], []).append(t["task"])
    return out


def problems_of(run: Dict[str, Any], hosts: List[str], want_changed_zero: bool) -> List[str]:
    out = []
    if run["rc"] != 0:
        out.append(f"ansible-playbook exit status {run['rc']}")
    for h in hosts:
        st = run["stats"].get(h)
        if st is None:
            out.append(f"{h}: no result")
            continue
        if st.get("failures") or st.get("unreachable"):
            out.append(f"{h}: {run['failures'].get(h, st)}")
        if want_changed_zero and run["changed_without_mail"].get(h):
            out.append(f"{h}: changed on the second run: {run['changed_without_mail'][h]}")
    if not run["stats"]:
        out.append("no results recorded: " + run["stderr_tail"][-500:])
    return out


def maillog_checks(maillog: str, clients: Dict[str, str], rejected: str,
                   routes: List[str]) -> List[str]:
    """Per client and route, mx logged the client's own address: the probe message's header
    warning for accepted clients, the RCPT reject for the refused one."""
    with open(maillog, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    out = []
    for name, addr in clients.items():
        for route in routes:
            if addr == rejected:
                pat = (rf"reject: RCPT from [^ ]*\[{re.escape(addr)}\]: 554 5\.7\.1 .*"
                       rf"from=<{name}\+{route}@")
            else:
                pat = (rf"header X-Lab-Probe: {name} via {route} from [^ ]*\[{re.escape(addr)}\];"
                       rf" from=<{name}\+{route}@")
            if not re.search(pat, text):
                out.append(f"mx's log lacks {name} ({addr}) via {route}")
        for listener in ("proxy", "filter"):  # XCLIENT straight from the client: refused
            if not re.search(rf"postfix/{listener}/smtpd\[\d+\]: disconnect from [^ ]*\[{re.escape(addr)}\]"
                             r" ehlo=1 xclient=0/1 ", text):
                out.append(f"mx's log lacks the refused XCLIENT from {name} ({addr}) on {listener}")
    return out


def authorization_checks() -> List[str]:
    """mx authorizes exactly the edges' addresses on the proxy listener and the filter's on
    the reinjection listener: the addresses it sees from them (no default route in the lab,
    so ansible_facts.default_ipv4 would not exist)."""
    conf = os.path.join(lab.BASE, "hosts", "mx", "postfix", "etc")
    mx = lab.SERVERS["mx"]
    want = {f"{mx}:10025/inet": [lab.SERVERS["edge1"], lab.SERVERS["edge2"]],
            f"{mx}:10026/inet": [lab.SERVERS["filter"]]}
    out = []
    for service, addrs in want.items():
        done = subprocess.run(["postconf", "-c", conf, "-P", f"{service}/smtpd_authorized_xclient_hosts"],
                              capture_output=True, text=True, check=False)
        got = sorted(done.stdout.split("=", 1)[-1].replace(",", " ").split())
        if got != sorted(addrs):
            out.append(f"mx authorizes {got} on {service}, expected {sorted(addrs)}")
    return out


def fault_unreachable(inventory: str, victim: str, hosts: List[str]) -> List[str]:
    """A client whose sshd is gone is reported unreachable; the others go on and pass.
    Every process in its namespace is killed: an ssh ControlPersist master of an earlier
    run would otherwise still reach it through its session's sshd."""
    ns = lab.NS_PREFIX + victim
    for pid in lab.run(["ip", "netns", "pids", ns], check=False).stdout.split():
        try:
            os.kill(int(pid), 9)
        except ProcessLookupError:
            pass
    time.sleep(0.5)
    run = playbook(inventory, "ssh", len(hosts), "fault-unreachable", ["--tags", "verify"])
    out = []
    if run["stats"].get(victim, {}).get("unreachable") != 1:
        out.append(f"fault unreachable: {victim} not reported unreachable: {run['stats'].get(victim)}")
    out += [f"fault unreachable: {p}" for p in
            problems_of(dict(run, rc=0), [h for h in hosts if h != victim], False)]
    return out


def fault_unauthorized_edge(inventory: str, edge: str, edge_addr: str) -> List[str]:
    """mx stops authorizing one edge: the edge's own check fails saying which address mx saw."""
    conf = os.path.join(lab.BASE, "hosts", "mx", "postfix", "etc")
    done = collection.run(collection.SOURCE, [
        "ansible", "-i", inventory, "mx", "-m", "mailops.xclient.xclient_hosts",
        "-a", json.dumps({"service": "198.51.100.10:10025/inet", "hosts": [edge_addr],
                          "state": "absent", "config_dir": conf})],
        env=dict(lab_env("ssh", 2), ANSIBLE_STDOUT_CALLBACK="minimal"), timeout=None)
    if done.returncode != 0:
        return [f"fault unauthorized edge: could not change mx: {done.stdout[-400:]}{done.stderr[-400:]}"]
    subprocess.run(["ip", "netns", "exec", lab.NS_PREFIX + "mx", "postfix", "-c", conf, "reload"],
                   capture_output=True, check=True)
    time.sleep(1)
    run = playbook(inventory, "ssh", 2, "fault-unauthorized-edge",
                   ["--tags", "verify", "--limit", "edges"])
    msgs = " ".join(run["failures"].get(edge, []))
    out = []
    named = re.search(rf"refused connection from\s+{re.escape(edge_addr)}\s", msgs)
    if f"mx refused XCLIENT from {edge}" not in msgs or not named:
        out.append(f"fault unauthorized edge: message does not name {edge_addr}: {msgs[:400]}")
    others = [h for h in run["stats"] if h != edge]
    out += [f"fault unauthorized edge: {p}" for p in problems_of(dict(run, rc=0), others, False)]
    return out


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--no-faults", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    seconds: Dict[str, float] = {}
    problems: List[str] = []
    results = {"ssh": "not run", "paramiko": "not run"}
    maillog_copy = os.path.join(OUT, f"mx_maillog-{time.strftime('%Y%m%dT%H%M%S')}.log")
    hmap = lab.hosts(args.hosts)
    clients = {h: a for h, a in hmap.items() if h.startswith("client")}
    rejected = lab.client_address(1)
    built = False
    try:
        t = time.monotonic()
        inventory = lab.up(args.hosts)  # cleans up after itself if it fails
        built = True
        seconds["lab_up"] = round(time.monotonic() - t, 2)
        print(f"lab up: {len(hmap)} hosts, inventory {inventory}", flush=True)
        # The second run must change nothing on any host; it is the paramiko run, or a
        # second ssh run on an ansible-core without paramiko.
        missing = paramiko_missing()
        runs = [("ssh", "ssh", False), ("paramiko", "paramiko", True)]
        if missing:
            results["paramiko"] = missing
            runs[1] = ("ssh_rerun", "ssh", True)
        for label, conn, changed_zero in runs:
            run = playbook(inventory, conn, len(hmap), f"scenario-{label}")
            seconds[label] = run["seconds"]
            found = problems_of(run, list(hmap), changed_zero)
            if label in results:
                results[label] = "passed" if not found else "failed"
            problems += [f"{label}: {p}" for p in found]
            print(f"scenario over {conn}{' (second run)' if changed_zero else ''}: "
                  f"{'passed' if not found else 'failed'} in {run['seconds']} s", flush=True)
        os.makedirs(OUT, exist_ok=True)
        problems += authorization_checks()
        maillog = os.path.join(lab.BASE, "hosts", "mx", "postfix", "maillog")
        if os.path.exists(maillog):
            shutil.copyfile(maillog, maillog_copy)
            problems += maillog_checks(maillog_copy, clients, rejected, ["edge1", "edge2", "filter"])
        else:
            problems.append(f"mx wrote no log ({maillog})")
        if not args.no_faults:
            t = time.monotonic()
            if args.hosts >= 2:
                problems += fault_unreachable(inventory, f"client{args.hosts}", list(hmap))
            problems += fault_unauthorized_edge(inventory, "edge2", lab.SERVERS["edge2"])
            seconds["faults"] = round(time.monotonic() - t, 2)
    except lab.LabError as exc:
        problems.append(str(exc))
    finally:
        if built:
            t = time.monotonic()
            lab.down()
            seconds["lab_down"] = round(time.monotonic() - t, 2)
    left = lab.lab_namespaces()
    if left or lab.link_exists(lab.BRIDGE):
        problems.append(f"left behind: {left} {lab.BRIDGE if lab.link_exists(lab.BRIDGE) else ''}")
    seconds["total"] = round(time.monotonic() - t0, 2)
    for p in problems:
        print(f"PROBLEM: {p}", flush=True)
    print(json.dumps({"hosts": args.hosts, "connections": results,
                      "mx_maillog": maillog_copy if os.path.exists(maillog_copy) else None,
                      "client_addresses": list(clients.values()), "rejected_address": rejected,
                      "seconds": seconds}))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
