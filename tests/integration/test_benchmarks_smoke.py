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


def run_quick(name: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", f"{name}.py"),
                           "--quick", *args], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    assert result["benchmark"] == name and result["quick"] is True
    postfix = subprocess.run(["postconf", "-h", "mail_version"], capture_output=True,
                             text=True, check=True).stdout.strip()
    assert (result["machine"]["nproc"], result["machine"]["postfix"]) == (os.cpu_count(),
                                                                          postfix)
    return result


def test_probe_matrix_quick():
    result = run_quick("probe_matrix")
    # --quick: 40 cases (8 in the Ansible loop), one run of each way
    assert (result["n"], result["loop_n"], result["runs"]) == (40, 8, 1)
    assert set(result["cases_per_s"]) == {"a", "b", "c", "d_seq", "d_conc", "e"}
    assert result["seconds"]["a_floor"]["median"] > 0
    assert all(rate > 0 for rate in result["cases_per_s"].values())
    assert set(result["ratios"]) == {"a_over_c", "b_over_d", "a_over_e_per_case"}
    for mode, seconds in result["seconds"].items():
        assert seconds["min"] <= seconds["median"] <= seconds["max"], mode


def test_scaling_quick():
    result = run_quick("scaling")
    assert [row["n"] for row in result["rows"]] == [100, 300, 1000]  # --quick
    assert all(row["peak_rss_mb"] > 0 and row["seconds"] > 0 for row in result["rows"])
    assert (result["transcript_all"]["transcript"], result["transcript_all"]["n"]) == (
        "all", 1000)
    assert result["time_growth_vs_linear"] > 0


def test_case_spec_quick():
    result = run_quick("case_spec")
    assert (result["n"], result["runs"]) == (300, 3)  # --quick
    assert set(result["seconds"]) == {"argument_spec", "parse_cases"}
    for name, seconds in result["seconds"].items():
        assert 0 < seconds["min"] <= seconds["median"] <= seconds["max"], name


def test_access_cases_quick():
    result = run_quick("access_cases")
    # --quick: a 300-entry cidr table; every derived case behaved as its entry says
    assert result["n"] == 300 and result["entries_covered"] > 250
    assert result["cases"] >= result["entries_covered"]


def test_shadow_quick():
    result = run_quick("shadow")
    # --quick: 3 shadow runs of a 5-listener config, each proven (mail flows) or no figures
    assert result["runs"] == 3 and result["listeners"] == 5
    figures = result["figures"]
    assert 0 < figures["prove"]["median"] <= figures["total"]["median"]
    assert figures["rss_kib"]["median"] > 0
    # and both refused edits were refused in Postfix's words (or no figures)
    assert set(result["refused"]) == {"smtpd_helo_required=True", "wakeup=2147483648"}
    assert all(r["median_s"]["early"] > 0 for r in result["refused"].values())


def test_whatif_quick():
    result = run_quick("whatif")
    # --quick: a 300-entry cidr table; the what-if reported exactly the new line's client
    # (or no figures) and every part was timed
    assert result["n"] == 300 and result["cases"] > 250
    assert len(result["shadow_start_seconds"]) == 3
    assert result["whatif_seconds"] > result["whatif_parts"]["probe"] > 0
    assert result["ratio"] > 0
