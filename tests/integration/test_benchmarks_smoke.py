# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmarks still run: each one's --quick form, once, against real servers.

This checks that they work and report what BENCHMARKS.md quotes, not how fast anything is
(speed goals live in BENCHMARKS.md, measured with `make bench`, never in tests). Every
benchmark already refuses to report figures when a case ends otherwise than expected or a
message is not delivered, so a passing run also means the work it timed was done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_quick(name: str) -> dict:
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", f"{name}.py"),
                           "--quick"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    assert result["benchmark"] == name and result["quick"] is True
    assert result["machine"]["nproc"] >= 1 and result["machine"]["postfix"].startswith("3.")
    return result


def test_probe_matrix_quick():
    result = run_quick("probe_matrix")
    assert set(result["cases_per_s"]) == {"a", "b", "c", "d_seq", "d_conc", "e"}
    assert result["seconds"]["a_floor"]["median"] > 0
    assert all(rate > 0 for rate in result["cases_per_s"].values())
    assert set(result["ratios"]) == {"a_over_c", "b_over_d", "a_over_e_per_case"}
    for mode, seconds in result["seconds"].items():
        assert seconds["min"] <= seconds["median"] <= seconds["max"], mode


def test_proxy_throughput_quick():
    # Deploys the whole demo stack with the roles (its own ports and directory) first.
    result = run_quick("proxy_throughput")
    assert result["messages_delivered"] == result["messages_sent"] > 0
    for size in ("small", "100k"):
        rates = result["messages_per_s"][size]
        assert set(rates) == {"direct", "proxy", "filter", "filter_hop"}
        assert all(rate > 0 for rate in rates.values())
        assert set(result["ratios"][size]) == {"proxy_over_direct", "filter_over_direct",
                                               "filter_hop_over_direct"}


def test_scaling_quick():
    result = run_quick("scaling")
    sizes = [row["n"] for row in result["rows"]]
    assert sizes == sorted(sizes) and len(sizes) == 3
    assert all(row["peak_rss_mb"] > 0 and row["seconds"] > 0 for row in result["rows"])
    assert result["transcript_all"]["transcript"] == "all"
    assert result["time_growth_vs_linear"] > 0
