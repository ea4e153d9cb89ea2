# SPDX-License-Identifier: GPL-3.0-or-later
"""access_cases: derive a case for every entry of an N-entry cidr table, then run them.

A private Postfix whose client restrictions are one cidr table of N entries (REJECT, OK
and DEFER in turn, /32 to /20 networks drawn with a fixed seed); the access_cases module
derives the cases (one module run, its time and peak RSS from wait4()), xclient_probe runs
them all (the same), and every case must behave as its entry says - otherwise no figures.

Usage: access_cases.py [--quick] [-n N] [--concurrency C]
The last line of the output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from typing import Any, Dict, Tuple

from _bench_common import emit, machine  # first: puts the collection on sys.path
from private_postfix import PrivatePostfix, new_base

from run_module import module_command


def cidr_table(n: int) -> str:
    rnd = random.Random(21)
    actions = ("REJECT bench entry", "OK", "DEFER bench entry")
    lines = []
    for i in range(n):
        start = (10 << 24) + rnd.randrange(1 << 24)  # 10.0.0.0/8: never TEST-NET
        net = ipaddress.ip_network((start, rnd.choice([32, 32, 30, 28, 24, 20])),
                                   strict=False)
        lines.append(f"{net} {actions[i % 3]} {i}")
    return "\n".join(lines) + "\n"


def run_module_measured(name: str, args: Dict[str, Any]) -> Tuple[Dict[str, Any], float, float]:
    argv, env, path = module_command(name, args)
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _pid, _status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        out.seek(0)
        result = json.loads(out.read())
    os.unlink(path)
    return result, elapsed, usage.ru_maxrss / 1024


def cidr_arguments(doc: str) -> Tuple[int, argparse.Namespace]:
    """--quick (N = 300), -n N (default 10,000), --concurrency: (N, the arguments)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 300")
    parser.add_argument("-n", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    return (300 if args.quick else args.n), args


def cidr_instance(prefix: str, n: int) -> Tuple[PrivatePostfix, str, str]:
    """A started private Postfix whose client restrictions are one N-entry cidr table:
    (instance, table path, base directory)."""
    base = new_base(prefix)
    os.makedirs(os.path.join(base, "etc"))
    table = os.path.join(base, "etc", "big.cidr")
    with open(table, "w", encoding="ascii") as fh:
        fh.write(cidr_table(n))
    inst = PrivatePostfix(base=base, ipv6=False, tls=False, policy_logger=False, extra_main={
        "default_process_limit": "300", "smtpd_client_event_limit_exceptions": "0.0.0.0/0",
        "smtpd_client_restrictions": f"check_client_access cidr:{table}"})
    inst.start()
    return inst, table, base


def main() -> None:
    n, args = cidr_arguments(__doc__)
    inst, table, base = cidr_instance("xclient-bench-access-", n)
    try:
        port = inst.ports["authorized"]
        derived, derive_s, derive_rss = run_module_measured("access_cases", {
            "config_dir": inst.config_dir, "service": f"127.0.0.1:{port}/inet"})
        if derived.get("failed"):
            raise SystemExit(f"access_cases failed: {derived.get('msg')}")
        rows = [r for r in derived["coverage"] if r["table"] == f"cidr:{table}"]
        cases = derived["cases"]
        covered = sum(1 for r in rows if r["cases"])
        print(f"derive  {n} entries: {derive_s:.2f} s, peak RSS {derive_rss:.1f} MB,"
              f" {covered} entries covered, {len(cases)} cases")
        ran, probe_s, probe_rss = run_module_measured("xclient_probe", {
            "server": "127.0.0.1", "port": port, "helo": "bench.test", "transcript": "none",
            "concurrency": args.concurrency, "fail_on_mismatch": False, "cases": cases})
        summary = ran.get("summary", {})
        if summary.get("passed") != len(cases):
            raise SystemExit(f"not every derived case behaved as its entry says: {summary}")
        print(f"probe   {len(cases)} cases: {probe_s:.2f} s, peak RSS {probe_rss:.1f} MB")
    finally:
        inst.stop()
        shutil.rmtree(base, ignore_errors=True)
    emit({"benchmark": "access_cases", "n": n, "quick": args.quick,
          "entries_covered": covered, "cases": len(cases),
          "derive_seconds": round(derive_s, 3), "derive_peak_rss_mb": round(derive_rss, 1),
          "probe_seconds": round(probe_s, 3), "probe_peak_rss_mb": round(probe_rss, 1),
          "concurrency": args.concurrency, "machine": machine()})


if __name__ == "__main__":
    main()
