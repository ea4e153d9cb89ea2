# SPDX-License-Identifier: GPL-3.0-or-later
"""probe_matrix: the same N-case XCLIENT matrix against one private Postfix instance,
run five ways, alternated, medians reported.

  a  xclient_probe as one Ansible task (ansible-playbook, localhost)
  b  the probe core in-process (no Ansible)
  c  swaks, one process per case (what people do today)
  d  a minimal raw-socket client, sequential and concurrent (the limit on this machine)
  e  an Ansible loop: one xclient_probe task per case (N_loop cases, reported per case)
  a_floor  ansible-playbook with one ping task and the same extra vars: Ansible's fixed
     cost, which "a" cannot go below (timed next to "a", reported in seconds)

Usage: probe_matrix.py [--quick] [-n N] [--runs R] [--concurrency C] [--loop-n N]
                       [--sweep N1,N2,...] [--plot FILE]
The last line of the output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

from _bench_common import (
    FROM,
    LOCAL,
    ansible_playbook,
    emit,
    machine,
    matrix,
    median,
    start_postfix,
    stop_postfix,
    timed,
)

from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import parse_cases
from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    render_table,
    summarize,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_runner import (
    ProbeTarget,
    run_cases,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xclient_command import (
    normalize_attributes,
    xclient_commands,
)

TASK_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: The whole matrix as one task
      mailops.xclient.xclient_probe:
        server: 127.0.0.1
        port: "{{ port }}"
        helo: bench.test
        concurrency: "{{ concurrency }}"
        transcript: none
        cases: "{{ cases }}"
"""

# Ansible's own floor: the same ansible-playbook run with one trivial task and the same
# extra vars (the cases are loaded but not used). What "a" costs beyond this is ours.
FLOOR_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Nothing but Ansible's own start, one module run and the result
      ansible.builtin.ping:
"""

LOOP_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: One task per case
      mailops.xclient.xclient_probe:
        server: 127.0.0.1
        port: "{{ port }}"
        helo: bench.test
        transcript: none
        cases: ["{{ item }}"]
      loop: "{{ cases }}"
      loop_control:
        label: "{{ item.name }}"
"""


# ---------------------------------------------------------------------- the five ways

def run_ansible(playbook: str, port: int, cases: List[Dict[str, Any]], concurrency: int,
                workdir: str) -> None:
    book = os.path.join(workdir, "book.yml")
    with open(book, "w", encoding="utf-8") as fh:
        fh.write(playbook)
    extra = os.path.join(workdir, "vars.json")
    with open(extra, "w", encoding="utf-8") as fh:
        json.dump({"port": port, "cases": cases, "concurrency": concurrency}, fh)
    done = ansible_playbook(book, "-e", "@" + extra)
    if done.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{done.tail(3000)}")


def run_core(port: int, cases: List[Dict[str, Any]], concurrency: int) -> None:
    results = run_cases(parse_cases(cases), ProbeTarget(server="127.0.0.1", port=port,
                                                        helo="bench.test"),
                        concurrency=concurrency, transcript_mode="none")
    summary = summarize(results)
    if summary["passed"] != summary["total"]:
        raise SystemExit(f"probe core: {summary}\n"
                         + "\n".join(render_table(results, only_problems=True)[:6]))


def swaks_argv(port: int, case: Dict[str, Any]) -> List[str]:
    argv = ["swaks", "--server", f"127.0.0.1:{port}", "--ehlo", "bench.test",
            "--from", FROM, "--to", LOCAL, "--quit-after", "RCPT", "--timeout", "30"]
    for key, value in normalize_attributes(case["xclient"]).items():
        argv += [f"--xclient-{key.lower().replace('_', '-')}", value]
    return argv


# swaks' exit codes (swaks(1) EXIT CODES): 24 = no RCPT accepted, 33 = XCLIENT failed.
SWAKS_EXIT = {"accept": 0, "reject": 24, "tempfail": 24, "refused": 33}


def expected_kind(case: Dict[str, Any]) -> str:
    return case["name"].split("-", 1)[0]


def run_swaks(port: int, cases: List[Dict[str, Any]]) -> None:
    wrong = []
    for case in cases:
        done = subprocess.run(swaks_argv(port, case), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, check=False)
        if done.returncode != SWAKS_EXIT[expected_kind(case)]:
            wrong.append(f"{case['name']}: swaks exit {done.returncode}")
    if wrong:
        raise SystemExit(f"swaks: {len(wrong)} cases ended otherwise, first: {wrong[0]}")


_FINAL = re.compile(rb"(?:^|\r\n)\d{3} [^\r\n]*\r\n$")


def _reply(sock: socket.socket) -> bytes:
    data = b""
    while not _FINAL.search(data):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


# The first digit of the deciding reply (RCPT, or XCLIENT when refused) per kind of case.
RAW_OUTCOME = {"accept": b"2", "reject": b"5", "tempfail": b"4", "refused": b"5"}


def raw_session(port: int, case: Dict[str, Any]) -> bool:
    """The same exchange with no validation, no transcript, no reply objects; returns
    whether the deciding reply has the expected class."""
    (command,) = xclient_commands(case["xclient"])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        _reply(sock)
        sock.sendall(b"EHLO bench.test\r\n")
        _reply(sock)
        sock.sendall(command.encode() + b"\r\n")
        decided = _reply(sock)
        if decided[:1] == b"2":
            sock.sendall(b"EHLO bench.test\r\n")
            _reply(sock)
            sock.sendall(b"MAIL FROM:<" + FROM.encode() + b">\r\n")
            _reply(sock)
            sock.sendall(b"RCPT TO:<" + LOCAL.encode() + b">\r\n")
            decided = _reply(sock)
        sock.sendall(b"RSET\r\n")
        _reply(sock)
        sock.sendall(b"QUIT\r\n")
        _reply(sock)
    return decided[:1] == RAW_OUTCOME[expected_kind(case)]


def run_raw(port: int, cases: List[Dict[str, Any]], concurrency: int) -> None:
    if concurrency == 1:
        outcomes = [raw_session(port, case) for case in cases]
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            outcomes = list(pool.map(lambda c: raw_session(port, c), cases))
    if not all(outcomes):
        raise SystemExit(f"raw client: {outcomes.count(False)} cases ended otherwise")


# ---------------------------------------------------------------------- one measurement

def measure(n: int, runs: int, concurrency: int, loop_n: int, modes: str,
            port: int, workdir: str) -> Dict[str, Any]:
    cases = matrix(n)
    loop_cases = matrix(loop_n)
    times: Dict[str, List[float]] = {m: [] for m in ("a", "a_floor", "b", "c", "d_seq",
                                                     "d_conc", "e")}
    run_core(port, matrix(20), concurrency)  # warm up Postfix's process pool
    for _run in range(runs):  # alternate: a b c d e, a b c d e, ...
        if "a" in modes:
            times["a"].append(timed(lambda: run_ansible(TASK_PLAYBOOK, port, cases,
                                                        concurrency, workdir)))
            times["a_floor"].append(timed(lambda: run_ansible(FLOOR_PLAYBOOK, port, cases,
                                                              concurrency, workdir)))
        if "b" in modes:
            times["b"].append(timed(lambda: run_core(port, cases, concurrency)))
        if "c" in modes:
            times["c"].append(timed(lambda: run_swaks(port, cases)))
        if "d" in modes:
            times["d_seq"].append(timed(lambda: run_raw(port, cases, 1)))
            times["d_conc"].append(timed(lambda: run_raw(port, cases, concurrency)))
        if "e" in modes:
            times["e"].append(timed(lambda: run_ansible(LOOP_PLAYBOOK, port, loop_cases,
                                                        1, workdir)))
    rate = {}
    for mode, values in times.items():
        if values and mode != "a_floor":
            count = loop_n if mode == "e" else n
            rate[mode] = round(count / median(values), 2)
    return {"n": n, "loop_n": loop_n, "runs": runs, "concurrency": concurrency,
            "cases_per_s": rate,
            "seconds": {m: {"median": round(median(v), 3), "min": round(min(v), 3),
                            "max": round(max(v), 3)} for m, v in times.items() if v}}


def ratios(r: Dict[str, Any]) -> Dict[str, float]:
    c = r["cases_per_s"]
    out = {}
    if "a" in c and "c" in c:
        out["a_over_c"] = round(c["a"] / c["c"], 1)
    if "b" in c and "d_conc" in c:
        out["b_over_d"] = round(c["b"] / c["d_conc"], 2)
    if "a" in c and "e" in c:
        out["a_over_e_per_case"] = round(c["a"] / c["e"], 1)
    return out


def plot(points: List[Dict[str, Any]], path: str) -> None:
    import matplotlib  # installed only for benchmarks (benchmarks/requirements.txt)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = {"a": "a: one Ansible task", "b": "b: probe core in-process",
              "c": "c: swaks per case", "d_conc": "d: raw socket, concurrent",
              "d_seq": "d: raw socket, sequential"}
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for mode, label in labels.items():
        xs = [p["n"] for p in points if mode in p["cases_per_s"]]
        ys = [p["cases_per_s"][mode] for p in points if mode in p["cases_per_s"]]
        if xs:
            ax.plot(xs, ys, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cases in the matrix (N)")
    ax.set_ylabel("cases per second (median)")
    ax.set_title("XCLIENT probe matrix against one private Postfix 3.7")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--quick", action="store_true", help="small N, one run (< 60 s)")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--loop-n", type=int, default=100)
    ap.add_argument("--modes", default="abcde")
    ap.add_argument("--sweep", default="", help="also measure a, b, c, d at these N")
    ap.add_argument("--sweep-runs", type=int, default=1, help="runs per extra sweep point")
    ap.add_argument("--plot", default="", help="PNG of cases/s vs N (needs --sweep)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.runs, args.loop_n = 40, 1, 8
    inst = start_postfix()
    port = inst.ports["authorized"]
    try:
        with tempfile.TemporaryDirectory() as workdir:
            main_result = measure(args.n, args.runs, args.concurrency, args.loop_n,
                                  args.modes, port, workdir)
            sweep = []
            for n in [int(x) for x in args.sweep.split(",") if x]:
                point = main_result if n == args.n else measure(
                    n, args.sweep_runs, args.concurrency, args.loop_n,
                    args.modes.replace("e", ""), port, workdir)
                sweep.append({"n": n, "runs": point["runs"],
                              "cases_per_s": point["cases_per_s"], "ratios": ratios(point)})
                print(f"sweep N={n}: {point['cases_per_s']} {ratios(point)}", flush=True)
    finally:
        stop_postfix(inst)
    result = {"benchmark": "probe_matrix", "quick": args.quick, "machine": machine(),
              **main_result, "ratios": ratios(main_result)}
    if sweep:
        result["sweep"] = sweep
    if args.plot and sweep:
        plot(sweep, args.plot)
        result["plot"] = args.plot
    print(f"N={result['n']} (loop N={result['loop_n']}), runs={result['runs']},"
          f" concurrency={result['concurrency']}")
    for mode, rate in result["cases_per_s"].items():
        s = result["seconds"][mode]
        print(f"  {mode:7} {rate:9.1f} cases/s   median {s['median']:.3f}s"
              f"  (min {s['min']:.3f}, max {s['max']:.3f})")
    if "a_floor" in result["seconds"]:
        s = result["seconds"]["a_floor"]
        print(f"  a_floor (one ping task, same extra vars)  median {s['median']:.3f}s"
              f"  (min {s['min']:.3f}, max {s['max']:.3f})")
    print(f"  ratios: {result['ratios']}")
    emit(result)


if __name__ == "__main__":
    main()
