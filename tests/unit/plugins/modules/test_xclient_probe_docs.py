# SPDX-License-Identifier: GPL-3.0-or-later
"""xclient_probe documents exactly what it takes and what it returns.

RETURN against the result's one definition (_probe_result) and a serialized result; the
argument spec against DOCUMENTATION, down to the suboptions of cases[].xclient and
cases[].expect. (tests/integration/test_probe_real_postfix.py compares RETURN with a real
run against Postfix too.)
"""

from __future__ import annotations

import time

import yaml
from key_paths import documented_paths, returned_paths
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import parse_case
from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    CaseResult,
    StageResult,
    case_result,
    judge,
    reply_stage,
    skipped_stage,
    unsent_xclient_stage,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_reply import Reply
from ansible_collections.mailops.xclient.plugins.modules import xclient_probe

RETURN = yaml.safe_load(xclient_probe.RETURN)
DOC = yaml.safe_load(xclient_probe.DOCUMENTATION)
CASE = RETURN["cases"]["contains"]
STAGES = CASE["stages"]["contains"]


def test_case_keys_are_the_documented_ones():
    # group is added by the verify role, not by the module
    assert set(CaseResult.__annotations__) - {"group"} == set(CASE)


def test_stage_keys_are_the_documented_ones():
    documented = set().union(*(set(s["contains"]) for s in STAGES.values()))
    assert set(StageResult.__annotations__) == documented
    assert set(STAGES) == {"connect", "ehlo", "xclient", "helo", "mail", "rcpt", "data"}


def test_a_serialized_result_has_only_documented_keys():
    spec = parse_case(0, {"name": "c", "xclient": {"addr": "192.0.2.1"},
                          "mail_from": "a@example.org", "rcpt_to": ["b@example.net"],
                          "data": "Subject: x\n\nbody\n", "expect": {"rcpt": "accept"}})
    stages = {
        "connect": reply_stage(Reply(220, ["mx ESMTP"])),
        "ehlo": reply_stage(Reply(250, ["mx", "XCLIENT ADDR"]), first_line=True),
        "xclient": reply_stage(Reply(220, ["mx ESMTP"]), outcome="accepted"),
        "helo": skipped_stage("xclient.helo is [UNAVAILABLE]"),
        "mail": reply_stage(Reply(250, ["2.1.0 Ok"], "2.1.0")),
        "rcpt": [reply_stage(Reply(554, ["5.7.1 no"], "5.7.1"), recipient="b@example.net")],
        "data": skipped_stage("check mode: no message is sent"),
    }
    result = case_result("c", stages, None, judge(spec, stages), time.monotonic(),
                         ["S: 220 mx ESMTP"], "all")
    assert result["status"] == "failed"
    unsent = unsent_xclient_stage("offered", "", ["ADDR"], with_attributes=True)
    other = case_result("d", {"xclient": unsent}, None, [], time.monotonic())
    returned = returned_paths({"cases": [result, other]})
    assert returned <= documented_paths({"cases": RETURN["cases"]})


def _spec_matches_doc(spec, doc, where):
    assert set(spec) == set(doc), where
    for key, opt in spec.items():
        entry = doc[key]
        here = f"{where}.{key}"
        assert opt.get("type", "str") == entry.get("type", "str"), here
        assert opt.get("choices") == entry.get("choices"), here
        assert opt.get("aliases", []) == entry.get("aliases", []), here
        assert bool(opt.get("required")) == bool(entry.get("required")), here
        if "default" in opt:
            assert opt["default"] == entry.get("default"), here
        if "elements" in opt:
            assert opt["elements"] == entry.get("elements"), here
        if "options" in opt:
            _spec_matches_doc(opt["options"], entry["suboptions"], here)
        else:
            assert "suboptions" not in entry, here


def test_argument_spec_is_what_documentation_says():
    _spec_matches_doc(xclient_probe.argument_spec(), DOC["options"], "options")
    expect = DOC["options"]["cases"]["suboptions"]["expect"]["suboptions"]
    assert set(expect) == {"connect", "xclient", "mail", "rcpt", "data", "text"}
    proto = DOC["options"]["cases"]["suboptions"]["xclient"]["suboptions"]["proto"]
    assert proto["choices"][:2] == ["SMTP", "ESMTP"]


def test_ansible_doc_lists_every_key_of_xclient_and_expect():
    import json
    import os
    import re
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(root, "build",
                                                                 "source-collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=os.path.join(root, "build", "tmp"))
    ansible_doc = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    done = subprocess.run([ansible_doc, "--json", "mailops.xclient.xclient_probe"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)["mailops.xclient.xclient_probe"]["doc"]
    case = doc["options"]["cases"]["suboptions"]
    assert set(case["expect"]["suboptions"]) == {"connect", "xclient", "mail", "rcpt", "data",
                                                 "text"}
    assert set(case["xclient"]["suboptions"]) == {"name", "addr", "port", "proto", "helo",
                                                  "login", "destaddr", "destport",
                                                  "reverse_name"}
    text = subprocess.run([ansible_doc, "mailops.xclient.xclient_probe"], env=env,
                          capture_output=True, text=True, timeout=120, check=True).stdout
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # option names are in bold
    for key in ("connect", "reverse_name", "destport"):
        assert re.search(rf"^\s+(- )?{key}\s", text, re.M), key
