# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The session's checks: what may go on the wire, which reply can answer which command."""

from __future__ import annotations

import os
import tempfile

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._smtp_session import (
    make_tls_context,
    reply_fits,
    wire_problem,
    word_problem,
)


@pytest.mark.parametrize("text", ["a\rb", "a\nb", "a\0b", "x\r\nMAIL FROM:<>", "\udcff"])
def test_wire_problem(text):
    assert wire_problem(text)


@pytest.mark.parametrize("text", ["EHLO probe.test", "MAIL FROM:<jörg@example.org>", ""])
def test_wire_ok(text):
    assert wire_problem(text) is None


@pytest.mark.parametrize("text", ["a b", "a\tb", "\x7f", "", "a\x01"])
def test_word_problem(text):
    assert word_problem(text)


@pytest.mark.parametrize("verb,code,fits", [
    (None, 220, True), (None, 250, False), (None, 554, True), (None, 421, True),
    ("EHLO", 250, True), ("EHLO", 220, False), ("EHLO", 354, False),
    ("XCLIENT", 220, True), ("XCLIENT", 250, True), ("XCLIENT", 221, False),
    ("MAIL", 250, True), ("MAIL", 220, False), ("RCPT", 251, True), ("RCPT", 220, False),
    ("DATA", 354, True), ("DATA", 250, False), (".", 250, True), (".", 354, False),
    ("QUIT", 221, True), ("QUIT", 250, False), ("RSET", 250, True), ("RSET", 550, True),
])
def test_reply_fits(verb, code, fits):
    assert reply_fits(verb, code) is fits


def test_ca_file_must_be_a_regular_file():
    tmp = tempfile.mkdtemp()
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    try:
        with pytest.raises(ValueError, match="is not a regular file"):
            make_tls_context(True, fifo)  # would block forever on open()
        with pytest.raises(ValueError, match="is not a regular file"):
            make_tls_context(True, tmp)
    finally:
        os.unlink(fifo)
        os.rmdir(tmp)
