# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postfix_instance's ``timeout`` bounds the whole run (the baseline proof, the shadow, the
action, its proof and a rollback), measured on a simulated clock, not a real one: every
wait runs to the limit it was given (the worst case: listeners that never answer) and
advances the clock by exactly that, each Postfix command takes one simulated second. No
real time passes, so the figure does not depend on this machine's speed or load."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, List

import pytest
from ansible_collections.mailops.xclient.plugins.module_utils import _postfix_instance as pi
from ansible_collections.mailops.xclient.plugins.module_utils._shadow import (
    Endpoint,
    Proof,
    Step,
)

COMMAND_SECONDS = 1.0  # one postfix start/stop/reload/status, simulated


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class Instance(pi.Controls):
    """Controls whose commands take simulated time; the master stays up (a reload is
    accepted) but after the first command no listener ever answers."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(pc=SimpleNamespace(config_dir="/nonexistent/postfix-sim", run=None,
                                            postconf_bin="postconf",
                                            postfix_bin="postfix"))
        self.clock = clock
        self.up = True
        self.verbs: List[str] = []

    def action(self, verb: str, deadline: Any = None):
        self.verbs.append(verb)
        self.clock.sleep(COMMAND_SECONDS)
        self.up = verb != "stop"
        return 0, ""

    def running(self) -> bool:
        return self.up


def hanging_proof(clock: Clock, instance: Instance):
    def prove(endpoints, timeout, domain, log=None, send_data=False):
        clock.sleep(timeout)  # takes all it may (mail flowed before any command)
        endpoint = Endpoint("smtp/inet", "127.0.0.1", 25)
        if not instance.verbs:
            return Proof(steps=[Step(endpoint, True)], elapsed=timeout)
        return Proof(steps=[Step(endpoint, False, why="TimeoutError: timed out")],
                     elapsed=timeout)
    return prove


@pytest.fixture
def world(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(pi.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(pi.time, "sleep", clock.sleep)
    instance = Instance(clock)
    monkeypatch.setattr(pi, "prove_mail_flows", hanging_proof(clock, instance))

    def shadow_proof(config_dir, run, timeout, **kwargs):
        clock.sleep(timeout)  # the shadow takes all it may, and then proves (worst case)
        return Proof(steps=[Step(Endpoint("smtp/inet", "127.0.0.1", 1), True)],
                     elapsed=timeout), []

    monkeypatch.setattr(pi, "shadow_proof", shadow_proof)
    for name, value in {"live_endpoints": [Endpoint("smtp/inet", "127.0.0.1", 25)],
                        "proof_domain": "example.net", "log_offset": (None, 0),
                        "fatal_lines": [], "explain": [], "_children": set(),
                        "has_lkg": True, "same_as_lkg": False, "lkg_dir": "/lkg",
                        "set_aside_and_restore": ["main.cf.rejected-T"],
                        "save_lkg": None}.items():
        monkeypatch.setattr(pi, name, lambda *a, v=value, **k: v)
    monkeypatch.setattr(pi.os, "geteuid", lambda: 0)
    return clock, instance


@pytest.mark.parametrize("timeout", [30, 60, 300])
def test_timeout_bounds_the_whole_run_with_shadow_and_rollback(world, timeout):
    clock, instance = world
    began = clock.now
    with pytest.raises(pi.InstanceError) as failed:
        pi.manage(instance, "reloaded", check_mode=False, timeout=timeout,
                  wait_listeners=True, rollback=True)
    elapsed = clock.now - began
    # it went all the way: shadow, reload, proof, rollback by stop and start, proof
    assert instance.verbs == ["reload", "stop", "start"], instance.verbs
    assert failed.value.result["rolled_back"] is True
    assert "did not come up either" in str(failed.value)
    # (before: the deadline started again after the shadow - 30 s took 70 here)
    assert elapsed <= timeout, (timeout, elapsed)
    assert elapsed >= timeout * 0.9  # and the waiting used the time it was given


@pytest.mark.parametrize("timeout", [5, 10, 20])
def test_a_short_timeout_overshoots_by_at_most_the_rollbacks_floors(world, timeout):
    """A rollback's stop and start, once begun, are let finish (a simulated second each)
    and its proof gets at least 2 s: a short run may end that much late, no more."""
    clock, instance = world
    began = clock.now
    with pytest.raises(pi.InstanceError):
        pi.manage(instance, "reloaded", check_mode=False, timeout=timeout,
                  wait_listeners=True, rollback=True)
    assert instance.verbs == ["reload", "stop", "start"], instance.verbs
    assert clock.now - began <= timeout + 2 * COMMAND_SECONDS + 2.0, clock.now - began


def test_a_listener_that_timed_out_before_excuses_no_hang_after(world, monkeypatch):
    """The proof before the action: a listener that did not answer in time says nothing
    either way. Counted as "refused as before", it would excuse any listener that hangs
    after the reload (failures are compared by answer, not by listener)."""
    clock, instance = world
    endpoint = Endpoint("smtp/inet", "127.0.0.1", 25)

    def prove(endpoints, timeout, domain, log=None, send_data=False):
        clock.sleep(timeout)
        return Proof(steps=[Step(endpoint, False, why="TimeoutError: timed out")],
                     elapsed=timeout)

    monkeypatch.setattr(pi, "prove_mail_flows", prove)
    with pytest.raises(pi.InstanceError) as failed:
        pi.manage(instance, "reloaded", check_mode=False, timeout=30,
                  wait_listeners=True, rollback=True)
    assert failed.value.result["rolled_back"] is True  # not "alive as before"
    assert "mail does not flow" in str(failed.value)
