# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one of our modules directly, as Ansible would on a target, from the source tree.

For the fast, precise tests (many runs, kill -9 in the middle); the Ansible-level tests
run the installed build through ansible-playbook instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Dict, Optional

from ansible.module_utils.common.parameters import PASS_VARS
from collection import ROOT, source_collections

__all__ = ["ROOT", "module_command", "run_module"]


def module_command(module: str, args: Dict[str, Any], check_mode: bool = False,
                   diff: bool = False, collections: Optional[str] = None) -> tuple:
    """argv, environment and argument file that run ``module`` from ``collections`` (the
    source tree unless given)."""
    payload = dict(args)
    payload.update(_ansible_check_mode=check_mode, _ansible_diff=diff,
                   _ansible_remote_tmp=tempfile.gettempdir(),
                   _ansible_keep_remote_files=False)
    if "inject_invocation" in PASS_VARS:
        # ansible-core 2.20+ returns `invocation` only when the controller asks for it
        # (INJECT_INVOCATION); older cores always do and know no such flag.
        payload["_ansible_inject_invocation"] = True
    fd, path = tempfile.mkstemp(prefix="module-args-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, fh)
    env = dict(os.environ, PYTHONPATH=collections or source_collections())
    argv = [sys.executable, "-m",
            f"ansible_collections.mailops.xclient.plugins.modules.{module}", path]
    return argv, env, path


def run_module(module: str, args: Dict[str, Any], check_mode: bool = False,
               diff: bool = False, timeout: Optional[float] = 120,
               collections: Optional[str] = None) -> Dict[str, Any]:
    argv, env, path = module_command(module, args, check_mode, diff, collections)
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
    finally:
        os.unlink(path)
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"module {module} printed no JSON (rc={done.returncode}):"
                             f" {done.stdout[-2000:]} {done.stderr[-2000:]}") from None
