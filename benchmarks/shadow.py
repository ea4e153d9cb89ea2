# SPDX-License-Identifier: GPL-3.0-or-later
"""shadow: what one shadow run costs per edit (plugins/module_utils/_shadow.py).

A private instance's config (5 smtpd listeners, one with STARTTLS, one in wrapper mode) is
run on a shadow R times: make + start, the mail-flows proof (a message through every
listener), removal. Figures: wall time of each phase and of the whole run (medians, min,
max), the summed resident memory of the shadow's processes at the end of the proof, and
the peak of Python allocations of the caller (tracemalloc). Every run must prove that
mail flows, else no figures.

Refused edits: two changes that kill Postfix's daemons (``smtpd_helo_required = True``:
every smtpd dies of a bad boolean; ``wakeup`` 2147483648 on pickup: the master dies at
start), each run to its refusal in Postfix's words, with the shadow as it is ("early":
it stops waiting once the fatal line is logged) and with that early stop switched off
("waiting", the code before: the whole per-listener share, and Postfix's one-second sleep
after each fatal message in each process). Medians and the ratio, side by side (--quick:
the early stop only).

Usage: shadow.py [--quick] [--runs R]
The last line of the output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import tracemalloc
from typing import Any, Dict, Iterator

from _bench_common import emit, machine, median  # first: puts the collection on sys.path
from ansible_collections.mailops.xclient.plugins.module_utils import _shadow
from ansible_collections.mailops.xclient.plugins.module_utils._shadow import (
    Shadow,
    descendants,
    shadow_proof,
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


# (name, postconf arguments that make the refused edit, Postfix's words in the refusal)
REFUSED = [("smtpd_helo_required=True", ["-e", "smtpd_helo_required = True"],
            "bad boolean"),
           # Postfix 3.7 logs the master's own line (field "wakeup_time": bad value) to
           # maillog_file; 3.10 only to syslog, so on 3.10 postfix-script's fatal is all
           ("wakeup=2147483648", ["-F", "-e", "pickup/unix/wakeup=2147483648"], "fatal:")]


@contextlib.contextmanager
def without_early_stop() -> Iterator[None]:
    """The shadow as before the early stop: no start ends at a fatal line, and no
    listener is abandoned when one is logged."""
    start_failed, one_listener = Shadow._start_failed, _shadow._one_listener
    Shadow._start_failed = lambda self, said: False  # type: ignore[method-assign]
    _shadow._one_listener = (  # type: ignore[assignment]
        lambda endpoint, deadline, rcpt, send_data, abandon=None:
        one_listener(endpoint, deadline, rcpt, send_data))
    try:
        yield
    finally:
        Shadow._start_failed = start_failed  # type: ignore[method-assign]
        _shadow._one_listener = one_listener  # type: ignore[assignment]


def refused_run(config_dir: str, edit: list, words: str) -> float:
    work = tempfile.mkdtemp(prefix="xclient-bench-shadow-work-")
    try:
        for name in ("main.cf", "master.cf"):
            shutil.copy2(os.path.join(config_dir, name), os.path.join(work, name))
        subprocess.run(["postconf", "-c", work, *edit], check=True)
        t0 = time.perf_counter()
        proof, _log = shadow_proof(work, run, 30, links_from=config_dir)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if proof.ok or words not in proof.words(limit=50):
        raise SystemExit(f"shadow: the edit was not refused in Postfix's words ({words}):"
                         f" {proof.words()}")
    return seconds


def refused_figures(config_dir: str, runs: int, waiting: bool) -> Dict[str, Any]:
    """Per refused edit: medians of each mode and their ratio (``waiting`` False, as in
    --quick: the early stop only, no ratio)."""
    out: Dict[str, Any] = {}
    for name, edit, words in REFUSED:
        times: Dict[str, list] = {"early": [], "waiting": []} if waiting else {"early": []}
        for _i in range(runs):  # alternate
            times["early"].append(refused_run(config_dir, edit, words))
            if waiting:
                with without_early_stop():
                    times["waiting"].append(refused_run(config_dir, edit, words))
        medians = {mode: round(median(v), 3) for mode, v in times.items()}
        out[name] = {"median_s": medians}
        if waiting:
            out[name]["ratio_waiting_over_early"] = round(
                medians["waiting"] / medians["early"], 2)
    return out


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
        refused = refused_figures(inst.config_dir, max(1, runs // 3),
                                  waiting=not args.quick)
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
    for name, r in refused.items():
        modes = ", ".join(f"{mode} {sec * 1000:.0f} ms" for mode, sec in r["median_s"].items())
        ratio = r.get("ratio_waiting_over_early")
        print(f"refused {name}: {modes}" + (f", ratio {ratio}" if ratio else ""))
    emit({"benchmark": "shadow", "runs": runs, "quick": args.quick, "listeners": 5,
          "figures": figures, "refused": refused, "machine": machine()})


if __name__ == "__main__":
    os.umask(0o022)
    main()
