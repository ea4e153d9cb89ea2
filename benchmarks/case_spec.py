# SPDX-License-Identifier: GPL-3.0-or-later
"""case_spec: what checking the probe's cases costs before any of them is sent.

Two figures for the same N-case matrix the other benchmarks send: Ansible's own argument
validation of ``xclient_probe``'s spec (what the module pays before ``main()`` goes on),
and ``parse_cases`` as a Python caller uses it (the benchmarks' in-process mode, the
injector). No server is needed. Run it in two trees to compare them.

Usage: case_spec.py [--quick] [-n N] [--runs R]
The last line of the output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any, Callable, Dict, List

from _bench_common import emit, machine, matrix, median  # first: puts the collection on sys.path

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import parse_cases
from ansible_collections.mailops.xclient.plugins.modules.xclient_probe import argument_spec


def seconds(fn: Callable[[], Any], runs: int) -> List[float]:
    out = []
    for _run in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 300, 3 runs")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    n, runs = (300, 3) if args.quick else (args.n, args.runs)
    cases = matrix(n)
    params = {"server": "127.0.0.1", "port": 25, "cases": cases}
    validator = ArgumentSpecValidator(argument_spec())

    def validate() -> None:
        result = validator.validate(copy.deepcopy(params))
        if result.error_messages:
            raise SystemExit(f"case_spec: the matrix does not validate: {result.error_messages}")

    validate()
    parse_cases(cases)  # raises on a bad matrix before anything is timed
    figures: Dict[str, Any] = {}
    for name, fn in (("argument_spec", validate), ("parse_cases", lambda: parse_cases(cases))):
        times = seconds(fn, runs)
        figures[name] = {"median": round(median(times), 4), "min": round(min(times), 4),
                         "max": round(max(times), 4)}
        print(f"{name:14} {n} cases: median {figures[name]['median'] * 1000:.1f} ms")
    emit({"benchmark": "case_spec", "n": n, "runs": runs, "quick": args.quick,
          "seconds": figures, "machine": machine()})


if __name__ == "__main__":
    main()
