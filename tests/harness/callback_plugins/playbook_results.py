# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only callback (tests/harness/collection.py enables it beside the normal screen
output): writes every task result and the per-host stats of a playbook run as JSON to the
file named by MAILOPS_XCLIENT_PLAYBOOK_RESULTS, so that tests read what Ansible decided
instead of matching the recap text."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: playbook_results
type: aggregate
short_description: task results and stats as JSON, for the mailops.xclient tests
description: Writes them to the file named by MAILOPS_XCLIENT_PLAYBOOK_RESULTS (the stats
  only when MAILOPS_XCLIENT_PLAYBOOK_RESULTS_TASKS is 0).
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "playbook_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tasks: List[Dict[str, Any]] = []

    def _record(self, result: Any, status: str) -> None:
        if os.environ.get("MAILOPS_XCLIENT_PLAYBOOK_RESULTS_TASKS") == "0":
            return  # stats only
        self._tasks.append({"task": result.task_name, "host": result.host.get_name(),
                            "status": status,
                            "result": json.loads(self._dump_results(result.result))})

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result, "changed" if result.result.get("changed") else "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        path = os.environ.get("MAILOPS_XCLIENT_PLAYBOOK_RESULTS")
        if not path:
            return
        out = {"stats": {host: stats.summarize(host) for host in sorted(stats.processed)},
               "tasks": self._tasks}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(out, fh)
