# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A Postfix configuration directory that no instance runs from, and the command runner the
product's module_utils take (``run(argv) -> (rc, stdout, stderr)``, what a module's
``run_command`` gives them): the one definition used by the unit tests that ask the real
``postconf`` about a config, by the shadow tests and by the benchmarks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    POSTCONF,
    Postconf,
)


def run(argv: List[str]) -> Tuple[int, str, str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def scratch(path: Path, main: str = "", master: str = "") -> Postconf:
    """``path`` (made if missing) with a ``main.cf`` of ``compatibility_level = 3.6`` and
    ``main``, a ``master.cf`` of ``master``; the Postconf that reads it."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "main.cf").write_text("compatibility_level = 3.6\n" + main)
    (path / "master.cf").write_text(master)
    for name in ("main.cf", "master.cf"):  # postconf waits ~2 s for a just-written file
        os.utime(path / name, (1_000_000_000, 1_000_000_000))
    return Postconf(run, str(path), postconf=POSTCONF)
