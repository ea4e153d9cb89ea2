# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""User regexes against server text never run past the deadline (issue 11 item 3)."""

from __future__ import annotations

import re
import signal
import threading
import time

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._bounded_regex import (
    RegexTimeout,
    bounded_search,
)

EVIL = re.compile(r"(a+)+$")
TEXT = "a" * 40 + "!"  # hours of backtracking unbounded


def test_plain_search_is_unchanged():
    assert bounded_search(re.compile("queued as"), "Ok: queued as 1234", time.monotonic() + 5)
    assert not bounded_search(re.compile("^x"), "abc", time.monotonic() + 5)
    assert bounded_search(re.compile("b"), "abc", None)


def test_main_thread_search_stops_at_the_deadline():
    started = time.monotonic()
    with pytest.raises(RegexTimeout):
        bounded_search(EVIL, TEXT, started + 0.3)
    assert time.monotonic() - started < 1.0
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no timer left behind


def test_deadline_already_passed():
    with pytest.raises(RegexTimeout):
        bounded_search(re.compile("a"), "a", time.monotonic() - 1)


def test_other_threads_use_a_child_that_is_killed():
    out = {}

    def run():
        started = time.monotonic()
        try:
            bounded_search(EVIL, TEXT, started + 0.5)
            out["result"] = "finished"
        except RegexTimeout:
            out["result"] = "timeout"
        out["elapsed"] = time.monotonic() - started
        out["match"] = bounded_search(re.compile(r"Ok\b"), "250 Ok", time.monotonic() + 10)

    t = threading.Thread(target=run)
    t.start()
    t.join(20)
    assert out["result"] == "timeout" and out["elapsed"] < 2.0, out
    assert out["match"] is True


def test_an_earlier_timer_is_given_back():
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        assert bounded_search(re.compile("x"), "x", time.monotonic() + 5)
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 0.5
        time.sleep(0.7)
        assert fired == [1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
