# SPDX-License-Identifier: GPL-3.0-or-later
"""proxy_throughput: messages per second with Postfix's load generator smtp-source,
directly to Postfix, through the nginx XCLIENT proxy and through the proxsmtp XCLIENT
filter, for small and 100 KB messages. The stack is the one the roles deploy (the demo
playbook, on its own loopback ports and directory); runs alternate, medians reported.

A fourth path, ``filter_hop``, is the same proxsmtp configuration without a FilterCommand
(proxsmtp then relays with XCLIENT and runs no command): it separates the cost of the
XCLIENT hop from the cost of running the filter command for each message.

Usage: proxy_throughput.py [--quick] [-n N] [--sessions C] [--runs R] [--stack-vars JSON]
With ``--stack-vars`` (the demo playbook's variables of a stack already deployed:
``demo_base`` and its ports) nothing is deployed, and that stack is left as it was
(only the ``filter_hop`` proxsmtp this starts is stopped).
The last line of the output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Dict, List

from _bench_common import ROOT, ansible_playbook, emit, machine, median, timed

from private_postfix import free_port

SIZES = {"small": 512, "100k": 100 * 1024}


def deploy(base: str) -> Dict[str, int]:
    ports = {"demo_proxy_port": free_port(), "demo_filter_port": free_port(),
             "demo_auth_port": free_port(), "demo_postfix_proxy_port": free_port(),
             "demo_postfix_filter_port": free_port()}
    extra = dict(ports, demo_base=base, demo_install=False)
    done = ansible_playbook(os.path.join(ROOT, "playbooks", "demo.yml"),
                            "-e", json.dumps(extra))
    if done.returncode != 0:
        raise SystemExit(f"deploying the stack failed:\n{done.tail(3000)}")
    return ports


def start_filter_hop(base: str) -> int:
    """The role's proxsmtp configuration on another port, without a FilterCommand."""
    port = free_port()
    conf_dir = os.path.join(base, "proxsmtp")
    with open(os.path.join(conf_dir, "xclient.conf"), encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    lines = [f"Listen: 127.0.0.1:{port}" if ln.startswith("Listen:") else
             "FilterCommand:" if ln.startswith("FilterCommand:") else ln for ln in lines]
    conf = os.path.join(conf_dir, "hop.conf")
    with open(conf, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    subprocess.run(["proxsmtpd", "-f", conf, "-p", os.path.join(conf_dir, "run", "hop.pid")],
                   check=True, capture_output=True)
    for _wait in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return port


def teardown(base: str, keep_stack: bool = False) -> None:
    pid_file = os.path.join(base, "proxsmtp", "run", "hop.pid")
    if os.path.exists(pid_file):
        with open(pid_file, encoding="ascii") as fh:
            try:
                pid = int(fh.read().strip())
                os.kill(pid, signal.SIGTERM)
                for _wait in range(100):  # until it has exited (at most 10 s)
                    with open(f"/proc/{pid}/stat", "rb") as stat:
                        if stat.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                            break  # exited; its parent has not reaped it yet
                    time.sleep(0.1)
            except (ValueError, ProcessLookupError, FileNotFoundError):
                pass
        try:
            os.remove(pid_file)
        except FileNotFoundError:  # proxsmtpd removed it on its way out
            pass
    if keep_stack:
        hop_conf = os.path.join(base, "proxsmtp", "hop.conf")
        if os.path.exists(hop_conf):
            os.remove(hop_conf)
        return
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo-stop.sh")],
                   env=dict(os.environ, DEMO_BASE=base), capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)


def smtp_source(port: int, messages: int, sessions: int, length: int) -> None:
    done = subprocess.run(["smtp-source", "-m", str(messages), "-s", str(sessions),
                           "-l", str(length), "-f", "load@example.org",
                           "-t", "postmaster@example.net", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"smtp-source to port {port} failed: {done.stderr.strip()}")


def delivered(maillog: str) -> int:
    with open(maillog, encoding="utf-8", errors="replace") as fh:
        return sum(1 for line in fh if "status=sent (demo)" in line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--quick", action="store_true", help="few messages, one run (< 60 s)")
    ap.add_argument("-n", type=int, default=2000, help="messages per run")
    ap.add_argument("--sessions", type=int, default=10, help="smtp-source -s")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--stack-vars", type=json.loads, default=None, metavar="JSON",
                    help="use the stack the demo playbook deployed with these variables"
                         " (demo_base and the ports) and leave it running")
    args = ap.parse_args()
    if args.quick:
        args.n, args.runs = 60, 1
    if args.stack_vars is not None:
        base, ports = args.stack_vars["demo_base"], args.stack_vars
    else:
        base = tempfile.mkdtemp(prefix="xclient-bench-stack-", dir="/var/tmp")
        shutil.rmtree(base)
        ports = deploy(base)
    paths = {"direct": ports["demo_postfix_proxy_port"], "proxy": ports["demo_proxy_port"],
             "filter": ports["demo_filter_port"], "filter_hop": start_filter_hop(base)}
    maillog = os.path.join(base, "postfix", "maillog")
    times: Dict[str, Dict[str, List[float]]] = {s: {p: [] for p in paths} for s in SIZES}
    sent = 0
    try:
        before = delivered(maillog)
        for size, length in SIZES.items():
            smtp_source(paths["direct"], 20, 4, length)  # warm-up
            sent += 20
            for _run in range(args.runs):
                for path, port in paths.items():  # alternate direct, proxy, filter
                    times[size][path].append(timed(
                        lambda p=port, ln=length: smtp_source(p, args.n, args.sessions, ln)))
                    sent += args.n
        # every message must have arrived (discard transport), or the figures mean nothing
        for _wait in range(150):
            if delivered(maillog) - before >= sent:
                break
            time.sleep(0.2)
        arrived = delivered(maillog) - before
    finally:
        teardown(base, keep_stack=args.stack_vars is not None)
    rates = {size: {path: round(args.n / median(v), 1) for path, v in per.items()}
             for size, per in times.items()}
    result = {
        "benchmark": "proxy_throughput", "quick": args.quick, "machine": machine(),
        "deployed": args.stack_vars is None,
        "messages_per_run": args.n, "sessions": args.sessions, "runs": args.runs,
        "messages_sent": sent, "messages_delivered": arrived,
        "messages_per_s": rates,
        "seconds": {size: {path: {"median": round(median(v), 3), "min": round(min(v), 3),
                                  "max": round(max(v), 3)} for path, v in per.items()}
                    for size, per in times.items()},
        "ratios": {size: {"proxy_over_direct": round(r["proxy"] / r["direct"], 2),
                          "filter_over_direct": round(r["filter"] / r["direct"], 2),
                          "filter_hop_over_direct": round(r["filter_hop"] / r["direct"], 2)}
                   for size, r in rates.items()},
    }
    for size, r in rates.items():
        print(f"{size:6} direct {r['direct']:7.1f} msg/s  proxy {r['proxy']:7.1f}"
              f"  filter {r['filter']:7.1f}  filter_hop {r['filter_hop']:7.1f}"
              f"   ratios {result['ratios'][size]}")
    print(f"delivered {arrived} of {sent} messages")
    emit(result)
    if arrived < sent:
        raise SystemExit(f"only {arrived} of {sent} messages were delivered")


if __name__ == "__main__":
    main()
