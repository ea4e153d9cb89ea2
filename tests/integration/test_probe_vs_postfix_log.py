# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Property (issue 11): for generated identities and expectations, over a real private
Postfix with client, HELO, sender and recipient rules (rules_postfix), the module's verdict
equals what Postfix logged for that session, and its replies equal swaks' for the same
identity.

Each generated case carries a unique XCLIENT PORT; the instance logs client ports, so every
log line (NOQUEUE reject lines, the disconnect line with its command counts) is tied to one
case. A case whose XCLIENT was not applied is found under the real client port instead.

Bounded for `make test` (XCLIENT_PROPERTY_EXAMPLES, default 12 batches of 1-6 cases, the same
every run: see the Hypothesis profile in tests/conftest.py); for a longer run with new draws:
MAILOPS_XCLIENT_EXPLORE=1 XCLIENT_PROPERTY_EXAMPLES=300 \
    python3 -m pytest -s tests/integration/test_probe_vs_postfix_log.py
The counts are printed (-s) and checked: every case compared, no disagreement."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import time
from collections import Counter
from typing import Dict, List, Optional

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_postfix import (
    BAD_HELO,
    BAD_RCPT,
    BAD_SENDER,
    DEFER_CLIENT,
    DEFER_HELO,
    DEFER_RCPT,
    LOCAL,
    REMOTE,
)
from run_module import run_module
from swaks_replies import reply_codes


TARGET_HELO = "probe-client.test"
EXAMPLES = int(os.environ.get("XCLIENT_PROPERTY_EXAMPLES", "12"))
PORTS = itertools.count(31000)
COUNTS: Counter = Counter()

ADDRS = st.one_of(
    st.integers(10, 60).map(lambda i: f"192.0.2.{i}"),  # no rule
    st.just("192.0.2.66"),  # REJECT
    st.integers(1, 250).map(lambda i: f"198.51.100.{i}"),  # REJECT (network)
    st.just("203.0.113.45"),  # DEFER_IF_PERMIT
    st.just(DEFER_CLIENT),  # DEFER
    st.just("2001:db8::5"),  # IPv4-only instance: Postfix refuses the command (501)
)
NAMES = st.one_of(st.integers(1, 99).map(lambda i: f"c{i}.example"),
                  st.sampled_from(["[UNAVAILABLE]", "[TEMPUNAVAIL]"]))
HELOS = st.sampled_from([None, "ok-helo.example", BAD_HELO, DEFER_HELO, "[UNAVAILABLE]"])
SENDERS = st.sampled_from(["probe@example.org", BAD_SENDER, ""])
RCPTS = st.sampled_from([LOCAL, BAD_RCPT, DEFER_RCPT, REMOTE])
# "any" and the common outcomes more often, so that a fair share of cases pass
XC_EXPECT = st.sampled_from(["accepted", "accepted", "refused", "rejected", "deferred",
                             "any", "any", "any"])
STAGE_EXPECT = st.sampled_from(["accept", "accept", "reject", "tempfail", "any", "any",
                                "any"])


@st.composite
def cases(draw):
    port = next(PORTS)
    xclient = {"addr": draw(ADDRS), "name": draw(NAMES), "port": port}
    helo = draw(HELOS)
    if helo is not None:
        xclient["helo"] = helo
    if draw(st.booleans()):  # upper-case keys are accepted too
        xclient = {k.upper(): v for k, v in xclient.items()}
    listener = draw(st.sampled_from(["authorized", "authorized", "nodelay", "unauthorized"]))
    case = {"name": f"gen-{port}", "xclient": xclient, "mail_from": draw(SENDERS),
            "rcpt_to": [draw(RCPTS)],
            "expect": {"xclient": draw(XC_EXPECT), "mail": draw(STAGE_EXPECT),
                       "rcpt": draw(STAGE_EXPECT)}}
    if listener == "unauthorized" and draw(st.booleans()):
        case["force_xclient"] = True  # to see the refusal (swaks cannot do this)
    return listener, case


def _attr(case, key):
    xc = case["xclient"]
    return xc.get(key, xc.get(key.upper()))


def _word(code: Optional[int]) -> Optional[str]:
    return None if code is None else {2: "accept", 3: "accept", 4: "tempfail",
                                      5: "reject"}[code // 100]


def postfix_truth(log: List[str], case, real_port: int) -> Dict:
    """What Postfix logged for this case's session (``log``: the lines of its run)."""
    port = _attr(case, "port")
    new = rf"\[[^\]]*\]:{port}"
    real = rf"localhost\[127\.0\.0\.1\]:{real_port}"
    disc = [line for line in log
            if re.search(rf"disconnect from \S*(?:{new}|{real}) ", line)]
    assert len(disc) == 1, (case, disc)
    truth: Dict = {"disconnect": disc[0]}
    if re.search(real, disc[0]):
        # never applied: the session stayed the real client's
        truth["xclient"] = "refused" if " xclient=" in disc[0] else "not_offered"
        return truth
    who = re.search(rf"disconnect from (\S+)\[([^\]]*)\]:{port} ", disc[0])
    truth["client"] = (who.group(1), who.group(2))
    rejects = [line for line in log if re.search(rf"reject: \w+ from \S+{new}: ", line)]
    by_cmd = {}
    for line in rejects:
        m = re.search(rf"reject: (\w+) from \S+{new}: (\d{{3}}) ", line)
        by_cmd[m.group(1)] = (int(m.group(2)), line)
    truth["rejects"] = by_cmd
    if "XCLIENT" in by_cmd:
        truth["xclient"] = "rejected" if by_cmd["XCLIENT"][0] // 100 == 5 else "deferred"
        truth["xclient_code"] = by_cmd["XCLIENT"][0]
        return truth
    truth["xclient"] = "accepted"
    counts = dict(re.findall(r" (\w+)=(\d+(?:/\d+)?)", disc[0].split(" disconnect from ")[1]))
    if "mail" in counts:
        truth["mail"] = by_cmd["MAIL"][0] if "MAIL" in by_cmd else (
            250 if counts["mail"] == "1" else None)
    if "rcpt" in counts:
        truth["rcpt"] = by_cmd["RCPT"][0] if "RCPT" in by_cmd else (
            250 if counts["rcpt"] == "1" else None)
    return truth


def verdict_from_truth(case, truth) -> bool:
    """Would the case pass, judged on Postfix's log alone?"""
    exp = case["expect"]
    if exp["xclient"] != "any" and exp["xclient"] != truth["xclient"]:
        return False
    for stage in ("mail", "rcpt"):
        want = exp[stage]
        if want != "any" and _word(truth.get(stage)) != want:
            return False
    return True


def expected_helo(case) -> Optional[str]:
    helo = _attr(case, "helo")
    if helo == "[UNAVAILABLE]":
        return None
    return helo or TARGET_HELO


def swaks_codes(port: int, case) -> Dict[str, Optional[int]]:
    """XCLIENT, MAIL and RCPT reply codes swaks gets for the same identity."""
    helo = _attr(case, "helo") or TARGET_HELO
    argv = ["swaks", "--server", f"127.0.0.1:{port}", "--ehlo", helo,
            "--from", case["mail_from"] or "<>", "--to", case["rcpt_to"][0],
            "--quit-after", "RCPT", "--timeout", "10", "--xclient-no-verify"]
    for key in ("addr", "name", "port", "helo"):
        value = _attr(case, key)
        if value is not None:
            value = f"IPV6:{value}" if key == "addr" and ":" in str(value) else value
            argv += [f"--xclient-{key}", str(value)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False,
                          stdin=subprocess.DEVNULL)
    out = done.stdout + done.stderr
    codes = reply_codes(out, ("XCLIENT", "MAIL", "RCPT"))
    codes["offered"] = "Host did not advertise XCLIENT" not in out
    return codes


def check_batch(inst, batch) -> None:
    by_listener: Dict[str, List[dict]] = {}
    for listener, case in batch:
        by_listener.setdefault(listener, []).append(case)
    for listener, cases_ in by_listener.items():
        before = len(inst.log_lines())
        out = run_module("xclient_probe", {
            "server": "127.0.0.1", "port": inst.ports[listener], "helo": TARGET_HELO,
            "timeout": 20, "transcript": "all", "fail_on_mismatch": False, "cases": cases_})
        assert "cases" in out, out
        # this run's log lines, once every session has ended (its disconnect line is
        # there), before swaks opens others (which may reuse a client port)
        mine = f" postfix/{listener}/smtpd["
        ends = [re.compile(rf"disconnect from \S*(?:\[[^\]]*\]:{_attr(c, 'port')}|"
                           rf"localhost\[127\.0\.0\.1\]:{_real_port(r)}) ")
                for c, r in zip(cases_, out["cases"])]
        deadline = time.monotonic() + 30  # generous: CI machines may be busy
        while True:
            log = [line for line in inst.log_lines()[before:] if mine in line]
            if all(any(e.search(line) for line in log) for e in ends):
                break
            if time.monotonic() > deadline:
                break  # check_case then names what is missing
            time.sleep(0.05)
        for case, result in zip(cases_, out["cases"]):
            check_case(inst, log, listener, case, result)


def _real_port(result) -> int:
    """The probe's own client port (from the transcript)."""
    connected = [l for l in result["transcript"] if l.startswith("-- connected")][0]
    return int(connected.rsplit(":", 1)[1])


def check_case(inst, log, listener, case, result) -> None:
    assert result["error"] is None, result
    truth = postfix_truth(log, case, _real_port(result))
    stages = result["stages"]
    # the outcome word and every code the module saw are what Postfix logged
    assert stages["xclient"]["outcome"] == truth["xclient"], (case, result, truth)
    if truth["xclient"] in ("rejected", "deferred"):
        assert stages["xclient"]["code"] == truth["xclient_code"]
    for stage in ("mail", "rcpt"):
        got = stages.get(stage)
        got = got[0] if isinstance(got, list) and got else (got or None)
        if stage in truth:
            assert got is not None and got["code"] // 100 == truth[stage] // 100, \
                (stage, case, result, truth)
            if truth[stage] != 250:
                assert got["code"] == truth[stage]
        else:
            assert got is None, (stage, case, result, truth)
    # the identity Postfix used is the declared one
    if "client" in truth:
        name = _attr(case, "name")
        want_name = "unknown" if name.startswith("[") else name
        addr = _attr(case, "addr")
        assert truth["client"] == (want_name, addr), (case, truth)
        for cmd, (_code, line) in truth["rejects"].items():
            helo = re.search(r" helo=<([^>]*)>$", line)
            # at XCLIENT only the declared HELO is in force (none if not declared)
            want = expected_helo(case) if cmd != "XCLIENT" else (
                None if _attr(case, "helo") in (None, "[UNAVAILABLE]") else _attr(case, "helo"))
            assert (helo.group(1) if helo else None) == want, (case, line)
            COUNTS["helo_checked"] += 1
    # the verdict
    assert result["passed"] == verdict_from_truth(case, truth), (case, result, truth)
    COUNTS["cases"] += 1
    COUNTS[f"xclient_{truth['xclient']}"] += 1
    COUNTS["passed" if result["passed"] else "failed"] += 1
    # swaks, for the same identity - unless it cannot send it: swaks always greets after
    # XCLIENT, which a declared HELO [UNAVAILABLE] forbids, and it cannot send XCLIENT
    # when the server does not offer it (force_xclient)
    # (and on nodelay, swaks' first EHLO would already be checked with the declared name)
    if _attr(case, "helo") == "[UNAVAILABLE]" or case.get("force_xclient") or (
            listener == "nodelay" and _attr(case, "helo") is not None):
        COUNTS["swaks_not_comparable"] += 1
        return
    theirs = swaks_codes(inst.ports[listener], case)
    ours = {"XCLIENT": stages["xclient"].get("code"),
            "MAIL": (stages.get("mail") or {}).get("code"),
            "RCPT": stages["rcpt"][0]["code"] if stages.get("rcpt") else None,
            "offered": stages["xclient"]["outcome"] != "not_offered"}
    assert ours == theirs, (case, ours, theirs)
    COUNTS["swaks_compared"] += 1


def test_verdicts_equal_postfix_log_and_swaks(rules_postfix):
    COUNTS.clear()

    @settings(max_examples=EXAMPLES)  # the rest: the profile in tests/conftest.py
    @given(st.lists(cases(), min_size=1, max_size=6))
    def prop(batch):
        check_batch(rules_postfix, batch)

    prop()
    print(f"\nverdicts vs Postfix's log and swaks: {dict(sorted(COUNTS.items()))}")
    assert COUNTS["cases"] >= EXAMPLES
    assert COUNTS["swaks_compared"] > 0
