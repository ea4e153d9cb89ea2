# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Figures for "Postfix never goes down because of us": run every hazardous input of
tests/integration/test_postfix_safety.py against a real private Postfix with a given
build of the collection, reload Postfix the plain way (``postfix reload``), and count how
often Postfix went down or a listener broke.

    python3 tests/harness/hazard_figures.py                 # this checkout
    python3 tests/harness/hazard_figures.py --rev 4083265   # the code before issue 10

"Down" means: the master is not running, an smtpd listener does not answer 220, or
XCLIENT on the listener the input touched answers a table lookup problem. The instance is
put back (files, restart) after each case.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import collection  # noqa: E402

collection.source_collections(on_sys_path=True)

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (  # noqa: E402
    Postconf,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_instance import (  # noqa: E402
    greeting,
    smtp_endpoints,
)
from private_postfix import free_port, running_instance, smtp_replies  # noqa: E402
from run_module import run_module  # noqa: E402
from scratch_config import run as _run  # noqa: E402
from test_postfix_safety import REFUSED, Foreign, set_inline_list, write_tables  # noqa: E402

# Inputs that the old code wrote (or broke on) although they are not refusals now: the
# README quick-start default, an inline table with nested braces, a pipe argv with -o.
EXTRA = [
    ("quick-start-default-private", "postfix_service",
     lambda i, p: {"name": f"127.0.0.1:{p}", "command": "smtpd", "chroot": False}, None),
    ("inline-nested-braces", "xclient_hosts",
     lambda i, p: {"service": f"127.0.0.1:{i.ports['unauthorized']}/inet",
                   "hosts": ["127.0.0.2"]}, "inline"),
    ("negation-after-network", "xclient_hosts",
     lambda i, p: {"service": f"127.0.0.1:{i.ports['unauthorized']}/inet",
                   "hosts": ["!127.0.0.1"]}, "negation"),
]


def collection_tree(rev):
    if rev is None:
        return collection.source_collections()
    base = tempfile.mkdtemp(prefix="hazard-old-")
    dest = os.path.join(base, "ansible_collections", "mailops", "xclient")
    os.makedirs(dest)
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return base


def run(tree, module, args, check_mode=False):
    try:
        return run_module(module, args, check_mode=check_mode, collections=tree)
    except AssertionError as exc:  # no JSON: what the module printed instead
        return {"failed": True, "msg": str(exc)[-300:], "traceback": "Traceback" in str(exc)}


def xclient_reply(port):
    return smtp_replies(port, (b"XCLIENT NAME=probe.example",), timeout=5)[-1][-1]


def rcpt_reply(port):
    """The reply to RCPT on a plain mail transaction (no XCLIENT)."""
    return smtp_replies(port, (b"MAIL FROM:<probe@example.org>",
                               b"RCPT TO:<postmaster@example.net>"))[-1][-1]


def health(inst, touched_port=None):
    """Why Postfix is down after a plain reload, or ''."""
    inst.postfix("reload", check=False)
    time.sleep(2)
    if not inst.running():
        return "master not running"
    pc = Postconf(_run, inst.config_dir)
    for service, addr, port, tls in smtp_endpoints(pc):
        ok, reply = greeting(addr, port, 5, tls)
        if not ok:
            return f"{service} does not answer 220: {reply}"
    try:
        if touched_port:
            reply = xclient_reply(touched_port)
            if "lookup" in reply or reply.startswith("4"):
                return f"XCLIENT: {reply}"
        reply = rcpt_reply(inst.ports["unauthorized"])
    except OSError as exc:
        return f"the listener dropped the session: {exc}"
    if reply.startswith("4") or not reply:
        return f"mail refused for everyone: RCPT {reply or '(no reply)'}"
    return ""


def restart_clean(inst):
    """Stop and start on the pristine files; a dead master's children may hold the ports
    for a moment, so start is retried until every listener answers."""
    inst.stop()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not inst.running():
            inst.postfix("start", check=False)
        if inst.running() and not health(inst):
            return
        time.sleep(1)
    raise RuntimeError("the instance did not come back on its pristine files")


def prepare(inst, case_id):
    """Set up what a case needs in the instance (tables, an existing list)."""
    cfg = inst.config_dir
    key = f"127.0.0.1:{inst.ports['unauthorized']}/inet"
    if case_id == "inline-nested-braces":
        set_inline_list(cfg, key)
    if case_id == "negation-after-network":
        subprocess.run(["postconf", "-c", cfg, "-P", "-e",
                        f"{key}/smtpd_authorized_xclient_hosts=127.0.0.0/24"], check=True)
    inst.reload()
    time.sleep(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rev", help="git revision of the collection to measure")
    parser.add_argument("--explicit-private", action="store_true",
                        help="pass private: false to every inet postfix_service case that"
                             " does not test private itself, so the old default does not"
                             " hide the hazard the case is about")
    parser.add_argument("--only", nargs="*", help="case ids to run (default: all)")
    opts = parser.parse_args()
    tree = collection_tree(opts.rev)
    with running_instance("hazard-pf-", ipv6=True, tls=False) as inst:
        rows = measure(inst, tree, opts)
    down = sum(r["down"] for r in rows)
    print(json.dumps({"rev": opts.rev or "working tree",
                      "explicit_private": opts.explicit_private, "tried": len(rows),
                      "postfix_down_or_broken": down,
                      "refused": sum(not r["written"] for r in rows)}))


def measure(inst, tree, opts):
    """One row a case: written or refused, and whether Postfix went down."""
    write_tables(inst)
    pristine = {n: open(os.path.join(inst.config_dir, n), "rb").read()
                for n in ("main.cf", "master.cf")}
    rows = []
    cases: List[Tuple[Any, ...]] = [(c[0], c[1], c[2], c[4], None) for c in REFUSED] + \
        [(c[0], c[1], c[2], None, c[3]) for c in EXTRA]
    if opts.only:
        cases = [c for c in cases if c[0] in opts.only]
    for case_id, module, make_args, foreign_host, kind in cases:
        prepare(inst, case_id)
        port = free_port()
        foreign = Foreign(foreign_host, port) if foreign_host else None
        try:
            args = dict(make_args(inst, port), config_dir=inst.config_dir)
            if opts.explicit_private and module == "postfix_service" and \
                    "private" not in args and case_id != "quick-start-default-private":
                args["private"] = False
            result = run(tree, module, args)
            touched = inst.ports["unauthorized"] if module in ("xclient_hosts",
                                                               "postconf") else None
            why = health(inst, touched)
            if kind == "negation" and not why and \
                    xclient_reply(inst.ports["unauthorized"]).startswith("220"):
                why = "!127.0.0.1 had no effect: 127.0.0.1 may still send XCLIENT"
        finally:
            if foreign:
                foreign.close()
        rows.append({"case": case_id, "written": not result.get("failed"),
                     "down": bool(why), "why": why,
                     "msg": (result.get("msg") or "")[:160]})
        print(json.dumps(rows[-1]), flush=True)
        for name, data in pristine.items():
            with open(os.path.join(inst.config_dir, name), "wb") as fh:
                fh.write(data)
        restart_clean(inst)
    return rows


if __name__ == "__main__":
    main()
