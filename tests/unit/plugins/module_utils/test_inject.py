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
    EXIT_CODES,
    Target,
    UsageError,
    changed,
    check_address,
    inject_file,
    inject_path,
    mailbox_problem,
    main,
    maildir_deliver,
    message_files,
    parse_on_reject,
    quarantine_message,
    return_path,
    split_quarantined,
)
from ansible_collections.mailops.xclient.plugins.module_utils._maildir import (
    MaildirError,
    Messages,
    UnsafeFile,
    read_regular,
)
from ansible_collections.mailops.xclient.plugins.module_utils._retry_ledger import (
    RetryLedger,
    RetryPolicy,
    message_key,
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


# ---------------------------------------------------------------- issue 18: files, envelope, retries
TARGET_NOWHERE = Target(server="192.0.2.1", port=9, timeout=0.01, helo="inject.example",
                        source_address=None)  # never contacted: dry runs only


def maildir(tmp_path):
    root = tmp_path / "md"
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    return root


def test_maildir_refuses_links_fifos_and_hard_links_never_reads_them(tmp_path):
    """A link to a secret file planted in the quarantine is never read nor sent."""
    secret = tmp_path / "secret"
    secret.write_bytes(MSG.replace(b"body", b"SECRET"))
    root = maildir(tmp_path)
    (root / "new" / "good").write_bytes(quarantine_message(MSG, "a@example.org",
                                                           ["b@example.net"], "x"))
    os.symlink(secret, root / "new" / "link")
    os.link(secret, root / "cur" / "hard")
    os.mkfifo(root / "cur" / "fifo")
    results = inject_path(str(root), TARGET_NOWHERE, r"mx\.isp\.example", "tempfail",
                          dry_run=True)
    by_name = {os.path.basename(r["path"]): r for r in results}
    assert by_name["good"]["outcome"] == "dry_run"
    for name in ("link", "hard", "fifo"):
        assert by_name[name]["outcome"] == "error" and by_name[name]["xclient"] is None, name
        assert "refused" in by_name[name]["reply"]
    assert message_files(str(root)) == [str(root / "new" / "good"), str(root / "cur" / "hard")]
    # a link given as the path itself, and new/ replaced by a link to another directory
    with pytest.raises(UsageError, match="^path: .*symbolic link"):
        inject_path(str(root / "new" / "link"), TARGET_NOWHERE, None, "tempfail", dry_run=True)
    other = maildir(tmp_path / "o")
    os.symlink(secret, other / "new" / "s")
    os.rename(other / "new", other / "real-new")
    os.symlink(other / "real-new", other / "new")
    with pytest.raises(UsageError, match="new is not a directory"):
        inject_path(str(other), TARGET_NOWHERE, None, "tempfail", dry_run=True)


def test_read_regular_does_not_hang_on_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "f")
    with pytest.raises(UnsafeFile):
        read_regular(str(tmp_path / "f"))


def test_lock_serializes_runs_on_one_maildir(tmp_path):
    root = maildir(tmp_path)
    with Messages(str(root)):
        with pytest.raises(MaildirError, match="another run has held the lock"):
            with Messages(str(root), lock_timeout=0):
                pass
    with Messages(str(root), lock_timeout=0) as again:
        assert again.refs == []


def test_quarantine_keeps_one_reason_per_recipient_and_quoted_commas(tmp_path):
    stored = quarantine_message(MSG, "a@example.org", ['"x,y"@example.net', "z@example.net"],
                                "250 ok", {'"x,y"@example.net': "550 5.1.1 no\r\nsuch",
                                           "z@example.net": "554 5.7.1 relay"})
    assert b"X-Xclient-Inject-Rejected: \"x,y\"@example.net: 550 5.1.1 no such\r\n" in stored
    assert b"X-Xclient-Inject-Rejected: z@example.net: 554 5.7.1 relay\r\n" in stored
    assert split_quarantined(stored) == (MSG, "a@example.org",
                                         ['"x,y"@example.net', "z@example.net"])
    # a sender with a line break cannot add header lines
    forged = quarantine_message(MSG, "a@b\r\nX-Xclient-Inject-Envelope-To: evil@x", ["r@x"], "")
    assert split_quarantined(forged)[2] == ["r@x"]


@pytest.mark.parametrize("address", [
    'a@example.com', '"a b"@example.com', '"a\\"b"@example.com', 'grüße@bücher.example',
    'a@[192.0.2.1]', 'a@[IPv6:2001:db8::1]', 'postmaster', '""@example.com'])
def test_rfc5321_mailboxes_accepted(address):
    assert mailbox_problem(address, null_ok=False) is None
    assert check_address("rcpt_to", address) == address


@pytest.mark.parametrize("address", [
    "a@b RET=FULL ENVID=x", "a@b> RET=FULL", "<a@b>", "a b@example.com", "a@b\r\nRCPT TO:<c@d>",
    "a@[300.0.0.1]", "a..b@example.com", "@relay:a@b", "a@b\0", "a@-b.example", ""])
def test_non_mailboxes_refused_naming_the_field(address):
    with pytest.raises(UsageError, match="^--from: "):
        check_address("--from", address)
    assert mailbox_problem("", null_ok=True) is None


def test_return_path_with_parameters_is_quarantined_not_sent(tmp_path, capsys):
    """RET=FULL ENVID=... after the Return-Path address never reaches MAIL FROM."""
    msg = MSG.replace(b"<alice@example.org>", b"<alice@example.org> RET=FULL ENVID=QQ")
    code, _out, err = run(["--port", "9", "--server", "192.0.2.1", "--timeout", "0.01",
                           "--state-dir", "none", "--on-reject", f"quarantine:{tmp_path}/q",
                           "--received-by", r"mx\.isp\.example", "b@example.net"], msg, capsys)
    assert code == 0 and "stage=envelope" in err and "RET=FULL" in err
    (name,) = os.listdir(tmp_path / "q" / "new")
    stored = (tmp_path / "q" / "new" / name).read_bytes()
    assert b"X-Xclient-Inject-Rejected: envelope sender" in stored
    assert "rejected (quarantined)" in err


def test_quoted_local_part_is_not_a_usage_error(capsys):
    code, out, err = run(["--dry-run", "--from", '"a b"@example.com', "--",
                          '"c d"@example.net'], MSG, capsys)
    assert code == 0, err
    assert json.loads(out)["xclient"]["addr"] == "192.0.2.1"


def test_retries_are_bounded_by_count_then_quarantined(tmp_path, capsys):
    args = ["--port", "9", "--server", "192.0.2.1", "--timeout", "0.01",
            "--state-dir", str(tmp_path / "state"), "--max-attempts", "3",
            "--on-reject", f"quarantine:{tmp_path}/q", "--received-by", "nobody",
            "b@example.net"]
    assert [run(args, MSG, capsys)[0] for _i in range(2)] == [EX_TEMPFAIL, EX_TEMPFAIL]
    code, _out, err = run(args, MSG, capsys)
    assert code == 0 and "gave up after 3 deferred attempts" in err
    (name,) = os.listdir(tmp_path / "q" / "new")
    assert b"X-Xclient-Inject-Rejected: gave up after 3" in (
        tmp_path / "q" / "new" / name).read_bytes()
    assert os.listdir(tmp_path / "state" / "retries") == []  # done: record removed
    assert run(args + ["--max-attempts", "-1"], MSG, capsys)[0] == EX_USAGE


def test_retry_ledger_age_bound_and_host_trouble_counts_only_for_age(tmp_path):
    ledger = RetryLedger(RetryPolicy(str(tmp_path), max_attempts=2, max_age=3600))
    key = message_key(MSG, ["b@example.net"])
    assert ledger.defer(key, counts=False, now=1000.0) is None
    assert ledger.defer(key, counts=False, now=2000.0) is None
    assert ledger.defer(key, counts=False, now=3000.0) is None  # no connection: not counted
    assert "max_age 3600" in ledger.defer(key, counts=False, now=4600.0)
    other = message_key(MSG, ["c@example.net"])
    assert ledger.defer(other, counts=True, now=1000.0) is None
    assert "max_attempts 2" in ledger.defer(other, counts=True, now=1001.0)
    ledger.forget(other)
    assert ledger.defer(other, counts=True, now=1002.0) is None
    unbounded = RetryLedger(RetryPolicy(str(tmp_path / "u"), max_attempts=0, max_age=0))
    assert all(unbounded.defer(key, True, now=float(i)) is None for i in range(0, 10**7, 10**5))
    assert RetryLedger(RetryPolicy(None)).defer(key, True) is None


def test_help_lists_every_exit_code(capsys):
    with pytest.raises(SystemExit):
        main(["--help"], stdin=io.BytesIO(b""))
    text = " ".join(capsys.readouterr().out.split())
    for code, _what in EXIT_CODES:
        assert f"{code} =" in text
    assert {c for c, _w in EXIT_CODES} == {0, 64, 65, 69, 70, 75}


def test_module_docs_list_every_exit_code():
    import yaml  # pylint: disable=import-outside-toplevel
    from ansible_collections.mailops.xclient.plugins.modules import xclient_inject
    notes = " ".join(yaml.safe_load(xclient_inject.DOCUMENTATION)["notes"])
    for code, _what in EXIT_CODES:
        assert f"C({code})" in notes, code


@pytest.mark.parametrize("sender", ["a\nb@example.org", "a@b RET=FULL", "<a@b>"])
def test_a_bad_from_comes_from_the_message_so_it_is_quarantined_not_a_usage_error(
        tmp_path, capsys, sender):
    """fetchmail's %F is the sender the message brought: exit 64 would repeat at every
    poll; it is handled like a 5xx instead, nothing sent."""
    code, _out, err = run(["--port", "9", "--server", "192.0.2.1", "--timeout", "0.01",
                           "--state-dir", "none", "--on-reject", f"quarantine:{tmp_path}/q",
                           "--from", sender, "b@example.net"], MSG, capsys)
    assert code == 0 and "stage=envelope" in err, err
    (name,) = os.listdir(tmp_path / "q" / "new")
    stored = (tmp_path / "q" / "new" / name).read_bytes()
    # a line break in the sender cannot add a header line to the quarantined file
    assert split_quarantined(stored)[2] == ["b@example.net"]
    assert stored.count(b"\r\nX-Xclient-Inject-Rejected: envelope sender") == 1
    assert "a?b@example.org" in err or sender != "a\nb@example.org"
    assert all(line.startswith("xclient-inject: ") for line in err.splitlines())
