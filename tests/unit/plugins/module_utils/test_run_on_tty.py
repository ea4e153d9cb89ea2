# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""run_on_tty: a command's messages on a terminal (what postfix(1) prints only there), and
``decided``: once the output has decided the outcome, the whole process group is ended
(Postfix sleeps a second after each fatal message, in each process)."""

from __future__ import annotations

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import run_on_tty


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped
    except FileNotFoundError:
        return True


def test_stderr_is_a_terminal():
    rc, said = run_on_tty(["sh", "-c", "test -t 2 && echo terminal >&2; exit 3"])
    assert (rc, said) == (3, "terminal")


def test_decided_output_ends_the_process_group(tmp_path):
    pid_file = tmp_path / "pid"
    script = (f"sleep 600 & echo $! > {pid_file}; echo 'master: fatal: bad value';"
              " wait; echo never")
    rc, said = run_on_tty(["sh", "-c", script], timeout=600,
                          decided=lambda out: b"fatal:" in out)
    assert rc == 1
    assert said == "master: fatal: bad value"
    # run_on_tty returns once every process of the group has ended
    assert gone(int(pid_file.read_text())), "the command's child still runs"


def test_undecided_output_runs_to_the_end():
    rc, said = run_on_tty(["sh", "-c", "echo warning: one; echo done; exit 0"],
                          decided=lambda out: b"fatal:" in out)
    assert (rc, said) == (0, "warning: one\ndone")


def test_a_command_that_ends_with_its_deciding_words_is_failed():
    """Decided by its last words: rc 1 even if the command itself exited 0."""
    groups = []
    rc, said = run_on_tty(["sh", "-c", "echo 'postfix-script: fatal: startup failed'"],
                          decided=lambda out: b"fatal:" in out, started=groups.append)
    assert (rc, said) == (1, "postfix-script: fatal: startup failed")
    assert len(groups) == 2 and isinstance(groups[0], int) and groups[1] is None
