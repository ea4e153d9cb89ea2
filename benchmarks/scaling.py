# SPDX-License-Identifier: GPL-3.0-or-later
"""scaling: time and peak memory of one xclient_probe module run at growing case counts.

The module runs as Ansible runs it on a target (python -m ..., arguments from a file),
against one private Postfix instance; its peak RSS comes from wait4(). Time must grow
linearly (or better) and memory stay bounded: results keep transcripts only for failures
unless asked (transcript: all is measured once, at the largest N, for comparison).

Usage: scaling.py [--quick] [--sizes 100,1000,10000] [--concurrency C]
The last line of the output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from typing import Any, Dict

from _bench_common import emit, machine, matrix, start_postfix, stop_postfix

from run_module import module_command  # tests/harness, on the path via _bench_common


def run_once(port: int, n: int, concurrency: int, transcript: str) -> Dict[str, Any]:
    argv, env, path = module_command("xclient_probe", {
        "server": "127.0.0.1", "port": port, "helo": "bench.test",
        "concurrency": concurrency, "transcript": transcript, "cases": matrix(n)})
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        result = json.loads(out.read())
    os.unlink(path)
    if result.get("failed") or result["summary"]["passed"] != n:
        raise SystemExit(f"N={n}: {result.get('msg', result['summary'])}")
    return {"n": n, "transcript": transcript, "seconds": round(elapsed, 3),
            "ms_per_case": round(elapsed * 1000 / n, 3),
            "cases_per_s": round(n / elapsed, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--quick", action="store_true", help="100, 300, 1000 cases (< 60 s)")
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    sizes = [100, 300, 1000] if args.quick else [int(x) for x in args.sizes.split(",")]
    inst = start_postfix()
    port = inst.ports["authorized"]
    rows = []
    try:
        run_once(port, 50, args.concurrency, "failures")  # warm-up
        for n in sizes:
            rows.append(run_once(port, n, args.concurrency, "failures"))
            print(f"N={n:6}  {rows[-1]['seconds']:8.2f}s  {rows[-1]['ms_per_case']:7.3f} ms/case"
                  f"  peak RSS {rows[-1]['peak_rss_mb']:6.1f} MB", flush=True)
        full = run_once(port, sizes[-1], args.concurrency, "all")
        print(f"N={sizes[-1]:6}  transcript: all -> peak RSS {full['peak_rss_mb']} MB")
    finally:
        stop_postfix(inst)
    first, last = rows[0], rows[-1]
    growth = round((last["seconds"] / first["seconds"]) / (last["n"] / first["n"]), 2)
    emit({"benchmark": "scaling", "quick": args.quick, "machine": machine(),
          "concurrency": args.concurrency, "rows": rows, "transcript_all": full,
          "time_growth_vs_linear": growth,
          "max_peak_rss_mb": max(r["peak_rss_mb"] for r in rows)})


if __name__ == "__main__":
    main()
