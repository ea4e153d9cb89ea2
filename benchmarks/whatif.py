# SPDX-License-Identifier: GPL-3.0-or-later
"""postfix_whatif: N cases on two shadows against one probe run of them plus two starts.

A private Postfix whose client restrictions are one cidr table of N entries (the table of
benchmarks/access_cases.py); access_cases derives a case for every entry, and then, side
by side in one run:

- ``probe``: one xclient_probe task runs those cases against the live instance;
- ``start``: one shadow of the instance started and removed (the median of three);
- ``whatif``: one postfix_whatif task - a REJECT line added to the table - runs the same
  cases on both of its shadows, which it starts and removes itself.

The goal of issue 21: whatif <= 1.3 x (probe + 2 x start). Module times and peak RSS come
from wait4(); the what-if must report exactly the one changed client, else no figures.

Usage: whatif.py [--quick] [-n N] [--concurrency C]
The last line of the output is one JSON object with the figures.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time

from _bench_common import emit, machine  # first: puts the collection on sys.path
from access_cases import cidr_arguments, cidr_instance, run_module_measured

from ansible_collections.mailops.xclient.plugins.module_utils._shadow import Shadow

GOAL = 1.3
NEW_LINE = "203.0.113.128/25 REJECT what-if bench\n"


def run(argv):
    done = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env=dict(os.environ, LC_ALL="C"))
    return done.returncode, done.stdout, done.stderr


def shadow_start_seconds(config_dir: str) -> float:
    shadow = Shadow(config_dir, run)
    try:
        started = time.perf_counter()
        shadow.start(60)
        return time.perf_counter() - started
    finally:
        shadow.remove()


def main() -> None:
    n, args = cidr_arguments(__doc__)
    inst, table, base = cidr_instance("xclient-bench-whatif-", n)
    with open(table, encoding="ascii") as fh:
        content = fh.read()
    try:
        port = inst.ports["authorized"]
        service = f"127.0.0.1:{port}/inet"
        derived, _s, _rss = run_module_measured("access_cases", {
            "config_dir": inst.config_dir, "service": service})
        if derived.get("failed"):
            raise SystemExit(f"access_cases failed: {derived.get('msg')}")
        # the derived cases, and the one client the new line catches
        cases = derived["cases"] + [{"name": "bench new line", "xclient": {"addr": "203.0.113.200"},
                                     "mail_from": "probe@example.org",
                                     "rcpt_to": ["postmaster@example.net"]}]
        ran, probe_s, probe_rss = run_module_measured("xclient_probe", {
            "server": "127.0.0.1", "port": port, "helo": "bench.test", "transcript": "none",
            "concurrency": args.concurrency, "fail_on_mismatch": False, "cases": cases})
        if ran.get("failed") or ran["summary"]["errors"]:
            raise SystemExit(f"the probe run failed: {ran.get('msg') or ran['summary']}")
        print(f"probe   {len(cases)} cases: {probe_s:.2f} s, peak RSS {probe_rss:.1f} MB")
        starts = [shadow_start_seconds(inst.config_dir) for _run in range(3)]
        start_s = statistics.median(starts)
        print(f"start   one shadow: {start_s:.2f} s (median of 3)")
        what, whatif_s, whatif_rss = run_module_measured("postfix_whatif", {
            "config_dir": inst.config_dir, "service": service, "timeout": 60,
            "change": {"tables": {table: content + NEW_LINE}}, "cases": cases})
        if what.get("failed") or what["changed_cases"] != ["bench new line"]:
            raise SystemExit(f"the what-if did not report exactly the new line's client:"
                             f" {what.get('msg') or what['changed_cases'][:5]}")
        print(f"whatif  {what['cases']} cases on two shadows: {whatif_s:.2f} s, peak RSS"
              f" {whatif_rss:.1f} MB ({what['seconds']})")
    finally:
        inst.stop()
        shutil.rmtree(base, ignore_errors=True)
    reference = probe_s + 2 * start_s
    ratio = whatif_s / reference
    print(f"ratio   whatif / (probe + 2 starts) = {ratio:.2f} (goal <= {GOAL})")
    emit({"benchmark": "whatif", "n": n, "quick": args.quick, "cases": len(cases),
          "probe_seconds": round(probe_s, 3), "probe_peak_rss_mb": round(probe_rss, 1),
          "shadow_start_seconds": [round(s, 3) for s in starts],
          "whatif_seconds": round(whatif_s, 3), "whatif_peak_rss_mb": round(whatif_rss, 1),
          "whatif_parts": what["seconds"], "ratio": round(ratio, 3), "goal": GOAL,
          "concurrency": args.concurrency, "machine": machine()})


if __name__ == "__main__":
    main()
