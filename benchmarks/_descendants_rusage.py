# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs a command and writes what it and every process below it cost in CPU, as JSON:

    python3 benchmarks/_descendants_rusage.py RESULT.json -- CMD [ARG...]

The kernel adds a process's CPU time to its parent's RUSAGE_CHILDREN when the parent reaps
it, and a reaped process brings along what it had reaped. ansible-playbook reaps its
forks, the forks reap their ssh clients, so their time reaches this process. ssh
ControlPersist masters detach and would be reaped by init: this process is a child
subreaper (prctl PR_SET_CHILD_SUBREAPER), so they are re-parented here; when the command
has ended, it ends and reaps every process left below it, and only then reads
RUSAGE_CHILDREN. Its own CPU time is not in the figure. The exit status is the command's.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from typing import List

PR_SET_CHILD_SUBREAPER = 36


def children(pid: int) -> List[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def reap_all(deadline_s: float = 5.0) -> int:
    """Ends every process left below this one (SIGTERM, then SIGKILL) and reaps it."""
    left = children(os.getpid())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in children(os.getpid()):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return len(left)
            if pid == 0:
                time.sleep(0.02)
    return len(left)


def main(argv: List[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    rc = subprocess.call(argv[2:])
    left = reap_all()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(argv[0], "w", encoding="utf-8") as fh:
        json.dump({"rc": rc, "user_s": ru.ru_utime, "system_s": ru.ru_stime,
                   "largest_process_rss_kb": ru.ru_maxrss, "left_behind": left}, fh)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
