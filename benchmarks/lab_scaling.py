# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lab_scaling: the verify step of the lab scenario from 1, 5, 10, 20 client hosts at once
(forks = hosts), over ssh and paramiko, with and without pipelining / ControlPersist.

One lab (tests/lab/lab.py) with the largest host count is brought up and deployed once
(over ssh); then each step runs `ansible-playbook --tags verify --limit clientsN` and is
timed. Control-node peak RSS is the largest sum, sampled every 50 ms, of the RSS of
ansible-playbook, its workers and ssh clients, and the ssh ControlPersist masters (which
leave the process tree); peak PSS the same with each shared page split among its sharers.
Control-node CPU is the user + system time of ansible-playbook, its workers, the ssh
clients and the ControlPersist masters (benchmarks/_descendants_rusage.py: everything
below one process, reaped), not of the lab's hosts, whose sshd and modules run on the same
cores but outside that tree: CPU seconds hold up on a busy machine where wall time does
not. After the sweep, per way of connecting: CPU a run and a host, PSS a fork (straight
lines through the points), and how many hosts a controller of a few sizes verifies a
minute. Every step starts without ssh masters. Every step must pass.

    python3 benchmarks/lab_scaling.py [--sizes 1,5,10,20] [--plot FILE] [--quick]
    python3 benchmarks/lab_scaling.py --replot benchmarks/results/lab_scaling.txt --plot FILE
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import collection  # noqa: E402
import lab  # noqa: E402
import lab_test  # noqa: E402

RUSAGE = os.path.join(ROOT, "benchmarks", "_descendants_rusage.py")

# name, connection, pipelining, ControlPersist (ssh only)
CONFIGS: List[Tuple[str, str, bool, bool]] = [
    ("ssh", "ssh", True, True),
    ("ssh-plain", "ssh", False, False),
    ("paramiko", "paramiko", True, False),
    ("paramiko-plain", "paramiko", False, False),
]


def _children() -> Dict[int, List[int]]:
    kids: Dict[int, List[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", encoding="ascii") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    return kids


def _mem_kb(pid: int) -> Tuple[int, int]:
    """(RSS, PSS) in kB. RSS counts the copy-on-write pages a fork shares with its parent
    in every process; PSS splits them among the sharers."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _masters(cp_dir: str) -> List[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as fh:
                    if cp_dir.encode() in fh.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


def tree_mem_kb(root: int, cp_dir: str) -> Tuple[int, int]:
    """Summed (RSS, PSS) of the processes below ``root`` (the CPU-accounting wrapper, left
    out) and of the ssh ControlPersist masters."""
    kids, seen, todo = _children(), set(), list(_children().get(root, []))
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo += kids.get(p, [])
    seen.update(_masters(cp_dir))
    mem = [_mem_kb(p) for p in seen]
    return sum(m[0] for m in mem), sum(m[1] for m in mem)


def stop_masters(cp_dir: str) -> None:
    for pid in _masters(cp_dir):
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
    time.sleep(0.2)


def step(inventory: str, n: int, config: Tuple[str, str, bool, bool]) -> Dict:
    name, conn, pipelining, persist = config
    env = lab_test.lab_env(conn, n, pipelining=pipelining, control_persist=persist)
    cp_dir = env["ANSIBLE_SSH_CONTROL_PATH_DIR"]
    stop_masters(cp_dir)
    # Popen, not collection.playbook(): the process tree is sampled while it runs. The
    # wrapper (_descendants_rusage.py) accounts the CPU time of everything below it; it
    # runs collection.sh, which execs ansible-playbook.
    results = os.path.join(lab_test.OUT, f"bench-{name}-{n}.json")
    cpu_file = os.path.join(lab_test.OUT, f"bench-{name}-{n}.cpu.json")
    for old in (results, cpu_file):
        if os.path.exists(old):
            os.unlink(old)  # never an earlier run's figures
    argv = [sys.executable, RUSAGE, cpu_file, "--",
            "bash", collection.SCRIPT, "run", collection.SOURCE, "ansible-playbook",
            "-i", inventory, lab_test.PLAYBOOK, "-e", f"ansible_connection={conn}",
            "--tags", "verify", "--limit", f"clients[0:{n - 1}]"]
    log = os.path.join(lab_test.OUT, f"bench-{name}-{n}.log")
    load_before = os.getloadavg()[0]
    with open(log, "w", encoding="utf-8") as fh:
        started = time.monotonic()
        recorder = collection.recorder_env(results, tasks=False)
        proc = subprocess.Popen(argv, env=dict(os.environ, **env, **recorder),
                                stdout=fh, stderr=subprocess.STDOUT)
        peak = peak_pss = 0
        while proc.poll() is None:
            rss, pss = tree_mem_kb(proc.pid, cp_dir)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            time.sleep(0.05)
        seconds = time.monotonic() - started
    stats, _tasks = collection.read_recorded(results)
    bad = [h for h, s in stats.items() if s["failures"] or s["unreachable"]]
    if proc.returncode != 0 or bad or len(stats) != n:
        raise SystemExit(f"{name} with {n} hosts failed (rc {proc.returncode}, hosts {bad}); "
                         f"see build/lab/bench-{name}-{n}.log")
    with open(cpu_file, encoding="utf-8") as fh:
        cpu = json.load(fh)
    stop_masters(cp_dir)
    cpu_s = cpu["user_s"] + cpu["system_s"]
    return {"config": name, "hosts": n, "seconds": round(seconds, 2),
            "peak_rss_mb": round(peak / 1024, 1), "peak_pss_mb": round(peak_pss / 1024, 1),
            "cpu_user_s": round(cpu["user_s"], 2), "cpu_system_s": round(cpu["system_s"], 2),
            "cpu_s_per_host": round(cpu_s / n, 3), "pss_mb_per_host": round(peak_pss / 1024 / n, 1),
            "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def fit(xs: List[float], ys: List[float]) -> Tuple[float, float]:
    """Least-squares line through the points: (intercept, slope)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    return my - slope * mx, slope


# Controllers the projection is worked out for: (cores, GiB).
CONTROLLERS = [(2, 4), (4, 8), (8, 16), (16, 32)]


def projection(rows: List[Dict]) -> List[Dict]:
    """Per way of connecting, from the sweep: fixed CPU seconds a run and CPU seconds per
    host (a line through total CPU against hosts), PSS per fork (the slope of peak PSS)
    and the base, the 1-host wall time; and for each controller in CONTROLLERS how many
    hosts it verifies a minute: the lower of the CPU limit (cores x 60 s / CPU s per host)
    and the memory limit (forks that fit in the memory / the 1-host wall time)."""
    out = []
    for name in dict.fromkeys(r["config"] for r in rows):
        r = sorted((x for x in rows if x["config"] == name), key=lambda x: x["hosts"])
        if len(r) < 2:
            continue
        hosts = [x["hosts"] for x in r]
        cpu_fixed, cpu_host = fit(hosts, [x["cpu_user_s"] + x["cpu_system_s"] for x in r])
        pss_base, pss_fork = fit(hosts, [x["peak_pss_mb"] for x in r])
        latency = r[0]["seconds"] if r[0]["hosts"] == 1 else None
        per = []
        for cores, gib in CONTROLLERS:
            by_cpu = cores * 60 / cpu_host
            forks = max(1, int((gib * 1024 - pss_base) / pss_fork))
            by_mem = forks * 60 / latency if latency else None
            per.append({"cores": cores, "gib": gib, "hosts_per_min_cpu": round(by_cpu),
                        "forks_in_memory": forks,
                        "hosts_per_min_memory": round(by_mem) if by_mem else None,
                        "hosts_per_min": round(min(by_cpu, by_mem or by_cpu))})
        out.append({"config": name, "cpu_s_fixed": round(cpu_fixed, 2),
                    "cpu_s_per_host": round(cpu_host, 3), "pss_mb_base": round(pss_base, 1),
                    "pss_mb_per_fork": round(pss_fork, 1), "one_host_seconds": latency,
                    "controllers": per})
    return out


def plot(rows: List[Dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 4))
    for name in [cfg[0] for cfg in CONFIGS]:
        r = [x for x in rows if x["config"] == name]
        if not r:
            continue
        hosts = [x["hosts"] for x in r]
        a.plot(hosts, [x["seconds"] for x in r], marker="o", label=name)
        b.plot(hosts, [x["cpu_s_per_host"] for x in r], marker="o", label=name)
        c.plot(hosts, [x["peak_pss_mb"] for x in r], marker="o", label=name)
    a.set(xlabel="client hosts (forks = hosts)", ylabel="wall time of the verify step (s)")
    b.set(xlabel="client hosts (forks = hosts)", ylabel="control-node CPU s per host (user+sys)",
          ylim=(0, None))
    c.set(xlabel="client hosts (forks = hosts)", ylabel="control-node peak PSS (MB)")
    a.legend()
    for ax in (a, b, c):
        ax.grid(alpha=.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="1,5,10,20")
    parser.add_argument("--quick", action="store_true", help="1 host, ssh and paramiko only")
    parser.add_argument("--configs", default=",".join(c[0] for c in CONFIGS))
    parser.add_argument("--plot", default="")
    parser.add_argument("--replot", default="", metavar="RESULTS",
                        help="only draw --plot from a saved run's output (its JSON line)")
    args = parser.parse_args(argv)
    if args.replot:
        with open(args.replot, encoding="utf-8") as fh:
            rows = [json.loads(l) for l in fh if l.startswith('{"benchmark"')][-1]["rows"]
        plot(rows, args.plot)
        return 0
    sizes = [1] if args.quick else [int(x) for x in args.sizes.split(",")]
    wanted = ["ssh", "paramiko"] if args.quick else args.configs.split(",")
    if lab_test.paramiko_missing():
        print(f"paramiko: {lab_test.paramiko_missing()}; measuring ssh only", flush=True)
        wanted = [w for w in wanted if not w.startswith("paramiko")]
    configs = [c for c in CONFIGS if c[0] in wanted]
    os.makedirs(lab_test.OUT, exist_ok=True)
    rows: List[Dict] = []
    inventory = lab.up(max(sizes))
    try:
        deploy = lab_test.playbook(inventory, "ssh", 4, "bench-deploy", ["--tags", "deploy"])
        problems = lab_test.problems_of(deploy, ["mx", "edge1", "edge2", "filter"], False)
        if problems:
            raise SystemExit(f"deploy failed: {problems}")
        for n in sizes:
            for config in configs:
                row = step(inventory, n, config)
                rows.append(row)
                print(f"{row['config']:15} {n:3d} hosts  {row['seconds']:7.2f} s  "
                      f"{row['peak_rss_mb']:7.1f} MB RSS  {row['peak_pss_mb']:7.1f} MB PSS  "
                      f"CPU {row['cpu_user_s']:6.2f} user {row['cpu_system_s']:6.2f} sys s = "
                      f"{row['cpu_s_per_host']:5.2f} s/host  load {row['load_1min']}", flush=True)
    finally:
        lab.down()
    proj = projection(rows)
    for p in proj:
        per_min = ", ".join(f"{c['cores']} cores/{c['gib']} GiB {c['hosts_per_min']}"
                            for c in p["controllers"])
        print(f"{p['config']:15} CPU {p['cpu_s_fixed']:.2f} s a run + {p['cpu_s_per_host']:.3f} s"
              f" a host; PSS {p['pss_mb_base']:.0f} MB + {p['pss_mb_per_fork']:.1f} MB a fork;"
              f" hosts a minute: {per_min}", flush=True)
    print(json.dumps({"benchmark": "lab_scaling", "rows": rows, "projection": proj,
                      "nproc": os.cpu_count()}), flush=True)
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
