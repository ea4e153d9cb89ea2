# SPDX-License-Identifier: GPL-3.0-or-later
"""shadow: what one shadow run costs per edit (plugins/module_utils/_shadow.py).

A private instance's config (5 smtpd listeners, one with STARTTLS, one in wrapper mode) is
run on a shadow R times: make + start, the mail-flows proof (a message through every
listener), removal. Figures: wall time of each phase and of the whole run (medians, min,
max), the summed resident memory of the shadow's processes at the end of the proof, and
the peak of Python allocations of the caller (tracemalloc). Every run must prove that
mail flows, else no figures.

Usage: shadow.py [--quick] [--runs R]
The last line of the output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
import tracemalloc
from typing import Any, Dict

from _bench_common import emit, machine, median  # first: puts the collection on sys.path
from ansible_collections.mailops.xclient.plugins.module_utils._shadow import (
    Shadow,
    descendants,
)
from private_postfix import PrivatePostfix, new_base
from scratch_config import run


def rss_kib(pids: set) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def one_run(config_dir: str) -> Dict[str, float]:
    t0 = time.perf_counter()
    shadow = Shadow(config_dir, run)
    try:
        shadow.start(30)
        t1 = time.perf_counter()
        proof = shadow.prove(30)
        t2 = time.perf_counter()
        if not proof.ok:
            raise SystemExit(f"shadow: mail does not flow on the shadow: {proof.words()}")
        pid = shadow.master_pid()
        rss = rss_kib({pid} | descendants(pid)) if pid else 0
    finally:
        t3 = time.perf_counter()
        shadow.remove()
    t4 = time.perf_counter()
    return {"start": t1 - t0, "prove": t2 - t1, "remove": t4 - t3, "total": t4 - t0,
            "rss_kib": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    base = new_base("xclient-bench-shadow-")
    inst = PrivatePostfix(base=base, tls=True, ipv6=False, policy_logger=False,
                          ports={"authorized": 10025, "unauthorized": 10026, "sasl": 10027,
                                 "starttls": 10028, "smtps": 10029})
    try:
        inst.write_config()
        tracemalloc.start()
        results = [one_run(inst.config_dir) for _i in range(runs)]
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    figures: Dict[str, Any] = {}
    for name in ("start", "prove", "remove", "total", "rss_kib"):
        values = [r[name] for r in results]
        figures[name] = {"median": round(median(values), 4), "min": round(min(values), 4),
                         "max": round(max(values), 4)}
    figures["python_peak_kib"] = round(peak / 1024)
    for name in ("start", "prove", "remove", "total"):
        f = figures[name]
        print(f"{name:7} median {f['median'] * 1000:7.0f} ms  (min {f['min'] * 1000:.0f},"
              f" max {f['max'] * 1000:.0f})")
    print(f"shadow processes' RSS at the end of the proof: median"
          f" {figures['rss_kib']['median'] / 1024:.1f} MiB; caller's Python peak"
          f" {figures['python_peak_kib']} KiB")
    emit({"benchmark": "shadow", "runs": runs, "quick": args.quick, "listeners": 5,
          "figures": figures, "machine": machine()})


if __name__ == "__main__":
    os.umask(0o022)
    main()
