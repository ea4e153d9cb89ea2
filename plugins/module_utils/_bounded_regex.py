# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A user's regular expression against server-controlled text, never past a deadline.

Python's ``re`` can backtrack for exponential time (``(a+)+$`` against 30 characters), and
the text comes from the server. In the main thread the search runs under an interval
timer (``SIGALRM``; ``re`` checks for signals while it backtracks); elsewhere, or where
there is no timer, it runs in a child interpreter that is killed at the deadline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from typing import Optional, Pattern


class RegexTimeout(Exception):
    """The search did not finish before the deadline."""


def _alarm(_signum, _frame):
    raise RegexTimeout()


_CHILD = ("import json, re, sys; p = json.load(sys.stdin);"
          " sys.stdout.write('1' if re.compile(p[0], p[1]).search(p[2]) else '0')")


def bounded_search(pattern: Pattern, text: str, deadline: Optional[float]) -> bool:
    """``pattern.search(text)`` as a bool; RegexTimeout if it would end after ``deadline``
    (a time.monotonic() value; None: no bound)."""
    if deadline is None:
        return pattern.search(text) is not None
    left = deadline - time.monotonic()
    if left <= 0:
        raise RegexTimeout()
    in_main = threading.current_thread() is threading.main_thread()
    if in_main and hasattr(signal, "setitimer"):
        return _search_with_timer(pattern, text, left)
    return _search_in_child(pattern, text, left)


def _search_with_timer(pattern: Pattern, text: str, left: float) -> bool:
    old_handler = signal.signal(signal.SIGALRM, _alarm)
    started = time.monotonic()
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, left)
    try:
        return pattern.search(text) is not None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay:  # someone else's timer was running: give back what is left of it
            remaining = old_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 0.001), old_interval)


def _search_in_child(pattern: Pattern, text: str, left: float) -> bool:
    if isinstance(pattern.pattern, bytes):
        raise TypeError("bounded_search works on text patterns")
    payload = json.dumps([pattern.pattern, pattern.flags & ~32, text])  # 32: re.UNICODE
    try:
        # a child process killed at the case's deadline: run_command has no timeout
        done = subprocess.run(  # pylint: disable=ansible-bad-function
            [sys.executable, "-I", "-c", _CHILD], input=payload,
            capture_output=True, text=True, timeout=left, check=True)
    except subprocess.TimeoutExpired:
        raise RegexTimeout() from None
    return done.stdout == "1"
