# SPDX-License-Identifier: GPL-3.0-or-later
"""Test setup: import the collection as ``ansible_collections.mailops.xclient`` from this
source tree, and give tests a private Postfix instance."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_COLLECTIONS = os.path.join(ROOT, "build", "source-collections")
_LINK = os.path.join(_COLLECTIONS, "ansible_collections", "mailops", "xclient")
if not os.path.exists(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(ROOT, _LINK)
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))

import shutil  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402

from private_postfix import PrivatePostfix  # noqa: E402


def _new_base(prefix: str) -> str:
    # Not pytest's tmp_path: that is mode 0700 below /tmp/pytest-of-root, and Postfix's
    # unprivileged daemons must reach the queue and the policy log.
    base = tempfile.mkdtemp(prefix=prefix)
    os.chmod(base, 0o755)
    return base


@pytest.fixture(scope="session")
def postfix_instance():
    """A private Postfix instance on loopback ports for the whole test session."""
    if shutil.which("postfix") is None and not os.path.exists("/usr/sbin/postfix"):
        pytest.fail("Postfix is not installed: run scripts/install-deps.sh (make test does)")
    inst = PrivatePostfix(base=_new_base("xclient-pf-"), ipv6=True).start()
    try:
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(inst.base, ignore_errors=True)


@pytest.fixture
def fresh_postfix():
    """A private instance of its own, for tests that change its configuration."""
    inst = PrivatePostfix(base=_new_base("xclient-pf-own-"), ipv6=True).start()
    try:
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(inst.base, ignore_errors=True)
