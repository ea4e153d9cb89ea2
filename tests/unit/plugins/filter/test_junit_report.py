# SPDX-License-Identifier: GPL-3.0-or-later
"""The verify role's JUnit report is well-formed XML whatever a server answered: replies
are server-controlled bytes, and XML 1.0 cannot hold most control characters even as
character references. The role's own template is rendered and read back by a parser."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import jinja2
import pytest

from ansible_collections.mailops.xclient.plugins.filter.verify_report import verify_report
from ansible_collections.mailops.xclient.plugins.filter.xml_text import xml_text

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))
TEMPLATE = os.path.join(ROOT, "roles", "verify", "templates", "junit.xml.j2")
CONTROLS = "".join(chr(c) for c in range(0x20)) + "&<>\"' \x7f é"


def render(rows):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["mailops.xclient.verify_report"] = verify_report
    env.filters["mailops.xclient.xml_text"] = xml_text
    with open(TEMPLATE, encoding="utf-8") as fh:
        return env.from_string(fh.read()).render(verify_results=rows)


def row(status, text):
    return {"group": "backend" + text, "name": "case " + text, "status": status,
            "passed": status == "passed", "error": "timed out: " + text if status == "error"
            else None, "mismatches": ["rcpt: expected accept, got reject (554 " + text + ")"],
            "elapsed_ms": 12, "transcript": ["S: 554 " + text, "C: QUIT"],
            "stages": {"xclient": {"outcome": "accepted" + text, "code": 220},
                       "rcpt": [{"code": 554, "enhanced": None, "recipient": "a@b.example",
                                 "text": text}]}}


@pytest.mark.parametrize("status", ["failed", "error", "passed"])
def test_junit_report_is_well_formed_with_control_characters_in_replies(status):
    text = render([row(status, CONTROLS)])
    root = ET.fromstring(text.encode("utf-8"))
    (case,) = root.iter("testcase")
    assert case.get("name").startswith("case \\x00\\x01")
    assert case.get("name").endswith("\\x1f&<>\"' \x7f é")
    assert (root.get("failures"), root.get("errors")) == (
        {"failed": ("1", "0"), "error": ("0", "1"), "passed": ("0", "0")}[status])
    if status == "failed":
        assert "\\x07" in case.find("failure").get("message")
        assert "C: QUIT" in case.find("failure").text


def test_junit_report_is_well_formed_with_noncharacters_and_lone_surrogates():
    root = ET.fromstring(render([row("failed", "\ufffe\uffff\ud800")]).encode("utf-8"))
    (case,) = root.iter("testcase")
    assert case.get("name") == "case \\uFFFE\\uFFFF\\uD800"


def test_xml_text_keeps_what_xml_can_hold():
    assert xml_text("a\tb\nc\rd é \U0001F600") == "a\tb\nc\rd é \U0001F600"
    assert xml_text("\x00\x1b[1m<b>") == "\\x00\\x1b[1m&lt;b&gt;"
    assert xml_text(554) == "554"


def test_a_case_that_expected_nothing_is_skipped_not_passed():
    quiet = dict(row("passed", "quiet"), judged=False, mismatches=[])
    root = ET.fromstring(render([quiet, row("passed", "judged")]).encode("utf-8"))
    assert root.get("skipped") == "1"
    cases = {c.get("name"): c for c in root.iter("testcase")}
    skipped = cases["case quiet"].find("skipped")
    assert skipped is not None and "nothing expected" in skipped.get("message")
    assert cases["case judged"].find("skipped") is None
