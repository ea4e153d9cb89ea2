# SPDX-License-Identifier: GPL-3.0-or-later
"""Python side of scripts/collection.sh (the one definition of building, installing and
running Ansible against this collection) and of scripts/source-link.sh (this tree found as
``ansible_collections.mailops.xclient``). Used by the tests, the benchmarks and the
harness; the demo scripts call the shell scripts themselves.

``playbook()`` also records what Ansible decided, task by task, through the callback
tests/harness/callback_plugins/playbook_results.py: tests assert on those values (the
per-host stats, each task's status and result), not on the text of the recap.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

HARNESS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HARNESS))
SCRIPT = os.path.join(ROOT, "scripts", "collection.sh")
SOURCE_LINK = os.path.join(ROOT, "scripts", "source-link.sh")
CALLBACKS = os.path.join(HARNESS, "callback_plugins")
# The collections path of the source tree (`collection.sh run source ...`).
SOURCE = "source"


@functools.lru_cache(maxsize=None)
def _source_link() -> str:
    return subprocess.run(["bash", SOURCE_LINK], check=True, capture_output=True,
                          text=True).stdout.strip()


def source_collections(on_sys_path: bool = False) -> str:
    """Makes the link build/source-collections/ansible_collections/mailops/xclient -> this
    tree (scripts/source-link.sh) and returns build/source-collections; with
    ``on_sys_path`` also puts it first on sys.path."""
    path = _source_link()
    if on_sys_path and path not in sys.path:
        sys.path.insert(0, path)
    return path


def install(dest: str) -> str:
    """Builds the collection from this tree and installs it under ``dest``; returns the
    collections path to give Ansible."""
    done = subprocess.run(["bash", SCRIPT, "install", dest], check=False, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"collection.sh install failed: {done.stdout}{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def run(collections: str, argv: Sequence[str], env: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = 600, cwd: Optional[str] = None,
        ) -> "subprocess.CompletedProcess[str]":
    """An Ansible command (``argv``) that finds the collection under ``collections`` (or
    SOURCE); ``env`` adds to the environment collection.sh sets up."""
    return subprocess.run(["bash", SCRIPT, "run", collections, *argv],
                          env=dict(os.environ, **(env or {})), capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=cwd)


@dataclass
class PlaybookRun:
    """One ansible-playbook run: its exit code and output, and what the callback recorded."""

    returncode: int
    stdout: str
    stderr: str
    # host -> {"ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored"}
    stats: Dict[str, Dict[str, int]] = field(default_factory=dict)
    # one entry a task and host: {"task", "host", "status", "result"}; status is one of
    # ok, changed, failed, ignored (failed with ignore_errors), skipped, unreachable
    tasks: List[Dict[str, Any]] = field(default_factory=list)

    def tail(self, n: int = 4000) -> str:
        """The end of the output, for assertion messages."""
        return self.stdout[-n:] + self.stderr[-2000:]

    def host_stats(self, host: str = "localhost") -> Dict[str, int]:
        return self.stats.get(host, {})

    def statuses(self, status: str, host: str = "localhost") -> List[Dict[str, Any]]:
        """The tasks of ``host`` that ended with ``status``."""
        return [t for t in self.tasks if t["status"] == status and t["host"] == host]

    def failure_messages(self) -> Dict[str, List[str]]:
        """host -> the ``msg`` of each of its tasks that failed or found it unreachable
        (failures under ignore_errors left out)."""
        out: Dict[str, List[str]] = {}
        for t in self.tasks:
            if t["status"] in ("failed", "unreachable"):
                out.setdefault(t["host"], []).append(str(t["result"].get("msg", t["result"])))
        return out

    def named(self, name: str, host: str = "localhost") -> List[Dict[str, Any]]:
        """The results of the task called ``name`` on ``host`` (one a run of it). A role's
        task is recorded as ``name`` up to ansible-core 2.19 and as ``role : name`` from
        2.20 on: both match."""
        return [t for t in self.tasks if t["host"] == host
                and (t["task"] == name or t["task"].endswith(" : " + name))]


def recorder_env(results: str, tasks: bool = True) -> Dict[str, str]:
    """The environment that makes a playbook run record its results as JSON in the file
    ``results``, through callback_plugins/playbook_results.py: the per-host stats, and
    each task's result unless ``tasks`` is false (benchmarks: nothing kept in memory)."""
    return {"ANSIBLE_CALLBACK_PLUGINS": CALLBACKS,
            "ANSIBLE_CALLBACKS_ENABLED": "playbook_results",
            "MAILOPS_XCLIENT_PLAYBOOK_RESULTS": results,
            "MAILOPS_XCLIENT_PLAYBOOK_RESULTS_TASKS": "1" if tasks else "0"}


def read_recorded(results: str) -> Tuple[Dict[str, Dict[str, int]], List[Dict[str, Any]]]:
    """What a run with ``recorder_env(results)`` recorded: (stats, tasks); both empty when
    the play never reached its end (the file is missing or empty)."""
    try:
        with open(results, encoding="utf-8") as fh:
            recorded = json.load(fh)
    except (OSError, ValueError):
        recorded = {}
    return recorded.get("stats", {}), recorded.get("tasks", [])


def playbook(collections: str, path: str, *args: str, extra_vars: Optional[Dict[str, Any]] = None,
             inventory: str = "localhost,", connection: str = "local",
             env: Optional[Mapping[str, str]] = None, timeout: Optional[float] = 600,
             record: bool = True) -> PlaybookRun:
    """ansible-playbook ``path`` against the collection under ``collections``, with the
    results recorded (unless ``record`` is false: the benchmarks time Ansible alone);
    ``inventory`` and ``connection`` default to localhost over local."""
    fd, results = tempfile.mkstemp(prefix="playbook-results-", suffix=".json")
    os.close(fd)
    argv = ["ansible-playbook", "-i", inventory, "-c", connection, path]
    if extra_vars is not None:
        argv += ["-e", json.dumps(extra_vars)]
    recorder = recorder_env(results) if record else {}
    try:
        done = run(collections, [*argv, *args], env=dict(env or {}, **recorder),
                   timeout=timeout)
        stats, tasks = read_recorded(results)
    finally:
        os.unlink(results)
    return PlaybookRun(done.returncode, done.stdout, done.stderr, stats, tasks)
