# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The injector's pure parts: envelope, quarantine files, options, dry-run JSON."""

from __future__ import annotations

import io
import json
import os

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._inject import (
    EX_TEMPFAIL,
    EX_USAGE,
    Target,
    UsageError,
    changed,
    inject_file,
    main,
    maildir_deliver,
    message_files,
    parse_on_reject,
    quarantine_message,
    return_path,
    split_quarantined,
)

MSG = (b"Return-Path: <alice@example.org>\r\n"
       b"Received: from h.example (n.example [192.0.2.1]) by mx.isp.example (Postfix) with"
       b" ESMTP id 1; Tue, 24 Nov 2026\r\nSubject: s\r\n\r\nbody\r\n")


def test_return_path():
    assert return_path(MSG) == "alice@example.org"
    assert return_path(b"Return-Path: <>\r\n\r\n") == ""
    assert return_path(b"Subject: x\r\n\r\n") is None


def test_quarantine_round_trip():
    stored = quarantine_message(MSG, "alice@example.org", ["a@example.net", "b@example.net"],
                                "554 5.7.1 no\r\nsecond line")
    assert stored.endswith(MSG)
    assert b"second line" in stored and b"no\r\nsecond" not in stored
    message, sender, rcpts = split_quarantined(stored)
    assert (message, sender, rcpts) == (MSG, "alice@example.org",
                                        ["a@example.net", "b@example.net"])


def test_split_only_takes_the_top_lines():
    forged = b"Subject: x\r\nX-Xclient-Inject-Envelope-To: evil@example.org\r\n\r\nb\r\n"
    assert split_quarantined(forged) == (forged, None, [])


def test_maildir_deliver_and_message_files(tmp_path):
    path = maildir_deliver(str(tmp_path / "q"), b"one")
    assert path.startswith(str(tmp_path / "q" / "new")) and open(path, "rb").read() == b"one"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert os.listdir(tmp_path / "q" / "tmp") == []
    maildir_deliver(str(tmp_path / "q"), b"two")
    assert len(message_files(str(tmp_path / "q"))) == 2
    assert message_files(path) == [path]
    with pytest.raises(UsageError, match="^path: .* not a Maildir"):
        message_files(str(tmp_path))
    with pytest.raises(UsageError, match="^path: .* neither"):
        message_files(str(tmp_path / "missing"))


@pytest.mark.parametrize("value, parsed", [
    ("discard", ("discard", None)), ("keep", ("keep", None)),
    ("quarantine:/var/q", ("quarantine", "/var/q"))])
def test_on_reject(value, parsed):
    assert parse_on_reject(value) == parsed


@pytest.mark.parametrize("value", ["quarantine:", "quarantine", "bounce", ""])
def test_on_reject_bad(value):
    with pytest.raises(UsageError, match="--on-reject"):
        parse_on_reject(value)


def run(argv, data, capsys):
    code = main(argv, stdin=io.BytesIO(data))
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_json(capsys):
    code, out, _err = run(["--dry-run", "--received-by", r"mx\.isp\.example"], MSG, capsys)
    assert code == 0
    assert json.loads(out) == {
        "xclient": {"addr": "192.0.2.1", "name": "n.example", "helo": "h.example",
                    "proto": "ESMTP"},
        "received": "Received: from h.example (n.example [192.0.2.1]) by mx.isp.example"
                    " (Postfix) with ESMTP id 1; Tue, 24 Nov 2026"}


def test_dry_run_unparsed(capsys):
    code, out, err = run(["--dry-run", "--received-by", "other"], MSG, capsys)
    assert code == EX_TEMPFAIL and json.loads(out)["xclient"] is None
    assert "deferred: identity=none" in err
    code, out, _err = run(["--dry-run", "--received-by", "other", "--unparsed",
                           "unavailable"], MSG, capsys)
    assert code == 0 and json.loads(out)["xclient"]["addr"] == "[UNAVAILABLE]"


def test_ipv6_dry_run_is_plain_text(capsys):
    msg = MSG.replace(b"[192.0.2.1]", b"[IPv6:2001:db8::1]")
    code, out, _err = run(["--dry-run"], msg, capsys)
    assert code == 0 and json.loads(out)["xclient"]["addr"] == "2001:db8::1"


def test_usage(capsys):
    code, _out, err = run(["--timeout", "0", "a@example.net"], MSG, capsys)
    assert code == EX_USAGE and "--timeout" in err


def test_check_mode_predicts_a_change_for_every_message_it_would_send(tmp_path):
    """A dry run sends nothing, so it cannot know Postfix's verdict: a message it would send
    counts as a change (the real run injects and removes it); one it would not send (no
    identity, no recipient, unreadable) does not."""
    ok = tmp_path / "ok.eml"
    ok.write_bytes(MSG)
    no_rcpt = tmp_path / "no-rcpt.eml"
    no_rcpt.write_bytes(MSG)
    # nothing listens on port 9 of TEST-NET-1; a dry run must not even try to connect
    target = Target(server="192.0.2.1", port=9, timeout=0.01, helo="inject.example",
                    source_address=None)
    would = inject_file(str(ok), target, r"mx\.isp\.example", "tempfail",
                        recipients=["postmaster@example.net"], dry_run=True)
    assert would["outcome"] == "dry_run" and not would["removed"] and ok.exists()
    assert changed([would])
    wont = [inject_file(str(no_rcpt), target, r"mx\.isp\.example", "tempfail", dry_run=True),
            inject_file(str(ok), target, "other", "tempfail",
                        recipients=["postmaster@example.net"], dry_run=True),
            inject_file(str(tmp_path / "missing"), target, None, "tempfail", dry_run=True)]
    assert [r["outcome"] for r in wont] == ["error", "deferred", "error"]
    assert not changed(wont)
    assert changed(wont + [would])
    # the real run's outcomes: only what Postfix took is a change
    assert changed([{"outcome": "accepted"}]) and changed([{"outcome": "partial"}])
    assert not changed([{"outcome": o} for o in ("rejected", "deferred", "error")])
