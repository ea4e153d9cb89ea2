# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check mode as a user who is not root: /proc/PID/fd of the master is not readable, so
its sockets cannot be told from another process's. Faked here (a fault a test run as root
cannot produce on demand): the "master" is this test process, holding a real listening
socket, and listing its /proc/PID/fd fails with EACCES as it does for a non-root user."""

from __future__ import annotations

import os
import socket
from typing import Iterator, List

import pytest
from ansible_collections.mailops.xclient.plugins.module_utils import _postfix_preflight
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    Listener,
    _LiveSockets,
)


@pytest.fixture(name="held")
def held_fixture() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def blind(monkeypatch: pytest.MonkeyPatch, live_ports: List[int]) -> _LiveSockets:
    me = os.getpid()
    real_listdir = os.listdir

    def listdir(path: str) -> List[str]:
        if path == f"/proc/{me}/fd":
            raise PermissionError(13, "Permission denied", path)
        return real_listdir(path)

    monkeypatch.setattr(_postfix_preflight, "master_pid", lambda _pc: me)
    monkeypatch.setattr(_postfix_preflight.os, "listdir", listdir)
    sockets = _LiveSockets(None, [])  # type: ignore[arg-type]
    sockets._live_listeners = [Listener(f"127.0.0.1:{p}/inet", ["127.0.0.1"], p, "127.0.0.1")
                               for p in live_ports]
    return sockets


def test_a_port_the_live_config_listens_on_is_taken_as_the_masters(
        monkeypatch: pytest.MonkeyPatch, held: int) -> None:
    # used to be refused: "port N is already used by python (pid ...)", so check mode as
    # non-root refused every edit of an existing listener
    sockets = blind(monkeypatch, [held])
    assert sockets.blind
    assert sockets.holder("127.0.0.1", held) is None
    assert len(sockets.notes) == 1 and "not readable by this user" in sockets.notes[0]


def test_a_port_the_live_config_does_not_use_is_still_refused(
        monkeypatch: pytest.MonkeyPatch, held: int) -> None:
    sockets = blind(monkeypatch, [])
    found = sockets.holder("127.0.0.1", held)
    assert found is not None and found[0] == "127.0.0.1"
    assert sockets.notes == []
