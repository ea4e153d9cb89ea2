# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 20: the report reads as-is - full names, aligned columns, one line per row."""

from __future__ import annotations

from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    render_table,
)


def row(name, passed=True, mismatches=(), error=None):
    return {"name": name, "passed": passed, "error": error, "mismatches": list(mismatches),
            "status": "passed" if passed else ("error" if error else "failed"),
            "stages": {}}


def test_names_are_shown_in_full_and_never_cut_silently():
    prefix = "x" * 48
    lines = render_table([row(prefix + " one"), row(prefix + " two")])
    assert [line.split("  ")[0] for line in lines[1:]] == [prefix + " one", prefix + " two"]
    cut = render_table([row(prefix + " one")], max_name=20)
    assert cut[1].startswith("x" * 17 + "...  ")  # a cut says so


def test_short_names_are_aligned_with_the_header():
    lines = render_table([row("a"), row("bc", passed=False, mismatches=["rcpt: x"])])
    column = lines[0].index("RESULT")
    assert lines[0].startswith("CASE  RESULT")
    assert [line[column:column + 6] for line in lines[1:]] == ["passed", "FAILED"]


def test_control_characters_stay_on_one_line():
    (head, line) = render_table([row("two\nlines", error="bad\r\nreply")])
    assert "\n" not in line and "\r" not in line
    assert "two\\x0alines" in line and "bad\\x0d\\x0areply" in line


def test_a_case_that_expects_nothing_says_so():
    (head, line) = render_table([dict(row("quiet"), judged=False)])
    assert "nothing expected" in line
