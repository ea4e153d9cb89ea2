# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-lint, production profile, is clean on the roles and playbooks."""

from __future__ import annotations

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_ansible_lint_production_profile():
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "lint.sh"), "--nocolor"],
                          capture_output=True, text=True, timeout=900, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-5000:]
    assert "Profile 'production' was required, and it passed" in out
