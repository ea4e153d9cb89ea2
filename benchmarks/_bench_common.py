# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared pieces of the benchmarks: a private Postfix instance tuned so that Postfix's own
limits are not the bottleneck, the mixed case matrix, timing, and the JSON result line."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))

import collection  # noqa: E402

collection.source_collections(on_sys_path=True)

from private_postfix import PrivatePostfix, new_base  # noqa: E402

FROM = "probe@example.org"
LOCAL = "postmaster@example.net"


def start_postfix() -> PrivatePostfix:
    """IPv4 only (so ADDR=IPV6:... is refused with 501), no policy logger, high limits."""
    inst = PrivatePostfix(base=new_base("xclient-bench-"), ipv6=False, tls=False,
                          policy_logger=False,
                          extra_main={"default_process_limit": "300",
                                      "smtpd_client_event_limit_exceptions": "0.0.0.0/0"})
    return inst.start()


def stop_postfix(inst: PrivatePostfix) -> None:
    inst.stop()
    shutil.rmtree(inst.base, ignore_errors=True)


def matrix(n: int) -> List[Dict[str, Any]]:
    """n cases, all with XCLIENT, cycling accept / reject / tempfail / refused."""
    cases = []
    for i in range(n):
        kind = ("accept", "reject", "tempfail", "refused")[i % 4]
        host = f"c{i}.example"
        if kind == "accept":
            xc, expect = {"addr": f"192.0.2.{1 + i % 60}", "name": host}, {"rcpt": "accept"}
        elif kind == "reject":
            xc, expect = {"addr": f"198.51.100.{1 + i % 250}", "name": host}, {"rcpt": "reject"}
        elif kind == "tempfail":
            xc, expect = {"addr": "203.0.113.45", "name": host}, {"rcpt": "tempfail"}
        else:
            xc, expect = {"addr": f"2001:db8::{i:x}", "name": host}, {"xclient": "refused"}
        cases.append({"name": f"{kind}-{i}", "xclient": xc, "mail_from": FROM,
                      "rcpt_to": [LOCAL], "expect": expect})
    return cases


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median(values: List[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> Dict[str, Any]:
    def first_line(argv):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "not installed"
    mem_kb = 0
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {"nproc": os.cpu_count(), "mem_gib": round(mem_kb / 1048576, 1),
            "python": platform.python_version(),
            "postfix": first_line(["postconf", "-h", "mail_version"]),
            "nginx": first_line(["nginx", "-v"]).replace("nginx version: ", ""),
            "kernel": platform.release()}


def emit(result: Dict[str, Any]) -> None:
    """The last line of every benchmark's output: its figures as one JSON object."""
    print(json.dumps(result, sort_keys=True))


def ansible_playbook(playbook: str, *args: str) -> collection.PlaybookRun:
    """ansible-playbook -i localhost, -c local PLAYBOOK ARGS against this source tree, run
    as the tests and the demo run it (scripts/collection.sh), nothing recorded."""
    return collection.playbook(collection.SOURCE, playbook, *args, timeout=None,
                               record=False)
